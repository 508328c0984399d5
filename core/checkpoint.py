"""Transparency-log checkpoints (C2SP tlog-checkpoint v1), signed and cosigned.

A checkpoint is a signed note (core.note) whose text is exactly

    <origin>\\n<tree size>\\n<base64 root hash>\\n[<extension line>\\n ...]

origin non-empty, tree size in ASCII decimal without leading zeros, root hash the 32-byte
RFC 9162 root (core.merkle) in standard padded base64, extension lines non-empty. Parsing
is strict and canonical: `Checkpoint.parse(cp.body()) == cp` and `parse(b).body() == b`
for every accepted `b`, so two different byte strings never denote the same checkpoint.

The operator signs with an Ed25519 note key (type 0x01); witnesses add tlog-cosignature v1
lines (type 0x04) after checking consistency with the last checkpoint they cosigned. A
client calls `open_checkpoint` with the genesis witness set and quorum and accepts the view
only if the operator signed it and at least `quorum` distinct witnesses cosigned it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidInput, QuorumMissing, VerificationError
from core.merkle import HASH_SIZE
from core.note import (
    Note,
    Signer,
    VerifiedSignature,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size a checkpoint may carry (uint64, as every tlog implementation)."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _check_line(value: str, what: str) -> None:
    if not value:
        raise InvalidInput(f"checkpoint {what} is empty; it must be a non-empty line")
    for i, ch in enumerate(value):
        if ord(ch) < 0x20:
            raise InvalidInput(
                f"checkpoint {what} contains control character U+{ord(ch):04X} at offset {i}"
            )


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: origin, tree size, RFC 9162 root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise InvalidInput(f"checkpoint size must be an int, got {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint size {self.size} is outside [0, 2^64 - 1]")
        if not isinstance(self.root_hash, bytes):
            raise InvalidInput("checkpoint root hash must be bytes")
        if len(self.root_hash) != HASH_SIZE:
            raise InvalidInput(
                f"checkpoint root hash is {len(self.root_hash)} bytes, expected {HASH_SIZE}"
            )
        if not isinstance(self.extensions, tuple):
            raise InvalidInput("checkpoint extensions must be a tuple of strings")
        for i, ext in enumerate(self.extensions):
            _check_line(ext, f"extension line {i}")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in \\n."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint note text strictly; raises InvalidInput naming the defect."""
        if not body.endswith("\n"):
            raise InvalidInput("checkpoint text must end with a newline (truncated?)")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidInput(
                f"checkpoint text has {len(lines)} lines, expected at least 3 "
                "(origin, size, root hash)"
            )
        origin, size_line, root_line, *extensions = lines
        if not _DECIMAL.fullmatch(size_line):
            raise InvalidInput(
                f"checkpoint size {size_line!r} is not a decimal number without sign or "
                "leading zeros"
            )
        size = int(size_line)
        if size > MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint size {size} exceeds 2^64 - 1")
        try:
            root = base64.b64decode(root_line.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise InvalidInput("checkpoint root hash is not valid standard base64") from None
        if base64.b64encode(root).decode("ascii") != root_line:
            raise InvalidInput("checkpoint root hash is not canonical base64")
        if len(root) != HASH_SIZE:
            raise InvalidInput(f"checkpoint root hash is {len(root)} bytes, expected {HASH_SIZE}")
        return cls(origin, size, root, tuple(extensions))


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose operator signature and witness quorum have been verified."""

    checkpoint: Checkpoint
    note: Note
    operator_signature: VerifiedSignature
    cosignatures: tuple[VerifiedSignature, ...]

    @property
    def witnesses(self) -> tuple[str, ...]:
        """Names of the witnesses whose cosignatures verified."""
        return tuple(s.name for s in self.cosignatures)


def sign_checkpoint(cp: Checkpoint, operator_signer: Signer) -> bytes:
    """The signed note of `cp`, with one signature line by the operator."""
    return sign_note(cp.body(), [operator_signer])


def open_checkpoint(
    note_bytes: bytes,
    origin: str,
    operator_verifier: Verifier,
    witness_verifiers: Sequence[Verifier] = (),
    quorum: int = 0,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint and its witness quorum.

    Checks, in order: the note is well formed (InvalidInput); it carries a signature line
    of the operator's key; every signature from the operator or a configured witness
    verifies (a failing one rejects the note, naming the key); the text is a canonical
    checkpoint (InvalidInput) of the expected `origin`; at least `quorum` distinct
    witnesses cosigned it. Signatures from other keys are ignored. Failures other than
    malformed input raise VerificationError.

    The witness set is configuration: it must not contain the operator's key (under any
    name: the raw public keys are compared), and two
    witnesses must not share a public key (a cosignature/v1 does not commit to the
    witness name, so one signature would count twice); `quorum` must be between 0 and the
    number of witnesses. Violations raise InvalidInput.
    """
    if isinstance(quorum, bool) or not 0 <= quorum <= len(witness_verifiers):
        raise InvalidInput(
            f"quorum {quorum} must be between 0 and the {len(witness_verifiers)} witnesses "
            "configured"
        )
    keys = [(v.alg, v.public_bytes) for v in witness_verifiers]
    if len(set(keys)) != len(keys):
        raise InvalidInput("two witnesses share a public key; each witness needs its own key")
    idents = {(v.name, v.key_id) for v in witness_verifiers}
    operator_ident = (operator_verifier.name, operator_verifier.key_id)
    if operator_ident in idents or len(idents) != len(witness_verifiers):
        raise InvalidInput("witness keys must be distinct from each other and from the operator")
    # Compare the raw keys, not (name, key id): a key id hashes the name and the signature
    # type, so the operator's key listed under another name has a fresh id, and its
    # cosignature would count towards the quorum the operator is meant to be checked by.
    for v in witness_verifiers:
        if v.public_bytes == operator_verifier.public_bytes:
            raise InvalidInput(f"witness {v.name} has the operator's key; the operator can never "
                               "count towards its own witness quorum")

    parsed = parse_note(note_bytes)
    if not any((s.name, s.key_id) == operator_ident for s in parsed.unverified):
        present = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in parsed.unverified)
        raise VerificationError(
            f"checkpoint is not signed by the operator key "
            f"{operator_verifier.name}+{operator_verifier.key_id.hex()} (signature lines: "
            f"{present})"
        )
    note = open_note(note_bytes, [operator_verifier, *witness_verifiers])
    operator_sig = note.signed_by(operator_verifier)
    if operator_sig is None:  # open_note verified every known key, so this cannot happen
        raise VerificationError("operator signature did not verify")

    cp = Checkpoint.parse(note.text)
    if cp.origin != origin:
        raise VerificationError(
            f"checkpoint origin {cp.origin!r} is not the expected {origin!r} "
            "(a checkpoint of another log)"
        )

    cosigs = tuple(s for s in note.signatures if (s.name, s.key_id) in idents)
    if len(cosigs) < quorum:
        got = ", ".join(s.name for s in cosigs) or "none"
        missing = ", ".join(
            v.name for v in witness_verifiers if note.signed_by(v) is None
        )
        raise QuorumMissing(
            f"checkpoint has {len(cosigs)} valid witness cosignature(s) ({got}), quorum is "
            f"{quorum}; missing: {missing}"
        )
    return VerifiedCheckpoint(cp, note, operator_sig, cosigs)
