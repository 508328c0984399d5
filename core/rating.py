"""The math of a rating epoch (DESIGN §5): which reports count, when a rating may be
published, whether the decrypted aggregate opens the commitments, and how a cheating
report is found.

1. Active set (step 1): a subject's reports that are on the ledger below size L, neither
   retracted nor marked fraudulent below L, not expired, with their decay weight
   (`core.rules.weight`). Every trustee rebuilds it from its own verified mirror; the
   operator never chooses it.
2. Publishability (step 3): at least k distinct reporters (distinct ring-signature link
   tags), and the update rule against differencing (`check_publishable`).
3. Opening check (step 5): the Pedersen commitments are linear, so with weights w_i

       Σ w_i·C_i = Σ_{c,t} N_{c,t}·G_{c,t} + R·H,    N = Σ w_i·onehot_i,  R = Σ w_i·r_i

   holds exactly when every report's ciphertext packs what its commitment commits to (up
   to a discrete-log relation between the nothing-up-my-sleeve generators, which nobody
   knows). Anyone can re-check a published rating with one multi-scalar multiplication.
4. Bisection (DESIGN §2, §5): when the check fails, some member encrypted something other
   than it committed; halving the active set finds one such report in O(log n)
   decryptions (`find_inconsistent`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import Conflict, InvalidInput, NotFound, VerificationError
from core.group import ORDER, POINT_BYTES, Group, Point
from core.pedersen import TIERS, Generators, validate_category_code
from core.rules import PER_MILLE, RuleSet, weight

__all__ = [
    "ReportInfo",
    "PreviousRating",
    "Active",
    "active_set",
    "distinct_reporters",
    "changed_indices",
    "check_publishable",
    "aggregate_commitment",
    "check_opening",
    "find_inconsistent",
]

Active = tuple[tuple[int, int], ...]
"""An active set: (ledger index, weight per mille) pairs, sorted by index."""


def _index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a non-negative integer ledger index, got {value!r}")
    return value


def _later(value: object, index: int, what: str) -> None:
    if value is None:
        return
    at = _index(value, what)
    if at <= index:
        raise InvalidInput(
            f"{what} {at} is not after the report's own entry {index}: it must come later"
        )


@dataclass(frozen=True)
class ReportInfo:
    """What a rating needs to know about one report (a projection of its ledger entries).

    `index` is the ReportCommitted entry's ledger index; `link_tag` the ring-signature link
    tag (one per reporter and subject) and `commitment` the 48-byte Pedersen commitment;
    `retracted_at` / `fraud_at` are the ledger indices of the entry that retracted it or
    marked it fraudulent, or None.
    """

    index: int
    category: str
    incident_date: _dt.date
    link_tag: bytes
    commitment: bytes
    retracted_at: int | None = None
    fraud_at: int | None = None

    def __post_init__(self) -> None:
        _index(self.index, "report index")
        validate_category_code(self.category)
        if not isinstance(self.incident_date, _dt.date) or isinstance(
            self.incident_date, _dt.datetime
        ):
            raise InvalidInput(f"incident date must be a date, got {self.incident_date!r}")
        for name in ("link_tag", "commitment"):
            value = getattr(self, name)
            what = f"{name.replace('_', ' ')} of report {self.index}"
            if not isinstance(value, bytes):
                raise InvalidInput(f"{what} must be bytes, got {type(value).__name__}")
            if len(value) != POINT_BYTES:
                raise InvalidInput(
                    f"{what} is {len(value)} bytes, expected {POINT_BYTES} (a compressed G1 point)"
                )
        _later(self.retracted_at, self.index, "retraction index")
        _later(self.fraud_at, self.index, "fraud finding index")


def _check_active(active: Sequence[tuple[int, int]], what: str) -> Active:
    pairs: list[tuple[int, int]] = []
    last = -1
    for item in active:
        if not isinstance(item, tuple) or len(item) != 2:
            raise InvalidInput(f"{what} must hold (index, weight) pairs")
        index = _index(item[0], f"index in the {what}")
        w = item[1]
        if isinstance(w, bool) or not isinstance(w, int) or not 0 < w <= PER_MILLE:
            raise InvalidInput(
                f"weight of report {index} in the {what} is {w!r}, expected 1..{PER_MILLE}"
            )
        if index <= last:
            raise InvalidInput(f"{what} must be sorted by index without repeats; {index} is not")
        last = index
        pairs.append((index, w))
    return tuple(pairs)


@dataclass(frozen=True)
class PreviousRating:
    """The subject's last published rating, as far as the update rule needs it."""

    rule_version: str
    as_of: _dt.date
    active: Active

    def __post_init__(self) -> None:
        if not isinstance(self.rule_version, str) or not self.rule_version:
            raise InvalidInput("previous rating must name its rule set version")
        if not isinstance(self.as_of, _dt.date) or isinstance(self.as_of, _dt.datetime):
            raise InvalidInput(f"previous rating date must be a date, got {self.as_of!r}")
        if not isinstance(self.active, tuple):
            raise InvalidInput("previous rating's active set must be a tuple of (index, weight)")
        _check_active(self.active, "previous rating's active set")


def _by_index(reports: Sequence[ReportInfo]) -> dict[int, ReportInfo]:
    table: dict[int, ReportInfo] = {}
    for report in reports:
        if not isinstance(report, ReportInfo):
            raise InvalidInput(f"expected ReportInfo objects, got {type(report).__name__}")
        if report.index in table:
            raise InvalidInput(f"report index {report.index} appears twice")
        table[report.index] = report
    return table


def active_set(
    reports: Sequence[ReportInfo], rules: RuleSet, ledger_size: int, as_of: _dt.date
) -> Active:
    """The active set of one subject at ledger size L as of a date (DESIGN §5 step 1).

    A report counts iff its index < L; it was not retracted, nor marked fraudulent, by an
    entry below L (an entry at index ≥ L is not part of this view of the ledger); it has
    not expired at `as_of`; and its weight is positive. Returns (index, weight) sorted by
    index.
    """
    size = _index(ledger_size, "ledger size")
    if size < 1:
        raise InvalidInput("ledger size must be at least 1 (the genesis)")
    table = _by_index(reports)
    out: list[tuple[int, int]] = []
    for index in sorted(table):
        report = table[index]
        if index >= size:
            continue
        if report.retracted_at is not None and report.retracted_at < size:
            continue
        if report.fraud_at is not None and report.fraud_at < size:
            continue
        w = weight(rules, report.incident_date, as_of, category=report.category)
        if w > 0:
            out.append((index, w))
    return tuple(out)


def _reporters(table: dict[int, ReportInfo], indices: Sequence[int], what: str) -> int:
    tags: set[bytes] = set()
    for index in indices:
        report = table.get(index)
        if report is None:
            raise InvalidInput(
                f"{what} names report {index}, which is not among the subject's reports: "
                "pass every report of the subject, retracted and expired ones included"
            )
        tags.add(report.link_tag)
    return len(tags)


def distinct_reporters(reports: Sequence[ReportInfo], indices: Sequence[int]) -> int:
    """How many distinct reporters (distinct link tags) wrote the reports at `indices`."""
    return _reporters(_by_index(reports), indices, "the index list")


def changed_indices(previous: Active, current: Active) -> tuple[int, ...]:
    """Indices whose weight changed between two active sets: added, removed (retracted,
    expired, marked fraudulent) or moved to another decay band. Sorted."""
    before = dict(_check_active(previous, "previous active set"))
    after = dict(_check_active(current, "active set"))
    return tuple(
        sorted(i for i in before.keys() | after.keys() if before.get(i) != after.get(i))
    )


def _plural(n: int) -> str:
    return f"{n} distinct reporter" + ("" if n == 1 else "s")


def check_publishable(
    rules: RuleSet,
    reports: Sequence[ReportInfo],
    active: Active,
    previous: PreviousRating | None,
    as_of: _dt.date,
    k: int | None = None,
) -> None:
    """Raise Conflict unless a rating over `active` may be published as of `as_of`.

    `reports` are all the subject's reports (retracted ones included, to name the reporter
    of a report that left the set); `k` defaults to the rule set's k_reporters and is
    never below 2.

    1. k: the active set must hold reports from at least k distinct reporters. A rating
       over one reporter's reports would tell that reporter's tiers to everyone.
    2. Update rule (against differencing): the reports whose weight changed since the
       previous rating (the symmetric difference of the two (index, weight) sets, by
       index) must come from at least k distinct reporters, unless the rule set version
       differs from the previous rating's or `max_staleness_days` have passed since it.
       Otherwise subtracting the two published count vectors would give exactly the
       weighted tiers of the one reporter's changed reports.

    Residual leak (what this does NOT hide; the README states it):
    - Any reporter who is one of exactly k (= 2) contributors to a difference, or to the
      whole set, knows its own reports' tiers and can subtract them: it learns the other
      reporter's weighted tier counts. k bounds who can learn a tier; it does not make the
      counts anonymous against k−1 colluding reporters.
    - After max_staleness_days a rating is re-published whatever changed, so a change by a
      single reporter (one new report, a retraction, an expiry: expiry is per incident
      date, not per quarter) is published and its tier can be read by differencing. The
      staleness bound is how long such a change stays hidden, traded against freshness.
    - A new rule set version lifts the update rule once; a regulator that publishes rule
      sets could time one to expose a single change. Rule sets are public ledger entries,
      so such timing is visible to every auditor.
    - Decay band moves are quarter-aligned (`core.rules.age_years`), so they change many
      reports at once; for a subject with few reports in a quarter they still change few.
    """
    k_eff = rules.k_reporters if k is None else k
    if isinstance(k_eff, bool) or not isinstance(k_eff, int) or k_eff < 2:
        raise InvalidInput(f"k must be an integer of at least 2, got {k_eff!r}")
    if not isinstance(as_of, _dt.date) or isinstance(as_of, _dt.datetime):
        raise InvalidInput(f"rating date must be a date, got {as_of!r}")
    current = _check_active(active, "active set")
    table = _by_index(reports)
    reporters = _reporters(table, [i for i, _ in current], "the active set")
    if reporters < k_eff:
        raise Conflict(
            f"subject has reports from {_plural(reporters)}; k = {k_eff}: the rating stays "
            f"pending until reports from {k_eff} distinct reporters are active"
        )
    if previous is None:
        return
    if not isinstance(previous, PreviousRating):
        raise InvalidInput("previous must be a PreviousRating or None")
    if as_of < previous.as_of:
        raise Conflict(
            f"rating date {as_of.isoformat()} is before the previous rating's "
            f"{previous.as_of.isoformat()}: ratings only move forward in time"
        )
    if previous.rule_version != rules.version:
        return
    if (as_of - previous.as_of).days >= rules.max_staleness_days:
        return
    due = previous.as_of + _dt.timedelta(days=rules.max_staleness_days)
    changed = changed_indices(previous.active, current)
    if not changed:
        raise Conflict(
            f"no report's weight changed since the rating as of {previous.as_of.isoformat()}: "
            f"nothing to publish before {due.isoformat()} (maximum staleness "
            f"{rules.max_staleness_days} days)"
        )
    movers = _reporters(table, changed, "the change since the previous rating")
    if movers < k_eff:
        raise Conflict(
            f"the reports whose weight changed since the rating as of "
            f"{previous.as_of.isoformat()} come from {_plural(movers)}; k = {k_eff}: "
            "publishing now would let anyone subtract the two ratings and read their tiers. "
            f"The rating waits for changes from {k_eff} distinct reporters, a new rule set, "
            f"or {due.isoformat()} (maximum staleness {rules.max_staleness_days} days)"
        )


def _weights(weights: Sequence[int], n: int) -> list[int]:
    if len(weights) != n:
        raise InvalidInput(f"{n} commitments but {len(weights)} weights: give one weight each")
    out: list[int] = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise InvalidInput(f"weight {i} must be a non-negative integer, got {w!r}")
        out.append(w)
    return out


def _decode_all(group: Group, commitments: Sequence[bytes], *, checked: bool = True) -> list[Point]:
    decode = group.decode if checked else group.decode_unchecked
    points: list[Point] = []
    for i, data in enumerate(commitments):
        try:
            points.append(decode(data))
        except InvalidInput as exc:
            raise InvalidInput(f"commitment {i}: {exc}") from None
    return points


def aggregate_commitment(
    group: Group, commitments: Sequence[bytes], weights: Sequence[int]
) -> Point:
    """C* = Σ w_i·C_i (DESIGN §5 step 2), decoding each commitment with the checked decoder,
    in one multi-scalar multiplication."""
    ws = _weights(weights, len(commitments))
    return group.msm(_decode_all(group, commitments), ws)


def check_opening(
    gens: Generators,
    commitments: Sequence[bytes],
    weights: Sequence[int],
    counts: Sequence[int],
    r_sum: int,
    *,
    subgroup_checked: bool = True,
) -> None:
    """Verify Σ w_i·C_i == Σ N_{c,t}·G_{c,t} + R·H (DESIGN §5 step 5), R reduced mod q.

    Everything is moved to one side and checked with ONE multi-scalar multiplication:
    Σ w_i·C_i − Σ N_{c,t}·G_{c,t} − R·H must be the identity. `counts` are the decrypted
    weighted counts in slot order (4 per category of the registry). Raises
    VerificationError if the aggregate does not open, InvalidInput for malformed input.

    `subgroup_checked=False` is for a client re-checking a published rating: its
    commitments were subgroup-checked when they were appended (intake, and every audit
    replay), and the subgroup check is most of the cost (≈80 µs a point). The points are
    then decoded on-curve only and the sum is multiplied by the cofactor h before the
    identity test. That decides exactly whether the prime-order parts of the commitments
    open to the counts — the statement a rating makes — since h·P = 0 for a point P on
    the curve iff P has order dividing h, and multiplying by h is a bijection on the
    prime-order subgroup (h is prime to q).
    """
    n_slots = TIERS * len(gens.categories)
    if len(counts) != n_slots:
        raise InvalidInput(
            f"{len(counts)} counts for {len(gens.categories)} categories, expected {n_slots} "
            "(one per category and tier, in slot order)"
        )
    if isinstance(r_sum, bool) or not isinstance(r_sum, int) or r_sum < 0:
        raise InvalidInput("r_sum must be a non-negative integer (the decrypted R field)")
    ws = _weights(weights, len(commitments))
    group = gens.group
    points = _decode_all(group, commitments, checked=subgroup_checked)
    scalars = list(ws)
    for slot, count in enumerate(counts):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput(f"count of slot {slot} must be a non-negative integer")
        if count:  # a zero count contributes nothing; skip its generator
            points.append(gens.g(gens.categories[slot // TIERS], slot % TIERS))
            scalars.append(-count)
    points.append(gens.h)
    scalars.append(-(r_sum % ORDER))
    total = group.msm(points, scalars)
    if not subgroup_checked:
        total = group.mul_by_cofactor(total)
    if not group.is_identity(total):
        raise VerificationError(
            "the decrypted aggregate does not open the commitments: some report's "
            "ciphertext disagrees with its commitment"
        )


def find_inconsistent(items: Sequence[int], opens: Callable[[Sequence[int]], bool]) -> int:
    """One report of `items` whose ciphertext disagrees with its commitment, by bisection.

    `items` are the indices of an active set whose aggregate does not open;
    `opens(subset)` decrypts the weighted aggregate of `subset` and reports whether it
    opens that subset's commitments (`check_opening`). Both sides are linear, so if a set
    fails and one half opens, the other half fails: halving finds a failing single report
    in 1 + ⌈log2 n⌉ calls, plus one to confirm the last inferred half. With several
    culprits, mark the one found (FraudFound) and search again: O(log n) calls each.
    Raises NotFound if `items` opens as a whole (no culprit; reports that cheat in
    opposite directions can cancel out in the aggregate, and then the published counts
    are the committed ones anyway), and VerificationError if the oracle turns out not to
    be additive.

    Privacy: every call decrypts a sub-aggregate, smaller than the active set and
    eventually a single report, i.e. a report's tier. Trustees therefore serve these
    decryptions only under an InvestigationAuthorised entry by the regulator covering the
    subject at that ledger size (DESIGN §5 step 3); never call this without one.
    """
    current = [_index(i, "item") for i in items]
    if not current:
        raise NotFound("the set is empty: there is no report to search")
    if len(set(current)) != len(current):
        raise InvalidInput("items must not repeat an index")
    if opens(tuple(current)):
        raise NotFound(
            f"the aggregate of these {len(current)} reports opens its commitments: "
            "no report is inconsistent"
        )
    inferred = False
    while len(current) > 1:
        half = len(current) // 2
        left, right = current[:half], current[half:]
        if not opens(tuple(left)):
            current, inferred = left, False
        else:
            current, inferred = right, True
    if inferred and opens(tuple(current)):
        raise VerificationError(
            "the decryption oracle is not additive: a failing set split into halves that "
            "both open; check the trustees' decryption shares"
        )
    return current[0]
