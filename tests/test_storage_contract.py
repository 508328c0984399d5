"""The `LedgerStore` contract (server/storage.py), one suite run against every backend.

Each test names the MUST it checks. The `backend` fixture is parametrised over
["sqlite", "postgresql"]; `store` is a store opened on that backend. PostgreSQL is a real
server (CANDOR_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test); each
test gets a fresh schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from core.errors import Conflict, InvalidInput, NotFound, Unavailable
from server import postgres_migrations, sqlite_migrations
from server.database import open_store
from server.postgres_store import PostgresStore
from server.sqlite_store import SQLiteStore
from server.storage import AppendBatch, LedgerStore, latest_state, prefix_upper_bound

PG_URL = os.environ.get("CANDOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


# -- backends -----------------------------------------------------------------------------


class Backend:
    """Opens stores on one database and runs raw SQL on it, bypassing the store."""

    name: str
    integrity_error: type[Exception]

    def __init__(self) -> None:
        self._opened: list[LedgerStore] = []

    def open(self, **kwargs: Any) -> LedgerStore:
        store = self._open(**kwargs)
        self._opened.append(store)
        return store

    def _open(self, **kwargs: Any) -> LedgerStore:
        raise NotImplementedError

    def raw(self, statement: str) -> None:
        raise NotImplementedError

    def migrate_again(self) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        for store in self._opened:
            store.close()


class SQLiteBackend(Backend):
    name = "sqlite"
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self, **kwargs: Any) -> LedgerStore:
        return SQLiteStore(self.path, **kwargs)

    def raw(self, statement: str) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()

    def migrate_again(self) -> list[int]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            applied = sqlite_migrations.migrate(conn)
            assert sqlite_migrations.schema_version(conn) == sqlite_migrations.LATEST_VERSION
            return applied
        finally:
            conn.close()


class PostgresBackend(Backend):
    name = "postgresql"
    integrity_error = psycopg.IntegrityError

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.schema = f"test_{uuid.uuid4().hex[:16]}"

    def _open(self, **kwargs: Any) -> LedgerStore:
        return PostgresStore(self.url, schema=self.schema, **kwargs)

    def raw(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            conn.execute(statement)

    def migrate_again(self) -> list[int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            applied = postgres_migrations.migrate(conn, self.schema)
            assert postgres_migrations.schema_version(conn, self.schema) == postgres_migrations.LATEST_VERSION
            return applied

    def close(self) -> None:
        super().close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.schema)))


@pytest.fixture(scope="session")
def pg_url() -> str:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} ({exc}); "
                    "set CANDOR_TEST_POSTGRES_URL")
    return PG_URL


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    b: Backend
    if request.param == "sqlite":
        b = SQLiteBackend(tmp_path / "ledger.db")
    else:
        b = PostgresBackend(request.getfixturevalue("pg_url"))
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def store(backend: Backend) -> LedgerStore:
    return backend.open()


def batch(first: int, *entries: bytes, nodes: tuple[tuple[int, int, bytes], ...] = (),
          state: tuple[tuple[str, bytes | None], ...] = ()) -> AppendBatch:
    return AppendBatch(first_index=first, entries=entries, nodes=nodes, state=state)


def snapshot(store: LedgerStore) -> tuple[object, ...]:
    """Everything a failed write must leave untouched."""
    size = store.size()
    return (size, store.entries(0, size), store.nodes([(lv, i) for lv in range(4) for i in range(16)]),
            store.scan(""))


# -- the ledger ---------------------------------------------------------------------------


def test_backend_satisfies_protocol(store: LedgerStore) -> None:
    assert isinstance(store, LedgerStore)


def test_empty_store(store: LedgerStore) -> None:
    assert store.size() == 0
    assert store.entries(0, 10) == []
    assert store.latest_checkpoint() is None
    assert store.get("anything") is None
    assert store.scan("") == []
    assert store.read_log("intake") == []
    assert store.nodes([(0, 0)]) == {}
    with pytest.raises(NotFound, match="no ledger entry at index 0; the ledger has 0 entries"):
        store.entry(0)
    with pytest.raises(NotFound, match="no Merkle node at level 0 index 0"):
        store.node(0, 0)


def test_entries_are_stored_byte_exact(store: LedgerStore) -> None:
    # MUST return exactly the committed bytes: empty, NULs, every byte value, invalid UTF-8,
    # and something large.
    entries = [b"", b"\x00" * 7, bytes(range(256)), b"\xff\xfe\xc3\x28", os.urandom(200_000),
               "r\u00e9port".encode("utf-16")]
    store.commit(batch(0, *entries[:3]))
    store.commit(batch(3, *entries[3:]))
    assert store.size() == len(entries)
    assert store.entries(0, len(entries)) == entries
    assert [store.entry(i) for i in range(len(entries))] == entries
    assert all(type(e) is bytes for e in store.entries(0, 100))


def test_entries_paging_clips_end_to_size(store: LedgerStore) -> None:
    leaves = [f"entry {i}".encode() for i in range(10)]
    store.commit(batch(0, *leaves))
    assert store.entries(2, 5) == leaves[2:5]
    assert store.entries(7, 1000) == leaves[7:]
    assert store.entries(4, 4) == []
    assert store.entries(10, 20) == []
    assert store.entries(50, 60) == []
    with pytest.raises(NotFound, match="no ledger entry at index 10; the ledger has 10 entries"):
        store.entry(10)


@pytest.mark.parametrize("start, end, fragment", [
    (5, 4, "start 5 is after end 4"),
    (-1, 4, "start is -1"),
    (0, -2, "end is -2"),
    (True, 4, "start must be an int, got bool"),
])
def test_entries_rejects_bad_ranges(store: LedgerStore, start: Any, end: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        store.entries(start, end)


@pytest.mark.parametrize("first", [0, 2, 3, 100])
def test_wrong_first_index_conflicts_and_writes_nothing(store: LedgerStore, first: int) -> None:
    store.commit(batch(0, b"a", nodes=((0, 0, b"h-a"),), state=(("k", b"1"),)))
    before = snapshot(store)
    bad = batch(first, b"x", b"y", nodes=((0, 5, b"h-x"),), state=(("k", b"2"), ("new", b"3")))
    with pytest.raises(Conflict, match=f"batch starts at index {first} but the ledger has 1 "
                                       "entries; re-read the ledger head"):
        store.commit(bad)
    assert snapshot(store) == before
    with pytest.raises(NotFound):
        store.node(0, 5)


def test_size_check_is_a_compare_and_set_even_without_entries(store: LedgerStore) -> None:
    store.commit(batch(0, b"a"))
    with pytest.raises(Conflict):
        store.commit(batch(0, state=(("k", b"v"),)))
    assert store.get("k") is None
    store.commit(batch(1, state=(("k", b"v"),)))
    assert store.get("k") == b"v"
    assert store.size() == 1


def test_node_clash_mid_batch_writes_nothing(store: LedgerStore) -> None:
    # The clash is detected after the entries were inserted: the whole batch must roll back.
    store.commit(batch(0, b"a", nodes=((0, 0, b"leaf-a"),)))
    before = snapshot(store)
    with pytest.raises(Conflict, match=r"Merkle node \(level 0, index 0\) is already stored "
                                       "with a different hash"):
        store.commit(batch(1, b"b", nodes=((0, 1, b"leaf-b"), (0, 0, b"forged")),
                           state=(("k", b"v"),)))
    assert snapshot(store) == before
    assert store.node(0, 0) == b"leaf-a"


def test_python_failure_mid_batch_writes_nothing(store: LedgerStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Entries and nodes are already written when the state step blows up.
    store.commit(batch(0, b"a", state=(("k", b"old"),)))
    before = snapshot(store)

    def explode(*args: object) -> None:
        raise RuntimeError("disk fell off")

    monkeypatch.setattr(store, "_write_state", explode)
    with pytest.raises(RuntimeError, match="disk fell off"):
        store.commit(batch(1, b"b", b"c", nodes=((0, 1, b"h"),), state=(("k", b"new"),)))
    monkeypatch.undo()
    assert snapshot(store) == before
    store.commit(batch(1, b"b"))  # the store is still usable
    assert store.size() == 2


def test_nodes_written_once_and_read_in_batch(store: LedgerStore) -> None:
    nodes = ((0, 0, b"\x00" * 32), (0, 1, b"\x01" * 32), (1, 0, b"\x02" * 32))
    store.commit(batch(0, b"a", b"b", nodes=nodes))
    for level, index, digest in nodes:
        assert store.node(level, index) == digest
    # Re-writing a node with identical bytes is accepted (idempotent).
    store.commit(batch(2, b"c", nodes=((0, 2, b"\x03" * 32), (1, 0, b"\x02" * 32))))
    assert store.node(1, 0) == b"\x02" * 32
    got = store.nodes([(0, 0), (1, 0), (0, 2), (5, 5), (0, 99)])
    assert got == {(0, 0): b"\x00" * 32, (1, 0): b"\x02" * 32, (0, 2): b"\x03" * 32}
    assert store.nodes([]) == {}
    with pytest.raises(NotFound, match="no Merkle node at level 2 index 0"):
        store.node(2, 0)


def test_nodes_batch_read_of_a_proof_sized_key_set(store: LedgerStore) -> None:
    written = tuple((0, i, i.to_bytes(32, "big")) for i in range(300))
    store.commit(batch(0, nodes=written))
    keys = [(0, i) for i in range(0, 400, 3)]  # 134 keys, some absent
    assert store.nodes(keys) == {(0, i): i.to_bytes(32, "big") for i in range(0, 300, 3)}


@pytest.mark.parametrize("keys, fragment", [
    ([(64, 0)], "node level is 64"),
    ([(0, -1)], "node key 0 index is -1"),
    ([(0, 1, 2)], r"node key 0 is \(0, 1, 2\), expected a \(level, index\) tuple"),
    ("ab", "sequence of \\(level, index\\) pairs"),
])
def test_nodes_rejects_bad_keys(store: LedgerStore, keys: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        store.nodes(keys)


# -- concurrency: exactly one writer wins -------------------------------------------------


def race(stores: list[LedgerStore], first: int) -> list[BaseException | None]:
    """Every store commits a different entry at `first` at the same moment."""
    barrier = threading.Barrier(len(stores))
    results: list[BaseException | None] = [None] * len(stores)

    def run(i: int) -> None:
        barrier.wait()
        try:
            stores[i].commit(batch(first, f"writer {i}".encode(),
                                   state=(("winner", str(i).encode()),)))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_one_winner(store: LedgerStore, results: list[BaseException | None], index: int) -> None:
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, f"expected exactly one winner, got {results}"
    assert all(isinstance(r, Conflict) for r in results if r is not None), results
    assert store.size() == index + 1
    assert store.entry(index) == f"writer {winners[0]}".encode()
    assert store.get("winner") == str(winners[0]).encode()


def test_threads_racing_for_one_index_one_wins(store: LedgerStore) -> None:
    for index in range(3):
        assert_one_winner(store, race([store] * 6, index), index)


def test_two_connections_racing_for_one_index_one_wins(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    for index in range(5):
        assert_one_winner(a, race([a, b, a, b], index), index)
    assert b.entries(0, 10) == a.entries(0, 10)


def test_database_refuses_a_fork_even_if_the_python_check_is_bypassed(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    honest, liar = backend.open(), backend.open()
    honest.commit(batch(0, b"genesis"))
    # The liar skips lock and check, believing the ledger is empty, then that it has 5 entries.
    monkeypatch.setattr(liar, "_size_for_append", lambda conn: 0)
    with pytest.raises(Conflict, match="another writer already appended at index 0"):
        liar.commit(batch(0, b"fork", state=(("k", b"v"),)))
    monkeypatch.setattr(liar, "_size_for_append", lambda conn: 5)
    with pytest.raises(Conflict):
        liar.commit(batch(5, b"gap"))
    assert honest.entries(0, 10) == [b"genesis"]
    assert honest.get("k") is None


def test_database_refuses_a_fork_while_the_other_writer_is_mid_transaction(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    # A has inserted index 0 and not committed yet; B, with the check bypassed (no lock),
    # inserts index 0 too. The database must let exactly one of them commit.
    a, b = backend.open(), backend.open()
    monkeypatch.setattr(b, "_size_for_append", lambda conn: 0)
    inside, release = threading.Event(), threading.Event()
    original = a._write_state  # type: ignore[attr-defined]

    def hold(*args: Any) -> None:
        inside.set()
        release.wait(5)
        original(*args)

    monkeypatch.setattr(a, "_write_state", hold)
    outcome: dict[str, BaseException | None] = {}

    def run(name: str, store: LedgerStore) -> None:
        try:
            store.commit(batch(0, name.encode()))
            outcome[name] = None
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcome[name] = exc

    ta = threading.Thread(target=run, args=("a", a))
    ta.start()
    assert inside.wait(5)
    tb = threading.Thread(target=run, args=("b", b))
    tb.start()
    time.sleep(0.2)  # let B reach the database and block on A's lock or unique index
    release.set()
    ta.join()
    tb.join()
    assert outcome["a"] is None
    assert isinstance(outcome["b"], Conflict)
    assert "another writer already appended at index 0" in str(outcome["b"])
    assert a.entries(0, 10) == [b"a"]


@pytest.mark.parametrize("statement", [
    "DELETE FROM entries WHERE idx = 0",
    "UPDATE entries SET idx = idx + 100",
    "UPDATE entries SET data = data",
    "INSERT INTO entries (idx, data) SELECT 5, data FROM entries WHERE idx = 0",
    "DELETE FROM nodes",
    "UPDATE nodes SET hash = hash",
])
def test_schema_keeps_ledger_append_only(backend: Backend, statement: str) -> None:
    store = backend.open()
    store.commit(batch(0, b"a", b"b", nodes=((0, 0, b"h"),)))
    with pytest.raises(backend.integrity_error):
        backend.raw(statement)
    assert store.entries(0, 10) == [b"a", b"b"]
    assert store.node(0, 0) == b"h"


def test_sqlite_processes_racing_serialise(tmp_path: Path) -> None:
    # Several processes over one file: every process appends with retry-on-Conflict; the
    # result is a gap-free ledger holding every entry exactly once.
    path = tmp_path / "shared.db"
    SQLiteStore(path).close()
    code = (
        "import sys\n"
        "from core.errors import Conflict\n"
        "from server.sqlite_store import SQLiteStore\n"
        "from server.storage import AppendBatch\n"
        "s = SQLiteStore(sys.argv[1]); me = sys.argv[2]; done = 0\n"
        "while done < 15:\n"
        "    try:\n"
        "        s.commit(AppendBatch(s.size(), (f'{me}-{done}'.encode(),)))\n"
        "        done += 1\n"
        "    except Conflict:\n"
        "        pass\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), name])
             for name in ("p", "q", "r")]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with SQLiteStore(path) as store:
        got = store.entries(0, 100)
    assert sorted(got) == sorted(f"{n}-{i}".encode() for n in "pqr" for i in range(15))


# -- projected state ----------------------------------------------------------------------


def test_state_updates_apply_in_order(store: LedgerStore) -> None:
    store.commit(batch(0, b"a", state=(("a", b"1"), ("b", b"2"), ("c", b"3"))))
    store.commit(batch(1, b"b", state=(
        ("a", None),          # delete
        ("b", b"x"), ("b", None), ("b", b"y"),  # last write wins
        ("c", b"z"), ("c", None),               # ends deleted
        ("gone", None),       # deleting an absent key is fine
        ("d", b""),           # an empty value is a value, not a delete
    )))
    assert store.get("a") is None
    assert store.get("b") == b"y"
    assert store.get("c") is None
    assert store.get("d") == b""
    assert store.scan("") == [("b", b"y"), ("d", b"")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.one_of(st.none(), st.binary(max_size=3))), max_size=30))
def test_latest_state_is_the_updates_applied_in_order_in_key_order(updates: list[tuple[str, bytes | None]]) -> None:
    """What both backends write: each key's last update, deletes and upserts in key order."""
    applied: dict[str, bytes] = {}
    touched = set()
    for key, value in updates:
        touched.add(key)
        if value is None:
            applied.pop(key, None)
        else:
            applied[key] = value
    deletes, upserts = latest_state(updates)
    assert upserts == sorted(applied.items())
    assert deletes == sorted(touched - set(applied))


def test_scan_orders_by_code_point_and_respects_prefix(store: LedgerStore) -> None:
    keys = ["m", "m/", "m/a", "m/b", "m/Z", "m/\u00e9", "m/\u4e2d", "m/\U0001f600", "m0", "m.",
            "m/\U0010ffff", "n", "l\U0010ffff"]
    store.commit(batch(0, state=tuple((k, k.encode()) for k in keys)))
    inside = sorted(k for k in keys if k.startswith("m/"))
    assert [k for k, _ in store.scan("m/")] == inside
    assert [v for _, v in store.scan("m/")] == [k.encode() for k in inside]
    assert [k for k, _ in store.scan("")] == sorted(keys)
    assert [k for k, _ in store.scan("m")] == sorted(k for k in keys if k.startswith("m"))
    assert store.scan("m/\U0010ffff") == [("m/\U0010ffff", "m/\U0010ffff".encode())]
    assert [k for k, _ in store.scan("m/", after="m/b")] == [k for k in inside if k > "m/b"]
    assert [k for k, _ in store.scan("m/", limit=2)] == inside[:2]
    assert store.scan("zzz") == []


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.sets(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                            max_size=6), max_size=30),
       page=st.integers(1, 7))
def test_scan_paging_visits_every_key_once(store: LedgerStore, keys: set[str], page: int) -> None:
    prefix = f"p{uuid.uuid4().hex}/"  # examples share the store: isolate by prefix
    size = store.size()
    store.commit(batch(size, state=tuple((prefix + k, k.encode()) for k in keys)))
    seen: list[str] = []
    after = ""
    while True:
        rows = store.scan(prefix, after=after, limit=page)
        seen.extend(k for k, _ in rows)
        if len(rows) < page:
            break
        after = rows[-1][0]
    assert seen == sorted(prefix + k for k in keys)


@pytest.mark.parametrize("prefix, bound", [
    ("", None), ("a", "b"), ("ab", "ac"), ("a\U0010ffff", "b"), ("\U0010ffff", None),
    ("\ud7ff", "\ue000"), ("x\ud7ff\U0010ffff", "x\ue000"),
])
def test_prefix_upper_bound(prefix: str, bound: str | None) -> None:
    assert prefix_upper_bound(prefix) == bound


@pytest.mark.parametrize("key, fragment", [
    ("", "key is empty"),
    ("a\x00b", "contains NUL"),
    ("\ud800", "is not valid UTF-8"),
    (b"k", "key must be a str, got bytes"),
    ("k" * 1025, "1025 bytes long, at most 1024"),
])
def test_get_rejects_bad_keys(store: LedgerStore, key: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        store.get(key)


def test_values_reads_many_keys_at_once(store: LedgerStore) -> None:
    written = tuple((f"coupon/{i:04x}", bytes([i % 256]) * 3) for i in range(600))
    store.commit(batch(0, b"a", state=written))
    wanted = [f"coupon/{i:04x}" for i in range(0, 900, 2)] + ["report/absent", "coupon/0000"]  # > 256 keys
    assert store.values(wanted) == {k: v for k, v in written if int(k[7:], 16) % 2 == 0}
    assert store.values([]) == {}
    store.commit(batch(1, b"b", state=(("note/Zürich ✓", b"v"),)))  # not ASCII: same bytes back
    assert store.values(["note/Zürich ✓", "note/Zurich ✓"]) == {"note/Zürich ✓": b"v"}


@pytest.mark.parametrize("keys, fragment", [
    ("ab", "state keys must be a sequence of strings"),
    (["ok", ""], "state key 1 is empty"),
    (["a\x00b"], "contains NUL"),
    ([b"k"], "state key 0 must be a str, got bytes"),
])
def test_values_rejects_bad_keys(store: LedgerStore, keys: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        store.values(keys)


def test_scan_rejects_bad_limit(store: LedgerStore) -> None:
    with pytest.raises(InvalidInput, match="limit is 0, expected at least 1"):
        store.scan("", limit=0)


# -- checkpoints and cosignatures -----------------------------------------------------------


def test_checkpoints_idempotent_and_conflicting(store: LedgerStore) -> None:
    note10 = b"candor.example/log\n10\nROOT10=\n\n\xe2\x80\x94 operator sig\n"
    store.put_checkpoint(10, note10)
    store.put_checkpoint(10, note10)  # same bytes: idempotent
    with pytest.raises(Conflict, match="a different checkpoint is already stored for tree size 10"):
        store.put_checkpoint(10, note10 + b" ")
    assert store.checkpoint(10) == note10
    store.put_checkpoint(5, b"note5")  # an older size stored later
    assert store.latest_checkpoint() == (10, note10)
    store.put_checkpoint(12, b"note12")
    assert store.latest_checkpoint() == (12, b"note12")
    assert store.checkpoint(5) == b"note5"
    with pytest.raises(NotFound, match="no checkpoint stored for tree size 7"):
        store.checkpoint(7)
    with pytest.raises(InvalidInput, match="checkpoint note is empty"):
        store.put_checkpoint(13, b"")


def test_cosignatures_replace_per_witness(store: LedgerStore) -> None:
    with pytest.raises(NotFound, match="no checkpoint stored for tree size 3; store it with "
                                       "put_checkpoint"):
        store.add_cosignature(3, "w1", b"line")
    store.put_checkpoint(3, b"note3")
    store.put_checkpoint(4, b"note4")
    store.add_cosignature(3, "w1", b"\xe2\x80\x94 w1 old")
    store.add_cosignature(3, "w2", b"\xe2\x80\x94 w2")
    store.add_cosignature(3, "w1", b"\xe2\x80\x94 w1 new")
    store.add_cosignature(4, "w1", b"\xe2\x80\x94 w1 at 4")
    assert store.cosignatures(3) == {"w1": b"\xe2\x80\x94 w1 new", "w2": b"\xe2\x80\x94 w2"}
    assert store.cosignatures(4) == {"w1": b"\xe2\x80\x94 w1 at 4"}
    assert store.cosignatures(5) == {}


# -- side logs ----------------------------------------------------------------------------


def test_logs_number_records_per_stream(store: LedgerStore) -> None:
    assert store.append_log("queries", b"q1") == 1
    assert store.append_log("shares", b"\x00s1") == 1
    assert store.append_log("queries", b"") == 2
    assert store.append_log("queries", b"q3") == 3
    assert store.read_log("queries") == [(1, b"q1"), (2, b""), (3, b"q3")]
    assert store.read_log("queries", after_id=1, limit=1) == [(2, b"")]
    assert store.read_log("queries", after_id=3) == []
    assert store.read_log("shares") == [(1, b"\x00s1")]
    assert store.read_log("nothing") == []
    assert store.size() == 0  # side logs are not ledger entries


def test_purged_log_records_are_gone_and_their_ids_never_come_back(store: LedgerStore) -> None:
    for i in range(1, 4):
        assert store.append_log("queries", f"q{i}".encode()) == i
    assert store.purge_log("queries", 2) == 2
    assert store.read_log("queries") == [(3, b"q3")]
    assert store.purge_log("queries", 3) == 1
    assert store.purge_log("queries", 3) == 0
    assert store.read_log("queries") == []
    assert store.append_log("queries", b"q4") == 4  # ledger entries name records by id
    assert store.purge_log("other", 10) == 0
    with pytest.raises(InvalidInput):
        store.purge_log("queries", -1)


def test_indexed_append_writes_the_record_and_its_index_rows_together(store: LedgerStore) -> None:
    assert store.append_log("q", b"first") == 1
    assert store.append_log_indexed("q", b"second", ["q/by/b", "q/by/a"]) == 2
    assert store.append_log_indexed("q", b"third", ["q/by/a"]) == 3
    assert store.read_log("q") == [(1, b"first"), (2, b"second"), (3, b"third")]
    assert store.read_log("q/by/a") == [(1, (2).to_bytes(8, "big")), (2, (3).to_bytes(8, "big"))]
    assert store.read_log("q/by/b") == [(1, (2).to_bytes(8, "big"))]
    for bad in (["q"], ["q/x", "q/x"], "q/x", [""]):
        with pytest.raises(InvalidInput):
            store.append_log_indexed("q", b"r", bad)
    assert store.read_log("q", after_id=3) == []  # a refused append wrote nothing


def test_logs_from_many_threads_get_unique_consecutive_ids(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    ids: list[int] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        for i in range(15):
            new = stores[t % 2].append_log("intake", f"{t}:{i}".encode())
            with lock:
                ids.append(new)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == list(range(1, 61))
    records = stores[0].read_log("intake", limit=100)
    assert [i for i, _ in records] == list(range(1, 61))
    assert sorted(r for _, r in records) == sorted(f"{t}:{i}".encode()
                                                   for t in range(4) for i in range(15))


# -- lifecycle, schema, errors ------------------------------------------------------------


def test_reopening_keeps_everything(backend: Backend) -> None:
    first = backend.open()
    first.commit(batch(0, b"a", b"\x00b", nodes=((0, 0, b"h0"), (1, 0, b"h01")),
                       state=(("k", b"v"),)))
    first.put_checkpoint(2, b"note2")
    first.add_cosignature(2, "w", b"cosig")
    first.append_log("intake", b"r1")
    first.close()
    with backend.open() as again:
        assert again.size() == 2
        assert again.entries(0, 2) == [b"a", b"\x00b"]
        assert again.nodes([(0, 0), (1, 0)]) == {(0, 0): b"h0", (1, 0): b"h01"}
        assert again.get("k") == b"v"
        assert again.latest_checkpoint() == (2, b"note2")
        assert again.cosignatures(2) == {"w": b"cosig"}
        assert again.read_log("intake") == [(1, b"r1")]
        assert again.append_log("intake", b"r2") == 2


def test_migrate_twice_is_a_noop(backend: Backend) -> None:
    store = backend.open()
    store.commit(batch(0, b"a"))
    assert backend.migrate_again() == []
    assert backend.migrate_again() == []
    assert store.entries(0, 1) == [b"a"]


def test_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    try:
        assert sqlite_migrations.migrate(conn) == [v for v, _ in sqlite_migrations.MIGRATIONS]
        assert sqlite_migrations.migrate(conn) == []
    finally:
        conn.close()


def test_newer_schema_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.raw("INSERT INTO schema_version (version) VALUES (999)")
    with pytest.raises(Conflict, match="999, newer than this Candor|version 999 is newer"):
        backend.open()


def test_migrations_never_drop() -> None:
    for module in (sqlite_migrations, postgres_migrations):
        versions = [v for v, _ in module.MIGRATIONS]
        assert versions == list(range(1, len(versions) + 1)), module.__name__
        for version, statements in module.MIGRATIONS:
            for statement in statements:
                assert "DROP " not in statement.upper(), (module.__name__, version, statement)


def test_closed_store_is_unavailable(backend: Backend) -> None:
    store = backend.open()
    with store:
        store.commit(batch(0, b"a"))
    with pytest.raises(Unavailable, match="ledger store is closed"):
        store.size()
    with pytest.raises(Unavailable, match="ledger store is closed"):
        store.commit(batch(1, b"b"))
    with pytest.raises(Unavailable, match="ledger store is closed"):
        store.values(["k"])
    store.close()  # idempotent


def test_batch_must_be_an_append_batch(store: LedgerStore) -> None:
    with pytest.raises(InvalidInput, match="commit takes an AppendBatch, got tuple"):
        store.commit((0, (b"a",), (), ()))  # type: ignore[arg-type]


def test_sqlite_busy_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with SQLiteStore(path, busy_timeout_ms=100) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(Unavailable, match="database busy"):
                store.commit(batch(0, b"a"))
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        store.commit(batch(0, b"a"))
        assert store.size() == 1


def test_sqlite_memory_store_shared_between_threads() -> None:
    with open_store(":memory:") as store:
        assert_one_winner(store, race([store] * 4, 0), 0)


@pytest.fixture
def pg_backend(pg_url: str) -> Iterator[PostgresBackend]:
    b = PostgresBackend(pg_url)
    try:
        yield b
    finally:
        b.close()


def test_postgres_connection_lost_mid_commit(pg_url: str, pg_backend: PostgresBackend,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = pg_backend.open()
    store.commit(batch(0, b"a"))
    original = store._write_state  # type: ignore[attr-defined]

    def kill_then_write(conn: psycopg.Connection[Any], *args: Any) -> None:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        original(conn, *args)

    monkeypatch.setattr(store, "_write_state", kill_then_write)
    with pytest.raises(Unavailable, match="database unreachable: terminating connection"):
        store.commit(batch(1, b"b", nodes=((0, 1, b"h"),), state=(("k", b"v"),)))
    monkeypatch.undo()
    # Nothing half-written, and the next call reconnects.
    assert store.size() == 1
    assert store.get("k") is None
    assert store.nodes([(0, 1)]) == {}
    store.commit(batch(1, b"b"))
    assert store.entries(0, 2) == [b"a", b"b"]


def test_postgres_unreachable_at_open() -> None:
    with pytest.raises(Unavailable, match="database unreachable: connection failed"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)


def test_postgres_rejects_unsafe_schema_names() -> None:
    with pytest.raises(InvalidInput, match="is not a plain identifier"):
        PostgresStore(PG_URL, schema='x"; DROP TABLE entries; --')


# -- open_store and AppendBatch -----------------------------------------------------------


@pytest.mark.parametrize("url, file", [
    ("sqlite:///rel.db", "rel.db"),
    ("sqlite:///{tmp}/abs.db", "abs.db"),
    ("plain.db", "plain.db"),
    (":memory:", None),
    ("sqlite:///:memory:", None),
])
def test_open_store_sqlite_urls(url: str, file: str | None, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(url.format(tmp=tmp_path)) as store:
        assert isinstance(store, SQLiteStore)
        store.commit(batch(0, b"a"))
        assert store.entries(0, 1) == [b"a"]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ([file] if file else [])


def test_open_store_postgres_url(pg_url: str) -> None:
    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        with open_store(pg_url, schema=schema) as store:
            assert isinstance(store, PostgresStore) and store.schema == schema
            store.commit(batch(0, b"a"))
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.mark.parametrize("url, fragment", [
    ("mysql://db/x", "unknown store scheme 'mysql'"),
    ("sqlite://", "has no path"),
    ("", "store url is empty"),
    ("plain.db?schema=x", None),
])
def test_open_store_rejects_bad_urls(url: str, fragment: str | None, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if fragment is None:  # a schema makes sense for PostgreSQL only
        with pytest.raises(InvalidInput, match="schema applies to PostgreSQL urls only"):
            open_store(url, schema="x")
        return
    with pytest.raises(InvalidInput, match=fragment):
        open_store(url)


#: AppendBatch without static types, to feed it what mypy would (rightly) refuse.
Untyped: Any = AppendBatch


def test_append_batch_freezes_sequences() -> None:
    b = Untyped(first_index=3, entries=[b"a"], nodes=[[0, 3, b"h"]], state=[["k", None]])
    assert b.entries == (b"a",) and b.nodes == ((0, 3, b"h"),) and b.state == (("k", None),)


Bad = Callable[[], AppendBatch]


@pytest.mark.parametrize("make, fragment", [
    (lambda: Untyped(-1, ()), "first_index is -1"),
    (lambda: Untyped(True, ()), "first_index must be an int, got bool"),
    (lambda: Untyped(0, ("text",)), r"entries\[0\] must be bytes, got str"),
    (lambda: Untyped(0, (b"ok", bytearray(b"x"))), r"entries\[1\] must be bytes, got bytearray"),
    (lambda: Untyped(2**63 - 1, (b"a", b"b")), "overflows the 2\\*\\*63-1 index space"),
    (lambda: Untyped(0, (), nodes=((64, 0, b"h"),)), "node level is 64, expected 0..63"),
    (lambda: Untyped(0, (), nodes=((0, 0, b""),)), r"nodes\[0\] hash is empty"),
    (lambda: Untyped(0, (), nodes=((0, 0),)), r"nodes\[0\] has 2 fields"),
    (lambda: Untyped(0, (), nodes=((1, 2, b"h"), (1, 2, b"h"))),
     r"writes node \(level 1, index 2\) a second time"),
    (lambda: Untyped(0, (), state=(("a\x00", b"v"),)), "contains NUL"),
    (lambda: Untyped(0, (), state=(("", b"v"),)), r"state\[0\] key is empty"),
    (lambda: Untyped(0, (), state=(("k", "v"),)), r"state\[0\] value must be bytes, got str"),
    # The column-wise check (`_well_formed`) and the element-wise one agree on each of these.
    (lambda: Untyped(0, (), nodes=((True, 0, b"h"),)), "node level must be an int, got bool"),
    (lambda: Untyped(0, (), nodes=((0, -1, b"h"),)), r"nodes\[0\] index is -1"),
    (lambda: Untyped(0, (), nodes=((0, 0, b"h"), (0, 1, "h"))), r"nodes\[1\] hash must be bytes, got str"),
    (lambda: Untyped(0, (), nodes=((0, 0, b"h", 1),)), r"nodes\[0\] has 4 fields"),
    (lambda: Untyped(0, (), state=(("k" * 1025, b"v"),)), "1025 bytes long, at most 1024"),
    (lambda: Untyped(0, (), state=(("é" * 513, b"v"),)), "1026 bytes long, at most 1024"),
    (lambda: Untyped(0, (), state=((b"k", b"v"),)), r"state\[0\] key must be a str, got bytes"),
    (lambda: Untyped(0, (), state=(("k", b"v"), ("k", b"v", 1))), r"state\[1\] has 3 fields"),
    (lambda: Untyped(0, (), state=(("\ud800", b"v"),)), "not valid UTF-8"),
])
def test_append_batch_rejects_malformed(make: Bad, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        make()


def test_append_batch_accepts_what_only_the_slow_check_passes() -> None:
    """Well-formed batches the column-wise check cannot pass at a glance (a non-ASCII key, a
    bytes subclass, a key of exactly the longest length) are accepted by the element-wise one."""

    class Leaf(bytes):
        pass

    b = Untyped(0, (Leaf(b"a"),), nodes=((0, 0, b"h"),), state=(("主体/1", b"v"), ("k" * 1024, None)))
    assert b.state[0] == ("主体/1", b"v") and b.entries == (b"a",)
