"""core.rating: active sets, the k and update rules, the opening check and bisection."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import paillier
from core.combination import (
    DOES_NOT_OPEN,
    aggregate_commitment,
    check_opening,
    combiner_order,
    open_aggregate,
    open_share,
    seal_share,
    share_aad,
)
from core.errors import Conflict, InvalidInput, NotFound, OpeningFailed, VerificationError
from core.escrow import escrow_keypair
from core.group import ORDER, group_by_name
from core.investigation import find_inconsistent
from core.pedersen import Generators, commit, random_scalar, slot
from core.rating import (
    PreviousRating,
    PreviousRequest,
    ReportInfo,
    active_set,
    changed_indices,
    check_publishable,
    distinct_reporters,
    plan_request,
    set_digest,
)
from core.rules import RuleSet, default_rules
from core.threshold import DecryptionShare

ARK = group_by_name("arkworks")
CATS = ("contract_default", "fake_traffic", "false_advertising")
GENS = Generators(ARK, CATS)
# The k floor (2), not the default rule set's k = 3: these tests count reporters against k = 2.
RULES = RuleSet(**({f: getattr(default_rules(), f) for f in RuleSet.__dataclass_fields__} | {"k_reporters": 2}))
FAST = settings(max_examples=30, deadline=None)
TODAY = dt.date(2026, 6, 15)


def tag(name: str) -> bytes:
    """A stand-in link tag: 48 bytes, distinct per reporter name."""
    return hashlib.sha384(name.encode()).digest()


COMMITMENT = ARK.encode(commit(GENS, "contract_default", 0, 1))


def report(index: int, reporter: str = "a", *, incident: dt.date = dt.date(2026, 5, 1),
           category: str = "contract_default", retracted_at: int | None = None,
           fraud_at: int | None = None) -> ReportInfo:
    return ReportInfo(index, category, incident, tag(reporter), COMMITMENT, retracted_at, fraud_at)


# --- ReportInfo ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"index": -1}, "non-negative integer ledger index"),
        ({"category": "a/b"}, "contains '/'"),
        ({"incident_date": dt.datetime(2026, 1, 1)}, "incident date must be a date"),
        ({"link_tag": b"x" * 32}, "link tag of report 5 is 32 bytes, expected 48"),
        ({"commitment": "00" * 48}, "commitment of report 5 must be bytes, got str"),
        ({"retracted_at": 5}, "retraction index 5 is not after the report's own entry 5"),
        ({"fraud_at": 3}, "fraud finding index 3 is not after"),
    ],
)
def test_report_info_validation(kwargs: dict[str, Any], fragment: str) -> None:
    base: dict[str, Any] = {
        "index": 5, "category": "contract_default", "incident_date": dt.date(2026, 1, 1),
        "link_tag": tag("a"), "commitment": COMMITMENT, "retracted_at": None, "fraud_at": None,
    }
    with pytest.raises(InvalidInput) as info:
        ReportInfo(**(base | kwargs))
    assert fragment in str(info.value)


# --- active set ----------------------------------------------------------------------


def test_active_set_edges() -> None:
    L = 20
    reports = [
        report(3, "a"),
        report(5, "b", retracted_at=19),   # retracted by the last entry of this view: out
        report(6, "b", retracted_at=20),   # retracted at L: not yet visible, still in
        report(7, "c", fraud_at=19),       # fraud found below L: out
        report(8, "c", fraud_at=25),       # fraud found later: in
        report(9, "a", incident=dt.date(2021, 6, 15)),   # expires on TODAY exactly: out
        report(10, "a", incident=dt.date(2021, 6, 16)),  # expires tomorrow: in, weight 100
        report(12, "d", incident=dt.date(2025, 3, 31)),  # quarter 2025-01-01: age 1, 700
        report(19, "d"),                   # the last entry below L: in
        report(20, "d"),                   # at L: out
    ]
    assert active_set(reports, RULES, L, TODAY) == (
        (3, 1000), (6, 1000), (8, 1000), (10, 100), (12, 700), (19, 1000)
    )
    # Unsorted input gives the same sorted answer.
    assert active_set(reports[::-1], RULES, L, TODAY) == active_set(reports, RULES, L, TODAY)


def test_active_set_drops_zero_weight_bands_and_rejects_bad_input() -> None:
    fields = {f: getattr(RULES, f) for f in RULES.__dataclass_fields__}
    steep = RuleSet(**(fields | {"decay": (1000, 500, 0)}))
    reports = [report(1, incident=dt.date(2024, 1, 1)), report(2, incident=dt.date(2025, 1, 1))]
    assert active_set(reports, steep, 10, TODAY) == ((2, 500),)
    with pytest.raises(InvalidInput, match="report index 1 appears twice"):
        active_set([report(1), report(1, "b")], RULES, 10, TODAY)
    with pytest.raises(InvalidInput, match="ledger size must be at least 1"):
        active_set(reports, RULES, 0, TODAY)


def test_distinct_reporters() -> None:
    reports = [report(1, "a"), report(2, "a"), report(3, "b"), report(4, "c")]
    assert distinct_reporters(reports, [1, 2]) == 1
    assert distinct_reporters(reports, [1, 2, 3]) == 2
    assert distinct_reporters(reports, [1, 3, 4]) == 3
    assert distinct_reporters(reports, []) == 0
    with pytest.raises(InvalidInput, match="names report 9"):
        distinct_reporters(reports, [9])


# --- publishability ------------------------------------------------------------------


def test_k_rule() -> None:
    reports = [report(1, "a"), report(2, "a")]
    with pytest.raises(Conflict) as info:
        check_publishable(RULES, reports, ((1, 1000), (2, 1000)), None, TODAY)
    assert "subject has reports from 1 distinct reporter; k = 2: the rating stays pending" in str(info.value)
    with pytest.raises(Conflict, match="from 0 distinct reporters; k = 2"):
        check_publishable(RULES, reports, (), None, TODAY)
    reports.append(report(3, "b"))
    active = ((1, 1000), (2, 1000), (3, 1000))
    check_publishable(RULES, reports, active, None, TODAY)
    with pytest.raises(Conflict, match="2 distinct reporters; k = 3"):
        check_publishable(RULES, reports, active, None, TODAY, k=3)
    with pytest.raises(InvalidInput, match="at least 2"):
        check_publishable(RULES, reports, active, None, TODAY, k=1)


REPORTS = [report(1, "a"), report(2, "b"), report(3, "a"), report(4, "c"), report(5, "a"),
           report(6, "b", retracted_at=9)]
BASE = ((1, 1000), (2, 1000), (6, 1000))
PREV = PreviousRating(RULES.version, TODAY, BASE)


def plus(*pairs: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """BASE with more reports, in index order."""
    return tuple(sorted(BASE + pairs))


@pytest.mark.parametrize(
    ("active", "as_of", "message"),
    [
        (plus((3, 1000)), TODAY, "come from 1 distinct reporter; k = 2"),        # one new
        (plus((3, 1000), (5, 1000)), TODAY, "come from 1 distinct reporter"),   # same reporter twice
        (((1, 1000), (2, 1000)), TODAY, "come from 1 distinct reporter"),            # one retracted
        (((1, 700), (2, 1000), (6, 1000)), TODAY, "come from 1 distinct reporter"),  # one band move
        (BASE, TODAY + dt.timedelta(days=29), "nothing to publish before 2026-07-15"),
        (plus((3, 1000)), TODAY + dt.timedelta(days=29), "or 2026-07-15 (maximum staleness 30 days)"),
        (plus((3, 1000), (4, 1000)), TODAY - dt.timedelta(days=1), "only move forward in time"),
    ],
)
def test_update_rule_refuses(active: tuple[tuple[int, int], ...], as_of: dt.date, message: str) -> None:
    with pytest.raises(Conflict) as info:
        check_publishable(RULES, REPORTS, active, PREV, as_of)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("active", "previous", "as_of"),
    [
        (plus((3, 1000), (4, 1000)), PREV, TODAY),                  # new from a and c
        (((1, 1000), (2, 1000), (4, 1000)), PREV, TODAY),             # b retracted, c added
        (((1, 700), (2, 700), (6, 700)), PREV, TODAY),                # a band move for a and b
        (plus((3, 1000)), PREV, TODAY + dt.timedelta(days=30)),    # stale: anything goes
        (BASE, PREV, TODAY + dt.timedelta(days=30)),                   # stale, nothing changed
        (plus((3, 1000)), PreviousRating("2025.9", TODAY, BASE), TODAY),  # new rule set
    ],
)
def test_update_rule_allows(active: tuple[tuple[int, int], ...], previous: PreviousRating, as_of: dt.date) -> None:
    check_publishable(RULES, REPORTS, active, previous, as_of)


def test_update_rule_needs_every_report_of_the_subject() -> None:
    with pytest.raises(InvalidInput, match="retracted and expired ones included"):
        check_publishable(RULES, REPORTS[:-1], ((1, 1000), (2, 1000), (3, 1000), (4, 1000)), PREV, TODAY)


def test_changed_indices() -> None:
    assert changed_indices(((1, 1000), (2, 700)), ((2, 400), (3, 1000))) == (1, 2, 3)
    assert changed_indices(((1, 1000),), ((1, 1000),)) == ()
    with pytest.raises(InvalidInput, match="sorted by index"):
        changed_indices(((2, 1000), (1, 1000)), ())
    with pytest.raises(InvalidInput, match="expected 1..1000"):
        changed_indices(((1, 0),), ())
    with pytest.raises(InvalidInput, match="previous rating's active set must be sorted"):
        PreviousRating("v", TODAY, ((1, 1000), (1, 1000)))


@FAST
@given(
    owners=st.lists(st.sampled_from("abcd"), min_size=2, max_size=10),
    before=st.lists(st.sampled_from([0, 400, 700, 1000]), min_size=10, max_size=10),
    after=st.lists(st.sampled_from([0, 400, 700, 1000]), min_size=10, max_size=10),
    days=st.integers(0, 60),
)
def test_update_rule_never_publishes_a_single_reporters_change(
    owners: list[str], before: list[int], after: list[int], days: int
) -> None:
    reports = [report(i + 1, who) for i, who in enumerate(owners)]
    prev = tuple((i + 1, w) for i, w in enumerate(before[: len(owners)]) if w)
    cur = tuple((i + 1, w) for i, w in enumerate(after[: len(owners)]) if w)
    as_of = TODAY + dt.timedelta(days=days)
    try:
        check_publishable(RULES, reports, cur, PreviousRating(RULES.version, TODAY, prev), as_of)
    except Conflict:
        published = False
    else:
        published = True
    changed_by = {owners[i - 1] for i in changed_indices(prev, cur)}
    active_by = {owners[i - 1] for i, _ in cur}
    if published:
        assert len(active_by) >= 2
        assert days >= RULES.max_staleness_days or len(changed_by) >= 2
    else:
        assert len(active_by) < 2 or (days < RULES.max_staleness_days and len(changed_by) < 2)


# --- opening check -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A report as its member prepared it: committed tier and blinding, and what it
    encrypted (the same, unless the member cheats)."""

    category: str
    tier: int
    r: int
    commitment: bytes
    enc_tier: int
    enc_r: int


def sample(category: str, tier: int, *, enc_tier: int | None = None, enc_r: int | None = None) -> Sample:
    r = random_scalar()
    c = ARK.encode(commit(GENS, category, tier, r))
    return Sample(category, tier, r, c, tier if enc_tier is None else enc_tier, r if enc_r is None else enc_r)


def fake_decrypt(samples: Sequence[Sample], weights: Sequence[int]) -> tuple[list[int], int]:
    """What threshold decryption of the weighted Paillier aggregate would give: the sum of
    the *encrypted* (claimed) tiers and blindings."""
    counts = [0] * (4 * len(CATS))
    r_sum = 0
    for s, w in zip(samples, weights):
        counts[slot(CATS.index(s.category), s.enc_tier)] += w
        r_sum += w * s.enc_r
    return counts, r_sum


def test_aggregate_commitment_is_the_weighted_sum() -> None:
    samples = [sample("contract_default", 1), sample("fake_traffic", 3), sample("contract_default", 0)]
    weights = [1000, 700, 0]
    expected = ARK.identity()
    for s, w in zip(samples, weights):
        expected = ARK.add(expected, ARK.mul(ARK.decode(s.commitment), w))
    got = aggregate_commitment(ARK, [s.commitment for s in samples], weights)
    assert ARK.eq(got, expected)
    assert ARK.is_identity(aggregate_commitment(ARK, [], []))
    with pytest.raises(InvalidInput, match="2 commitments but 1 weights"):
        aggregate_commitment(ARK, [samples[0].commitment] * 2, [1])
    with pytest.raises(InvalidInput, match="commitment 0: G1 point encoding is 47 bytes"):
        aggregate_commitment(ARK, [b"\x80" * 47], [1])


def test_opening_check_with_real_commitments() -> None:
    samples = [sample("contract_default", 1), sample("fake_traffic", 3), sample("false_advertising", 2),
               sample("fake_traffic", 3)]
    weights = [1000, 700, 400, 1000]
    commitments = [s.commitment for s in samples]
    counts, r_sum = fake_decrypt(samples, weights)
    assert counts[slot(1, 3)] == 1700
    check_opening(GENS, commitments, weights, counts, r_sum)
    check_opening(GENS, commitments, weights, counts, r_sum + 5 * ORDER)  # R is taken mod q

    bad_counts = list(counts)
    bad_counts[slot(1, 3)] -= 1
    bad_counts[slot(1, 2)] += 1
    for c, r in ((bad_counts, r_sum), (counts, r_sum + 1), (counts, r_sum - 1000)):
        with pytest.raises(VerificationError) as info:
            check_opening(GENS, commitments, weights, c, r)
        assert "does not open the commitments: some report's ciphertext disagrees" in str(info.value)
    with pytest.raises(VerificationError):
        check_opening(GENS, commitments, [1000, 700, 400, 999], counts, r_sum)

    with pytest.raises(InvalidInput, match="11 counts for 3 categories, expected 12"):
        check_opening(GENS, commitments, weights, counts[:-1], r_sum)
    with pytest.raises(InvalidInput, match="count of slot 0 must be a non-negative integer"):
        check_opening(GENS, commitments, weights, [-1] + counts[1:], r_sum)
    with pytest.raises(InvalidInput, match="r_sum must be a non-negative integer"):
        check_opening(GENS, commitments, weights, counts, -1)


def test_opening_check_on_the_reference_backend() -> None:
    pyecc = Generators(group_by_name("py_ecc"), CATS[:1])
    r1, r2 = 12345, ORDER - 7
    commitments = [pyecc.group.encode(commit(pyecc, "contract_default", t, r)) for t, r in ((0, r1), (2, r2))]
    counts = [700, 0, 1000, 0]
    check_opening(pyecc, commitments, [700, 1000], counts, 700 * r1 + 1000 * r2)
    with pytest.raises(VerificationError):
        check_opening(pyecc, commitments, [700, 1000], [700, 1000, 0, 0], 700 * r1 + 1000 * r2)


# --- bisection -----------------------------------------------------------------------

POOL = [sample(CATS[i % 3], (i * 7) % 4) for i in range(16)]
POOL_WEIGHTS = [(1000, 700, 400, 200, 100)[i % 5] for i in range(16)]


def oracle(samples: Sequence[Sample], calls: list[Sequence[int]]) -> Callable[[Sequence[int]], bool]:
    def opens(subset: Sequence[int]) -> bool:
        calls.append(tuple(subset))
        chosen = [samples[i] for i in subset]
        weights = [POOL_WEIGHTS[i] for i in subset]
        counts, r_sum = fake_decrypt(chosen, weights)
        try:
            check_opening(GENS, [s.commitment for s in chosen], weights, counts, r_sum)
        except VerificationError:
            return False
        return True

    return opens


def cheat(s: Sample, how: int) -> Sample:
    if how == 0:   # encrypted another tier than committed
        return Sample(s.category, s.tier, s.r, s.commitment, (s.tier + 1) % 4, s.r)
    return Sample(s.category, s.tier, s.r, s.commitment, s.tier, (s.r + how) % ORDER)


@FAST
@given(n=st.integers(1, 16), data=st.data(), how=st.integers(0, 3))
def test_bisection_finds_the_culprit(n: int, data: st.DataObject, how: int) -> None:
    items = data.draw(st.permutations(range(16)))[:n]
    culprit = data.draw(st.sampled_from(items))
    samples = list(POOL)
    samples[culprit] = cheat(POOL[culprit], how)
    calls: list[Sequence[int]] = []
    assert find_inconsistent(items, oracle(samples, calls)) == culprit
    assert len(calls) <= 2 + math.ceil(math.log2(n))
    assert all(set(c) <= set(items) for c in calls)


def test_bisection_finds_every_culprit_one_at_a_time() -> None:
    samples = list(POOL)
    for bad in (2, 9, 13):
        samples[bad] = cheat(POOL[bad], 0)
    items = list(range(16))
    found = []
    calls: list[Sequence[int]] = []
    while True:
        try:
            culprit = find_inconsistent(items, oracle(samples, calls))
        except NotFound:
            break
        found.append(culprit)
        items.remove(culprit)  # FraudFound excludes it from then on
    assert sorted(found) == [2, 9, 13]


def test_bisection_without_culprit_and_bad_oracles() -> None:
    calls: list[Sequence[int]] = []
    with pytest.raises(NotFound, match="opens its commitments: no report is inconsistent"):
        find_inconsistent(list(range(16)), oracle(POOL, calls))
    assert len(calls) == 1
    with pytest.raises(NotFound, match="empty"):
        find_inconsistent([], lambda s: False)
    with pytest.raises(InvalidInput, match="repeat"):
        find_inconsistent([1, 1], lambda s: False)
    # Only the full set fails: not additive, so the inferred last half must be confirmed.
    with pytest.raises(VerificationError, match="not additive"):
        find_inconsistent(list(range(8)), lambda s: len(s) < 8)


def test_opening_without_subgroup_check_decides_the_prime_order_parts() -> None:
    """Clients skip the subgroup check of already-appended commitments and clear cofactors:
    the verdict is about the G1 parts, and a wrong count still fails."""
    from g1_points import encoding

    order3 = ARK.decode_unchecked(encoding("order_3_point"))
    r1, r2 = random_scalar(), random_scalar()
    c1 = commit(GENS, "fake_traffic", 2, r1)
    c2 = ARK.add(commit(GENS, "contract_default", 0, r2), order3)  # a small-order component
    commitments = [ARK.encode(c1), ARK.encode(c2)]
    counts = [0] * (4 * len(CATS))
    counts[slot(1, 2)] = 700
    counts[slot(0, 0)] = 1000
    r_sum = 700 * r1 + 1000 * r2
    check_opening(GENS, commitments, [700, 1000], counts, r_sum, subgroup_checked=False)
    with pytest.raises(InvalidInput, match="commitment 1"):
        check_opening(GENS, commitments, [700, 1000], counts, r_sum)  # the full check refuses the point
    counts[slot(1, 2)] = 1000
    with pytest.raises(VerificationError, match="does not open"):
        check_opening(GENS, commitments, [700, 1000], counts, r_sum, subgroup_checked=False)


# --- rating protocol v2 (docs/ratings.md) ----------------------------------------------

V2 = [report(1, "a"), report(2, "b"), report(3, "c"), report(4, "a", retracted_at=8),
      report(5, "b"), report(6, "c", fraud_at=9), report(7, "a")]


def prev(active: tuple[tuple[int, int], ...], size: int = 7, as_of: dt.date = TODAY,
         version: str = RULES.version) -> PreviousRequest:
    return PreviousRequest(index=size, ledger_size=size, rule_version=version, as_of=as_of, active=active)


def test_plan_first_request_needs_k_reporters() -> None:
    plan = plan_request(RULES, V2[:2], None, None, 3, TODAY)
    assert (plan.kind, plan.active, plan.reporters) == ("first", ((1, 1000), (2, 1000)), 2)
    assert plan.digest == set_digest(plan.active) and not plan.below_k
    with pytest.raises(Conflict, match="1 distinct reporter"):
        plan_request(RULES, V2[:1], None, None, 2, TODAY)


def test_correction_is_published_alone() -> None:
    """Attack 3 at the rule level: a retraction (entry 8) and another member's new report
    (entry 5) arrive together; the next request is the previous set minus the retraction,
    with the previous weights and date, and nothing else."""
    before = ((1, 1000), (2, 1000), (3, 1000), (4, 1000))
    later = TODAY + dt.timedelta(days=3)
    plan = plan_request(RULES, V2, prev(before, 7), RULES, 9, later)
    assert plan.kind == "correction" and plan.active == ((1, 1000), (2, 1000), (3, 1000))
    assert plan.as_of == TODAY and 5 not in dict(plan.active)
    # A fraud finding is a correction too; one that leaves < k reporters is withdrawn.
    plan = plan_request(RULES, V2, prev(((3, 1000), (6, 1000), (7, 1000)), 8), RULES, 10, later)
    assert plan.kind == "correction" and not plan.below_k and plan.active == ((3, 1000), (7, 1000))
    plan = plan_request(RULES, V2, prev(((3, 1000), (4, 1000), (6, 1000)), 7), RULES, 10, later)
    assert plan.kind == "correction" and plan.below_k and plan.active == ((3, 1000),)
    plan = plan_request(RULES, V2, prev(((3, 1000), (4, 1000)), 7), RULES, 9, later)
    assert plan.below_k and plan.reporters == 1


def test_plan_refuses_history_and_single_reporter_changes() -> None:
    base = ((1, 1000), (2, 1000), (3, 1000))
    with pytest.raises(Conflict, match="never decrypt history"):
        plan_request(RULES, V2, prev(base, 7), RULES, 6, TODAY)
    with pytest.raises(Conflict, match="come from 1 distinct reporter"):  # report 5 (b) alone
        plan_request(RULES, V2[:3] + V2[4:5], prev(base, 5), RULES, 6, TODAY)
    # reports 5 (b) and 7 (a) are new: two reporters, k = 2 → admitted as changes
    reports = V2[:3] + V2[4:5] + V2[6:]
    plan = plan_request(RULES, reports, prev(base, 5), RULES, 8, TODAY)
    assert plan.kind == "changes" and {5, 7} <= set(dict(plan.active))
    with pytest.raises(Conflict, match="come from 2 distinct reporters; k = 3"):
        plan_request(replace_k(3), reports, prev(base, 5), replace_k(3), 8, TODAY)


def replace_k(k: int) -> RuleSet:
    return RuleSet(**({f: getattr(RULES, f) for f in RuleSet.__dataclass_fields__} | {"k_reporters": k}))


def test_plan_new_rule_set_and_staleness() -> None:
    base = ((1, 1000), (2, 1000), (3, 1000))
    reports = V2[:3] + V2[4:5]
    assert plan_request(RULES, reports, prev(base, 5, version="2025.9"), RULES_PREV, 6, TODAY).kind == "rules"
    stale = TODAY + dt.timedelta(days=RULES.max_staleness_days)
    assert plan_request(RULES, reports, prev(base, 5), RULES, 6, stale).kind == "staleness"
    with pytest.raises(Conflict, match="nothing changed"):
        plan_request(RULES, V2[:3], prev(base, 5), RULES, 6, stale)


RULES_PREV = RuleSet(**({f: getattr(RULES, f) for f in RuleSet.__dataclass_fields__} | {"version": "2025.9"}))


def test_set_digest_and_combiner_order_are_canonical() -> None:
    assert set_digest(((1, 1000), (2, 700))) != set_digest(((1, 1000), (2, 400)))
    assert set_digest(((1, 1000),)) != set_digest(((1, 1000), (2, 1000)))
    with pytest.raises(InvalidInput, match="sorted by index"):
        set_digest(((2, 1000), (1, 1000)))
    g = hashlib.sha256(b"genesis").digest()
    s = hashlib.sha256(b"subject").digest()
    order = combiner_order(g, s, 10, [1, 2, 3])
    assert sorted(order) == [1, 2, 3] and order == combiner_order(g, s, 10, [3, 1, 2])
    assert len({combiner_order(g, s, size, [1, 2, 3]) for size in range(10, 40)}) > 1  # not fixed by the operator


def test_sealed_share_is_bound_to_its_request_combiner_and_trustee() -> None:
    sk, pk = escrow_keypair()
    other_sk, _ = escrow_keypair()
    share = DecryptionShare(index=2, c_i=12345, challenge=7, response=99)
    aad = share_aad(b"g" * 32, 10, b"s" * 32, 9, b"d" * 32, 1, 2)
    sealed = seal_share(pk, aad, share)
    assert open_share(sk, aad, sealed, 2) == share
    for key, a, t in ((other_sk, aad, 2), (sk, share_aad(b"g" * 32, 10, b"s" * 32, 8, b"d" * 32, 1, 2), 2),
                      (sk, share_aad(b"g" * 32, 10, b"s" * 32, 9, b"d" * 32, 3, 2), 2), (sk, aad, 3)):
        with pytest.raises(VerificationError, match="does not open"):
            open_share(key, a, sealed, t)


def test_strict_opening_check_refuses_overflow_and_out_of_slot_plaintexts() -> None:
    """Attacks 6 and 8 at the core level: one verdict, whatever the cause."""
    samples = [sample("contract_default", 1), sample("fake_traffic", 3)]
    weights = [1000, 700]
    commitments = [s.commitment for s in samples]
    counts, r_sum = fake_decrypt(samples, weights)
    honest = paillier.Opening(tuple(counts), r_sum).plaintext()
    assert open_aggregate(GENS, commitments, weights, honest).counts == tuple(counts)
    slots = 4 * len(CATS)
    outside = honest + (1 << (paillier.R_BITS + paillier.SLOT_BITS * slots))
    # R off by a multiple of q: the mod-q opening check passes, the strict one does not.
    k = ((1 << paillier.R_BITS) - 1 - r_sum) // ORDER
    overflow = honest + k * ORDER
    check_opening(GENS, commitments, weights, counts, r_sum + k * ORDER)
    too_many = honest + (2000 << paillier.R_BITS)  # slot 0 count above Σ w
    for plaintext in (outside, overflow, too_many, honest + 1):
        with pytest.raises(OpeningFailed) as info:  # typed: a trustee holds the rating on exactly this
            open_aggregate(GENS, commitments, weights, plaintext)
        assert str(info.value) == DOES_NOT_OPEN


def test_a_set_that_falls_below_k_is_withdrawn_not_published() -> None:
    """Expiry (not a correction) takes the set below k: the request is a withdrawal, answered
    by RatingWithdrawn; once withdrawn, a set still below k is not requested again."""
    base = ((1, 1000), (2, 1000))
    later = dt.date(2031, 6, 1)  # every report of 2026-05-01 has expired (5-year retention)
    plan = plan_request(RULES, V2[:2], prev(base, 3), RULES, 4, later)
    assert (plan.kind, plan.active, plan.below_k) == ("withdrawal", (), True)
    with pytest.raises(Conflict, match="0 distinct reporters"):
        plan_request(RULES, V2[:2], prev((), 4, as_of=later), RULES, 5, later)
