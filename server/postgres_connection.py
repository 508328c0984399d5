"""Connections to PostgreSQL as the store uses them: one type, and driver errors mapped onto
the Candor error tree.

A lost connection (`psycopg.OperationalError`) becomes `Unavailable("database unreachable:
...")`; the transaction it interrupted was never committed, so nothing is half-written. An idle
connection whose server ended the session is noticed before it is used (`has_input`).
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from core.errors import CandorError, Conflict, Unavailable

__all__ = ["Conn", "first_line", "has_input", "mapped"]

#: A psycopg connection returning plain tuples.
Conn = psycopg.Connection[tuple[object, ...]]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def mapped(conn: Conn) -> Iterator[None]:
    """Map psycopg errors raised while using `conn` onto the Candor error tree."""
    try:
        yield
    except CandorError:
        raise
    except psycopg.IntegrityError as exc:
        raise Conflict(f"database refused the write: {first_line(exc)}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        what = "unreachable" if conn.broken or conn.closed else "unavailable"
        raise Unavailable(f"database {what}: {first_line(exc)}") from exc


def has_input(conn: Conn) -> bool:
    """Whether the server sent something to an idle connection (one select, no round trip)."""
    poller = select.poll()  # not select.select: that fails on descriptors above 1023
    try:
        poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
