"""Merkle nodes the operator has written or read, in front of its store's node reads.

A stored node never changes: a store refuses to write a different hash at a node it holds
(`LedgerStore.commit`), and a node is written only once its subtree is complete. So a copy
kept in memory is always the stored value, on every server sharing a store. Receipts and
the sequencer's new nodes mostly need nodes committed moments before, which the cache
holds without a store read; in the operator's process every read is a round trip to the
database and a hand-off of the interpreter lock (docs/performance.md).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence

from server.storage import LedgerStore, NodeKey, NodeWrite

#: Nodes kept (about 190 bytes each with their keys: 3 MB); the oldest go first. A receipt
#: needs its leaf's path, so the last few thousand entries' nodes and the roots of the large
#: subtrees suffice.
NODE_CACHE_LIMIT = 1 << 14
#: At most this many of the newest entries' nodes are read ahead by `follow` (a server that
#: starts, or falls far behind, reads older paths on demand).
FOLLOW_LIMIT = 1 << 12


class NodeCache:
    def __init__(self, store: LedgerStore, limit: int = NODE_CACHE_LIMIT) -> None:
        self.store = store
        self.limit = limit
        self._nodes: dict[NodeKey, bytes] = {}
        self._lock = threading.Lock()
        self._followed = 0  # `follow` has read ahead the nodes of the entries below this
        self._follow_lock = threading.Lock()

    def follow(self, size: int) -> None:
        """Hold every node of the newest entries below `size` (a checkpoint's), reading the
        ones not held in one store query: the receipts of a server that does not sequence
        need the nodes of entries another server appended, and each would otherwise read its
        own path. A node (level, i) is complete, hence stored, once (i + 1) << level <= size.
        """
        with self._follow_lock:
            start = max(self._followed, size - FOLLOW_LIMIT)
            if start >= size:
                return
            keys = [(level, i) for level in range(size.bit_length())
                    for i in range(start >> level, size >> level)]
            self.nodes(keys)
            self._followed = size

    def held(self, level: int, index: int) -> bytes | None:
        """The node if it is in memory; None if only the store may have it."""
        return self._nodes.get((level, index))

    def node(self, level: int, index: int) -> bytes:
        """A `core.merkle.NodeReader`: `store.node`, from memory when held."""
        hit = self._nodes.get((level, index))
        if hit is None:
            hit = self.store.node(level, index)
            self.keep(((level, index, hit),))
        return hit

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """`store.nodes(keys)`: one store query for the ones not held, none if all are."""
        found: dict[NodeKey, bytes] = {}
        missing: list[NodeKey] = []
        for key in keys:
            hit = self._nodes.get(key)
            if hit is None:
                missing.append(key)
            else:
                found[key] = hit
        if missing:
            read = self.store.nodes(missing)
            self.keep((level, index, digest) for (level, index), digest in read.items())
            found.update(read)
        return found

    def keep(self, nodes: Iterable[NodeWrite]) -> None:
        """Hold `nodes`, committed to the store (never before: a refused batch's nodes are not)."""
        with self._lock:
            held = self._nodes
            for level, index, digest in nodes:
                held[(level, index)] = digest
            excess = len(held) - self.limit
            if excess > 0:
                for key in list(itertools.islice(held, excess)):
                    del held[key]
