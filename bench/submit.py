"""`python -m bench.submit`: the wall time of one `candor report submit` against a big ledger.

The issue-12 target: ≤ 0.5 s for a one-shot `candor report submit` (a fresh process: start-up,
imports, the member SDK's sync, a report's proofs, the call, the receipt's verification)
against a ledger of 10^5 entries. The bench

1. sets up an alliance of three members with the test-only 3072-bit threshold key (the size a
   real alliance deals, `server.ceremony.Plan.key_bits`);
2. bulk-loads a SQLite ledger: the ceremony's bootstrap entries through the real `Ledger`,
   then `--entries` reports written directly as `AppendBatch`es, each with the Merkle nodes
   and the state updates `core.state.apply` derives for it (what the sequencer writes), and a
   signed checkpoint at the new size;
3. starts an operator on that store in this process (mTLS on localhost, as `candor serve`),
   and has the alliance's witness cosign the newest checkpoint before each run (untimed), as
   a deployment's witnesses do in the background: so the member's persisted head advances
   and the checkpoints its receipts rest on are dropped from `receipts.state` once covered
   (client/receipt_log.py), rather than each run re-checking every receipt of every earlier
   run;
4. runs `candor report submit` as a subprocess with one member's identity folder: the first
   run finds no persisted ledger view and replays the whole ledger, the second is the steady
   state (it loads the view the first one persisted and fetches only the entries since);
   `--steady K` more steady-state runs follow (default 2), since one wall time on a shared
   machine is noisy. It prints the first and second wall times, the median of the steady-state
   runs, and that median's ratio to the target. The runs use
   cached bytecode, as an installed package has it (filled by one import beforehand, also
   where PYTHONDONTWRITEBYTECODE is set): compiling the sources would otherwise be timed.

Bench-only shortcut, stated plainly: the bulk-loaded reports are copies of one real report
(made by another member against a ledger holding the bootstrap entries) with a fresh
commitment (so a fresh, derived report id), subject tag and coupon commitment each. Their
validity proofs and ring signatures therefore do not verify. Nothing measured checks them:
the member SDK replays with `verify=False` (client/sdk.py: it checks the chain of roots and
the state rules, the per-report proofs were checked at intake), so its replay of such an
entry costs what it costs for a real report of the same size. Never run an audit on this
ledger. The report the CLI submits is a real one, verified by the operator's intake.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

KEY_FILE = Path(__file__).resolve().parent.parent / "tests" / "keys" / "test_only_threshold_3072_t2_n3.json"
TARGET_S = 0.5  # issue 12: one `candor report submit` against a ledger of 10^5 entries
DEFAULT_ENTRIES = 100_000
CATEGORIES = ("contract_default", "fake_traffic", "false_advertising")
SUBJECTS = 500
BATCH = 5_000


def make_alliance(root: Path) -> Path:
    from server.ceremony import Plan, init_alliance

    init_alliance(Plan(directory=root, members=("a", "b", "c"), trustees=3, threshold=2, witnesses=1,
                       key_file=KEY_FILE, categories=CATEGORIES))
    return root


def template_report(alliance: Path, tmp: Path) -> bytes:
    """One real report as the operator stores it (with its sealed escrow), made by member b
    against a ledger holding the bootstrap entries."""
    from api import wire
    from api.identity import Identity
    from client.sdk import Member
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store
    from server.intake import seal_report

    store = open_store(str(tmp / "template.db"))
    op = create_server(Settings(identity=Identity.load(alliance / "operator")), store)
    try:
        op.ledger.append_now(bootstrap_entries(alliance / "operator"))
        with Member(Identity.load(alliance / "member-b"), f"127.0.0.1:{op.port}", tmp / "state-template",
                    pool_size=0, coupon_pool_size=0) as member:
            member.refresh()
            day = _dt.date.today() - _dt.timedelta(days=30)
            leaf = member.prepare_report("template", "fake_traffic", "minor", day, refresh=False)
            sealed, _ = seal_report(op.ledger.alliance, op.ledger.view, "b", wire.signed_entry_from_bytes(leaf),
                                    member.escrow_signature(leaf))
        return sealed
    finally:
        op.stop(grace=0)
        store.close()


def copies(template: bytes, first: int, count: int) -> Iterator[bytes]:
    """`count` copies of the template report for indexes first.. (module docstring): a fresh
    commitment, hence report id, a subject tag out of SUBJECTS, a coupon commitment Cx whose
    x coordinate carries the index in its low bytes (x stays below p), the rest unchanged."""
    from api import wire
    from core import entries as e
    from core import ring

    signed = wire.signed_entry_from_bytes(template)
    body = signed.entry.body
    assert isinstance(body, e.ReportCommitted) and signed.ring_signature is not None
    x_end = ring._HEAD + 2 + 48  # the coupon's Cx follows the header and the branch count: x ‖ y
    for i in range(first, first + count):
        commitment = hashlib.sha256(b"bench commitment %d" % i).digest() + bytes(16)
        tag = hashlib.sha256(b"bench subject %d" % (i % SUBJECTS)).digest()
        new = dataclasses.replace(body, commitment=commitment, report_id=e.derive_report_id(commitment),
                                  subject_tag=tag)
        entry = dataclasses.replace(signed.entry, body=new)
        sig = signed.ring_signature[: x_end - 8] + i.to_bytes(8, "big") + signed.ring_signature[x_end:]
        yield wire.signed_entry_to_bytes(e.SignedEntry(wire.entry_to_bytes(entry), entry, ring_signature=sig,
                                                       escrow=signed.escrow))


def prefill(db: Path, operator_dir: Path, template: bytes, count: int, say: Callable[[str], None]) -> int:
    """Bootstrap entries through the real `Ledger`, then `count` template copies committed
    directly, each with the nodes and state updates of `core.state.apply`; returns the size."""
    from api import wire
    from api.identity import Identity
    from core import merkle, state
    from server.ceremony import bootstrap_entries
    from server.database import open_store
    from server.ledger import Ledger
    from server.storage import AppendBatch

    store = open_store(str(db))
    try:
        ledger = Ledger(store, Identity.load(operator_dir).note_signer())
        first = ledger.append_now(bootstrap_entries(operator_dir))
        ally = ledger.alliance
        nodes: dict[tuple[int, int], bytes] = {}

        def node(level: int, index: int) -> bytes:
            hit = nodes.get((level, index))
            return hit if hit is not None else store.node(level, index)

        t0 = time.perf_counter()
        for start in range(first, first + count, BATCH):
            end = min(first + count, start + BATCH)
            overlay = state.Overlay(ledger.view)
            entries: list[bytes] = []
            written: list[tuple[int, int, bytes]] = []
            rows: list[tuple[str, bytes | None]] = []
            for i, leaf in enumerate(copies(template, start, end - start), start):
                updates = state.apply(overlay, ally, i, wire.signed_entry_from_bytes(leaf), verify=False)
                overlay.updates.update(updates)
                rows.extend(updates.items())
                entries.append(leaf)
                for level, index, digest in merkle.new_nodes(i, merkle.leaf_hash(leaf), node):
                    nodes[(level, index)] = digest
                    written.append((level, index, digest))
            store.commit(AppendBatch(first_index=start, entries=tuple(entries), nodes=tuple(written),
                                     state=tuple(rows)))
            nodes = {(lv, ix): h for (lv, ix), h in nodes.items() if ix >= (end >> lv) - 2}
            rate = (end - first) / (time.perf_counter() - t0)
            say(f"bulk-loading {count:,} reports: {end - first:,} ({rate:,.0f}/s)")
        ledger.sign_checkpoint()
        return store.size()
    finally:
        store.close()


def cli_env(tmp: Path) -> dict[str, str]:
    """The subprocesses' environment: bytecode cached (in `tmp`), as an installed package has
    it, even where PYTHONDONTWRITEBYTECODE is set; `warm_up` fills the cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def warm_up(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", "import candor.cli, client.sdk"], env=env, check=True, timeout=300)


def submit_once(member: Path, address: str, subject: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Wall time of one `candor report submit` process, and its JSON output."""
    day = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()
    cmd = [sys.executable, "-m", "candor.cli", "report", "submit", "--identity", str(member), "--server", address,
           "--subject", subject, "--category", "fake_traffic", "--tier", "minor", "--incident-date", day, "--json"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"candor report submit failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return wall, result


def run(entries: int, tmp: Path, say: Callable[[str], None], extra: int = 2) -> dict[str, Any]:
    from api.identity import Identity
    from client.witness import Witness
    from server.app import Settings, create_server
    from server.database import open_store

    say("setting up the alliance")
    alliance = make_alliance(tmp / "alliance")
    template = template_report(alliance, tmp)
    t0 = time.perf_counter()
    size = prefill(tmp / "ledger.db", alliance / "operator", template, entries, say)
    load_s = time.perf_counter() - t0
    member = tmp / "member-a"
    shutil.copytree(alliance / "member-a", member)  # the CLI keeps its state in the identity folder
    store = open_store(str(tmp / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance / "operator")), store)
    env = cli_env(tmp)
    warm_up(env)
    address = f"127.0.0.1:{op.port}"
    witness = Witness.open(Identity.load(alliance / "witness-1"), address, tmp / "witness")
    try:
        witness.step()
        say(f"first `candor report submit` on a ledger of {size:,} entries (no persisted view)")
        first, r1 = submit_once(member, address, "bench-first", env)
        witness.step()
        say("second `candor report submit` (steady state)")
        second, r2 = submit_once(member, address, "bench-second", env)
        steady = [second]
        for k in range(extra):
            witness.step()
            steady.append(submit_once(member, address, f"bench-steady-{k}", env)[0])
    finally:
        witness.conn.close()
        op.stop(grace=0)
        store.close()
    return {"entries": entries, "ledger_size": size, "load_s": load_s, "first_s": first, "second_s": second,
            "first_index": r1["receipt"]["index"], "second_index": r2["receipt"]["index"],
            "steady_s": steady, "steady_median_s": statistics.median(steady), "target_s": TARGET_S,
            "ratio": statistics.median(steady) / TARGET_S,
            "view_bytes": os.path.getsize(member / "view.state") if (member / "view.state").exists() else 0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Wall time of `candor report submit` against a big ledger.")
    parser.add_argument("--entries", type=int, default=DEFAULT_ENTRIES,
                        help=f"reports bulk-loaded before the runs (default {DEFAULT_ENTRIES:,})")
    parser.add_argument("--steady", type=int, default=2, help="steady-state runs after the second (default 2)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.entries < 0 or args.steady < 0:
        parser.error("--entries and --steady must be >= 0")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as d:
        result = run(args.entries, Path(d), say, args.steady)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"ledger: {result['ledger_size']:,} entries (bulk-loaded in {result['load_s']:.1f} s)")
    print(f"first  `candor report submit` (replays the whole ledger): {result['first_s']:.3f} s")
    print(f"second `candor report submit` (steady state):             {result['second_s']:.3f} s")
    runs = ", ".join(f"{t:.3f}" for t in result["steady_s"])
    print(f"steady state, {len(result['steady_s'])} runs: {runs} s; median {result['steady_median_s']:.3f} s")
    verdict = "PASS" if result["steady_median_s"] <= TARGET_S else "MISS"
    print(f"steady-state median / target {TARGET_S} s: {result['ratio']:.2f}  {verdict}")
    print(f"persisted view: {result['view_bytes'] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
