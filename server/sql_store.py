"""The reads, side logs and lifecycle shared by the SQL stores (SQLite and PostgreSQL).

Both stores keep the same tables (entries, nodes, state, checkpoints, cosignatures, logs,
log_heads) and answer reads and side-log writes with the same queries; only the parameter
marker and the connection handling differ. A subclass provides `_use()` (a connection for
reads, translating driver errors), `_write()` (the same inside one write transaction),
`_size(conn)` and `_size_for_append(conn)`, sets `MARK`, keeps its own ledger and checkpoint
writes (using the shared checks `_check_head` and `_refuse_rewritten_nodes`) and batched node
reads, and records every connection it opens in `_connections` (under `_registry_lock`) so
that `close()` can close them all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

from core.errors import Conflict, InvalidInput, NotFound
from server.storage import (
    STATE_CHUNK,
    NodeKey,
    NodeWrite,
    check_bytes,
    check_index,
    check_index_streams,
    check_level,
    check_limit,
    check_name,
    check_names,
    check_node_keys,
    prefix_upper_bound,
)


def as_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected an integer column, got {type(value).__name__}")


def as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected a binary column, got {type(value).__name__}")


class SqlStore:
    MARK = "?"
    """The driver's parameter marker; queries below are written with '?'."""

    _closed: bool
    _registry_lock: threading.Lock
    _connections: list[Any]

    def close(self) -> None:
        """Close every connection; afterwards each method raises Unavailable."""
        self._closed = True
        with self._registry_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _use(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _size(self, conn: Any) -> int:
        raise NotImplementedError

    def _size_for_append(self, conn: Any) -> int:
        """The ledger size inside the write transaction, under the lock that serialises appenders."""
        raise NotImplementedError

    def _read_nodes(self, conn: Any, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
        raise NotImplementedError

    # -- checks of a ledger append, inside its write transaction ---------------------------

    def _check_head(self, conn: Any, first: int) -> None:
        """Conflict unless the ledger has exactly `first` entries: the compare of the compare-and-append."""
        size = self._size_for_append(conn)
        if size != first:
            raise Conflict(f"batch starts at index {first} but the ledger has {size} "
                           "entries; re-read the ledger head and rebuild the batch")

    def _refuse_rewritten_nodes(self, conn: Any, nodes: Sequence[NodeWrite]) -> None:
        """After an insert that skipped nodes already stored: Conflict if any stored hash differs."""
        stored = self._read_nodes(conn, [(level, index) for level, index, _ in nodes])
        for level, index, digest in nodes:
            if stored.get((level, index)) != digest:
                raise Conflict(f"Merkle node (level {level}, index {index}) is already stored "
                               "with a different hash; nodes are never overwritten (the tree "
                               "computation disagrees with the stored tree)")

    def _q(self, query: str) -> str:
        return query if self.MARK == "?" else query.replace("?", self.MARK)

    def _blobs(self, conn: Any, query: str, params: Sequence[object]) -> list[Any]:
        """The rows of a query whose results are mostly large blobs (ledger entries). A
        backend whose driver can fetch them in binary rather than as hex text overrides this."""
        rows: list[Any] = conn.execute(self._q(query), params).fetchall()
        return rows

    def entry(self, index: int) -> bytes:
        check_index(index, "index")
        with self._use() as conn:
            rows = self._blobs(conn, "SELECT data FROM entries WHERE idx = ?", (index,))
            if not rows:
                raise NotFound(f"no ledger entry at index {index}; the ledger has "
                               f"{self._size(conn)} entries")
        return as_bytes(rows[0][0])

    def entries(self, start: int, end: int) -> list[bytes]:
        check_index(start, "start")
        check_index(end, "end")
        if start > end:
            raise InvalidInput(f"start {start} is after end {end}; expected start <= end")
        with self._use() as conn:
            rows = self._blobs(conn, "SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end))
        return [as_bytes(r[0]) for r in rows]

    def node(self, level: int, index: int) -> bytes:
        check_level(level)
        check_index(index, "node index")
        with self._use() as conn:
            row = conn.execute(self._q("SELECT hash FROM nodes WHERE level = ? AND idx = ?"),
                               (level, index)).fetchone()
        if row is None:
            raise NotFound(f"no Merkle node at level {level} index {index}; that subtree is "
                           "not complete yet")
        return as_bytes(row[0])

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        wanted = check_node_keys(keys)
        with self._use() as conn:
            return self._read_nodes(conn, wanted)

    def get(self, key: str) -> bytes | None:
        check_name(key, "key")
        with self._use() as conn:
            row = conn.execute(self._q("SELECT value FROM state WHERE key = ?"), (key,)).fetchone()
        return None if row is None else as_bytes(row[0])

    def values(self, keys: Sequence[str]) -> dict[str, bytes]:
        wanted = check_names(keys)
        found: dict[str, bytes] = {}
        with self._use() as conn:
            for at in range(0, len(wanted), STATE_CHUNK):
                chunk = wanted[at:at + STATE_CHUNK]
                marks = ", ".join("?" for _ in chunk)
                rows = conn.execute(self._q(f"SELECT key, value FROM state WHERE key IN ({marks})"), chunk).fetchall()
                found.update((str(k), as_bytes(v)) for k, v in rows)
        return found

    def scan(self, prefix: str, after: str = "", limit: int = 1000) -> list[tuple[str, bytes]]:
        check_name(prefix, "prefix", allow_empty=True)
        check_name(after, "after", allow_empty=True)
        check_limit(limit)
        bound = prefix_upper_bound(prefix)
        query = "SELECT key, value FROM state WHERE key >= ? AND key > ?"
        params: list[object] = [prefix, after]
        if bound is not None:
            query += " AND key < ?"
            params.append(bound)
        query += " ORDER BY key LIMIT ?"
        params.append(limit)
        with self._use() as conn:
            rows = conn.execute(self._q(query), params).fetchall()
        return [(str(k), as_bytes(v)) for k, v in rows]

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        with self._use() as conn:
            row = conn.execute("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return None if row is None else (as_int(row[0]), as_bytes(row[1]))

    def checkpoint(self, size: int) -> bytes:
        check_index(size, "checkpoint size")
        with self._use() as conn:
            row = conn.execute(self._q("SELECT note FROM checkpoints WHERE size = ?"), (size,)).fetchone()
        if row is None:
            raise NotFound(f"no checkpoint stored for tree size {size}")
        return as_bytes(row[0])

    def cosignatures(self, size: int) -> dict[str, bytes]:
        check_index(size, "checkpoint size")
        with self._use() as conn:
            rows = conn.execute(self._q("SELECT witness, line FROM cosignatures WHERE size = ? ORDER BY witness"),
                                (size,)).fetchall()
        return {str(w): as_bytes(line) for w, line in rows}

    def read_log(self, stream: str, after_id: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        check_name(stream, "stream")
        check_index(after_id, "after_id")
        check_limit(limit)
        with self._use() as conn:
            rows = conn.execute(self._q("SELECT id, record FROM logs WHERE stream = ? AND id > ? ORDER BY id LIMIT ?"),
                                (stream, after_id, limit)).fetchall()
        return [(as_int(i), as_bytes(r)) for i, r in rows]

    # -- side logs -------------------------------------------------------------------------

    def append_log(self, stream: str, record: bytes) -> int:
        check_name(stream, "stream")
        check_bytes(record, "log record")
        with self._write() as conn:
            return self._append_log(conn, stream, record)

    def append_log_indexed(self, stream: str, record: bytes, index_streams: Sequence[str]) -> int:
        check_name(stream, "stream")
        check_bytes(record, "log record")
        indexes = check_index_streams(stream, index_streams)
        with self._write() as conn:
            # Head rows are locked main stream first, then indexes in sorted order: no deadlock.
            new_id = self._append_log(conn, stream, record)
            for index in indexes:
                self._append_log(conn, index, new_id.to_bytes(8, "big"))
        return new_id

    def _append_log(self, conn: Any, stream: str, record: bytes) -> int:
        """Store `record` under `stream`'s next id, inside the caller's write transaction.

        The increment locks the stream's head row until commit (SQLite: the whole file, taken
        by BEGIN IMMEDIATE), so ids are race-free and handed out in commit order.
        """
        row = conn.execute(self._q(
            "INSERT INTO log_heads (stream, last_id) VALUES (?, 1)"
            " ON CONFLICT (stream) DO UPDATE SET last_id = log_heads.last_id + 1"
            " RETURNING last_id"), (stream,)).fetchone()
        new_id = as_int(row[0])
        conn.execute(self._q("INSERT INTO logs (stream, id, record) VALUES (?, ?, ?)"), (stream, new_id, record))
        return new_id

    def purge_log(self, stream: str, through_id: int) -> int:
        check_name(stream, "stream")
        check_index(through_id, "through_id")
        with self._write() as conn:
            # log_heads keeps the last id, so a purged id is never handed out again.
            return int(conn.execute(self._q("DELETE FROM logs WHERE stream = ? AND id <= ?"),
                                    (stream, through_id)).rowcount)
