"""PostgreSQL implementation of `server.storage.LedgerStore`, for several servers over one database.

docs/architecture.md: "PostgreSQL for a deployment of several stateless servers over one database".
Any number of operator processes may append concurrently; PostgreSQL decides who wins:

* Every ledger append runs in one transaction that first takes a transaction-scoped advisory
  lock (`pg_advisory_xact_lock`, https://www.postgresql.org/docs/current/explicit-locking.html
  #ADVISORY-LOCKS) keyed on the schema, then reads the size and compares it with
  `first_index`. Appenders therefore queue; readers are never blocked.
* Independently of that check the schema refuses a fork: the entry index is the primary key
  (two transactions inserting one index: the second fails on the unique index), a statement
  trigger rejects any insert that is not contiguous with the existing entries, and triggers
  reject UPDATE, DELETE and TRUNCATE of entries and Merkle nodes.
* Commits are durable with PostgreSQL's default `synchronous_commit = on`.
* A lost connection (`psycopg.OperationalError`) becomes `Unavailable("database unreachable:
  ...")`; the transaction it interrupted was never committed, so nothing is half-written, and
  the next call from that thread reconnects.

Bulk writes send arrays and `unnest` them: one round trip per table per batch whatever its
size. Each thread gets its own connection (autocommit; explicit transactions for writes).

All tables live in one schema (default "candor"), set as the connection's search_path, so
tests and tenants can be isolated by schema; its migrations are in server/postgres_migrations.py.

Several servers, one ledger: the intake queue, the sequencer lease and notifications are
in server/postgres_intake.py (`IntakeQueue`, mixed into this store).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import count
from typing import Any

import psycopg
from psycopg import sql

from core.errors import Conflict, InvalidInput, Unavailable
from server.postgres_connection import Conn, copy_rows, first_line, has_input, mapped
from server.postgres_intake import IntakeQueue
from server.postgres_migrations import check_current, check_schema, lock_key, migrate
from server.sql_store import SqlStore, as_bytes, as_int
from server.storage import (
    AppendBatch,
    NodeKey,
    NodeWrite,
    check_batch,
    check_bytes,
    check_index,
    check_name,
    check_names,
    checkpoint_conflict,
    latest_state,
    no_checkpoint_to_cosign,
)

__all__ = ["PostgresStore"]


class PostgresStore(SqlStore, IntakeQueue):
    """A `LedgerStore` in schema `schema` of the PostgreSQL database at `url`.

    Opening creates the schema if needed and applies pending migrations; with
    `auto_migrate=False` (what servers use) it instead raises Conflict unless the schema is at
    exactly LATEST_VERSION. Any number of PostgresStore objects, in any number of processes,
    may share one database and schema.
    """

    MARK = "%s"

    def __init__(self, url: str, *, schema: str = "candor", connect_timeout: int = 5,
                 auto_migrate: bool = True) -> None:
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise InvalidInput("postgres url must start with postgresql://")
        self._url = url
        self._schema = check_schema(schema)
        self._connect_timeout = check_index(connect_timeout, "connect_timeout")
        self._append_lock_key = lock_key("append", schema)
        self._sequencer_lock_key = lock_key("sequencer", schema)
        self._channel = "candor_" + hashlib.sha256(schema.encode()).hexdigest()[:16]
        self._closed = False
        self._registry_lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._lease_candidate = None
        self._connections: list[Conn] = []
        self._local = threading.local()
        conn = self._connect(migrating=True)
        try:
            if auto_migrate:
                migrate(conn, schema)
            else:
                check_current(conn, schema)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        except psycopg.OperationalError as exc:
            self.close()
            raise Unavailable(f"database unreachable: {first_line(exc)}") from exc
        except BaseException:
            self.close()
            raise
        self._local.conn = conn

    # -- connections -----------------------------------------------------------------------

    def _connect(self, *, migrating: bool = False, application_name: str | None = None) -> Conn:
        if self._closed:
            raise Unavailable("ledger store is closed; open it again")
        kwargs: dict[str, str | int] = {}
        if "connect_timeout" not in self._url:
            kwargs["connect_timeout"] = self._connect_timeout
        if application_name is not None:
            kwargs["application_name"] = application_name
        try:
            conn: Conn = psycopg.connect(psycopg.conninfo.make_conninfo(self._url, **kwargs), autocommit=True)
            if not migrating:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        except psycopg.OperationalError as exc:
            raise Unavailable(f"database unreachable: {first_line(exc)}") from exc
        with self._registry_lock:
            self._connections.append(conn)
        return conn

    def _forget(self, conn: Conn) -> None:
        with self._registry_lock:
            if conn in self._connections:
                self._connections.remove(conn)
        conn.close()

    def _thread_conn(self) -> Conn:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken and has_input(conn):
            # An idle connection has nothing to read unless the server ended the session (a
            # terminated backend or a restarted database sends an error, then EOF): replace it
            # before sending anything, so the first call after an outage does not fail on it.
            conn.close()
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with self._registry_lock:
                    if conn in self._connections:
                        self._connections.remove(conn)
                conn.close()
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def _use(self) -> Iterator[Conn]:
        """This thread's connection, with psycopg errors mapped onto the Candor error tree."""
        if self._closed:
            raise Unavailable("ledger store is closed; open it again")
        conn = self._thread_conn()
        with mapped(conn):
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Conn]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._use() as conn, conn.transaction():
            yield conn

    # -- ledger ----------------------------------------------------------------------------

    @staticmethod
    def _size(conn: Conn) -> int:
        row = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
        assert row is not None
        return as_int(row[0])

    def _size_for_append(self, conn: Conn) -> int:
        """Take the append lock (held to the end of the transaction), then read the size.

        READ COMMITTED takes a fresh snapshot per statement, so the size read after the lock
        is granted includes the previous holder's committed entries.
        """
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._append_lock_key,))
        return self._size(conn)

    def size(self) -> int:
        with self._use() as conn:
            return self._size(conn)

    def commit(self, batch: AppendBatch) -> None:
        check_batch(batch)
        with self._write() as conn:
            self._commit_in(conn, batch)

    def _commit_in(self, conn: Conn, batch: AppendBatch) -> None:
        """The body of `commit`, inside the caller's transaction on `conn`."""
        deletes, upserts = latest_state(batch.state)
        first = batch.first_index
        self._check_head(conn, first)
        if batch.entries:
            try:
                copy_rows(conn, "entries", (("idx", "int8"), ("data", "bytea")), zip(count(first), batch.entries))
            except psycopg.IntegrityError as exc:
                # Reached only if the check above was bypassed: the schema is the last line.
                raise Conflict(f"another writer already appended at index {first}; "
                               "re-read the ledger head and rebuild the batch "
                               f"({first_line(exc)})") from exc
        self._write_nodes(conn, batch.nodes)
        self._write_state(conn, deletes, upserts)

    def _write_nodes(self, conn: Conn, nodes: Sequence[NodeWrite]) -> None:
        if not nodes:
            return
        cur = conn.execute(
            "INSERT INTO nodes (level, idx, hash)"
            " SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])"
            " ON CONFLICT (level, idx) DO NOTHING",
            ([n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes]))
        if cur.rowcount == len(nodes):
            return
        self._refuse_rewritten_nodes(conn, nodes)

    def _write_state(self, conn: Conn, deletes: list[str],
                     upserts: list[tuple[str, bytes]]) -> None:
        if deletes:
            conn.execute("DELETE FROM state WHERE key = ANY(%b::text[])", (deletes,))
        if upserts:
            conn.execute(
                "INSERT INTO state (key, value)"
                " SELECT * FROM unnest(%b::text[], %b::bytea[])"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                ([k for k, _ in upserts], [v for _, v in upserts]))

    def _blobs(self, conn: Conn, query: str, params: Sequence[object]) -> list[Any]:
        # bytea as hex text costs the client about four times the binary transfer's time
        return conn.execute(self._q(query), params, binary=True).fetchall()

    def values(self, keys: Sequence[str]) -> dict[str, bytes]:
        """`LedgerStore.values` in one query whatever the number of keys: one array
        parameter, so the statement is the same for every batch (PostgreSQL prepares it
        once) where an IN list of a batch's own length is parsed and planned anew."""
        wanted = check_names(keys)
        if not wanted:
            return {}
        with self._use() as conn:
            rows = conn.execute("SELECT key, value FROM state WHERE key = ANY(%b::text[])", (wanted,)).fetchall()
        return {str(k): as_bytes(v) for k, v in rows}

    @staticmethod
    def _read_nodes(conn: Conn, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        rows = conn.execute(
            "SELECT n.level, n.idx, n.hash FROM nodes n"
            " JOIN unnest(%b::smallint[], %b::bigint[]) AS k(level, idx)"
            " ON n.level = k.level AND n.idx = k.idx",
            ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        return {(as_int(level), as_int(index)): as_bytes(digest)
                for level, index, digest in rows}

    # -- checkpoints (reads and side logs: server/sql_store.py) -----------------------------

    def put_checkpoint(self, size: int, note: bytes) -> None:
        check_index(size, "checkpoint size")
        check_bytes(note, "checkpoint note", allow_empty=False)
        with self._use() as conn:
            # A concurrent insert of the same size makes ours wait, then do nothing; the
            # SELECT (a new snapshot) then sees the winner's note.
            cur = conn.execute("INSERT INTO checkpoints (size, note) VALUES (%s, %s)"
                               " ON CONFLICT (size) DO NOTHING", (size, note))
            if cur.rowcount == 1:
                return
            row = conn.execute("SELECT note FROM checkpoints WHERE size = %s",
                               (size,)).fetchone()
        if row is None or as_bytes(row[0]) != note:
            raise checkpoint_conflict(size)

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        check_index(size, "checkpoint size")
        check_name(witness, "witness")
        check_bytes(line, "cosignature line", allow_empty=False)
        with self._use() as conn:
            try:
                conn.execute(
                    "INSERT INTO cosignatures (size, witness, line) VALUES (%s, %s, %s)"
                    " ON CONFLICT (size, witness) DO UPDATE SET line = EXCLUDED.line",
                    (size, witness, line))
            except psycopg.errors.ForeignKeyViolation as exc:
                raise no_checkpoint_to_cosign(size) from exc

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    def __repr__(self) -> str:
        # Never echo the url: it may carry a password.
        return f"PostgresStore(schema={self._schema!r})"
