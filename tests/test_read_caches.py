"""What the operator keeps in memory instead of reading its store again (server/nodecache.py,
`server.storage.RecentView`), and the state records a process keeps parsed
(`core.state.subject_reports`): never a value the store does not hold.

The attack through the real intake (a member revoked while its stream is open is refused
at once) is `tests/test_report_stream.py::test_a_member_revoked_while_its_stream_is_open_is_refused_at_once`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from core import merkle, state
from core.errors import Conflict, NotFound
from server.nodecache import NodeCache
from server.sqlite_store import SQLiteStore
from server.storage import AppendBatch, NodeKey, RecentView


class CountingStore(SQLiteStore):
    """A real SQLite store that counts the reads the caches are meant to save."""

    reads = 0

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return super().get(key)

    def size(self) -> int:
        self.reads += 1
        return super().size()

    def node(self, level: int, index: int) -> bytes:
        self.reads += 1
        return super().node(level, index)

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.reads += 1
        return super().nodes(keys)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = CountingStore(str(tmp_path / "ledger.db"))
    yield s
    s.close()



def test_committed_nodes_are_served_without_a_store_read(store: CountingStore) -> None:
    cache = NodeCache(store)
    nodes = ((0, 0, b"a" * 32), (0, 1, b"b" * 32), (1, 0, merkle.node_hash(b"a" * 32, b"b" * 32)))
    batch = AppendBatch(first_index=0, entries=(b"x", b"y"), nodes=nodes)
    store.commit(batch)
    cache.keep(batch.nodes)
    store.reads = 0
    assert cache.node(1, 0) == nodes[2][2]
    assert cache.nodes([(0, 0), (0, 1)]) == {(0, 0): b"a" * 32, (0, 1): b"b" * 32}
    assert store.reads == 0
    with pytest.raises(NotFound):
        cache.node(2, 0)  # not complete: read through, and the store says so


def test_nodes_read_once_are_kept_and_the_oldest_go_first(store: CountingStore) -> None:
    nodes = tuple((0, i, bytes([i]) * 32) for i in range(8))
    store.commit(AppendBatch(first_index=0, entries=tuple(b"e" for _ in range(8)), nodes=nodes))
    cache = NodeCache(store, limit=4)
    store.reads = 0
    assert cache.nodes([(0, i) for i in range(8)]) == {(0, i): bytes([i]) * 32 for i in range(8)}
    assert store.reads == 1  # one query for all of them
    assert cache.node(0, 7) == bytes([7]) * 32 and store.reads == 1  # kept
    assert cache.node(0, 0) == bytes([0]) * 32 and store.reads == 2  # evicted: read again


def _tree_nodes(first: int, size: int) -> tuple[tuple[int, int, bytes], ...]:
    """Stand-in hashes for every node that appending entries [first, size) completes."""
    return tuple((level, i, bytes([level, i % 256]) * 16) for level in range(size.bit_length())
                 for i in range(first >> level, size >> level) if ((i + 1) << level) > first)


def test_follow_reads_another_servers_new_nodes_in_one_query(store: CountingStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that does not sequence learns of new entries from checkpoints; `follow` reads
    their nodes at once, so its receipts' inclusion proofs need no store read of their own."""
    from server import nodecache

    cache = NodeCache(store)
    store.commit(AppendBatch(first_index=0, entries=tuple(b"e" for _ in range(8)), nodes=_tree_nodes(0, 8)))
    store.reads = 0
    cache.follow(8)
    assert store.reads == 1
    proof = merkle.inclusion_proof(5, 8, cache.node)
    assert len(proof) == 3 and store.reads == 1
    store.commit(AppendBatch(first_index=8, entries=tuple(b"e" for _ in range(4)), nodes=_tree_nodes(8, 12)))
    cache.follow(12)
    cache.follow(12)  # nothing new: no read
    assert store.reads == 2
    for index in range(12):
        merkle.inclusion_proof(index, 12, cache.node)
    assert store.reads == 2
    # Far behind: only the newest FOLLOW_LIMIT entries are read ahead, older paths on demand.
    monkeypatch.setattr(nodecache, "FOLLOW_LIMIT", 2)
    late = NodeCache(store)
    late.follow(12)
    assert store.reads == 3
    assert late.node(0, 11) == bytes([0, 11]) * 16 and store.reads == 3  # read ahead
    assert late.node(0, 9) == bytes([0, 9]) * 16 and store.reads == 4  # on demand


def test_a_refused_batch_leaves_no_node_behind(store: CountingStore) -> None:
    """The ledger keeps a batch's nodes only after its commit (Ledger.committed): a batch the
    store refuses must not reach the cache, or a later proof would use a hash never stored."""
    from server.ledger import Ledger

    store.commit(AppendBatch(first_index=0, entries=(b"genesis",), nodes=((0, 0, b"g" * 32),)))
    stale = AppendBatch(first_index=0, entries=(b"other",), nodes=((0, 1, b"z" * 32),))
    ledger = Ledger.__new__(Ledger)  # only the commit path, without a signer or threads
    ledger.store, ledger.nodes, ledger.intake_view = store, NodeCache(store), RecentView(store)
    with pytest.raises(Conflict):
        ledger.commit(stale, 1)
    with pytest.raises(NotFound):
        ledger.nodes.node(0, 1)


def test_recent_view_keeps_values_until_forget_and_never_an_absence(store: CountingStore) -> None:
    view = RecentView(store)
    store.commit(AppendBatch(first_index=0, entries=(b"e",), state=(("ring", b"v1"),)))
    store.reads = 0
    assert view.get("ring") == b"v1" and view.get("ring") == b"v1"
    assert view.size() == 1 and view.size() == 1
    assert store.reads == 2
    assert view.get("report/absent") is None and view.get("report/absent") is None
    assert store.reads == 4  # "is this new?" always asks the store
    store.commit(AppendBatch(first_index=1, entries=(b"f",), state=(("ring", b"v2"),)))
    view.forget()
    assert view.get("ring") == b"v2" and view.size() == 2


def test_a_read_that_races_a_commit_is_not_kept(store: CountingStore) -> None:
    """A value read before a commit but returned after `forget` must not outlive the commit."""
    store.commit(AppendBatch(first_index=0, entries=(b"e",), state=(("member/c", b"admitted"),)))
    view = RecentView(store)
    reading, release = threading.Event(), threading.Event()
    original = store.get

    def slow_get(key: str) -> bytes | None:
        value = original(key)
        reading.set()
        release.wait(10)
        return value

    store.get = slow_get  # type: ignore[method-assign]
    seen: list[bytes | None] = []
    reader = threading.Thread(target=lambda: seen.append(view.get("member/c")))
    reader.start()
    reading.wait(10)
    store.commit(AppendBatch(first_index=1, entries=(b"f",), state=(("member/c", b"revoked"),)))
    view.forget()
    release.set()
    reader.join(10)
    store.get = original  # type: ignore[method-assign]
    assert seen == [b"admitted"]  # what the read saw, as without the cache
    assert view.get("member/c") == b"revoked"  # but it was not kept past the commit


def test_proofs_from_a_partly_held_cache_read_the_rest_in_one_query(store: CountingStore) -> None:
    """`Ledger._prefetched`: a proof whose nodes are all held costs no store read; one whose
    nodes are partly held reads the missing ones in one query; either way it is the proof the
    store's own nodes give, for every index and size."""
    from server.ledger import Ledger

    size = 13
    store.commit(AppendBatch(first_index=0, entries=tuple(b"e" for _ in range(size)), nodes=_tree_nodes(0, size)))
    ledger = Ledger.__new__(Ledger)  # only the proof path
    ledger.store, ledger.nodes = store, NodeCache(store, limit=3)
    for index in range(size):
        for upto in range(index + 1, size + 1):
            want = merkle.inclusion_proof(index, upto, store.node)
            store.reads = 0
            assert ledger._prefetched(lambda get: merkle.inclusion_proof(index, upto, get)) == want
            assert store.reads <= 1
    ledger.nodes = NodeCache(store)
    ledger.nodes.follow(size)
    want = merkle.consistency_proof(5, size, store.node)
    store.reads = 0
    assert ledger.consistency_proof(5, size) == want
    assert store.reads == 1  # the size check alone: every node was held


def test_parsed_report_records_follow_the_stored_bytes() -> None:
    """`subject_reports` remembers each record it parsed, by its bytes: a rating's request and
    answer read the same reports. A report retracted in between has other bytes, so the
    second read sees the retraction, and a record read from another view is its own."""
    tag = bytes(range(32))

    def record(index: int, retracted_at: int | None) -> bytes:
        return state.dump({"index": index, "subject": tag.hex(), "category": "fake_traffic",
                           "incident_date": "2026-11-01", "link": "ab" * 48, "retracted_at": retracted_at,
                           "fraud_at": None, "commitment": f"{index:02x}" * 48})

    view = state.MemoryState()
    for index in (7, 9):
        view.update({f"subject/{tag.hex()}/{index:012d}": state.dump(f"{index:064x}"),
                     state.report_key(f"{index:064x}"): record(index, None)})
    first = state.subject_reports(view, tag)
    assert [(r.index, r.retracted_at) for r in first] == [(7, None), (9, None)]
    view.update({state.report_key(f"{9:064x}"): record(9, 12)})
    again = state.subject_reports(view, tag)
    assert [(r.index, r.retracted_at) for r in again] == [(7, None), (9, 12)]
    assert again[0] is first[0]  # the unchanged record was not parsed again
    assert state.subject_reports(state.MemoryState(), tag) == []
