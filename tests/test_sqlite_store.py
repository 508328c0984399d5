"""SQLite specifics the contract suite cannot see: query plans that must stay O(log n)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.sqlite_store import SQLiteStore, nodes_query


def test_batched_node_reads_use_the_primary_key(tmp_path: Path) -> None:
    SQLiteStore(str(tmp_path / "ledger.db")).close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + nodes_query(12), list(range(24))))
    conn.close()
    assert "SEARCH n USING PRIMARY KEY" in plan, plan
    assert "SCAN n" not in plan, plan
