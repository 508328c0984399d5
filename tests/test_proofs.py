"""core.proofs: the CDS 1-of-4 validity proof, its binding, vectors and batch verification."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import proofs
from core.errors import CandorError, InvalidInput, VerificationError
from core.group import ORDER, group_by_name
from core.pedersen import Generators, commit, random_scalar
from core.proofs import (
    VALIDITY_TAG,
    ReportStatement,
    ValidityProof,
    batch_verify_validity,
    fiat_shamir_challenge,
    prove_validity,
    verify_validity,
)

VEC = json.loads((Path(__file__).parent / "vectors" / "validity_proof.json").read_text())
ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
GENS = Generators(ARK, VEC["categories"])
PYECC_GENS = Generators(PYECC, VEC["categories"])
ERRORS: dict[str, type[CandorError]] = {"InvalidInput": InvalidInput, "VerificationError": VerificationError}


def _stmt(d: dict[str, str]) -> ReportStatement:
    return ReportStatement(
        genesis_hash=bytes.fromhex(d["genesis_hash"]),
        report_id=bytes.fromhex(d["report_id"]),
        subject_tag=bytes.fromhex(d["subject_tag"]),
        category=d["category"],
        event_date=d["event_date"],
        commitment=bytes.fromhex(d["commitment"]),
    )


def _proof(case: dict[str, Any]) -> ValidityProof:
    if "proof_bytes" in case and "proof" not in case:
        return ValidityProof.from_bytes(bytes.fromhex(case["proof_bytes"]))
    p = case["proof"]
    return ValidityProof(
        a=tuple(bytes.fromhex(x) for x in p["a"]),
        e=tuple(int(x, 16) for x in p["e"]),
        z=tuple(int(x, 16) for x in p["z"]),
    )


def _replay(values: list[str]) -> Callable[[], int]:
    it = iter(int(v, 16) for v in values)
    return lambda: next(it)


def _fresh(category: str = "FRAUD", tier: int = 2, gens: Generators = GENS) -> tuple[ReportStatement, int]:
    r = random_scalar()
    c = gens.group.encode(commit(gens, category, tier, r))
    stmt = ReportStatement(
        genesis_hash=secrets.token_bytes(32),
        report_id=secrets.token_bytes(16),
        subject_tag=secrets.token_bytes(32),
        category=category,
        event_date="2026-01-31",
        commitment=c,
    )
    return stmt, r


# ---- vectors ----

VALID = [c for c in VEC["cases"] if c["valid"]]
INVALID = [c for c in VEC["cases"] if not c["valid"]]


def test_vector_file_shape() -> None:
    assert len(VALID) >= 4 and len(INVALID) >= 10
    assert all(c["why"] for c in VEC["cases"])


@pytest.mark.parametrize("case", VALID, ids=lambda c: str(c["id"]))
def test_known_answer(case: dict[str, Any]) -> None:
    stmt = _stmt(case["statement"])
    proof = _proof(case)
    assert proof.to_bytes().hex() == case["proof_bytes"]
    assert ValidityProof.from_bytes(proof.to_bytes()) == proof
    regenerated = prove_validity(GENS, stmt, case["tier"], int(case["r"], 16), rng=_replay(case["nonces"]))
    assert regenerated == proof
    verify_validity(GENS, stmt, proof)


def test_known_answer_py_ecc_backend() -> None:
    """The reference backend reproduces the same proof bytes and accepts it."""
    case = VALID[0]
    stmt = _stmt(case["statement"])
    regenerated = prove_validity(PYECC_GENS, stmt, case["tier"], int(case["r"], 16), rng=_replay(case["nonces"]))
    assert regenerated == _proof(case)
    verify_validity(PYECC_GENS, stmt, regenerated)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: f'{c["id"]}-{c["why"][:30]}')
def test_invalid_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["message"])):
        verify_validity(GENS, _stmt(case["statement"]), _proof(case))


def test_invalid_vectors_rejected_by_py_ecc_backend() -> None:
    """A sample of verification-stage rejections through the reference backend."""
    sample = [c for c in INVALID if c["error"] == "VerificationError" and
              any(w in c["why"] for w in ("subgroup", "z[1] changed", "another report id"))]
    assert len(sample) >= 3
    for case in sample:
        with pytest.raises(VerificationError, match=re.escape(case["message"])):
            verify_validity(PYECC_GENS, _stmt(case["statement"]), _proof(case))


# ---- binding: a proof is for one report only ----

def test_proof_binds_every_statement_field() -> None:
    stmt, r = _fresh("COUNTERFEIT", 1)
    proof = prove_validity(GENS, stmt, 1, r)
    verify_validity(GENS, stmt, proof)
    other, _ = _fresh("COUNTERFEIT", 1)
    variants = {
        "report id": replace(stmt, report_id=other.report_id),
        "subject": replace(stmt, subject_tag=other.subject_tag),
        "category": replace(stmt, category="FRAUD"),
        "date": replace(stmt, event_date="2026-02-01"),
        "commitment": replace(stmt, commitment=other.commitment),
        "genesis": replace(stmt, genesis_hash=other.genesis_hash),
    }
    for name, variant in variants.items():
        with pytest.raises(VerificationError, match="do not sum"):
            verify_validity(GENS, variant, proof)
        with pytest.raises(VerificationError, match="item 0: .*do not sum"):
            batch_verify_validity(GENS, [(variant, proof)])
        assert name


def test_transcript_encoding_is_unambiguous() -> None:
    assert fiat_shamir_challenge(VALIDITY_TAG, [b"ab", b"c"]) != fiat_shamir_challenge(VALIDITY_TAG, [b"a", b"bc"])
    assert fiat_shamir_challenge(VALIDITY_TAG, [b"", b"x"]) != fiat_shamir_challenge(VALIDITY_TAG, [b"x", b""])
    assert fiat_shamir_challenge(b"T1", [b"x"]) != fiat_shamir_challenge(b"T2", [b"x"])
    assert 0 <= fiat_shamir_challenge(b"T", []) < ORDER


# ---- properties ----

@settings(max_examples=30, deadline=None)
@given(tier=st.integers(0, 3), category=st.sampled_from(VEC["categories"]), r=st.integers(0, ORDER - 1))
def test_honest_proofs_verify(tier: int, category: str, r: int) -> None:
    stmt, _ = _fresh(category, tier)
    stmt = replace(stmt, commitment=ARK.encode(commit(GENS, category, tier, r)))
    proof = prove_validity(GENS, stmt, tier, r)
    verify_validity(GENS, stmt, proof)
    assert ValidityProof.from_bytes(proof.to_bytes()) == proof


@settings(max_examples=30, deadline=None)
@given(
    tier=st.integers(0, 3),
    extra=st.sampled_from(["second-tier", "other-category", "wrong-r", "no-generator"]),
    claimed=st.integers(0, 3),
)
def test_false_statements_do_not_verify(tier: int, extra: str, claimed: int) -> None:
    """A prover running the protocol on a false statement produces a rejected proof."""
    stmt, r = _fresh("FRAUD", tier)
    c_point = commit(GENS, "FRAUD", tier, r)
    witness_r = r
    if extra == "second-tier":  # not one-hot: two tiers at once
        c_point = ARK.add(c_point, GENS.g("FRAUD", (tier + 1) % 4))
    elif extra == "other-category":
        c_point = commit(GENS, "NON_DELIVERY", tier, r)
    elif extra == "wrong-r":
        witness_r = (r + 1) % ORDER
    else:  # pure r·H: commits to nothing
        c_point = ARK.mul(GENS.h, r)
    stmt = replace(stmt, commitment=ARK.encode(c_point))
    cheat = proofs._prove(GENS, stmt, c_point, claimed, witness_r, random_scalar)
    with pytest.raises(VerificationError, match="branch"):
        verify_validity(GENS, stmt, cheat)


def test_prove_refuses_a_commitment_it_cannot_open() -> None:
    stmt, r = _fresh("FRAUD", 2)
    with pytest.raises(InvalidInput, match="does not open"):
        prove_validity(GENS, stmt, 1, r)
    with pytest.raises(InvalidInput, match="does not open"):
        prove_validity(GENS, stmt, 2, (r + 1) % ORDER)
    with pytest.raises(InvalidInput, match="tier must be"):
        prove_validity(GENS, stmt, 4, r)


def test_proof_hides_tier_structurally() -> None:
    """Every branch has the same shape whatever the tier (sanity, not a privacy proof)."""
    for tier in range(4):
        stmt, r = _fresh("FRAUD", tier)
        proof = prove_validity(GENS, stmt, tier, r)
        assert len(proof.to_bytes()) == ValidityProof.SIZE == 448
        assert all(not ARK.is_identity(ARK.decode(a)) for a in proof.a)


# ---- proof object validation ----

def test_validity_proof_validation_messages() -> None:
    stmt, r = _fresh()
    p = prove_validity(GENS, stmt, 2, r)
    with pytest.raises(InvalidInput, match=r"proof has 3 branches \(commitments a\), expected 4 \(one per tier\)"):
        ValidityProof(a=p.a[:3], e=p.e, z=p.z)
    with pytest.raises(InvalidInput, match="proof has 2 branches"):
        ValidityProof(a=p.a, e=p.e[:2], z=p.z)
    with pytest.raises(InvalidInput, match=r"a\[1\] must be 48 bytes"):
        ValidityProof(a=(p.a[0], p.a[1][:47], p.a[2], p.a[3]), e=p.e, z=p.z)
    with pytest.raises(InvalidInput, match=r"e\[0\] is not a canonical scalar"):
        ValidityProof(a=p.a, e=(-1, *p.e[1:]), z=p.z)
    with pytest.raises(InvalidInput, match="must be an integer"):
        ValidityProof(a=p.a, e=p.e, z=(True, *p.z[1:]))
    with pytest.raises(InvalidInput, match="expected 448"):
        ValidityProof.from_bytes(p.to_bytes() + b"\x00")


def test_statement_validation() -> None:
    stmt, _ = _fresh()
    with pytest.raises(InvalidInput, match="genesis hash must be 32 bytes"):
        replace(stmt, genesis_hash=b"\x00" * 31)
    with pytest.raises(InvalidInput, match="subject tag must be 32 bytes"):
        replace(stmt, subject_tag=b"")
    with pytest.raises(InvalidInput, match="commitment must be 48 bytes"):
        replace(stmt, commitment=stmt.commitment[:40])
    with pytest.raises(InvalidInput, match="not an ISO date"):
        replace(stmt, event_date="2026-1-31")
    with pytest.raises(InvalidInput, match="not a calendar date"):
        replace(stmt, event_date="2025-02-29")
    with pytest.raises(InvalidInput, match="category code"):
        replace(stmt, category="a/b")


# ---- batch verification ----

def _batch(n: int) -> list[tuple[ReportStatement, ValidityProof]]:
    items = []
    for i in range(n):
        category = VEC["categories"][i % 3]
        stmt, r = _fresh(category, i % 4)
        items.append((stmt, prove_validity(GENS, stmt, i % 4, r)))
    return items


BATCH = _batch(20)


def test_batch_accepts_good_proofs() -> None:
    batch_verify_validity(GENS, BATCH)
    batch_verify_validity(GENS, [])
    batch_verify_validity(GENS, BATCH[:1])


def test_batch_names_item_with_bad_hash() -> None:
    items = list(BATCH)
    stmt, proof = items[7]
    items[7] = (replace(stmt, event_date="2020-01-01"), proof)
    with pytest.raises(VerificationError, match="^item 7: validity proof challenges do not sum"):
        batch_verify_validity(GENS, items)


@pytest.mark.parametrize("bad_index", [0, 7, 19])
def test_batch_names_item_failing_only_the_group_equation(bad_index: int) -> None:
    """Hash-consistent but wrong: only the combined MSM can catch it, then the fallback names it."""
    items = list(BATCH)
    stmt, proof = items[bad_index]
    z = list(proof.z)
    z[2] = (z[2] + 5) % ORDER
    items[bad_index] = (stmt, replace(proof, z=tuple(z)))
    with pytest.raises(VerificationError, match=f"^item {bad_index}: validity proof branch 2 \\(serious\\)"):
        batch_verify_validity(GENS, items)


def test_batch_names_item_with_swapped_proofs() -> None:
    items = list(BATCH)
    (s3, p3), (s4, p4) = items[3], items[4]
    items[3], items[4] = (s3, p4), (s4, p3)
    with pytest.raises(VerificationError, match="^item 3: "):
        batch_verify_validity(GENS, items)


def test_batch_names_item_with_undecodable_point() -> None:
    items = list(BATCH)
    stmt, proof = items[11]
    bad_c = bytes.fromhex("80" + "00" * 46 + "04")  # on the curve, not in the subgroup
    bad_stmt = replace(stmt, commitment=bad_c)
    challenge = proofs._challenge(bad_stmt, proof.a)
    e = ((challenge - sum(proof.e[1:])) % ORDER, *proof.e[1:])
    items[11] = (bad_stmt, replace(proof, e=e))
    with pytest.raises(VerificationError, match="^item 11: commitment is not a valid G1 point.*subgroup"):
        batch_verify_validity(GENS, items)


def test_batch_rejects_unknown_category() -> None:
    stmt, proof = BATCH[0]
    with pytest.raises(VerificationError, match="^item 0: unknown category 'SPAM'"):
        batch_verify_validity(GENS, [(replace(stmt, category="SPAM"), proof)])
