"""Signed notes (C2SP signed-note v1) with Ed25519 and timestamped cosignatures.

A note is UTF-8 text ending in a newline, a blank line, then one or more signature lines

    — <key name> base64(4-byte key ID || signature)\\n

(U+2014 em dash, space, name, space, standard padded base64). Keys are identified by
(name, key ID), with key ID = SHA-256(name || 0x0A || type || public key)[:4].

Two signature types are implemented:

- 0x01, Ed25519 (c2sp.org/signed-note "Ed25519 signatures"): RFC 8032 over the note text.
  Used by the operator to sign checkpoints.
- 0x04, cosignature/v1 (c2sp.org/tlog-cosignature "Ed25519 signed message"): the signature
  is an 8-byte big-endian POSIX timestamp followed by an Ed25519 signature over
  "cosignature/v1\\ntime <T>\\n" || note text. Used by witnesses. The caller passes the
  timestamp in: the core has no clock.

Verification follows the spec's MUST/SHOULD rules strictly: the whole note must be valid
UTF-8 without control characters other than newline; signatures from unknown keys are kept
but reported as unverified; a signature from a known key that fails to verify rejects the
whole note (the spec's SHOULD); a note with no verified signature is rejected. Malformed
input raises InvalidInput; signature failures raise VerificationError.

The note text MAY contain blank lines (the spec's own introductory example does); the text
ends at the *last* blank line of the note. Checkpoints (core.checkpoint) forbid blank lines
in their text anyway.

Key strings follow golang.org/x/mod/sumdb/note: a verifier key ("vkey") is
"<name>+<hex key ID>+base64(type || public key)" and a signer key ("skey") is
"PRIVATE+KEY+<name>+<hex key ID>+base64(type || 32-byte Ed25519 seed)".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import InvalidInput, VerificationError

ALG_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures."""

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 cosignatures (tlog-cosignature)."""

MAX_SIGNATURES = 100
"""Signature lines accepted per note (the spec requires at least 16; Go allows 100)."""

MAX_TIMESTAMP = 2**63 - 1
"""Largest cosignature timestamp allowed by tlog-cosignature."""

COSIGNATURE_HEADER = "cosignature/v1\n"

_SIG_PREFIX = "\u2014 "
_ED25519_SIG_SIZE = 64
_KEY_SIZE = 32
_HEX8 = re.compile(r"[0-9a-f]{8}")


# --- helpers ---------------------------------------------------------------------------


def check_name(name: str) -> None:
    """Raise InvalidInput unless `name` is a valid key name.

    Key names must be non-empty and contain no Unicode space, no '+' and no control
    character.
    """
    if not name:
        raise InvalidInput("key name is empty; a note key needs a name such as example.com/log")
    for ch in name:
        if ch == "+" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvalidInput(
                f"key name {name!r} contains {ch!r}; names must have no spaces, '+' or "
                "control characters"
            )


def check_text(text: str) -> None:
    """Raise InvalidInput unless `text` can be the text of a note.

    It must be non-empty, end in a newline and contain no control character other than
    newline.
    """
    if not text.endswith("\n"):
        raise InvalidInput("note text must end with a newline")
    _check_no_controls(text, "note text")


def _check_no_controls(s: str, what: str) -> None:
    for i, ch in enumerate(s):
        if ord(ch) < 0x20 and ch != "\n":
            raise InvalidInput(
                f"{what} contains control character U+{ord(ch):04X} at offset {i}; only "
                "newline is allowed"
            )


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || alg || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _b64decode(s: str, what: str) -> bytes:
    """Strict standard base64: padded, no whitespace, no stray bits (canonical)."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid standard base64") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise InvalidInput(f"{what} is not canonical base64 (padding or trailing bits differ)")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs: header, time line, then the note text."""
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InvalidInput(f"cosignature timestamp must be an int, got {type(timestamp).__name__}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InvalidInput(
            f"cosignature timestamp {timestamp} is outside [0, 2^63 - 1] (POSIX seconds)"
        )


# --- keys ------------------------------------------------------------------------------


@runtime_checkable
class Verifier(Protocol):
    """A note signature verifier identified by (name, key_id)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    @property
    def alg(self) -> int: ...

    @property
    def public_bytes(self) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise VerificationError unless `signature` (key ID removed) signs `message`."""
        ...


class Signer(Protocol):
    """A note signer: signs the note text, returning signature bytes without the key ID."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, eq=False)
class _Ed25519Verifier:
    """What both verifiers share: an Ed25519 public key named `name`, its key ID (which
    binds the name, the signature type `alg` and the key), and equality on those three."""

    name: str
    public_key: Ed25519PublicKey
    alg: ClassVar[int]
    role: ClassVar[str]
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.public_key, Ed25519PublicKey):
            raise InvalidInput(f"{self.role} needs an Ed25519PublicKey")
        object.__setattr__(self, "key_id", key_id(self.name, self.alg, self.public_bytes))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return _raw_public(self.public_key)

    @property
    def vkey(self) -> str:
        """This key as a vkey string (its type byte is `alg`)."""
        return format_vkey(self)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise VerificationError unless `signature` (key ID removed) signs `message`."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Ed25519Verifier):
            return False
        return (self.alg, self.name, self.public_bytes) == (other.alg, other.name, other.public_bytes)

    def __hash__(self) -> int:
        return hash((self.alg, self.name, self.public_bytes))


@dataclass(frozen=True, eq=False)
class NoteVerifier(_Ed25519Verifier):
    """Verifies plain Ed25519 (type 0x01) note signatures of key `name`."""

    alg: ClassVar[int] = ALG_ED25519
    role: ClassVar[str] = "note verifier"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise VerificationError unless `signature` is an Ed25519 signature of `message`."""
        if len(signature) != _ED25519_SIG_SIZE:
            raise VerificationError(
                f"invalid signature for key {self.name}+{self.key_id.hex()}: "
                f"{len(signature)} bytes, expected {_ED25519_SIG_SIZE}"
            )
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            raise VerificationError(
                f"invalid signature for key {self.name}+{self.key_id.hex()}"
            ) from None


@dataclass(frozen=True, eq=False)
class CosignatureVerifier(_Ed25519Verifier):
    """Verifies tlog-cosignature v1 (type 0x04) cosignatures of witness `name`."""

    alg: ClassVar[int] = ALG_COSIGNATURE_V1
    role: ClassVar[str] = "cosignature verifier"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check `signature` = timestamp (8 bytes, big-endian) || Ed25519 signature over
        cosignature_message(message, timestamp)."""
        try:
            timestamp = cosignature_timestamp(signature)
        except VerificationError as e:
            raise VerificationError(
                f"invalid cosignature for key {self.name}+{self.key_id.hex()}: {e}"
            ) from None
        try:
            text = message.decode()
        except UnicodeDecodeError:
            raise VerificationError("cosigned text is not UTF-8") from None
        try:
            self.public_key.verify(signature[8:], cosignature_message(text, timestamp))
        except InvalidSignature:
            raise VerificationError(
                f"invalid cosignature for key {self.name}+{self.key_id.hex()} "
                f"(timestamp {timestamp})"
            ) from None


@dataclass(frozen=True, eq=False)
class _Ed25519Signer:
    """What both signers share: an Ed25519 private key named `name`, and the key ID its
    verifier has (binding the name, the signature type `alg` and the public key)."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    alg: ClassVar[int]
    role: ClassVar[str]
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise InvalidInput(f"{self.role} needs an Ed25519PrivateKey")
        object.__setattr__(self, "key_id", key_id(self.name, self.alg, _raw_public(self.private_key.public_key())))


@dataclass(frozen=True, eq=False)
class NoteSigner(_Ed25519Signer):
    """Signs notes with plain Ed25519 (type 0x01) as key `name`."""

    alg: ClassVar[int] = ALG_ED25519
    role: ClassVar[str] = "note signer"

    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier(self.name, self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message` (the note text)."""
        return self.private_key.sign(message)


@dataclass(frozen=True, eq=False)
class CosignatureSigner(_Ed25519Signer):
    """Produces tlog-cosignature v1 (type 0x04) cosignatures as witness `name`."""

    alg: ClassVar[int] = ALG_COSIGNATURE_V1
    role: ClassVar[str] = "cosignature signer"

    def verifier(self) -> CosignatureVerifier:
        """The matching verifier."""
        return CosignatureVerifier(self.name, self.private_key.public_key())

    def sign_at(self, text: str, timestamp: int) -> bytes:
        """Signature bytes (without key ID): timestamp (8 bytes BE) || Ed25519 signature."""
        check_text(text)
        message = cosignature_message(text, timestamp)
        return timestamp.to_bytes(8, "big") + self.private_key.sign(message)

    def cosign(self, checkpoint_body: str, timestamp: int) -> str:
        """The signature line cosigning `checkpoint_body` at POSIX time `timestamp`.

        The witness must have checked consistency with the last checkpoint it cosigned
        before calling this; the line is then appended to the operator's signed note (see
        `append_signatures`).
        """
        sig = Signature(self.name, self.key_id, self.sign_at(checkpoint_body, timestamp))
        return sig.line()


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp of a cosignature/v1 signature (bytes after the key ID).

    Raises VerificationError if the signature does not have the 72-byte v1 layout or the
    timestamp exceeds 2^63 - 1.
    """
    if len(signature) != 8 + _ED25519_SIG_SIZE:
        raise VerificationError(
            f"cosignature is {len(signature)} bytes, expected {8 + _ED25519_SIG_SIZE} "
            "(8-byte timestamp and 64-byte Ed25519 signature)"
        )
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise VerificationError(f"cosignature timestamp {timestamp} exceeds 2^63 - 1")
    return timestamp


def format_vkey(verifier: Verifier) -> str:
    """"<name>+<hex key ID>+base64(type || public key)"."""
    raw = bytes([verifier.alg]) + verifier.public_bytes
    return f"{verifier.name}+{verifier.key_id.hex()}+{_b64(raw)}"


def parse_vkey(vkey: str) -> NoteVerifier | CosignatureVerifier:
    """Parse a vkey; type 0x01 gives a NoteVerifier, 0x04 a CosignatureVerifier.

    Raises InvalidInput for a missing part, a bad name, a key ID that
    is not 8 lowercase hex digits or does not match the key, bad base64, an unknown type
    byte or a key that is not 32 bytes.
    """
    # The base64 key may itself contain '+': only the first two separate fields.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise InvalidInput("vkey must have the form name+keyid+key")
    name, hex_id, key_b64 = parts
    alg, public = _parse_key_material(name, hex_id, key_b64, "vkey")
    verifier: NoteVerifier | CosignatureVerifier
    if alg == ALG_ED25519:
        verifier = NoteVerifier(name, Ed25519PublicKey.from_public_bytes(public))
    else:
        verifier = CosignatureVerifier(name, Ed25519PublicKey.from_public_bytes(public))
    _check_key_id(verifier.key_id, hex_id, "vkey")
    return verifier


def format_skey(signer: NoteSigner | CosignatureSigner) -> str:
    """"PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed)". The result is secret."""
    raw = bytes([signer.alg]) + signer.private_key.private_bytes_raw()
    return f"PRIVATE+KEY+{signer.name}+{signer.key_id.hex()}+{_b64(raw)}"


def parse_skey(skey: str) -> NoteSigner | CosignatureSigner:
    """Parse an skey; type 0x01 gives a NoteSigner, 0x04 a CosignatureSigner.

    Raises InvalidInput (without echoing the key) on any defect, including a key ID that
    does not match the key derived from the seed.
    """
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise InvalidInput("skey must have the form PRIVATE+KEY+name+keyid+key")
    _, _, name, hex_id, key_b64 = parts
    alg, seed = _parse_key_material(name, hex_id, key_b64, "skey")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    signer: NoteSigner | CosignatureSigner
    if alg == ALG_ED25519:
        signer = NoteSigner(name, private)
    else:
        signer = CosignatureSigner(name, private)
    _check_key_id(signer.key_id, hex_id, "skey")
    return signer


def _parse_key_material(name: str, hex_id: str, key_b64: str, what: str) -> tuple[int, bytes]:
    check_name(name)
    if not _HEX8.fullmatch(hex_id):
        raise InvalidInput(f"{what} key ID must be 8 lowercase hex digits")
    raw = _b64decode(key_b64, f"{what} key")
    if not raw:
        raise InvalidInput(f"{what} key is empty")
    alg, material = raw[0], raw[1:]
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise InvalidInput(
            f"{what} has signature type 0x{alg:02x}; supported: 0x01 (Ed25519), "
            "0x04 (cosignature/v1)"
        )
    if len(material) != _KEY_SIZE:
        raise InvalidInput(f"{what} key is {len(material)} bytes, expected {_KEY_SIZE}")
    return alg, material


def _check_key_id(computed: bytes, hex_id: str, what: str) -> None:
    if computed.hex() != hex_id:
        raise InvalidInput(
            f"{what} key ID {hex_id} does not match the key (computed {computed.hex()})"
        )


# --- notes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, 4-byte key ID and signature bytes (key ID removed)."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_name(self.name)
        if len(self.key_id) != 4:
            raise InvalidInput(f"key ID is {len(self.key_id)} bytes, expected 4")
        if not self.signature:
            raise InvalidInput("signature is empty")

    def line(self) -> str:
        """The signature line, with its trailing newline."""
        return f"{_SIG_PREFIX}{self.name} {_b64(self.key_id + self.signature)}\n"

    @classmethod
    def from_line(cls, line: str) -> Signature:
        """Parse one signature line (with or without its trailing newline)."""
        body = line[:-1] if line.endswith("\n") else line
        if not body.startswith(_SIG_PREFIX):
            raise InvalidInput(
                "signature line must start with an em dash (U+2014) and a space"
            )
        name, sep, b64 = body[len(_SIG_PREFIX) :].partition(" ")
        if not sep:
            raise InvalidInput("signature line has no space between key name and signature")
        check_name(name)
        raw = _b64decode(b64, f"signature of {name}")
        if len(raw) < 5:
            raise InvalidInput(
                f"signature of {name} is {len(raw)} bytes; needs a 4-byte key ID and a signature"
            )
        return cls(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class VerifiedSignature(Signature):
    """A signature that verified under a known key; `timestamp` is set for cosignatures."""

    timestamp: int | None = None


@dataclass(frozen=True)
class Note:
    """A parsed note: its text, the signatures that verified, and the others."""

    text: str
    signatures: tuple[VerifiedSignature, ...]
    unverified: tuple[Signature, ...]

    def __post_init__(self) -> None:
        check_text(self.text)

    def signed_by(self, verifier: Verifier) -> VerifiedSignature | None:
        """The verified signature of `verifier`'s key, or None."""
        for s in self.signatures:
            if (s.name, s.key_id) == (verifier.name, verifier.key_id):
                return s
        return None

    def to_bytes(self) -> bytes:
        """The note re-serialised: text, blank line, verified then unverified lines."""
        lines = [s.line() for s in (*self.signatures, *self.unverified)]
        return (self.text + "\n" + "".join(lines)).encode()


def parse_note(data: bytes) -> Note:
    """Split a note into text and signature lines, verifying nothing.

    Every signature lands in `unverified`. Raises InvalidInput if the note is malformed:
    not UTF-8, control characters, no final newline, no blank line before the
    signatures, a line that is not a signature line, bad base64, or more than
    MAX_SIGNATURES lines.
    """
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"note is not valid UTF-8 (byte {e.start})") from None
    _check_no_controls(s, "note")
    if not s.endswith("\n"):
        raise InvalidInput("note must end with a newline (truncated?)")
    split = s.rfind("\n\n")
    if split < 0:
        raise InvalidInput("note has no blank line separating text from signatures")
    text, sig_block = s[: split + 1], s[split + 2 :]
    if not sig_block:
        raise InvalidInput("note has no signature lines after the blank line")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(
            f"note has {len(lines)} signature lines, at most {MAX_SIGNATURES} allowed"
        )
    sigs = tuple(Signature.from_line(line) for line in lines)
    return Note(text, (), sigs)


def open_note(data: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse `data` and verify its signatures against `verifiers`.

    A signature line is matched to a verifier by (name, key ID); lines matching none are
    returned in `unverified` (identical repeated lines once). Every line from a known key is
    verified: one failure raises VerificationError naming the key. A known key signing
    more than once is listed once. Raises VerificationError if no signature verified, and
    InvalidInput if the note is malformed or two verifiers share a name and key ID.
    """
    parsed = parse_note(data)
    message = parsed.text.encode()
    verified: list[VerifiedSignature] = []
    unverified: list[Signature] = []
    seen_known: set[tuple[str, bytes]] = set()
    for sig in parsed.unverified:
        matches = [v for v in verifiers if (v.name, v.key_id) == (sig.name, sig.key_id)]
        if not matches:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(matches) > 1:
            raise InvalidInput(
                f"ambiguous key {sig.name}+{sig.key_id.hex()}: {len(matches)} verifiers share "
                "this name and key ID"
            )
        verifier = matches[0]
        verifier.verify(message, sig.signature)
        ident = (sig.name, sig.key_id)
        if ident in seen_known:
            continue
        seen_known.add(ident)
        timestamp = (
            cosignature_timestamp(sig.signature) if verifier.alg == ALG_COSIGNATURE_V1 else None
        )
        verified.append(VerifiedSignature(sig.name, sig.key_id, sig.signature, timestamp))
    if not verified:
        signers = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in unverified)
        known = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers) or "none"
        raise VerificationError(
            f"note has no signature from a known key (signed by {signers}; known keys: {known})"
        )
    return Note(parsed.text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign `text` with every signer: text, blank line, one signature line per signer.

    Raises InvalidInput if the text does not end in a newline, has control characters,
    or if no signer is given.
    """
    check_text(text)
    if not signers:
        raise InvalidInput("sign_note needs at least one signer")
    message = text.encode()
    lines = [Signature(s.name, s.key_id, s.sign(message)).line() for s in signers]
    return (text + "\n" + "".join(lines)).encode()


def append_signatures(note: bytes, lines: Iterable[str]) -> bytes:
    """Append signature lines (e.g. witness cosignatures) to a signed note.

    The note is checked to be well formed and each line to be a signature line; nothing is
    verified. Lines already present are not repeated.
    """
    parsed = parse_note(note)
    existing = set(parsed.unverified)
    added: list[Signature] = []
    for line in lines:
        sig = Signature.from_line(line)
        if sig not in existing:
            existing.add(sig)
            added.append(sig)
    total = len(parsed.unverified) + len(added)
    if total > MAX_SIGNATURES:
        raise InvalidInput(f"note would have {total} signature lines, at most {MAX_SIGNATURES}")
    return note + "".join(s.line() for s in added).encode()
