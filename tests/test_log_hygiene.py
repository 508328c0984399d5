"""Attack: reading subjects and reporters out of the operator's and trustees' logs.

No log line names a subject tag (not even a 12-digit prefix), and a report call's log line
carries no peer address (docs/queries.md, "Logs"). Logs are captured at DEBUG from every
logger while members submit reports over gRPC and a rating epoch runs against real trustees,
and each record is rendered with the JSON formatter, so structured fields count too.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.identity import Identity
from client.sdk import Member
from client.witness import Witness
from server.app import Settings, _epoch_loop, create_server
from server.ceremony import bootstrap_entries
from server.database import open_store
from server.epoch import EpochRunner
from server.logging_setup import JsonFormatter, without_subjects
from server.trustee import create_trustee_server

SUBJECTS = ("anchor:log-alpha", "anchor:log-beta")


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[logging.LogRecord, str]]:
    fmt = JsonFormatter()
    return [(r, fmt.format(r)) for r in caplog.records]


def _assert_clean(caplog: pytest.LogCaptureFixture, tags: list[bytes]) -> None:
    lines = _lines(caplog)
    assert lines, "nothing was logged: the test would prove nothing"
    for record, line in lines:
        for tag in tags:
            assert tag.hex()[:12] not in line, f"subject tag prefix in log line: {line}"
        if str(getattr(record, "method", "")).endswith(("SubmitReport", "RetractReport")):
            assert "peer" not in vars(record) and "ipv4:" not in line and "ipv6:" not in line, line


def _assert_one_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    """Operator and trustees log each RPC at info (method, caller role, status, duration), the
    witness each cosignature, a trustee each share it issues (by request index)."""
    info = [r for r in caplog.records if r.levelno == logging.INFO]
    rpcs = [vars(r) for r in info if r.name == "candor.rpc"]
    for rpc in rpcs:
        assert {"party", "method", "role", "status", "duration_ms"} <= rpc.keys(), rpc
    submits = [r for r in rpcs if r["method"].endswith("SubmitReport")]
    assert submits and all(r["role"] == "member" and r["party"] == "operator" and r["status"] == "OK"
                           for r in submits)
    shares = [r for r in rpcs if r["method"].endswith("RequestShare")]
    assert shares and all(r["party"].startswith("trustee ") and r["role"] == "operator" for r in shares)
    assert any(r["method"].endswith("AddCosignature") and r["role"] == "witness" for r in rpcs)
    assert any(r.name == "candor.witness" and "cosigned checkpoint size" in r.getMessage() for r in info)
    issued = [r.getMessage() for r in info if r.name == "candor.trustee" and "issued a sealed share" in r.getMessage()]
    assert len(issued) >= len(shares) and all("for request " in m for m in issued), issued


def _assert_share_log(alliance_dir: Path, tmp_path: Path, tags: list[bytes]) -> None:
    """`candor trustee log` lists every share a trustee issued, by request index; its table names
    no subject (the JSON carries the records as stored, for the trustee's own audit)."""
    from test_operations import run_cli

    args = ("trustee", "log", "--identity", str(alliance_dir / "trustee-1"), "--data", str(tmp_path / "trustee-1.db"))
    done = run_cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    shares = json.loads(done.stdout)["shares"]
    assert shares and all(isinstance(r["request"], int) and r["combiner"] for r in shares)
    table = run_cli(*args)
    assert table.returncode == 0 and f"rating request {shares[0]['request']}" in table.stdout, table.stdout
    assert not any(tag.hex()[:12] in table.stdout for tag in tags)


@pytest.mark.slow
def test_service_commands_log_each_request_by_default(alliance_dir: Path, tmp_path: Path) -> None:
    """`candor serve` (no -v) logs each RPC at info, with the caller's role and no name."""
    from test_operations import Proc, free_port, run_cli

    server = f"127.0.0.1:{free_port()}"
    op = Proc("serve", "--identity", str(alliance_dir / "operator"), "--data", str(tmp_path / "ledger.db"),
              "--listen", server)
    try:
        op.port()
        shutil.copytree(alliance_dir / "witness-1", tmp_path / "witness-1")  # its state file stays here
        done = run_cli("witness", "--identity", str(tmp_path / "witness-1"), "--server", server, "--once",
                       "--json")
        assert done.returncode == 0, done.stderr
        line = op.wait_for("rpc LedgerService/AddCosignature from witness: OK")
        assert "witness-1" not in line
    finally:
        op.stop()


@pytest.fixture()
def running(alliance_dir: Path, tmp_path: Path) -> Iterator[tuple[Any, list[Any]]]:
    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), querylog_interval=None), store)
    op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
    trustees, stores = [], [store]
    for i in (1, 2, 3):
        tstore = open_store(str(tmp_path / f"trustee-{i}.db"))
        stores.append(tstore)
        (tmp_path / f"trustee-{i}").mkdir()
        trustees.append(create_trustee_server(Identity.load(alliance_dir / f"trustee-{i}"), tstore, "127.0.0.1:0",
                                              f"127.0.0.1:{op.port}", state_dir=tmp_path / f"trustee-{i}"))
    op.epochs = EpochRunner(op.ledger, Identity.load(alliance_dir / "operator"),
                            {i + 1: f"127.0.0.1:{t[1]}" for i, t in enumerate(trustees)})
    yield op, trustees
    for server, _port, trustee in trustees:
        server.stop(0)
        trustee.mirror.conn.close()
    op.epochs.close()
    op.stop(grace=0.5)
    for s in stores:
        s.close()


def _cosign(alliance_dir: Path, op: Any, tmp: Path) -> None:
    op.ledger.wait_checkpoint(op.ledger.store.size())
    w = Witness.open(Identity.load(alliance_dir / "witness-1"), f"127.0.0.1:{op.port}", tmp)
    try:
        w.step()
    finally:
        w.conn.close()


@pytest.mark.slow
def test_reports_and_an_epoch_log_no_subject_and_no_reporter_address(
        running: tuple[Any, list[Any]], alliance_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    op, _trustees = running
    caplog.set_level(logging.DEBUG)
    day = (_dt.date.today() - _dt.timedelta(days=20)).isoformat()
    members = [Member(Identity.load(alliance_dir / f"member-{m}"), f"127.0.0.1:{op.port}", tmp_path / m)
               for m in ("a", "b", "c")]
    try:
        tags = [members[0].subject_tag(s) for s in SUBJECTS]
        for m in members:
            m.submit_report(SUBJECTS[0], "fake_traffic", "minor", day)
        members[0].submit_report(SUBJECTS[1], "fake_traffic", "general", day)
    finally:
        for m in members:
            m.close()
    assert any(str(getattr(r, "method", "")).endswith("SubmitReport") for r in caplog.records)
    for _ in range(2):  # request, cosign, answer (as a witness would, continuously)
        _cosign(alliance_dir, op, tmp_path)
        op.epochs.run()
    _assert_clean(caplog, tags)
    _assert_one_line_per_request(caplog)
    _assert_share_log(alliance_dir, tmp_path, tags)

    # The background epoch loop with its trustees gone: it logs why it waits, never for whom.
    caplog.clear()
    op.epochs.close()
    op.epochs = EpochRunner(op.ledger, Identity.load(alliance_dir / "operator"), {1: "127.0.0.1:9", 2: "127.0.0.1:9"})
    members = [Member(Identity.load(alliance_dir / f"member-{m}"), f"127.0.0.1:{op.port}", tmp_path / m)
               for m in ("b", "c")]
    try:
        for m in members:
            m.submit_report(SUBJECTS[1], "contract_default", "minor", day)
    finally:
        for m in members:
            m.close()
    _cosign(alliance_dir, op, tmp_path)
    stop = threading.Event()
    loop = threading.Thread(target=_epoch_loop, args=(op.epochs, 0.05, stop), daemon=True)
    loop.start()
    try:
        stop.wait(1.0)
    finally:
        stop.set()
        loop.join(timeout=30)
    _assert_clean(caplog, tags)


def test_console_messages_quoted_in_a_log_lose_their_subject() -> None:
    tag = bytes(range(32))
    message = f"{tag.hex()[:12]}…: pending: only 1 of the 2 trustee shares needed"
    assert without_subjects(message) == "<subject>: pending: only 1 of the 2 trustee shares needed"
    assert tag.hex() not in without_subjects(f"subject {tag.hex()} held")
