"""The ledger store: the one persistence interface behind Candor's append-only log (docs/ledger.md,
docs/architecture.md).

The ledger's domain logic (`core` plus the sequencer) decides *what* is appended: it checks
each signed entry against the projected state, computes the RFC 9162 Merkle node hashes and
the state updates. The store decides nothing. It keeps opaque bytes and gives them back, and
it guarantees three things the domain logic cannot guarantee on its own:

* **Atomicity.** One `AppendBatch` (entries, Merkle nodes, state updates) is one database
  transaction: after a failure nothing of it is visible, after success all of it is, and it
  is durable once `commit` returns.
* **No fork.** `commit` is a compare-and-append on the ledger size, enforced by the database
  itself (a primary key on the entry index plus a check made inside the write transaction).
  Two sequencers racing for the same index, in one process or in several sharing a database,
  can never both succeed: exactly one wins, the other gets `Conflict` and must re-read.
* **Exact bytes.** A leaf is the exact bytes of a signed entry; the store never parses,
  re-encodes or normalises them (sign the bytes, store the bytes).

Implementations: `server.sqlite_store.SQLiteStore` (embedded default, WAL) and
`server.postgres_store.PostgresStore` (several stateless servers over one database). Both
pass the single contract suite in `tests/test_storage_contract.py`; a new backend must too.
`server.database.open_store` picks one by url; this module imports neither driver.
The contract layout follows Tessera's `LogReader` and janus' datastore: a Protocol whose
docstrings state the obligations in MUST words, one test suite run against every backend.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeAlias, cast, runtime_checkable

from core.errors import Conflict, InvalidInput, NotFound

#: A Merkle node address: (level, index). Level 0 holds leaf hashes; the node at
#: (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
NodeKey: TypeAlias = tuple[int, int]
#: A Merkle node to store: (level, index, hash).
NodeWrite: TypeAlias = tuple[int, int, bytes]
#: A state update: (key, value); value None deletes the key.
StateUpdate: TypeAlias = tuple[str, bytes | None]

#: Indices and sizes are stored as signed 64-bit integers by both backends.
MAX_INDEX = 2**63 - 1
#: A tree over at most 2**63 leaves has at most 64 levels (0..63).
MAX_LEVEL = 63
#: Names (state keys, streams, witnesses) are compared byte-wise; keep them reasonable.
MAX_NAME_BYTES = 1024


# -- argument checks shared by every implementation ------------------------------------------
# Each backend calls these before touching the database so both raise the same InvalidInput
# for the same mistake (the contract suite checks that).


def check_index(value: object, what: str) -> int:
    """Return `value` if it is an int in [0, MAX_INDEX]; raise InvalidInput otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_INDEX:
        raise InvalidInput(f"{what} is {value}, expected 0 <= {what} <= 2**63-1")
    return value


def check_level(value: object) -> int:
    """Return `value` if it is a Merkle level in [0, MAX_LEVEL]; raise InvalidInput otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"node level must be an int, got {type(value).__name__}")
    if not 0 <= value <= MAX_LEVEL:
        raise InvalidInput(f"node level is {value}, expected 0..{MAX_LEVEL}")
    return value


def check_limit(value: object) -> int:
    """Return `value` if it is a positive page size; raise InvalidInput otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"limit must be an int, got {type(value).__name__}")
    if value < 1:
        raise InvalidInput(f"limit is {value}, expected at least 1")
    return value


def check_name(value: object, what: str, *, allow_empty: bool = False) -> str:
    """Return `value` if it is a storable name; raise InvalidInput otherwise.

    A name must be valid UTF-8 (no lone surrogates), contain no NUL (PostgreSQL text cannot
    hold one) and be at most MAX_NAME_BYTES long. Both backends order names by their UTF-8
    bytes, which equals Python's code-point order, so `scan` pages identically everywhere.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a str, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInput(f"{what} is empty; give a non-empty name")
    if "\x00" in value:
        raise InvalidInput(f"{what} {value!r} contains NUL; remove it")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} {value!r} is not valid UTF-8 ({exc.reason})") from None
    if size > MAX_NAME_BYTES:
        raise InvalidInput(f"{what} is {size} bytes long, at most {MAX_NAME_BYTES} allowed")
    return value


def check_bytes(value: object, what: str, *, allow_empty: bool = True) -> bytes:
    """Return `value` if it is `bytes` (not bytearray/memoryview: they could change later)."""
    if not isinstance(value, bytes):
        raise InvalidInput(f"{what} must be bytes, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInput(f"{what} is empty")
    return value


def check_batch(batch: object) -> AppendBatch:
    """`batch` if it is an AppendBatch (which checked itself when it was made)."""
    if not isinstance(batch, AppendBatch):
        raise InvalidInput(f"commit takes an AppendBatch, got {type(batch).__name__}")
    return batch


def checkpoint_conflict(size: int) -> Conflict:
    """The refusal of `put_checkpoint` when another note is stored for tree size `size`."""
    return Conflict(f"a different checkpoint is already stored for tree size {size}; "
                    "an operator signs one checkpoint per size")


def no_checkpoint_to_cosign(size: int) -> NotFound:
    """The refusal of `add_cosignature` for a tree size with no checkpoint stored."""
    return NotFound(f"no checkpoint stored for tree size {size}; store it with "
                    "put_checkpoint before adding cosignatures")


def check_node_keys(keys: object) -> list[NodeKey]:
    """Return `keys` as a list of valid (level, index) pairs; raise InvalidInput otherwise."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise InvalidInput("node keys must be a sequence of (level, index) pairs")
    out: list[NodeKey] = []
    for i, key in enumerate(keys):
        if not isinstance(key, tuple) or len(key) != 2:
            raise InvalidInput(f"node key {i} is {key!r}, expected a (level, index) tuple")
        out.append((check_level(key[0]), check_index(key[1], f"node key {i} index")))
    return out


def check_names(keys: object) -> list[str]:
    """`keys` as a list of distinct valid state keys; raise InvalidInput otherwise."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise InvalidInput("state keys must be a sequence of strings")
    if keys and not _plain_names(keys):
        for i, k in enumerate(keys):
            check_name(k, f"state key {i}")
    return list(dict.fromkeys(keys))


def _plain_names(names: Sequence[object]) -> bool:
    """Whether every one of `names` (not empty) is a name `check_name` passes because it is
    a non-empty ASCII str (its length is its UTF-8 size) of at most MAX_NAME_BYTES without
    NUL, recognised a column at a time: a batch of reports reads and writes a few thousand
    state keys in the sequencer's one thread. False says only "check each one"."""
    if set(map(type, names)) != {str}:
        return False
    text = cast("Sequence[str]", names)
    return (all(map(str.isascii, text)) and min(map(len, text)) > 0 and max(map(len, text)) <= MAX_NAME_BYTES
            and "\x00" not in "".join(text))


def check_index_streams(stream: str, index_streams: object) -> list[str]:
    """`index_streams` as a sorted list of distinct valid names other than `stream` (sorted, so
    every writer locks stream heads in one order)."""
    if isinstance(index_streams, (str, bytes)) or not isinstance(index_streams, Sequence):
        raise InvalidInput("index streams must be a sequence of stream names")
    names = [check_name(s, f"index stream {i}") for i, s in enumerate(index_streams)]
    if len(set(names)) != len(names) or stream in names:
        raise InvalidInput("index streams must be distinct and differ from the stream they index")
    return sorted(names)


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string that starts with `prefix`, or None.

    Turns a prefix scan into an index range scan `prefix <= key < bound` under code-point
    (= UTF-8 byte) order. None means there is no upper bound (empty prefix, or a prefix made
    only of U+10FFFF).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last == 0x10FFFF:
            continue
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:
            # Surrogates cannot be stored (check_name refuses them); skip past the block.
            nxt = 0xE000
        return "".join(chars) + chr(nxt)
    return None


def latest_state(updates: Sequence[StateUpdate]) -> tuple[list[str], list[tuple[str, bytes]]]:
    """Collapse ordered state updates into (keys to delete, (key, value) to upsert), each in
    key order.

    Applying updates in order is equivalent to applying only the last update of each key, so
    backends may run one bulk delete and one bulk upsert, in any order. Key order is the
    index's: a report's keys are random, and inserted in order they walk the B-tree forward
    instead of seeking a random page for each (docs/performance.md, "State rows in key
    order").
    """
    last = dict(updates)  # a later update of a key replaces an earlier one
    deletes = sorted(k for k, v in last.items() if v is None)
    upserts = sorted((k, v) for k, v in last.items() if v is not None)
    return deletes, upserts


# -- value types --------------------------------------------------------------------------


MAX_BATCH = 512
#: State keys per batched read (`LedgerStore.values`): the replay checks of 128 reports.
STATE_CHUNK = 256
"""The most entries one AppendBatch holds: what either sequencer drains in one step."""


@dataclass(frozen=True)
class AppendBatch:
    """Everything one sequencer step writes, committed as one transaction.

    first_index: the ledger index of `entries[0]`; MUST equal the store's size at commit.
    entries:     the exact bytes of each signed entry, appended at first_index, first_index+1...
                 May be empty: the batch then only updates nodes/state, still guarded by the
                 size check (a compare-and-set on the ledger head).
    nodes:       (level, index, hash) of complete Merkle subtrees that this batch completes.
                 The store keeps them as opaque bytes; a node is written once and never
                 changed. At most one write per (level, index) within a batch.
    state:       (key, value) updates of the projected state, applied in order; value None
                 deletes the key. The same key may appear several times: the last one wins.

    Sequences are frozen into tuples; every element is type-checked here so that a batch that
    exists is well-formed and a backend never sees a half-valid one.
    """

    first_index: int
    entries: tuple[bytes, ...]
    nodes: tuple[NodeWrite, ...] = ()
    state: tuple[StateUpdate, ...] = ()

    def __post_init__(self) -> None:
        check_index(self.first_index, "first_index")
        entries = tuple(self.entries)
        nodes = tuple(map(tuple, self.nodes))
        state = tuple(map(tuple, self.state))
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "state", state)
        if entries and self.first_index + len(entries) - 1 > MAX_INDEX:
            raise InvalidInput(f"batch of {len(entries)} entries at {self.first_index} "
                               "overflows the 2**63-1 index space")
        if not _well_formed(entries, nodes, state):
            self._check_each()

    def _check_each(self) -> None:
        """Raise InvalidInput naming the first malformed element, if any: the slow path, for a
        batch `_well_formed` cannot pass at a glance (a malformed one, or one with non-ASCII
        state keys or bytes subclasses, which are fine)."""
        for i, entry in enumerate(self.entries):
            check_bytes(entry, f"entries[{i}]")
        seen: set[NodeKey] = set()
        for i, node in enumerate(self.nodes):
            if len(node) != 3:
                raise InvalidInput(f"nodes[{i}] has {len(node)} fields, expected "
                                   "(level, index, hash)")
            level, index, digest = node
            key = (check_level(level), check_index(index, f"nodes[{i}] index"))
            check_bytes(digest, f"nodes[{i}] hash", allow_empty=False)
            if key in seen:
                raise InvalidInput(f"nodes[{i}] writes node (level {level}, index {index}) "
                                   "a second time in one batch; write each node once")
            seen.add(key)
        for i, update in enumerate(self.state):
            if len(update) != 2:
                raise InvalidInput(f"state[{i}] has {len(update)} fields, expected (key, value)")
            key_name, value = update
            check_name(key_name, f"state[{i}] key")
            if value is not None:
                check_bytes(value, f"state[{i}] value")


def _well_formed(entries: tuple[object, ...], nodes: tuple[tuple[object, ...], ...],
                 state: tuple[tuple[object, ...], ...]) -> bool:
    """Whether an `AppendBatch`'s elements are all well-formed, by the checks `_check_each`
    makes one element at a time, made a column at a time (a batch of 500 reports has 1,500 state
    updates and 1,000 nodes, checked in the sequencer's one thread)."""
    if not set(map(type, entries)) <= {bytes}:
        return False
    if nodes:
        if set(map(len, nodes)) != {3}:
            return False
        levels, indexes, digests = zip(*nodes)
        if not (set(map(type, levels)) == set(map(type, indexes)) == {int} and set(map(type, digests)) == {bytes}
                and 0 <= min(levels) and max(levels) <= MAX_LEVEL and 0 <= min(indexes) and max(indexes) <= MAX_INDEX
                and all(digests) and len(set(zip(levels, indexes))) == len(nodes)):
            return False
    if state:
        if set(map(len, state)) != {2}:
            return False
        keys, values = zip(*state)
        return _plain_names(keys) and set(map(type, values)) <= {bytes, type(None)}
    return True


# -- the contract -------------------------------------------------------------------------


@runtime_checkable
class LedgerStore(Protocol):
    """Persistence for one append-only ledger, its Merkle nodes, projected state and side logs.

    Every implementation MUST satisfy all of the following; `tests/test_storage_contract.py`
    checks each of them against every backend.

    General:
    - All bytes are opaque: what `commit`/`put_*`/`append_log` receive MUST be returned
      byte-for-byte by the readers, never parsed, re-encoded or normalised.
    - Every method MUST be safe to call from several threads at once (gRPC servers call from a
      thread pool), and several stores (in one or several processes) MAY share one database.
    - A write that raises MUST have written nothing. A write that returns MUST be durable
      (survive a crash or power loss of the database host).
    - Bad arguments MUST raise `core.errors.InvalidInput` before the database is touched; a
      missing object `NotFound`; a state clash `Conflict`; an unreachable or busy database
      `Unavailable` (the caller may retry). Driver exceptions (sqlite3, psycopg) MUST NOT
      escape for these conditions.
    - After `close()`, every method except `close()` MUST raise `Unavailable`.
    """

    # ledger ------------------------------------------------------------------------------

    def size(self) -> int:
        """The number of entries durably committed (the next free index).

        MUST reflect every `commit` that has returned, from any thread or process.
        """
        ...

    def commit(self, batch: AppendBatch) -> None:
        """Append `batch` atomically: entries, Merkle nodes and state updates in ONE transaction.

        MUST raise Conflict, writing nothing, if `batch.first_index != size()` at commit time.
        The check MUST be made inside the write transaction and backed by the database (the
        entry index is a primary key and entries are contiguous from 0), so that two writers
        racing for the same index can never both succeed: this is what prevents a fork.
        MUST store each entry at index first_index + i with its exact bytes.
        MUST store each node; a node already stored with the same hash is accepted (idempotent),
        with a different hash MUST raise Conflict (nodes are written once, never overwritten).
        MUST apply the state updates in order (value None deletes; deleting an absent key is
        not an error).
        On any failure nothing of the batch is written. When it returns, the batch is durable.
        """
        ...

    def entry(self, index: int) -> bytes:
        """The exact bytes of the entry at `index`. MUST raise NotFound if index >= size()."""
        ...

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries [start, end) in index order, with `end` clipped to size().

        MUST raise InvalidInput unless 0 <= start <= end; returns [] when start >= size().
        """
        ...

    def node(self, level: int, index: int) -> bytes:
        """The stored hash of Merkle node (level, index). MUST raise NotFound if absent."""
        ...

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Batch read of Merkle nodes: {(level, index): hash} for the keys that are stored.

        Absent keys are omitted (the caller decides whether that is an error). MUST answer up
        to 256 keys with one query, so an inclusion or consistency proof (O(log n) keys, fewer
        than 130 even at 2**63 leaves) is one round trip rather than one per node.
        """
        ...

    # projected state ---------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """The value of state `key`, or None if absent."""
        ...

    def values(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Batch read of state: {key: value} for the keys that are stored, absent keys omitted.

        MUST answer up to STATE_CHUNK keys with one query, so the sequencer reads the
        replay checks of a whole batch (`core.state.lookups`) in a round trip or a few.
        """
        ...

    def scan(self, prefix: str, after: str = "", limit: int = 1000) -> list[tuple[str, bytes]]:
        """Up to `limit` (key, value) pairs with key starting with `prefix` and key > `after`.

        MUST order by key in code-point order (= UTF-8 byte order, independent of any database
        collation), so paging with after = last key returned visits every key exactly once.
        """
        ...

    # checkpoints -------------------------------------------------------------------------

    def put_checkpoint(self, size: int, note: bytes) -> None:
        """Store the signed checkpoint note for tree size `size`.

        MUST be idempotent for identical bytes and MUST raise Conflict (keeping the stored note)
        for different bytes at the same size: an operator never signs two trees of one size.
        """
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """(size, note) of the checkpoint with the largest size, or None if there is none."""
        ...

    def checkpoint(self, size: int) -> bytes:
        """The checkpoint note stored for `size`. MUST raise NotFound if there is none."""
        ...

    def add_cosignature(self, size: int, witness: str, line: bytes) -> None:
        """Record `witness`'s cosignature line on the checkpoint of `size`.

        MUST replace that witness's earlier line for the same size (a witness may re-cosign,
        e.g. with a later timestamp). MUST raise NotFound if no checkpoint of `size` is stored.
        """
        ...

    def cosignatures(self, size: int) -> dict[str, bytes]:
        """{witness: line} for the checkpoint of `size`; {} if none (or no such checkpoint)."""
        ...

    # side logs (not part of the ledger) --------------------------------------------------

    def append_log(self, stream: str, record: bytes) -> int:
        """Append `record` to `stream` durably and return its id.

        Ids MUST be 1, 2, 3... per stream, assigned in commit order, so that a reader paging
        with `after_id` never skips a record that commits later with a smaller id.
        Used for query logs, trustee share logs and the intake queue.
        """
        ...

    def read_log(self, stream: str, after_id: int = 0, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Up to `limit` (id, record) pairs of `stream` with id > after_id, in id order."""
        ...

    def append_log_indexed(self, stream: str, record: bytes, index_streams: Sequence[str]) -> int:
        """Append `record` to `stream` and, in the SAME transaction, its id (8 bytes,
        big-endian) to each of `index_streams`; return the id.

        For a log read through per-reader indexes (the query log): a record MUST never be
        durable without its index rows, nor an index row without its record. Index streams
        MUST be distinct and differ from `stream`; ids follow the rules of `append_log`.
        """
        ...

    def purge_log(self, stream: str, through_id: int) -> int:
        """Delete every record of `stream` with id <= through_id; return how many went.

        Retention (the query log keeps records 3 years, docs/queries.md). MUST NOT make an id
        reusable: after a purge, even of every record, `append_log` continues after the
        largest id ever handed out, since ledger entries name records by id.
        """
        ...

    # lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release every connection. Idempotent."""
        ...

    def __enter__(self) -> LedgerStore:
        ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        ...


class StoreView:
    """`core.state.StateView` over a store (scans page through everything)."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def get(self, key: str) -> bytes | None:
        return self.store.get(key)

    def values(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        """{key: value or None} for each of `keys`, in one round trip (or a few)."""
        found = self.store.values(keys) if keys else {}
        return {k: found.get(k) for k in keys}

    def size(self) -> int:
        return self.store.size()

    def forget(self) -> None:
        """Nothing is kept here (see `RecentView`)."""

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        after = ""
        while True:
            page = self.store.scan(prefix, after=after, limit=1000)
            out.extend(page)
            if len(page) < 1000:
                return out
            after = page[-1][0]


class RecentView(StoreView):
    """A `StoreView` that keeps the values and the size it read until `forget` is called.

    For the operator's intake path only. Over a store this process alone writes (its own
    sequencer) every change comes through `Ledger.committed`, which calls `forget`; over a
    shared store the other servers' commits come through their sequencer's notification
    (`Ledger.appended_elsewhere`), so a kept value may lag a commit by that notification, and
    nothing decided on it is final: the sequencer checks again against the store.
    Reports read the same few records (the sender's member record, the ring, the size)
    thousands of times between membership changes; each store read in the operator's
    process is a round trip to the database and a hand-off of the interpreter lock
    (docs/performance.md). An absent key is never kept, so a check that something is new
    (a report id, a coupon, a link tag) always reads the store. A value kept is one read
    since the last commit: what a read made just before that commit returns without the cache.
    """

    def __init__(self, store: LedgerStore) -> None:
        super().__init__(store)
        self._kept: dict[str, bytes] = {}
        self._size: int | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        hit = self._kept.get(key)
        if hit is not None:
            return hit
        generation = self._generation
        value = self.store.get(key)
        if value is not None:
            with self._lock:
                if generation == self._generation:  # no commit since the read began
                    self._kept[key] = value
        return value

    def size(self) -> int:
        kept = self._size
        if kept is not None:
            return kept
        generation = self._generation
        size = self.store.size()
        with self._lock:
            if generation == self._generation:
                self._size = size
        return size

    def forget(self) -> None:
        """Drop everything kept: the store was (or may have been) written."""
        with self._lock:
            self._generation += 1
            self._kept = {}
            self._size = None
