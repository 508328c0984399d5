"""A verified local copy of the ledger (trustees, DESIGN §5).

A trustee never takes the operator's word for what is on the ledger: it keeps its own
mirror, extended only up to checkpoints that carry the genesis witness quorum and are
consistent with the last one it accepted, with every new entry re-validated by
`core.state.apply` (signatures, ring signatures and proofs included) and the recomputed
root compared with the checkpoint before anything is stored. The mirror lives in a
`LedgerStore` of its own, so a restart does not re-verify history.
"""

from __future__ import annotations

import threading
from pathlib import Path

from candor import wire
from candor.identity import Identity
from client.connection import Connection
from client.verifier import LogVerifier
from core import merkle, state
from core.errors import CandorError, VerificationError
from server.storage import AppendBatch, LedgerStore, StoreView

PAGE = 1000


class Mirror:
    def __init__(self, identity: Identity, conn: Connection, store: LedgerStore, state_path: Path | None = None) -> None:
        self.identity = identity
        self.conn = conn
        self.store = store
        self.verifier = LogVerifier(identity.genesis_leaf(), state_path or identity.path / "mirror.state")
        self.view = StoreView(store)
        self._lock = threading.Lock()
        self._alliance: state.Alliance | None = None

    @property
    def alliance(self) -> state.Alliance:
        if self._alliance is None:
            self._alliance = self.verifier.alliance
        return self._alliance

    def size(self) -> int:
        return self.store.size()

    def sync(self, size: int = 0) -> int:
        """Extend the mirror to the operator's cosigned checkpoint of `size` (0: the latest);
        return the verified size."""
        with self._lock:
            if 0 < size <= self.store.size():
                return self.store.size()
            resp = self.conn.checkpoint(size)
            cp = self.verifier.update(resp.note, self.conn.consistency, lambda s: self.conn.inclusion(0, s))
            start = self.store.size()
            while start < cp.size:
                end = min(cp.size, start + PAGE)
                self._extend(start, self.conn.entries(start, end), cp.size, cp.root_hash)
                start = end
            return self.store.size()

    def _extend(self, first: int, leaves: list[bytes], cp_size: int, cp_root: bytes) -> None:
        overlay = state.Overlay(self.view)
        nodes: dict[tuple[int, int], bytes] = {}

        def get(level: int, index: int) -> bytes:
            hit = nodes.get((level, index))
            return hit if hit is not None else self.store.node(level, index)

        for i, leaf in enumerate(leaves):
            index = first + i
            try:
                signed = wire.signed_entry_from_bytes(leaf)
                ally = None if index == 0 else self.alliance
                overlay.updates.update(state.apply(overlay, ally, index, signed, verify=True))
            except CandorError as exc:
                raise VerificationError(f"ledger entry {index} fails verification in the mirror: {exc}") from None
            for level, idx, digest in merkle.new_nodes(index, merkle.leaf_hash(leaf), get):
                nodes[(level, idx)] = digest
        end = first + len(leaves)
        if end == cp_size and merkle.root_at(end, get) != cp_root:
            raise VerificationError("the operator served entries that do not hash to its cosigned checkpoint")
        self.store.commit(AppendBatch(first_index=first, entries=tuple(leaves),
                                      nodes=tuple((lv, ix, h) for (lv, ix), h in nodes.items()),
                                      state=tuple(overlay.updates.items())))
