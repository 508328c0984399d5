"""Opening the operator's database for serving, and `candor db migrate` (docs/architecture.md).

Schema changes are versioned migrations (`server.postgres_migrations.MIGRATIONS`,
`server.sqlite_migrations.MIGRATIONS`) that only ever add. For PostgreSQL they are applied only
by `candor db migrate --data URL`: a server opens the store with `auto_migrate=False` and
refuses to start, naming the command, if the schema is missing, older or newer than the
code. Several servers share the database, possibly at different versions during a rolling
upgrade, so changing the schema is an explicit step of the operator, not a side effect of
starting one more server. The embedded SQLite store belongs to one process and keeps
migrating itself when opened, as before.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from core.errors import Conflict, InvalidInput, Unavailable
from server.storage import LedgerStore

DEFAULT_SCHEMA = "candor"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _check_schema_use(url: str, schema: str | None) -> None:
    if schema is not None and not is_postgres(url):
        raise InvalidInput("--schema applies to PostgreSQL only; a SQLite file holds one ledger")


def sqlite_file(url: str) -> str | None:
    """The file path of a SQLite store url (None for PostgreSQL or an in-memory store)."""
    if is_postgres(url):
        return None
    path = url.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else path


def open_store(url: str, *, schema: str | None = None) -> LedgerStore:
    """Open (creating and migrating if needed) the store named by `url`.

    - "sqlite:///relative/path", "sqlite:////absolute/path", a plain file path, ":memory:"
      or "sqlite:///:memory:" -> `SQLiteStore`.
    - "postgresql://..." or "postgres://..." -> `PostgresStore`; `schema` (PostgreSQL only)
      names the schema holding the tables, default "candor".

    Example: `with open_store("sqlite:///candor.db") as store: print(store.size())`.
    """
    if not isinstance(url, str) or not url:
        raise InvalidInput("store url is empty; give e.g. sqlite:///candor.db or postgresql://...")
    if is_postgres(url):
        from server.postgres_store import PostgresStore

        return PostgresStore(url, schema=schema if schema is not None else DEFAULT_SCHEMA)
    if schema is not None:
        raise InvalidInput("schema applies to PostgreSQL urls only")
    from server.sqlite_store import SQLiteStore

    return SQLiteStore(_sqlite_url_path(url))


def _sqlite_url_path(url: str) -> str:
    """The path a SQLite store url names (":memory:" stays itself)."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        if not path.startswith("/") or path == "/":
            raise InvalidInput(f"sqlite url {url!r} has no path; write sqlite:///candor.db "
                               "(relative) or sqlite:////var/lib/candor.db (absolute)")
        return path[1:]
    if "://" in url:
        scheme = url.split("://", 1)[0]
        raise InvalidInput(f"unknown store scheme {scheme!r}; use sqlite:///path, a file path, "
                           ":memory: or postgresql://...")
    return url


class ProcessLock:
    """An exclusive lock on `<file>.lock`, held while this process runs (released by `close`
    or by the process ending, even on SIGKILL). One SQLite file belongs to one process: a
    second `candor serve` (or `trustee serve`) on it is refused, naming the holder's pid."""

    def __init__(self, data_file: str, what: str) -> None:
        import fcntl

        self.path = Path(data_file + ".lock")
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise Conflict(f"{data_file} is in use by another {what} (pid {holder}, lock file {self.path}); "
                           "stop that process first, or give this one its own --data") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays (harmless, reused next time)
            self._fd = None


def lock_data(url: str, what: str) -> ProcessLock | None:
    """Take the process lock of a SQLite store (None for PostgreSQL, which several servers share)."""
    path = sqlite_file(url)
    return None if path is None else ProcessLock(path, what)


def open_checked(url: str) -> LedgerStore:
    """`open_store`, with a file that is not a SQLite database reported in one line."""
    try:
        return open_store(url)
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{url} is not a Candor SQLite database ({exc}); give the ledger's file, or a new path "
                           "to start an empty one") from None
    except Unavailable as exc:
        code = getattr(exc.__cause__, "sqlite_errorcode", 0) & 0xFF  # the SQLite error it wraps, if any
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            raise InvalidInput(f"{url} is not a Candor SQLite database; give the ledger's file, or a new path "
                               "to start an empty one") from None
        raise


def open_for_serving(url: str, *, schema: str | None = None) -> LedgerStore:
    """The store `candor serve` runs on. PostgreSQL: never migrates (Conflict naming
    `candor db migrate` unless the schema is current). SQLite: opened as always."""
    _check_schema_use(url, schema)
    if is_postgres(url):
        from server.postgres_store import PostgresStore

        return PostgresStore(url, schema=schema or DEFAULT_SCHEMA, auto_migrate=False)
    return open_checked(url)


def migrate_data(url: str, *, schema: str | None = None) -> dict[str, object]:
    """Apply the missing migrations to the database at `url`; a second run is a no-op.

    Returns {"applied": [versions], "version": current, "backend": ..., "schema": ...}.
    """
    _check_schema_use(url, schema)
    if is_postgres(url):
        import psycopg

        from server import postgres_migrations

        name = schema or DEFAULT_SCHEMA
        postgres_migrations.check_schema(name)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                applied = postgres_migrations.migrate(conn, name)
                version = postgres_migrations.schema_version(conn, name)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unavailable(f"database unreachable at {redact(url)}: {first}") from None
        return {"backend": "postgresql", "schema": name, "applied": applied, "version": version}

    from server import sqlite_migrations

    path = _sqlite_url_path(url)
    if path in (":memory:", ""):
        raise InvalidInput("an in-memory database cannot be migrated; give a file")
    lite = sqlite3.connect(path, isolation_level=None)
    try:
        applied = sqlite_migrations.migrate(lite)
        return {"backend": "sqlite", "schema": None, "applied": applied,
                "version": sqlite_migrations.schema_version(lite)}
    finally:
        lite.close()


PG_BACKUP_HINT = ("for PostgreSQL use pg_dump/pg_restore (docs/operations.md, \"Backup and restore\"): "
                  "pg_dump --format=custom --schema candor URL > candor.dump")


def _sqlite_path(url: str, flag: str) -> str:
    path = sqlite_file(url)
    if path is None:
        raise InvalidInput(f"{flag} {redact(url)}: {PG_BACKUP_HINT}" if is_postgres(url)
                           else f"{flag} needs a SQLite file, not {url!r}")
    return path


def _copy_sqlite(source: str, target: str) -> None:
    """SQLite's online backup: a consistent copy even while a server writes (WAL)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{source} is not a Candor SQLite database ({exc})") from None
    finally:
        src.close()


def _describe(path: str) -> dict[str, object]:
    store = open_checked(path)
    try:
        latest = store.latest_checkpoint()
        return {"size": store.size(), "checkpoint_size": latest[0] if latest else 0}
    finally:
        store.close()


def backup_data(url: str, out: str) -> dict[str, object]:
    """`candor db backup`: copy the ledger at `url` to the new file `out`, safely while it serves."""
    path = _sqlite_path(url, "--data")
    if not Path(path).is_file():
        raise InvalidInput(f"--data {path} does not exist")
    if Path(out).exists():
        raise InvalidInput(f"--out {out} exists already; back up to a new file")
    tmp = f"{out}.partial"
    try:
        _copy_sqlite(path, tmp)
        described = _describe(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"backup": out, **described}


def restore_data(backup: str, url: str) -> dict[str, object]:
    """`candor db restore`: replace the ledger at `url` by the backup, with no server running
    on it (the process lock is taken for the copy). Clients and witnesses that verified a
    newer checkpoint will refuse the restored ledger as a rollback: that is by design."""
    path = _sqlite_path(url, "--data")
    if not Path(backup).is_file():
        raise InvalidInput(f"--from {backup} does not exist")
    described = _describe(backup)  # a Candor ledger, before touching anything
    lock = ProcessLock(path, "candor serve")
    try:
        tmp = f"{path}.restoring"
        _copy_sqlite(backup, tmp)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        os.replace(tmp, path)
    finally:
        lock.close()
    return {"restored": path, "from": backup, **described}
