"""A party's identity folder: `DIR/<name>/` written by `candor alliance init`.

Layout (every file mode 0600, the folder 0700):
    identity.json   role, name, operator address, origin
    tls.key/.crt    the party's mTLS key and certificate; ca.crt the alliance CA
    signing.key     Ed25519 private key (PKCS8 PEM): entries, checkpoints or cosignatures
    genesis.entry   the genesis leaf bytes: the trust anchor every party pins
    reporting.key   (member) BLS12-381 reporting scalar, hex
    subject.key     (member, regulator) the alliance subject-pseudonym HMAC key, hex
    subject.tag     (subject) its own subject tag, hex; a subject never holds subject.key
    encryption.key  (trustee, subject) X25519 private key, hex (docs/subjects.md)
    escrow.key      (regulator) X25519 private key, hex; ca.key the CA's key
    share.json      (trustee) threshold Paillier key share
    verifier.state  (client side) the last checkpoint this party verified
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import InvalidInput, NotFound
from core.note import CosignatureSigner, NoteSigner
from core.threshold import KeyShare, ThresholdPublicKey, parse_key_factors, parse_key_file


def tls_name(party: str) -> str:
    """The name a serving party's certificate carries and its clients check ("operator",
    "trustee-2" -> "operator.candor.invalid"), whatever host it runs on: moving a party is a
    change of address only, never of certificate (docs/operations.md). `.invalid` can never
    resolve, so the name cannot be confused with a real host."""
    return f"{party}.candor.invalid"


def write_private(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Create `path` readable by its owner only (0600), atomically (a temporary file, then a
    rename). `sync=False` skips the fsync, for a file whose torn copy is detected on reading."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def ed25519_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class Identity:
    path: Path

    @classmethod
    def load(cls, path: str | Path) -> Identity:
        p = Path(path)
        if not (p / "identity.json").is_file():
            raise NotFound(f"{p} is not an identity folder (no identity.json); run `candor alliance init` first")
        identity = cls(p)
        for key in ("role", "name", "server"):
            if not isinstance(identity.info.get(key), str):
                raise InvalidInput(f"{p / 'identity.json'} has no {key!r}; copy the folder again from the ceremony")
        return identity

    @cached_property
    def info(self) -> dict[str, Any]:
        data = self.json_file("identity.json")
        if not isinstance(data, dict):
            raise InvalidInput(f"{self.path / 'identity.json'} is not a JSON object; copy the folder again from "
                               "the ceremony")
        return data

    @property
    def role(self) -> str:
        return str(self.info["role"])

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def server(self) -> str:
        return str(self.info["server"])

    def read(self, name: str) -> bytes:
        f = self.path / name
        if not f.is_file():
            raise NotFound(f"{f} is missing: this identity ({self.role} {self.name}) has no {name}")
        return f.read_bytes()

    def tls_key_pem(self) -> bytes:
        return self.read("tls.key")

    def tls_cert_pem(self) -> bytes:
        return self.read("tls.crt")

    def ca_pem(self) -> bytes:
        return self.read("ca.crt")

    def genesis_leaf(self) -> bytes:
        return self.read("genesis.entry")

    def signing_key(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.read("signing.key"), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInput(f"{self.path / 'signing.key'} is not an Ed25519 key")
        return key

    def note_signer(self) -> NoteSigner:
        return NoteSigner(self.name, self.signing_key())

    def cosignature_signer(self) -> CosignatureSigner:
        return CosignatureSigner(self.name, self.signing_key())

    def hex_file(self, name: str) -> bytes:
        try:
            return bytes.fromhex(self.read(name).decode().strip())
        except ValueError:
            raise InvalidInput(f"{self.path / name} is not hex (truncated or edited?); copy the folder again from "
                               "the ceremony") from None

    def json_file(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise InvalidInput(f"{self.path / name} is not valid JSON (truncated or edited? {exc}); copy the "
                               "folder again from the ceremony") from None


def _read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"key file {path} is not valid JSON: {exc.msg}") from None


def load_key_file(path: str | Path, *, check_shares: bool = True) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Read a test-only threshold key file: every share at once, so never a production key
    (`core.threshold.parse_key_file` refuses a file without the TEST_ONLY marker)."""
    return parse_key_file(_read_json(path), check_shares=check_shares)


def load_key_factors(path: str | Path) -> tuple[int, int]:
    """The primes p, q stored in a test-only key file (for tests that need phe's private key)."""
    return parse_key_factors(_read_json(path))
