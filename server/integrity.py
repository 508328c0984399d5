"""The operator checks its own store before it serves (docs/operations.md, "Start-up checks").

A store edited behind the operator's back (rows deleted with the append-only triggers
dropped, a state row changed) must not be served: the next append would fail, or worse, the
ledger would accept what its own entries forbid (a revoked member's report). At start:

1. **Entries against the latest signed checkpoint.** The store holds at least as many
   entries as the newest checkpoint it signed, the checkpoint's note verifies under the
   operator's key of the genesis, and the Merkle root recomputed from the stored entries'
   leaf hashes at that size is the checkpoint's root. Otherwise the store is refused.
2. **State against the entries.** Every entry is replayed from genesis through
   `core.state.apply` (the function the sequencer ran, without re-checking signatures, which
   were checked at append) into a fresh memory state, which must equal the stored state
   table. If only the state differs, the entries are the truth: the state is rebuilt from
   them (one transaction, guarded by the ledger size) and the operator says so.

`check_store` returns what it did in one line; it raises VerificationError (refuse to serve).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api import wire
from core import merkle, state
from core.alliance import alliance_of
from core.checkpoint import open_checkpoint
from core.errors import CandorError, VerificationError
from core.note import NoteVerifier
from server.storage import AppendBatch, LedgerStore

log = logging.getLogger("candor.integrity")

PAGE = 1000


@dataclass(frozen=True)
class StoreCheck:
    size: int
    checkpoint_size: int
    rebuilt_keys: int
    """State keys rewritten because the stored state was not the entries' projection (0: none)."""

    def line(self) -> str:
        base = (f"store checked: {self.size} entries, the signed checkpoint of size {self.checkpoint_size} "
                "matches them")
        if self.rebuilt_keys:
            return (f"{base}; the state table was NOT the projection of the entries ({self.rebuilt_keys} keys "
                    "differed, edited outside candor?): rebuilt it from the entries")
        return f"{base}, and the state is their projection"


def _stored_state(store: LedgerStore) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    after = ""
    while True:
        page = store.scan("", after=after, limit=PAGE)
        out.update(page)
        if len(page) < PAGE:
            return out
        after = page[-1][0]


def _refuse(message: str) -> VerificationError:
    return VerificationError(f"the ledger store fails its start-up check: {message}; refusing to serve. Restore "
                             "the store from a backup (`candor db restore`) or investigate; see docs/operations.md")


def check_store(store: LedgerStore, *, rebuild: bool = True, replay: bool = True) -> StoreCheck:
    """Check entries against the newest signed checkpoint and state against the entries (module
    docstring). Raises VerificationError naming the defect; an empty store passes. `replay`
    False skips the state comparison (a store other servers append to while this one starts)."""
    latest = store.latest_checkpoint()  # before the size: a concurrent append only adds entries
    size = store.size()
    if size == 0:
        return StoreCheck(0, 0, 0)
    leaves: list[bytes] = []
    for start in range(0, size, PAGE):
        page = store.entries(start, min(size, start + PAGE))
        if len(page) != min(size, start + PAGE) - start:
            raise _refuse(f"entries from index {start + len(page)} are missing below the size {size} "
                          "(rows were deleted)")
        leaves.extend(page)
    try:
        genesis = wire.signed_entry_from_bytes(leaves[0])
        ally = alliance_of(genesis, merkle.leaf_hash(leaves[0]))
    except CandorError as exc:
        raise _refuse(f"entry 0 is not a genesis ({exc})") from None
    checkpoint_size = 0
    if latest is not None:
        checkpoint_size, note = latest
        g = ally.genesis
        operator = NoteVerifier(g.operator_name, Ed25519PublicKey.from_public_bytes(g.operator_key))
        try:
            cp = open_checkpoint(note, g.origin, operator, [], 0).checkpoint
        except VerificationError as exc:
            raise _refuse(f"the latest checkpoint (size {checkpoint_size}) does not verify: {exc}") from None
        if cp.size != checkpoint_size or cp.size > size:
            raise _refuse(f"the latest signed checkpoint covers {cp.size} entries but the store holds {size} "
                          "(entries were deleted)")
        if merkle.root([merkle.leaf_hash(leaf) for leaf in leaves[:cp.size]]) != cp.root_hash:
            raise _refuse(f"the entries do not hash to the root of the signed checkpoint of size {cp.size} "
                          "(entries were changed or deleted)")
    if not replay:
        return StoreCheck(size, checkpoint_size, 0)
    view = state.MemoryState()
    for index, leaf in enumerate(leaves):
        try:
            signed = wire.signed_entry_from_bytes(leaf)
            view.update(state.apply(view, None if index == 0 else ally, index, signed, verify=False))
        except CandorError as exc:
            raise _refuse(f"entry {index} does not replay onto the entries before it ({exc})") from None
    stored = _stored_state(store)
    if stored == view.data:
        return StoreCheck(size, checkpoint_size, 0)
    changed = [k for k in view.data.keys() | stored.keys() if view.data.get(k) != stored.get(k)]
    if not rebuild:
        raise _refuse(f"the state table is not the projection of the entries ({len(changed)} keys differ)")
    updates = tuple((k, view.data.get(k)) for k in sorted(changed))
    store.commit(AppendBatch(first_index=size, entries=(), state=updates))
    if _stored_state(store) != view.data:
        raise _refuse("the state table could not be rebuilt from the entries")
    return StoreCheck(size, checkpoint_size, len(changed))
