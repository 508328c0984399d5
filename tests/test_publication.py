"""core.publication: the rating publication proof (score bound to C*, counts hidden)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import publication as pub
from core.errors import CandorError, InvalidInput, VerificationError
from core.group import ORDER, group_by_name
from core.pedersen import Generators, random_scalar
from core.publication import (
    REMAINDER_BITS,
    REMAINDER_WEIGHTS,
    PublicationProof,
    PublicationStatement,
    deduction,
    prove,
    remainder_generator,
    score_of,
    verify,
    verify_batch,
)
from core.rules import DEFAULT_CATEGORIES

VEC = json.loads((Path(__file__).parent / "vectors" / "publication_proof.json").read_text())
ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
GENS = Generators(ARK, VEC["categories"])
PYECC_GENS = Generators(PYECC, VEC["categories"])
SLOTS = 4 * len(VEC["categories"])
ERRORS: dict[str, type[CandorError]] = {"InvalidInput": InvalidInput, "VerificationError": VerificationError}


def _stmt(d: dict[str, Any]) -> PublicationStatement:
    return PublicationStatement(
        genesis_hash=bytes.fromhex(d["genesis_hash"]),
        subject_tag=bytes.fromhex(d["subject_tag"]),
        ledger_size=d["ledger_size"],
        set_digest=bytes.fromhex(d["set_digest"]),
        rule_set_hash=bytes.fromhex(d["rule_set_hash"]),
        aggregate=bytes.fromhex(d["aggregate"]),
        points=tuple(d["points"]),
        base=d["base"],
        score=d["score"],
    )


def _aggregate(gens: Generators, counts: list[int], r: int) -> bytes:
    group = gens.group
    gs = [gens.g(c, t) for c in gens.categories for t in range(4)]
    return group.encode(group.msm([*gs, gens.h], [*counts, r % ORDER]))


def _fresh(
    counts: list[int], points: tuple[int, ...], base: int = 100, gens: Generators = GENS, r: int | None = None
) -> tuple[PublicationStatement, int]:
    r_sum = random_scalar() if r is None else r
    stmt = PublicationStatement(
        genesis_hash=secrets.token_bytes(32),
        subject_tag=secrets.token_bytes(32),
        ledger_size=1 + secrets.randbelow(10**6),
        set_digest=secrets.token_bytes(32),
        rule_set_hash=secrets.token_bytes(32),
        aggregate=_aggregate(gens, counts, r_sum),
        points=points,
        base=base,
        score=score_of(base, points, counts),
    )
    return stmt, r_sum


def _true_remainder(stmt: PublicationStatement, counts: list[int]) -> int:
    return 1000 * (stmt.base - stmt.score) - deduction(stmt.points, counts)


counts_st = st.lists(
    st.one_of(st.just(0), st.integers(0, 50_000), st.integers(0, 2**48 - 1)), min_size=SLOTS, max_size=SLOTS
)
points_st = st.lists(st.integers(1, 100), min_size=SLOTS, max_size=SLOTS).map(tuple)


# ---- vectors ----

VALID = [c for c in VEC["cases"] if c["valid"]]
INVALID = [c for c in VEC["cases"] if not c["valid"]]


def test_vector_file_shape() -> None:
    assert len(VALID) >= 1 and len(INVALID) >= 10
    assert all(c["why"] for c in VEC["cases"])
    remainders = {int(c["why"].rsplit("remainder ", 1)[1]) for c in VALID}
    assert 0 in remainders and any(u >= 512 for u in remainders)  # both ends of the bit range


def test_remainder_generator_matches_independent_derivation() -> None:
    assert ARK.encode(remainder_generator(GENS)) == bytes.fromhex(VEC["remainder_generator"])
    assert PYECC.encode(remainder_generator(PYECC_GENS)) == bytes.fromhex(VEC["remainder_generator"])
    assert remainder_generator(GENS) is remainder_generator(GENS)
    assert not ARK.eq(remainder_generator(GENS), GENS.h)


@pytest.mark.parametrize("case", VALID, ids=lambda c: str(c["id"]))
def test_known_answer(case: dict[str, Any]) -> None:
    stmt = _stmt(case["statement"])
    data = bytes.fromhex(case["proof_bytes"])
    proof = PublicationProof.from_bytes(data, SLOTS)
    assert proof.to_bytes() == data and len(data) == PublicationProof.size(SLOTS)
    regenerated = pub._prove_with_entropy(
        GENS, stmt, case["counts"], int(case["r_sum"], 16), bytes.fromhex(case["entropy"])
    )
    assert regenerated == proof
    verify(GENS, stmt, proof)
    assert stmt.score == score_of(stmt.base, stmt.points, case["counts"])


@pytest.mark.slow
def test_known_answer_py_ecc_backend() -> None:
    """The reference backend reproduces the same proof bytes and accepts them."""
    case = VALID[0]
    stmt = _stmt(case["statement"])
    regenerated = pub._prove_with_entropy(
        PYECC_GENS, stmt, case["counts"], int(case["r_sum"], 16), bytes.fromhex(case["entropy"])
    )
    assert regenerated.to_bytes().hex() == case["proof_bytes"]
    verify(PYECC_GENS, stmt, regenerated)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: f'{c["id"]}-{c["why"][:30]}')
def test_invalid_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["message"])):
        stmt = _stmt(case["statement"])
        proof = PublicationProof.from_bytes(bytes.fromhex(case["proof_bytes"]), case["slots"])
        verify(GENS, stmt, proof)


@pytest.mark.slow
def test_invalid_vectors_rejected_by_py_ecc_backend() -> None:
    """A sample of verification-stage rejections through the reference backend."""
    sample = [c for c in INVALID if c["error"] == "VerificationError" and
              any(w in c["why"] for w in ("z_R + 1", "e[3][0]", ">= 1000", "another subject"))]
    assert len(sample) == 4
    for case in sample:
        proof = PublicationProof.from_bytes(bytes.fromhex(case["proof_bytes"]), case["slots"])
        with pytest.raises(VerificationError, match=re.escape(case["message"])):
            verify(PYECC_GENS, _stmt(case["statement"]), proof)


# ---- arithmetic ----

def test_deduction_and_score() -> None:
    points = (1, 3, 6, 40) * 2
    assert deduction(points, [0] * 8) == 0
    assert score_of(100, points, [0] * 8) == 100
    assert deduction(points, [1000, 0, 0, 0, 0, 0, 0, 500]) == 21000
    assert score_of(100, points, [1000, 0, 0, 0, 0, 0, 0, 500]) == 79
    assert score_of(100, points, [1, 0, 0, 0, 0, 0, 0, 0]) == 99  # any deduction rounds up
    assert score_of(100, points, [0, 0, 0, 3000, 0, 0, 0, 0]) == -20
    with pytest.raises(InvalidInput, match="7 counts for 8 slots"):
        deduction(points, [0] * 7)
    with pytest.raises(InvalidInput, match="count of slot 2"):
        deduction(points, [0, 0, -1, 0, 0, 0, 0, 0])


def test_every_remainder_has_bits() -> None:
    assert sum(REMAINDER_WEIGHTS) == 999 and len(REMAINDER_WEIGHTS) == REMAINDER_BITS
    for u in range(1000):
        bits = pub._remainder_bits(u)
        assert set(bits) <= {0, 1} and sum(w * b for w, b in zip(REMAINDER_WEIGHTS, bits)) == u


# ---- properties ----

@settings(max_examples=15, deadline=None)
@given(counts=counts_st, points=points_st, base=st.integers(0, 1000))
def test_completeness(counts: list[int], points: tuple[int, ...], base: int) -> None:
    stmt, r = _fresh(counts, points, base)
    proof = prove(GENS, stmt, counts, r)
    verify(GENS, stmt, proof)
    assert PublicationProof.from_bytes(proof.to_bytes(), SLOTS) == proof


@settings(max_examples=10, deadline=None)
@given(counts=counts_st, points=points_st, delta=st.integers(-5000, 5000).filter(bool))
def test_no_other_score_verifies(counts: list[int], points: tuple[int, ...], delta: int) -> None:
    stmt, r = _fresh(counts, points)
    proof = prove(GENS, stmt, counts, r)
    other = score_of(stmt.base, points, counts) + delta
    if other > stmt.base:
        with pytest.raises(InvalidInput, match="above the base score"):
            replace(stmt, score=other)
        return
    forged = replace(stmt, score=other)
    with pytest.raises(InvalidInput, match="not base − ⌈D/1000⌉"):
        prove(GENS, forged, counts, r)
    with pytest.raises(VerificationError, match="linear row"):
        verify(GENS, forged, proof)


@settings(max_examples=10, deadline=None)
@given(counts=counts_st, points=points_st, e1=st.integers(0, ORDER - 1), e2=st.integers(0, ORDER - 1))
def test_special_soundness_extracts_the_witness(
    counts: list[int], points: tuple[int, ...], e1: int, e2: int
) -> None:
    """Two accepting transcripts, one first message, two challenges: the extractor recovers
    exactly the counts, R, the remainder and its bits and blindings."""
    if e1 == e2:
        e2 = (e1 + 1) % ORDER
    r_sum = random_scalar() + ORDER * secrets.randbelow(1000)  # R may exceed q
    stmt, _ = _fresh(counts, points, r=r_sum)
    u = _true_remainder(stmt, counts)
    bits = pub._remainder_bits(u)
    wit = pub._Witness(tuple(counts), r_sum % ORDER, bits, tuple(random_scalar() for _ in bits))
    nonces = pub._draw_nonces(SLOTS, random_scalar)
    first = pub._first_message(GENS, stmt, wit, nonces)
    t1 = pub._respond(stmt, wit, nonces, first, e1)
    t2 = pub._respond(stmt, wit, nonces, first, e2)
    pub._check_transcript(GENS, stmt, t1, e1)
    pub._check_transcript(GENS, stmt, t2, e2)
    x = pub._extract(stmt, t1, e1, t2, e2)
    assert x.counts == tuple(counts) and x.r == r_sum % ORDER
    assert x.u == u and x.bits == bits and x.blinds == wit.blinds
    assert x.sigma == sum(w * s for w, s in zip(REMAINDER_WEIGHTS, wit.blinds)) % ORDER
    assert _aggregate(GENS, list(x.counts), x.r) == stmt.aggregate


def test_extraction_from_a_cheater_fails_verification_first() -> None:
    """A 'bit' of 2 has no branch to extract: its transcripts are not accepting."""
    counts = [300] + [0] * (SLOTS - 1)
    stmt, r = _fresh(counts, (1, 3, 6, 40) * (SLOTS // 4))
    u = _true_remainder(stmt, counts)
    assert u == 700 and pub._remainder_bits(u - 2)[0] == 0
    bits = (2, *pub._remainder_bits(u - 2)[1:])  # Σ ω·b = u: only bit 0 is wrong
    wit = pub._Witness(tuple(counts), r, bits, tuple(random_scalar() for _ in bits))
    nonces = pub._draw_nonces(SLOTS, random_scalar)
    transcript = pub._respond(stmt, wit, nonces, pub._first_message(GENS, stmt, wit, nonces), 12345)
    with pytest.raises(VerificationError, match="remainder bit 0 fails"):
        pub._check_transcript(GENS, stmt, transcript, 12345)


@settings(max_examples=10, deadline=None)
@given(counts=counts_st, points=points_st, e=st.integers(0, ORDER - 1), lie=st.integers(-3, 0))
def test_simulated_transcripts_verify(counts: list[int], points: tuple[int, ...], e: int, lie: int) -> None:
    """Honest-verifier ZK: the simulator, given the challenge and no witness, makes accepting
    transcripts, for a true score and for a false one alike (so a transcript says nothing
    about the counts). Only Fiat–Shamir (the challenge is a hash) stops it from proving."""
    stmt, _ = _fresh(counts, points)
    stmt = replace(stmt, score=stmt.score + lie)
    sim = pub._simulate(GENS, stmt, e)
    pub._check_transcript(GENS, stmt, sim, e)
    with pytest.raises(VerificationError):
        verify(GENS, stmt, sim)


# ---- prover input checks ----

def test_prove_refuses_a_false_witness() -> None:
    points = (1, 3, 6, 40) * (SLOTS // 4)
    counts = [0, 0, 1000, 0] + [0] * (SLOTS - 4)
    stmt, r = _fresh(counts, points)
    with pytest.raises(InvalidInput, match="do not open the statement's aggregate") as err:
        prove(GENS, stmt, [0, 1000, 0, 0] + [0] * (SLOTS - 4), r)
    assert "1000" not in str(err.value)  # the counts stay out of messages
    with pytest.raises(InvalidInput, match="do not open"):
        prove(GENS, stmt, counts, r + 1)
    with pytest.raises(InvalidInput, match="not base − ⌈D/1000⌉"):
        prove(GENS, replace(stmt, score=stmt.score - 1), counts, r)
    with pytest.raises(InvalidInput, match="count of slot 1 must lie in"):
        prove(GENS, stmt, [0, -1] + [0] * (SLOTS - 2), r)
    with pytest.raises(InvalidInput, match="count of slot 0 must lie in"):
        prove(GENS, stmt, [2**48] + [0] * (SLOTS - 1), r)
    with pytest.raises(InvalidInput, match="11 counts for 12 slots"):
        prove(GENS, stmt, counts[:-1], r)
    with pytest.raises(InvalidInput, match="r_sum must be a non-negative"):
        prove(GENS, stmt, counts, -1)
    with pytest.raises(InvalidInput, match="registry has 32 slots"):
        prove(Generators(ARK, DEFAULT_CATEGORIES), stmt, counts, r)


def test_hedged_nonces_differ_between_proofs() -> None:
    counts = [500] * SLOTS
    stmt, r = _fresh(counts, (1, 3, 6, 40) * (SLOTS // 4))
    a, b = prove(GENS, stmt, counts, r), prove(GENS, stmt, counts, r)
    assert a.bits != b.bits and a.t_aggregate != b.t_aggregate
    verify(GENS, stmt, a)
    verify(GENS, stmt, b)
    # The hook is deterministic given its entropy, and the entropy matters.
    same = pub._prove_with_entropy(GENS, stmt, counts, r, bytes(32))
    assert same == pub._prove_with_entropy(GENS, stmt, counts, r, bytes(32))
    assert same != pub._prove_with_entropy(GENS, stmt, counts, r, bytes(31) + b"\x01")


# ---- statement and wire form ----

def test_statement_validates_on_construction() -> None:
    stmt, _ = _fresh([0] * SLOTS, (1,) * SLOTS)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"genesis_hash": bytes(31)}, "genesis hash must be 32 bytes"),
        ({"subject_tag": "x" * 32}, "subject tag must be 32 bytes, got str"),
        ({"ledger_size": 0}, "ledger size must be 1"),
        ({"ledger_size": True}, "ledger size must be an integer"),
        ({"rule_set_hash": bytes(33)}, "rule set hash must be 32 bytes"),
        ({"aggregate": bytes(32)}, "aggregate must be 48 bytes"),
        ({"points": (1, 2, 3)}, "statement has 3 points"),
        ({"points": ()}, "statement has 0 points"),
        ({"points": (1.5,) * 4}, "points of slot 0 must be an integer"),
        ({"points": (1, 2, 3, -1)}, "points of slot 3 is -1"),
        ({"base": -1}, "base score must be"),
        ({"score": 101}, "above the base score"),
        ({"score": -(2**96)}, "implausibly far"),
    ]
    for change, message in cases:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            replace(stmt, **change)
    assert replace(stmt, points=[2] * SLOTS).points == (2,) * SLOTS  # type: ignore[arg-type]


def test_wire_form() -> None:
    assert PublicationProof.size(32) == 3616  # the 8-category registry
    counts = [1000, 250] + [0] * (SLOTS - 2)
    stmt, r = _fresh(counts, (1, 3, 6, 40) * (SLOTS // 4))
    proof = prove(GENS, stmt, counts, r)
    data = proof.to_bytes()
    assert len(data) == PublicationProof.size(SLOTS)
    assert PublicationProof.from_bytes(data, SLOTS) == proof
    for slots, message in ((SLOTS - 4, "expected"), (SLOTS + 1, "multiple of 4"), (0, "multiple of 4")):
        with pytest.raises(InvalidInput, match=message):
            PublicationProof.from_bytes(data, slots)
    with pytest.raises(InvalidInput, match="expected"):
        PublicationProof.from_bytes(bytearray(data), SLOTS)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="proof has 9 e0"):
        replace(proof, e0=proof.e0[:9])
    with pytest.raises(InvalidInput, match="proof has 11 bits"):
        replace(proof, bits=(*proof.bits, proof.bits[0]))
    with pytest.raises(InvalidInput, match="not a canonical scalar"):
        replace(proof, z_sigma=ORDER)
    with pytest.raises(InvalidInput, match="expected 4 per category"):
        replace(proof, z_counts=proof.z_counts[:-1])


# ---- batch verification ----

def test_batch_verification() -> None:
    points = (1, 3, 6, 40) * (SLOTS // 4)
    items = []
    for i in range(3):
        counts = [secrets.randbelow(3000) for _ in range(SLOTS)]
        stmt, r = _fresh(counts, points)
        items.append((stmt, prove(GENS, stmt, counts, r)))
    verify_batch(GENS, items)
    verify_batch(GENS, [])
    stmt, proof = items[1]
    bad = replace(proof, z_r=(proof.z_r + 1) % ORDER)
    with pytest.raises(VerificationError, match="item 1: .*aggregate equation"):
        verify_batch(GENS, [items[0], (stmt, bad), items[2]])
    with pytest.raises(VerificationError, match="item 2: .*linear row"):
        verify_batch(GENS, [items[0], items[1], (replace(items[2][0], score=0), items[2][1])])
