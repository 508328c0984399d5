"""What the operator serves its readers, as plain domain objects: ledger entries with their
inclusion proofs at one witness-cosigned checkpoint, a subject's rating state
(docs/ratings.md, "GetRating") and a page of the query log (docs/queries.md).

The server builds them (`server.ratings`, `server.querylog`); `api.wire` alone turns them
into protobuf; the reader re-checks every one of them against the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProvenEntry:
    """A ledger entry (its exact leaf bytes) with its inclusion proof in the tree of `size`."""

    index: int
    entry: bytes
    inclusion_proof: tuple[bytes, ...]


@dataclass(frozen=True)
class CosignedCheckpoint:
    """The operator's checkpoint note for `size` with every witness cosignature appended."""

    size: int
    note: bytes


@dataclass(frozen=True)
class RatingState:
    """A subject's rating as served: `state` is one of docs/ratings.md's states; every proven
    entry is against `checkpoint`. `commitments_xy` are the active reports' commitments
    uncompressed (x ‖ y), a decoding hint the reader checks against the proven leaves."""

    checkpoint: CosignedCheckpoint
    state: str
    rated: bool = False
    k: int = 0
    reporters: int = 0
    pending_reports: int = 0
    waiting_since: str = ""
    rating: ProvenEntry | None = None
    request: ProvenEntry | None = None
    rule_set: ProvenEntry | None = None
    held: ProvenEntry | None = None
    reports: tuple[ProvenEntry, ...] = ()
    commitments_xy: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Shown:
    """One query log record as served: its id and bytes, and the commitment holding it (None:
    not yet committed) with the record's inclusion proof in that commitment."""

    id: int
    record: bytes
    commitment: int | None
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class QueryPage:
    """A page of a reader's view of the query log, with every QueryLogCommitted it names
    proven against `checkpoint` (None before the first cosigned checkpoint). `next_after`
    is the cursor of the next page, 0 after the last."""

    records: tuple[Shown, ...]
    next_after: int
    checkpoint: CosignedCheckpoint | None = None
    commitments: tuple[ProvenEntry, ...] = field(default=())
