"""The client's view of the ledger: cosigned checkpoints, consistency, inclusion (docs/ledger.md).

A `LogVerifier` is pinned to one alliance by its genesis entry, and `accept` is the one
place where a client decides whether to believe a checkpoint. Every client path calls it:
the member SDK, the rating and subject clients, the regulator, the witness, the trustee's
mirror, the auditor. Its rules:

- quorum: the operator signed the note and at least `quorum` witnesses of the genesis
  cosigned it (default: the genesis quorum; 0 when the operator's signature is enough, as
  for a receipt, whose checkpoint is by construction too new to be cosigned yet);
- genesis: the first checkpoint a verifier sees must hold the pinned genesis entry at
  index 0 (an inclusion proof), so a log of another alliance cannot be substituted;
- fork: every later checkpoint must be consistent (RFC 9162) with the newest checkpoint
  this verifier accepted: the same root at the same size, an extension of it, or a prefix
  of it. An operator that shows this client another log therefore signs two inconsistent
  checkpoints, which is evidence, and the witnesses will not cosign both;
- rollback: the persisted head never moves back. A reader may be answered from an older
  checkpoint (a lagging server) if it is a proven prefix; a witness never cosigns below
  what it cosigned before.

The head is kept in a small state file and advances only on a checkpoint with the genesis
quorum (for a witness: any checkpoint it accepts, i.e. the last one it cosigned), so a
checkpoint signed by the operator alone is checked but never becomes the trust anchor of a
later session. Failures raise `VerificationError` (missing cosignatures: `QuorumMissing`);
nothing here returns a bool.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api import wire
from api.identity import write_private
from core import merkle
from core.alliance import alliance_of
from core.checkpoint import Checkpoint, VerifiedCheckpoint, open_checkpoint
from core.errors import InvalidInput, NotFound, VerificationError
from core.note import CosignatureVerifier, NoteVerifier


class LogProofs(Protocol):
    """Where `accept` gets its proofs: the operator's ledger service (a `Connection`)."""

    def consistency(self, old: int, new: int) -> Sequence[bytes]: ...

    def inclusion(self, index: int, size: int) -> Sequence[bytes]: ...


@dataclass(frozen=True)
class Head:
    size: int
    root: bytes
    note: bytes


class LogVerifier:
    """`LogVerifier(genesis_leaf, state_path=None, *, witness=False)`: `state_path` keeps the
    head across sessions (None: this session only); `witness=True` for a witness, whose
    head is the last checkpoint it cosigned (module docstring)."""

    def __init__(self, genesis_leaf: bytes, state_path: Path | None = None, *, witness: bool = False) -> None:
        self.genesis_leaf = genesis_leaf
        self.alliance = alliance_of(wire.signed_entry_from_bytes(genesis_leaf), merkle.leaf_hash(genesis_leaf))
        g = self.alliance.genesis
        self.operator = NoteVerifier(g.operator_name, Ed25519PublicKey.from_public_bytes(g.operator_key))
        self.witnesses = [CosignatureVerifier(w.name, Ed25519PublicKey.from_public_bytes(w.signing_key))
                          for w in g.witnesses]
        self.state_path = state_path
        self.witness = witness
        self._lock = threading.RLock()
        self.head: Head | None = self._load()
        # The newest checkpoint accepted, cosigned or not: what the next one must be consistent with.
        self.latest: Checkpoint | None = None
        if self.head is not None:
            self.latest = Checkpoint(g.origin, self.head.size, self.head.root)

    @property
    def head_quorum(self) -> int:
        """Cosignatures a checkpoint needs to become the persisted head."""
        return 0 if self.witness else self.alliance.genesis.witness_quorum

    def _load(self) -> Head | None:
        if self.state_path is None or not self.state_path.exists():
            return None
        data = json.loads(self.state_path.read_text())
        return Head(int(data["size"]), bytes.fromhex(data["root"]), base64.b64decode(data["note"]))

    def _save(self, head: Head) -> None:
        self.head = head
        if self.state_path is None:
            return
        write_private(self.state_path, json.dumps(
            {"size": head.size, "root": head.root.hex(), "note": base64.b64encode(head.note).decode()}).encode())

    def open(self, note: bytes, quorum: int | None = None) -> VerifiedCheckpoint:
        """Signature and cosignature checks only: no consistency, nothing remembered. For
        showing a checkpoint; a client that relies on one calls `accept`."""
        q = self.head_quorum if quorum is None else quorum
        return open_checkpoint(note, self.alliance.genesis.origin, self.operator, self.witnesses, q)

    def accept(self, note: bytes, log: LogProofs, *, quorum: int | None = None) -> Checkpoint:
        """Believe `note` if it passes the quorum, genesis, fork and rollback rules of the
        module docstring; return its checkpoint. `log` serves the proofs those rules need."""
        with self._lock:
            opened = self.open(note, quorum)
            cp = opened.checkpoint
            self._check_consistent(cp, log)
            if self.latest is None or cp.size > self.latest.size:
                self.latest = cp
            if len(opened.cosignatures) >= self.head_quorum and (self.head is None or cp.size > self.head.size):
                self._save(Head(cp.size, cp.root_hash, note))
            return cp

    def _check_consistent(self, cp: Checkpoint, log: LogProofs) -> None:
        seen = self.latest
        if seen is None:
            try:
                merkle.verify_inclusion(self.alliance.genesis_hash, 0, cp.size, list(log.inclusion(0, cp.size)),
                                        cp.root_hash)
            except VerificationError as exc:
                raise VerificationError(f"the checkpoint of size {cp.size} does not hold this alliance's pinned "
                                        f"genesis at index 0: {exc}") from None
            return
        if cp.size == seen.size:
            if cp.root_hash != seen.root_hash:
                raise VerificationError(
                    f"fork: two different roots for size {cp.size} ({seen.root_hash.hex()[:16]}… verified "
                    f"before, {cp.root_hash.hex()[:16]}… now); keep both checkpoints as evidence"
                )
            return
        if cp.size < seen.size and self.witness:
            raise VerificationError(
                f"rollback: the log now claims size {cp.size}, but this witness already cosigned size {seen.size}"
            )
        small, large = (seen, cp) if seen.size < cp.size else (cp, seen)
        try:
            proof = list(log.consistency(small.size, large.size))
        except (InvalidInput, NotFound) as exc:
            if cp.size >= seen.size:
                raise
            # The log no longer holds the size this client verified (e.g. restored from a backup).
            raise VerificationError(
                f"rollback: the log now claims size {cp.size} and cannot prove it still holds the size {seen.size} "
                f"this client verified ({exc}); keep both checkpoints as evidence"
            ) from None
        try:
            merkle.verify_consistency(small.size, large.size, small.root_hash, large.root_hash, proof)
        except VerificationError as exc:
            raise VerificationError(
                f"fork: the checkpoint of size {cp.size} is not consistent with the size {seen.size} this client "
                f"verified: {exc}"
            ) from None

    def verify_inclusion(self, leaf: bytes, index: int, proof: Sequence[bytes], cp: Checkpoint) -> None:
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, cp.size, list(proof), cp.root_hash)
