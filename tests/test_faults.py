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
from test_cpu import running
from test_operations import Proc, free_port, run_cli

from api.identity import Identity
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
    from api import wire

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


def _descendants(pid: int) -> set[int]:
    """The processes under `pid` (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.mark.slow
def test_a_killed_operator_leaves_no_verification_process_behind(alliance_dir: Path, tmp_path: Path,
                                                                 procs: list[Proc]) -> None:
    """SIGKILL gives the operator no chance to shut its verification pool down: its fork
    server and workers notice by themselves and end, instead of waiting for ever on the
    pool's queue (their memory is the operator's, docs/operations.md)."""
    server = f"127.0.0.1:{free_port()}"
    shutil.copytree(alliance_dir / "member-a", tmp_path / "member-a")
    operator = Proc("serve", "--identity", str(alliance_dir / "operator"), "--data", str(tmp_path / "ledger.db"),
                    "--listen", server, "--checkpoint-ms", "20", "--verify-workers", "2")
    procs.append(operator)
    operator.port()
    with Member(Identity.load(tmp_path / "member-a"), server, tmp_path / "member-state", pool_size=0,
                timeout=60) as member:  # the pool starts with the first report
        member.submit_report("streamer-1", "fake_traffic", "minor", "2026-10-01")
    helpers = _descendants(operator.proc.pid)
    assert len(helpers) >= 3  # the fork server and its two workers
    operator.stop(signal.SIGKILL)
    wait_until(lambda: not any(running(pid) for pid in helpers), "the killed operator's helpers to end")


def _copy_operator(alliance_dir: Path, tmp_path: Path, trustees: dict[int, str]) -> Path:
    """The operator's folder with its trustees at the given addresses (a moved party)."""
    folder = tmp_path / "operator"
    shutil.copytree(alliance_dir / "operator", folder)
    info = json.loads((folder / "identity.json").read_text())
    info["trustees"] = {str(i): a for i, a in trustees.items()}
    (folder / "identity.json").write_text(json.dumps(info))
    return folder


@pytest.mark.slow
def test_a_witness_killed_and_restarted_recovers_the_quorum(alliance_dir: Path, tmp_path: Path,
                                                           procs: list[Proc]) -> None:
    """The quorum is 1 of 2 witnesses and only witness-1 runs: killed, nothing new is cosigned;
    restarted on its own state, it cosigns again and new reports get cosigned receipts."""
    server = f"127.0.0.1:{free_port()}"
    for party in ("witness-1", "member-a"):
        shutil.copytree(alliance_dir / party, tmp_path / party)
    operator = Proc("serve", "--identity", str(alliance_dir / "operator"), "--data", str(tmp_path / "ledger.db"),
                    "--listen", server, "--checkpoint-ms", "20")
    procs.append(operator)
    operator.port()
    regulator = Identity.load(alliance_dir / "regulator")

    def witness() -> Proc:
        p = Proc("witness", "--identity", str(tmp_path / "witness-1"), "--server", server, "--interval", "0.1")
        procs.append(p)
        return p

    first = witness()
    with Member(Identity.load(tmp_path / "member-a"), server, tmp_path / "member-state", pool_size=0) as member:
        before = member.submit_report("witness-fault-1", "fake_traffic", "minor", "2026-10-01")
        wait_until(lambda: cosigned(regulator, server) > before.index, "the witness to cosign the first report")
        first.stop(signal.SIGKILL)
        during = member.submit_report("witness-fault-2", "fake_traffic", "minor", "2026-10-01")
        assert cosigned(regulator, server) <= during.index  # no witness: the newest checkpoint lacks the quorum
        second = witness()
        wait_until(lambda: cosigned(regulator, server) > during.index, "the restarted witness to cosign")
        after = member.submit_report("witness-fault-3", "fake_traffic", "minor", "2026-10-01")
        wait_until(lambda: cosigned(regulator, server) > after.index, "the restarted witness to cosign again")
        for receipt in (during, after):  # receipts fetched now rest on a cosigned checkpoint
            fetched = member.receipt(receipt.report_id)
            fetched.verify(LogVerifier(regulator.genesis_leaf()), quorum=1)
    assert second.proc.poll() is None
    assert not (tmp_path / "witness-1" / "fork-evidence.json").exists()


@pytest.mark.slow
def test_a_trustee_down_during_an_epoch(alliance_dir: Path, tmp_path: Path, procs: list[Proc]) -> None:
    """2 of 3 trustees: with trustee 3 killed the epoch rates with the other two (exit 0); with
    only one left it says which trustees it cannot reach and exits 1."""
    server = f"127.0.0.1:{free_port()}"
    addresses = {i: f"127.0.0.1:{free_port()}" for i in (1, 2, 3)}
    operator_dir = _copy_operator(alliance_dir, tmp_path, addresses)
    for party in ("witness-1", "trustee-1", "trustee-2", "trustee-3", "member-a", "member-b", "member-c"):
        shutil.copytree(alliance_dir / party, tmp_path / party)
    operator = Proc("serve", "--identity", str(operator_dir), "--data", str(tmp_path / "ledger.db"), "--listen",
                    server, "--checkpoint-ms", "20")
    procs.append(operator)
    operator.port()
    procs.append(Proc("witness", "--identity", str(tmp_path / "witness-1"), "--server", server, "--interval", "0.1"))
    trustees = {}
    for i, address in addresses.items():
        trustees[i] = Proc("trustee", "serve", "--identity", str(tmp_path / f"trustee-{i}"), "--listen", address,
                           "--server", server, "--data", str(tmp_path / f"mirror-{i}.db"))
        procs.append(trustees[i])
        trustees[i].port()

    def report(subject: str, members: tuple[str, ...]) -> None:
        for m in members:
            with Member(Identity.load(tmp_path / f"member-{m}"), server, tmp_path / f"state-{m}", pool_size=0) as mem:
                mem.submit_report(subject, "fake_traffic", "minor", "2026-10-01")

    def epoch() -> tuple[int, dict[str, object], str]:
        done = run_cli("epoch", "run", "--identity", str(operator_dir), "--server", server, "--json")
        return done.returncode, json.loads(done.stdout), done.stderr

    report("trustee-fault-1", ("a", "b", "c"))
    trustees[3].stop(signal.SIGKILL)
    published = 0
    for _ in range(3):  # request, then answer once the request is cosigned
        code, result, err = epoch()
        assert code == 0, (result, err)
        published += int(result["published"])  # type: ignore[call-overload]
        if published:
            break
    assert published == 1, result

    report("trustee-fault-2", ("a", "b", "c"))
    trustees[2].stop(signal.SIGKILL)
    outcomes = [epoch() for _ in range(2)]
    code, result, err = outcomes[-1]
    assert code == 1 and not result.get("published"), (result, err)
    assert "cannot reach the trustee 2" in err and "Traceback" not in err, err
