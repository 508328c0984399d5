"""Serving a rating (docs/ratings.md, "GetRating"): who may read which subject, the logged
query, and the subject's state with what proves it. `RatingService.GetRating` only decodes,
calls `read_rating` and encodes (`api.wire.rating_to_proto`).
"""

from __future__ import annotations

import datetime as _dt
import functools

from core import state
from core.errors import InvalidInput, NotFound, PermissionDenied, Unavailable
from core.querylog import check_purpose
from core.served import CosignedCheckpoint, ProvenEntry, RatingState
from server.ledger import Ledger
from server.querylog import QueryLog


def read_rating(ledger: Ledger, queries: QueryLog, name: str, role: str, tag: bytes, purpose: str) -> RatingState:
    """The rating of subject `tag` for caller (`name`, `role`), the query logged first."""
    check_purpose(purpose, role)
    if role == "subject" and (tag.hex() != name or purpose != "self"):
        raise PermissionDenied("a subject reads only its own rating, with purpose self (`candor subject record`)")
    if len(tag) != 32:
        raise InvalidInput("subject tag must be 32 bytes (HMAC-SHA256 of the normalised subject id)")
    queries.record(role, name, tag, purpose)
    return rating_state(ledger, tag)


def rating_state(ledger: Ledger, tag: bytes) -> RatingState:
    """The subject's state (docs/ratings.md, "GetRating") with what proves it."""
    view = ledger.view
    record = state.rating_record(view, tag)
    newest = state.latest_request(view, tag)
    answer = None if newest is None else newest.answer
    held = answer.index if answer is not None and answer.kind == "held" else None
    last = max([record.index if record else 0, held or 0, newest.index if newest else 0])
    size = ledger.cosigned_size()
    if last and last >= size:
        size = ledger.wait_cosigned(last + 1, timeout=10.0)
    if size == 0:
        raise Unavailable(f"no witness-cosigned checkpoint yet; {ledger.quorum_gap()}")
    checkpoint = CosignedCheckpoint(*ledger.checkpoint_with_cosignatures(size))
    today = _dt.datetime.now(_dt.timezone.utc).date()
    reports = state.subject_reports(view, tag)
    k = 0
    try:
        rules, _prev, _reports, active_now = state.rating_inputs(view, tag, ledger.store.size(), today)
        k = rules.k_reporters
    except NotFound:
        active_now = ()
    links = {r.index: r.link_tag for r in reports}
    commitments = {r.index: r.commitment for r in reports}
    reporters = len({links[i] for i, _ in active_now})
    rating = request = rule_set = None
    proven: list[ProvenEntry] = []
    xy: list[bytes] = []
    if record is not None:
        rating = ledger.proven(record.index, size)
        request = ledger.proven(record.request, size)
        rules_record = state.rule_set_record(view, record.rule_set_version)
        assert rules_record is not None  # a rating names a published rule set (core.state)
        rule_set = ledger.proven(rules_record.index, size)
        for index, _w in record.active:
            proven.append(ledger.proven(index, size))
            xy.append(_commitment_xy(commitments[index]))
    pending = len({i for i, _ in active_now} - {p.index for p in proven})
    counted = {i for i, _ in record.active} if record is not None else set()
    counted |= {i for i, _ in active_now}
    disputed = any(rec is not None and rec.disputed
                   for rec in (state.report_at(view, tag, r.index) for r in reports if r.index in counted))
    changed = record is not None and set(record.active) != set(active_now)
    if held is not None:
        label = "held"
    elif disputed:
        label = "disputed"
    elif record is not None:
        label = "rated_changes_waiting" if changed else "rated"
    elif reports and reporters < k:
        label = "below_k"
    else:
        label = "unrated"
    shown = held is None  # a held rating shows no active set
    return RatingState(
        checkpoint, label, rated=record is not None and shown, k=k, reporters=reporters, pending_reports=pending,
        waiting_since=record.as_of if record is not None and label == "rated_changes_waiting" else "",
        rating=rating, request=request, rule_set=rule_set,
        held=None if held is None else ledger.proven(held, size),
        reports=tuple(proven) if shown else (), commitments_xy=tuple(xy) if shown else ())


@functools.lru_cache(maxsize=1 << 16)
def _commitment_xy(commitment: bytes) -> bytes:
    """A report's commitment uncompressed (x ‖ y), sent with GetRating as a decoding hint:
    the client checks it against the proven leaf and skips a square root per report
    (client/ratings.py). Cached: a subject's reports are asked about again and again."""
    from core.group import default_group

    group = default_group()
    return group.encode_xy(group.decode_unchecked(commitment))
