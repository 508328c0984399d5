"""Regenerate publication_proof.json: known-answer and invalid rating publication proofs.

Run: python tests/vectors/make_publication_proof.py

Known answers are made with core.publication._prove_with_entropy, i.e. `prove` with its 32
fresh bytes fixed (SHA-256(b"candor-publication-vector" ‖ case)); the entropy is recorded so
the test can replay it and demand the same bytes. G_0 is computed here with py_ecc's RFC 9380
hash_to_G1, independently of core.publication.remainder_generator.

Invalid cases are a valid proof with one thing changed (the statement, a response, a
first-message point, the wire bytes), or proofs by a cheating prover (core.publication.
_prove_raw with a false witness: a remainder outside [0, 999] built from "bits" that are
not bits, counts that do not open C*, a wrong R). Each says which check must catch it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.bls.point_compression import compress_G1

from core.group import ORDER, default_group
from core.pedersen import PEDERSEN_DST, Generators
from core.publication import (
    REMAINDER_WEIGHTS,
    PublicationProof,
    PublicationStatement,
    _prove_raw,
    _prove_with_entropy,
    _remainder_bits,
    deduction,
    score_of,
)

OUT = Path(__file__).with_name("publication_proof.json")
CATEGORIES = ["FRAUD", "COUNTERFEIT", "NON_DELIVERY"]
SLOTS = 4 * len(CATEGORIES)
POINTS = (1, 3, 6, 40, 2, 5, 10, 50, 1, 2, 4, 8)
BASE = 100
GROUP = default_group()
GENS = Generators(GROUP, CATEGORIES)
# x = 4 lies on the curve but not in the prime-order subgroup (see g1_decode.json).
NOT_IN_SUBGROUP = bytes.fromhex("80" + "00" * 46 + "04")
NOT_ON_CURVE = bytes.fromhex("80" + "00" * 46 + "01")


def det(label: str, size: int = 32) -> bytes:
    return hashlib.sha512(b"candor-publication-vector" + label.encode()).digest()[:size]


def aggregate(counts: list[int], r: int) -> bytes:
    gs = [GENS.g(c, t) for c in CATEGORIES for t in range(4)]
    return GROUP.encode(GROUP.msm([*gs, GENS.h], [*counts, r % ORDER]))


def statement(label: str, counts: list[int], r: int, **over: Any) -> PublicationStatement:
    fields: dict[str, Any] = {
        "genesis_hash": hashlib.sha256(b"genesis").digest(),
        "subject_tag": hashlib.sha256(b"subject/" + label.encode()).digest(),
        "ledger_size": 4242,
        "set_digest": hashlib.sha256(b"set/" + label.encode()).digest(),
        "rule_set_hash": hashlib.sha256(b"rules-v1").digest(),
        "aggregate": aggregate(counts, r),
        "points": POINTS,
        "base": BASE,
        "score": score_of(BASE, POINTS, counts),
    }
    fields.update(over)
    return PublicationStatement(**fields)


def stmt_json(s: PublicationStatement) -> dict[str, Any]:
    return {
        "genesis_hash": s.genesis_hash.hex(), "subject_tag": s.subject_tag.hex(),
        "ledger_size": s.ledger_size, "set_digest": s.set_digest.hex(),
        "rule_set_hash": s.rule_set_hash.hex(), "aggregate": s.aggregate.hex(),
        "points": list(s.points), "base": s.base, "score": s.score,
    }


def build() -> dict[str, object]:
    cases: list[dict[str, Any]] = []

    def add(**case: Any) -> None:
        cases.append({"id": len(cases) + 1, **case})

    honest = [
        # (label, weighted counts per slot, R): D = 66300 (remainder 700: weight 488 used),
        # D = 13000 (remainder 0), D = 202050 (score below zero, remainder 950).
        ("kat-mixed", [1300, 0, 750, 0, 0, 2000, 0, 1000, 500, 0, 0, 0], 2**300 + 12345),
        ("kat-exact", [0, 1000, 1000, 0, 2000, 0, 0, 0, 0, 0, 0, 0], 777),
        ("kat-negative", [0, 0, 0, 1000, 0, 0, 0, 3000, 2050, 1500, 250, 750], ORDER * 5 + 99),
    ]
    proofs: dict[str, tuple[PublicationStatement, PublicationProof, list[int], int]] = {}
    for label, counts, r in honest:
        s = statement(label, counts, r)
        entropy = det(label)
        p = _prove_with_entropy(GENS, s, counts, r, entropy)
        proofs[label] = (s, p, counts, r)
        d = deduction(POINTS, counts)
        add(valid=True, why=f"honest proof: D = {d}, score {s.score}, remainder {1000 * (BASE - s.score) - d}",
            statement=stmt_json(s), counts=counts, r_sum=hex(r), entropy=entropy.hex(),
            proof_bytes=p.to_bytes().hex())

    s, p, counts, r = proofs["kat-mixed"]
    s2, p2, _, _ = proofs["kat-exact"]

    def bad(why: str, error: str, message: str, st: PublicationStatement | dict[str, Any] = s,
            proof: PublicationProof | bytes = p, slots: int = SLOTS) -> None:
        add(valid=False, why=why, statement=st if isinstance(st, dict) else stmt_json(st),
            slots=slots, proof_bytes=(proof if isinstance(proof, bytes) else proof.to_bytes()).hex(),
            error=error, message=message)

    row = "fails its linear row"
    bad("score tampered: one point lower", "VerificationError", row, replace(s, score=s.score - 1))
    bad("score tampered: one point higher", "VerificationError", row, replace(s, score=s.score + 1))
    bad("another subject", "VerificationError", row, replace(s, subject_tag=s2.subject_tag))
    bad("another rule set hash", "VerificationError", row, replace(s, rule_set_hash=bytes(32)))
    bad("another ledger size L", "VerificationError", row, replace(s, ledger_size=s.ledger_size + 1))
    bad("another set digest", "VerificationError", row, replace(s, set_digest=s2.set_digest))
    bad("another genesis", "VerificationError", row, replace(s, genesis_hash=bytes(32)))
    bad("another valid aggregate C*", "VerificationError", row, replace(s, aggregate=s2.aggregate))
    bad("points of the serious FRAUD slot changed 6 -> 7", "VerificationError", row,
        replace(s, points=(*POINTS[:2], 7, *POINTS[3:])))
    bad("base score changed 100 -> 101, score unchanged", "VerificationError", row, replace(s, base=BASE + 1))
    bad("proof of another rating", "VerificationError", row, proof=p2)
    bad("response z_N[0] + 1", "VerificationError", row,
        proof=replace(p, z_counts=((p.z_counts[0] + 1) % ORDER, *p.z_counts[1:])))
    bad("response z_u + 1", "VerificationError", row, proof=replace(p, z_u=(p.z_u + 1) % ORDER))
    bad("response z_R + 1 (not in the row)", "VerificationError", "aggregate equation",
        proof=replace(p, z_r=(p.z_r + 1) % ORDER))
    bad("response z_sigma + 1 (not in the row)", "VerificationError", "remainder equation",
        proof=replace(p, z_sigma=(p.z_sigma + 1) % ORDER))
    bad("T_C replaced by another proof's T_C", "VerificationError", row, proof=replace(p, t_aggregate=p2.t_aggregate))
    bad("T_U replaced by another proof's T_U", "VerificationError", row, proof=replace(p, t_remainder=p2.t_remainder))
    bad("bit commitment U[4] replaced by another proof's", "VerificationError", row,
        proof=replace(p, bits=(*p.bits[:4], p2.bits[4], *p.bits[5:])))
    bad("bit proof a[2][0] replaced by another proof's", "VerificationError", row,
        proof=replace(p, a0=(*p.a0[:2], p2.a0[2], *p.a0[3:])))
    bad("bit proof challenge e[3][0] + 1 (not hashed)", "VerificationError", "remainder bit 3 fails",
        proof=replace(p, e0=(*p.e0[:3], (p.e0[3] + 1) % ORDER, *p.e0[4:])))
    bad("bit proof response z[5][1] + 1", "VerificationError", "remainder bit 5 fails (branch 1)",
        proof=replace(p, z1=(*p.z1[:5], (p.z1[5] + 1) % ORDER, *p.z1[6:])))
    bad("aggregate on the curve but not in the subgroup", "VerificationError",
        "aggregate C* is not a valid G1 point", replace(s, aggregate=NOT_IN_SUBGROUP))
    bad("statement has points for 2 categories, registry has 3", "VerificationError",
        "statement has 8 points but the registry has 12 slots", replace(s, points=POINTS[:8]))
    short = p.to_bytes()[: PublicationProof.size(8)]
    bad("proof for 8 slots (another registry), parsed as such", "VerificationError",
        "proof has 8 count responses but the registry has 12 slots", proof=short, slots=8)

    # Cheating provers: the statement is false, the prover runs the protocol anyway.
    u = 1000 * (BASE - s.score) - deduction(POINTS, counts)
    over = u + 1000  # the remainder of a score one point worse: outside [0, 999]
    bits = [1] * len(REMAINDER_WEIGHTS)
    bits[0] = 1 + over - sum(REMAINDER_WEIGHTS)  # "bit" 0 carries the excess
    cheat = _prove_raw(GENS, replace(s, score=s.score - 1), counts, r, bits, det("cheat-over"))
    bad(f"score one point too low: remainder {over} >= 1000, bit 0 set to {bits[0]}; "
        "linear row and remainder equation hold", "VerificationError", "remainder bit 0 fails",
        replace(s, score=s.score - 1), cheat)
    under = u - 1000  # one point too high: the remainder would be negative
    bits = [0] * len(REMAINDER_WEIGHTS)
    bits[0] = under % ORDER
    cheat = _prove_raw(GENS, replace(s, score=s.score + 1), counts, r, bits, det("cheat-under"))
    bad(f"score one point too high: remainder {under} < 0, bit 0 set to q − {-under}",
        "VerificationError", "remainder bit 0 fails", replace(s, score=s.score + 1), cheat)
    cheat = _prove_raw(GENS, replace(s, score=s.score + 1), counts, r, _remainder_bits(u), det("cheat-bits"))
    bad("score one point too high with honest bits of the true remainder", "VerificationError", row,
        replace(s, score=s.score + 1), cheat)
    moved = list(counts)
    moved[1], moved[5] = moved[5], 0  # the COUNTERFEIT general reports claimed as FRAUD general
    s_moved = replace(s, score=score_of(BASE, POINTS, moved))
    u_moved = 1000 * (BASE - s_moved.score) - deduction(POINTS, moved)
    cheat = _prove_raw(GENS, s_moved, moved, r, _remainder_bits(u_moved), det("cheat-moved"))
    bad("counts moved to a cheaper slot (they do not open C*), score computed from them",
        "VerificationError", "aggregate equation", s_moved, cheat)
    cheat = _prove_raw(GENS, s, counts, r + 1, _remainder_bits(u), det("cheat-r"))
    bad("prover does not know R (uses R + 1)", "VerificationError", "aggregate equation", s, cheat)

    # Malformed wire forms and statements.
    enc = p.to_bytes()
    size = PublicationProof.size(SLOTS)
    bad("truncated by one byte", "InvalidInput", f"expected {size} for {SLOTS} slots", proof=enc[:-1])
    bad("extended by one byte", "InvalidInput", f"expected {size} for {SLOTS} slots", proof=enc + b"\x00")
    z_r_at = 32 * 48 + SLOTS * 32
    noncanon = bytearray(enc)
    noncanon[z_r_at : z_r_at + 32] = (p.z_r + ORDER).to_bytes(32, "big")
    bad("z_R + q: non-canonical scalar", "InvalidInput", "not a canonical scalar", proof=bytes(noncanon))
    e0_at = z_r_at + 3 * 32
    noncanon = bytearray(enc)
    noncanon[e0_at : e0_at + 32] = ORDER.to_bytes(32, "big")
    bad("e[0][0] = q: non-canonical scalar", "InvalidInput", "not a canonical scalar", proof=bytes(noncanon))
    off = bytearray(enc)
    off[10 * 48 : 11 * 48] = NOT_ON_CURVE
    bad("T_C not on the curve", "InvalidInput", "proof point T_C", proof=bytes(off))
    off = bytearray(enc)
    off[0:48] = bytes([0xC0]) + bytes(46) + b"\x01"
    bad("U[0] infinity encoding with stray bits", "InvalidInput", "proof point U[0]", proof=bytes(off))
    bad("score above the base score", "InvalidInput", "above the base score",
        {**stmt_json(s), "score": BASE + 1})
    bad("points of 101 in one slot", "InvalidInput", "expected 0..100",
        {**stmt_json(s), "points": [101, *POINTS[1:]]})
    bad("set digest of 31 bytes", "InvalidInput", "set digest must be 32 bytes",
        {**stmt_json(s), "set_digest": s.set_digest[:31].hex()})

    g0 = hash_to_G1(b"remainder", PEDERSEN_DST, hashlib.sha256)  # type: ignore[arg-type]
    return {
        "description": "Rating publication proofs over BLS12-381 G1 with DST CANDOR-V1-PEDERSEN "
        "generators (G_0 = hash_to_curve('remainder')), Fiat-Shamir tag CANDOR-V1-PUBLICATION, "
        "remainder weights 1, 2, ..., 256, 488. Valid cases: proving `counts` and `r_sum` with "
        "the recorded 32 bytes of `entropy` in place of the fresh ones must give exactly "
        "`proof_bytes`, which verifies. Invalid cases must raise `error` with `message` in its "
        "text when the statement and proof (`proof_bytes` for `slots` slots) are parsed or "
        "verified. Scalars are hex integers; points 48-byte compressed hex. Generated by "
        "make_publication_proof.py.",
        "categories": CATEGORIES,
        "remainder_generator": int(compress_G1(g0)).to_bytes(48, "big").hex(),
        "cases": cases,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
