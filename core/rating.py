"""The rules of a rating (docs/ratings.md): which reports count, when a rating may be
requested, how shares travel, whether a decrypted aggregate opens, what a publication must
prove, and how a cheating report is found. Written once; the ledger (`core.state.apply`),
the trustees and the combiner (`server.trustee`), the operator (`server.epoch`) and every
verifier (`client.ratings`, `client.audit`) call these functions.

1. Active set: a subject's reports on the ledger below size L, neither retracted nor marked
   fraudulent below L, not expired, with their decay weight (`core.rules.weight`). Every
   trustee rebuilds it from its own verified mirror; the operator never chooses it.
2. The update rule (`plan_request`), judged against the previous RatingRequested for the
   subject: corrections are published alone; other changes need k distinct reporters, a
   new rule set or the maximum staleness; k distinct reporters (link tags) always.
3. Shares are sealed (HPKE) to the designated combiner (`combiner_order`), bound to the
   request, set, combiner and trustee (`share_aad`, `seal_share`, `open_share`).
4. The combiner's strict check (`open_aggregate`): the Pedersen commitments are linear, so
   with weights w_i

       Σ w_i·C_i = Σ_{c,t} N_{c,t}·G_{c,t} + R·H,    N = Σ w_i·onehot_i,  R = Σ w_i·r_i

   holds exactly when every report's ciphertext packs what its commitment commits to (up
   to a discrete-log relation between the nothing-up-my-sleeve generators, which nobody
   knows); the plaintext must also unpack, with N_s ≤ Σ w_i and R < q·Σ w_i as integers.
5. A publication states a score and grade and proves them against C*
   (`check_publication`, with `core.publication`); no count, R or D is ever published.
6. Investigations (`bisection`, `investigation_combiners`, sealed `Evidence`): when the check
   fails, some member encrypted something other than it committed; a logged, canonical
   bisection judged by two combiners per step finds one such report in at most
   ⌈log2 m⌉ + 1 steps, and only the regulator sees the single report's evidence.
   (`find_inconsistent` is the unlogged search, kept for tests of the algebra.)
"""

from __future__ import annotations

import datetime as _dt
import hashlib as _hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core import entries as _e
from core import escrow as _escrow
from core import paillier as _paillier
from core import threshold as _threshold
from core.errors import Conflict, InvalidInput, NotFound, OpeningFailed, VerificationError
from core.group import ORDER, POINT_BYTES, Group, Point
from core.pedersen import TIERS, Generators, validate_category_code
from core.rules import PER_MILLE, RuleSet, weight

__all__ = [
    "DOES_NOT_OPEN",
    "Active",
    "Bisection",
    "Evidence",
    "PreviousRating",
    "PreviousRequest",
    "ReportInfo",
    "RequestPlan",
    "active_set",
    "aggregate_commitment",
    "bisection",
    "changed_indices",
    "check_combiner_signature",
    "check_designated",
    "check_evidence",
    "check_opening",
    "check_publication",
    "check_publishable",
    "check_request",
    "combiner_order",
    "distinct_reporters",
    "evidence_aad",
    "find_inconsistent",
    "held_message",
    "investigation_combiners",
    "max_steps",
    "open_aggregate",
    "open_evidence",
    "open_share",
    "plan_request",
    "publication_message",
    "seal_evidence",
    "seal_share",
    "set_digest",
    "share_aad",
    "step_verdict_message",
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


def _decode_all(group: Group, commitments: Sequence[bytes], *, checked: bool = True,
                xy: Sequence[bytes] | None = None) -> list[Point]:
    points: list[Point] = []
    if xy is not None:
        if checked or len(xy) != len(commitments):
            raise InvalidInput("uncompressed commitments are a hint for on-curve decoding only, one per commitment")
        for i, (data, hint) in enumerate(zip(commitments, xy)):
            try:
                points.append(group.decode_unchecked_via_xy(data, hint))
            except InvalidInput as exc:
                raise InvalidInput(f"commitment {i}: {exc}") from None
        return points
    decode = group.decode if checked else group.decode_unchecked
    for i, data in enumerate(commitments):
        try:
            points.append(decode(data))
        except InvalidInput as exc:
            raise InvalidInput(f"commitment {i}: {exc}") from None
    return points


def aggregate_commitment(
    group: Group, commitments: Sequence[bytes], weights: Sequence[int], *, subgroup_checked: bool = True,
    commitments_xy: Sequence[bytes] | None = None,
) -> Point:
    """C* = Σ w_i·C_i (docs/ratings.md), in one multi-scalar multiplication.

    `subgroup_checked=False` decodes on-curve only (a square root each, ≈26 µs against
    ≈80 µs with the subgroup check); `commitments_xy`, with it, gives each commitment's
    uncompressed form as an unverified hint, accepted only if it is exactly the point
    the compressed bytes encode (`Group.decode_unchecked_via_xy`, no square root): the
    same points either way. The result may then lie outside G1; what makes that sound is
    the caller's business (see `check_publication`)."""
    ws = _weights(weights, len(commitments))
    return group.msm(_decode_all(group, commitments, checked=subgroup_checked, xy=commitments_xy), ws)


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


# --- rating protocol v2: requests, combiners, sealed shares, publications ------------------
# docs/ratings.md describes the protocol; the functions below are its rules, written once and
# called by the ledger (core.state), the trustees and the combiner (server.trustee), the
# operator's epoch runner (server.epoch) and every verifier (client.ratings, client.audit).

SET_TAG = b"CANDOR-V1-RATING-SET"
COMBINER_TAG = b"CANDOR-V1-COMBINER"
SHARE_INFO = b"candor/v1/share"
SHARE_TAG = b"CANDOR-V1-SHARE"
PUBLICATION_SIGNATURE_TAG = b"CANDOR-V1-PUBLICATION-SIGNATURE"
HELD_TAG = b"CANDOR-V1-HELD"
DOES_NOT_OPEN = "the aggregate does not open"
"""The one verdict for every failure of the strict plaintext check (docs/ratings.md)."""


def _frame(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: no two different field lists give the same bytes."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def set_digest(active: Sequence[tuple[int, int]]) -> bytes:
    """SHA-256 over the canonical encoding of an active set: a tag, the count, then each
    (ledger index as 8 bytes, weight per mille as 2 bytes) in index order."""
    pairs = _check_active(active, "active set")
    h = _hashlib.sha256(SET_TAG + len(pairs).to_bytes(4, "big"))
    for index, w in pairs:
        h.update(index.to_bytes(8, "big") + w.to_bytes(2, "big"))
    return h.digest()


def combiner_order(genesis_hash: bytes, subject_tag: bytes, ledger_size: int,
                   trustees: Sequence[int]) -> tuple[int, ...]:
    """The order in which trustees combine for (subject, L): sorted by
    SHA-256(seed ‖ index) with seed = SHA-256(tag ‖ genesis hash ‖ subject ‖ L). The first
    available one is the designated combiner; nobody (the operator least) chooses it."""
    size = _index(ledger_size, "ledger size")
    seed = _hashlib.sha256(_frame(COMBINER_TAG, genesis_hash, subject_tag, size.to_bytes(8, "big"))).digest()
    return tuple(sorted(trustees, key=lambda i: _hashlib.sha256(seed + int(i).to_bytes(4, "big")).digest()))


@dataclass(frozen=True)
class PreviousRequest:
    """The subject's newest RatingRequested, as far as the update rule needs it."""

    index: int
    ledger_size: int
    rule_version: str
    as_of: _dt.date
    active: Active

    def __post_init__(self) -> None:
        _index(self.index, "request index")
        _index(self.ledger_size, "request ledger size")
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
    size = _index(ledger_size, "ledger size")
    table = _by_index(reports)
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
                               _reporters(table, [i for i, _ in kept], "the corrected set"), k_prev)
    if not isinstance(as_of, _dt.date) or isinstance(as_of, _dt.datetime):
        raise InvalidInput(f"rating date must be a date, got {as_of!r}")
    active = active_set(reports, rules, size, as_of)
    reporters = _reporters(table, [i for i, _ in active], "the active set")
    k = rules.k_reporters
    if previous is not None and reporters < k:
        had = _reporters(table, [i for i, _ in previous.active], "the previous set")
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


# -- sealed decryption shares --------------------------------------------------------------


def share_aad(genesis_hash: bytes, request_index: int, subject_tag: bytes, ledger_size: int, digest: bytes,
              combiner: int, trustee: int) -> bytes:
    """What a sealed share is bound to: a share is useless for any other request, set,
    combiner or trustee slot."""
    return _frame(SHARE_TAG, genesis_hash, request_index.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), digest, combiner.to_bytes(4, "big"), trustee.to_bytes(4, "big"))


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def seal_share(recipient_public: bytes, aad: bytes, share: _threshold.DecryptionShare) -> bytes:
    """HPKE-seal a decryption share and its Chaum–Pedersen proof to the combiner."""
    plaintext = share.index.to_bytes(4, "big") + _frame(
        _int_bytes(share.c_i), _int_bytes(share.challenge), _int_bytes(share.response))
    return _escrow.seal(recipient_public, SHARE_INFO, aad, plaintext)


def open_share(recipient_private: bytes, aad: bytes, sealed: bytes, trustee: int) -> _threshold.DecryptionShare:
    """Open a sealed share; VerificationError naming the trustee if it does not open or parse."""
    try:
        data = _escrow.open_(recipient_private, SHARE_INFO, aad, sealed)
        fields: list[int] = []
        at = 4
        while at < len(data):
            n = int.from_bytes(data[at:at + 4], "big")
            fields.append(int.from_bytes(data[at + 4:at + 4 + n], "big"))
            at += 4 + n
        if at != len(data) or len(fields) != 3 or int.from_bytes(data[:4], "big") != trustee:
            raise InvalidInput("malformed share")
        return _threshold.DecryptionShare(index=trustee, c_i=fields[0], challenge=fields[1], response=fields[2])
    except (InvalidInput, VerificationError):
        raise VerificationError(f"the sealed share of trustee {trustee} does not open for this request") from None


# -- the combiner's strict check -------------------------------------------------------------


def open_aggregate(gens: Generators, commitments: Sequence[bytes], weights: Sequence[int],
                   plaintext: int) -> _paillier.Opening:
    """The combiner's check of a decrypted aggregate (docs/ratings.md): it unpacks (a value
    beyond the last slot does not open), every count N_s ≤ Σ w_i, R < q·Σ w_i (both as
    integers), and C* = Σ N_s·G_s + R·H. Any failure raises OpeningFailed with the one
    message DOES_NOT_OPEN, whatever the cause: the verdict is published and must not say
    more about the plaintext than that."""
    ws = _weights(weights, len(commitments))
    total = sum(ws)
    n_slots = TIERS * len(gens.categories)
    try:
        opening = _paillier.unpack(plaintext, n_slots)
        if any(count > total for count in opening.counts) or opening.r_sum >= ORDER * total:
            raise OpeningFailed(DOES_NOT_OPEN)
        check_opening(gens, commitments, ws, list(opening.counts), opening.r_sum)
    except (InvalidInput, VerificationError):
        raise OpeningFailed(DOES_NOT_OPEN) from None
    return opening


# -- publications -------------------------------------------------------------------------


def publication_message(genesis_hash: bytes, body: _e.RatingPublished) -> bytes:
    """What the combiner signs: every field of the publication but its own signature."""
    digest = _hashlib.sha256(_frame(
        body.request_index.to_bytes(8, "big"), body.subject_tag, body.rule_set_version.encode(),
        body.ledger_size.to_bytes(8, "big"), body.set_digest,
        b"".join(i.to_bytes(8, "big") for i in body.active_set), b"".join(w.to_bytes(2, "big") for w in body.weights),
        body.as_of.encode(), body.score.to_bytes(8, "big", signed=True), body.grade.encode(),
        body.reporters.to_bytes(4, "big"), body.proof, body.combiner.to_bytes(4, "big"),
    )).digest()
    return _frame(PUBLICATION_SIGNATURE_TAG, genesis_hash, digest)


def held_message(genesis_hash: bytes, request_index: int, subject_tag: bytes, ledger_size: int, digest: bytes,
                 combiner: int) -> bytes:
    """What the combiner signs when the aggregate of a request does not open."""
    return _frame(HELD_TAG, genesis_hash, request_index.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), digest, combiner.to_bytes(4, "big"))


def check_designated(genesis: _e.Genesis, genesis_hash: bytes, subject_tag: bytes, ledger_size: int,
                     combiner: int) -> None:
    """The combiner is the designated one for (subject, L), or a later one in the order
    when earlier ones were unavailable: at most n − t may be skipped (beyond that fewer
    than t trustees would be left to serve shares). The operator cannot pick another."""
    order = combiner_order(genesis_hash, subject_tag, ledger_size, [t.index for t in genesis.trustees])
    allowed = order[: len(order) - genesis.threshold + 1]
    if combiner not in allowed:
        raise VerificationError(
            f"combiner {combiner} is not designated for this subject and size: the order is {list(order)} "
            f"and only the first {len(allowed)} may combine"
        )


def _trustee(genesis: _e.Genesis, index: int) -> _e.Trustee:
    for t in genesis.trustees:
        if t.index == index:
            return t
    raise VerificationError(f"combiner {index} is not a trustee of the genesis")


def check_combiner_signature(genesis: _e.Genesis, combiner: int, message: bytes, signature: bytes) -> None:
    """The combiner is a genesis trustee and `signature` is its Ed25519 signature."""
    from core.signing import VerifyKey

    try:
        VerifyKey.from_bytes(_trustee(genesis, combiner).signing_key).verify(message, signature)
    except VerificationError:
        raise VerificationError(f"the combiner signature of trustee {combiner} does not verify") from None


def check_publication(gens: Generators, genesis: _e.Genesis, genesis_hash: bytes, rules: RuleSet,
                      request_index: int, request: _e.RatingRequested, reports: Sequence[ReportInfo],
                      body: _e.RatingPublished, *, commitments_xy: Sequence[bytes] | None = None) -> None:
    """Everything a RatingPublished claims, against the request it answers (docs/ratings.md).

    The one verification of a publication, run by the ledger on append and in every audit
    replay, and by the member SDK on GetRating. `reports` are the reports of the request's
    active set (at least); `rules` the rule set the request names. Checks: the entry
    answers `request` (subject, L, set, weights, digest, date, rule set); its reporter
    count is the number of distinct link tags and at least k; the combiner is a genesis
    trustee whose signature covers every field; the publication proof binds the score to
    C* = Σ w_i·C_i recomputed from the commitments; the grade is the rule set's grade of
    the score. Raises VerificationError. `commitments_xy` (optional, one per entry of the
    active set, in its order): the commitments uncompressed, an unverified decoding hint
    (see `aggregate_commitment`); a hint that is not the same point is refused.
    """
    from core.publication import PublicationProof, PublicationStatement, verify
    from core.rules import rule_set_hash
    from core.score import grade_of, points_vector

    if body.request_index != request_index:
        raise VerificationError(f"the rating answers request {body.request_index}, not {request_index}")
    if (body.subject_tag, body.ledger_size, body.set_digest, body.active_set, body.weights, body.as_of,
            body.rule_set_version) != (request.subject_tag, request.ledger_size, request.set_digest,
                                       request.active_set, request.weights, request.as_of, request.rule_set_version):
        raise VerificationError("the rating's subject, size, active set, weights, date or rule set differ from "
                                f"the request {request_index} it answers")
    if rules.version != body.rule_set_version:
        raise VerificationError(f"rule set {rules.version} given, the rating names {body.rule_set_version}")
    table = _by_index(reports)
    active = tuple(zip(body.active_set, body.weights))
    reporters = _reporters(table, [i for i, _ in active], "the rating's active set")
    if reporters != body.reporters:
        raise VerificationError(f"the rating claims {body.reporters} reporters; its active set has {reporters}")
    if reporters < rules.k_reporters:
        raise VerificationError(f"the rating rests on {reporters} distinct reporter(s); k = {rules.k_reporters}")
    check_designated(genesis, genesis_hash, body.subject_tag, body.ledger_size, body.combiner)
    check_combiner_signature(genesis, body.combiner, publication_message(genesis_hash, body),
                             body.combiner_signature)
    # The commitments are decoded on-curve only, without trusting that the ledger checked
    # them on append: every point P of E(F_p) is uniquely P_q + P_h with P_q in G1 (order q)
    # and P_h of order dividing the cofactor h (gcd(h, q) = 1). So C* = Σ w_i·C_i has G1 part
    # Σ w_i·(C_i)_q and torsion part Σ w_i·(C_i)_h, and `publication.verify` decodes C* with
    # the subgroup check: it is accepted only if the torsion part is 0, and then C* is exactly
    # Σ w_i·(C_i)_q, whose opening is what the proof binds the score to — the G1 parts of the
    # commitments, the statement check_opening decides too (cofactor-multiplied). A torsion
    # part cannot change the score; it can only make the rating fail to verify, which honest
    # commitments (all in G1: intake checks them) never do.
    try:
        aggregate = aggregate_commitment(gens.group, [table[i].commitment for i, _ in active],
                                         [w for _, w in active], subgroup_checked=False,
                                         commitments_xy=commitments_xy)
    except InvalidInput as exc:
        raise VerificationError(f"the rating's commitments do not decode: {exc}") from None
    points = points_vector(rules, gens.categories)
    try:
        statement = PublicationStatement(genesis_hash, body.subject_tag, body.ledger_size, body.set_digest,
                                         rule_set_hash(rules), gens.group.encode(aggregate), points,
                                         rules.base_score, body.score)
        verify(gens, statement, PublicationProof.from_bytes(body.proof, len(points)))
    except InvalidInput as exc:
        raise VerificationError(f"the publication proof does not verify: {exc}") from None
    except VerificationError as exc:
        raise VerificationError(f"the publication proof does not verify for score {body.score}: {exc}") from None
    grade = grade_of(rules, body.score)
    if grade != body.grade:
        raise VerificationError(f"the rating claims grade {body.grade}; score {body.score} gives grade {grade}")


# -- investigations: canonical, logged bisection (docs/ratings.md, "Investigations") -------

INVESTIGATION_COMBINER_TAG = b"CANDOR-V1-INVESTIGATION-COMBINERS"
STEP_VERDICT_TAG = b"CANDOR-V1-STEP-VERDICT"
EVIDENCE_TAG = b"CANDOR-V1-EVIDENCE"
EVIDENCE_INFO = b"candor/v1/investigation-evidence"


@dataclass(frozen=True)
class Bisection:
    """Where a canonical bisection of a held set stands after the logged verdicts.

    `next_subset`: the subset the next step must test (None once finished); `culprit`: the
    single report a step tested directly and found not to open (finished, fraud found);
    `cleared`: finished with nothing found (a single report inferred not to open opened
    when tested, so an earlier verdict was false). `step` is the number the next step gets.
    """

    next_subset: tuple[int, ...] | None
    culprit: int | None
    cleared: bool
    step: int

    @property
    def finished(self) -> bool:
        return self.next_subset is None


def max_steps(size: int) -> int:
    """At most ⌈log2 m⌉ + 1 steps bisect a held set of m reports."""
    return max(0, (size - 1).bit_length()) + 1


def bisection(held: Sequence[int], verdicts: Sequence[bool]) -> Bisection:
    """The canonical bisection (docs/ratings.md): one pure function that the ledger (to admit
    an InvestigationStep), every trustee (before it serves a share) and the operator (to
    name the next step) call with the held set's ledger indices and the logged verdicts
    (True = opens), in step order.

    The held set does not open (its RatingHeld). Of a set that does not open only the left
    half (its first ⌈m/2⌉ reports by ledger index) is tested: if it does not open it is the
    new set; if it opens, the right half is inferred not to open. A single report is always
    tested itself before anyone is named (the test that yields the regulator's evidence), so
    at most ⌈log2 m⌉ + 1 steps are taken. Raises InvalidInput for verdicts beyond the end.
    """
    current = tuple(_index(i, "held report") for i in held)
    if not current or list(current) != sorted(set(current)):
        raise InvalidInput("the held set must be non-empty, sorted by ledger index, without repeats")
    direct = False  # `current` was itself tested (by two combiners) and did not open
    for n, opens in enumerate(verdicts, start=1):
        if len(current) == 1 and direct:
            raise InvalidInput(f"verdict {n} comes after the bisection finished at step {n - 1}")
        if len(current) == 1:  # the confirming test of a single report
            if opens:
                if n != len(verdicts):
                    raise InvalidInput(f"verdict {n} comes after the bisection finished at step {n}")
                return Bisection(None, None, True, n + 1)
            direct = True
            continue
        half = (len(current) + 1) // 2
        left, right = current[:half], current[half:]
        current, direct = (right, False) if opens else (left, True)
    step = len(verdicts) + 1
    if len(current) == 1 and direct:
        return Bisection(None, current[0], False, step)
    if len(current) == 1:
        return Bisection(current, None, False, step)
    return Bisection(current[: (len(current) + 1) // 2], None, False, step)


def investigation_combiners(genesis_hash: bytes, subject_tag: bytes, ledger_size: int, step: int,
                            trustees: Sequence[int], faulted: Sequence[int] = ()) -> tuple[int, int]:
    """The two combiners of an investigation step: the first two trustees, skipping any a
    CombinerFaulted names, in the order SHA-256(seed ‖ index) with
    seed = SHA-256(tag ‖ genesis ‖ subject ‖ L ‖ step). Nobody chooses them."""
    size = _index(ledger_size, "ledger size")
    seed = _hashlib.sha256(_frame(INVESTIGATION_COMBINER_TAG, genesis_hash, subject_tag, size.to_bytes(8, "big"),
                                  int(step).to_bytes(4, "big"))).digest()
    order = sorted((i for i in trustees if i not in set(faulted)),
                   key=lambda i: _hashlib.sha256(seed + int(i).to_bytes(4, "big")).digest())
    if len(order) < 2:
        raise Conflict("fewer than two trustees are left that no CombinerFaulted names: no step can be judged")
    return order[0], order[1]


def step_verdict_message(genesis_hash: bytes, authorisation: int, subject_tag: bytes, ledger_size: int, step: int,
                         digest: bytes, combiner: int, opens: bool, evidence: bytes) -> bytes:
    """What a combiner signs for an investigation step: the step, the subset's digest, its
    own index, its verdict and the digest of the evidence it sealed to the regulator (so
    nobody can swap the evidence behind a signed verdict)."""
    return _frame(STEP_VERDICT_TAG, genesis_hash, authorisation.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), step.to_bytes(4, "big"), digest, combiner.to_bytes(4, "big"),
                  b"\x01" if opens else b"\x00", _hashlib.sha256(evidence).digest())


def evidence_aad(genesis_hash: bytes, authorisation: int, subject_tag: bytes, ledger_size: int, step: int,
                 digest: bytes, combiner: int) -> bytes:
    """What sealed evidence is bound to: one combiner's evidence for one step."""
    return _frame(EVIDENCE_TAG, genesis_hash, authorisation.to_bytes(8, "big"), subject_tag,
                  ledger_size.to_bytes(8, "big"), step.to_bytes(4, "big"), digest, combiner.to_bytes(4, "big"))


@dataclass(frozen=True)
class Evidence:
    """A combiner's evidence for a step, for the regulator's eyes only: its verdict, the
    plaintext it decrypted and the t shares (with their proofs) it combined."""

    combiner: int
    opens: bool
    plaintext: int
    shares: tuple[_threshold.DecryptionShare, ...]


def seal_evidence(regulator_escrow_key: bytes, aad: bytes, evidence: Evidence) -> bytes:
    """HPKE-seal a combiner's evidence to the regulator's X25519 escrow key."""
    parts = [evidence.combiner.to_bytes(4, "big"), b"\x01" if evidence.opens else b"\x00",
             _int_bytes(evidence.plaintext)]
    for s in evidence.shares:
        parts += [s.index.to_bytes(4, "big"), _int_bytes(s.c_i), _int_bytes(s.challenge), _int_bytes(s.response)]
    return _escrow.seal(regulator_escrow_key, EVIDENCE_INFO, aad, _frame(*parts))


def open_evidence(regulator_escrow_private: bytes, aad: bytes, sealed: bytes) -> Evidence:
    """Open a combiner's sealed evidence; VerificationError if it does not open or parse."""
    try:
        data = _escrow.open_(regulator_escrow_private, EVIDENCE_INFO, aad, sealed)
        parts: list[bytes] = []
        at = 0
        while at < len(data):
            n = int.from_bytes(data[at:at + 4], "big")
            parts.append(data[at + 4:at + 4 + n])
            at += 4 + n
        if at != len(data) or len(parts) < 3 or (len(parts) - 3) % 4 or len(parts[0]) != 4 or \
                parts[1] not in (b"\x00", b"\x01"):
            raise InvalidInput("malformed evidence")
        shares = tuple(_threshold.DecryptionShare(
            index=int.from_bytes(parts[i], "big"), c_i=int.from_bytes(parts[i + 1], "big"),
            challenge=int.from_bytes(parts[i + 2], "big"), response=int.from_bytes(parts[i + 3], "big"))
            for i in range(3, len(parts), 4))
        return Evidence(int.from_bytes(parts[0], "big"), parts[1] == b"\x01", int.from_bytes(parts[2], "big"), shares)
    except (InvalidInput, VerificationError):
        raise VerificationError("the sealed evidence does not open for this step") from None


def check_evidence(gens: Generators, public_key: _threshold.ThresholdPublicKey, ciphertext: int,
                   commitments: Sequence[bytes], weights: Sequence[int], evidence: Evidence, combiner: int) -> bool:
    """The regulator's re-check of one combiner's evidence for a step whose aggregate
    ciphertext is `ciphertext` (recomputed from the ledger): t distinct shares that each
    verify, whose combination is the plaintext given, and a verdict that is what the
    strict check (`open_aggregate`) gives for that plaintext. Returns whether it opens;
    raises VerificationError (the combiner's evidence is false) otherwise."""
    if evidence.combiner != combiner:
        raise VerificationError(f"the evidence names combiner {evidence.combiner}, not {combiner}")
    indices = [s.index for s in evidence.shares]
    if len(indices) != public_key.threshold or len(set(indices)) != len(indices):
        raise VerificationError(f"combiner {combiner} gives {len(indices)} shares; exactly t = "
                                f"{public_key.threshold} distinct ones are needed")
    for share in evidence.shares:
        try:
            _threshold.verify_share(public_key, ciphertext, share)
        except (InvalidInput, VerificationError):
            raise VerificationError(f"combiner {combiner} gives a share of trustee {share.index} that fails its "
                                    "proof") from None
    combined = _threshold.combine(public_key, ciphertext, sorted(evidence.shares, key=lambda s: s.index),
                                  verify=False)
    if combined != evidence.plaintext:
        raise VerificationError(f"combiner {combiner}'s plaintext is not the combination of its shares")
    try:
        open_aggregate(gens, commitments, weights, combined)
        opens = True
    except OpeningFailed:
        opens = False
    if opens != evidence.opens:
        raise VerificationError(f"combiner {combiner} said {'opens' if evidence.opens else 'does not open'}, but "
                                "its own plaintext says otherwise")
    return opens
