"""The schema-migration runner shared by the SQL stores (docs/architecture.md).

Each driver keeps its own list of migrations (`server.sqlite_migrations.MIGRATIONS`,
`server.postgres_migrations.MIGRATIONS`): numbered 1, 2, 3..., append-only, never dropping
anything. `migrate` applies the ones a database lacks, in one transaction that no other
migrator runs alongside, and records each in the `schema_version` table. What differs between
drivers (how that transaction is taken, the parameter marker, how the version is read) is a
small adapter, `MigrationConnection`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, TypeAlias

from core.errors import Conflict

__all__ = ["MigrationConnection", "Migrations", "migrate", "refuse_newer"]

#: Ordered, append-only (version, statements) pairs. Never edit or remove a released step: add
#: a new one. No step may DROP anything (a test enforces it).
Migrations: TypeAlias = tuple[tuple[int, tuple[str, ...]], ...]


class MigrationConnection(Protocol):
    """What the runner needs of one driver's connection."""

    label: str
    """Names the database in messages, e.g. "database schema 'candor'"."""
    mark: str
    """The driver's parameter marker ("?" or "%s")."""

    def exclusive(self) -> AbstractContextManager[object]:
        """One transaction that no other migrator (thread or process) runs alongside, with the
        `schema_version` table created; committed on success, rolled back on any error."""
        ...

    def execute(self, statement: str, params: tuple[object, ...] = ()) -> object:
        """Run one statement inside `exclusive()`."""
        ...

    def version(self) -> int:
        """The highest migration recorded (0 for a database that has none)."""
        ...


def refuse_newer(label: str, version: int, latest: int) -> None:
    """Raise Conflict if the database is at a version newer than this code knows."""
    if version > latest:
        raise Conflict(f"{label} is at version {version}, newer than this Candor (knows up to {latest}); "
                       "upgrade Candor")


def migrate(conn: MigrationConnection, migrations: Migrations) -> list[int]:
    """Apply the migrations the database lacks, atomically; return the versions applied.

    Running it again is a no-op returning []. Raises Conflict if the database is newer than
    `migrations`.
    """
    latest = migrations[-1][0]
    with conn.exclusive():
        current = conn.version()
        refuse_newer(conn.label, current, latest)
        applied: list[int] = []
        for version, statements in migrations:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"INSERT INTO schema_version (version) VALUES ({conn.mark})", (version,))
            applied.append(version)
    return applied
