"""Verify a page of the query log against the ledger (docs/queries.md).

`verify_queries` takes what RatingService.ListQueries returned and the response's
checkpoint (already accepted: quorum-cosigned, consistent with the client's view) and checks
that every QueryLogCommitted it names is in that tree and signed by the operator, and that
every committed record opens its commitment's root by its inclusion proof
(`core.querylog.verify_committed`). A record the operator edited or dropped after committing
no longer verifies, and `VerificationError` is raised. Records not committed yet (the
operator commits at least hourly) come back marked `committed=False`: nothing binds them yet.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from api import wire
from api.v1 import rating_pb2
from core import entries as e
from core import merkle, querylog, state
from core.alliance import Alliance
from core.checkpoint import Checkpoint
from core.errors import CandorError, VerificationError


@dataclass(frozen=True)
class LoggedQuery:
    """One verified record: who asked (role, name), about which subject, why, when."""

    id: int
    subject_tag: str
    role: str
    name: str
    purpose: str
    time_ms: int
    committed: bool

    @property
    def time(self) -> str:
        return _dt.datetime.fromtimestamp(self.time_ms / 1000, tz=_dt.UTC).isoformat()


def _commitment(ally: Alliance, proven: rating_pb2.ProvenEntry, cp: Checkpoint) -> e.QueryLogCommitted:
    try:
        merkle.verify_inclusion(merkle.leaf_hash(proven.entry), proven.index, cp.size,
                                list(proven.inclusion_proof), cp.root_hash)
        signed = wire.signed_entry_from_bytes(proven.entry, check_canonical=False)
        if state.author_of(state.MemoryState(), ally, signed) != "operator":
            raise VerificationError("not signed by the operator")
    except CandorError as exc:
        raise VerificationError(f"query log commitment (entry {proven.index}) is not proven in the cosigned "
                                f"checkpoint: {exc}") from None
    body = signed.entry.body
    if not isinstance(body, e.QueryLogCommitted):
        raise VerificationError(f"entry {proven.index} is a {signed.entry.kind}, not a QueryLogCommitted")
    return body


def verify_queries(ally: Alliance, resp: rating_pb2.ListQueriesResponse,
                   cp: Checkpoint | None, now_ms: int) -> list[LoggedQuery]:
    """Every record of `resp`, verified as above; `cp` is the response's accepted checkpoint
    (None only when the response names no commitment).

    A record called uncommitted must come after every commitment the response proves (it
    always includes the latest one) and be younger than `UNCOMMITTED_MAX_MS` at `now_ms`;
    otherwise the operator is hiding an edited record behind "not yet committed".
    """
    commitments: dict[int, e.QueryLogCommitted] = {}
    for proven in resp.commitments:
        if cp is None or resp.checkpoint.size != cp.size:
            raise VerificationError("the query log commitments are proven against another checkpoint")
        commitments[proven.index] = _commitment(ally, proven, cp)
    committed_through = max((c.first_id + c.count - 1 for c in commitments.values()), default=0)
    out: list[LoggedQuery] = []
    for q in resp.queries:
        if q.commitment:
            c = commitments.get(q.commitment)
            if c is None:
                raise VerificationError(f"query record {q.id} names commitment entry {q.commitment}, "
                                        "which the response does not prove")
            record = querylog.verify_committed(q.record, q.id, c.first_id, c.count, c.root, q.inclusion_proof)
        else:
            try:
                record = querylog.QueryRecord.decode(q.record)
            except CandorError as exc:
                raise VerificationError(f"query record {q.id} is malformed: {exc}") from None
            if q.id <= committed_through:
                raise VerificationError(f"query record {q.id} is called uncommitted, but the operator committed "
                                        f"records up to {committed_through}")
            if now_ms - record.time_ms > querylog.UNCOMMITTED_MAX_MS:
                raise VerificationError(f"query record {q.id} is still uncommitted "
                                        f"{(now_ms - record.time_ms) // 60000} minutes after the query; the "
                                        "operator must commit at least hourly")
        out.append(LoggedQuery(q.id, record.subject_tag.hex(), record.role, record.name, record.purpose,
                               record.time_ms, bool(q.commitment)))
    return out


def verify_whole_commitment(ally: Alliance, pages: list[rating_pb2.ListQueriesResponse],
                            cp: Checkpoint, index: int) -> list[LoggedQuery]:
    """The regulator's audit of the QueryLogCommitted at ledger `index`: `pages` hold every
    record it covers. Checks the commitment is proven in `cp`, the first page's accepted
    checkpoint, and that the records are exactly ids first_id .. first_id + count - 1 and hash
    to its root, so a record dropped from the log, even from every index, is caught."""
    proven = [c for c in pages[0].commitments if c.index == index]
    if not proven or pages[0].checkpoint.size != cp.size:
        raise VerificationError(f"the audit of entry {index} does not prove that commitment in the accepted checkpoint")
    c = _commitment(ally, proven[0], cp)
    records = [q for p in pages for q in p.queries]
    ids = [q.id for q in records]
    expected = list(range(c.first_id, c.first_id + c.count))
    if ids != expected:
        missing = sorted(set(expected) - set(ids))[:5]
        raise VerificationError(f"commitment {index} covers {c.count} records ({c.first_id}..{expected[-1]}); "
                                f"the operator served {len(ids)} (missing e.g. {missing})")
    if querylog.commitment_root([q.record for q in records]) != c.root:
        raise VerificationError(f"the records served for commitment {index} do not hash to its root: "
                                "the operator changed at least one")
    out = []
    for q in records:
        r = querylog.QueryRecord.decode(q.record)
        out.append(LoggedQuery(q.id, r.subject_tag.hex(), r.role, r.name, r.purpose, r.time_ms, True))
    return out
