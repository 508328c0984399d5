"""Several operator servers over one PostgreSQL database (docs/architecture.md; server/shared_sequencer.py).

Real `candor serve` subprocesses share one schema: clients submit to both, one sequences,
the ledger stays one linear history that `candor audit` accepts; SIGKILL of the sequencer
mid-load loses no acknowledged report and the other server takes over; SIGTERM hands over
gracefully. In-process tests show that two sequencers cannot both commit (lease + the
store's compare-and-set), what a client sees when the database goes away (through a TCP
proxy the test cuts), migrations run twice, metrics and JSON logs.

PostgreSQL: CANDOR_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
each test uses a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client.audit import replay
from client.sdk import Member, ReportReceipt
from core import entries as e
from core import merkle, state
from core.errors import CandorError, Conflict, InvalidInput, PermissionDenied, StaleRing, Unavailable
from server import postgres_migrations
from server.app import Operator, Settings, create_server
from server.database import migrate_data, open_for_serving
from server.ledger import Ledger
from server.logging_setup import configure_json_logs
from server.metrics import samples
from server.postgres_intake import IntakeOutcome, SequencerLease
from server.postgres_store import PostgresStore
from server.sqlite_migrations import MIGRATIONS as SQLITE_MIGRATIONS

pytestmark = pytest.mark.slow  # several servers and subprocesses over PostgreSQL
PG_URL = os.environ.get("CANDOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEADLINE = 30.0  # liveness bound for waits; never a timing assertion


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> str:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} ({exc}); set CANDOR_TEST_POSTGRES_URL")
    return PG_URL


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def sql_value(url: str, schema: str, query: str, *params: Any) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def wait_until(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> float:
    """Poll `check` until true; return the seconds it took. Fails (not hangs) after `deadline`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > deadline:
            pytest.fail(f"gave up after {deadline:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def recent() -> str:
    return (_dt.datetime.now(_dt.timezone.utc).date() - _dt.timedelta(days=30)).isoformat()


def member(alliance_dir: Path, name: str, port: int, state_dir: Path) -> Member:
    state_dir.mkdir(parents=True, exist_ok=True)
    return Member(Identity.load(alliance_dir / f"member-{name}"), f"127.0.0.1:{port}", state_dir, pool_size=2)


def revoke_leaf(alliance_dir: Path, who: str) -> bytes:
    key = Identity.load(alliance_dir / "regulator").signing_key()
    body = e.MemberRevoked(who, "test")
    return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(time.time() * 1000)), key)


def take_lease(store: PostgresStore, holder: str) -> SequencerLease:
    """Try the lease until it is free (PostgreSQL releases a dead session's lock at once)."""
    deadline = time.monotonic() + DEADLINE
    while (lease := store.try_sequencer_lease(holder)) is None:
        assert time.monotonic() < deadline, "the sequencer lease was never released"
        time.sleep(0.05)
    return lease


def sequencing_operator(alliance_dir: Path, pg_url: str, schema: str) -> tuple[PostgresStore, Operator]:
    """An in-process operator over the (migrated) schema, holding the sequencer lease."""
    store = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), lease_poll=0.1), store)
    op.bootstrap(alliance_dir / "operator")
    wait_until(lambda: op.ledger.sequencing, "the sequencer lease")
    return store, op


def assert_in_ledger(store: PostgresStore, receipts: list[ReportReceipt]) -> None:
    """Every acknowledged receipt names an entry that is in the ledger, with its leaf hash."""
    size = store.size()
    indices = [r.index for r in receipts]
    assert len(set(indices)) == len(indices), "two receipts name the same index"
    for r in receipts:
        assert r.index < size
        assert merkle.leaf_hash(store.entry(r.index)) == r.leaf_hash, f"entry {r.index} is not the receipt's"


def audit_cli(alliance_dir: Path, port: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "candor.cli", "audit", "--identity", str(alliance_dir / "regulator"),
                           "--server", f"127.0.0.1:{port}", "--no-quorum", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["ok"] is True
    return result


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "candor.cli", *args], capture_output=True, text=True, timeout=120)


class Served:
    """A `candor serve` subprocess over the shared schema, with metrics and JSON logs."""

    def __init__(self, alliance_dir: Path, url: str, schema: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "candor.cli", "serve", "--identity", str(alliance_dir / "operator"),
             "--data", url, "--schema", schema, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--checkpoint-ms", "20", "--log-json"],
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        def read() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        found: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while len(found) < 2:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"candor serve did not start: {log_path.read_text()[-2000:]}")
            for key in ("listening on", "metrics on"):
                if line.startswith(key):
                    found[key] = int(line.split()[-1])
        self.port = found["listening on"]
        self.metrics_port = found["metrics on"]

    def metric(self, series: str) -> float | None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        except (urllib.error.URLError, OSError):
            return None
        return dict(samples(text)).get(series)

    def sequencing(self) -> bool:
        return self.metric("candor_sequencer") == 1

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.wait()

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._log.close()

    def logs(self) -> list[dict[str, Any]]:
        """Every line of its stderr, each a JSON object (with --log-json nothing else is written)."""
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


@pytest.fixture
def servers(alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path) -> Iterator[list[Served]]:
    """Two `candor serve` processes over one freshly migrated schema; the first sequences."""
    done = run_cli("db", "migrate", "--data", pg_url, "--schema", schema, "--json")
    assert done.returncode == 0, done.stderr
    started: list[Served] = []
    try:
        started.append(Served(alliance_dir, pg_url, schema, tmp_path / "a.log"))
        wait_until(started[0].sequencing, "the first server to take the sequencer lease")
        started.append(Served(alliance_dir, pg_url, schema, tmp_path / "b.log"))
        yield started
    finally:
        for s in started:
            if s.proc.poll() is None:
                s.proc.kill()
                s.wait()


# -- several servers, one ledger --------------------------------------------------------------


def submit_all(alliance_dir: Path, tmp_path: Path, plan: list[tuple[str, int]], count: int) -> list[ReportReceipt]:
    """Each (member, port) pair submits `count` reports, all pairs at once."""
    receipts: list[ReportReceipt] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run(name: str, port: int, k: int) -> None:
        try:
            with member(alliance_dir, name, port, tmp_path / f"{name}-{port}") as m:
                for i in range(count):
                    r = m.submit_report(f"anchor-{k}-{i}", "fake_traffic", "serious", recent())
                    with lock:
                        receipts.append(r)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n, p, k)) for k, (n, p) in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    return receipts


def test_two_servers_share_one_linear_ledger(alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path,
                                             servers: list[Served]) -> None:
    a, b = servers
    assert a.sequencing() and not b.sequencing()
    plan = [("a", a.port), ("b", b.port), ("c", a.port), ("a", b.port)]
    receipts = submit_all(alliance_dir, tmp_path, plan, count=3)
    assert len(receipts) == 12
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        assert_in_ledger(store, receipts)
        assert store.size() == 5 + 12  # genesis, 3 admissions, rule set, then exactly the reports
    assert audit_cli(alliance_dir, b.port)["reports"] == 12

    # Both servers answered reports; only the sequencer appended.
    assert a.metric('candor_reports_total{method="SubmitReport",status="OK"}') == 6
    assert b.metric('candor_reports_total{method="SubmitReport",status="OK"}') == 6
    assert (b.metric("candor_sequencer_batches_total") or 0) == 0
    assert (a.metric("candor_sequencer_batches_total") or 0) >= 1
    assert b.metric("candor_ledger_size") == 17

    # Structured logs: one JSON line per RPC, with a request id, method, status and duration.
    assert any(r.get("logger") == "candor.serve" and "serving" in r["msg"] for r in a.logs())
    rpc_lines = [r for r in b.logs()
                 if r.get("logger") == "candor.rpc" and r.get("method", "").endswith("SubmitReport")]
    assert len(rpc_lines) == 6
    assert all(r["status"] == "OK" and len(r["request_id"]) == 16 and r["duration_ms"] > 0 for r in rpc_lines)

    # SIGTERM: the sequencer finishes, releases the lease, and the other server takes over.
    stopped_at = time.monotonic()
    assert a.stop(signal.SIGTERM) == 0
    takeover = wait_until(b.sequencing, "the second server to take over after SIGTERM")
    print(f"graceful takeover: {time.monotonic() - stopped_at:.2f} s after SIGTERM ({takeover:.2f} s after exit)")
    more = submit_all(alliance_dir, tmp_path, [("b", b.port)], count=1)
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        assert_in_ledger(store, receipts + more)
    assert audit_cli(alliance_dir, b.port)["reports"] == 13


def test_sequencer_killed_mid_load_loses_no_acknowledged_report(alliance_dir: Path, pg_url: str, schema: str,
                                                               tmp_path: Path, servers: list[Served]) -> None:
    a, b = servers
    acked: list[ReportReceipt] = []
    on_b_failed: list[BaseException] = []
    stop = threading.Event()
    killed = threading.Event()
    lock = threading.Lock()

    def load(name: str, server: Served, k: int) -> None:
        with member(alliance_dir, name, server.port, tmp_path / f"{name}-{server.port}") as m:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = m.submit_report(f"anchor-{k}-{i}", "contract_default", "general", recent())
                except CandorError as exc:
                    if server is a and killed.is_set():
                        return  # its server is gone: expected
                    on_b_failed.append(exc)
                    return
                with lock:
                    acked.append(r)

    threads = [threading.Thread(target=load, args=(n, s, k), daemon=True)
               for k, (n, s) in enumerate([("a", a), ("b", a), ("b", b), ("c", b)])]
    for t in threads:
        t.start()
    wait_until(lambda: len(acked) >= 6, "reports to be acknowledged before the kill", 90)
    # Aim the SIGKILL at a moment when the sequencer's session is inside a commit transaction
    # (best effort: the transaction guarantees the outcome either way).
    mid_batch = _wait_for_sequencer_transaction(pg_url, schema, deadline=5.0)
    a.proc.kill()  # SIGKILL: no clean-up at all
    killed.set()
    killed_at = time.monotonic()
    before = len(acked)
    takeover = wait_until(b.sequencing, "the surviving server to take the sequencer lease")
    print(f"takeover after SIGKILL: {takeover:.2f} s")
    wait_until(lambda: len(acked) >= before + 4, "reports acknowledged by the surviving server", 90)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    a.wait()
    assert not on_b_failed, on_b_failed  # the surviving server's clients never noticed the kill

    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        assert_in_ledger(store, acked)
        # Rows the dead server had queued are decided too (appended or refused), none is stuck.
        wait_until(lambda: store.intake_pending() == 0, "every queued entry to be decided")
    report = audit_cli(alliance_dir, b.port)
    assert report["reports"] >= len(acked)
    print(f"{len(acked)} acknowledged, {report['reports']} on the ledger, killed {time.monotonic() - killed_at:.1f} s "
          f"ago, {'inside' if mid_batch else 'outside'} a sequencer transaction")


def _wait_for_sequencer_transaction(url: str, schema: str, deadline: float) -> bool:
    """Poll until the lease holder's session is inside a write transaction; False on timeout."""
    with psycopg.connect(url, autocommit=True) as conn:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            row = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'candor-sequencer%%'"
                " AND state IN ('active', 'idle in transaction') AND xact_start IS NOT NULL"
                " AND (query LIKE '%%entries%%' OR query LIKE '%%intake_outcome%%' OR query LIKE '%%nodes%%'"
                " OR query LIKE '%%state%%')").fetchone()
            if row is not None:
                return True
    return False


# -- two sequencers: impossible by construction -------------------------------------------------


def test_a_follower_tries_for_the_lease_on_one_kept_connection(pg_url: str, schema: str) -> None:
    """A follower polls for the lease twice a second: on one PostgreSQL backend, not a new
    one each try; the try that gets the lock holds it on that backend; a kept connection the
    server ended meanwhile is replaced, not failed on."""
    migrate_data(pg_url, schema=schema)
    holder = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    follower = PostgresStore(pg_url, schema=schema, auto_migrate=False)

    def backends() -> list[int]:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            return [int(pid) for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'candor-sequencer follower'").fetchall()]

    try:
        lease = take_lease(holder, "holder")
        assert follower.try_sequencer_lease("follower") is None
        (kept,) = backends()
        for _ in range(5):
            assert follower.try_sequencer_lease("follower") is None
        assert backends() == [kept]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (kept,))
        wait_until(lambda: not backends(), "the kept backend to end")
        assert follower.try_sequencer_lease("follower") is None  # on a new connection, no error
        (kept,) = backends()
        assert kept != lease.backend_pid
        lease.release()
        taken = follower.try_sequencer_lease("follower")
        assert taken is not None and taken.backend_pid == kept
        assert holder.sequencer_holder() == ("candor-sequencer follower", kept)
        taken.release()
    finally:
        holder.close()
        follower.close()


def test_a_second_sequencer_cannot_commit(alliance_dir: Path, pg_url: str, schema: str) -> None:
    from server.ceremony import bootstrap_entries

    migrate_data(pg_url, schema=schema)
    signer = Identity.load(alliance_dir / "operator").note_signer()
    store_a = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    store_b = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    try:
        ledger_a, ledger_b = Ledger(store_a, signer), Ledger(store_b, signer)  # threads not started
        ledger_a.append_now(bootstrap_entries(alliance_dir / "operator"))
        leaf_c, leaf_b = revoke_leaf(alliance_dir, "c"), revoke_leaf(alliance_dir, "b")

        # 1. The lock: while A holds the lease, B cannot take it.
        lease_a = store_a.try_sequencer_lease("server-a")
        assert lease_a is not None
        assert store_b.try_sequencer_lease("server-b") is None
        assert store_b.sequencer_holder() == ("candor-sequencer server-a", lease_a.backend_pid)

        # 2. The compare-and-set: B believes it sequences and prepares index 5 ...
        stale = ledger_b.prepare([(leaf_b, wire.signed_entry_from_bytes(leaf_b), False)])
        assert stale.first == 5 and stale.batch is not None
        # ... while A, the real sequencer, appends an entry handed over by B's server.
        (row,) = store_b.intake_submit([(leaf_c, False, "")], server="server-b")
        (pending,) = lease_a.pending(10, 30)
        prepared = ledger_a.prepare([(pending.leaf, wire.signed_entry_from_bytes(pending.leaf), False)])
        assert prepared.batch is not None
        lease_a.commit(prepared.batch, [IntakeOutcome(row, index=5)], 30)
        with pytest.raises(Conflict, match="batch starts at index 5 but the ledger has 6 entries"):
            store_b.commit(stale.batch)
        assert store_a.size() == 6 and store_a.entry(5) == leaf_c
        assert store_b.intake_collect([row]) == [IntakeOutcome(row, index=5)]

        # 3. A's session dies (and with it the lock): A can no longer commit anything,
        # even a batch that would fit; B takes the lease and continues the same history.
        (row2,) = store_b.intake_submit([(leaf_b, False, "")], server="server-b")
        (pending2,) = lease_a.pending(10, 30)
        late = ledger_a.prepare([(pending2.leaf, wire.signed_entry_from_bytes(pending2.leaf), False)])
        assert late.batch is not None
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lease_a.backend_pid,))
        with pytest.raises(Unavailable, match="database unreachable|sequencer lease lost"):
            lease_a.commit(late.batch, [IntakeOutcome(row2, index=6)], 30)
        with pytest.raises(Unavailable, match="sequencer lease lost"):
            lease_a.pending(10, 30)
        assert store_a.size() == 6
        lease_b = take_lease(store_b, "server-b")
        assert store_a.sequencer_holder() == ("candor-sequencer server-b", lease_b.backend_pid)
        assert store_a.try_sequencer_lease("server-a") is None
        (pending3,) = lease_b.pending(10, 30)
        batch_b = ledger_b.prepare([(pending3.leaf, wire.signed_entry_from_bytes(pending3.leaf), False)]).batch
        assert batch_b is not None
        lease_b.commit(batch_b, [IntakeOutcome(row2, index=6)], 30)
        # A's stale batch for index 6, committed around any lease, is refused: no fork.
        with pytest.raises(Conflict):
            store_a.commit(late.batch)
        # Nor can B's first stale batch (for index 5) land anywhere now.
        with pytest.raises(Conflict):
            store_a.commit(stale.batch)
        lease_b.release()

        leaves = store_a.entries(0, store_a.size())
        assert leaves[5:] == [leaf_c, leaf_b]
        _, report = replay(leaves)  # one linear history from genesis
        assert report.size == 7
    finally:
        store_a.close()
        store_b.close()


def test_lease_churn_keeps_one_history(alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path) -> None:
    """The sequencer's session is killed again and again while two servers take reports:
    every call still gets its receipt, and the ledger is one history with each report once."""
    migrate_data(pg_url, schema=schema)
    ident = Identity.load(alliance_dir / "operator")
    stores = [PostgresStore(pg_url, schema=schema, auto_migrate=False) for _ in range(2)]
    ops = [create_server(Settings(identity=ident, lease_poll=0.1, server_name=f"churn-{i}"), s)
           for i, s in enumerate(stores)]
    stop = threading.Event()
    kills: list[int] = []

    def killer() -> None:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            while not stop.wait(0.15):
                holder = stores[0].sequencer_holder()
                if holder is not None:
                    admin.execute("SELECT pg_terminate_backend(%s)", (holder[1],))
                    kills.append(holder[1])

    try:
        ops[0].bootstrap(alliance_dir / "operator")
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        plan = [("a", ops[0].port), ("b", ops[1].port), ("c", ops[0].port), ("a", ops[1].port)]
        receipts = submit_all(alliance_dir, tmp_path, plan, count=4)
        stop.set()
        thread.join()
        assert len(kills) >= 2
        assert_in_ledger(stores[0], receipts)
        _, report = replay(stores[0].entries(0, stores[0].size()))
        assert report.reports == len(receipts) == 16 and report.size == 21
        took = [op.metrics.takeovers.value() for op in ops]
        print(f"{len(kills)} sequencer sessions killed; takeovers per server {took}")
    finally:
        stop.set()
        for op, s in zip(ops, stores):
            op.stop(grace=1)
            s.close()


def test_a_receipt_comes_on_a_server_that_missed_the_checkpoint_notification(alliance_dir: Path, pg_url: str,
                                                                             schema: str) -> None:
    """Server B keeps the latest cosigned checkpoint note between changes it hears of, so a
    batch's receipts read it once (`Ledger.receipt`). A checkpoint signed by server A whose
    notification B never gets must still reach B's receipts: after a wait that heard
    nothing, B reads the store again instead of trusting what it kept."""
    from server.ceremony import bootstrap_entries

    migrate_data(pg_url, schema=schema)
    signer = Identity.load(alliance_dir / "operator").note_signer()
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store_a, \
            PostgresStore(pg_url, schema=schema, auto_migrate=False) as store_b:
        ledger_a, ledger_b = Ledger(store_a, signer), Ledger(store_b, signer)  # no watcher threads: B hears nothing
        size = ledger_a.append_now(bootstrap_entries(alliance_dir / "operator"))
        first = ledger_b.receipt(size - 1, timeout=5)
        assert first.checkpoint_size == size
        added = ledger_a.append_now([revoke_leaf(alliance_dir, "c")])  # a new checkpoint, signed by A alone
        assert added == size + 1
        later = ledger_b.receipt(size, timeout=5)  # would wait out its timeout on the kept note
        assert later.checkpoint_size == size + 1 and later.index == size


def test_an_intake_row_is_decided_once(alliance_dir: Path, pg_url: str, schema: str) -> None:
    """A row its server cancelled can never be appended, and an outcome must match its entry."""
    migrate_data(pg_url, schema=schema)
    signer = Identity.load(alliance_dir / "operator").note_signer()
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        from server.ceremony import bootstrap_entries

        ledger = Ledger(store, signer)
        ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        leaf = revoke_leaf(alliance_dir, "c")
        lease = store.try_sequencer_lease("only")
        assert lease is not None
        (row,) = store.intake_submit([(leaf, False, "")], server="s")
        prepared = ledger.prepare([(leaf, wire.signed_entry_from_bytes(leaf), False)])
        assert prepared.batch is not None
        assert store.intake_cancel([row], "Unavailable", "gave up") == 1
        with pytest.raises(Conflict, match="decided meanwhile"):
            lease.commit(prepared.batch, [IntakeOutcome(row, index=5)], 30)
        assert store.size() == 5  # the append rolled back with the outcome
        # An outcome naming an index that holds another leaf is refused too.
        (row2,) = store.intake_submit([(revoke_leaf(alliance_dir, "b"), False, "")], server="s")
        with pytest.raises(Conflict, match="do not hold the entry appended at their index"):
            lease.commit(prepared.batch, [IntakeOutcome(row2, index=5)], 30)
        assert store.size() == 5
        lease.release()


def test_a_server_that_missed_a_commit_lets_nothing_stale_through(alliance_dir: Path, pg_url: str, schema: str,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Server B keeps the ring and member records that reports read until it hears of the next
    commit (docs/architecture.md, "Intake over a shared store"). Here B misses the
    notification of A's commit revoking member c. A report signed under the old ring before
    the revocation passes B's own intake checks against the ring B kept, and the sequencer
    refuses it against the store: nothing is appended. c itself is refused at B's door,
    which reads the store. A report naming the new ring makes B read the ring again and is
    accepted."""
    migrate_data(pg_url, schema=schema)
    store_a, op_a = sequencing_operator(alliance_dir, pg_url, schema)
    store_b = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    op_b = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), lease_poll=0.1), store_b)
    ma = member(alliance_dir, "a", op_b.port, tmp_path / "member-a")
    mc = member(alliance_dir, "c", op_b.port, tmp_path / "member-c")
    try:
        # B's watcher misses every notification from here on (a lost or late NOTIFY).
        forget = op_b.ledger.appended_elsewhere
        monkeypatch.setattr(op_b.ledger, "appended_elsewhere",
                            lambda: None if threading.current_thread().name == "candor-intake-watch" else forget())
        for m in (ma, mc):  # B now keeps a's and c's records and the ring
            m.submit_report("anchor-1", "fake_traffic", "serious", recent())
        old_ring_a = ma.prepare_report("anchor-2", "fake_traffic", "critical", recent())
        old_ring_c = mc.prepare_report("anchor-2", "fake_traffic", "critical", recent())
        assert not op_b.ledger.sequencing
        revoked_at = op_a.ledger.append(revoke_leaf(alliance_dir, "c"))
        kept = state.member_record(op_b.ledger.intake_view, "c")
        assert kept is not None and kept.revoked_at is None  # what B's intake kept is stale
        assert state.current_ring(op_b.ledger.intake_view)[1] < revoked_at

        size = store_a.size()
        with pytest.raises(PermissionDenied, match=f"member c was revoked at entry {revoked_at}"):
            mc.submit_prepared(old_ring_c)
        with pytest.raises(StaleRing, match=f"member set changed at entry {revoked_at}"):
            ma.submit_prepared(old_ring_a)
        assert store_a.size() == size
        for leaf in (old_ring_a, old_ring_c):
            body = wire.signed_entry_from_bytes(leaf).entry.body
            assert isinstance(body, e.ReportCommitted)
            assert store_a.get(state.report_key(body.report_id.hex())) is None

        # A member still in the ring names the new ring; B reads it again rather than refuse.
        receipt = ma.submit_report("anchor-3", "fake_traffic", "minor", recent())
        assert receipt.index == size
        assert state.current_ring(op_b.ledger.intake_view)[1] == revoked_at
    finally:
        ma.close()
        mc.close()
        op_b.stop(grace=1)
        op_a.stop(grace=1)
        store_b.close()
        store_a.close()


def test_the_lease_holders_own_reports_skip_the_intake_table(alliance_dir: Path, pg_url: str, schema: str,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports sent to the server that holds the lease go straight to its sequencer: no intake
    row is written or read for them, and each gets its receipt (server/sequencer.py)."""
    migrate_data(pg_url, schema=schema)
    store, op = sequencing_operator(alliance_dir, pg_url, schema)
    handed_off: list[int] = []
    real_submit = store.intake_submit

    def counting(entries: Any, *, server: str) -> list[int]:
        handed_off.append(len(entries))
        return real_submit(entries, server=server)

    monkeypatch.setattr(store, "intake_submit", counting)
    try:
        with member(alliance_dir, "a", op.port, tmp_path / "member-a") as m:
            receipts = [m.submit_report(f"anchor-{k}", "fake_traffic", "minor", recent()) for k in range(3)]
        assert sorted(r.index for r in receipts) == [5, 6, 7]
        assert_in_ledger(store, receipts)
        assert handed_off == []
        assert sql_value(pg_url, schema, "SELECT count(*) FROM intake") == 0
    finally:
        op.stop(grace=1)
        store.close()


def test_a_commit_that_failed_after_it_was_durable_still_answers_with_the_index(
        alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease holder's commit of its own report reaches the disk, then the database call
    fails (a connection lost at COMMIT). The sequencer reads the ledger to learn that the
    report was appended and answers with its index: no second append, no ALREADY_EXISTS.
    If the ledger cannot be read either, the caller is told it may or may not be appended."""
    migrate_data(pg_url, schema=schema)
    store, op = sequencing_operator(alliance_dir, pg_url, schema)
    real_commit = SequencerLease.commit
    failures: list[str] = []

    def durable_then_failing(self: SequencerLease, *args: Any, **kwargs: Any) -> None:
        real_commit(self, *args, **kwargs)
        if failures:
            raise Unavailable(f"database unreachable: {failures.pop()}")

    monkeypatch.setattr(SequencerLease, "commit", durable_then_failing)
    try:
        with member(alliance_dir, "a", op.port, tmp_path / "member-a") as m:
            failures.append("connection lost at COMMIT")
            receipt = m.submit_prepared(m.prepare_report("anchor-1", "fake_traffic", "minor", recent()))
            assert not failures and receipt.index == 5 and store.size() == 6
            assert_in_ledger(store, [receipt])

            real_entries = store.entries
            monkeypatch.setattr(store, "entries", lambda *a: (_ for _ in ()).throw(Unavailable("database unreachable")))
            failures.append("connection lost at COMMIT")
            leaf = m.prepare_report("anchor-2", "fake_traffic", "minor", recent(), refresh=False)
            with pytest.raises(Unavailable, match="may or may not be appended: resend the same report id"):
                m.submit_prepared(leaf)
            monkeypatch.setattr(store, "entries", real_entries)
            assert store.size() == 7  # it was: resending says so
            with pytest.raises(CandorError, match="already on the ledger"):
                m.submit_prepared(leaf)
    finally:
        op.stop(grace=1)
        store.close()


def test_a_holder_that_loses_the_lease_hands_its_own_reports_to_the_next(
        alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Server A's session dies inside the commit of a report A accepted itself, and server B
    takes the lease. The report, on A's own lane, goes to the intake table, B appends it,
    and A's client gets its receipt."""
    migrate_data(pg_url, schema=schema)
    store_a, a = sequencing_operator(alliance_dir, pg_url, schema)
    store_b = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    b = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), lease_poll=0.1), store_b)
    monkeypatch.setattr(store_a, "try_sequencer_lease", lambda holder: None)  # A never takes it again
    real_commit = SequencerLease.commit
    killed: list[int] = []

    def dying(self: SequencerLease, *args: Any, **kwargs: Any) -> None:
        if not killed and self.holder == a.ledger.sequencer.name:  # type: ignore[attr-defined]
            killed.append(self.backend_pid)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (self.backend_pid,))
        real_commit(self, *args, **kwargs)

    monkeypatch.setattr(SequencerLease, "commit", dying)
    try:
        with member(alliance_dir, "a", a.port, tmp_path / "member-a") as m:
            receipt = m.submit_prepared(m.prepare_report("anchor-1", "fake_traffic", "minor", recent()))  # no resend
        assert killed and b.ledger.sequencing and not a.ledger.sequencing
        assert receipt.index == 5
        assert_in_ledger(store_a, [receipt])
    finally:
        a.stop(grace=1)
        b.stop(grace=1)
        store_a.close()
        store_b.close()


def test_one_hand_off_queues_many_entries_each_under_its_own_id(alliance_dir: Path, pg_url: str,
                                                               schema: str) -> None:
    """`intake_submit` inserts a group in one statement; every id it returns names the row
    holding that very entry, whatever order PostgreSQL inserts them in."""
    migrate_data(pg_url, schema=schema)
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        leaves = [revoke_leaf(alliance_dir, who) + bytes([k]) for k, who in enumerate("abcabcabc")]
        entries = [(leaf, k % 2 == 0, f"req-{k}") for k, leaf in enumerate(leaves)]
        ids = store.intake_submit(entries, server="s")
        assert len(set(ids)) == len(ids) == len(leaves)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            for intake_id, (leaf, verified, request_id) in zip(ids, entries):
                row = conn.execute("SELECT leaf, verified, server, request_id FROM intake WHERE id = %s",
                                   (intake_id,)).fetchone()
                assert row == (leaf, verified, "s", request_id)
        assert store.intake_submit([], server="s") == []
        assert store.intake_pending() == len(leaves)
        with pytest.raises(InvalidInput, match="intake leaf"):
            store.intake_submit([(leaves[0], True, ""), (b"", True, "")], server="s")
        with pytest.raises(InvalidInput, match="verified must be a bool"):
            store.intake_submit([(leaves[0], 1, "")], server="s")  # type: ignore[list-item]
        assert store.intake_pending() == len(leaves)  # a refused group writes nothing


def test_entries_never_handed_off_are_refused_at_shutdown(alliance_dir: Path, pg_url: str, schema: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A server stopping while its hand-off to the intake table hangs on the database answers
    the entries it never queued with UNAVAILABLE ("not appended") instead of leaving them to
    time out, and queues nothing after it stopped. (A server that does not hold the lease:
    the holder's own entries skip the intake table.)"""
    migrate_data(pg_url, schema=schema)
    holder = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    lease = take_lease(holder, "elsewhere")
    store = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), lease_poll=0.1), store)
    op.bootstrap(alliance_dir / "operator")
    stuck, release, inserted = threading.Event(), threading.Event(), threading.Event()
    real_submit = store.intake_submit

    def hanging(entries: Any, *, server: str) -> list[int]:
        stuck.set()
        release.wait(DEADLINE)
        try:
            return real_submit(entries, server=server)
        finally:
            inserted.set()

    monkeypatch.setattr(store, "intake_submit", hanging)
    sequencer = op.ledger.sequencer
    try:
        first_leaf = revoke_leaf(alliance_dir, "b")
        first = op.ledger.submit(first_leaf, wire.signed_entry_from_bytes(first_leaf), verified=False)
        assert stuck.wait(DEADLINE)
        second_leaf = revoke_leaf(alliance_dir, "c")
        second = op.ledger.submit(second_leaf, wire.signed_entry_from_bytes(second_leaf), verified=False)
        sequencer.stop(drain=0.1)  # type: ignore[call-arg]
        with pytest.raises(Unavailable, match="before it could queue the entry"):
            second.result(timeout=DEADLINE)
        with pytest.raises(Unavailable, match="shutting down"):
            sequencer.submit(second_leaf, wire.signed_entry_from_bytes(second_leaf), verified=False)
        assert not first.done()  # its insert is under way: its outcome is the database's to say
        assert not op.ledger.sequencing
    finally:
        release.set()
        inserted.wait(DEADLINE)  # the schema is dropped after the test: no insert may race that
        op.stop(grace=1)
        store.close()
        lease.release()
        holder.close()


# -- the database going away ----------------------------------------------------------------------


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut (`down`) and restore (`up`)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                if self._listener is not listener:  # cut while this one was being connected
                    for s in (client, upstream):
                        s.close()
                    return
                self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                select.select([src], [], [], 1.0)
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: select on a socket another thread closed
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        """Refuse new connections and cut every open one (the database host is gone)."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        assert listener is not None
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
        listener.close()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        if self._listener is not None:
            self.down()


def test_database_going_away_mid_request(alliance_dir: Path, pg_url: str, schema: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    migrate_data(pg_url, schema=schema)
    parts = urllib.parse.urlsplit(pg_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    via_proxy = urllib.parse.urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    direct = PostgresStore(pg_url, schema=schema, auto_migrate=False)
    blocker = direct.try_sequencer_lease("test-blocker")  # nobody sequences until released
    assert blocker is not None
    store = open_for_serving(via_proxy, schema=schema)
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), intake_timeout=2.0,
                                lease_poll=0.2), store)
    m = None
    try:
        op.bootstrap(alliance_dir / "operator")
        m = member(alliance_dir, "a", op.port, tmp_path / "member-a")
        r1 = m.prepare_report("anchor-1", "fake_traffic", "serious", recent())
        r2 = m.prepare_report("anchor-2", "fake_traffic", "minor", recent(), refresh=False)

        # 1. The entry is queued, then the database goes away before anyone appends it.
        outcome: list[BaseException | ReportReceipt] = []
        sender = threading.Thread(target=lambda: outcome.append(_try(lambda: m.submit_prepared(r1))))
        sender.start()
        wait_until(lambda: direct.intake_pending() == 1, "the report to be queued")
        proxy.down()
        # 2. A call arriving while it is gone fails at once, clearly, with nothing written.
        with pytest.raises(Unavailable, match="database unreachable"):
            m.submit_prepared(r2)
        sender.join(timeout=DEADLINE)
        (err,) = outcome
        assert isinstance(err, Unavailable) and "database became unreachable" in str(err)
        assert direct.size() == 5

        # 3. The database returns; the queued entry had expired, so it is refused, not appended:
        # UNAVAILABLE meant "not appended", and resending it now succeeds exactly once.
        proxy.up()
        blocker.release()
        wait_until(lambda: direct.intake_pending() == 0, "the expired entry to be decided")
        assert direct.size() == 5
        assert sql_value(pg_url, schema, "SELECT error_class FROM intake_outcome") == "Unavailable"
        got2 = m.submit_prepared(r2)
        got1 = m.submit_prepared(r1)
        assert (got2.index, got1.index) == (5, 6)

        # 4. The connection dies inside the sequencer's commit: nothing of that batch is
        # written, the lease is retaken and the same entry is appended once; the client only
        # sees its receipt.
        killed: list[int] = []
        original = store._write_state  # type: ignore[attr-defined]

        def kill_then_write(conn: psycopg.Connection[Any], *args: Any) -> None:
            if not killed:
                killed.append(conn.info.backend_pid)
                with psycopg.connect(pg_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            original(conn, *args)

        monkeypatch.setattr(store, "_write_state", kill_then_write)
        r3 = m.prepare_report("anchor-3", "false_advertising", "critical", recent())
        got3 = m.submit_prepared(r3)
        assert killed and got3.index == 7 and direct.size() == 8
        # Each stored leaf is the report sent, with the escrow the operator sealed beside it.
        stored = [wire.signed_entry_from_bytes(leaf) for leaf in direct.entries(5, 8)]
        assert [s.entry_bytes for s in stored] == [wire.signed_entry_from_bytes(r).entry_bytes for r in (r2, r1, r3)]
        _, report = replay(direct.entries(0, 8))
        assert report.reports == 3
    finally:
        if m is not None:
            m.close()
        op.stop(grace=1)
        store.close()
        direct.close()
        proxy.close()


def _try(fn: Callable[[], ReportReceipt]) -> BaseException | ReportReceipt:
    try:
        return fn()
    except BaseException as exc:  # noqa: BLE001 - the test inspects it
        return exc


# -- migrations ---------------------------------------------------------------------------------


def test_migrations_are_explicit_and_idempotent(alliance_dir: Path, pg_url: str, schema: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # serve refuses a schema that was never migrated, naming the command to run
    refused = run_cli("serve", "--identity", str(alliance_dir / "operator"), "--data", pg_url, "--schema", schema,
                      "--listen", "127.0.0.1:0")
    assert refused.returncode == 1
    assert "run `candor db migrate --data <url> --schema" in refused.stderr.replace("\n", " ")
    assert sql_value(pg_url, schema, "SELECT to_regclass('entries')::text") is None  # nothing created

    # an outdated schema (only migration 1) is refused as well
    monkeypatch.setattr(postgres_migrations, "MIGRATIONS", postgres_migrations.MIGRATIONS[:1])
    assert migrate_data(pg_url, schema=schema)["applied"] == [1]
    monkeypatch.undo()
    with pytest.raises(Conflict, match="is at version 1; this Candor needs version 4: run `candor db migrate"):
        open_for_serving(pg_url, schema=schema)

    first = run_cli("db", "migrate", "--data", pg_url, "--schema", schema, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["applied"] == [2, 3, 4]
    again = run_cli("db", "migrate", "--data", pg_url, "--schema", schema, "--json")
    assert json.loads(again.stdout) == {"applied": [], "backend": "postgresql", "schema": schema, "version": 4}
    open_for_serving(pg_url, schema=schema).close()


def test_leaves_stay_in_their_row(pg_url: str, schema: str) -> None:
    """A report leaf (2 to 5 KB) is stored in the row of entries and intake, not compressed
    and cut into chunks of a TOAST table (migration 3); a value larger than a page still
    goes out of line, so nothing is refused."""
    migrate_data(pg_url, schema=schema)
    leaf, large = os.urandom(5_000), os.urandom(20_000)
    toast = "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = %s::regclass"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("INSERT INTO entries (idx, data) VALUES (0, %s)", (leaf,))
        conn.execute("INSERT INTO intake (leaf, verified, server) VALUES (%s, true, 'test')", (leaf,))
        assert [conn.execute(toast, (table,)).fetchone() for table in ("entries", "intake")] == [(0,), (0,)]
        conn.execute("INSERT INTO entries (idx, data) VALUES (1, %s)", (large,))
        assert conn.execute(toast, ("entries",)).fetchone() != (0,)
        assert conn.execute("SELECT data FROM entries ORDER BY idx").fetchall() == [(leaf,), (large,)]


def test_decided_intake_rows_move_to_their_own_table(pg_url: str, schema: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 4: an outcome no server has collected yet moves from `intake` to
    `intake_outcome`, where `intake_collect` finds it; an undecided row stays queued."""
    monkeypatch.setattr(postgres_migrations, "MIGRATIONS", postgres_migrations.MIGRATIONS[:3])
    assert migrate_data(pg_url, schema=schema)["applied"] == [1, 2, 3]
    monkeypatch.undo()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("INSERT INTO entries (idx, data) VALUES (0, 'x')")
        conn.execute("INSERT INTO intake (leaf, verified, server, done, idx, decided_at)"
                     " VALUES ('x', true, 'a', true, 0, clock_timestamp())")
        conn.execute("INSERT INTO intake (leaf, verified, server, done, error_class, error_message)"
                     " VALUES ('y', true, 'a', true, 'Conflict', 'a replay')")
        conn.execute("INSERT INTO intake (leaf, verified, server) VALUES ('z', true, 'b')")
    assert migrate_data(pg_url, schema=schema)["applied"] == [4]
    with PostgresStore(pg_url, schema=schema, auto_migrate=False) as store:
        assert store.intake_pending() == 1
        collected = sorted(store.intake_collect([1, 2, 3]), key=lambda o: o.id)
        assert collected == [IntakeOutcome(1, 0), IntakeOutcome(2, None, "Conflict", "a replay")]
        assert store.intake_collect([1, 2]) == []  # read once
        assert store.intake_cancel([3], "Unavailable", "gave up") == 1
        assert store.intake_cancel([3], "Unavailable", "gave up") == 0  # decided once
        assert store.intake_pending() == 0
        assert store.intake_collect([3]) == [IntakeOutcome(3, None, "Unavailable", "gave up")]
        # A row decided in place, as a server of an earlier version would, is never pending.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            conn.execute("INSERT INTO intake (leaf, verified, server, done, idx) VALUES ('x', true, 'old', true, 0)")
        lease = store.try_sequencer_lease("new")
        assert lease is not None
        assert store.intake_pending() == 0 and lease.pending(10, 30) == []
        assert store.intake_cancel([4], "Unavailable", "gave up") == 0
        lease.release()


def test_db_migrate_on_sqlite_and_bad_urls(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    assert migrate_data(str(path))["applied"] == [v for v, _ in SQLITE_MIGRATIONS]
    assert migrate_data(f"sqlite:///{path}")["applied"] == []
    done = run_cli("db", "migrate", "--data", "mysql://db/x")
    assert done.returncode == 1 and "unknown store scheme 'mysql'" in done.stderr
    done = run_cli("db", "migrate", "--data", str(path), "--schema", "x")
    assert done.returncode == 1 and "--schema applies to PostgreSQL only" in done.stderr
    done = run_cli("db", "migrate", "--data", "postgresql://postgres:secret@127.0.0.1:1/test")
    assert done.returncode == 1 and "database unreachable" in done.stderr and "secret" not in done.stderr


# -- metrics and structured logs ------------------------------------------------------------------


def test_metrics_endpoint_and_json_logs(alliance_dir: Path, tmp_path: Path) -> None:
    from server.database import open_store

    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), metrics_listen="127.0.0.1:0"),
                       store)
    logs = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_json_logs(logging.INFO, logs)
    try:
        op.bootstrap(alliance_dir / "operator")
        with member(alliance_dir, "b", op.port, tmp_path / "member-b") as m:
            leaf = m.prepare_report("anchor-9", "fake_traffic", "general", recent())
            m.submit_prepared(leaf)
            with pytest.raises(CandorError, match="already"):
                m.submit_prepared(leaf)  # a replay: ALREADY_EXISTS
            # A caller-supplied request id is kept and echoed back.
            body = wire.signed_entry_from_bytes(leaf).entry.body
            assert isinstance(body, e.ReportCommitted)
            _, rpc = m.conn.reporting.GetReceipt.with_call(gov.GetReceiptRequest(report_id=body.report_id),
                                                           metadata=(("x-request-id", "trace-42"),), timeout=10)
            assert ("x-request-id", "trace-42") in tuple(rpc.trailing_metadata())
        assert op.metrics_port is not None
        url = f"http://127.0.0.1:{op.metrics_port}"
        response = urllib.request.urlopen(f"{url}/metrics", timeout=5)
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"{url}/other", timeout=5)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        op.stop(grace=1)
        store.close()

    values = dict(samples(text))
    assert values['candor_reports_total{method="SubmitReport",status="OK"}'] == 1
    assert values['candor_reports_total{method="SubmitReport",status="ALREADY_EXISTS"}'] == 1
    assert values["candor_report_verification_seconds_count"] >= 2
    assert values["candor_append_latency_seconds_count"] >= 2
    assert values["candor_ledger_size"] == 6
    assert values["candor_sequencer"] == 1
    assert "candor_epoch_lag_seconds" in values  # the test identity names trustees: epochs run here
    assert '# TYPE candor_append_latency_seconds histogram' in text
    assert 'candor_append_latency_seconds_bucket{le="+Inf"}' in text

    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    rpcs = [r for r in lines if r["logger"] == "candor.rpc"]
    submits = [r for r in rpcs if r["method"] == "ReportingService/SubmitReport"]
    assert [r["status"] for r in submits] == ["OK", "ALREADY_EXISTS"]
    assert all(len(r["request_id"]) == 16 and isinstance(r["duration_ms"], float) for r in submits)
    assert len({r["request_id"] for r in rpcs}) == len(rpcs)  # one id per call
    assert any(r["request_id"] == "trace-42" and r["method"] == "ReportingService/GetReceipt" for r in rpcs)
    assert not any("anchor-9" in json.dumps(r) for r in lines)  # no subject ids in logs


def test_stop_releases_the_lease(alliance_dir: Path, pg_url: str, schema: str) -> None:
    """Operator.stop (what SIGTERM runs) drains, releases the lease, and refuses new work."""
    migrate_data(pg_url, schema=schema)
    store, op = sequencing_operator(alliance_dir, pg_url, schema)
    op.stop(grace=1)
    assert store.sequencer_holder() is None  # released, not left to a dying connection
    with pytest.raises(Unavailable, match="shutting down"):
        op.ledger.submit(b"x", wire.signed_entry_from_bytes(revoke_leaf(alliance_dir, "c")), verified=False)
    store.close()
