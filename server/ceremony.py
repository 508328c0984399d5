"""The alliance key ceremony: `candor alliance init` (docs/architecture.md, docs/ratings.md).

Run by the regulator, once. It creates the alliance CA and every party's identity folder
(see `api/identity.py`), deals the threshold Paillier key to the trustees (the dealer
forgets the factors), and writes the genesis entry plus one MemberAdmitted entry per
founding member, all signed by the regulator. The operator appends those entries when it
first starts on an empty store, so the same folder works over SQLite or PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from api import pki, wire
from api.identity import ed25519_pem, load_key_file, write_private
from client.issuing import raw_public, write_party
from core import entries as e
from core import escrow, ring, threshold
from core.errors import InvalidInput
from core.paillier import check_registry_fits
from core.pedersen import PEDERSEN_DST
from core.rules import DEFAULT_CATEGORIES, RuleSet, canonical_toml, default_rules

LINK_DST = "CANDOR-V1-LINK"
BOOTSTRAP = "bootstrap.entries"
TRUSTEE_ENCRYPTION_KEY = "encryption.key"
"""A trustee's X25519 private key (hex), in its identity folder."""


@dataclass(frozen=True)
class Plan:
    directory: Path
    members: tuple[str, ...]
    trustees: int = 3
    threshold: int = 2
    witnesses: int = 1
    quorum: int | None = None
    key_bits: int = 3072
    server: str = "127.0.0.1:7400"
    trustee_base_port: int = 7410
    trustee_addresses: tuple[str, ...] = ()  # overrides the base port: one HOST:PORT per trustee
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    origin: str = ""
    key_file: Path | None = None  # a test-only threshold key file instead of a fresh deal
    min_rule_interval_days: int = e.DEFAULT_MIN_RULE_INTERVAL_DAYS  # between rule sets' effective dates

    def __post_init__(self) -> None:
        if not self.members:
            raise InvalidInput("name at least one founding member with --members a,b,c")
        for m in self.members:
            e.check_member_id(m)
        if len(set(self.members)) != len(self.members):
            raise InvalidInput("member names must be distinct")
        if not 1 <= self.threshold <= self.trustees:
            raise InvalidInput(f"threshold {self.threshold} must be between 1 and the {self.trustees} trustees")
        if self.trustee_addresses and len(self.trustee_addresses) != self.trustees:
            raise InvalidInput(f"give one address per trustee ({self.trustees}), not {len(self.trustee_addresses)}")
        if self.witnesses < 1:
            raise InvalidInput("an alliance needs at least one witness")
        if not 1 <= self.min_rule_interval_days <= e.MAX_MIN_RULE_INTERVAL_DAYS:
            # Checked here too so a bad value fails before the slow key ceremony.
            raise InvalidInput(f"min_rule_interval_days is {self.min_rule_interval_days}, expected "
                               f"1..{e.MAX_MIN_RULE_INTERVAL_DAYS}")


def init_alliance(plan: Plan, progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Create every identity folder under `plan.directory`; return a summary."""
    say = progress or (lambda _msg: None)
    if plan.directory.exists() and any(plan.directory.iterdir()):
        raise InvalidInput(f"{plan.directory} is not empty; the ceremony writes a fresh alliance folder")
    plan.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    say("threshold Paillier key")
    if plan.key_file is not None:
        pub, shares = load_key_file(plan.key_file)
        if pub.parties != plan.trustees or pub.threshold != plan.threshold:
            raise InvalidInput(f"key file is {pub.threshold}-of-{pub.parties}, the plan asks "
                               f"{plan.threshold}-of-{plan.trustees}")
    else:
        pub, shares = threshold.deal(plan.key_bits, plan.threshold, plan.trustees, progress=say,
                                     allow_insecure=False)
    check_registry_fits(pub.n, len(plan.categories))

    say("identities and certificates")
    ca = pki.make_ca()
    regulator_key = Ed25519PrivateKey.generate()
    operator_key = Ed25519PrivateKey.generate()
    escrow_key = X25519PrivateKey.generate()
    subject_key = secrets.token_bytes(32)
    origin = plan.origin or f"candor.alliance/{secrets.token_hex(4)}"
    operator_name = origin
    trustee_keys = [Ed25519PrivateKey.generate() for _ in range(plan.trustees)]
    # Each trustee's X25519 key: shares are sealed to it when it combines (docs/ratings.md).
    trustee_enc_keys = [escrow.escrow_keypair() for _ in range(plan.trustees)]
    witness_keys = [Ed25519PrivateKey.generate() for _ in range(plan.witnesses)]
    member_keys = {m: (Ed25519PrivateKey.generate(), ring.reporting_keypair()) for m in plan.members}

    genesis = e.Genesis(
        origin=origin,
        paillier_n=pub.n,
        paillier_v=pub.v,
        threshold=pub.threshold,
        trustees=tuple(e.Trustee(i + 1, f"trustee-{i + 1}", raw_public(k), pub.verification_keys[i],
                                 trustee_enc_keys[i][1])
                       for i, k in enumerate(trustee_keys)),
        operator_key=raw_public(operator_key),
        operator_name=operator_name,
        regulator_key=raw_public(regulator_key),
        regulator_escrow_key=escrow_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        witnesses=tuple(e.Witness(f"witness-{i + 1}", raw_public(k)) for i, k in enumerate(witness_keys)),
        witness_quorum=plan.witnesses if plan.quorum is None else plan.quorum,
        categories=plan.categories,
        pedersen_dst=PEDERSEN_DST.decode(),
        link_dst=LINK_DST,
        min_rule_interval_days=plan.min_rule_interval_days,
    )
    now = int(time.time() * 1000)
    genesis_leaf = wire.sign_leaf(e.LedgerEntry(genesis, timestamp_ms=now), regulator_key)
    admissions = [
        wire.sign_leaf(e.LedgerEntry(e.MemberAdmitted(m, raw_public(sk), rk[1], m), timestamp_ms=now), regulator_key)
        for m, (sk, rk) in member_keys.items()
    ]
    rules = default_rules_for(plan.categories)
    admissions.append(wire.sign_leaf(e.LedgerEntry(e.RuleSetPublished(
        rules.version, rules.effective_from.isoformat(), canonical_toml(rules)), timestamp_ms=now), regulator_key))

    path = write_party(plan.directory / "regulator", ca, "regulator", "regulator", plan.server, genesis_leaf)
    write_private(path / "signing.key", ed25519_pem(regulator_key))
    write_private(path / "ca.key", pki.key_pem(ca[0]))
    escrow_raw = escrow_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    write_private(path / "escrow.key", escrow_raw.hex().encode())
    write_private(path / "subject.key", subject_key.hex().encode())

    trustee_addresses = {str(i): plan.trustee_addresses[i - 1] if plan.trustee_addresses
                         else f"127.0.0.1:{plan.trustee_base_port + i - 1}" for i in range(1, plan.trustees + 1)}
    path = write_party(plan.directory / "operator", ca, "operator", operator_name, plan.server, genesis_leaf,
                       {"trustees": trustee_addresses})
    write_private(path / "signing.key", ed25519_pem(operator_key))
    write_private(path / BOOTSTRAP, json.dumps([leaf.hex() for leaf in [genesis_leaf, *admissions]]).encode())

    for i, (key, share) in enumerate(zip(trustee_keys, shares), start=1):
        path = write_party(plan.directory / f"trustee-{i}", ca, "trustee", f"trustee-{i}", plan.server, genesis_leaf,
                           {"index": i, "listen": trustee_addresses[str(i)]})
        write_private(path / "signing.key", ed25519_pem(key))
        write_private(path / "share.json", json.dumps(share.to_dict()).encode())
        write_private(path / TRUSTEE_ENCRYPTION_KEY, trustee_enc_keys[i - 1][0].hex().encode())

    for i, key in enumerate(witness_keys, start=1):
        path = write_party(plan.directory / f"witness-{i}", ca, "witness", f"witness-{i}", plan.server, genesis_leaf)
        write_private(path / "signing.key", ed25519_pem(key))

    for m, (sk, (x, _pk)) in member_keys.items():
        path = write_party(plan.directory / f"member-{m}", ca, "member", m, plan.server, genesis_leaf)
        write_private(path / "signing.key", ed25519_pem(sk))
        write_private(path / "reporting.key", f"{x:064x}".encode())
        write_private(path / "subject.key", subject_key.hex().encode())

    return {"directory": str(plan.directory), "origin": origin, "members": list(plan.members),
            "trustees": plan.trustees, "threshold": plan.threshold, "witnesses": plan.witnesses,
            "key_bits": pub.n.bit_length()}


def default_rules_for(categories: Sequence[str]) -> RuleSet:
    """docs/domain.md's default rule set, with the default points for every category of `categories`."""
    base = default_rules()
    points = dict(base.points)
    fallback = base.points[0][1]
    return dataclasses.replace(base, points=tuple((c, points.get(c, fallback)) for c in categories))


def bootstrap_entries(operator_dir: Path) -> list[bytes]:
    """The signed genesis and founding admissions the ceremony left for the operator."""
    data: Sequence[str] = json.loads((operator_dir / BOOTSTRAP).read_text())
    return [bytes.fromhex(h) for h in data]
