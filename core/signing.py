"""Ed25519 signatures over canonical bytes (RFC 8032 §5.1, via pyca/cryptography).

Candor signs exact bytes: a ledger entry is signed as stored and stored as signed, never
re-serialised (docs/ledger.md). These wrappers keep the raw 32-byte encodings at the boundary
and turn cryptography's `InvalidSignature` into `VerificationError`, so a caller cannot
forget to check a result. Verification is RFC 8032 strict as implemented by OpenSSL:
non-canonical S (S >= L), wrong lengths and small-order edge cases are rejected (checked
against Project Wycheproof's Ed25519 vectors).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import InvalidInput, VerificationError

KEY_SIZE = 32
"""Bytes in a raw Ed25519 public key or private seed."""

SIGNATURE_SIZE = 64
"""Bytes in an Ed25519 signature."""


def key_id(public_key: bytes) -> str:
    """Names an Ed25519 key in entry signatures: hex of SHA-256(raw public key)[:8]."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True, eq=False)
class VerifyKey:
    """An Ed25519 public key."""

    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, Ed25519PublicKey):
            raise InvalidInput("VerifyKey needs an Ed25519PublicKey")

    @classmethod
    def from_bytes(cls, raw: bytes) -> VerifyKey:
        """Load a raw 32-byte public key."""
        if len(raw) != KEY_SIZE:
            raise InvalidInput(f"Ed25519 public key is {len(raw)} bytes, expected {KEY_SIZE}")
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    def to_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.public_key.public_bytes_raw()

    @property
    def key_id(self) -> str:
        """This key's `key_id`."""
        return key_id(self.to_bytes())

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise VerificationError unless `signature` is this key's signature of `message`."""
        if len(signature) != SIGNATURE_SIZE:
            raise VerificationError(
                f"Ed25519 signature is {len(signature)} bytes, expected {SIGNATURE_SIZE}"
            )
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            raise VerificationError(
                f"Ed25519 signature does not verify under key {self.key_id}"
            ) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"VerifyKey({self.key_id})"


@dataclass(frozen=True, eq=False)
class SigningKey:
    """An Ed25519 private key. Its repr never shows the key."""

    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise InvalidInput("SigningKey needs an Ed25519PrivateKey")

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from a 32-byte seed drawn with `secrets`."""
        return cls.from_bytes(secrets.token_bytes(KEY_SIZE))

    @classmethod
    def from_bytes(cls, seed: bytes) -> SigningKey:
        """Load a raw 32-byte private seed (RFC 8032's private key)."""
        if len(seed) != KEY_SIZE:
            raise InvalidInput(f"Ed25519 private key is {len(seed)} bytes, expected {KEY_SIZE}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def to_bytes(self) -> bytes:
        """The raw 32-byte seed. Secret: store it encrypted, never log it."""
        return self.private_key.private_bytes_raw()

    @property
    def verify_key(self) -> VerifyKey:
        """The matching public key."""
        return VerifyKey(self.private_key.public_key())

    @property
    def key_id(self) -> str:
        """The key ID of the matching public key."""
        return self.verify_key.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte deterministic Ed25519 signature of `message`."""
        return self.private_key.sign(message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningKey) and secrets.compare_digest(
            self.to_bytes(), other.to_bytes()
        )

    def __hash__(self) -> int:
        return hash(self.verify_key)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id})"
