"""The alliance key ceremony: `candor alliance init` (docs/architecture.md, docs/ratings.md).

Run by the regulator, once. It creates the alliance CA and every party's identity folder
(see `candor/identity.py`), deals the threshold Paillier key to the trustees (the dealer
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

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from candor import wire
from candor.identity import ed25519_pem, load_key_file, tls_name, write_private
from core import entries as e
from core import escrow, ring, threshold
from core.errors import InvalidInput
from core.paillier import check_registry_fits
from core.pedersen import PEDERSEN_DST
from core.rules import DEFAULT_CATEGORIES, RuleSet, canonical_toml, default_rules
from server import pki

LINK_DST = "CANDOR-V1-LINK"
BOOTSTRAP = "bootstrap.entries"
TRUSTEE_ENCRYPTION_KEY = "encryption.key"
"""A trustee's X25519 private key (hex), in its identity folder."""


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


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


CA = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


def _party(plan: Plan, ca: CA, folder: str, role: str, name: str, genesis_leaf: bytes | None,
           extra: dict[str, object] | None = None) -> Path:
    path = plan.directory / folder
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key, ca_cert = ca
    hosts = ("localhost", "127.0.0.1") + ((tls_name(folder),) if role in ("operator", "trustee") else ())
    tls_key, tls_cert = pki.issue(ca_key, ca_cert, name, role, hosts)
    write_private(path / "tls.key", pki.key_pem(tls_key))
    write_private(path / "tls.crt", pki.cert_pem(tls_cert))
    write_private(path / "ca.crt", pki.cert_pem(ca_cert))
    info = {"role": role, "name": name, "server": plan.server, **(extra or {})}
    write_private(path / "identity.json", json.dumps(info, indent=2).encode())
    if genesis_leaf is not None:
        write_private(path / "genesis.entry", genesis_leaf)
    return path


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

    path = _party(plan, ca, "regulator", "regulator", "regulator", genesis_leaf)
    write_private(path / "signing.key", ed25519_pem(regulator_key))
    write_private(path / "ca.key", pki.key_pem(ca[0]))
    escrow_raw = escrow_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    write_private(path / "escrow.key", escrow_raw.hex().encode())
    write_private(path / "subject.key", subject_key.hex().encode())

    trustee_addresses = {str(i): plan.trustee_addresses[i - 1] if plan.trustee_addresses
                         else f"127.0.0.1:{plan.trustee_base_port + i - 1}" for i in range(1, plan.trustees + 1)}
    path = _party(plan, ca, "operator", "operator", operator_name, genesis_leaf, {"trustees": trustee_addresses})
    write_private(path / "signing.key", ed25519_pem(operator_key))
    write_private(path / BOOTSTRAP, json.dumps([leaf.hex() for leaf in [genesis_leaf, *admissions]]).encode())

    for i, (key, share) in enumerate(zip(trustee_keys, shares), start=1):
        path = _party(plan, ca, f"trustee-{i}", "trustee", f"trustee-{i}", genesis_leaf,
                      {"index": i, "listen": trustee_addresses[str(i)]})
        write_private(path / "signing.key", ed25519_pem(key))
        write_private(path / "share.json", json.dumps(share.to_dict()).encode())
        write_private(path / TRUSTEE_ENCRYPTION_KEY, trustee_enc_keys[i - 1][0].hex().encode())

    for i, key in enumerate(witness_keys, start=1):
        path = _party(plan, ca, f"witness-{i}", "witness", f"witness-{i}", genesis_leaf)
        write_private(path / "signing.key", ed25519_pem(key))

    for m, (sk, (x, _pk)) in member_keys.items():
        path = _party(plan, ca, f"member-{m}", "member", m, genesis_leaf)
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


def admit_member_identity(regulator_dir: Path, name: str, directory: Path | None = None) -> tuple[Path, bytes]:
    """Create the identity folder of a member admitted after genesis, and the regulator-signed
    MemberAdmitted leaf to submit. The folder goes to the new member; nothing is on the
    ledger until the leaf is appended."""
    from cryptography.hazmat.primitives import serialization

    from candor.identity import Identity

    e.check_member_id(name)
    regulator = Identity.load(regulator_dir)
    target = directory or regulator.path.parent / f"member-{name}"
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another member name or folder")
    ca_key = serialization.load_pem_private_key(regulator.read("ca.key"), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{regulator.path / 'ca.key'} is not the alliance CA's EC key")
    ca_cert = x509.load_pem_x509_certificate(regulator.ca_pem())
    signing = Ed25519PrivateKey.generate()
    x, reporting_public = ring.reporting_keypair()
    plan = Plan(directory=target.parent, members=(name,), server=regulator.server)
    path = _party(plan, (ca_key, ca_cert), target.name, "member", name, regulator.genesis_leaf())
    write_private(path / "signing.key", ed25519_pem(signing))
    write_private(path / "reporting.key", f"{x:064x}".encode())
    write_private(path / "subject.key", regulator.read("subject.key"))
    entry = e.LedgerEntry(e.MemberAdmitted(name, raw_public(signing), reporting_public, name),
                          timestamp_ms=int(time.time() * 1000))
    return path, wire.sign_leaf(entry, regulator.signing_key())


def staged_folder(regulator_dir: Path, name: str, directory: Path | None = None) -> tuple[Path, Path]:
    """(target, staging): where an admitted member's folder goes, and a fresh hidden folder
    beside it to write it in first. `candor member admit` renames staging to target only
    once the ledger accepted the admission, so a failed admission leaves no CA-signed folder."""
    from candor.identity import Identity

    e.check_member_id(name)
    target = directory or Identity.load(regulator_dir).path.parent / f"member-{name}"
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another member name or folder")
    staging = target.parent / f".{target.name}.admitting-{secrets.token_hex(4)}"
    return target, staging


def regulator_leaf(regulator_dir: Path, body: e.Body) -> bytes:
    """A governance entry signed by the regulator."""
    from candor.identity import Identity

    key = Identity.load(regulator_dir).signing_key()
    return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(time.time() * 1000)), key)


SUBJECT_TAG_FILE = "subject.tag"
"""A subject's own tag (hex), in its identity folder: the subject never holds the alliance
subject key (with it, anyone can test guesses of ids against the ledger's tags)."""
SUBJECT_ENCRYPTION_KEY = "encryption.key"
"""A subject's X25519 private key (hex): the tiers of its own reports are sealed to it."""


def enrol_subject_identity(regulator_dir: Path, subject_id: str, directory: Path) -> tuple[bytes, bytes]:
    """Write the identity folder of a rated anchor into `directory` (docs/subjects.md): an
    mTLS certificate for role subject whose CN is its subject tag, fresh Ed25519 and X25519
    keys, the tag and the genesis. Return (subject tag, the regulator-signed SubjectEnrolled
    leaf binding the tag, both public keys and the certificate's digest). The raw id is
    used here, on the regulator's machine, and written nowhere."""
    from cryptography.hazmat.primitives import serialization

    from candor.identity import Identity
    from core.subject import subject_tag

    regulator = Identity.load(regulator_dir)
    tag = subject_tag(regulator.hex_file("subject.key"), subject_id)
    ca_key = serialization.load_pem_private_key(regulator.read("ca.key"), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{regulator.path / 'ca.key'} is not the alliance CA's EC key")
    ca_cert = x509.load_pem_x509_certificate(regulator.ca_pem())
    signing = Ed25519PrivateKey.generate()
    enc_private, enc_public = escrow.escrow_keypair()
    plan = Plan(directory=directory.parent, members=("subject",), server=regulator.server)
    path = _party(plan, (ca_key, ca_cert), directory.name, "subject", tag.hex(), regulator.genesis_leaf())
    write_private(path / "signing.key", ed25519_pem(signing))
    write_private(path / SUBJECT_ENCRYPTION_KEY, enc_private.hex().encode())
    write_private(path / SUBJECT_TAG_FILE, tag.hex().encode())
    body = e.SubjectEnrolled(tag, raw_public(signing), enc_public,
                             pki.certificate_digest(Identity.load(path).tls_cert_pem()))
    return tag, wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(time.time() * 1000)), regulator.signing_key())


def staged_subject_folder(target: Path) -> Path:
    """A fresh hidden folder beside `target` to write a subject's folder in; `candor subject
    enrol` renames it to `target` only once the ledger accepted the enrolment."""
    if target.exists():
        raise InvalidInput(f"{target} exists already; choose another folder for the subject")
    return target.parent / f".{target.name}.enrolling-{secrets.token_hex(4)}"
