"""`python -m bench.subject`: how long a subject waits for its own record (docs/subjects.md).

Sets up a test alliance (the test-only 1024-bit threshold key) and an operator over SQLite
on localhost, has three members submit N reports about one anchor, enrols the anchor and
has the witness cosign; then times `SubjectClient.own_record` in-process (fetch, verify
every inclusion proof and signature, derive statuses, verify the current rating and the
query log) and the whole `candor subject record --json` process, next to `candor --help`
(the interpreter and import floor). Target: the record within 1 s for 100 reports.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY_FILE = Path(__file__).resolve().parent.parent / "tests" / "keys" / "test_only_threshold_1024_t2_n3.json"


def _cli(*argv: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "candor.cli", *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"candor {' '.join(argv[:2])} failed: {done.stderr.strip()}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.subject", description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100, help="reports about the subject (default 100)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    from api.identity import Identity
    from client.regulator import Regulator
    from client.sdk import Member
    from client.subject import SubjectClient
    from client.witness import Witness
    from server.app import Settings, create_server
    from server.ceremony import Plan, bootstrap_entries, init_alliance
    from server.database import open_store

    tmp = Path(tempfile.mkdtemp(prefix="candor-bench-subject-"))
    root = tmp / "alliance"
    init_alliance(Plan(directory=root, members=("a", "b", "c"), trustees=3, threshold=2, witnesses=1, quorum=1,
                       key_file=KEY_FILE, categories=("contract_default", "fake_traffic", "false_advertising")))
    store = open_store(str(tmp / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(root / "operator"), verify_workers=0), store)
    try:
        op.ledger.append_now(bootstrap_entries(root / "operator"))
        server = f"127.0.0.1:{op.port}"
        day = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()
        members = [Member(Identity.load(root / f"member-{m}"), server, tmp / f"state-{m}") for m in "abc"]
        for i in range(args.reports):
            members[i % 3].submit_report("anchor:bench", "fake_traffic", "minor", day)
        for m in members:
            m.close()
        folder = tmp / "subject"
        with Regulator(Identity.load(root / "regulator"), server) as regulator:
            regulator.enrol_subject("anchor:bench", folder)
        op.ledger.wait_checkpoint(store.size())
        witness = Witness.open(Identity.load(root / "witness-1"), server, tmp)
        witness.step()
        witness.conn.close()
        with SubjectClient(Identity.load(folder), server, tmp / "subject-state") as client:
            record = client.own_record()
            in_process = []
            for _ in range(args.reps):
                start = time.perf_counter()
                client.own_record()
                in_process.append(time.perf_counter() - start)
        whole = [_cli("subject", "record", "--identity", str(folder), "--server", server, "--json")
                 for _ in range(args.reps)]
        floor = [_cli("--help") for _ in range(args.reps)]
        result = {
            "reports": len(record.reports), "ledger_size": store.size(),
            "own_record_s": round(statistics.median(in_process), 4),
            "cli_process_s": round(statistics.median(whole), 3),
            "cli_floor_s": round(statistics.median(floor), 3),
            "target_s": 1.0,
        }
    finally:
        op.stop(grace=1)
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"subject record, {result['reports']} reports ({result['ledger_size']} ledger entries), medians of "
          f"{args.reps}:")
    print(f"  own_record in-process (fetch + verify + derive): {result['own_record_s'] * 1000:.0f} ms "
          f"(target <= 1 s)")
    print(f"  `candor subject record --json` process:          {result['cli_process_s']:.2f} s "
          f"(`candor --help` floor {result['cli_floor_s']:.2f} s)")


if __name__ == "__main__":
    main()
