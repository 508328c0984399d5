"""Regenerate ring_signature.json: known-answer and invalid linkable ring signatures.

Run: python tests/vectors/make_ring_signature.py

Member keys are x_i = SHA-512(b"candor-ring-vector/key/" ‖ i) mod q. Known answers are made
with core.ring.ring_sign driven by recorded nonces, so the test can replay them and demand
the same bytes. Invalid cases change one thing in a valid signature or its context, or are
produced by a forger (core.ring._sign with a key that does not match its ring position, or
with a fresh link tag), or have their challenges re-balanced so that the hash check passes
and a later check must catch the fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.group import ORDER, default_group
from core.ring import (
    RingSignature,
    _challenge,
    _ring_points,
    _sign,
    link_base,
    link_tag,
    public_key,
    ring_sign,
)

OUT = Path(__file__).with_name("ring_signature.json")
GROUP = default_group()
NOT_IN_SUBGROUP = bytes.fromhex("80" + "00" * 46 + "04")  # x = 4: on E, not in G1
OFF_CURVE = bytes.fromhex("80" + "00" * 46 + "01")  # x = 1: no y on E


def det(label: str) -> int:
    return int.from_bytes(hashlib.sha512(b"candor-ring-vector/" + label.encode()).digest(), "big") % ORDER


KEYS = [det(f"key/{i}") for i in range(7)]
PUBS = [public_key(x) for x in KEYS]
RING = PUBS[:5]
SUBJECT = hashlib.sha256(b"subject A").digest()
SUBJECT_B = hashlib.sha256(b"subject B").digest()
MESSAGE = b"ReportCommitted entry bytes"


def recording_rng(label: str, log: list[int]) -> Callable[[], int]:
    def rng() -> int:
        value = det(f"{label}/nonce/{len(log)}")
        log.append(value)
        return value
    return rng


def sig_json(s: RingSignature) -> dict[str, Any]:
    return {"link_tag": s.link_tag.hex(), "a": [x.hex() for x in s.a], "b": [x.hex() for x in s.b],
            "e": [hex(x) for x in s.e], "z": [hex(x) for x in s.z]}


def rebalanced(sig: RingSignature, ring: list[bytes], subject: bytes, message: bytes, **over: Any) -> dict[str, Any]:
    """Apply `over` to the signature fields, then fix e[0] so the hash check passes."""
    fields: dict[str, Any] = {"link_tag": sig.link_tag, "a": list(sig.a), "b": list(sig.b),
                              "e": list(sig.e), "z": list(sig.z), **over}
    c = _challenge(ring, subject, fields["link_tag"], message, fields["a"], fields["b"])
    fields["e"][0] = (c - sum(fields["e"][1:])) % ORDER
    return {"link_tag": fields["link_tag"].hex(), "a": [x.hex() for x in fields["a"]],
            "b": [x.hex() for x in fields["b"]], "e": [hex(x) for x in fields["e"]],
            "z": [hex(x) for x in fields["z"]]}


def build() -> dict[str, object]:
    cases: list[dict[str, Any]] = []

    def add(**case: Any) -> None:
        cases.append({"id": len(cases) + 1, **case})

    def ctx(ring: list[bytes], subject: bytes, message: bytes) -> dict[str, Any]:
        return {"ring": [k.hex() for k in ring], "subject_tag": subject.hex(), "signed_message": message.hex()}

    sigs = {}
    for label, ring, signer, subject, message in [
        ("kat-ring5-signer2", RING, 2, SUBJECT, MESSAGE),
        ("kat-ring5-signer0-subjectB", RING, 0, SUBJECT_B, MESSAGE),
        ("kat-ring1", RING[:1], 0, SUBJECT, b""),
        ("kat-ring7-signer6", PUBS, 6, SUBJECT, b"retraction"),
    ]:
        log: list[int] = []
        sig = ring_sign(GROUP, ring, KEYS[signer], subject, message, rng=recording_rng(label, log))
        sigs[label] = sig
        add(valid=True, why=f"honest signature by member {signer} of a ring of {len(ring)}",
            **ctx(ring, subject, message), signer_index=signer, signer_key=hex(KEYS[signer]),
            nonces=[hex(v) for v in log], signature=sig_json(sig), signature_bytes=sig.to_bytes().hex(),
            expected_link_tag=link_tag(KEYS[signer], subject).hex())

    sig = sigs["kat-ring5-signer2"]
    good = ctx(RING, SUBJECT, MESSAGE)
    sj = sig_json(sig)

    def bad(why: str, error: str, message: str, context: dict[str, Any] | None = None,
            signature: dict[str, Any] | None = None, signature_bytes: bytes | None = None) -> None:
        entry: dict[str, Any] = {"valid": False, "why": why, **(context or good), "error": error, "message": message}
        if signature_bytes is not None:
            entry["signature_bytes"] = signature_bytes.hex()
        else:
            entry["signature"] = signature or sj
        add(**entry)

    e = list(sig.e); e[0] = (e[0] + 1) % ORDER
    bad("challenge e[0] changed", "VerificationError", "do not sum", signature={**sj, "e": [hex(x) for x in e]})
    z = list(sig.z); z[3] = (z[3] + 1) % ORDER
    bad("response z[3] changed", "VerificationError", "branch 3 fails z·G == a + e·P",
        signature={**sj, "z": [hex(x) for x in z]})
    bad("a[1] replaced by b[1]", "VerificationError", "do not sum", signature={**sj, "a": [sj["a"][0], sj["b"][1], *sj["a"][2:]]})
    bad("other message", "VerificationError", "do not sum", ctx(RING, SUBJECT, MESSAGE + b"!"))
    bad("other subject", "VerificationError", "do not sum", ctx(RING, SUBJECT_B, MESSAGE))
    bad("ring in another order", "VerificationError", "do not sum", ctx(RING[::-1], SUBJECT, MESSAGE))
    bad("ring with member 4 replaced (e.g. after a revocation and a new admission)", "VerificationError",
        "do not sum", ctx([*RING[:4], PUBS[5]], SUBJECT, MESSAGE))
    bad("ring one member shorter", "VerificationError", "ring signature has 5 branches but the ring has 4 members",
        ctx(RING[:4], SUBJECT, MESSAGE))
    bad("link tag of another subject (same signer)", "VerificationError", "do not sum",
        signature={**sj, "link_tag": link_tag(KEYS[2], SUBJECT_B).hex()})
    bad("link tag of another member", "VerificationError", "do not sum",
        signature={**sj, "link_tag": link_tag(KEYS[3], SUBJECT).hex()})
    bad("signature for subject B presented for subject A", "VerificationError", "do not sum",
        signature=sig_json(sigs["kat-ring5-signer0-subjectB"]))

    points = _ring_points(GROUP, RING)
    forged = _sign(GROUP, RING, points, 1, KEYS[6], SUBJECT, MESSAGE, recording_rng("forge-outsider", []))
    bad("forged by a non-member (revoked key 6) posing as member 1", "VerificationError",
        "branch 1 fails z·G == a + e·P", signature=sig_json(forged))
    fresh_tag = GROUP.mul(link_base(GROUP, SUBJECT), det("fresh-tag"))
    evasive = _sign(GROUP, RING, points, 2, KEYS[2], SUBJECT, MESSAGE, recording_rng("forge-tag", []), tag_point=fresh_tag)
    bad("member 2 uses a fresh link tag to look like a new reporter", "VerificationError",
        "branch 2 fails z·B == b + e·I", signature=sig_json(evasive))
    bad("link tag not on the curve; challenges re-balanced", "VerificationError", "link tag is not a valid point",
        signature=rebalanced(sig, RING, SUBJECT, MESSAGE, link_tag=OFF_CURVE))
    bad("link tag outside the subgroup; challenges re-balanced", "VerificationError",
        "link tag is not a valid point: G1 point is on the curve but not in the prime-order subgroup",
        signature=rebalanced(sig, RING, SUBJECT, MESSAGE, link_tag=NOT_IN_SUBGROUP))
    bad("link tag is the identity; challenges re-balanced", "VerificationError", "link tag is the identity",
        signature=rebalanced(sig, RING, SUBJECT, MESSAGE, link_tag=bytes([0xC0]) + bytes(47)))
    bad("b[4] outside the subgroup; challenges re-balanced", "VerificationError", "b[4] is not a valid G1 point",
        signature=rebalanced(sig, RING, SUBJECT, MESSAGE, b=[*sig.b[:4], NOT_IN_SUBGROUP]))
    bad("a[4] replaced and challenges re-balanced: hash passes, branch 0 (whose e changed) fails",
        "VerificationError", "branch 0 fails z·G == a + e·P",
        signature=rebalanced(sig, RING, SUBJECT, MESSAGE, a=[*sig.a[:4], public_key(det("other-a"))]))
    bad("ring lists one key twice", "VerificationError", "same key at positions 0 and 4",
        ctx([*RING[:4], RING[0]], SUBJECT, MESSAGE))
    bad("ring member key outside the subgroup", "VerificationError", "ring member 3 key is not a valid public key",
        ctx([*RING[:3], NOT_IN_SUBGROUP, RING[4]], SUBJECT, MESSAGE))
    bad("ring member key is the identity", "VerificationError", "ring member 1 key is not a valid public key",
        ctx([RING[0], bytes([0xC0]) + bytes(47), *RING[2:]], SUBJECT, MESSAGE))
    bad("challenge e[1] = q: non-canonical scalar", "InvalidInput", "not a canonical scalar",
        signature={**sj, "e": [sj["e"][0], hex(ORDER), *sj["e"][2:]]})
    wire = bytearray(sig.to_bytes())
    off = 4 + 48 + 5 * 96 + 5 * 32  # z[0]
    wire[off:off + 32] = (sig.z[0] + ORDER).to_bytes(32, "big")
    bad("wire form with z[0] >= q", "InvalidInput", "not a canonical scalar", signature_bytes=bytes(wire))
    bad("wire form truncated", "InvalidInput", "expected 852 for 5 branches", signature_bytes=sig.to_bytes()[:-1])
    bad("wire form claims 0 branches", "InvalidInput", "claims 0 branches", signature_bytes=bytes(4) + sig.to_bytes()[4:])
    bad("4 challenges for 5 commitments", "InvalidInput", "5 a-commitments, 5 b-commitments, 4 challenges",
        signature={**sj, "e": sj["e"][:4]})
    bad("subject tag of 31 bytes", "VerificationError", "subject tag must be 32 bytes",
        ctx(RING, SUBJECT[:31], MESSAGE))

    return {
        "description": "Linkable ring signatures (DESIGN §2): CDS OR of Chaum-Pedersen DLEQ "
        "branches over BLS12-381 G1, link base hash_to_curve(b'link/' + subject_tag, "
        "'CANDOR-V1-LINK'), Fiat-Shamir tag CANDOR-V1-RING. Valid cases: replaying `nonces` "
        "through ring_sign with `signer_key` must give exactly `signature`; invalid cases must "
        "raise `error` with `message` in its text when parsed or verified. `signed_message` is the signed payload. Generated by "
        "make_ring_signature.py.",
        "cases": cases,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
