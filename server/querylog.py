"""The operator's query log: recording, hourly commitment, retention, proven reads (docs/queries.md).

Storage (side logs of the ledger store, not ledger entries):
- `queries`: every record in id order (ids 1, 2, 3...), the canonical bytes of
  `core.querylog.QueryRecord`. Commitments are computed from this stream.
- `queries/subject/<tag hex>` and `queries/<role>/<name>`: per-reader indexes, each row
  the 8-byte big-endian id of one record. Readers are always served the record from
  `queries` itself, so a committed record edited or deleted there fails the reader's check.
- `queries/leaves/<first id>`: the leaf hashes of one commitment, written once when it is
  committed, from which inclusion proofs are cut.

`commit` appends a QueryLogCommitted (operator-signed) for the records since the previous
one and then purges whatever is past retention, whole commitments at a time (a commitment
is purged once its newest record is older than 3 years; readers already stopped seeing
records at 2 years). The ledger entry, not this store, is the reference: a reader checks
every committed record against it, so an edited or dropped row shows as a failed proof.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import wire
from core import entries as e
from core import merkle, querylog, state
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.served import CosignedCheckpoint, QueryPage, Shown
from server.ledger import Ledger

log = logging.getLogger("candor.querylog")

STREAM = "queries"
PAGE = 1000
_ID = 8


def subject_stream(subject_tag: bytes) -> str:
    return f"{STREAM}/subject/{subject_tag.hex()}"


def reader_stream(role: str, name: str) -> str:
    return f"{STREAM}/{role}/{name}"


def leaves_stream(first_id: int) -> str:
    return f"{STREAM}/leaves/{first_id:020d}"


@dataclass(frozen=True)
class Scope:
    """What one reader may see: the index stream it reads, and an optional subject filter.

    `scope_for` is the one place that decides it; a new reader role is one more branch there.
    """

    stream: str
    subject_tag: bytes | None = None


def scope_for(role: str, name: str, subject_tag: bytes) -> Scope:
    """Readers: the regulator reads everyone's queries about the subject it names; a member
    reads only its own queries (never who else looked at a subject); an enrolled subject reads
    the queries about itself (its certificate binds its tag: `subject_stream(tag)`)."""
    if subject_tag and len(subject_tag) != 32:
        raise InvalidInput("subject tag must be 32 bytes (HMAC-SHA256 of the normalised subject id)")
    if role == "regulator":
        if not subject_tag:
            raise InvalidInput("name the subject whose query log you read (subject tag)")
        return Scope(subject_stream(subject_tag))
    if role == "member":
        return Scope(reader_stream(role, name), subject_tag or None)
    if role == "subject":  # `name` is the tag its enrolled certificate carries (server/service.py checks it)
        if subject_tag and subject_tag.hex() != name:
            raise PermissionDenied("a subject reads only the queries about itself; leave the subject tag empty")
        return Scope(subject_stream(bytes.fromhex(name)))
    raise PermissionDenied(f"the query log is read by the regulator or a member, not by a {role}")


class QueryLog:
    def __init__(self, ledger: Ledger, signing_key: Ed25519PrivateKey | None = None) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.signing_key = signing_key

    # -- recording ----------------------------------------------------------------------------

    def record(self, role: str, name: str, subject_tag: bytes, purpose: str, now_ms: int | None = None) -> int:
        """Log one query; return its record id."""
        at = int(time.time() * 1000) if now_ms is None else now_ms
        data = querylog.QueryRecord(subject_tag, role, name, purpose, at, os.urandom(querylog.SALT_BYTES)).encode()
        # One transaction: a record is never durable without its index rows, nor the reverse.
        # A subject looking at itself: its own reader stream is its subject stream (one index row).
        streams = list(dict.fromkeys([subject_stream(subject_tag), reader_stream(role, name)]))
        return self.store.append_log_indexed(STREAM, data, streams)

    # -- commitment and retention ---------------------------------------------------------

    def next_id(self) -> int:
        head = state.querylog_head(self.ledger.view)
        return 1 if head is None else head.next_id

    def commit(self, now_ms: int | None = None) -> int | None:
        """Append a QueryLogCommitted for every record since the previous one (None if there is
        none), then purge what is past retention. Returns the entry's ledger index."""
        if self.signing_key is None:
            raise PermissionDenied("only the operator commits the query log (no signing key here)")
        at = int(time.time() * 1000) if now_ms is None else now_ms
        first = self.next_id()
        records: list[bytes] = []
        while len(records) < e.MAX_QUERY_COMMIT:
            page = self.store.read_log(STREAM, first - 1 + len(records), min(PAGE, e.MAX_QUERY_COMMIT - len(records)))
            for rid, data in page:
                if rid != first + len(records):
                    raise InvalidInput(f"query log record {first + len(records)} is missing from the store "
                                       f"(found {rid}); the log cannot be committed")
                records.append(data)
            if len(page) < PAGE:
                break
        index: int | None = None
        if records:
            hashes = [merkle.leaf_hash(r) for r in records]
            # Every attempt stores its leaves: one that failed to append may have covered fewer
            # records than the one that lands, and _tree picks the blob of the right length.
            self.store.append_log(leaves_stream(first), b"".join(hashes))
            body = e.QueryLogCommitted(first, len(records), merkle.root(hashes))
            index = self.ledger.append(wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=at), self.signing_key))
            log.info("query log: committed records %d..%d at entry %d", first, first + len(records) - 1, index)
        self.purge(at)
        return index

    def purge(self, now_ms: int) -> int:
        """Delete every commitment whose newest record is past retention; return records purged."""
        purged = 0
        while True:
            oldest = self.store.read_log(STREAM, 0, 1)
            if not oldest:
                return purged
            found = self.store.scan(state.QUERYLOG_COMMIT, state.querylog_commit_key(oldest[0][0] - 1), 1)
            if not found:
                return purged  # the oldest record is not committed yet
            commitment = state.querylog_commitment(self.ledger.view, found[0][0])
            assert commitment is not None  # found under QUERYLOG_COMMIT
            last = commitment.first_id + commitment.count - 1
            newest = self.store.read_log(STREAM, last - 1, 1)
            if not newest or not querylog.expired(querylog.QueryRecord.decode(newest[0][1]).time_ms, now_ms):
                return purged
            readers: set[str] = set()
            after = oldest[0][0] - 1
            while after < last:
                page = self.store.read_log(STREAM, after, PAGE)
                for rid, data in page:
                    if rid <= last:
                        r = querylog.QueryRecord.decode(data)
                        readers.update((subject_stream(r.subject_tag), reader_stream(r.role, r.name)))
                after = page[-1][0] if page else last
            for stream in sorted(readers):
                self._purge_index(stream, last)
            purged += self.store.purge_log(STREAM, last)
            self.store.purge_log(leaves_stream(commitment.first_id), 2**62)
            log.info("query log: purged records through %d (past the retention period)", last)

    def _purge_index(self, stream: str, last_id: int) -> None:
        """Purge the rows of index `stream` that copy records up to `last_id` (its oldest rows)."""
        through = 0
        while True:
            page = self.store.read_log(stream, through, PAGE)
            # Only the prefix: concurrent queries may index in a slightly different order,
            # and a younger record must never go early.
            old = 0
            for index_id, row in page:
                if int.from_bytes(row[:_ID], "big") > last_id:
                    break
                through, old = index_id, old + 1
            if old < PAGE:
                break
        if through:
            self.store.purge_log(stream, through)

    # -- reading --------------------------------------------------------------------------

    def page(self, role: str, name: str, subject_tag: bytes, commitment: int, after: int,
             limit: int) -> QueryPage:
        """A page of the caller's view of the query log (at most PAGE records; `limit` 0:
        PAGE), or with `commitment` the regulator's audit of one commitment; every
        QueryLogCommitted it names proven against a cosigned checkpoint."""
        limit = min(limit or PAGE, PAGE)
        if commitment:
            shown, more = self.audit(role, commitment, after, limit)
        else:
            shown, more = self.read(scope_for(role, name, subject_tag), after, limit)
        head = state.querylog_head(self.ledger.view)
        indices = commitment_indices(shown, None if head is None else head.index)
        size = self.ledger.cosigned_size()
        if indices and indices[-1] >= size:
            size = self.ledger.wait_cosigned(indices[-1] + 1, timeout=10.0)
        checkpoint = CosignedCheckpoint(*self.ledger.checkpoint_with_cosignatures(size)) if size else None
        return QueryPage(tuple(shown), more, checkpoint, tuple(self.ledger.proven(i, size) for i in indices))

    def read(self, scope: Scope, after: int, limit: int, now_ms: int | None = None) -> tuple[list[Shown], int]:
        """Up to `limit` records of `scope` after cursor `after`, shown ones only, with proofs
        for committed ones; and the cursor of the next page (0: none)."""
        at = int(time.time() * 1000) if now_ms is None else now_ms
        page = self.store.read_log(scope.stream, after, limit)
        next_id = self.next_id()
        oldest = self.store.read_log(STREAM, 0, 1)
        purged_through = oldest[0][0] - 1 if oldest else next_id - 1
        trees: dict[int, tuple[int, merkle.MemoryTree]] = {}
        out: list[Shown] = []
        for _cursor, row in page:
            rid = int.from_bytes(row[:_ID], "big")
            if rid <= purged_through:
                continue  # past retention (an index row outlives its record only until the next purge)
            stored = self.store.read_log(STREAM, rid - 1, 1)
            # A missing record is served empty: the reader's check fails loudly, as it must.
            data = stored[0][1] if stored and stored[0][0] == rid else b""
            try:
                decoded: querylog.QueryRecord | None = querylog.QueryRecord.decode(data)
            except InvalidInput:
                decoded = None  # a damaged row is served as is: the reader's proof check will say so
            other_subject = scope.subject_tag is not None and decoded is not None \
                and decoded.subject_tag != scope.subject_tag
            if decoded is not None and (not querylog.shown(decoded, at) or other_subject):
                continue
            if rid >= next_id:
                out.append(Shown(rid, data, None, ()))
                continue
            found = self.store.scan(state.QUERYLOG_COMMIT, state.querylog_commit_key(rid - 1), 1)
            commitment = state.querylog_commitment(self.ledger.view, found[0][0])
            assert commitment is not None  # found under QUERYLOG_COMMIT
            first = commitment.first_id
            if first not in trees:
                trees[first] = (commitment.index, self._tree(first, commitment.count))
            index, tree = trees[first]
            proof = tree.inclusion_proof(rid - first) if rid - first < tree.size else []
            out.append(Shown(rid, data, index, tuple(proof)))
        more = page[-1][0] if len(page) == limit else 0
        return out, more

    def audit(self, role: str, index: int, after: int, limit: int) -> tuple[list[Shown], int]:
        """A page of every record of the QueryLogCommitted at ledger `index`, for the
        regulator's audit: the reader recomputes count and root over all of them, so a
        record dropped from the log (even from every index) shows. Proofs are not needed."""
        if role != "regulator":
            raise PermissionDenied("only the regulator audits a whole query log commitment: it names "
                                   "everyone's queries")
        if not 0 < index < self.store.size():
            raise NotFound(f"ledger entry {index} does not exist")
        body = wire.signed_entry_from_bytes(self.store.entry(index), check_canonical=False).entry.body
        if not isinstance(body, e.QueryLogCommitted):
            raise InvalidInput(f"ledger entry {index} is not a QueryLogCommitted")
        last = body.first_id + body.count - 1
        start = max(after, body.first_id - 1)
        oldest = self.store.read_log(STREAM, 0, 1)
        if not oldest or oldest[0][0] > body.first_id:
            raise NotFound(f"the records of entry {index} are past retention and purged")
        page = [] if start >= last else [
            (rid, data) for rid, data in self.store.read_log(STREAM, start, min(limit, last - start)) if rid <= last]
        shown = [Shown(rid, data, index, ()) for rid, data in page]
        more = page[-1][0] if page and page[-1][0] < last else 0
        return shown, more

    def _tree(self, first_id: int, count: int) -> merkle.MemoryTree:
        """The commitment's tree, from the leaf hashes stored when it was committed."""
        tree = merkle.MemoryTree()
        stored = self.store.read_log(leaves_stream(first_id), 0, PAGE)
        blob = next((b for _, b in reversed(stored) if len(b) == count * merkle.HASH_SIZE), b"")
        for at in range(0, len(blob), merkle.HASH_SIZE):
            tree.append_hash(blob[at:at + merkle.HASH_SIZE])
        return tree


def commitment_indices(shown: Sequence[Shown], head: int | None) -> list[int]:
    """The distinct ledger indices of the commitments `shown` names and of the latest one
    (`head`: a reader checks that what is called uncommitted comes after it), ascending."""
    named = {s.commitment for s in shown if s.commitment is not None}
    return sorted(named if head is None else named | {head})
