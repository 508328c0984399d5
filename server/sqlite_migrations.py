"""The schema of the SQLite store: numbered, append-only migrations.

Numbered migrations in MIGRATIONS, recorded in `schema_version`, applied by the shared runner
(`server.migrations.migrate`) in one IMMEDIATE transaction (so two processes opening a fresh
file do not both apply them). Migrations only add; nothing is ever dropped implicitly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from server import migrations

__all__ = ["LATEST_VERSION", "MIGRATIONS", "migrate", "schema_version"]

#: Ordered, append-only list of (version, statements). Never edit or remove a released step:
#: add a new one. No step may DROP anything (a test enforces it).
MIGRATIONS: migrations.Migrations = (
    (1, (
        # Ledger entries: idx is the rowid, so MAX(idx) and range reads are B-tree walks.
        "CREATE TABLE entries ("
        " idx INTEGER PRIMARY KEY CHECK (idx >= 0),"
        " data BLOB NOT NULL)",
        "CREATE TRIGGER entries_contiguous BEFORE INSERT ON entries"
        " WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries)"
        " BEGIN SELECT RAISE(ABORT, 'ledger entry index is not the next index'); END",
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
        "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
        " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END",
        # Merkle nodes are 32-byte rows: WITHOUT ROWID keeps them in the key's B-tree.
        "CREATE TABLE nodes ("
        " level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),"
        " idx INTEGER NOT NULL CHECK (idx >= 0),"
        " hash BLOB NOT NULL,"
        " PRIMARY KEY (level, idx)) WITHOUT ROWID",
        "CREATE TRIGGER nodes_no_update BEFORE UPDATE ON nodes"
        " BEGIN SELECT RAISE(ABORT, 'Merkle nodes are written once'); END",
        "CREATE TRIGGER nodes_no_delete BEFORE DELETE ON nodes"
        " BEGIN SELECT RAISE(ABORT, 'Merkle nodes are written once'); END",
        # TEXT with the default BINARY collation compares UTF-8 bytes = code-point order.
        "CREATE TABLE state ("
        " key TEXT PRIMARY KEY NOT NULL,"
        " value BLOB NOT NULL)",
        "CREATE TABLE checkpoints ("
        " size INTEGER PRIMARY KEY CHECK (size >= 0),"
        " note BLOB NOT NULL)",
        "CREATE TABLE cosignatures ("
        " size INTEGER NOT NULL REFERENCES checkpoints (size),"
        " witness TEXT NOT NULL,"
        " line BLOB NOT NULL,"
        " PRIMARY KEY (size, witness))",
        "CREATE TABLE logs ("
        " stream TEXT NOT NULL,"
        " id INTEGER NOT NULL CHECK (id >= 1),"
        " record BLOB NOT NULL,"
        " PRIMARY KEY (stream, id))",
    )),
    (2, (
        # The last id handed out per stream, so purge_log never makes an id reusable.
        "CREATE TABLE log_heads ("
        " stream TEXT PRIMARY KEY NOT NULL,"
        " last_id INTEGER NOT NULL)",
        "INSERT INTO log_heads (stream, last_id) SELECT stream, MAX(id) FROM logs GROUP BY stream",
    )),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest migration applied to `conn`'s database (0 for a fresh one)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


class _Migrating:
    """`server.migrations.MigrationConnection` over a sqlite3 connection in autocommit mode."""

    label = "database schema"
    mark = "?"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")  # the file's single write lock, across processes
        try:
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY,"
                " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))"
            )
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def execute(self, statement: str, params: tuple[object, ...] = ()) -> object:
        return self.conn.execute(statement, params)

    def version(self) -> int:
        return schema_version(self.conn)


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the migrations `conn`'s database lacks, atomically; return the versions applied.

    Running it again is a no-op returning []. `conn` must be in autocommit mode
    (isolation_level=None). Raises Conflict if the database is newer than this code.
    """
    return migrations.migrate(_Migrating(conn), MIGRATIONS)
