"""View models of the explorer's pages, computed from the verified mirror alone
(docs/explorer.md). No HTML here: each function returns plain data a template escapes and
lays out, so every page can be tested without a browser.

Every function takes a `Snapshot` (the state after the last verified sync) and is called
with the mirror's `data_lock` held, so what it reads is exactly what that snapshot's
cosigned checkpoint covers.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as _dt
import difflib
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from client.explorer.mirror import Mirror, Row, Snapshot
from client.queries import LoggedQuery
from core import entries as e
from core import record, state
from core.errors import CandorError, InvalidInput, NotFound
from core.rules import RuleSet

KINDS = tuple(sorted(cls.__name__ for cls in typing.get_args(e.Body)))
PER_PAGE = 50
LAG_SECONDS = 120
"""A witness whose newest cosignature is older than this and behind the shown checkpoint lags."""
RECENT_REQUESTS = 100


def iso(ms: int) -> str:
    """A ledger timestamp (ms) as UTC text."""
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _ago(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} days ago"


def verified_lines(mirror: Mirror, snap: Snapshot) -> list[str]:
    """What every page rests on, in words."""
    cp = snap.checkpoint
    g = mirror.alliance.genesis
    return [
        (f"Checkpoint of size {cp.checkpoint.size} (root {cp.checkpoint.root_hash.hex()[:16]}…): operator signature "
         f"verified, cosigned by {', '.join(cp.witnesses) or 'no witness'} "
         f"(quorum {g.witness_quorum} of {len(g.witnesses)}), consistent with every checkpoint this explorer "
         "accepted before."),
        (f"All {cp.checkpoint.size} entries hash to that root and replay from the pinned genesis through the "
         "ledger's own rules (every Ed25519 signature, rule set and publication proof re-checked; "
         + ("every ring signature and validity proof re-checked too)." if mirror.verify_all else
            "ring signatures and validity proofs are the ledger's and `candor audit`'s to re-check, or this "
            "explorer's with --verify-all).")),
    ]


# -- ledger health ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WitnessStatus:
    name: str
    status: str  # current | lagging | missing
    size: int | None
    when: str
    ago: str


@dataclass(frozen=True)
class RequestLine:
    index: int
    subject: str
    kind: str
    as_of: str
    answer: str  # published | held | withdrawn | "" (unanswered)
    answer_index: int | None


@dataclass(frozen=True)
class Health:
    size: int
    root: str
    latest_operator_size: int
    cosigned_by: tuple[str, ...]
    cosigned_ago: str
    last_entry: str
    waiting: str | None
    witnesses: list[WitnessStatus]
    history: list[tuple[int, int, str, str, str]]
    kinds: list[tuple[str, int]]
    requested: int
    answered: dict[str, int]
    unanswered: list[RequestLine]
    recent: list[RequestLine]


def _request_line(view: state.StateView, index: int) -> RequestLine:
    rec = state.request_record(view, index)
    if rec is None:
        raise NotFound(f"entry {index} is not a rating request")
    answer = rec.answer
    return RequestLine(index, rec.subject.hex(), rec.kind, rec.as_of, "" if answer is None else answer.kind,
                       None if answer is None else answer.index)


def health(mirror: Mirror, snap: Snapshot, now: float | None = None) -> Health:
    now = time.time() if now is None else now
    cp = snap.checkpoint
    newest = max((s.timestamp or 0 for s in cp.cosignatures), default=0)
    witnesses = []
    for w in mirror.alliance.genesis.witnesses:
        seen = mirror.witnesses.get(w.name)
        if seen is None:
            witnesses.append(WitnessStatus(w.name, "missing", None, "never seen by this explorer", ""))
            continue
        current = seen.size >= snap.latest_operator_size or now - seen.timestamp <= LAG_SECONDS
        witnesses.append(WitnessStatus(w.name, "current" if current else "lagging", seen.size,
                                       iso(seen.timestamp * 1000), _ago(now - seen.timestamp)))
    requests = snap.by_kind.get("RatingRequested", [])
    answered = {k: len(snap.by_kind.get(f"Rating{k.capitalize()}", [])) for k in ("published", "held", "withdrawn")}
    missing = len(requests) - sum(answered.values())
    unanswered: list[RequestLine] = []
    # Only a subject's newest request can be open (the ledger refuses another before it is
    # answered), so the open ones are found by walking back from the newest.
    for index in reversed(requests):
        if len(unanswered) >= missing:
            break
        line = _request_line(snap.state, index)
        if not line.answer:
            unanswered.append(line)
    recent = [_request_line(snap.state, i) for i in reversed(requests[-RECENT_REQUESTS:])]
    last = snap.rows[snap.size - 1] if snap.size else None
    return Health(
        size=snap.size, root=cp.checkpoint.root_hash.hex(), latest_operator_size=snap.latest_operator_size,
        cosigned_by=cp.witnesses, cosigned_ago=_ago(now - newest) if newest else "",
        last_entry=iso(last.timestamp_ms) if last is not None and last.timestamp_ms else "",
        waiting=mirror.waiting, witnesses=witnesses,
        history=[(s.old_size, s.new_size, s.root[:16], iso(int(s.at * 1000)), ", ".join(s.witnesses))
                 for s in reversed(mirror.history)],
        kinds=sorted((k, len(v)) for k, v in snap.by_kind.items()),
        requested=len(requests), answered=answered, unanswered=unanswered, recent=recent,
    )


# -- entries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPage:
    rows: list[Row]
    kind: str
    total: int
    start: int  # newest index shown
    older: int | None  # `start` of the next page, if any
    newer: int | None
    kinds: list[str]


def entries_page(snap: Snapshot, kind: str = "", start: int | None = None, per: int = PER_PAGE) -> EntryPage:
    """Newest first, `per` entries at indices ≤ `start` (default: the newest), of `kind` if given."""
    kinds = sorted(snap.by_kind)
    if kind and kind not in KINDS:
        raise InvalidInput(f"entry type {kind!r} is not one of {', '.join(KINDS)}")
    top = snap.size - 1 if start is None else min(start, snap.size - 1)
    if kind:
        indices = snap.by_kind.get(kind, [])
        end = bisect.bisect_right(indices, top)
        shown = indices[max(0, end - per):end][::-1]
        older = indices[end - per - 1] if end - per > 0 else None
        after = indices[end:end + per]
        newer = after[-1] if after else None
        total = len(indices)
    else:
        shown = list(range(top, max(-1, top - per), -1))
        older = top - per if top - per >= 0 else None
        newer = min(snap.size - 1, top + per) if top + 1 < snap.size else None
        total = snap.size
    return EntryPage([snap.rows[i] for i in shown], kind, total, top, older, newer, kinds)


@dataclass(frozen=True)
class EntryDetail:
    index: int
    kind: str
    author: str
    time: str
    leaf_hash: str
    fields: list[tuple[str, str]]
    authentication: str
    proof: list[str]
    proof_error: str
    checkpoint_size: int


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        if len(value) > 48:
            return f"{value[:32].hex()}… ({len(value)} bytes)"
        return value.hex()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) and value.bit_length() > 64:
        return f"{value.bit_length()}-bit integer {hex(value)[2:34]}…"
    if isinstance(value, tuple):
        return ", ".join(_show(v) for v in value) if value else "(none)"
    return str(value)


def entry_detail(mirror: Mirror, snap: Snapshot, index: int) -> EntryDetail:
    """One entry in full, decoded, with its inclusion proof in the snapshot's checkpoint
    (fetched from the operator and verified here; a failure is shown, not hidden)."""
    if not 0 <= index < snap.size:
        raise NotFound(f"entry {index} is outside the verified ledger of size {snap.size}")
    signed = mirror.leaf(snap, index)
    body = signed.entry.body
    fields = [(f.name, _show(getattr(body, f.name))) for f in dataclasses.fields(body)]
    if signed.ring_signature is not None:
        auth = f"linkable ring signature ({len(signed.ring_signature)} bytes)"
        if signed.escrow is not None:
            auth += f"; sealed escrow for the regulator ({len(signed.escrow)} bytes)"
    else:
        assert signed.signature is not None
        auth = f"Ed25519 signature by key {signed.signature.key_id}"
    proof: list[str] = []
    error = ""
    try:
        proof = [h.hex() for h in mirror.inclusion(snap, index)]
    except CandorError as exc:  # shown on the page: the entry stays verified by the replay
        error = str(exc)
    row = snap.rows[index]
    return EntryDetail(index, row.kind, row.author, iso(row.timestamp_ms) if row.timestamp_ms else "",
                       snap.leaf_hashes[index].hex(), fields, auth, proof, error, snap.size)


# -- subject ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    score: int
    grade: str
    as_of: str
    index: int


@dataclass(frozen=True)
class Band:
    grade: str
    y: float
    height: float
    low: int
    high: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[ChartPoint]
    path: str
    bands: list[Band]
    max_score: int
    first: str
    last: str


@dataclass(frozen=True)
class SubjectView:
    tag: str
    state: str
    rating: dict[str, Any] | None
    reporters: int
    k: int
    pending: int
    waiting_since: str
    reports: list[record.ReportStatus]
    disputes: list[tuple[record.Dispute, bool]]
    history: list[record.RatingEvent]
    chart: Chart | None
    queries: list[LoggedQuery] | None
    queries_note: str
    entries: list[Row] = field(default_factory=list)


def rule_sets(view: state.StateView) -> list[tuple[int, RuleSet]]:
    """Every published rule set with its entry index, in ledger order."""
    return [(r.index, r.rules) for r in state.rule_set_records(view)]


def _subject_state(view: state.StateView, tag: bytes, size: int, today: _dt.date) -> tuple[str, int, int, int, str]:
    """(state, reporters, k, pending, waiting since): the ledger's own reading of a subject,
    as GetRating states it (docs/ratings.md, "GetRating")."""
    rated = state.rating_record(view, tag)
    newest = state.latest_request(view, tag)
    held = newest is not None and newest.answer is not None and newest.answer.kind == "held"
    reports = state.subject_reports(view, tag)
    k = 0
    active_now: tuple[tuple[int, int], ...] = ()
    try:
        rules, _prev, _reports, active_now = state.rating_inputs(view, tag, size, today)
        k = rules.k_reporters
    except NotFound:
        pass
    links = {r.index: r.link_tag for r in reports}
    reporters = len({links[i] for i, _ in active_now})
    rated_set = {i for i, _ in rated.active} if rated is not None else set()
    active_idx = {i for i, _ in active_now}
    pending = len(active_idx - rated_set)
    disputed = False
    for r in reports:
        if r.index in rated_set or r.index in active_idx:
            rep = state.report_at(view, tag, r.index)
            disputed = disputed or bool(rep and rep.disputed)
    changed = rated is not None and set(rated.active) != set(active_now)
    if held:
        return "held", reporters, k, pending, ""
    if disputed:
        return "disputed", reporters, k, pending, ""
    if rated is not None:
        return ("rated_changes_waiting", reporters, k, pending, rated.as_of) if changed \
            else ("rated", reporters, k, pending, "")
    if not reports:
        return "unrated", reporters, k, pending, ""
    if reporters < k:
        return "below_k", reporters, k, pending, ""
    return "unrated", reporters, k, pending, ""


def chart(history: list[record.RatingEvent], rules: RuleSet | None, width: int = 640,
          height: int = 240) -> Chart | None:
    """Score over time (each publication) with the grade bands of `rules`, as SVG geometry."""
    points = [h for h in history if h.kind == "published" and h.score is not None]
    if not points:
        return None
    top = rules.base_score if rules is not None else max(max(0, p.score or 0) for p in points)
    top = max(top, 1)
    pad = 30

    def y_of(score: int) -> float:
        return round(pad + (height - 2 * pad) * (1 - min(max(score, 0), top) / top), 1)

    days = [_dt.date.fromisoformat(p.as_of).toordinal() for p in points]
    span = max(1, days[-1] - days[0])
    out = []
    for i, (p, d) in enumerate(zip(points, days, strict=True)):
        x = pad + (width - 2 * pad) * ((d - days[0]) / span if len(points) > 1 and days[-1] > days[0]
                                       else (i / max(1, len(points) - 1) if len(points) > 1 else 0.5))
        out.append(ChartPoint(round(x, 1), y_of(p.score or 0), max(0, p.score or 0), p.grade, p.as_of, p.index))
    path = "M " + " L ".join(f"{p.x} {p.y}" for p in out)
    if len(out) == 1:
        path += f" L {out[0].x + 0.1} {out[0].y}"
    bands: list[Band] = []
    if rules is not None:
        edges = [(g, lo) for g, lo in rules.grades] + [("D", 0)]
        high = top
        for g, lo in edges:
            bands.append(Band(g, y_of(high), round(y_of(lo) - y_of(high), 1), lo, high))
            high = lo
    return Chart(width, height, out, path, bands, top, points[0].as_of, points[-1].as_of)


def subject_view(mirror: Mirror, snap: Snapshot, tag: bytes, today: _dt.date | None = None,
                 queries: Callable[[bytes], tuple[list[LoggedQuery] | None, str]] | None = None) -> SubjectView:
    day = today or _dt.datetime.now(_dt.UTC).date()
    hexed = tag.hex()
    rows = [snap.rows[i] for i in snap.by_subject.get(hexed, []) if i < snap.size]
    located = [record.Located(r.index, mirror.leaf(snap, r.index).entry, r.author) for r in rows]
    sets = rule_sets(snap.state)
    in_force = record.rules_in_force([r for _i, r in sets], day)
    reports = record.report_statuses(located, in_force, day)
    disputes = [(d, d.open and d.overdue(day)) for d in record.disputes_of(located)]
    history = record.rating_history(located)
    now_state, reporters, k, pending, since = _subject_state(snap.state, tag, snap.size, day)
    rated = state.rating_record(snap.state, tag)
    rating = None
    if rated is not None:
        rating = {"score": max(0, rated.score), "grade": rated.grade, "as_of": rated.as_of,
                  "rule_set": rated.rule_set_version, "index": rated.index, "reports": len(rated.active)}
    qs, note = (None, "") if queries is None else queries(tag)
    return SubjectView(hexed, now_state, rating, reporters, k, pending, since, reports, disputes, history,
                       chart(history, in_force), qs, note, rows)


# -- rule sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSetLine:
    version: str
    effective_from: str
    index: int
    in_force: bool
    k: int
    base_score: int
    grades: str


def rules_list(snap: Snapshot, today: _dt.date | None = None) -> list[RuleSetLine]:
    day = today or _dt.datetime.now(_dt.UTC).date()
    sets = rule_sets(snap.state)
    try:
        _rules, in_force = state.rules_in_force(snap.state, day)
    except NotFound:
        in_force = -1
    return [RuleSetLine(r.version, r.effective_from.isoformat(), i, i == in_force, r.k_reporters, r.base_score,
                        ", ".join(f"{g} ≥ {lo}" for g, lo in r.grades)) for i, r in sets]


@dataclass(frozen=True)
class DiffRow:
    op: str  # equal | replace | delete | insert
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def rules_diff(mirror: Mirror, snap: Snapshot, a: str, b: str) -> list[DiffRow]:
    """A side-by-side line diff of the canonical texts of rule set versions `a` and `b`,
    read from their verified RuleSetPublished entries."""
    texts = []
    for version in (a, b):
        rec = state.rule_set_record(snap.state, version)
        if rec is None:
            raise NotFound(f"rule set {version!r} is not on the ledger")
        body = mirror.leaf(snap, rec.index).entry.body
        assert isinstance(body, e.RuleSetPublished)
        texts.append(body.canonical_toml.splitlines())
    left, right = texts
    out: list[DiffRow] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            li, rj = i1 + k, j1 + k
            out.append(DiffRow(op, li + 1 if li < i2 else None, left[li] if li < i2 else "",
                               rj + 1 if rj < j2 else None, right[rj] if rj < j2 else ""))
    return out


# -- regulator desk --------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldSubject:
    subject: str
    held_index: int
    request_index: int
    investigation: int | None


@dataclass(frozen=True)
class Desk:
    open_disputes: list[tuple[record.Dispute, bool]]
    overdue: int
    held: list[HeldSubject]
    escrows: list[tuple[int, str, str, str]]
    faults: list[tuple[int, str, str]]
    membership: list[tuple[int, str, str, str, str]]


def desk(mirror: Mirror, snap: Snapshot, today: _dt.date | None = None) -> Desk:
    day = today or _dt.datetime.now(_dt.UTC).date()
    kinds = ("DisputeFiled", "DisputeResolved")
    indices = sorted(i for k in kinds for i in snap.by_kind.get(k, []))
    located = [record.Located(i, mirror.leaf(snap, i).entry, snap.rows[i].author) for i in indices]
    open_disputes = [(d, d.overdue(day)) for d in record.disputes_of(located) if d.open]
    held = []
    for i in snap.by_kind.get("RatingHeld", []):
        body = mirror.leaf(snap, i).entry.body
        assert isinstance(body, e.RatingHeld)
        newest = state.latest_request(snap.state, body.subject_tag)
        if newest is None or newest.answer is None or newest.answer.index != i:
            continue  # answered again since
        inv = [int(k.rsplit("/", 1)[1]) for k, _ in snap.state.scan(f"investigation/{body.subject_tag.hex()}/")]
        after = [x for x in inv if x > i]
        held.append(HeldSubject(body.subject_tag.hex(), i, body.request_index, after[0] if after else None))
    escrows = []
    for i in snap.by_kind.get("EscrowOpened", []):
        body = mirror.leaf(snap, i).entry.body
        assert isinstance(body, e.EscrowOpened)
        escrows.append((i, iso(snap.rows[i].timestamp_ms), body.report_id.hex(), body.reason))
    faults = []
    for i in snap.by_kind.get("OperatorFaulted", []):
        body = mirror.leaf(snap, i).entry.body
        assert isinstance(body, e.OperatorFaulted)
        faults.append((i, body.report_id.hex(), body.failure))
    membership = []
    for i in sorted(snap.by_kind.get("MemberAdmitted", []) + snap.by_kind.get("MemberRevoked", [])):
        body = mirror.leaf(snap, i).entry.body
        when = iso(snap.rows[i].timestamp_ms)
        if isinstance(body, e.MemberAdmitted):
            membership.append((i, when, "admitted", body.member_id, body.display_name))
        elif isinstance(body, e.MemberRevoked):
            membership.append((i, when, "revoked", body.member_id, body.reason))
    return Desk(open_disputes, sum(1 for _d, late in open_disputes if late), held, escrows, faults, membership)
