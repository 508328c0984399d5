"""SQLite implementation of `server.storage.LedgerStore`, the embedded default (docs/architecture.md).

Durability and concurrency come from SQLite itself (https://sqlite.org/wal.html,
https://sqlite.org/lang_transaction.html):

* WAL journal with `synchronous=FULL`: a commit is fsynced before `commit()` returns, and
  readers never block the writer. Group commit pays: one transaction per batch, rows written
  with `executemany` (docs/performance.md: 100 rows per FULL transaction run at ~90k rows/s, one row
  per transaction at 4.4k/s).
* 16 KiB pages (`PAGE_SIZE`), set when the file is created: a report's leaf is 3 to 5 KB
  (rings of 3 to 20), so a 4 KiB page holds at most one leaf and each leaf costs a page
  write (and a WAL frame) of its own; 16 KiB pages hold three or four. A batch of reports
  commits in 28 µs a report instead of 46 (docs/performance.md, "An eighth box"). A file
  made with other pages keeps them (SQLite changes a WAL database's page size only by a
  rebuild), which is safe, only slower.
* Checkpoints off the commit path: a store that appends batches copies the WAL back into
  the database file on a thread of its own (`_WalCheckpointer`), and its connections leave
  that to a commit only past `WAL_BACKSTOP_PAGES` pages of WAL instead of SQLite's 1,000.
* `BEGIN IMMEDIATE` takes the database's single write lock at the start of every write, so
  writers from several threads *and processes* serialise, and the ledger-size check made
  inside that transaction cannot be raced. `busy_timeout` makes a waiting writer queue rather
  than fail; if it waits too long it gets `Unavailable`.
* The schema itself refuses a fork or a rewrite, independently of this module's Python check:
  the entry index is the primary key, a trigger rejects any entry not at MAX(idx)+1, and
  triggers reject UPDATE/DELETE on entries and Merkle nodes.

Threads: each thread gets its own connection (sqlite3 connections are not meant to be
shared). ":memory:" is the exception: a private in-memory database exists only inside one
connection, so that single connection is shared under a lock.

Schema: numbered migrations in server/sqlite_migrations.py, applied when a store opens.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count

from core.errors import CandorError, Conflict, InvalidInput, Unavailable
from server.sql_store import SqlStore
from server.sqlite_migrations import migrate
from server.storage import (
    AppendBatch,
    NodeKey,
    NodeWrite,
    check_batch,
    check_bytes,
    check_index,
    check_name,
    checkpoint_conflict,
    latest_state,
    no_checkpoint_to_cosign,
)

__all__ = ["SQLiteStore"]

log = logging.getLogger("candor.store")

_BUSY_TIMEOUT_MS = 10_000
#: WAL pages past which a committing connection copies the WAL back into the database file
#: itself: a backstop, for when the store's own checkpointer (`_WalCheckpointer`) falls behind
#: or does not run (a store that never appends a batch). SQLite's default is 1,000.
WAL_BACKSTOP_PAGES = 16_384
#: How long the checkpointer gathers commits before it copies their pages back.
CHECKPOINT_DELAY_S = 0.05
#: The page size of a new database file (module docstring).
PAGE_SIZE = 16384
#: Keys per batched node read: a proof over 2**63 leaves needs < 130 keys, so one query.
_NODE_CHUNK = 256


def nodes_query(count: int) -> str:
    """SELECT of `count` (level, idx) nodes, one primary-key lookup each.

    A row-value `WHERE (level, idx) IN (VALUES ...)` makes SQLite 3.40 scan the whole
    nodes table (173 ms at 10^6 entries); joining the VALUES list to nodes, with CROSS JOIN
    fixing the loop order, searches the primary key once per key.
    """
    values = ",".join("(?, ?)" for _ in range(count))
    return (f"SELECT n.level, n.idx, n.hash FROM (VALUES {values}) AS k "
            "CROSS JOIN nodes AS n ON n.level = k.column1 AND n.idx = k.column2")


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writers(path: str) -> threading.RLock:
    """The lock this process's writers to the database file at `path` queue on (`_write`);
    one per file, whichever `SQLiteStore` objects opened it (a private ":memory:" database
    gets one of its own). Reentrant: a thread never waits on itself."""
    if path == ":memory:":
        return threading.RLock()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(os.path.realpath(path), threading.RLock())


class SQLiteStore(SqlStore):
    """A `LedgerStore` in one SQLite file (or a private in-memory database for ":memory:").

    Opening creates the file if needed and applies pending migrations. Several SQLiteStore
    objects, in this or other processes, may open the same file at once.
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 busy_timeout_ms: int = _BUSY_TIMEOUT_MS) -> None:
        self._path = os.fspath(path)
        if not self._path:
            raise InvalidInput("sqlite path is empty; give a file path or ':memory:'")
        self._memory = self._path == ":memory:"
        self._busy_timeout_ms = check_index(busy_timeout_ms, "busy_timeout_ms")
        self._closed = False
        self._registry_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._local = threading.local()
        # Only used for ":memory:", where all threads share one connection.
        self._shared_lock = threading.RLock()
        self._writers = _writers(self._path)
        self._checkpointer: _WalCheckpointer | None = None  # started by the first batch appended
        first = self._connect()
        self._shared = first
        self._local.conn = first
        try:
            migrate(first)
        except sqlite3.Error as exc:
            self.close()
            raise Unavailable(f"database unavailable: cannot migrate {self._path!r}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- connections -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False
            # only so close() may close other threads' connections; each is used by one thread.
            conn = sqlite3.connect(self._path, timeout=self._busy_timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise Unavailable(f"database unavailable: cannot open {self._path!r}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op once the file has pages
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if not self._memory and str(mode).lower() != "wal":
                raise Unavailable(f"database unavailable: {self._path!r} refused WAL mode "
                                  f"(journal_mode={mode}); use a local filesystem")
            # FULL: in WAL mode NORMAL may lose the last commits on power loss; an
            # acknowledged report must never be lost.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}")
        except BaseException:
            conn.close()
            raise
        with self._registry_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, with sqlite3 errors mapped onto the Candor error tree."""
        if self._closed:
            raise Unavailable("ledger store is closed; open it again")
        try:
            if self._memory:
                with self._shared_lock:
                    yield self._shared
            else:
                conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
                if conn is None:
                    conn = self._connect()
                    self._local.conn = conn
                yield conn
        except CandorError:
            raise
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"database refused the write: {exc}") from exc
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise Unavailable(f"database busy: another writer holds the write lock (waited "
                                  f"up to {self._busy_timeout_ms} ms); retry") from exc
            raise Unavailable(f"database unavailable: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE write transaction: committed on success, rolled back on any error.

        This process's writers to the file queue on `_writers` first, so that they take
        SQLite's write lock one after another instead of finding it held: a writer that
        finds it held backs off in SQLite's busy handler, sleeping 1, 2, 5, 10 ms and more
        between attempts, so a checkpoint written during a batch's commit waited 7 to 28 ms
        and a batch that met a checkpoint's lock slept at least 1 ms (docs/performance.md,
        "A tenth box"). Writers in other processes still meet the busy handler."""
        if not self._writers.acquire(timeout=self._busy_timeout_ms / 1000):
            raise Unavailable(f"database busy: another thread of this process held the write lock for "
                              f"{self._busy_timeout_ms} ms; retry")
        try:
            with self._use() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        finally:
            self._writers.release()

    # -- ledger ----------------------------------------------------------------------------

    @staticmethod
    def _size(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
        return int(row[0])

    def _size_for_append(self, conn: sqlite3.Connection) -> int:
        """The ledger size as seen inside the write transaction (BEGIN IMMEDIATE holds the lock)."""
        return self._size(conn)

    def size(self) -> int:
        with self._use() as conn:
            return self._size(conn)

    def commit(self, batch: AppendBatch) -> None:
        check_batch(batch)
        deletes, upserts = latest_state(batch.state)
        first = batch.first_index
        with self._write() as conn:
            self._check_head(conn, first)
            try:
                conn.executemany("INSERT INTO entries (idx, data) VALUES (?, ?)",
                                 zip(count(first), batch.entries))
            except sqlite3.IntegrityError as exc:
                # Reached only if the check above was bypassed: the schema is the last line.
                raise Conflict(f"another writer already appended at index {first}; re-read "
                               f"the ledger head and rebuild the batch ({exc})") from exc
            self._write_nodes(conn, batch.nodes)
            self._write_state(conn, deletes, upserts)
        checkpointer = self._wal_checkpointer()
        if checkpointer is not None:
            checkpointer.committed()

    def _wal_checkpointer(self) -> _WalCheckpointer | None:
        """This store's checkpointer, started by the first batch appended (None for a private
        in-memory database, which has no WAL, or once the store is closed)."""
        if self._checkpointer is None and not self._memory:
            with self._registry_lock:
                if self._checkpointer is None and not self._closed:
                    self._checkpointer = _WalCheckpointer(self)
        return self._checkpointer

    def close(self) -> None:
        """Stop the WAL checkpointer, then close every connection."""
        with self._registry_lock:
            checkpointer, self._checkpointer = self._checkpointer, None
            self._closed = True  # no checkpointer starts after this
        if checkpointer is not None:
            checkpointer.close()
        super().close()

    def _write_nodes(self, conn: sqlite3.Connection, nodes: Sequence[NodeWrite]) -> None:
        if not nodes:
            return
        cur = conn.executemany(
            "INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)"
            " ON CONFLICT (level, idx) DO NOTHING", nodes)
        if cur.rowcount == len(nodes):
            return
        self._refuse_rewritten_nodes(conn, nodes)

    def _write_state(self, conn: sqlite3.Connection, deletes: list[str],
                     upserts: list[tuple[str, bytes]]) -> None:
        if deletes:
            conn.executemany("DELETE FROM state WHERE key = ?", [(k,) for k in deletes])
        if upserts:
            conn.executemany(
                "INSERT INTO state (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", upserts)

    @staticmethod
    def _read_nodes(conn: sqlite3.Connection, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        for at in range(0, len(keys), _NODE_CHUNK):
            chunk = keys[at:at + _NODE_CHUNK]
            params = [v for key in chunk for v in key]
            rows = conn.execute(nodes_query(len(chunk)), params).fetchall()
            for level, index, digest in rows:
                found[(int(level), int(index))] = bytes(digest)
        return found

    # -- checkpoints (reads and side logs: server/sql_store.py) -----------------------------

    def put_checkpoint(self, size: int, note: bytes) -> None:
        check_index(size, "checkpoint size")
        check_bytes(note, "checkpoint note", allow_empty=False)
        with self._write() as conn:
            row = conn.execute("SELECT note FROM checkpoints WHERE size = ?", (size,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO checkpoints (size, note) VALUES (?, ?)", (size, note))
            elif bytes(row[0]) != note:
                raise checkpoint_conflict(size)

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        check_index(size, "checkpoint size")
        check_name(witness, "witness")
        check_bytes(line, "cosignature line", allow_empty=False)
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO cosignatures (size, witness, line) VALUES (?, ?, ?)"
                    " ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line",
                    (size, witness, line))
            except sqlite3.IntegrityError as exc:
                raise no_checkpoint_to_cosign(size) from exc

    # -- lifecycle -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"


class _WalCheckpointer:
    """Copies committed WAL frames back into the database file on a thread of its own
    (`PRAGMA wal_checkpoint(PASSIVE)`, which waits for no reader or writer), a moment after
    batches are appended, so that the sequencer's commits do not.

    SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000
    pages. A report's state rows land at random keys, so on a ledger of 300,000 reports
    every batch touched about a thousand pages of the state index, each batch's commit ran
    a checkpoint, and it was half of the commit's 62 µs a report (docs/performance.md, "A
    twelfth box"). Writers still checkpoint past `WAL_BACKSTOP_PAGES`, should this thread
    fall behind or fail. A checkpoint only moves committed data from one file to the
    other: what a commit made durable stays so."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="candor-wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        failures = 0
        while True:
            self._wake.wait()
            if self._stop.wait(CHECKPOINT_DELAY_S):  # gather a few batches' pages
                return
            self._wake.clear()
            try:
                with self._store._use() as conn:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - logged; commits checkpoint past the backstop meanwhile
                if self._stop.is_set():
                    return  # the store closed under it
                failures += 1
                if failures == 1:
                    log.warning("copying the WAL back into the database failed (%s); commits do it themselves "
                                "past %d pages until this works again", exc, WAL_BACKSTOP_PAGES)
                if self._stop.wait(min(5.0, 0.1 * 2 ** failures)):
                    return
