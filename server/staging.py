"""Entries staged on top of a store, before one atomic commit.

The operator's sequencer and a trustee's mirror both append verified entries in batches:
each entry is checked against the state as it stands after the entries before it (the
store plus a pending overlay), and the Merkle nodes it completes are computed against the
stored tree plus the pending nodes. `Staging` keeps those two overlays and turns them into
one `AppendBatch`, whose compare-and-set on the size refuses a stale batch.
"""

from __future__ import annotations

from core import merkle, state
from server.storage import AppendBatch, LedgerStore


class Staging:
    def __init__(self, store: LedgerStore, view: state.StateView, nodes: merkle.NodeReader | None = None,
                 first: int | None = None) -> None:
        """Entries staged at `first` (the store's size unless given) over `view` and `nodes`."""
        self.store = store
        self.stored_node = store.node if nodes is None else nodes
        self.first = store.size() if first is None else first
        self.overlay = state.Overlay(view)
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.leaves: list[bytes] = []

    @classmethod
    def after(cls, staged: Staging, view: state.StateView | None = None) -> Staging:
        """Entries to stage on top of `staged`, which is not committed yet: its state (or
        `view`, a view over `staged.overlay`) and Merkle nodes are read through it until
        `rebase`."""
        return cls(staged.store, staged.overlay if view is None else view, staged.node, staged.next_index)

    def rebase(self, view: state.StateView, nodes: merkle.NodeReader) -> None:
        """What this was staged `after` is committed now: read the store (`view`, `nodes`)
        directly, so that a chain of pages holds one page's updates at a time."""
        self.overlay.base = view
        self.stored_node = nodes

    @property
    def next_index(self) -> int:
        return self.first + len(self.leaves)

    def node(self, level: int, index: int) -> bytes:
        """A `merkle.NodeReader` over the stored tree plus the staged nodes."""
        hit = self.nodes.get((level, index))
        return hit if hit is not None else self.stored_node(level, index)

    def add(self, leaf: bytes, updates: state.Updates) -> int:
        """Stage `leaf` (already checked, with the state updates it makes); its index."""
        index = self.next_index
        self.overlay.updates.update(updates)
        for level, idx, digest in merkle.new_nodes(index, merkle.leaf_hash(leaf), self.node):
            self.nodes[(level, idx)] = digest
        self.leaves.append(leaf)
        return index

    def root(self) -> bytes:
        return merkle.root_at(self.next_index, self.node)

    def batch(self) -> AppendBatch | None:
        """The one transaction that appends everything staged (None if nothing is)."""
        if not self.leaves:
            return None
        return AppendBatch(first_index=self.first, entries=tuple(self.leaves),
                           nodes=tuple((lv, ix, h) for (lv, ix), h in self.nodes.items()),
                           state=tuple(self.overlay.updates.items()))
