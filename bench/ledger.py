"""`python -m bench.ledger`: the ledger's append, proof and replay costs, with same-run floors.

1. Append throughput through the real sequencer against raw durable SQLite inserts of the
   same bytes in the same batch sizes (WAL, synchronous=FULL), for two kinds of entry:
   reports as the intake path hands them over (ring signature and proof already verified
   in parallel; the sequencer re-checks state: replay, dates, ring currency), target ≥ 0.3,
   and governance entries on GovernanceService's whole path, timed with it: their Ed25519
   signature and an admission's reporting key checked in a `server.intake.Verifier` of
   one worker per core, then the sequencer's state checks, target ≥ 0.5 of one raw durable
   insert per transaction (an earlier issue's: an admission is rare). The store makes
   its files with 16 KiB pages (`server.sqlite_store.PAGE_SIZE`), which alone makes a
   report's leaf cheaper to write; a second floor inserts the same bytes into a file with
   those pages, so the ratio the store's own work earns is printed beside the one its page
   size helps. Each kind runs APPEND_ROUNDS rounds, each followed by its floors; the verdict
   is on the median ratio, and the range is printed beside it (the box is shared: one run of
   each, a minute apart, moved the ratio by a quarter).
   The same reports over PostgreSQL (`--pg-url`, skipped with `--no-postgres` or when the
   database is not reachable): two servers' shared sequencers over one schema, half the
   clients on each, against a raw binary COPY of the same leaves in the same batches. No target:
   it is the shared sequencer's ceiling, which docs/scale.md sets against intake rates.
   With `--grown N`, the reports are appended once more to a ledger already holding N
   earlier reports (`grown_store`), where each report's state rows land on index pages of
   their own and every commit writes those pages back: how appends slow as a ledger grows.
2. Inclusion and consistency proof latency on a store of 10^6 entries (p50, p99). Target
   p50 ≤ 1 ms.
3. Audit replay rate (entries/s, every signature re-verified). Target ≥ 5,000/s, using all
   cores: `client.audit.replay` with a `client.cpu.CpuPool` of one worker per core (started
   and warmed up before timing; the start-up time is printed beside), and the same replay
   in one process for comparison; the same for governance entries (admissions), whose
   Ed25519 signatures and reporting keys the workers check (`core.state.stateless_checks`).
   The reports are about 97 anchors, so each worker hashes a subject's link base B_S to
   the curve once and then finds it in its cache; a last row replays as many reports each
   about an anchor of its own, where every report pays that hash (about 0.19 ms with
   arkworks), as a ledger of many rarely reported subjects would.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from api import wire
from bench.intake import DEFAULT_PG_URL
from core import entries as e
from core import merkle
from server.database import open_store
from server.sqlite_store import PAGE_SIZE
from server.storage import AppendBatch

CATEGORIES = ("contract_default", "fake_traffic")
#: Appends of pre-verified entries against raw inserts of the same bytes in the same batches.
APPEND_TARGET = 0.3
#: Rounds of appends, each beside its floors; the median ratio is the verdict.
APPEND_ROUNDS = 3


def _alliance(tmp: Path) -> Path:
    from server.ceremony import Plan, init_alliance

    keys = Path(__file__).resolve().parent.parent / "tests" / "keys" / "test_only_threshold_1024_t2_n3.json"
    init_alliance(Plan(directory=tmp / "alliance", members=("a", "b", "c"), trustees=3, threshold=2,
                       key_file=keys, categories=CATEGORIES))
    return tmp / "alliance"


def _governance_entries(alliance: Path, count: int) -> list[bytes]:
    """Regulator-signed admissions of `count` fresh members (an Ed25519 and a BLS12-381 key
    each). Admissions stand for governance traffic because, unlike rule sets, the ledger
    accepts any number of them in a row (rule sets are at least 90 days apart)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from api.identity import Identity
    from core.group import default_group
    from core.pedersen import random_scalar

    key = Identity.load(alliance / "regulator").signing_key()
    group = default_group()
    now = int(time.time() * 1000)
    out = []
    for i in range(count):
        signing = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        reporting = group.encode(group.mul(group.generator(), random_scalar()))
        out.append(wire.sign_leaf(e.LedgerEntry(e.MemberAdmitted(f"bench-{i}", signing, reporting),
                                                timestamp_ms=now), key))
    return out


def _report_entries(alliance: Path, tmp: Path, count: int, cold: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Real reports from the three members, prepared against a ledger holding the genesis:
    `count` about 97 anchors (reports cluster on anchors, so a verifier's link bases B_S,
    one hash to the curve per subject, are mostly cached), then `cold` more, each about an
    anchor of its own (every report pays for its subject's B_S)."""
    from api.identity import Identity
    from client.sdk import Member
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries

    store = open_store(str(tmp / "prepare.db"))
    op = create_server(Settings(identity=Identity.load(alliance / "operator")), store)
    op.ledger.append_now(bootstrap_entries(alliance / "operator"))
    members = [Member(Identity.load(alliance / f"member-{m}"), f"127.0.0.1:{op.port}", tmp / f"state-{m}")
               for m in ("a", "b", "c")]
    try:
        for m in members:
            m.refresh()
        from server.intake import seal_report

        day = (datetime.date.today() - datetime.timedelta(days=40)).isoformat()
        out = []
        for i in range(count + cold):  # as intake stores them: with the escrow the operator seals
            member = members[i % 3]
            anchor = f"anchor-{i % 97}" if i < count else f"lone-anchor-{i}"
            leaf = member.prepare_report(anchor, "fake_traffic", i % 4, day, refresh=False)
            sealed, _ = seal_report(op.ledger.alliance, op.ledger.view, "abc"[i % 3],
                                    wire.signed_entry_from_bytes(leaf), member.escrow_signature(leaf))
            out.append(sealed)
        return out[:count], out[count:]
    finally:
        for m in members:
            m.close()
        op.stop(grace=0)
        store.close()


def bench_append(alliance: Path, tmp: Path, leaves: list[bytes], clients: int, checked_by_workers: bool,
                 name: str, rounds: int = APPEND_ROUNDS, base: Path | None = None) -> dict[str, float]:
    """Appends of `leaves` from `clients` threads, in `rounds` rounds, each followed by its
    floors (raw inserts of the same bytes in the same batch sizes, with SQLite's default pages
    and with the store's): a round's ratio compares runs a second apart, and the median of
    the rounds' ratios is the figure, so a burst of load from other users of the box moves
    one round, not the verdict. The range is printed beside it.

    Reports are handed over verified, as intake hands them after its workers' batch
    verification (measured in `bench.intake`). `checked_by_workers`: the entries take
    GovernanceService's path instead, timed with it: their stateless checks in a
    `server.intake.Verifier` of one worker per core, then the sequencer. `base`: each round
    appends to a copy of that store (`grown_store`) instead of a ledger holding only the
    genesis."""
    return _medians([_append_round(alliance, tmp, leaves, clients, checked_by_workers, f"{name}-{r}", base)
                     for r in range(rounds)], ("ratio", "ratio_pages"))


def grown_store(alliance: Path, tmp: Path, count: int, sample: Sequence[bytes]) -> Path:
    """A store holding the genesis and `count` earlier reports, for appends on a grown ledger:
    bulk-loaded as `bench.intake --rss-entries` loads one (`bench.intake.prefill`: filler of
    `sample`'s leaf sizes with a report's Merkle nodes and its two state rows at random
    keys), its WAL copied into the file."""
    from bench.intake import StoreSpec, prefill

    path = tmp / "grown.db"
    prefill(StoreSpec("sqlite", str(path)), alliance / "operator", count, sample)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def _medians(per_round: list[dict[str, float]], ranged: tuple[str, ...]) -> dict[str, float]:
    """Each figure's median over the rounds, with the range of the `ranged` ones
    (`<key>_min`, `<key>_max`) and the number of rounds."""
    out = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]}
    for key in ranged:
        out[f"{key}_min"] = min(r[key] for r in per_round)
        out[f"{key}_max"] = max(r[key] for r in per_round)
    out["rounds"] = len(per_round)
    return out


def _batch_sizes(count: int, appended: int, batches: int) -> list[int]:
    """`count` entries cut into batches of the mean size a sequencer made (`appended` in
    `batches`): the batch sizes of a floor."""
    batch = max(1, round(appended / max(1, batches)))
    return [batch] * (count // batch) + ([count % batch] if count % batch else [])


def _append_round(alliance: Path, tmp: Path, leaves: list[bytes], clients: int, checked_by_workers: bool,
                  name: str, base: Path | None = None) -> dict[str, float]:
    from api.identity import Identity
    from server.ceremony import bootstrap_entries
    from server.intake import Verifier
    from server.ledger import Ledger
    from server.reporting import append_later

    count = len(leaves)
    path = tmp / f"append-{name}.db"
    if base is not None:
        shutil.copyfile(base, path)
        os.sync()  # or the kernel writes the copy back while the round runs, and its commits wait
    store = open_store(str(path))
    ledger = Ledger(store, Identity.load(alliance / "operator").note_signer(), checkpoint_interval=0.05)
    if base is None:
        ledger.append_now(bootstrap_entries(alliance / "operator"))
    ledger.start()
    verifier = Verifier(ledger) if checked_by_workers else None
    if verifier is not None:
        verifier.warm()
    elapsed = _submit_all(leaves, clients, lambda _client, leaf, signed: (
        ledger.submit(leaf, signed, verified=True) if verifier is None
        else append_later(ledger, verifier, leaf, signed)))
    if verifier is not None:
        verifier.close()
    ledger.stop()
    sizes = _batch_sizes(count, ledger.appended, ledger.batches)
    store.close()

    raw = _raw_batched(tmp / f"raw-{name}.db", leaves, sizes, page_size=None)
    raw_pages = _raw_batched(tmp / f"raw-pages-{name}.db", leaves, sizes, page_size=PAGE_SIZE)
    for path in tmp.glob(f"*-{name}.db*"):
        path.unlink()  # a round's files go before the next round writes its own
    return {"append_per_s": count / elapsed, "raw_per_s": count / raw, "ratio": raw / elapsed,
            "raw_pages_per_s": count / raw_pages, "ratio_pages": raw_pages / elapsed,
            "mean_batch": statistics.mean(sizes)}


def _submit_all(leaves: list[bytes], clients: int, submit: Callable[[int, bytes, e.SignedEntry], Any]) -> float:
    """Seconds for `clients` threads to append `leaves` (client i takes every clients-th one)
    through `submit(i, leaf, entry)`, which returns a future, each thread queueing all of its
    leaves before it waits for their outcomes."""
    # Decoded before the clock starts: the intake hands the sequencer the entry its reader decoded.
    decoded = [(leaf, wire.signed_entry_from_bytes(leaf)) for leaf in leaves]

    def client(i: int) -> None:
        futures = [submit(i, leaf, signed) for leaf, signed in decoded[i::clients]]
        for f in futures:
            f.result(timeout=120)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return time.perf_counter() - t0


def bench_append_postgres(alliance: Path, leaves: list[bytes], clients: int, pg_url: str,
                          rounds: int = APPEND_ROUNDS) -> dict[str, float]:
    """The shared sequencer's ceiling: two servers' ledgers over one PostgreSQL schema, as
    `candor serve` builds them (`server.shared_sequencer.SharedSequencer`), half the client
    threads on each. The server holding the lease appends its own reports directly and the
    other server's through the intake table (its hand-off, the lease holder's read of the
    rows, the outcome each row leaves). Reports are pre-verified, as in `bench_append`.
    Each round runs on a new schema and is followed by its floor: the same leaves written
    raw in the same batch sizes into a table stored as `entries` is, one durable
    transaction a batch. Median of the rounds, range beside it."""
    return _medians([_append_round_postgres(alliance, leaves, clients, pg_url) for _ in range(rounds)], ("ratio",))


def _append_round_postgres(alliance: Path, leaves: list[bytes], clients: int, pg_url: str) -> dict[str, float]:
    from functools import partial

    from api.identity import Identity
    from bench.intake import fresh_store
    from server.ceremony import bootstrap_entries
    from server.ledger import Ledger
    from server.shared_sequencer import SharedSequencer

    signer = Identity.load(alliance / "operator").note_signer()
    with fresh_store("postgresql", alliance, pg_url) as spec:
        stores = [spec.open(), spec.open()]
        ledgers = [Ledger(store, signer, checkpoint_interval=0.05,
                          sequencer=partial(SharedSequencer, store=store, name=f"bench-{i}"))
                   for i, store in enumerate(stores)]
        try:
            ledgers[0].append_now(bootstrap_entries(alliance / "operator"))
            ledgers[0].start()
            deadline = time.monotonic() + 30
            while not ledgers[0].sequencing:  # the first server takes the lease
                if time.monotonic() > deadline:
                    raise RuntimeError("the first server did not take the sequencer lease within 30 s")
                time.sleep(0.01)
            ledgers[1].start()
            elapsed = _submit_all(leaves, clients, lambda i, leaf, signed: ledgers[i % 2].submit(
                leaf, signed, verified=True))
            appended, batches = ledgers[0].appended, ledgers[0].batches
        finally:
            for ledger in reversed(ledgers):
                ledger.stop()
            for store in stores:
                store.close()
        sizes = _batch_sizes(len(leaves), appended, batches)
        raw = _raw_batched_postgres(pg_url, spec.schema or "", leaves, sizes)
    return {"append_per_s": len(leaves) / elapsed, "raw_per_s": len(leaves) / raw, "ratio": raw / elapsed,
            "mean_batch": statistics.mean(sizes)}


def _raw_batched_postgres(pg_url: str, schema: str, leaves: list[bytes], sizes: list[int]) -> float:
    """The PostgreSQL floor: the same bytes written raw, in the same batch sizes, into a
    table stored as `entries` is (leaves kept in their rows), by the store's own cheapest
    way (`server.postgres_connection.copy_rows`), one transaction a batch with the
    database's durable commit. Seconds."""
    import psycopg
    from psycopg import sql

    from server.postgres_connection import copy_rows

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute("CREATE TABLE raw_floor (idx bigint PRIMARY KEY, data bytea NOT NULL)"
                     " WITH (toast_tuple_target = 8160)")
        conn.execute("ALTER TABLE raw_floor ALTER COLUMN data SET STORAGE MAIN")
        t0 = time.perf_counter()
        i = 0
        for size in sizes:
            with conn.transaction():
                copy_rows(conn, "raw_floor", (("idx", "int8"), ("data", "bytea")),
                          zip(range(i, i + size), leaves[i:i + size]))
            i += size
        return time.perf_counter() - t0


def _postgres_appends(alliance: Path, leaves: list[bytes], pg_url: str) -> dict[str, float] | str:
    """`bench_append_postgres`, or why it was skipped (the database is not reachable)."""
    import psycopg

    from server.postgres_connection import first_line

    try:
        psycopg.connect(pg_url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL is not reachable at {pg_url} ({first_line(exc)}); give --pg-url"
    return bench_append_postgres(alliance, leaves, 8, pg_url)


def _raw_batched(db_path: Path, leaves: list[bytes], sizes: list[int], page_size: int | None) -> float:
    """The floor: the same bytes, inserted raw with the same batch sizes, equally durable
    (WAL, synchronous=FULL); SQLite's default pages, or `page_size` (the store's). Seconds."""
    db = sqlite3.connect(db_path, isolation_level=None)
    if page_size is not None:
        db.execute(f"PRAGMA page_size = {page_size}")
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
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed


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


def bench_replay(alliance: Path, leaves: list[bytes], pool: Any = None) -> dict[str, float]:
    from client.audit import replay
    from server.ceremony import bootstrap_entries

    full = bootstrap_entries(alliance / "operator") + leaves
    t0 = time.perf_counter()
    replay(full, pool=pool)
    elapsed = time.perf_counter() - t0
    return {"entries": len(full), "replay_per_s": len(full) / elapsed}


def bench_verify_floor(alliance: Path, leaves: list[bytes], workers: int) -> dict[str, float]:
    """The replay's floor: `leaves`' ring signatures and validity proofs verified by
    `client.batch.verify_reports` in jobs of the replay's size, in this one process (second
    pass: link bases cached, as in the replay), with none of the replay's other work, and
    that rate times `workers`, as if the crypto alone were spread perfectly over them."""
    from client.audit import _jobs, replay
    from client.batch import job_size, verify_reports
    from server.ceremony import bootstrap_entries

    boot = bootstrap_entries(alliance / "operator")
    view, _ = replay(boot)
    jobs = _jobs(view, [(len(boot) + i, leaf) for i, leaf in enumerate(leaves)])
    size = job_size(len(boot) + len(leaves), workers)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        verdicts = [ok for k in range(0, len(jobs), size) for ok in verify_reports(boot[0], jobs[k:k + size])]
        best = min(best, time.perf_counter() - t0)
    assert all(verdicts), "the bench's reports must verify"
    per_s = len(jobs) / best
    return {"per_s_one_process": per_s, "floor_per_s": per_s * workers, "job": size}


def start_pool(alliance: Path, leaves: list[bytes]) -> tuple[Any, float]:
    """A CpuPool of one worker per core, each having verified a few of `leaves` (imports,
    generators and the genesis are loaded), and the seconds that took."""
    from client.batch import verify_reports
    from client.cpu import CpuPool
    from server.ceremony import bootstrap_entries

    t0 = time.perf_counter()
    pool = CpuPool()
    genesis = bootstrap_entries(alliance / "operator")[0]
    # Any jobs do: a worker only has to load everything once (a refusal is fine here).
    jobs = [(leaf, (), 0, 0, None) for leaf in leaves[: 2 * pool.workers]]
    for future in [pool.submit(verify_reports, genesis, jobs[k::pool.workers]) for k in range(pool.workers)]:
        future.result()
    return pool, time.perf_counter() - t0


def _raw_single(tmp: Path, leaves: list[bytes]) -> float:
    """Raw durable inserts, one transaction each: the naive floor (no group commit)."""
    db = sqlite3.connect(tmp / "raw-single.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    t0 = time.perf_counter()
    for i, leaf in enumerate(leaves):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO entries VALUES (?, ?)", (i, leaf))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    db.close()
    return len(leaves) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description="Ledger benchmark: append, proofs, replay.")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL,
                        help=f"PostgreSQL database for the shared sequencer's appends (default {DEFAULT_PG_URL}); "
                             "each round uses a new schema and drops it")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL appends")
    parser.add_argument("--grown", type=int, default=0, metavar="N",
                        help="also append to a ledger already holding N earlier reports (bulk-loaded), "
                             "where each report's state rows land on pages of their own")
    args = parser.parse_args()
    if args.grown < 0:
        parser.error(f"--grown is {args.grown}; give 0 (no such row) or more")
    append_n, proof_size, replay_n = (300, 20_000, 300) if args.quick else (3_000, 1_000_000, 1_000)
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        alliance = _alliance(tmp)
        with console.status("preparing reports"):
            reports, lone = _report_entries(alliance, tmp, append_n, cold=append_n)
        governance_entries = _governance_entries(alliance, append_n)
        with console.status("append throughput"):
            append = bench_append(alliance, tmp, reports, 8, False, "reports")
            governance = bench_append(alliance, tmp, governance_entries, 8, True, "governance")
            single = _raw_single(tmp, reports[:1000])
            postgres = None if args.no_postgres else _postgres_appends(alliance, reports, args.pg_url)
        grown = None
        if args.grown:
            with console.status(f"bulk-loading {args.grown:,} earlier reports, then appending to them"):
                base = grown_store(alliance, tmp, args.grown, reports)
                grown = bench_append(alliance, tmp, reports, 8, False, "grown", base=base)
                grown["earlier_reports"] = args.grown
                base.unlink()
        with console.status(f"building a {proof_size:,}-entry tree for proof latency"):
            proofs = bench_proofs(tmp, proof_size, samples=200 if args.quick else 2000)
        with console.status("audit replay"):
            replay_governance_one = bench_replay(alliance, governance_entries[:replay_n])
            replay_one = bench_replay(alliance, reports[:replay_n])
            pool, pool_start_s = start_pool(alliance, reports)
            try:
                replay_reports = bench_replay(alliance, reports, pool)
                replay_reports["pool_start_s"] = pool_start_s
                replay_reports["workers"] = pool.workers
                replay_governance = bench_replay(alliance, governance_entries, pool)
                replay_lone = bench_replay(alliance, lone, pool)
            finally:
                pool.close()
            floor = bench_verify_floor(alliance, reports, int(replay_reports["workers"]))
    result = {"append_reports": append, "append_reports_grown": grown, "append_governance": governance,
              "raw_single_per_s": single,
              "append_reports_postgres": postgres,
              "proofs": proofs, "replay_governance": replay_governance,
              "replay_governance_one_process": replay_governance_one, "replay_reports": replay_reports,
              "replay_reports_one_process": replay_one, "replay_reports_one_subject_each": replay_lone,
              "replay_verify_floor": floor}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t = Table(title="bench.ledger (floors measured in this run)")
    for col in ("measure", "value", "floor / target", "ratio", "verdict"):
        t.add_column(col)
    def verdict(ratio: float, target: float, applies: bool) -> str:
        if not applies:
            return "— (not its target)"
        return "PASS" if ratio >= target else f"MISS (target ≥ {target})"

    # Reports are held to APPEND_TARGET of raw inserts in the same batches; governance entries
    # to 0.5 of one raw durable insert per transaction (an earlier issue's target).
    for label, a, batched in (("append reports (pre-verified; state checks, nodes, durable group commit)", append,
                               True),
                              ("append governance (Ed25519 and reporting key checked by the verification workers, "
                               "as GovernanceService does, timed with them)", governance, False)):
        t.add_row(f"{label}, mean batch {a['mean_batch']:.0f}; medians of {a['rounds']:.0f} rounds, each beside "
                  "its floors (ratio range in brackets)", f"{a['append_per_s']:,.0f}/s",
                  f"raw SQLite FULL, same batches {a['raw_per_s']:,.0f}/s",
                  f"{a['ratio']:.3f} [{a['ratio_min']:.3f}–{a['ratio_max']:.3f}]",
                  verdict(a["ratio"], APPEND_TARGET, batched))
        t.add_row(f"  same, against raw inserts with the store's {PAGE_SIZE // 1024} KiB pages",
                  f"{a['append_per_s']:,.0f}/s",
                  f"raw SQLite FULL, same batches and pages {a['raw_pages_per_s']:,.0f}/s",
                  f"{a['ratio_pages']:.3f} [{a['ratio_pages_min']:.3f}–{a['ratio_pages_max']:.3f}]",
                  verdict(a["ratio_pages"], APPEND_TARGET, batched))
        t.add_row("  same, against one raw durable insert per transaction", f"{a['append_per_s']:,.0f}/s",
                  f"raw SQLite FULL, 1 per commit {single:,.0f}/s", f"{a['append_per_s'] / single:.2f}",
                  verdict(a["append_per_s"] / single, 0.5, not batched))
    if grown is not None:
        t.add_row(f"append reports to a ledger already holding {grown['earlier_reports']:,.0f} earlier reports "
                  f"(bulk-loaded: their state rows at random keys), mean batch {grown['mean_batch']:.0f}; medians "
                  f"of {grown['rounds']:.0f} rounds", f"{grown['append_per_s']:,.0f}/s",
                  f"raw SQLite FULL, same batches {grown['raw_per_s']:,.0f}/s",
                  f"{grown['ratio']:.3f} [{grown['ratio_min']:.3f}–{grown['ratio_max']:.3f}]",
                  "— (how appends slow as the state grows)")
    if isinstance(postgres, dict):
        t.add_row(f"append reports over PostgreSQL, two servers' sequencers (the lease holder's own reports "
                  f"direct, the other's through the intake table), mean batch {postgres['mean_batch']:.0f}; "
                  f"medians of {postgres['rounds']:.0f} rounds", f"{postgres['append_per_s']:,.0f}/s",
                  f"raw PostgreSQL COPY, same batches {postgres['raw_per_s']:,.0f}/s",
                  f"{postgres['ratio']:.3f} [{postgres['ratio_min']:.3f}–{postgres['ratio_max']:.3f}]",
                  "— (the shared sequencer's ceiling)")
    elif postgres is not None:
        t.add_row("append reports over PostgreSQL", "—", "—", "—", f"skipped: {postgres}")
    for kind in ("inclusion", "consistency"):
        p50 = proofs[f"{kind}_p50_ms"]
        t.add_row(f"{kind} proof p50 / p99 at {proofs['size']:,}", f"{p50:.3f} / {proofs[f'{kind}_p99_ms']:.3f} ms",
                  "≤ 1 ms p50", f"{p50:.2f}", "PASS" if p50 <= 1.0 else "MISS")
    workers = int(replay_reports["workers"])
    for label, r in ((f"audit replay, {replay_governance['entries']:,.0f} governance entries (member admissions: "
                      f"Ed25519 + keys re-validated), {workers} worker processes", replay_governance),
                     (f"audit replay, {replay_reports['entries']:,.0f} entries of reports (ring signature + validity "
                      f"proof re-verified), {workers} worker processes "
                      f"(pool start {replay_reports['pool_start_s']:.1f} s, not counted)", replay_reports)):
        t.add_row(label, f"{r['replay_per_s']:,.0f}/s", "≥ 5,000/s", f"{r['replay_per_s'] / 5000:.2f}",
                  "PASS" if r["replay_per_s"] >= 5000 else "MISS")
        if r is replay_governance:
            t.add_row(f"  same, {replay_governance_one['entries']:,.0f} entries in one process (comparison)",
                      f"{replay_governance_one['replay_per_s']:,.0f}/s", "—", "—", "—")
    t.add_row(f"  its floor: the same reports' crypto alone (verify_reports, jobs of {floor['job']:.0f}) in one "
              f"process, {floor['per_s_one_process']:,.0f}/s, times {workers} workers",
              f"{replay_reports['replay_per_s']:,.0f}/s", f"{floor['floor_per_s']:,.0f}/s",
              f"{replay_reports['replay_per_s'] / floor['floor_per_s']:.2f}",
              "5,000/s is beyond this floor" if floor["floor_per_s"] < 5000 else "—")
    t.add_row(f"  same, {replay_one['entries']:,.0f} entries in one process (comparison)",
              f"{replay_one['replay_per_s']:,.0f}/s", "—", "—", "—")
    t.add_row(f"  same, {replay_lone['entries']:,.0f} entries, each report about a subject of its own "
              "(one hash to the curve each for its link base; the rows above: 97 subjects)",
              f"{replay_lone['replay_per_s']:,.0f}/s", "—", "—", "—")
    Console(width=140).print(t)


if __name__ == "__main__":
    main()
