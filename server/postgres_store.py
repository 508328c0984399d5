"""PostgreSQL implementation of `server.storage.LedgerStore`, for several servers over one database.

DESIGN §7: "PostgreSQL for a deployment of several stateless servers over one database".
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
tests and tenants can be isolated by schema. Migrations are numbered, recorded in
`schema_version`, applied by `migrate` under an advisory lock; they only add, never drop.
`candor db migrate` runs them; a server opens the store with `auto_migrate=False` and refuses
to start on a schema that is not exactly at `LATEST_VERSION`.

Several servers, one ledger (server/sequencer.py). Beyond the `LedgerStore` contract this
store offers what a multi-server deployment needs:

* `try_sequencer_lease`: a session-level advisory lock (`pg_try_advisory_lock`) taken on a
  connection of its own. Only the holder sequences, and it commits through that very
  connection, so a holder whose session died (and with it the lock) cannot commit any more:
  its next call raises Unavailable. The compare-and-set on the ledger size stays the last
  line: a writer that bypasses the lease still cannot fork the log.
* The `intake` table (migration 2): `intake_submit` queues a verified entry from any server;
  the lease holder reads `pending` rows and `commit`s a batch together with every row's
  outcome in ONE transaction, so an outcome "appended at index i" exists if and only if entry
  i is durably that leaf; `intake_collect` hands outcomes back to the accepting server.
* LISTEN/NOTIFY on one channel per schema ("intake", "outcome", "checkpoint") so that nobody
  has to poll fast; every waiter still polls slowly in case a notification is lost.
"""

from __future__ import annotations

import hashlib
import re
import select
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from core.errors import CandorError, Conflict, InvalidInput, NotFound, Unavailable
from server.sql_reads import SqlReads
from server.sql_reads import as_bytes as _as_bytes
from server.sql_reads import as_int as _as_int
from server.storage import (
    AppendBatch,
    NodeKey,
    NodeWrite,
    check_bytes,
    check_index,
    check_index_streams,
    check_limit,
    check_name,
    latest_state,
)

__all__ = ["MIGRATIONS", "IntakeListener", "IntakeOutcome", "IntakeRow", "PostgresStore", "SequencerLease",
           "check_current", "migrate", "schema_version"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: Ordered, append-only list of (version, statements), run with search_path = the schema.
#: Never edit or remove a released step: add a new one. No step may DROP anything.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        "CREATE TABLE entries ("
        " idx bigint PRIMARY KEY CHECK (idx >= 0),"
        " data bytea NOT NULL)",
        # A statement trigger sees all rows of a multi-row insert at once (transition
        # table), so it checks contiguity whatever order unnest produced them in.
        # search_path is pinned so the function finds this schema's table whoever calls it.
        """CREATE FUNCTION entries_contiguous() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        DECLARE lo bigint; hi bigint; n bigint; prev bigint;
        BEGIN
            SELECT min(idx), max(idx), count(*) INTO lo, hi, n FROM inserted;
            IF n = 0 THEN RETURN NULL; END IF;
            SELECT max(e.idx) INTO prev FROM entries e WHERE e.idx < lo;
            IF coalesce(prev, -1) <> lo - 1 OR hi - lo + 1 <> n THEN
                RAISE EXCEPTION 'ledger entries % .. % are not the next indices', lo, hi
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NULL;
        END $$""",
        "CREATE TRIGGER entries_contiguous AFTER INSERT ON entries"
        " REFERENCING NEW TABLE AS inserted"
        " FOR EACH STATEMENT EXECUTE FUNCTION entries_contiguous()",
        """CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END $$""",
        "CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries"
        " FOR EACH ROW EXECUTE FUNCTION append_only()",
        "CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries"
        " FOR EACH STATEMENT EXECUTE FUNCTION append_only()",
        "CREATE TABLE nodes ("
        " level smallint NOT NULL CHECK (level BETWEEN 0 AND 63),"
        " idx bigint NOT NULL CHECK (idx >= 0),"
        " hash bytea NOT NULL,"
        " PRIMARY KEY (level, idx))",
        "CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE ON nodes"
        " FOR EACH ROW EXECUTE FUNCTION append_only()",
        "CREATE TRIGGER nodes_no_truncate BEFORE TRUNCATE ON nodes"
        " FOR EACH STATEMENT EXECUTE FUNCTION append_only()",
        # COLLATE "C": byte order of UTF-8 = code-point order, the same as SQLite and Python,
        # whatever the database's default collation is.
        "CREATE TABLE state ("
        " key text COLLATE \"C\" PRIMARY KEY,"
        " value bytea NOT NULL)",
        "CREATE TABLE checkpoints ("
        " size bigint PRIMARY KEY CHECK (size >= 0),"
        " note bytea NOT NULL)",
        "CREATE TABLE cosignatures ("
        " size bigint NOT NULL REFERENCES checkpoints (size),"
        " witness text COLLATE \"C\" NOT NULL,"
        " line bytea NOT NULL,"
        " PRIMARY KEY (size, witness))",
        # The head row of a stream is locked by the append until commit, so ids are handed
        # out in commit order and a reader paging by id never skips a late commit.
        "CREATE TABLE log_heads ("
        " stream text COLLATE \"C\" PRIMARY KEY,"
        " last_id bigint NOT NULL)",
        "CREATE TABLE logs ("
        " stream text COLLATE \"C\" NOT NULL,"
        " id bigint NOT NULL CHECK (id >= 1),"
        " record bytea NOT NULL,"
        " PRIMARY KEY (stream, id))",
    )),
    (2, (
        # The intake queue of a multi-server deployment (server/sequencer.py): any server
        # inserts a verified entry; the one server holding the sequencer lock appends it and,
        # in the same transaction as the append, writes its outcome (ledger index, or the
        # error class and message) back, which the accepting server reads to answer its
        # client. A row is decided exactly once (done goes false -> true once).
        "CREATE TABLE intake ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " leaf bytea NOT NULL,"
        " verified boolean NOT NULL,"
        " server text NOT NULL,"
        " request_id text NOT NULL DEFAULT '',"
        " submitted_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
        " done boolean NOT NULL DEFAULT false,"
        " idx bigint CHECK (idx >= 0),"
        " error_class text,"
        " error_message text,"
        " decided_at timestamptz,"
        " CHECK (done = (idx IS NOT NULL OR error_class IS NOT NULL)),"
        " CHECK (idx IS NULL OR error_class IS NULL))",
        "CREATE INDEX intake_pending ON intake (id) WHERE NOT done",
    )),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def _lock_key(purpose: str, schema: str) -> int:
    """A signed 64-bit advisory-lock key for (purpose, schema)."""
    digest = hashlib.sha256(f"candor:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def check_schema(schema: object) -> str:
    """Return `schema` if it is a plain lower-case SQL identifier; raise InvalidInput otherwise."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise InvalidInput(f"schema {schema!r} is not a plain identifier; use lower-case "
                           "letters, digits and _ (at most 63), not starting with a digit")
    return schema


def schema_version(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int:
    """The highest migration applied in `schema` (0 if the schema or its tables do not exist)."""
    check_schema(schema)
    row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.schema_version",)).fetchone()
    if row is None or row[0] is None:
        return 0
    row = conn.execute(sql.SQL("SELECT COALESCE(MAX(version), 0) FROM {}.schema_version")
                       .format(sql.Identifier(schema))).fetchone()
    assert row is not None
    return _as_int(row[0])


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> list[int]:
    """Create `schema` if needed and apply its missing migrations atomically.

    Returns the versions applied; running it again is a no-op returning []. Concurrent callers
    (several servers starting at once) serialise on an advisory lock. Raises Conflict if the
    schema is newer than this code.
    """
    check_schema(schema)
    ident = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("migrate", schema),))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                     " version integer PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")
        current = schema_version(conn, schema)
        if current > LATEST_VERSION:
            raise Conflict(f"database schema {schema!r} is at version {current}, newer than "
                           f"this Candor (knows up to {LATEST_VERSION}); upgrade Candor")
        applied: list[int] = []
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


def check_current(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int:
    """Return the schema version if it is exactly LATEST_VERSION; raise Conflict otherwise.

    Servers call this instead of `migrate`: upgrading a schema under running servers of an
    older version is an operator's decision (`candor db migrate`), never a side effect of
    starting one more server.
    """
    version = schema_version(conn, schema)
    if version > LATEST_VERSION:
        raise Conflict(f"database schema {schema!r} is at version {version}, newer than this Candor "
                       f"(knows up to {LATEST_VERSION}); upgrade Candor")
    if version < LATEST_VERSION:
        found = "has no Candor tables" if version == 0 else f"is at version {version}"
        raise Conflict(f"database schema {schema!r} {found}; this Candor needs version {LATEST_VERSION}: "
                       f"run `candor db migrate --data <url> --schema {schema}` first (a server never "
                       "changes the schema itself)")
    return version


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


Conn = psycopg.Connection[tuple[object, ...]]


@contextmanager
def _mapped(conn: Conn) -> Iterator[None]:
    """Map psycopg errors raised while using `conn` onto the Candor error tree."""
    try:
        yield
    except CandorError:
        raise
    except psycopg.IntegrityError as exc:
        raise Conflict(f"database refused the write: {_first_line(exc)}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        what = "unreachable" if conn.broken or conn.closed else "unavailable"
        raise Unavailable(f"database {what}: {_first_line(exc)}") from exc


@dataclass(frozen=True)
class IntakeRow:
    """A queued entry as the sequencer sees it. `expired`: older than the sequencer's limit."""

    id: int
    leaf: bytes
    verified: bool
    request_id: str
    expired: bool


@dataclass(frozen=True)
class IntakeOutcome:
    """What became of intake row `id`: appended at `index`, or refused with an error."""

    id: int
    index: int | None = None
    error_class: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        check_index(self.id, "intake id")
        if (self.index is None) == (self.error_class is None):
            raise InvalidInput(f"intake outcome {self.id} needs exactly one of an index or an error class")
        if self.index is not None:
            check_index(self.index, "intake outcome index")
        if self.error_class is not None:
            check_name(self.error_class, "intake error class")


class PostgresStore(SqlReads):
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
        self._append_lock_key = _lock_key("append", schema)
        self._sequencer_lock_key = _lock_key("sequencer", schema)
        self._channel = "candor_" + hashlib.sha256(schema.encode()).hexdigest()[:16]
        self._closed = False
        self._registry_lock = threading.Lock()
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
            raise Unavailable(f"database unreachable: {_first_line(exc)}") from exc
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
            raise Unavailable(f"database unreachable: {_first_line(exc)}") from exc
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
        if conn is not None and not conn.closed and not conn.broken and _has_input(conn):
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
        with _mapped(conn):
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
        return _as_int(row[0])

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
        if not isinstance(batch, AppendBatch):
            raise InvalidInput(f"commit takes an AppendBatch, got {type(batch).__name__}")
        with self._write() as conn:
            self._commit_in(conn, batch)

    def _commit_in(self, conn: Conn, batch: AppendBatch) -> None:
        """The body of `commit`, inside the caller's transaction on `conn`."""
        deletes, upserts = latest_state(batch.state)
        first = batch.first_index
        size = self._size_for_append(conn)
        if size != first:
            raise Conflict(f"batch starts at index {first} but the ledger has {size} "
                           "entries; re-read the ledger head and rebuild the batch")
        if batch.entries:
            try:
                conn.execute(
                    "INSERT INTO entries (idx, data)"
                    " SELECT %s + t.ord - 1, t.data"
                    " FROM unnest(%b::bytea[]) WITH ORDINALITY AS t(data, ord)",
                    (first, list(batch.entries)))
            except psycopg.IntegrityError as exc:
                # Reached only if the check above was bypassed: the schema is the last line.
                raise Conflict(f"another writer already appended at index {first}; "
                               "re-read the ledger head and rebuild the batch "
                               f"({_first_line(exc)})") from exc
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
        stored = self._read_nodes(conn, [(level, index) for level, index, _ in nodes])
        for level, index, digest in nodes:
            if stored.get((level, index)) != digest:
                raise Conflict(f"Merkle node (level {level}, index {index}) is already stored "
                               "with a different hash; nodes are never overwritten (the tree "
                               "computation disagrees with the stored tree)")

    def _write_state(self, conn: Conn, deletes: list[str],
                     upserts: list[tuple[str, bytes]]) -> None:
        if deletes:
            conn.execute("DELETE FROM state WHERE key = ANY(%s::text[])", (deletes,))
        if upserts:
            conn.execute(
                "INSERT INTO state (key, value)"
                " SELECT * FROM unnest(%s::text[], %b::bytea[])"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                ([k for k, _ in upserts], [v for _, v in upserts]))

    @staticmethod
    def _read_nodes(conn: Conn, keys: list[NodeKey]) -> dict[NodeKey, bytes]:
        if not keys:
            return {}
        rows = conn.execute(
            "SELECT n.level, n.idx, n.hash FROM nodes n"
            " JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
            " ON n.level = k.level AND n.idx = k.idx",
            ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        return {(_as_int(level), _as_int(index)): _as_bytes(digest)
                for level, index, digest in rows}

    # -- checkpoints (reads of state, checkpoints and logs: server/sql_reads.py) ------------

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
        if row is None or _as_bytes(row[0]) != note:
            raise Conflict(f"a different checkpoint is already stored for tree size {size}; "
                           "an operator signs one checkpoint per size")

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
                raise NotFound(f"no checkpoint stored for tree size {size}; store it with "
                               "put_checkpoint before adding cosignatures") from exc

    # -- side logs -------------------------------------------------------------------------

    def append_log(self, stream: str, record: bytes) -> int:
        check_name(stream, "stream")
        check_bytes(record, "log record")
        with self._write() as conn:
            return self._append(conn, stream, record)

    def append_log_indexed(self, stream: str, record: bytes, index_streams: Sequence[str]) -> int:
        check_name(stream, "stream")
        check_bytes(record, "log record")
        indexes = check_index_streams(stream, index_streams)
        with self._write() as conn:
            # Head rows are locked main stream first, then indexes in sorted order: no deadlock.
            new_id = self._append(conn, stream, record)
            for index in indexes:
                self._append(conn, index, new_id.to_bytes(8, "big"))
        return new_id

    @staticmethod
    def _append(conn: Conn, stream: str, record: bytes) -> int:
        row = conn.execute(
            "INSERT INTO log_heads (stream, last_id) VALUES (%s, 1)"
            " ON CONFLICT (stream) DO UPDATE SET last_id = log_heads.last_id + 1"
            " RETURNING last_id", (stream,)).fetchone()
        assert row is not None
        new_id = _as_int(row[0])
        conn.execute("INSERT INTO logs (stream, id, record) VALUES (%s, %s, %s)", (stream, new_id, record))
        return new_id

    def purge_log(self, stream: str, through_id: int) -> int:
        check_name(stream, "stream")
        check_index(through_id, "through_id")
        with self._write() as conn:
            # log_heads keeps the last id, so a purged id is never handed out again.
            return int(conn.execute("DELETE FROM logs WHERE stream = %s AND id <= %s",
                                    (stream, through_id)).rowcount)

    # -- several servers: intake queue, sequencer lease, notifications ----------------------

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this schema (a hash: schema names may be 63 bytes)."""
        return self._channel

    def intake_submit(self, leaf: bytes, *, verified: bool, server: str, request_id: str = "") -> int:
        """Queue `leaf` for the sequencer (durably) and wake it; return the intake id.

        `verified`: the accepting server already ran the expensive crypto checks, so the
        sequencer runs only the state checks. One statement: insert and notify commit together.
        """
        check_bytes(leaf, "intake leaf", allow_empty=False)
        check_name(server, "intake server")
        check_name(request_id, "intake request id", allow_empty=True)
        if not isinstance(verified, bool):
            raise InvalidInput(f"verified must be a bool, got {type(verified).__name__}")
        with self._use() as conn:
            row = conn.execute(
                "WITH ins AS (INSERT INTO intake (leaf, verified, server, request_id)"
                " VALUES (%s, %s, %s, %s) RETURNING id)"
                " SELECT id, pg_notify(%s, 'intake') FROM ins",
                (leaf, verified, server, request_id, self._channel)).fetchone()
        assert row is not None
        return _as_int(row[0])

    def intake_collect(self, ids: Sequence[int]) -> list[IntakeOutcome]:
        """The outcomes of the decided rows among `ids`, removing those rows (read once)."""
        wanted = [check_index(i, "intake id") for i in ids]
        if not wanted:
            return []
        with self._use() as conn:
            rows = conn.execute(
                "DELETE FROM intake WHERE id = ANY(%s::bigint[]) AND done"
                " RETURNING id, idx, error_class, error_message", (wanted,)).fetchall()
        return [IntakeOutcome(_as_int(i), None if x is None else _as_int(x),
                              None if c is None else str(c), None if m is None else str(m))
                for i, x, c, m in rows]

    def intake_cancel(self, ids: Sequence[int], error_class: str, message: str) -> int:
        """Decide the still-pending rows among `ids` as refused; return how many were.

        Definitive: a row the sequencer is committing right now is row-locked by it, so this
        waits and then finds it decided (its real outcome stands); a row cancelled here can
        never be appended, because the sequencer's outcome update requires `NOT done`.
        """
        wanted = [check_index(i, "intake id") for i in ids]
        check_name(error_class, "intake error class")
        if not wanted:
            return 0
        with self._use() as conn:
            cur = conn.execute(
                "UPDATE intake SET done = true, error_class = %s, error_message = %s,"
                " decided_at = clock_timestamp() WHERE id = ANY(%s::bigint[]) AND NOT done",
                (error_class, message, wanted))
            conn.execute("SELECT pg_notify(%s, 'outcome')", (self._channel,))
        return max(0, cur.rowcount)

    def intake_purge(self, older_than: float) -> int:
        """Delete decided rows nobody collected for `older_than` seconds (their server died)."""
        with self._use() as conn:
            cur = conn.execute("DELETE FROM intake WHERE done AND decided_at"
                               " < clock_timestamp() - make_interval(secs => %s)", (float(older_than),))
        return max(0, cur.rowcount)

    def intake_pending(self) -> int:
        """How many queued entries await the sequencer."""
        with self._use() as conn:
            row = conn.execute("SELECT count(*) FROM intake WHERE NOT done").fetchone()
        assert row is not None
        return _as_int(row[0])

    def notify(self, payload: str) -> None:
        """Send `payload` to every listener of this schema's channel."""
        check_name(payload, "notification")
        with self._use() as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))

    def listener(self) -> IntakeListener:
        """A new connection LISTENing on this schema's channel (close it when done)."""
        return IntakeListener(self)

    def try_sequencer_lease(self, holder: str) -> SequencerLease | None:
        """Take the schema's sequencer lock if it is free, without waiting; None if it is held."""
        check_name(holder, "lease holder")
        conn = self._connect(application_name=f"candor-sequencer {holder}"[:63])
        try:
            with _mapped(conn):
                # Notice a vanished holder within ~10 s even if its host dies without closing
                # the socket (a process kill closes it at once, releasing the lock immediately).
                conn.execute("SET tcp_keepalives_idle = 5")
                conn.execute("SET tcp_keepalives_interval = 2")
                conn.execute("SET tcp_keepalives_count = 3")
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._sequencer_lock_key,)).fetchone()
        except BaseException:
            self._forget(conn)
            raise
        if row is None or row[0] is not True:
            self._forget(conn)
            return None
        return SequencerLease(self, conn, holder)

    def sequencer_holder(self) -> tuple[str, int] | None:
        """(application name, backend pid) of the session holding the sequencer lock, or None."""
        key = self._sequencer_lock_key
        with self._use() as conn:
            row = conn.execute(
                "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        return None if row is None else (str(row[0]), _as_int(row[1]))

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    def __repr__(self) -> str:
        # Never echo the url: it may carry a password.
        return f"PostgresStore(schema={self._schema!r})"


class SequencerLease:
    """The right to sequence one schema's ledger: a session advisory lock on a connection.

    Everything the sequencer writes goes through this connection, inside the lock's session.
    If the session ends (process killed, connection terminated, network gone) PostgreSQL drops
    the lock and another server may take it; this object then refuses every call with
    Unavailable, so the old holder can never commit after losing the lock. Not thread-safe:
    one sequencer thread owns it.
    """

    def __init__(self, store: PostgresStore, conn: Conn, holder: str) -> None:
        self._store = store
        self._conn = conn
        self.holder = holder
        self._lost: str | None = None

    @property
    def alive(self) -> bool:
        return self._lost is None and not self._conn.closed and not self._conn.broken

    @property
    def backend_pid(self) -> int:
        """The PostgreSQL backend holding the lock (tests terminate it to simulate a crash)."""
        return int(self._conn.info.backend_pid)

    @contextmanager
    def _guard(self) -> Iterator[Conn]:
        if not self.alive:
            raise Unavailable(f"sequencer lease lost ({self._lost or 'connection closed'}); another "
                              "server may be sequencing: take a new lease before appending")
        try:
            with _mapped(self._conn):
                yield self._conn
        except Unavailable as exc:
            if self._conn.broken or self._conn.closed:
                self._lost = str(exc)
            raise

    def pending(self, limit: int, expire_after: float) -> list[IntakeRow]:
        """Up to `limit` undecided intake rows, oldest first; rows queued more than
        `expire_after` seconds ago are marked expired (their server has given up on them)."""
        check_limit(limit)
        with self._guard() as conn:
            rows = conn.execute(
                "SELECT id, leaf, verified, request_id,"
                " submitted_at <= clock_timestamp() - make_interval(secs => %s)"
                " FROM intake WHERE NOT done ORDER BY id LIMIT %s",
                (float(expire_after), limit)).fetchall()
        return [IntakeRow(_as_int(i), _as_bytes(leaf), bool(v), str(rid), bool(exp))
                for i, leaf, v, rid, exp in rows]

    def commit(self, batch: AppendBatch, outcomes: Sequence[IntakeOutcome], expire_after: float) -> None:
        """Append `batch` and record `outcomes`, in one transaction, or raise and write nothing.

        Conflict if the ledger moved (compare-and-set on its size), if any row was decided
        meanwhile (cancelled by its server) or has expired, or if an outcome's index does not
        hold exactly that row's leaf. Unavailable if the lease is lost.
        """
        if not isinstance(batch, AppendBatch):
            raise InvalidInput(f"commit takes an AppendBatch, got {type(batch).__name__}")
        appended = sorted(o.index for o in outcomes if o.index is not None)
        expected = list(range(batch.first_index, batch.first_index + len(batch.entries)))
        if appended != expected:
            raise InvalidInput(f"outcomes name indices {appended[:3]}..., expected exactly the batch's "
                               f"{len(expected)} indices from {batch.first_index}")
        with self._guard() as conn, conn.transaction():
            self._store._commit_in(conn, batch)
            if outcomes:
                cur = conn.execute(
                    "UPDATE intake SET done = true, idx = u.idx, error_class = u.cls,"
                    " error_message = u.msg, decided_at = clock_timestamp()"
                    " FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS u(id, idx, cls, msg)"
                    " WHERE intake.id = u.id AND NOT intake.done AND (u.idx IS NULL OR ("
                    "  intake.submitted_at > clock_timestamp() - make_interval(secs => %s)"
                    "  AND intake.leaf = (SELECT e.data FROM entries e WHERE e.idx = u.idx)))",
                    ([o.id for o in outcomes], [o.index for o in outcomes],
                     [o.error_class for o in outcomes], [o.error_message for o in outcomes],
                     float(expire_after)))
                if cur.rowcount != len(outcomes):
                    raise Conflict(f"{len(outcomes) - cur.rowcount} of {len(outcomes)} intake rows were "
                                   "decided meanwhile (cancelled or expired) or do not hold the entry "
                                   "appended at their index; rebuild the batch")
            conn.execute("SELECT pg_notify(%s, 'outcome')", (self._store.channel,))

    def release(self) -> None:
        """Unlock and close (idempotent; closing alone would also release the lock)."""
        if self.alive:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._store._sequencer_lock_key,))
            except psycopg.Error:
                pass
        self._lost = self._lost or "released"
        self._store._forget(self._conn)


class IntakeListener:
    """A connection LISTENing on a store's channel; `wait` returns the payloads received."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._conn = store._connect(application_name="candor-listener")
        try:
            with _mapped(self._conn):
                self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(store.channel)))
        except BaseException:
            store._forget(self._conn)
            raise

    def wait(self, timeout: float) -> set[str]:
        """Payloads that arrived within `timeout` seconds (returns at the first; may be empty)."""
        with _mapped(self._conn):
            return {n.payload for n in self._conn.notifies(timeout=timeout, stop_after=1)}

    def close(self) -> None:
        self._store._forget(self._conn)


def _has_input(conn: Conn) -> bool:
    """Whether the server sent something to an idle connection (one select, no round trip)."""
    poller = select.poll()  # not select.select: that fails on descriptors above 1023
    try:
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


