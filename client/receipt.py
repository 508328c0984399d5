"""Receipts as evidence: the bytes that prove an entry is on the ledger (docs/ledger.md).

A receipt carries the leaf exactly as stored, its index, the operator-signed checkpoint
note of a tree that includes it, and the RFC 9162 inclusion proof: everything a third
party needs to check, offline and against nothing but the alliance's genesis, that the
operator committed to this entry at this index (as a sigstore bundle carries its
certificate, signature and log inclusion proof). `verify` raises; it never returns a bool.
The SDKs hand a receipt out only after `verify` passed and the checkpoint was accepted as
consistent with the client's own view of the log (`LogVerifier.accept`). Formatting (hex,
base64) is the CLI's business, not the receipt's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from client.verifier import LogVerifier
from core import merkle
from core.checkpoint import Checkpoint
from core.errors import InvalidInput, VerificationError
from core.note import parse_note


@dataclass(frozen=True)
class Receipt:
    """Proof that the ledger holds `leaf` at `index` (module docstring)."""

    leaf: bytes
    index: int
    checkpoint: bytes
    """The signed checkpoint note (operator signature, and any witness cosignatures)."""
    inclusion_proof: tuple[bytes, ...]
    checkpoint_size: int = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.leaf, bytes) or not self.leaf:
            raise InvalidInput("a receipt's leaf must be the non-empty bytes of the stored entry")
        if not isinstance(self.checkpoint, bytes):
            raise InvalidInput("a receipt's checkpoint must be the bytes of the signed note")
        if not isinstance(self.inclusion_proof, tuple) or not all(
                isinstance(h, bytes) and len(h) == merkle.HASH_SIZE for h in self.inclusion_proof):
            raise InvalidInput(f"a receipt's inclusion proof must be a tuple of {merkle.HASH_SIZE}-byte hashes")
        size = Checkpoint.parse(parse_note(self.checkpoint).text).size
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not 0 <= self.index < size:
            raise InvalidInput(f"receipt index {self.index} is not inside checkpoint size {size}")
        object.__setattr__(self, "checkpoint_size", size)

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.leaf)

    def verify(self, log: LogVerifier, *, quorum: int = 0) -> Checkpoint:
        """Check the receipt against the alliance `log` is pinned to: the operator signed the
        checkpoint (and at least `quorum` genesis witnesses cosigned it), and the inclusion
        proof puts this leaf at `index` in its tree. Returns the checkpoint; raises
        VerificationError. Offline: consistency with a client's view is `log.accept`'s job."""
        cp = log.open(self.checkpoint, quorum).checkpoint
        try:
            log.verify_inclusion(self.leaf, self.index, self.inclusion_proof, cp)
        except VerificationError as exc:
            raise VerificationError(f"the receipt's leaf is not at index {self.index} of the checkpoint of size "
                                    f"{cp.size}: {exc}") from None
        return cp
