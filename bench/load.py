"""`python -m bench.load --clients 64 --seconds 60`: many members at once against a real
local alliance (docs/operations.md, "Load").

A fresh alliance (test-only 1024-bit threshold key, `--members` founding members, one
witness) is made in a temporary folder; `candor serve` and `candor witness` run as real
processes on localhost. `--clients` member clients (threads, spread over worker processes so
the clients' own signing is not bound to one core) then each loop until `--seconds` are up:
submit a report through the SDK (ring-signed, proven, receipt verified) and query a rating
(`GetRating`, answer verified against a cosigned checkpoint), alternately.

Printed: completed operations per second (each kind, and together), p50/p99 latency of
each kind, errors by gRPC status code (a client-side failure is `CLIENT:<exception>`), and
the operator's resident memory (main process and its verification workers; peak and at the
end). The target is 0 errors: nothing here is deliberately wrong.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

KEY_FILE = Path(__file__).resolve().parent.parent / "tests" / "keys" / "test_only_threshold_1024_t2_n3.json"
CATEGORIES = ("contract_default", "fake_traffic")
CLI = [sys.executable, "-m", "candor.cli"]
Sample = tuple[str, float, str]  # (operation, seconds, status)
WARM_UP_S = 8.0  # client processes start and replay the ledger before the clock starts


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _status(exc: BaseException) -> str:
    from api.status import status_for
    from core.errors import CandorError

    if isinstance(exc, CandorError):
        return str(status_for(exc)[0].name)
    return f"CLIENT:{type(exc).__name__}"


def _client(alliance: str, member: str, server: str, state: str, begin: float, deadline: float,
            seed: str) -> list[Sample]:
    """One member client: ready itself (replay the ledger), wait for `begin`, then submit and
    query alternately until `deadline` (both time.time())."""
    import datetime as _dt

    from api.identity import Identity
    from client.ratings import RatingClient
    from client.sdk import Member

    identity = Identity.load(Path(alliance) / member)
    day = (_dt.date.today() - _dt.timedelta(days=2)).isoformat()
    samples: list[Sample] = []
    with Member(identity, server, Path(state), pool_size=0) as m, \
            RatingClient(identity, server, Path(state) / "ratings") as ratings:
        m.refresh()
        time.sleep(max(0.0, begin - time.time()))
        n = 0
        while time.time() < deadline:
            n += 1
            subject = f"load-{seed}-{n}"
            for op in ("submit", "query"):
                start = time.perf_counter()
                try:
                    if op == "submit":
                        m.submit_report(subject, CATEGORIES[n % 2], n % 4, day)
                    else:
                        ratings.get_rating(subject, "monitoring")
                    status = "OK"
                except Exception as exc:  # noqa: BLE001 - counted by status, the run goes on
                    status = _status(exc)
                samples.append((op, time.perf_counter() - start, status))
                if time.time() >= deadline:
                    break
    return samples


def _worker(alliance: str, members: list[str], server: str, state: str, begin: float, deadline: float,
            first: int, count: int) -> list[Sample]:
    """A process running `count` client threads (clients first .. first+count-1)."""
    out: list[Sample] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            got = _client(alliance, members[i % len(members)], server, f"{state}/client-{i}", begin, deadline,
                          str(i))
        except Exception as exc:  # noqa: BLE001 - a client that could not start
            got = [("start", 0.0, _status(exc))]
        with lock:
            out.extend(got)

    threads = [threading.Thread(target=run, args=(first + j,)) for j in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _rss_kb(root: int) -> tuple[int, int]:
    """(main process VmRSS, sum of its descendants' VmRSS) in kB."""
    from bench.intake import _proc_cpu, _status_kb, _tree

    helpers = _tree(_proc_cpu(), root) - {root}
    return _status_kb(root).get("VmRSS", 0), sum(_status_kb(p).get("VmRSS", 0) for p in helpers)


def _wait_line(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text(errors="replace").splitlines():
            if text in line:
                return line
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"no {text!r} from {proc.args!r}: {path.read_text(errors='replace')[-2000:]}")


def _wait_cosigned(alliance: Path, server: str, timeout: float = 60) -> None:
    from api.identity import Identity
    from client.connection import Connection
    from client.verifier import LogVerifier
    from core.errors import CandorError

    regulator = Identity.load(alliance / "regulator")
    deadline = time.monotonic() + timeout
    with Connection(regulator, server) as conn:
        while time.monotonic() < deadline:
            try:
                LogVerifier(regulator.genesis_leaf()).open(conn.checkpoint().note)
                return
            except CandorError:
                time.sleep(0.2)
    raise RuntimeError("the witness never cosigned the genesis checkpoint")


def _warm_up(alliance: Path, member: str, server: str, state: Path) -> None:
    """One report before the clock starts: the operator starts its verification workers with
    the first report, which is start-up, not load."""
    import datetime as _dt

    from api.identity import Identity
    from client.sdk import Member

    day = (_dt.date.today() - _dt.timedelta(days=2)).isoformat()
    with Member(Identity.load(alliance / member), server, state, pool_size=0) as m:
        m.submit_report("load-warm-up", CATEGORIES[0], 0, day)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(clients: int, seconds: float, members: int = 3, processes: int | None = None) -> dict[str, Any]:
    """Run the load and return the figures (see the module docstring)."""
    from server.ceremony import Plan, init_alliance

    tmp = Path(tempfile.mkdtemp(prefix="candor-load-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        names = tuple(chr(ord("a") + i) for i in range(members)) if members <= 26 else \
            tuple(f"m{i}" for i in range(members))
        alliance = tmp / "alliance"
        server = f"127.0.0.1:{_free_port()}"
        init_alliance(Plan(directory=alliance, members=names, trustees=3, threshold=2, witnesses=1, quorum=1,
                           key_file=KEY_FILE, categories=CATEGORIES, server=server))
        logs = {name: tmp / f"{name}.log" for name in ("serve", "witness")}
        with open(logs["serve"], "wb") as out:
            procs.append(subprocess.Popen([*CLI, "serve", "--identity", str(alliance / "operator"), "--data",
                                           str(tmp / "ledger.db"), "--listen", server], stdout=out,
                                          stderr=subprocess.STDOUT))
        _wait_line(logs["serve"], "listening on", procs[0])
        with open(logs["witness"], "wb") as out:
            procs.append(subprocess.Popen([*CLI, "witness", "--identity", str(alliance / "witness-1"), "--server",
                                           server, "--interval", "0.05"], stdout=out, stderr=subprocess.STDOUT))
        _wait_cosigned(alliance, server)
        operator_pid = procs[0].pid

        n_proc = max(1, min(clients, processes or (os.cpu_count() or 2)))
        shares = [clients // n_proc + (1 if i < clients % n_proc else 0) for i in range(n_proc)]
        peak = [0, 0]
        stop = threading.Event()

        def sample_rss() -> None:
            while not stop.wait(0.5):
                main, helpers = _rss_kb(operator_pid)
                peak[0], peak[1] = max(peak[0], main), max(peak[1], helpers)

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        member_dirs = [f"member-{n}" for n in names]
        _warm_up(alliance, member_dirs[0], server, tmp / "warm-up")
        ctx = multiprocessing.get_context("spawn")
        # Clients start together once every process is up and has replayed the ledger.
        start = time.time() + WARM_UP_S + 0.05 * clients
        deadline = start + seconds
        with ctx.Pool(n_proc) as pool:
            jobs = [pool.apply_async(_worker, (str(alliance), member_dirs, server, str(tmp / "clients"), start,
                                               deadline, sum(shares[:i]), shares[i])) for i in range(n_proc)]
            samples: list[Sample] = [s for job in jobs for s in job.get(timeout=seconds + 600)]
        elapsed = max(time.time(), deadline) - start
        stop.set()
        sampler.join(timeout=5)
        main, helpers = _rss_kb(operator_pid)
        peak = [max(peak[0], main), max(peak[1], helpers)]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    result: dict[str, Any] = {"clients": clients, "seconds": round(elapsed, 2), "processes": n_proc,
                              "members": members, "operations": {}}
    for op in ("submit", "query"):
        ok = [s for o, s, st in samples if o == op and st == "OK"]
        result["operations"][op] = {"ok": len(ok), "per_s": round(len(ok) / elapsed, 2),
                                    "p50_ms": round(_pct(ok, 0.50) * 1000, 1),
                                    "p99_ms": round(_pct(ok, 0.99) * 1000, 1),
                                    "mean_ms": round(statistics.fmean(ok) * 1000, 1) if ok else 0.0}
    result["per_s"] = round(sum(v["ok"] for v in result["operations"].values()) / elapsed, 2)
    result["errors"] = dict(Counter(st for _, _, st in samples if st != "OK"))
    result["server_rss_mb"] = {"main_peak": round(peak[0] / 1024, 1), "main_end": round(main / 1024, 1),
                               "workers_peak": round(peak[1] / 1024, 1), "workers_end": round(helpers / 1024, 1)}
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent member clients (default 64)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they run (default 60)")
    parser.add_argument("--members", type=int, default=3, help="founding members the clients share (default 3)")
    parser.add_argument("--processes", type=int, default=None,
                        help="client processes (default: one per core, at most one per client)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.members < 1:
        parser.error("--clients and --members must be at least 1 and --seconds positive")
    result = run(args.clients, args.seconds, args.members, args.processes)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    out = Console()
    table = Table(title=f"Load: {args.clients} clients for {result['seconds']} s "
                        f"({result['processes']} client processes, {args.members} members)")
    for col in ("operation", "ok", "per s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for op, v in result["operations"].items():
        table.add_row(op, str(v["ok"]), f"{v['per_s']:.1f}", f"{v['p50_ms']:.1f}", f"{v['p99_ms']:.1f}")
    table.add_row("together", "", f"{result['per_s']:.1f}", "", "")
    out.print(table)
    errors = result["errors"]
    out.print("errors: " + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) if errors else "none (target 0)"))
    rss = result["server_rss_mb"]
    out.print(f"operator RSS: main {rss['main_end']} MB (peak {rss['main_peak']} MB), verification workers "
              f"{rss['workers_end']} MB (peak {rss['workers_peak']} MB)")


if __name__ == "__main__":
    main()
