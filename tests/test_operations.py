"""Running Candor like a real service (docs/operations.md): real `candor` processes on
localhost that refuse a taken port or store, survive each other's restarts, and fail with
one line instead of a traceback; malformed requests and wrong callers over real gRPC."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from api.identity import Identity
from api.v1 import governance_pb2, ledger_pb2
from candor.cli import main
from client.connection import Connection, secure_channel
from core import entries as e
from core import ring
from core.errors import AlreadyExists, InvalidInput, PermissionDenied, VerificationError

pytestmark = pytest.mark.slow  # every test starts real `candor` processes
CLI = [sys.executable, "-m", "candor.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A `candor` subprocess whose stdout and stderr lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "COLUMNS": "400"})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if text in line:
                return line
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        self.stop()
        pytest.fail(f"no line containing {text!r}; saw: {self.seen[-20:]}")

    def port(self) -> int:
        return int(self.wait_for("listening on").split()[-1])

    def output(self) -> list[str]:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture()
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "COLUMNS": "400"})


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def serve(procs: list[Proc], alliance_dir: Path, data: Path, listen: str = "127.0.0.1:0", *extra: str) -> Proc:
    p = Proc("serve", "--identity", str(alliance_dir / "operator"), "--data", str(data), "--listen", listen,
             "--checkpoint-ms", "20", *extra)
    procs.append(p)
    return p


# -- 1. one port, one store, one process -------------------------------------------------------


def test_second_operator_on_the_same_port_is_refused(alliance_dir: Path, tmp_path: Path,
                                                     procs: list[Proc]) -> None:
    first = serve(procs, alliance_dir, tmp_path / "one.db")
    port = first.port()
    done = run_cli("serve", "--identity", str(alliance_dir / "operator"), "--data", str(tmp_path / "two.db"),
                   "--listen", f"127.0.0.1:{port}")
    line = one_line_error(done)
    assert f"127.0.0.1:{port}" in line and "already in use" in line
    assert first.proc.poll() is None


def test_second_operator_on_the_same_sqlite_file_is_refused(alliance_dir: Path, tmp_path: Path,
                                                            procs: list[Proc]) -> None:
    first = serve(procs, alliance_dir, tmp_path / "one.db")
    first.port()
    done = run_cli("serve", "--identity", str(alliance_dir / "operator"), "--data", str(tmp_path / "one.db"),
                   "--listen", "127.0.0.1:0")
    line = one_line_error(done)
    assert str(tmp_path / "one.db") in line and f"pid {first.proc.pid}" in line
    first.stop()
    again = serve(procs, alliance_dir, tmp_path / "one.db")  # the lock went with the process
    again.port()


def test_second_trustee_on_the_same_port_or_mirror_is_refused(alliance_dir: Path, tmp_path: Path,
                                                              procs: list[Proc]) -> None:
    folder = tmp_path / "trustee-1"
    shutil.copytree(alliance_dir / "trustee-1", folder)
    first = Proc("trustee", "serve", "--identity", str(folder), "--listen", "127.0.0.1:0",
                 "--server", f"127.0.0.1:{free_port()}", "--data", str(tmp_path / "m1.db"))
    procs.append(first)
    port = first.port()
    line = one_line_error(run_cli("trustee", "serve", "--identity", str(folder), "--listen", f"127.0.0.1:{port}",
                                  "--data", str(tmp_path / "m2.db")))
    assert "already in use" in line
    line = one_line_error(run_cli("trustee", "serve", "--identity", str(folder), "--listen", "127.0.0.1:0",
                                  "--data", str(tmp_path / "m1.db")))
    assert "in use by another candor trustee serve" in line


# -- 5. tracebacks become one line --------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    (["serve", "--listen", "7405"], "needs HOST:PORT, e.g. 0.0.0.0:7405"),
    (["serve", "--listen", "127.0.0.1:abc"], "'abc' must be a number from 0 to 65535"),
    (["serve", "--listen", "127.0.0.1:99999"], "'99999' must be a number from 0 to 65535"),
    (["serve", "--listen", "notahost.invalid:7400"], "does not resolve"),
    (["serve", "--checkpoint-ms", "-1"], "--checkpoint-ms -1"),
    (["serve", "--epoch-interval", "-5"], "--epoch-interval -5"),
    (["serve", "--data", "JUNK"], "is not a Candor SQLite database"),
    (["trustee", "serve", "--listen", "7467"], "needs HOST:PORT, e.g. 0.0.0.0:7467"),
    (["serve", "--identity", "TRUNCATED"], "identity.json is not valid JSON"),
])
def test_start_up_mistakes_are_one_line(alliance_dir: Path, tmp_path: Path, argv: list[str], expected: str) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some text\n" * 10)
    truncated = tmp_path / "operator"
    shutil.copytree(alliance_dir / "operator", truncated)
    text = (truncated / "identity.json").read_text()
    (truncated / "identity.json").write_text(text[: len(text) // 2])
    argv = [str(junk) if a == "JUNK" else str(truncated) if a == "TRUNCATED" else a for a in argv]
    if "--identity" not in argv:
        party = "trustee-1" if argv[0] == "trustee" else "operator"
        argv = [*argv[:2 if argv[0] == "trustee" else 1], "--identity", str(alliance_dir / party),
                *argv[2 if argv[0] == "trustee" else 1:]]
    if argv[0] == "serve" and "--data" not in argv:
        argv += ["--data", str(tmp_path / "ledger.db")]
    if argv[0] == "serve" and "--listen" not in argv:
        argv += ["--listen", "127.0.0.1:0"]
    line = one_line_error(run_cli(*argv))
    assert expected in line


def test_serve_reads_a_config_file_and_flags_override_it(alliance_dir: Path, tmp_path: Path,
                                                          procs: list[Proc]) -> None:
    config = tmp_path / "operator.toml"
    config.write_text(f'identity = "{alliance_dir / "operator"}"\ndata = "{tmp_path / "ledger.db"}"\n'
                      'listen = "7405"\ncheckpoint_ms = 20\nverify_workers = 0\n')
    line = one_line_error(run_cli("serve", "--config", str(config)))
    assert "--listen '7405' needs HOST:PORT" in line  # the file's value is used...
    p = Proc("serve", "--config", str(config), "--listen", "127.0.0.1:0")  # ...unless a flag overrides it
    procs.append(p)
    assert p.port() > 0
    config.write_text('listen = "127.0.0.1:0"\nchekpoint_ms = 20\n')
    line = one_line_error(run_cli("serve", "--identity", str(alliance_dir / "operator"), "--config", str(config)))
    assert "unknown setting(s) chekpoint_ms for `candor serve`" in line


def test_a_dead_background_loop_stops_the_operator(alliance_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    died: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died.append(str(hook.exc_value)))  # as `serve` does
    from core.errors import Unavailable
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    try:
        op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        def unreadable() -> int:
            raise RuntimeError("the commit count is unreadable")

        monkeypatch.setattr(op.ledger, "_entries", unreadable)  # the checkpointer's next read raises: it dies
        op.ledger.entries_changed()
        with pytest.raises(Unavailable, match="candor-checkpointer stopped unexpectedly"):
            op.wait(threading.Event(), poll=0.05)
        assert died and "the commit count is unreadable" in died[0]
    finally:
        op.stop(grace=0)
        store.close()


# -- 2. parties wait for each other ----------------------------------------------------------------


def cosigned_size(alliance_dir: Path, port: int) -> int:
    from client.verifier import LogVerifier

    identity = Identity.load(alliance_dir / "regulator")
    with Connection(identity, f"127.0.0.1:{port}") as conn:
        try:
            size: int = LogVerifier(identity.genesis_leaf()).open(conn.checkpoint().note).checkpoint.size
        except VerificationError:  # the newest checkpoint is not cosigned yet
            return 0
    return size


def test_witness_waits_for_the_operator_and_survives_its_restart(alliance_dir: Path, tmp_path: Path,
                                                                 procs: list[Proc]) -> None:
    folder = tmp_path / "witness-1"
    shutil.copytree(alliance_dir / "witness-1", folder)
    port = free_port()
    witness = Proc("witness", "--identity", str(folder), "--server", f"127.0.0.1:{port}", "--interval", "0.1")
    procs.append(witness)
    waiting = witness.wait_for("Waiting for it")
    assert f"operator at 127.0.0.1:{port}" in waiting and "candor serve" in waiting
    operator = serve(procs, alliance_dir, tmp_path / "ledger.db", f"127.0.0.1:{port}")
    operator.port()
    witness.wait_for("is back")
    deadline = time.monotonic() + 30
    while cosigned_size(alliance_dir, port) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cosigned_size(alliance_dir, port) > 0
    operator.stop()  # the operator restarts; the witness carries on by itself
    assert witness.proc.poll() is None
    again = serve(procs, alliance_dir, tmp_path / "ledger.db", f"127.0.0.1:{port}")
    again.port()
    regulator = str(alliance_dir / "regulator")
    done = run_cli("member", "admit", "--identity", regulator, "--server", f"127.0.0.1:{port}", "--member", "late",
                   "--out", str(tmp_path / "member-late"), "--json")
    assert done.returncode == 0, done.stderr
    admitted = json.loads(done.stdout)["checkpoint_size"]
    deadline = time.monotonic() + 30
    while cosigned_size(alliance_dir, port) < admitted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cosigned_size(alliance_dir, port) >= admitted
    assert witness.proc.poll() is None
    assert sum("Waiting for it" in line for line in witness.output()) <= 2  # said once per outage, not per poll


def test_trustee_mirror_waits_for_the_operator(alliance_dir: Path, tmp_path: Path, procs: list[Proc]) -> None:
    folder = tmp_path / "trustee-2"
    shutil.copytree(alliance_dir / "trustee-2", folder)
    port = free_port()
    trustee = Proc("trustee", "serve", "--identity", str(folder), "--listen", "127.0.0.1:0",
                   "--server", f"127.0.0.1:{port}", "--data", str(tmp_path / "mirror.db"))
    procs.append(trustee)
    trustee.port()
    assert f"127.0.0.1:{port}" in trustee.wait_for("Waiting for it")
    serve(procs, alliance_dir, tmp_path / "ledger.db", f"127.0.0.1:{port}").port()
    trustee.wait_for("is back")
    assert trustee.proc.poll() is None


# The operator-kill fault test lives in tests/test_faults.py (one copy of it).


# -- 3. admission is atomic ------------------------------------------------------------------------


def test_failed_admission_leaves_no_identity_folder(alliance_dir: Path, operator: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    regulator = str(alliance_dir / "regulator")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "member-x"
    with pytest.raises(SystemExit):  # operator down
        main(["member", "admit", "--identity", regulator, "--server", f"127.0.0.1:{free_port()}",
              "--member", "x", "--out", str(target)])
    assert "cannot reach the operator" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a name already on the ledger: a folder would be member a's credentials
        main(["member", "admit", "--identity", regulator, "--server", f"127.0.0.1:{operator.port}",
              "--member", "a", "--out", str(target)])
    assert "already admitted" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == []  # no folder, no staging left behind
    main(["member", "admit", "--identity", regulator, "--server", f"127.0.0.1:{operator.port}",
          "--member", "x", "--out", str(target), "--json"])
    assert json.loads(capsys.readouterr().out)["identity_folder"] == str(target)
    assert (target / "tls.crt").is_file() and sorted(os.listdir(out)) == ["member-x"]


# -- 6, 7. messages and exit codes --------------------------------------------------------------


def test_unreachable_operator_names_its_address(alliance_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with pytest.raises(SystemExit):
        main(["audit", "--identity", str(alliance_dir / "regulator"), "--server", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert f"cannot reach the operator at 127.0.0.1:{port}" in err and "candor serve" in err
    assert "failed to connect to all addresses" not in err


@pytest.mark.parametrize("server", ["127.0.0.1:99999", "7400", "127.0.0.1:x"])
def test_bad_operator_address_is_named(alliance_dir: Path, server: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--identity", str(alliance_dir / "regulator"), "--server", server])
    err = capsys.readouterr().err
    assert f"operator address {server!r} is not HOST:PORT" in err


def test_error_text_in_brackets_is_printed_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "[minor, general]"
    with pytest.raises(SystemExit):
        main(["audit", "--identity", str(folder)])
    assert "[minor, general]" in capsys.readouterr().err


def test_small_key_bits_message_names_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["alliance", "init", "--dir", str(tmp_path / "a"), "--members", "a,b,c", "--key-bits", "512"])
    err = capsys.readouterr().err
    assert "at least 2048 bits" in err and "DESIGN" not in err and "allow_insecure" not in err
    assert not (tmp_path / "a").exists()


def test_epoch_run_fails_without_a_cosigned_checkpoint(alliance_dir: Path, operator: Any,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["epoch", "run", "--identity", str(alliance_dir / "operator"), "--server",
              f"127.0.0.1:{operator.port}", "--json", "--wait", "0"])
    assert exit_info.value.code == 1
    error = json.loads(capsys.readouterr().out)
    assert set(error) == {"error", "message", "hint"}
    assert error["error"] == "failed_precondition"
    assert "witness-1" in error["message"] and "candor witness" in error["message"]


def test_rating_without_cosigned_checkpoint_names_missing_witnesses(alliance_dir: Path, operator: Any,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["rating", "get", "--identity", str(alliance_dir / "member-a"), "--server",
              f"127.0.0.1:{operator.port}", "--subject", "streamer-1", "--purpose", "pre-contract"])
    err = capsys.readouterr().err
    assert "witness-1, witness-2" in err and "retry shortly" not in err


def test_member_sdk_names_the_wrong_role(alliance_dir: Path) -> None:
    from client.sdk import Member

    with pytest.raises(InvalidInput, match="belongs to the operator"):
        Member(Identity.load(alliance_dir / "operator"))


def test_status_names_what_is_wrong_then_reports_all_well(alliance_dir: Path, operator: Any, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from client.witness import Witness

    server = f"127.0.0.1:{operator.port}"
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--identity", str(alliance_dir / "operator"), "--server", server, "--json"])
    assert exit_info.value.code == 1
    status = json.loads(capsys.readouterr().out)
    assert status["operator_reachable"] is True and status["ledger_size"] == operator.ledger.store.size()
    assert any("missing witness-1, witness-2" in p for p in status["problems"])
    assert any("trustee 1 at 127.0.0.1:7410" in p for p in status["problems"])  # none runs in this test
    witness = Witness.open(Identity.load(alliance_dir / "witness-1"), server, tmp_path)
    witness.step()
    witness.conn.close()
    main(["status", "--identity", str(alliance_dir / "member-a"), "--server", server, "--json"])
    status = json.loads(capsys.readouterr().out)
    assert status["ok"] is True and status["witnesses"]["witness-1"]["cosigned_latest"] is True
    assert status["witnesses"]["witness-2"] == {"cosigned_latest": False, "age_s": None}  # named, not hidden
    assert status["rules_in_force"]["entry"] > 0 and status["last_epoch"] is None
    assert status["disputes"] == {"open": 0, "overdue": 0, "overdue_ids": [], "oldest_due": None}


def test_status_shows_rules_disputes_and_overdue_from_the_ledger(alliance_dir: Path, operator: Any, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import datetime

    from client.status import ledger_facts
    from client.verifier import LogVerifier
    from core.rules import DEFAULT_RULES_TOML

    server = f"127.0.0.1:{operator.port}"
    member = tmp_path / "member-a"
    shutil.copytree(alliance_dir / "member-a", member)
    day = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    main(["report", "submit", "--identity", str(member), "--server", server, "--subject", "s-1",
          "--category", "fake_traffic", "--tier", "minor", "--incident-date", day, "--json"])
    rid = json.loads(capsys.readouterr().out)["report_id"]
    main(["dispute", "file", "--identity", str(alliance_dir / "member-b"), "--server", server, "--report-id", rid,
          "--statement", "the views were real", "--json"])
    dispute_id = json.loads(capsys.readouterr().out)["dispute_id"]
    with pytest.raises(SystemExit):  # no witness runs: a problem, but the screen still shows the rest
        main(["status", "--identity", str(alliance_dir / "regulator"), "--server", server])
    text = capsys.readouterr().out
    assert "1 open, 0 overdue" in text and "has not cosigned the latest checkpoint" in text
    assert "problem:" in text and "witness-1" in text
    identity = Identity.load(alliance_dir / "regulator")
    verifier = LogVerifier(identity.genesis_leaf())
    with Connection(identity, server) as conn:
        cp = verifier.open(conn.checkpoint().note, quorum=0).checkpoint
        leaves = conn.entries(0, cp.size)
    later = int((time.time() + 25 * 86400) * 1000)  # 25 days on, the 20-day answer date has passed
    facts = ledger_facts(leaves, cp.size, cp.root_hash, verifier.alliance.genesis.categories, later)
    assert facts["disputes"]["overdue_ids"] == [dispute_id]
    assert facts["rules_in_force"]["version"] in DEFAULT_RULES_TOML
    with pytest.raises(VerificationError, match="do not hash to the checkpoint"):  # entries the root does not cover
        ledger_facts(leaves[:-1] + [leaves[0]], cp.size, cp.root_hash, verifier.alliance.genesis.categories, later)


def test_status_last_epoch_is_the_newest_run_of_requests_and_their_answers() -> None:
    from client.status import last_epoch
    from core import record

    def located(index: int, body: e.Body, seconds: int) -> record.Located:
        return record.Located(index, e.LedgerEntry(body, timestamp_ms=seconds * 1000), "signed")

    def request(tag: int) -> e.RatingRequested:
        return e.RatingRequested(bytes([tag]) * 32, 5, bytes(32), (1,), (1,), "2026-12-01", "v1", "changes")

    old = [located(1, request(1), 1000), located(2, e.RatingWithdrawn(1, bytes([1]) * 32, "below k"), 1010)]
    new = [located(3, request(1), 9000), located(4, request(2), 9001), located(5, request(3), 9002),
           located(6, e.RatingWithdrawn(3, bytes([1]) * 32, "below k"), 9010)]
    epoch = last_epoch(old + new, 9100 * 1000)
    assert epoch is not None
    assert (epoch["requests"], epoch["withdrawn"], epoch["unanswered"], epoch["age_s"]) == (3, 1, 2, 100)
    assert last_epoch(old + new[:1], 9100 * 1000)["requests"] == 1  # type: ignore[index]  # a gap splits epochs
    assert last_epoch([], 0) is None


# -- 9. malformed protobuf ------------------------------------------------------------------------


def test_malformed_protobuf_is_invalid_argument_without_traceback(alliance_dir: Path, operator: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    identity = Identity.load(alliance_dir / "witness-1")  # any party: the guard runs before role checks
    cases = [
        ("/candor.v1.LedgerService/GetCheckpoint", b"\x08\x80"),  # truncated varint
        ("/candor.v1.RatingService/GetRating", b"\x12\x02\xff\xfe"),  # purpose: bad UTF-8
        ("/candor.v1.ReportingService/SubmitReport", b"\x0a\x05ab"),  # length beyond the end
    ]
    with secure_channel(identity, f"127.0.0.1:{operator.port}") as channel:
        for method, raw in cases:
            with pytest.raises(grpc.RpcError) as info:
                channel.unary_unary(method)(raw, timeout=10)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, (method, info.value.details())
            assert "malformed request" in (info.value.details() or "")
    assert "Exception deserializing" not in caplog.text and "Traceback" not in caplog.text


def test_trustee_rejects_malformed_protobuf(alliance_dir: Path, tmp_path: Path, procs: list[Proc]) -> None:
    folder = tmp_path / "trustee-3"
    shutil.copytree(alliance_dir / "trustee-3", folder)
    trustee = Proc("trustee", "serve", "--identity", str(folder), "--listen", "127.0.0.1:0",
                   "--server", f"127.0.0.1:{free_port()}", "--data", str(tmp_path / "mirror.db"))
    procs.append(trustee)
    port = trustee.port()
    with (secure_channel(Identity.load(alliance_dir / "operator"), f"127.0.0.1:{port}", "trustee-3") as channel,
          pytest.raises(grpc.RpcError) as info):
        channel.unary_unary("/candor.v1.TrusteeService/RequestShare")(b"\x08\x80", timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    trustee.stop()
    assert not any("Traceback" in line or "deserializing" in line for line in trustee.output())


# -- 10, 11. the ledger refuses bad admissions; only witnesses cosign -------------------------------


def _admit(alliance_dir: Path, port: int, name: str, reporting_key: bytes) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from client.issuing import raw_public
    from client.regulator import regulator_leaf

    body = e.MemberAdmitted(name, raw_public(Ed25519PrivateKey.generate()), reporting_key, name)
    leaf = regulator_leaf(alliance_dir / "regulator", body)
    with Connection(Identity.load(alliance_dir / "regulator"), f"127.0.0.1:{port}") as conn:
        conn.call(conn.governance.AdmitMember, governance_pb2.SubmitEntryRequest(signed_entry=leaf))


def test_admission_with_identity_or_duplicate_reporting_key_is_refused(alliance_dir: Path, operator: Any) -> None:
    from core.group import default_group

    group = default_group()
    identity_point = group.encode(group.identity())
    with pytest.raises(InvalidInput, match="identity point"):
        _admit(alliance_dir, operator.port, "zero", identity_point)
    member_a = Identity.load(alliance_dir / "member-a")
    taken = ring.public_key(int(member_a.read("reporting.key").decode(), 16))
    with pytest.raises(AlreadyExists, match="reporting key is already registered"):
        _admit(alliance_dir, operator.port, "copycat", taken)


@pytest.mark.parametrize("party", ["member-a", "regulator"])
def test_only_witnesses_add_cosignatures(alliance_dir: Path, operator: Any, party: str) -> None:
    identity = Identity.load(alliance_dir / party)
    with Connection(identity, f"127.0.0.1:{operator.port}") as conn:
        size = conn.checkpoint().size
        with pytest.raises(PermissionDenied, match="for the witness"):
            conn.call(conn.ledger.AddCosignature, ledger_pb2.AddCosignatureRequest(size=size, cosignature=b"x"))


# -- 4. the README's deployment, run literally --------------------------------------------------


REPO = Path(__file__).resolve().parent.parent


def readme_deployment() -> list[str]:
    """The commands of the README's first deployment block, continuation lines joined."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## A real deployment, step by step", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        pending += line[:-1].rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(pending)
            pending = ""
    return commands


def test_readme_deployment_runs_literally_to_a_verified_rating(tmp_path: Path, procs: list[Proc]) -> None:
    commands = readme_deployment()
    assert commands[0].startswith("candor alliance init") and commands[-1].startswith("candor rating get")
    ports = {p: free_port() for p in ("7400", "7410", "7411", "7412")}
    swaps = {"ledger.alliance.example:7400": f"127.0.0.1:{ports['7400']}", "0.0.0.0:7400": f"127.0.0.1:{ports['7400']}"}
    for i, p in enumerate(("7410", "7411", "7412"), start=1):
        swaps[f"trustee-{i}.alliance.example:{p}"] = f"127.0.0.1:{ports[p]}"
        swaps[f"0.0.0.0:{p}"] = f"127.0.0.1:{ports[p]}"
    (tmp_path / "candor").symlink_to(REPO / "candor")  # the README runs in a clone
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "400"}
    test_key = REPO / "tests" / "keys" / "test_only_threshold_3072_t2_n3.json"
    last = ""
    transcript: list[str] = []
    for command in commands:
        for old, new in swaps.items():
            command = command.replace(old, new)
        if command.startswith("candor alliance init"):
            command += f" --test-key-file {test_key}"  # a precomputed key instead of a minute of safe primes
        if command.endswith("&"):
            proc = Proc.__new__(Proc)
            proc.proc = subprocess.Popen(["bash", "-c", "exec " + command[:-1]], cwd=tmp_path, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            proc.lines, proc.seen = queue.Queue(), []
            for stream in (proc.proc.stdout, proc.proc.stderr):
                threading.Thread(target=proc._read, args=(stream,), daemon=True).start()
            procs.append(proc)
            if " serve " in command:
                proc.port()  # up before the next step, as a person would check
            continue
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        last = done.stdout
        transcript.append(f"$ {command}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    rating = json.loads(last)
    assert rating["verified"] is True and rating["pending"] is False and rating["grade"] in "ABCD", "\n".join(
        transcript + [line for p in procs for line in p.output()[-15:]])


# -- backup and restore ----------------------------------------------------------------------------


def test_backup_while_serving_restore_audits_and_rollback_is_detected(alliance_dir: Path, tmp_path: Path,
                                                                     procs: list[Proc]) -> None:
    from client.witness import Witness

    ledger, backup = tmp_path / "ledger.db", tmp_path / "backup.db"
    operator = serve(procs, alliance_dir, ledger)
    server = f"127.0.0.1:{operator.port()}"
    regulator = str(alliance_dir / "regulator")

    def admit(name: str) -> None:
        done = run_cli("member", "admit", "--identity", regulator, "--server", server, "--member", name,
                       "--out", str(tmp_path / f"member-{name}"))
        assert done.returncode == 0, done.stderr

    witness_dir = tmp_path / "witness-1"
    shutil.copytree(alliance_dir / "witness-1", witness_dir)

    def cosign() -> int | None:
        witness = Witness.open(Identity.load(witness_dir), server, witness_dir)
        try:
            return witness.step()
        finally:
            witness.conn.close()

    admit("before")
    cosign()
    done = run_cli("db", "backup", "--data", str(ledger), "--out", str(backup), "--json")  # while serving
    assert done.returncode == 0, done.stderr
    saved = json.loads(done.stdout)["size"]
    admit("after")  # the live ledger moves on; the witness cosigns the newer checkpoint
    assert (cosign() or 0) > saved
    from client.verifier import LogVerifier

    member_id = Identity.load(tmp_path / "member-before")
    member_state = tmp_path / "member-before" / "ledger.state"

    def member_sees() -> int:  # a member's verified client, its head persisted between runs
        with Connection(member_id, server) as conn:
            return LogVerifier(member_id.genesis_leaf(), member_state).accept(conn.checkpoint().note, conn).size

    assert member_sees() > saved
    line = one_line_error(run_cli("db", "restore", "--from", str(backup), "--data", str(ledger)))
    assert "in use by another candor serve" in line  # not under a running operator
    operator.stop()
    done = run_cli("db", "restore", "--from", str(backup), "--data", str(ledger), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["size"] == saved, done.stderr
    server = f"127.0.0.1:{serve(procs, alliance_dir, ledger).port()}"
    done = run_cli("audit", "--identity", regulator, "--server", server, "--no-quorum", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["size"] == saved, done.stderr
    with pytest.raises(VerificationError, match="rollback"):  # whoever saw the newer checkpoint notices
        cosign()
    with pytest.raises(VerificationError, match="rollback"):  # a member's client too, in a later run
        member_sees()


# -- service units ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", sorted(p.name for p in (REPO / "deploy").glob("*.service")))
def test_service_units_run_valid_candor_commands(unit: str) -> None:
    import configparser
    import shlex
    import tomllib

    from candor.cli import _config_flags, build_parser

    parsed = configparser.ConfigParser(interpolation=None, strict=False)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read(REPO / "deploy" / unit)
    argv = shlex.split(parsed["Service"]["ExecStart"].replace("%i", "party-1"))
    assert argv[0].endswith("/candor")
    if "--config" in argv:  # the example config stands in for /etc/candor/...
        example = REPO / "deploy" / Path(argv[argv.index("--config") + 1]).name
        tomllib.loads(example.read_text())
        argv[argv.index("--config") + 1] = str(example)
    args, unknown = build_parser().parse_known_args(argv[1:] + _config_flags(argv[1:]))
    assert not unknown and callable(args.fn) and args.identity
