"""The rules of a rating (docs/ratings.md): which reports count and when a rating may be
requested. Written once; the ledger (`core.state.apply`), the trustees and the combiner
(`server.trustee`), the operator (`server.epoch`) and every verifier (`client.ratings`,
`client.audit`) call these functions.

1. Active set: a subject's reports on the ledger below size L, neither retracted nor marked
   fraudulent below L, not expired, with their decay weight (`core.rules.weight`). Every
   trustee rebuilds it from its own verified mirror; the operator never chooses it.
2. The update rule (`plan_request`), judged against the previous RatingRequested for the
   subject: corrections are published alone; other changes need k distinct reporters, a
   new rule set or the maximum staleness; k distinct reporters (link tags) always.

The rest of a rating lives beside this module: the combiner's part (who combines, sealed
shares, the strict opening check, what a publication must prove) in `core.combination`,
and the search for a cheating report in `core.investigation`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib as _hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from core import entries as _e
from core.errors import Conflict, InvalidInput, VerificationError
from core.group import POINT_BYTES
from core.pedersen import validate_category_code
from core.rules import PER_MILLE, RuleSet, weight

__all__ = [
    "SET_TAG",
    "Active",
    "PreviousRating",
    "PreviousRequest",
    "ReportInfo",
    "RequestPlan",
    "active_set",
    "changed_indices",
    "check_publishable",
    "check_request",
    "count_reporters",
    "distinct_reporters",
    "ledger_index",
    "plan_request",
    "reports_by_index",
    "set_digest",
]


Active = tuple[tuple[int, int], ...]
"""An active set: (ledger index, weight per mille) pairs, sorted by index."""


def ledger_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a non-negative integer ledger index, got {value!r}")
    return value


def _later(value: object, index: int, what: str) -> None:
    if value is None:
        return
    at = ledger_index(value, what)
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
        ledger_index(self.index, "report index")
        validate_category_code(self.category)
        if not isinstance(self.incident_date, _dt.date) or isinstance(
            self.incident_date, _dt.datetime
        ):
            raise InvalidInput(f"incident date must be a date, got {self.incident_date!r}")
        for name, value in (("link tag", self.link_tag), ("commitment", self.commitment)):
            if not isinstance(value, bytes):
                raise InvalidInput(f"{name} of report {self.index} must be bytes, got {type(value).__name__}")
            if len(value) != POINT_BYTES:
                raise InvalidInput(
                    f"{name} of report {self.index} is {len(value)} bytes, expected {POINT_BYTES} "
                    "(a compressed G1 point)"
                )
        if self.retracted_at is not None:
            _later(self.retracted_at, self.index, "retraction index")
        if self.fraud_at is not None:
            _later(self.fraud_at, self.index, "fraud finding index")


def _check_active(active: Sequence[tuple[int, int]], what: str) -> Active:
    pairs: list[tuple[int, int]] = []
    last = -1
    for item in active:
        if not isinstance(item, tuple) or len(item) != 2:
            raise InvalidInput(f"{what} must hold (index, weight) pairs")
        index = ledger_index(item[0], f"index in the {what}")
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


def reports_by_index(reports: Sequence[ReportInfo]) -> dict[int, ReportInfo]:
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
    """The active set of one subject at ledger size L as of a date (docs/ratings.md step 1).

    A report counts iff its index < L; it was not retracted, nor marked fraudulent, by an
    entry below L (an entry at index ≥ L is not part of this view of the ledger); it has
    not expired at `as_of`; and its weight is positive. Returns (index, weight) sorted by
    index.
    """
    size = ledger_index(ledger_size, "ledger size")
    if size < 1:
        raise InvalidInput("ledger size must be at least 1 (the genesis)")
    table = reports_by_index(reports)
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


def count_reporters(table: dict[int, ReportInfo], indices: Sequence[int], what: str) -> int:
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
    return count_reporters(reports_by_index(reports), indices, "the index list")


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
    table = reports_by_index(reports)
    reporters = count_reporters(table, [i for i, _ in current], "the active set")
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
    movers = count_reporters(table, changed, "the change since the previous rating")
    if movers < k_eff:
        raise Conflict(
            f"the reports whose weight changed since the rating as of "
            f"{previous.as_of.isoformat()} come from {_plural(movers)}; k = {k_eff}: "
            "publishing now would let anyone subtract the two ratings and read their tiers. "
            f"The rating waits for changes from {k_eff} distinct reporters, a new rule set, "
            f"or {due.isoformat()} (maximum staleness {rules.max_staleness_days} days)"
        )


SET_TAG = b"CANDOR-V1-RATING-SET"


def set_digest(active: Sequence[tuple[int, int]]) -> bytes:
    """SHA-256 over the canonical encoding of an active set: a tag, the count, then each
    (ledger index as 8 bytes, weight per mille as 2 bytes) in index order."""
    pairs = _check_active(active, "active set")
    h = _hashlib.sha256(SET_TAG + len(pairs).to_bytes(4, "big"))
    for index, w in pairs:
        h.update(index.to_bytes(8, "big") + w.to_bytes(2, "big"))
    return h.digest()


@dataclass(frozen=True)
class PreviousRequest:
    """The subject's newest RatingRequested, as far as the update rule needs it."""

    index: int
    ledger_size: int
    rule_version: str
    as_of: _dt.date
    active: Active

    def __post_init__(self) -> None:
        ledger_index(self.index, "request index")
        ledger_index(self.ledger_size, "request ledger size")
        if not isinstance(self.rule_version, str) or not self.rule_version:
            raise InvalidInput("previous request must name its rule set version")
        if not isinstance(self.as_of, _dt.date) or isinstance(self.as_of, _dt.datetime):
            raise InvalidInput(f"previous request date must be a date, got {self.as_of!r}")
        _check_active(self.active, "previous request's active set")


@dataclass(frozen=True)
class RequestPlan:
    """What the next RatingRequested for a subject must say, given (L, as-of): the set, its
    weights and date, the rule set, and why the update rule admits it (`kind`). `below_k`:
    the set has fewer than k reporters; the only answer is RatingWithdrawn."""

    kind: str
    rule_version: str
    as_of: _dt.date
    active: Active
    reporters: int
    k: int

    @property
    def below_k(self) -> bool:
        return self.reporters < self.k

    @property
    def digest(self) -> bytes:
        return set_digest(self.active)


def plan_request(rules: RuleSet, reports: Sequence[ReportInfo], previous: PreviousRequest | None,
                 previous_rules: RuleSet | None, ledger_size: int, as_of: _dt.date) -> RequestPlan:
    """The update rule (docs/ratings.md), against the PREVIOUS RatingRequested for S.

    One pure function that the ledger (to admit a RatingRequested), every trustee (before
    it serves a share) and the operator (to decide what to request) call, so every party,
    whichever trustee quorum answers, judges against the same public history.

    1. Corrections first, and alone. If reports of the previous request's set have been
       retracted (by their reporter or a dispute outcome) or found fraudulent below L, the
       next request is exactly the previous set minus them, with the previous weights,
       date and rule set: nothing else may be mixed in, or a member could retract its own
       report together with another member's new one and read the latter from the
       difference. A correction that leaves fewer than k reporters is answered by
       RatingWithdrawn (`below_k`).
    2. Otherwise the set is the active set at (L, as_of) under `rules` and it must have
       k distinct reporters (`check_publishable`): the first request; or, against the
       previous set, a new rule set, the maximum staleness passed, or changes (added
       reports, expiries, decay moves) from at least k distinct reporters. If the set fell
       below k reporters since a previous set that had k, the request is a "withdrawal".
    Raises Conflict (nothing may be requested now, with the reason and what it waits for).
    `previous_rules` is the rule set the previous request named (for its k).
    """
    size = ledger_index(ledger_size, "ledger size")
    table = reports_by_index(reports)
    if previous is not None:
        if not isinstance(previous, PreviousRequest):
            raise InvalidInput("previous must be a PreviousRequest or None")
        if size < previous.ledger_size:
            raise Conflict(
                f"ledger size {size} is below the previous request's {previous.ledger_size}: "
                "ratings never decrypt history"
            )
        if previous_rules is None or previous_rules.version != previous.rule_version:
            raise InvalidInput("give the rule set the previous request names")
        corrected = []
        for index, _w in previous.active:
            report = table.get(index)
            if report is None:
                raise InvalidInput(f"the previous request names report {index}, which is not the subject's")
            if (report.retracted_at is not None and report.retracted_at < size) or \
                    (report.fraud_at is not None and report.fraud_at < size):
                corrected.append(index)
        if corrected:
            kept = tuple(p for p in previous.active if p[0] not in corrected)
            k_prev = previous_rules.k_reporters
            return RequestPlan("correction", previous.rule_version, previous.as_of, kept,
                               count_reporters(table, [i for i, _ in kept], "the corrected set"), k_prev)
    if not isinstance(as_of, _dt.date) or isinstance(as_of, _dt.datetime):
        raise InvalidInput(f"rating date must be a date, got {as_of!r}")
    active = active_set(reports, rules, size, as_of)
    reporters = count_reporters(table, [i for i, _ in active], "the active set")
    k = rules.k_reporters
    if previous is not None and reporters < k:
        had = count_reporters(table, [i for i, _ in previous.active], "the previous set")
        assert previous_rules is not None
        if had >= previous_rules.k_reporters:
            if as_of < previous.as_of:
                raise Conflict("rating date is before the previous request's: ratings only move forward")
            return RequestPlan("withdrawal", rules.version, as_of, active, reporters, k)
    last = None if previous is None else PreviousRating(previous.rule_version, previous.as_of, previous.active)
    check_publishable(rules, reports, active, last, as_of)
    if previous is None:
        kind = "first"
    elif previous.rule_version != rules.version:
        kind = "rules"
    elif (as_of - previous.as_of).days >= rules.max_staleness_days:
        kind = "staleness"
        if active == previous.active:
            raise Conflict("nothing changed since the previous request: there is nothing to re-publish")
    else:
        kind = "changes"
    return RequestPlan(kind, rules.version, as_of, active, reporters, k)


def check_request(body: _e.RatingRequested, plan: RequestPlan) -> None:
    """A RatingRequested says exactly what `plan_request` derives from the ledger."""
    claimed = tuple(zip(body.active_set, body.weights))
    if claimed != plan.active:
        raise VerificationError(
            f"the request's active set or weights differ from the ledger's: claimed {list(claimed)}, "
            f"the ledger gives {list(plan.active)}"
        )
    if body.set_digest != plan.digest:
        raise VerificationError("the request's set digest is not the digest of its active set")
    if (body.kind, body.rule_set_version, body.as_of) != (plan.kind, plan.rule_version, plan.as_of.isoformat()):
        raise VerificationError(
            f"the request says {body.kind} under rule set {body.rule_set_version} as of {body.as_of}; the ledger "
            f"gives {plan.kind} under {plan.rule_version} as of {plan.as_of.isoformat()}"
        )
