"""The client's view of the ledger: cosigned checkpoints, consistency, inclusion (DESIGN §3).

A `LogVerifier` is pinned to one alliance by its genesis entry. It accepts a checkpoint
only if the operator signed it, the genesis quorum of witnesses cosigned it, and it is
consistent with the last checkpoint this client verified, which it keeps in a small state
file. Anything else raises `VerificationError`: a fork (same size, other root), a rollback
(smaller size), a bad consistency proof, or a checkpoint of another origin. It never
returns a bool.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from candor import wire
from core import merkle, state
from core.checkpoint import Checkpoint, VerifiedCheckpoint, open_checkpoint
from core.errors import VerificationError
from core.note import CosignatureVerifier, NoteVerifier

ConsistencySource = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes
    note: bytes


class LogVerifier:
    def __init__(self, genesis_leaf: bytes, state_path: Path | None = None) -> None:
        self.genesis_leaf = genesis_leaf
        self.alliance = state.alliance_of(wire.signed_entry_from_bytes(genesis_leaf), merkle.leaf_hash(genesis_leaf))
        g = self.alliance.genesis
        self.operator = NoteVerifier(g.operator_name, Ed25519PublicKey.from_public_bytes(g.operator_key))
        self.witnesses = [CosignatureVerifier(w.name, Ed25519PublicKey.from_public_bytes(w.signing_key))
                          for w in g.witnesses]
        self.state_path = state_path
        self.head: Head | None = self._load()

    def _load(self) -> Head | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        data = json.loads(self.state_path.read_text())
        return Head(int(data["size"]), bytes.fromhex(data["root"]), base64.b64decode(data["note"]))

    def _save(self, head: Head) -> None:
        self.head = head
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"size": head.size, "root": head.root.hex(), "note": base64.b64encode(head.note).decode()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def open(self, note: bytes, quorum: int | None = None) -> VerifiedCheckpoint:
        """Signature and cosignature checks only (no consistency, nothing persisted)."""
        q = self.alliance.genesis.witness_quorum if quorum is None else quorum
        return open_checkpoint(note, self.alliance.genesis.origin, self.operator, self.witnesses, q)

    def update(self, note: bytes, consistency: ConsistencySource,
               genesis_proof: Callable[[int], Sequence[bytes]] | None = None, *,
               quorum: int | None = None) -> Checkpoint:
        """Accept `note` as the new head if it is cosigned and consistent with the old one.

        On the very first checkpoint the client has nothing to be consistent with; it then
        checks that the tree holds its pinned genesis at index 0 (`genesis_proof(size)`
        returns that inclusion proof), so a log of another alliance cannot be substituted.
        A witness passes `quorum=0`: it checks the operator's view before cosigning it.
        """
        cp = self.open(note, quorum).checkpoint
        old = self.head
        if old is None:
            if genesis_proof is None:
                raise VerificationError("first checkpoint needs an inclusion proof of the genesis entry")
            merkle.verify_inclusion(self.alliance.genesis_hash, 0, cp.size, list(genesis_proof(cp.size)), cp.root_hash)
        elif cp.size < old.size:
            raise VerificationError(
                f"rollback: the log now claims size {cp.size}, but this client already verified size {old.size}"
            )
        elif cp.size == old.size:
            if cp.root_hash != old.root:
                raise VerificationError(
                    f"fork: two different roots for size {cp.size} "
                    f"({old.root.hex()[:16]}… verified before, {cp.root_hash.hex()[:16]}… now)"
                )
        else:
            try:
                merkle.verify_consistency(old.size, cp.size, old.root, cp.root_hash,
                                          list(consistency(old.size, cp.size)))
            except VerificationError as exc:
                raise VerificationError(
                    f"fork: checkpoint of size {cp.size} is not consistent with the verified size {old.size}: {exc}"
                ) from None
        if old is None or cp.size > old.size:
            self._save(Head(cp.size, cp.root_hash, note))
        return cp

    def verify_inclusion(self, leaf: bytes, index: int, proof: Sequence[bytes], cp: Checkpoint) -> None:
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, cp.size, list(proof), cp.root_hash)
