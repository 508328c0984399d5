"""`python -m bench.ledger`: the ledger's append, proof and replay costs, with same-run floors.

1. Append throughput through the real sequencer (decode, Ed25519 verify, state check,
   Merkle nodes, one durable SQLite transaction per batch) against raw durable SQLite
   inserts of the same bytes in the same batch sizes (WAL, synchronous=FULL). Target ≥ 50%.
2. Inclusion and consistency proof latency on a store of 10^6 entries (p50, p99). Target
   p50 ≤ 1 ms.
3. Audit replay rate (entries/s, every signature re-verified). Target ≥ 5,000/s.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from candor import wire
from core import entries as e
from core import merkle
from server.storage import AppendBatch, open_store


def _alliance(tmp: Path) -> Path:
    from server.ceremony import Plan, init_alliance

    keys = Path(__file__).resolve().parent.parent / "tests" / "keys" / "test_only_threshold_1024_t2_n3.json"
    init_alliance(Plan(directory=tmp / "alliance", members=("a", "b", "c"), trustees=3, threshold=2,
                       key_file=keys, categories=("contract_default", "fake_traffic")))
    return tmp / "alliance"


def _rule_entries(alliance: Path, count: int) -> list[bytes]:
    from candor.identity import Identity

    key = Identity.load(alliance / "regulator").signing_key()
    now = int(time.time() * 1000)
    return [wire.sign_leaf(e.LedgerEntry(e.RuleSetPublished(f"bench-{i}", "2026-01-01", f"version = {i}\n"),
                                         timestamp_ms=now), key) for i in range(count)]


def bench_append(alliance: Path, tmp: Path, count: int, clients: int) -> dict[str, float]:
    from candor.identity import Identity
    from server.ceremony import bootstrap_entries
    from server.ledger import Ledger

    leaves = _rule_entries(alliance, count)
    store = open_store(str(tmp / "append.db"))
    ledger = Ledger(store, Identity.load(alliance / "operator").note_signer(), checkpoint_interval=0.05)
    ledger.append_now(bootstrap_entries(alliance / "operator"))
    ledger.start()
    chunks = [leaves[i::clients] for i in range(clients)]

    def client(chunk: list[bytes]) -> None:
        futures = [ledger.submit(leaf, wire.signed_entry_from_bytes(leaf), verified=False) for leaf in chunk]
        for f in futures:
            f.result(timeout=120)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, chunks))
    elapsed = time.perf_counter() - t0
    ledger.stop()
    batch = max(1, round(ledger.appended / max(1, ledger.batches)))
    sizes = [batch] * (count // batch) + ([count % batch] if count % batch else [])
    store.close()

    # The floor: the same bytes, inserted raw with the same batch sizes, equally durable.
    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    t0 = time.perf_counter()
    i = 0
    for size in sizes:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO entries VALUES (?, ?)", [(i + j, leaves[i + j]) for j in range(size)])
        db.execute("COMMIT")
        i += size
    raw = time.perf_counter() - t0
    db.close()
    return {"append_per_s": count / elapsed, "raw_per_s": count / raw, "ratio": (count / elapsed) / (count / raw),
            "mean_batch": statistics.mean(sizes)}


def bench_proofs(tmp: Path, size: int, samples: int) -> dict[str, float]:
    store = open_store(str(tmp / "proofs.db"))
    nodes: dict[tuple[int, int], bytes] = {}
    batch = 10_000
    rng = random.Random(7)
    for start in range(0, size, batch):
        end = min(size, start + batch)
        entries = [rng.randbytes(200) for _ in range(end - start)]
        written: list[tuple[int, int, bytes]] = []
        for i, leaf in enumerate(entries, start):
            for lv, ix, h in merkle.new_nodes(i, merkle.leaf_hash(leaf), lambda lv, ix: nodes[(lv, ix)]):
                nodes[(lv, ix)] = h
                written.append((lv, ix, h))
        store.commit(AppendBatch(first_index=start, entries=tuple(entries), nodes=tuple(written)))
        # keep only the right frontier in memory: older nodes are never read again while appending
        frontier = {(lv, ix): h for (lv, ix), h in nodes.items() if ix >= ((end >> lv) - 2)}
        nodes = frontier
    root = merkle.root_at(size, store.node)

    def timed(fn: Any) -> list[float]:
        out = []
        for _ in range(samples):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return sorted(out)

    def inclusion() -> None:
        i = rng.randrange(size)
        merkle.inclusion_proof(i, size, store.node)

    def consistency() -> None:
        merkle.consistency_proof(rng.randrange(1, size), size, store.node)

    inc, con = timed(inclusion), timed(consistency)
    i = rng.randrange(size)
    merkle.verify_inclusion(store.node(0, i), i, size, merkle.inclusion_proof(i, size, store.node), root)
    store.close()
    return {"size": size, "inclusion_p50_ms": inc[len(inc) // 2], "inclusion_p99_ms": inc[int(len(inc) * 0.99)],
            "consistency_p50_ms": con[len(con) // 2], "consistency_p99_ms": con[int(len(con) * 0.99)]}


def bench_replay(alliance: Path, count: int) -> dict[str, float]:
    from client.audit import replay
    from server.ceremony import bootstrap_entries

    leaves = bootstrap_entries(alliance / "operator") + _rule_entries(alliance, count)
    t0 = time.perf_counter()
    replay(leaves)
    elapsed = time.perf_counter() - t0
    return {"entries": len(leaves), "replay_per_s": len(leaves) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description="Ledger benchmark: append, proofs, replay.")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    append_n, proof_size, replay_n = (500, 20_000, 500) if args.quick else (5_000, 1_000_000, 5_000)
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        alliance = _alliance(tmp)
        with console.status("append throughput"):
            append = bench_append(alliance, tmp, append_n, clients=8)
        with console.status(f"building a {proof_size:,}-entry tree for proof latency"):
            proofs = bench_proofs(tmp, proof_size, samples=200 if args.quick else 2000)
        with console.status("audit replay"):
            replay_r = bench_replay(alliance, replay_n)
    result = {"append": append, "proofs": proofs, "replay": replay_r}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t = Table(title="bench.ledger (floors measured in this run)")
    for col in ("measure", "value", "floor / target", "ratio", "verdict"):
        t.add_column(col)
    t.add_row("append (verify + state + nodes + durable commit)", f"{append['append_per_s']:,.0f}/s",
              f"raw SQLite FULL {append['raw_per_s']:,.0f}/s", f"{append['ratio']:.2f}",
              "PASS" if append["ratio"] >= 0.5 else "MISS (target ≥ 0.50)")
    for kind in ("inclusion", "consistency"):
        p50 = proofs[f"{kind}_p50_ms"]
        t.add_row(f"{kind} proof p50 / p99 at {proofs['size']:,}", f"{p50:.3f} / {proofs[f'{kind}_p99_ms']:.3f} ms",
                  "≤ 1 ms p50", f"{p50:.2f}", "PASS" if p50 <= 1.0 else "MISS")
    t.add_row("audit replay (every signature re-verified)", f"{replay_r['replay_per_s']:,.0f}/s", "≥ 5,000/s",
              f"{replay_r['replay_per_s'] / 5000:.2f}", "PASS" if replay_r["replay_per_s"] >= 5000 else "MISS")
    Console(width=140).print(t)


if __name__ == "__main__":
    main()
