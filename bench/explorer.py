"""`python -m bench.explorer`: server time per explorer page at a ledger of N entries.

A real alliance, operator and witness on localhost; the explorer syncs the real bootstrap
entries through its verifier. Its verified copy is then grown to N entries with synthetic
entries (ReportCommitted, RatingRequested, RatingPublished with well-formed fields but no
real cryptography, and the state rows replay would have written for them), because making
10^5 real reports takes far longer than the pages do: this measures rendering (view model
and template, what a page costs the server once synced), not the sync itself. Each page is
fetched over HTTP `--repeat` times; the median and max of its Server-Timing are printed.
Target (docs/explorer.md): ≤ 300 ms per page at 10^5 entries.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import random
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from api import wire
from api.identity import Identity
from client.explorer.app import Served, build
from client.explorer.mirror import Mirror, Row
from client.witness import Witness
from core import entries as e
from core import merkle, state

KEYS = Path(__file__).resolve().parent.parent / "tests" / "keys"
CATEGORIES = ("contract_default", "fake_traffic", "false_advertising")


def _leaf(body: e.Body, ts: int, rng: random.Random) -> bytes:
    entry = e.LedgerEntry(body, timestamp_ms=ts)
    data = wire.entry_to_bytes(entry)
    return wire.signed_entry_to_bytes(e.SignedEntry(data, entry, ring_signature=rng.randbytes(160)))


def grow(mirror: Mirror, total: int, seed: int = 7) -> bytes:
    """Append synthetic entries to `mirror` until it holds `total`; returns one subject tag
    with reports and two ratings."""
    rng = random.Random(seed)
    snap = mirror.snapshot
    assert snap is not None
    start = snap.size
    subjects = [rng.randbytes(32) for _ in range(max(1, (total - start) // 20))]
    today = _dt.date.today()
    ts = int(time.time() * 1000) // 3_600_000 * 3_600_000
    version = state.rules_in_force(mirror._state, today)[0].version
    updates: dict[str, bytes | None] = {}
    leaves: list[bytes] = []
    reports: dict[bytes, list[int]] = {}
    for index in range(start, total):
        tag = rng.choice(subjects)
        mine = reports.setdefault(tag, [])
        if len(mine) >= 3 and rng.random() < 0.1:
            active = tuple(mine[-4:])
            weights = tuple(1000 for _ in active)
            if rng.random() < 0.5:
                body: e.Body = e.RatingRequested(tag, index, rng.randbytes(32), active, weights, today.isoformat(),
                                                 version, "first")
                updates[f"request/{index:012d}"] = state.dump({
                    "index": index, "subject": tag.hex(), "ledger_size": index, "as_of": today.isoformat(),
                    "rule_set_version": version, "kind": "first", "active": [[i, 1000] for i in active],
                    "digest": rng.randbytes(32).hex(), "reporters": 3, "below_k": False, "previous": None,
                    "answer": {"kind": "published", "index": index + 1}})
                updates[f"ratingreq/{tag.hex()}"] = state.dump(index)
            else:
                score = rng.randrange(0, 100)
                body = e.RatingPublished(index - 1, tag, version, index - 1, rng.randbytes(32), active, weights,
                                         today.isoformat(), score, "A" if score >= 90 else "B" if score >= 70 else "C",
                                         3, rng.randbytes(400), 1, rng.randbytes(64))
                updates[f"rating/{tag.hex()}"] = state.dump({
                    "index": index, "request": index - 1, "ledger_size": index - 1, "as_of": today.isoformat(),
                    "rule_set_version": version, "active": [[i, 1000] for i in active], "score": score,
                    "grade": "A"})
        else:
            commitment = rng.randbytes(48)
            day = (today - _dt.timedelta(days=rng.randrange(1, 300))).isoformat()
            body = e.ReportCommitted(e.derive_report_id(commitment), tag, rng.choice(CATEGORIES), day,
                                     rng.randbytes(32), commitment, rng.randbytes(600), rng.getrandbits(2040) | 1, 1,
                                     notice_date=day)
            rid = e.derive_report_id(commitment).hex()
            updates[state.report_key(rid)] = state.dump({
                "index": index, "subject": tag.hex(), "category": body.category, "incident_date": day,
                "link": rng.randbytes(48).hex(), "retracted_at": None, "fraud_at": None,
                "commitment": commitment.hex()})
            updates[f"subject/{tag.hex()}/{index:012d}"] = state.dump(rid)
            mine.append(index)
        leaf = _leaf(body, ts, rng)
        leaves.append(leaf)
        row = Row(index, type(body).__name__, ts, "a member (ring signature)" if isinstance(body, e.ReportCommitted)
                  else "operator", tag.hex())
        mirror._rows.append(row)
        mirror._by_kind.setdefault(row.kind, []).append(index)
        mirror._by_subject.setdefault(row.subject, []).append(index)
        mirror._hashes.append(merkle.leaf_hash(leaf))
    mirror.leaves.put(start, leaves)
    mirror._state.update(updates)
    import dataclasses

    cp = dataclasses.replace(snap.checkpoint.checkpoint, size=total)
    snap.checkpoint = dataclasses.replace(snap.checkpoint, checkpoint=cp)
    rated = [t for t in subjects if f"rating/{t.hex()}" in mirror._state.data]
    return max(rated or subjects, key=lambda t: len(mirror._by_subject.get(t.hex(), [])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    from server.app import Settings, create_server
    from server.ceremony import Plan, bootstrap_entries, init_alliance
    from server.database import open_store

    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        init_alliance(Plan(directory=tmp / "alliance", members=("a", "b", "c"), trustees=3, threshold=2, witnesses=1,
                           quorum=1, key_file=KEYS / "test_only_threshold_1024_t2_n3.json", categories=CATEGORIES))
        store = open_store(str(tmp / "ledger.db"))
        op = create_server(Settings(identity=Identity.load(tmp / "alliance" / "operator")), store)
        op.ledger.append_now(bootstrap_entries(tmp / "alliance" / "operator"))
        op.ledger.wait_checkpoint(op.ledger.store.size())
        witness = Witness.open(Identity.load(tmp / "alliance" / "witness-1"), f"127.0.0.1:{op.port}", tmp)
        witness.step()
        witness.conn.close()
        explorer = build(Identity.load(tmp / "alliance" / "regulator"), f"127.0.0.1:{op.port}", tmp / "explorer")
        t0 = time.perf_counter()
        tag = grow(explorer.mirror, args.entries)
        print(f"grew the verified copy to {args.entries:,} synthetic entries in {time.perf_counter() - t0:.1f} s")
        served = Served(explorer).start()
        pages = {"health": "/", "entries": "/entries", "entries by type": "/entries?kind=RatingPublished",
                 "entries, deep page": f"/entries?from={args.entries // 2}", "entry": "/entries/3",
                 "subject": f"/subject/{tag.hex()}", "rule sets": "/rules", "regulator desk": "/desk"}
        try:
            for name, path in pages.items():
                times = []
                for _ in range(args.repeat):
                    try:
                        with urllib.request.urlopen(served.url + path, timeout=60) as resp:
                            resp.read()
                            timing = resp.headers["Server-Timing"]
                    except urllib.error.HTTPError as exc:
                        raise SystemExit(f"{path}: HTTP {exc.code}: {exc.read().decode()[-600:]}") from None
                    times.append(float(timing.split("dur=")[1]))
                print(f"{name:20s} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")
        finally:
            served.stop()
            explorer.mirror.close()
            explorer.close()
            op.stop(grace=0.5)
            store.close()


if __name__ == "__main__":
    main()
