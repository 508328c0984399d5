"""Fault tests (docs/operations.md, "Parties wait for each other"): real `candor` processes on
localhost, the operator killed with SIGKILL (no shutdown, no last checkpoint) and restarted
again and again while a member keeps submitting. No acknowledged report may be lost, the
ledger must still audit, and the witness and the trustee must carry on by themselves."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_operations import Proc, free_port, run_cli

from candor.identity import Identity
from client.connection import Connection
from client.sdk import Member
from client.verifier import LogVerifier
from core import entries as e
from core.errors import CandorError, VerificationError

ROUNDS = 10


@pytest.fixture()
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def mirror_size(path: Path) -> int:
    """Entries in a trustee's mirror, read beside the running trustee (SQLite WAL)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            size: int = db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            return size
    except sqlite3.OperationalError:  # not created yet
        return 0


def cosigned(regulator: Identity, server: str) -> int:
    with Connection(regulator, server) as conn:
        try:
            return LogVerifier(regulator.genesis_leaf()).open(conn.checkpoint().note).checkpoint.size
        except CandorError:  # unreachable, or the newest checkpoint not cosigned yet
            return 0


def wait_until(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_operator_killed_repeatedly_loses_no_acknowledged_report(alliance_dir: Path, tmp_path: Path,
                                                                  procs: list[Proc]) -> None:
    server = f"127.0.0.1:{free_port()}"
    ledger = tmp_path / "ledger.db"
    for party in ("witness-1", "trustee-1", "member-a"):
        shutil.copytree(alliance_dir / party, tmp_path / party)
    witness = Proc("witness", "--identity", str(tmp_path / "witness-1"), "--server", server, "--interval", "0.1")
    trustee = Proc("trustee", "serve", "--identity", str(tmp_path / "trustee-1"), "--listen", "127.0.0.1:0",
                   "--server", server, "--data", str(tmp_path / "mirror.db"))
    procs += [witness, trustee]

    def start_operator() -> Proc:
        p = Proc("serve", "--identity", str(alliance_dir / "operator"), "--data", str(ledger), "--listen", server,
                 "--checkpoint-ms", "20", "--verify-workers", "0")
        procs.append(p)
        p.port()
        return p

    operator = start_operator()
    acknowledged: list[bytes] = []
    failures: dict[str, int] = {}
    stop = threading.Event()

    def submit() -> None:
        with Member(Identity.load(tmp_path / "member-a"), server, tmp_path / "member-state", pool_size=0,
                    timeout=10) as member:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    receipt = member.submit_report(f"streamer-{i}", "fake_traffic", "minor", "2026-10-01")
                except VerificationError as exc:  # never acceptable: a receipt that does not verify
                    failures[f"verification: {exc}"] = failures.get(f"verification: {exc}", 0) + 1
                except CandorError as exc:  # the operator is away: not acknowledged, try the next
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    time.sleep(0.05)
                else:
                    acknowledged.append(receipt.report_id)

    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()
    try:
        for _ in range(ROUNDS):
            seen = len(acknowledged)
            wait_until(lambda: len(acknowledged) > seen, "a report acknowledged by the restarted operator")
            operator.stop(signal.SIGKILL)
            operator = start_operator()
        seen = len(acknowledged)
        wait_until(lambda: len(acknowledged) > seen, "a report after the last restart")
    finally:
        stop.set()
        submitter.join(timeout=60)
    assert not any(k.startswith("verification") for k in failures), failures

    regulator = Identity.load(alliance_dir / "regulator")
    with Connection(regulator, server) as conn:
        size = LogVerifier(regulator.genesis_leaf()).open(conn.checkpoint().note, quorum=0).checkpoint.size
        leaves = conn.entries(0, size)
    from candor import wire

    on_ledger = {b.report_id for b in (wire.signed_entry_from_bytes(leaf).entry.body for leaf in leaves)
                 if isinstance(b, e.ReportCommitted)}
    lost = [rid.hex() for rid in acknowledged if rid not in on_ledger]
    assert not lost, f"{len(lost)} acknowledged report(s) missing after {ROUNDS} SIGKILLs: {lost}"

    # The witness and the trustee were never restarted: the witness cosigns the final ledger,
    # the trustee's mirror follows it.
    wait_until(lambda: cosigned(regulator, server) >= size, "the witness to cosign the final ledger")
    wait_until(lambda: mirror_size(tmp_path / "mirror.db") >= size, "the trustee's mirror to catch up")
    assert witness.proc.poll() is None and trustee.proc.poll() is None
    done = run_cli("audit", "--identity", str(alliance_dir / "regulator"), "--server", server, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reports"] >= len(acknowledged)
