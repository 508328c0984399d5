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
from g1_points import encoding, times
from hypothesis import given, settings
from hypothesis import strategies as st

from core import proofs
from core.errors import CandorError, InvalidInput, VerificationError
from core.group import ORDER, Point, group_by_name
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
        assert len(proof.to_bytes()) == ValidityProof.SIZE == 641
        assert all(not ARK.is_identity(ARK.decode_xy(a)) for a in proof.a)


# ---- proof object validation ----

def test_validity_proof_validation_messages() -> None:
    stmt, r = _fresh()
    p = prove_validity(GENS, stmt, 2, r)
    with pytest.raises(InvalidInput, match=r"proof has 3 branches \(commitments a\), expected 4 \(one per tier\)"):
        ValidityProof(a=p.a[:3], e=p.e, z=p.z)
    with pytest.raises(InvalidInput, match="proof has 2 branches"):
        ValidityProof(a=p.a, e=p.e[:2], z=p.z)
    with pytest.raises(InvalidInput, match=r"a\[1\] must be 96 bytes"):
        ValidityProof(a=(p.a[0], p.a[1][:48], p.a[2], p.a[3]), e=p.e, z=p.z)
    with pytest.raises(InvalidInput, match=r"e\[0\] is not a canonical scalar"):
        ValidityProof(a=p.a, e=(-1, *p.e[1:]), z=p.z)
    with pytest.raises(InvalidInput, match="must be an integer"):
        ValidityProof(a=p.a, e=p.e, z=(True, *p.z[1:]))
    with pytest.raises(InvalidInput, match="expected 641"):
        ValidityProof.from_bytes(p.to_bytes() + b"\x00")


def test_the_retired_encoding_is_refused() -> None:
    """Version 1 (compressed a_j, 448 bytes) and any other version byte are refused by
    `from_bytes`, before anything is decoded."""
    stmt, r = _fresh()
    p = prove_validity(GENS, stmt, 2, r)
    version_1 = b"".join((*(ARK.encode(ARK.decode_xy(a)) for a in p.a), p.to_bytes()[1 + 4 * 96:]))
    assert len(version_1) == 448
    with pytest.raises(InvalidInput, match="is 448 bytes, expected 641 .*prove the report again"):
        ValidityProof.from_bytes(version_1)
    with pytest.raises(InvalidInput, match="validity proof version 1 is not supported; this ledger uses version 2"):
        ValidityProof.from_bytes(b"\x01" + p.to_bytes()[1:])


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


# ---- transient points decoded without the subgroup check (see batch_verify_validity) ----

#: On the curve, with a G1 part and an h-part (uncompressed, as a proof carries its a_j).
OFF_SUBGROUP = ARK.encode_xy(ARK.decode_unchecked(encoding("cofactor_point")))
#: A valid point's x with y + 1: off the curve.
OFF_CURVE = (lambda xy: xy[:48] + (int.from_bytes(xy[48:], "big") + 1).to_bytes(48, "big"))(ARK.encode_xy(GENS.h))
#: Points of order dividing the cofactor h: one of order 3, one of large order (q·Q).
TORSION = {
    "order 3": ARK.decode_unchecked(encoding("order_3_point")),
    "order dividing h": times(ARK, ARK.decode_xy_unchecked(OFF_SUBGROUP), ORDER),
}


def _prove_with_torsion(
    gens: Generators, stmt: ReportStatement, tier: int, r: int, j: int, t_point: Point
) -> ValidityProof:
    """The honest CDS prover, except that it adds t_point to a_j before hashing."""
    group = gens.group
    c_point = group.decode(stmt.commitment)
    a_pts: list[Point] = [group.identity()] * 4
    e, z = [0] * 4, [0] * 4
    for i in range(4):
        if i != tier:
            e[i], z[i] = random_scalar(), random_scalar()
            x_i = group.sub(c_point, gens.g(stmt.category, i))
            a_pts[i] = group.msm([gens.h, x_i], [z[i], -e[i]])
    k = random_scalar()
    a_pts[tier] = group.mul(gens.h, k)
    a_pts[j] = group.add(a_pts[j], t_point)
    a = tuple(group.encode_xy(p) for p in a_pts)
    e[tier] = (proofs._challenge(stmt, a) - sum(e)) % ORDER
    z[tier] = (k + e[tier] * r) % ORDER
    return ValidityProof(a=a, e=tuple(e), z=tuple(z))


def _rebalanced(stmt: ReportStatement, proof: ValidityProof, a: tuple[bytes, ...]) -> ValidityProof:
    """Replace the a_j and fix e_0 so that the challenges sum to the new hash."""
    e0 = (proofs._challenge(stmt, a) - sum(proof.e[1:])) % ORDER
    return ValidityProof(a=a, e=(e0, *proof.e[1:]), z=proof.z)


def test_torsion_points_are_what_these_tests_need() -> None:
    for t in TORSION.values():
        assert not ARK.is_identity(t)
        assert ARK.is_identity(ARK.mul_by_cofactor(t))
        with pytest.raises(InvalidInput, match="prime-order subgroup"):
            ARK.decode(ARK.encode(t))


@pytest.mark.parametrize("name", list(TORSION))
@pytest.mark.parametrize("j", [2, 0])  # the prover's real branch (tier 2), a simulated one
def test_prover_added_torsion_is_accepted(name: str, j: int) -> None:
    """Documented behaviour: h-torsion the prover adds to its own a_j is accepted.

    The statement about C (checked, in G1) still holds, so accepting is sound; single and
    batch verification agree, and the verdict does not depend on the random coefficients
    (without the cofactor, an order-3 component would pass only one time in three).
    """
    stmt, r = _fresh("FRAUD", 2)
    proof = _prove_with_torsion(GENS, stmt, 2, r, j, TORSION[name])
    with pytest.raises(InvalidInput, match="prime-order subgroup"):
        ARK.decode_xy(proof.a[j])
    c_point = ARK.decode(stmt.commitment)
    plain = ARK.msm(
        [ARK.decode_xy_unchecked(proof.a[j]), c_point, GENS.g("FRAUD", j), GENS.h],
        [1, proof.e[j], -proof.e[j], -proof.z[j]],
    )
    assert not ARK.is_identity(plain)  # the branch equation fails in E(F_p) ...
    assert ARK.is_identity(ARK.mul_by_cofactor(plain))  # ... and holds in G1
    for _ in range(20):
        verify_validity(GENS, stmt, proof)
    batch_verify_validity(GENS, [*BATCH[:5], (stmt, proof), *BATCH[5:10]])


def test_prover_added_torsion_is_accepted_by_py_ecc_backend() -> None:
    stmt, r = _fresh("NON_DELIVERY", 1)
    proof = _prove_with_torsion(GENS, stmt, 1, r, 3, TORSION["order 3"])
    verify_validity(PYECC_GENS, stmt, proof)
    batch_verify_validity(PYECC_GENS, [(stmt, proof)])


def test_nobody_else_can_add_torsion_to_a_proof() -> None:
    stmt, r = _fresh("FRAUD", 2)
    proof = prove_validity(GENS, stmt, 2, r)
    for j in (0, 2):
        a = list(proof.a)
        a[j] = ARK.encode_xy(ARK.add(ARK.decode_xy(a[j]), TORSION["order 3"]))
        with pytest.raises(VerificationError, match="do not sum"):
            verify_validity(GENS, stmt, replace(proof, a=tuple(a)))
        # Re-balancing e_0 to match the hash breaks branch 0. When a_0 is also outside G1,
        # that is what the message names.
        forged = _rebalanced(stmt, proof, tuple(a))
        expected = (r"proof commitment a\[0\] is not a valid G1 point" if j == 0
                    else r"validity proof branch 0 \(minor\)")
        with pytest.raises(VerificationError, match=expected):
            verify_validity(GENS, stmt, forged)
        with pytest.raises(VerificationError, match="^item 4: " + expected):
            batch_verify_validity(GENS, [*BATCH[:4], (stmt, forged), *BATCH[4:8]])


def test_batch_rejects_a_point_outside_g1_with_a_g1_part() -> None:
    """x = 4 is on the curve with a nonzero G1 component: the cofactor does not hide that."""
    items = list(BATCH)
    stmt, proof = items[5]
    items[5] = (stmt, _rebalanced(stmt, proof, (*proof.a[:3], OFF_SUBGROUP)))
    with pytest.raises(
        VerificationError, match=r"^item 5: proof commitment a\[3\] is not a valid G1 point: .*prime-order subgroup"
    ):
        batch_verify_validity(GENS, items)


def test_batch_rejects_an_off_curve_a() -> None:
    items = list(BATCH)
    stmt, proof = items[9]
    items[9] = (stmt, _rebalanced(stmt, proof, (proof.a[0], OFF_CURVE, *proof.a[2:])))
    with pytest.raises(
        VerificationError, match=r"^item 9: proof commitment a\[1\] is not a valid G1 point: .*not on the curve"
    ):
        batch_verify_validity(GENS, items)


@pytest.mark.parametrize("name", list(TORSION))
def test_commitment_with_torsion_is_refused_although_its_equations_hold(name: str) -> None:
    """C is persistent, so it stays subgroup-checked: C + T is refused even with a proof
    whose cofactored equations hold (which is what this test shows first)."""
    stmt, r = _fresh("FRAUD", 1)
    c_bad = ARK.add(ARK.decode(stmt.commitment), TORSION[name])
    bad_stmt = replace(stmt, commitment=ARK.encode(c_bad))
    cheat = proofs._prove(GENS, bad_stmt, c_bad, 1, r, random_scalar)
    a_pts = tuple(ARK.decode_xy_unchecked(a) for a in cheat.a)
    assert proofs._combined_equation(GENS, [proofs._Decoded("FRAUD", c_bad, a_pts, cheat)])
    with pytest.raises(VerificationError, match="^commitment is not a valid G1 point: .*prime-order subgroup"):
        verify_validity(GENS, bad_stmt, cheat)
    with pytest.raises(VerificationError, match="^item 2: commitment is not a valid G1 point"):
        batch_verify_validity(GENS, [*BATCH[:2], (bad_stmt, cheat)])


# -- precomputed nonces (ValidityNonces): the SDK's online proof is additions only ------------


def _with_nonces(category: str, tier: int, nonces: proofs.ValidityNonces) -> tuple[ReportStatement, ValidityProof]:
    c = nonces.commitment(GENS, category, tier)
    assert GENS.group.eq(c, commit(GENS, category, tier, nonces.r))  # the same C as commit() makes
    stmt = ReportStatement(secrets.token_bytes(32), secrets.token_bytes(16), secrets.token_bytes(32), category,
                           "2026-01-31", GENS.group.encode(c))
    return stmt, prove_validity(GENS, stmt, tier, nonces.r, nonces=nonces)


@pytest.mark.parametrize("tier", range(4))
def test_proofs_from_precomputed_nonces_verify_alone_and_in_a_batch(tier: int) -> None:
    items = [_with_nonces(category, tier, proofs.validity_nonces(GENS)) for category in GENS.categories]
    for stmt, proof in items:
        verify_validity(GENS, stmt, proof)
        verify_validity(PYECC_GENS, stmt, proof)  # the reference backend agrees
    batch_verify_validity(GENS, items)


def test_a_proof_from_nonces_is_as_binding_as_any_other() -> None:
    """Nothing about the statement is precomputed: the same nonces' proof fails for another
    tier's commitment, another report, or with one field altered."""
    stmt, proof = _with_nonces(GENS.categories[0], 1, proofs.validity_nonces(GENS))
    with pytest.raises(VerificationError):
        verify_validity(GENS, replace(stmt, report_id=secrets.token_bytes(16)), proof)
    with pytest.raises(VerificationError):
        verify_validity(GENS, stmt, replace(proof, z=(proof.z[0], proof.z[1], proof.z[2], (proof.z[3] + 1) % ORDER)))


def test_nonces_are_refused_for_another_blinding_or_category() -> None:
    nonces = proofs.validity_nonces(Generators(ARK, GENS.categories[:1]))
    stmt, r = _fresh(GENS.categories[0], 2)
    with pytest.raises(InvalidInput, match="another blinding factor"):
        prove_validity(GENS, stmt, 2, r, nonces=nonces)
    other = GENS.categories[1]
    c = GENS.group.encode(commit(GENS, other, 2, nonces.r))
    stmt = ReportStatement(secrets.token_bytes(32), secrets.token_bytes(16), secrets.token_bytes(32), other,
                           "2026-01-31", c)
    with pytest.raises(InvalidInput, match="other categories"):
        prove_validity(GENS, stmt, 2, nonces.r, nonces=nonces)
    assert "<secret>" in repr(nonces) and str(nonces.r) not in repr(nonces)


def test_the_pool_hands_each_nonce_set_out_once() -> None:
    """A set used twice would reveal r (two challenges on one k): the pool never does that."""
    from core.pool import Pool

    with Pool(lambda: proofs.validity_nonces(GENS), "test-nonces", size=3) as pool:
        taken = [pool.take_ready() for _ in range(4)]
    assert taken[3] is None  # nothing computed ahead: the caller proves the plain way
    assert len({id(t) for t in taken[:3]}) == 3 and len({t.k for t in taken[:3] if t is not None}) == 3
