"""SQLite specifics the contract suite cannot see: query plans that must stay O(log n), the page size,
the WAL checkpointer."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import Unavailable
from server.sqlite_store import PAGE_SIZE, WAL_BACKSTOP_PAGES, SQLiteStore, nodes_query
from server.storage import AppendBatch


def test_batched_node_reads_use_the_primary_key(tmp_path: Path) -> None:
    SQLiteStore(str(tmp_path / "ledger.db")).close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + nodes_query(12), list(range(24))))
    conn.close()
    assert "SEARCH n USING PRIMARY KEY" in plan, plan
    assert "SCAN n" not in plan, plan


def test_a_new_file_gets_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """A report's leaf is 3 to 5 KB: a new file is made with PAGE_SIZE pages, so that pages
    hold several leaves. A file made earlier with 4 KiB pages opens, reads and appends as
    before (a WAL file's page size cannot change without a rebuild)."""
    SQLiteStore(str(tmp_path / "new.db")).close()
    conn = sqlite3.connect(tmp_path / "new.db")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384
    conn.close()

    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE made_before (x)")
    old.close()
    store = SQLiteStore(str(tmp_path / "old.db"))
    store.commit(AppendBatch(first_index=0, entries=(b"genesis",), state=(("k", b"v"),)))
    assert store.entry(0) == b"genesis" and store.get("k") == b"v"
    store.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    conn.close()


def test_writers_in_one_process_queue_on_the_file_not_in_sqlites_busy_handler(tmp_path: Path) -> None:
    """Two stores of this process on one file (the sequencer's and the checkpointer's
    threads alike) take SQLite's write lock in turn: a writer finds the other's transaction
    held by this process's lock for the file, whose wait ends the moment it is released,
    rather than in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and more between
    tries. A wait longer than the busy timeout is still UNAVAILABLE, saying why."""
    path = str(tmp_path / "ledger.db")
    holder, waiter = SQLiteStore(path), SQLiteStore(path, busy_timeout_ms=100)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder._write():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert inside.wait(10)
        with pytest.raises(Unavailable, match="another thread of this process held the write lock"):
            waiter.commit(AppendBatch(first_index=0, entries=(b"a",)))
    finally:
        release.set()
        t.join(10)
    waiter.commit(AppendBatch(first_index=0, entries=(b"a",)))
    assert holder.size() == waiter.size() == 1
    holder.close()
    waiter.close()


def test_appended_batches_are_copied_back_by_the_stores_own_checkpointer(tmp_path: Path) -> None:
    """A commit leaves its pages in the WAL; the store's checkpointer thread copies them into
    the database file a moment later, long before a writer would (WAL_BACKSTOP_PAGES), so the
    file grows without any commit running a checkpoint. It starts with the first batch
    appended, and stops when the store closes."""
    path = tmp_path / "ledger.db"
    store = SQLiteStore(str(path))
    store.put_checkpoint(1, b"note")  # a write that is not a batch starts no checkpointer
    assert store._checkpointer is None
    empty = path.stat().st_size
    leaves = tuple(bytes([i % 256]) * 4000 for i in range(40))  # about ten 16 KiB pages
    store.commit(AppendBatch(first_index=0, entries=leaves, state=(("k", b"v"),)))
    checkpointer = store._checkpointer
    assert checkpointer is not None and checkpointer._thread.is_alive()
    plain = sqlite3.connect(path)
    assert plain.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # SQLite's default; the store's:
    plain.close()
    with store._use() as conn:
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_BACKSTOP_PAGES
    deadline = time.monotonic() + 10
    while path.stat().st_size <= empty + 40 * 4000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.stat().st_size > empty + 40 * 4000, "the checkpointer never copied the WAL back"
    assert store.entries(0, 40) == list(leaves)
    store.close()
    assert not checkpointer._thread.is_alive()


def test_an_in_memory_store_has_no_checkpointer() -> None:
    store = SQLiteStore(":memory:")
    store.commit(AppendBatch(first_index=0, entries=(b"genesis",)))
    assert store._checkpointer is None
    store.close()


def test_a_failing_checkpointer_is_logged_once_and_never_fails_a_commit(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(str(tmp_path / "ledger.db"))
    real_use = store._use

    def use() -> Any:
        if threading.current_thread().name == "candor-wal-checkpoint":
            raise Unavailable("database unavailable: disk I/O error")
        return real_use()

    monkeypatch.setattr(store, "_use", use)
    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "copying the WAL back" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="candor.store"):
        for i in range(3):
            store.commit(AppendBatch(first_index=i, entries=(b"entry %d" % i,)))
            deadline = time.monotonic() + 10
            while not failures() and time.monotonic() < deadline:
                time.sleep(0.01)  # the checkpointer wakes, fails, backs off
        assert store.size() == 3
        time.sleep(0.5)  # time to fail again (backing off 0.2, then 0.4 s): still logged once
        logged = failures()
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert "disk I/O error" in logged[0].getMessage()
    checkpointer = store._checkpointer
    assert checkpointer is not None and checkpointer._thread.is_alive()  # still there, to retry
    store.close()
    assert not checkpointer._thread.is_alive()
