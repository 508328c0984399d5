"""Regenerate validity_proof.json: known-answer and invalid CDS validity proofs.

Run: python tests/vectors/make_validity_proof.py

Known answers are made with core.proofs.prove_validity driven by a fixed list of nonces
(SHA-512(b"candor-validity-vector" ‖ case ‖ counter) mod q), recorded in the file so the test
can replay them and demand the same bytes. Invalid cases are valid proofs with one thing
changed, or proofs by a cheating prover (core.proofs._prove with a false witness), or
proofs whose challenges were re-balanced so that the hash check passes and a later check
(point decoding, a branch equation) must catch the fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.group import FIELD_MODULUS, ORDER, default_group
from core.pedersen import Generators, commit
from core.proofs import ReportStatement, ValidityProof, _challenge, _prove, prove_validity

OUT = Path(__file__).with_name("validity_proof.json")
CATEGORIES = ["FRAUD", "COUNTERFEIT", "NON_DELIVERY"]
GROUP = default_group()
GENS = Generators(GROUP, CATEGORIES)
# x = 4 lies on the curve but not in the prime-order subgroup (see g1_decode.json).
NOT_IN_SUBGROUP = bytes.fromhex("80" + "00" * 46 + "04")
NOT_IN_SUBGROUP_XY = GROUP.encode_xy(GROUP.decode_unchecked(NOT_IN_SUBGROUP))


def det(label: str) -> int:
    return int.from_bytes(hashlib.sha512(b"candor-validity-vector" + label.encode()).digest(), "big") % ORDER


def recording_rng(label: str, log: list[int]) -> Callable[[], int]:
    def rng() -> int:
        value = det(f"{label}/{len(log)}")
        log.append(value)
        return value
    return rng


def statement(label: str, category: str, tier: int, r: int, **over: Any) -> ReportStatement:
    c = GROUP.encode(commit(GENS, category, tier, r))
    fields: dict[str, Any] = dict(
        genesis_hash=hashlib.sha256(b"genesis").digest(),
        report_id=hashlib.sha256(label.encode()).digest()[:16],
        subject_tag=hashlib.sha256(b"subject/" + label.encode()).digest(),
        category=category,
        event_date="2026-03-14",
        commitment=c,
    )
    fields.update(over)
    return ReportStatement(**fields)


def stmt_json(s: ReportStatement) -> dict[str, str]:
    return {
        "genesis_hash": s.genesis_hash.hex(), "report_id": s.report_id.hex(),
        "subject_tag": s.subject_tag.hex(), "category": s.category,
        "event_date": s.event_date, "commitment": s.commitment.hex(),
    }


def proof_json(p: ValidityProof) -> dict[str, list[str]]:
    return {"a": [x.hex() for x in p.a], "e": [hex(x) for x in p.e], "z": [hex(x) for x in p.z]}


def rebalance(stmt: ReportStatement, a: tuple[bytes, ...], e: tuple[int, ...], z: tuple[int, ...]) -> dict[str, list[str]]:
    """Fix e[0] so the challenges sum to the hash again (what a forger would do)."""
    c = _challenge(stmt, a)
    e0 = (c - sum(e[1:])) % ORDER
    return {"a": [x.hex() for x in a], "e": [hex(e0)] + [hex(x) for x in e[1:]], "z": [hex(x) for x in z]}


def build() -> dict[str, object]:
    cases: list[dict[str, Any]] = []

    def add(**case: Any) -> None:
        cases.append({"id": len(cases) + 1, **case})

    base: dict[str, tuple[ReportStatement, ValidityProof, int, int]] = {}
    for label, category, tier in [("kat-minor", "FRAUD", 0), ("kat-general", "COUNTERFEIT", 1),
                                  ("kat-serious", "NON_DELIVERY", 2), ("kat-critical", "FRAUD", 3)]:
        r = det(label + "/r")
        s = statement(label, category, tier, r)
        log: list[int] = []
        p = prove_validity(GENS, s, tier, r, rng=recording_rng(label, log))
        base[label] = (s, p, tier, r)
        add(valid=True, why=f"honest proof, tier {tier}", statement=stmt_json(s), tier=tier,
            r=hex(r), nonces=[hex(v) for v in log], proof=proof_json(p), proof_bytes=p.to_bytes().hex())

    s, p, tier, r = base["kat-serious"]
    s2, p2, _, _ = base["kat-critical"]

    def bad(why: str, error: str, message: str, st: ReportStatement | dict[str, str] = s,
            proof: dict[str, Any] | None = None, proof_bytes: bytes | None = None) -> None:
        entry: dict[str, Any] = {"valid": False, "why": why,
                                 "statement": st if isinstance(st, dict) else stmt_json(st),
                                 "error": error, "message": message}
        if proof_bytes is not None:
            entry["proof_bytes"] = proof_bytes.hex()
        else:
            entry["proof"] = proof if proof is not None else proof_json(p)
        add(**entry)

    pj = proof_json(p)
    e = list(p.e); e[0] = (e[0] + 1) % ORDER
    bad("challenge e[0] changed", "VerificationError", "do not sum", proof={**pj, "e": [hex(x) for x in e]})
    z = list(p.z); z[1] = (z[1] + 1) % ORDER
    bad("response z[1] changed", "VerificationError", "branch 1 (general)", proof={**pj, "z": [hex(x) for x in z]})
    a = list(pj["a"]); a[2] = p2.a[2].hex()
    bad("commitment a[2] replaced by another valid point", "VerificationError", "do not sum", proof={**pj, "a": a})
    bad("same proof, category swapped to COUNTERFEIT", "VerificationError", "do not sum", replace(s, category="COUNTERFEIT"))
    bad("same proof, another report id", "VerificationError", "do not sum", replace(s, report_id=s2.report_id))
    bad("same proof, another event date", "VerificationError", "do not sum", replace(s, event_date="2026-03-15"))
    bad("same proof, another subject", "VerificationError", "do not sum", replace(s, subject_tag=s2.subject_tag))
    bad("same proof, another genesis", "VerificationError", "do not sum", replace(s, genesis_hash=bytes(32)))
    bad("same proof, another valid commitment", "VerificationError", "do not sum", replace(s, commitment=s2.commitment))
    bad("proof of another report", "VerificationError", "do not sum", proof=proof_json(p2))
    bad("unknown category in the statement", "VerificationError", "unknown category 'SPAM'", replace(s, category="SPAM"))
    bad("only 3 branches", "InvalidInput", "proof has 3 branches",
        proof={k: v[:3] for k, v in pj.items()})
    bad("5 branches", "InvalidInput", "proof has 5 branches",
        proof={"a": pj["a"] + pj["a"][:1], "e": pj["e"] + ["0x0"], "z": pj["z"] + ["0x0"]})
    bad("response z[3] + q: non-canonical scalar", "InvalidInput", "not a canonical scalar",
        proof={**pj, "z": pj["z"][:3] + [hex(p.z[3] + ORDER)]})
    bad("challenge e[2] = q: non-canonical scalar", "InvalidInput", "not a canonical scalar",
        proof={**pj, "e": pj["e"][:2] + [hex(ORDER), pj["e"][3]]})
    z0 = 1 + 4 * 96 + 4 * 32
    enc = bytearray(p.to_bytes()); enc[z0:z0 + 32] = (p.z[0] + ORDER).to_bytes(32, "big")
    bad("wire form with z[0] >= q", "InvalidInput", "not a canonical scalar", proof_bytes=bytes(enc))
    bad("wire form truncated to 640 bytes", "InvalidInput", "expected 641", proof_bytes=p.to_bytes()[:-1])
    bad("wire form with version byte 1", "InvalidInput", "version 1 is not supported",
        proof_bytes=b"\x01" + p.to_bytes()[1:])
    retired = b"".join((*(GROUP.encode(GROUP.decode_xy(x)) for x in p.a), p.to_bytes()[1 + 4 * 96:]))
    bad("version 1 wire form (a_j compressed, 448 bytes)", "InvalidInput", "expected 641", proof_bytes=retired)
    bad("a[3] on the curve but not in the subgroup; challenges re-balanced", "VerificationError",
        "a[3] is not a valid G1 point",
        proof=rebalance(s, (*p.a[:3], NOT_IN_SUBGROUP_XY), p.e, p.z))
    x_only = p.a[1][:48] + ((int.from_bytes(p.a[1][48:], "big") + 1) % FIELD_MODULUS).to_bytes(48, "big")
    bad("a[1] with y + 1: off the curve; challenges re-balanced", "VerificationError", "not on the curve",
        proof=rebalance(s, (p.a[0], x_only, *p.a[2:]), p.e, p.z))
    big_y = p.a[2][:48] + (int.from_bytes(p.a[2][48:], "big") + FIELD_MODULUS).to_bytes(48, "big")
    bad("a[2] with y + p: non-canonical coordinate; challenges re-balanced", "VerificationError",
        "coordinate not below p", proof=rebalance(s, (*p.a[:2], big_y, p.a[3]), p.e, p.z))
    s_bad_c = replace(s, commitment=NOT_IN_SUBGROUP)
    bad("commitment on the curve but not in the subgroup; challenges re-balanced", "VerificationError",
        "commitment is not a valid G1 point", s_bad_c, proof=rebalance(s_bad_c, p.a, p.e, p.z))
    s_off = replace(s, commitment=bytes.fromhex("80" + "00" * 46 + "01"))
    bad("commitment not on the curve; challenges re-balanced", "VerificationError",
        "not on the curve", s_off, proof=rebalance(s_off, p.a, p.e, p.z))
    bad("a[1] replaced and e re-balanced: hash passes, branch 0 (whose e changed) fails",
        "VerificationError", "branch 0 (minor)", proof=rebalance(s, (p.a[0], p2.a[1], *p.a[2:]), p.e, p.z))

    # Cheating provers: the statement is false, the prover runs the protocol anyway.
    label = "cheat-two-tiers"
    r = det(label)
    c_point = GROUP.add(commit(GENS, "FRAUD", 0, r), GENS.g("FRAUD", 1))
    s_two = replace(statement(label, "FRAUD", 0, r), commitment=GROUP.encode(c_point))
    cheat = _prove(GENS, s_two, c_point, 0, r, recording_rng(label, []))
    bad("commitment to minor + general (not one-hot), proved as minor", "VerificationError",
        "branch 0 (minor)", s_two, proof=proof_json(cheat))
    label = "cheat-other-category"
    r = det(label)
    c_point = commit(GENS, "COUNTERFEIT", 2, r)
    s_cat = replace(statement(label, "FRAUD", 2, r), commitment=GROUP.encode(c_point))
    cheat = _prove(GENS, s_cat, c_point, 2, r, recording_rng(label, []))
    bad("commitment is to COUNTERFEIT but the statement says FRAUD", "VerificationError",
        "branch 2 (serious)", s_cat, proof=proof_json(cheat))
    label = "cheat-wrong-r"
    r = det(label)
    c_point = commit(GENS, "FRAUD", 3, r)
    s_r = replace(statement(label, "FRAUD", 3, r), commitment=GROUP.encode(c_point))
    cheat = _prove(GENS, s_r, c_point, 3, (r + 1) % ORDER, recording_rng(label, []))
    bad("prover does not know the opening (uses r + 1)", "VerificationError",
        "branch 3 (critical)", s_r, proof=proof_json(cheat))
    bad("event date 2026-02-30 does not exist", "InvalidInput", "not a calendar date",
        {**stmt_json(s), "event_date": "2026-02-30"})
    bad("event date not in YYYY-MM-DD form", "InvalidInput", "not an ISO date",
        {**stmt_json(s), "event_date": "20260314"})
    bad("report id of 15 bytes", "InvalidInput", "report id must be 16 bytes",
        {**stmt_json(s), "report_id": s.report_id[:15].hex()})

    return {
        "description": "CDS 1-of-4 validity proofs (docs/reports.md) over BLS12-381 G1 with DST "
        "CANDOR-V1-PEDERSEN generators and Fiat-Shamir tag CANDOR-V1-VALIDITY (encoding version 2). Valid cases: "
        "replaying `nonces` (in the order the prover draws them) through prove_validity must "
        "give exactly `proof`; invalid cases must raise `error` with `message` in its text, "
        "either when the statement/proof is parsed or when it is verified. Scalars are hex "
        "integers; the commitment is a 48-byte compressed point, the a_j 96-byte uncompressed points (x || y), "
        "all hex; `proof_bytes` starts with the version byte 02. Generated by make_validity_proof.py.",
        "categories": CATEGORIES,
        "cases": cases,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
