"""Attack: an operator whose store was edited behind its back (docs/operations.md,
"Start-up checks"). Rows deleted with the append-only triggers dropped are refused at start;
a state row edited to un-revoke a member is rebuilt from the entries, and that member's
report is refused either way. Through the real `create_server` and gRPC report path, and the
real `candor serve` for the one-line refusal."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import time
from pathlib import Path

import pytest
from test_operations import free_port, run_cli

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client.connection import Connection
from client.sdk import Member
from core import entries as e
from core.errors import CandorError, PermissionDenied, VerificationError
from server.app import Settings, create_server
from server.ceremony import bootstrap_entries
from server.database import open_store
from server.integrity import check_store


def _ledger(alliance_dir: Path, db: Path) -> None:
    """A ledger with a few reports, member-c revoked, and a checkpoint over all of it."""
    store = open_store(str(db))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), querylog_interval=None), store)
    try:
        op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        day = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()
        with Member(Identity.load(alliance_dir / "member-a"), f"127.0.0.1:{op.port}", db.parent / "a",
                    pool_size=0) as m:
            for i in range(3):
                m.submit_report(f"store-check-{i}", "fake_traffic", "minor", day)
        regulator = Identity.load(alliance_dir / "regulator")
        leaf = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked("c", "test"),
                                            timestamp_ms=int(time.time() * 1000)), regulator.signing_key())
        with Connection(regulator, f"127.0.0.1:{op.port}") as conn:
            conn.call(conn.governance.RevokeMember, gov.SubmitEntryRequest(signed_entry=leaf))
        op.ledger.wait_checkpoint(store.size())
    finally:
        op.stop(grace=1)
        store.close()


def _sql(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for s in statements:
            conn.execute(s)


def test_an_untouched_store_passes(alliance_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(alliance_dir, db)
    with open_store(str(db)) as store:
        checked = check_store(store)
    assert checked.rebuilt_keys == 0 and checked.checkpoint_size == checked.size > 5


@pytest.mark.slow
def test_deleted_rows_are_refused_at_start(alliance_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(alliance_dir, db)
    _sql(db, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE idx = (SELECT MAX(idx) FROM entries)")
    with open_store(str(db)) as store:
        with pytest.raises(VerificationError, match="refusing to serve"):
            create_server(Settings(identity=Identity.load(alliance_dir / "operator"), querylog_interval=None), store)
    # The CLI says so in one line and exits 1.
    done = run_cli("serve", "--identity", str(alliance_dir / "operator"), "--data", str(db),
                   "--listen", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "entries were deleted" in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_deleted_middle_row_is_refused(alliance_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(alliance_dir, db)
    _sql(db, "DROP TRIGGER entries_no_delete", "DELETE FROM entries WHERE idx = 3")
    with open_store(str(db)) as store, pytest.raises(VerificationError, match="refusing to serve"):
        check_store(store)


def test_an_unrevoked_member_is_rebuilt_and_its_report_refused(alliance_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(alliance_dir, db)
    with sqlite3.connect(db) as conn:
        raw = conn.execute("SELECT value FROM state WHERE key = 'member/c'").fetchone()[0]
        assert b'"revoked_at":null' not in raw
        edited = raw.decode().replace('"revoked_at":', '"revoked_at":null,"x":')
        conn.execute("UPDATE state SET value = ? WHERE key = 'member/c'", (edited.encode(),))
    with open_store(str(db)) as store:
        with pytest.raises(VerificationError, match="not the projection"):
            check_store(store, rebuild=False)
        op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), querylog_interval=None),
                           store)
        try:
            # The server's own role check (every member call, reports included) reads the state.
            with Connection(Identity.load(alliance_dir / "member-c"), f"127.0.0.1:{op.port}") as conn:
                with pytest.raises(PermissionDenied, match="revoked"):
                    conn.checkpoint()
            day = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()
            with Member(Identity.load(alliance_dir / "member-c"), f"127.0.0.1:{op.port}", tmp_path / "c",
                        pool_size=0) as m:
                with pytest.raises(CandorError, match="revoked"):
                    m.submit_report("store-check-x", "fake_traffic", "minor", day)
        finally:
            op.stop(grace=1)
        assert check_store(store).rebuilt_keys == 0


def test_an_edited_entry_is_refused_at_start(alliance_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    _ledger(alliance_dir, db)
    with sqlite3.connect(db) as conn:
        (leaf,) = conn.execute("SELECT data FROM entries WHERE idx = 2").fetchone()
        forged = bytearray(leaf)
        forged[len(forged) // 2] ^= 0x01
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute("UPDATE entries SET data = ? WHERE idx = 2", (bytes(forged),))
    with open_store(str(db)) as store, pytest.raises(VerificationError, match="do not hash to the root"):
        check_store(store)
