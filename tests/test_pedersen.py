"""core.pedersen: generator derivation, commitments, tiers and slots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.group import ORDER, Group, group_by_name
from core.pedersen import (
    PEDERSEN_DST,
    Generators,
    Tier,
    commit,
    random_scalar,
    slot,
    validate_category_code,
)

VEC = json.loads((Path(__file__).parent / "vectors" / "pedersen.json").read_text())
ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
ARK_GENS = Generators(ARK, VEC["categories"])
PYECC_GENS = Generators(PYECC, VEC["categories"])


@pytest.fixture(params=[ARK_GENS, PYECC_GENS], ids=["arkworks", "py_ecc"])
def gens(request: pytest.FixtureRequest) -> Generators:
    g: Generators = request.param
    return g


def test_dst() -> None:
    assert PEDERSEN_DST == b"CANDOR-V1-PEDERSEN" == VEC["dst"].encode()


def test_generator_vectors(gens: Generators) -> None:
    group = gens.group
    assert group.encode(gens.h).hex() == VEC["H"]
    for key, expected in VEC["G"].items():
        code, tier = key.split("/")
        assert group.encode(gens.g(code, int(tier))).hex() == expected


@pytest.mark.parametrize("case", VEC["commitments"], ids=lambda c: str(c["id"]))
def test_commitment_vectors(gens: Generators, case: dict[str, Any]) -> None:
    point = commit(gens, case["category"], case["tier"], int(case["r"], 16))
    assert gens.group.encode(point).hex() == case["commitment"]


def test_generators_are_distinct_and_not_identity() -> None:
    encs = {ARK.encode(ARK_GENS.g(c, t)) for c in ARK_GENS.categories for t in range(4)}
    encs.add(ARK.encode(ARK_GENS.h))
    assert len(encs) == 4 * len(ARK_GENS.categories) + 1
    assert ARK.encode(ARK.identity()) not in encs


def test_generators_cached() -> None:
    assert ARK_GENS.g("FRAUD", 2) is ARK_GENS.g("FRAUD", 2)


def test_registry_order_and_index() -> None:
    assert ARK_GENS.categories == ("FRAUD", "COUNTERFEIT", "NON_DELIVERY")
    assert [ARK_GENS.category_index(c) for c in ARK_GENS.categories] == [0, 1, 2]


def test_unknown_category_lists_known_codes() -> None:
    with pytest.raises(InvalidInput, match="unknown category 'SPAM'.*FRAUD, COUNTERFEIT, NON_DELIVERY"):
        ARK_GENS.category_index("SPAM")
    with pytest.raises(InvalidInput, match="unknown category"):
        ARK_GENS.g("SPAM", 0)


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ([], "registry is empty"),
        (["A", "B", "A"], "appears twice"),
        (["A/B"], "contains '/'"),
        (["has space"], "whitespace"),
        (["x" * 65], "longer than 64"),
        ([""], "non-empty"),
    ],
)
def test_bad_registries_rejected(codes: list[str], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        Generators(ARK, codes)


def test_validate_category_code_accepts_reasonable_codes() -> None:
    for code in ("FRAUD", "late-delivery", "fake_goods.v2", "虚假宣传"):
        assert validate_category_code(code) == code


def test_tier_parse() -> None:
    assert Tier.parse("minor") is Tier.MINOR
    assert Tier.parse("SERIOUS") is Tier.SERIOUS
    assert Tier.parse(" Critical ") is Tier.CRITICAL
    assert [int(t) for t in Tier] == [0, 1, 2, 3]
    with pytest.raises(InvalidInput, match="unknown tier 'catastrophic'.*minor, general, serious, critical"):
        Tier.parse("catastrophic")


def test_slot() -> None:
    assert slot(0, Tier.MINOR) == 0
    assert slot(0, Tier.CRITICAL) == 3
    assert slot(5, Tier.GENERAL) == 21
    with pytest.raises(InvalidInput, match="tier must be"):
        slot(1, 4)
    with pytest.raises(InvalidInput, match="category index"):
        slot(-1, 0)


def test_commit_rejects_bad_inputs() -> None:
    with pytest.raises(InvalidInput, match=r"\[0, q\)"):
        commit(ARK_GENS, "FRAUD", 0, ORDER)
    with pytest.raises(InvalidInput, match=r"\[0, q\)"):
        commit(ARK_GENS, "FRAUD", 0, -1)
    with pytest.raises(InvalidInput, match="tier must be"):
        commit(ARK_GENS, "FRAUD", 4, 1)
    with pytest.raises(InvalidInput, match="tier must be"):
        ARK_GENS.g("FRAUD", True)


def test_random_scalar_range() -> None:
    values = {random_scalar() for _ in range(50)}
    assert all(0 <= v < ORDER for v in values)
    assert len(values) == 50


CATS = st.sampled_from(VEC["categories"])
TIERS = st.integers(min_value=0, max_value=3)
RS = st.integers(min_value=0, max_value=ORDER - 1)


@settings(max_examples=40, deadline=None)
@given(c1=CATS, t1=TIERS, r1=RS, c2=CATS, t2=TIERS, r2=RS)
def test_commitments_add_up(c1: str, t1: int, r1: int, c2: str, t2: int, r2: int) -> None:
    """Σ C_i = Σ G_{c_i,t_i} + (Σ r_i)·H: what the rating check of docs/ratings.md relies on."""
    g: Group = ARK
    total = g.add(commit(ARK_GENS, c1, t1, r1), commit(ARK_GENS, c2, t2, r2))
    expected = g.msm(
        [ARK_GENS.g(c1, t1), ARK_GENS.g(c2, t2), ARK_GENS.h], [1, 1, r1 + r2]
    )
    assert g.eq(total, expected)


@settings(max_examples=8, deadline=None)
@given(c=CATS, t=TIERS, r=RS)
def test_differential_commit(c: str, t: int, r: int) -> None:
    assert ARK.encode(commit(ARK_GENS, c, t, r)) == PYECC.encode(commit(PYECC_GENS, c, t, r))
