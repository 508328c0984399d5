"""The schema of the PostgreSQL store: numbered, append-only migrations.

All tables live in one schema (default "candor"), set as the connection's search_path, so
tests and tenants can be isolated by schema. Migrations are numbered, recorded in
`schema_version`, applied by the shared runner (`server.migrations.migrate`) under an
advisory lock; they only add, never drop.
`candor db migrate` runs them; a server opens the store with `auto_migrate=False` and refuses
to start on a schema that is not exactly at `LATEST_VERSION`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from core.errors import Conflict, InvalidInput
from server import migrations
from server.sql_store import as_int

__all__ = ["LATEST_VERSION", "MIGRATIONS", "check_current", "check_schema", "lock_key", "migrate",
           "schema_version"]

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: Ordered, append-only list of (version, statements), run with search_path = the schema.
#: Never edit or remove a released step: add a new one. No step may DROP anything.
MIGRATIONS: migrations.Migrations = (
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
        # The intake queue of a multi-server deployment (server/shared_sequencer.py): any server
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
    (3, (
        # A report leaf (2-5 KB) is over PostgreSQL's default TOAST threshold (about 2 KB), so
        # each was compressed in vain (it is mostly random bytes) and then cut into chunks in a
        # side table: three rows and two index entries per leaf. Kept in the row instead, up
        # to the largest target a page allows; a larger value is still compressed or moved
        # out, so nothing is refused (docs/performance.md, "A sixth box").
        "ALTER TABLE entries SET (toast_tuple_target = 8160)",
        "ALTER TABLE entries ALTER COLUMN data SET STORAGE MAIN",
        "ALTER TABLE intake SET (toast_tuple_target = 8160)",
        "ALTER TABLE intake ALTER COLUMN leaf SET STORAGE MAIN",
    )),
    (4, (
        # A decided intake row moves to its own small table instead of being updated in place:
        # an UPDATE writes a whole new version of the row, its 2-5 KB leaf included, and its
        # WAL, inside the sequencer's transaction, the one every server waits on. A DELETE
        # only marks the row (docs/performance.md, "A thirteenth box"). `intake` now holds
        # only undecided rows; its idx, error and decided_at columns are no longer written
        # (migrations never drop), and done stays false: the queries still ask for NOT done,
        # which the intake_pending index serves, so a row that a server of an earlier
        # version decided in place is never taken for a pending one.
        "CREATE TABLE intake_outcome ("
        " id bigint PRIMARY KEY,"
        " idx bigint CHECK (idx >= 0),"
        " error_class text,"
        " error_message text,"
        " decided_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
        " CHECK ((idx IS NULL) <> (error_class IS NULL)))",
        "INSERT INTO intake_outcome (id, idx, error_class, error_message, decided_at)"
        " SELECT id, idx, error_class, error_message, COALESCE(decided_at, clock_timestamp())"
        " FROM intake WHERE done",
        "DELETE FROM intake WHERE done",
    )),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def lock_key(purpose: str, schema: str) -> int:
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
    return as_int(row[0])


class _Migrating:
    """`server.migrations.MigrationConnection` over a psycopg connection in autocommit mode,
    creating `schema` and working inside it."""

    mark = "%s"

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self.label = f"database schema {schema!r}"

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        ident = sql.Identifier(self.schema)
        with self.conn.transaction():
            # Concurrent callers (several servers starting at once) serialise on this lock.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate", self.schema),))
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            self.conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                              " version integer PRIMARY KEY,"
                              " applied_at timestamptz NOT NULL DEFAULT now())")
            yield

    def execute(self, statement: str, params: tuple[object, ...] = ()) -> object:
        # No parameters: sent as it is (the PL/pgSQL bodies contain '%').
        return self.conn.execute(statement, params or None)

    def version(self) -> int:
        return schema_version(self.conn, self.schema)


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> list[int]:
    """Create `schema` if needed and apply its missing migrations atomically.

    Returns the versions applied; running it again is a no-op returning []. Concurrent callers
    (several servers starting at once) serialise on an advisory lock. Raises Conflict if the
    schema is newer than this code.
    """
    return migrations.migrate(_Migrating(conn, check_schema(schema)), MIGRATIONS)


def check_current(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int:
    """Return the schema version if it is exactly LATEST_VERSION; raise Conflict otherwise.

    Servers call this instead of `migrate`: upgrading a schema under running servers of an
    older version is an operator's decision (`candor db migrate`), never a side effect of
    starting one more server.
    """
    version = schema_version(conn, schema)
    migrations.refuse_newer(f"database schema {schema!r}", version, LATEST_VERSION)
    if version < LATEST_VERSION:
        found = "has no Candor tables" if version == 0 else f"is at version {version}"
        raise Conflict(f"database schema {schema!r} {found}; this Candor needs version {LATEST_VERSION}: "
                       f"run `candor db migrate --data <url> --schema {schema}` first (a server never "
                       "changes the schema itself)")
    return version
