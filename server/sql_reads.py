"""The read side and lifecycle shared by the SQL stores (SQLite and PostgreSQL).

Both stores keep the same tables (entries, nodes, state, checkpoints, cosignatures, logs)
and answer reads with the same queries; only the parameter marker and the connection
handling differ. A subclass provides `_use()` (a connection for reads, translating driver
errors) and `_size(conn)`, sets `MARK`, keeps its own writes and batched node reads, and
records every connection it opens in `_connections` (under `_registry_lock`) so that
`close()` can close them all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self

from core.errors import InvalidInput, NotFound
from server.storage import (
    NodeKey,
    check_index,
    check_level,
    check_limit,
    check_name,
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


class SqlReads:
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

    def _size(self, conn: Any) -> int:
        raise NotImplementedError

    def _read_nodes(self, conn: Any, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
        raise NotImplementedError

    def _q(self, query: str) -> str:
        return query if self.MARK == "?" else query.replace("?", self.MARK)

    def entry(self, index: int) -> bytes:
        check_index(index, "index")
        with self._use() as conn:
            row = conn.execute(self._q("SELECT data FROM entries WHERE idx = ?"), (index,)).fetchone()
            if row is None:
                raise NotFound(f"no ledger entry at index {index}; the ledger has "
                               f"{self._size(conn)} entries")
        return as_bytes(row[0])

    def entries(self, start: int, end: int) -> list[bytes]:
        check_index(start, "start")
        check_index(end, "end")
        if start > end:
            raise InvalidInput(f"start {start} is after end {end}; expected start <= end")
        with self._use() as conn:
            rows = conn.execute(self._q("SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"),
                                (start, end)).fetchall()
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
