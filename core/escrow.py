"""Reporter escrow: RFC 9180 HPKE, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-128-GCM (kem 0x0020, kdf 0x0001, aead 0x0001).

A report's escrow (the member id and the member's Ed25519 signature over the entry
bytes, docs/reports.md) is sealed by the operator, which saw who submitted, to the
regulator's X25519 key, so only the regulator can learn who reported, and only by
decrypting deliberately after a public EscrowOpened entry. `seal_report_escrow` pads it so
every escrow has the same length.

Why not `cryptography.hazmat.primitives.hpke.Suite` alone: its public API (cryptography
50) seals single-shot messages without additional authenticated data and draws the
ephemeral key internally, so it can neither bind the escrow to its ledger entry through
`aad` nor reproduce the RFC 9180 A.1.1 known answers. This module therefore composes the
RFC's functions from cryptography's X25519 and AESGCM primitives and HKDF-SHA256 (RFC 5869,
written out over the standard library's HMAC), following RFC 9180
§4 (LabeledExtract/LabeledExpand), §4.1 and §7.1.3 (DHKEM, DeriveKeyPair for X25519), §5.1
(KeySchedule, mode_base), §5.2 (Seal/Open with nonce = base_nonce XOR seq) and §5.3
(Export). The tests check every A.1.1 value and interoperate with `hpke.Suite` both ways
when `aad` is empty.

`seal`/`open_` are the single-shot API (RFC 9180 §6.1): the sealed message is
enc (32 bytes) || AES-GCM ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import InvalidInput, VerificationError

KEM_ID = 0x0020
KDF_ID = 0x0001
AEAD_ID = 0x0001

N_ENC = 32
"""Bytes of the encapsulated key (the ephemeral X25519 public key)."""
N_PK = 32
N_SK = 32
N_SECRET = 32
N_K = 16
N_N = 12
N_T = 16
"""Bytes of the AES-GCM tag appended to every ciphertext."""

MODE_BASE = 0x00

_VERSION = b"HPKE-v1"
_KEM_SUITE = b"KEM" + KEM_ID.to_bytes(2, "big")
_HPKE_SUITE = b"HPKE" + b"".join(i.to_bytes(2, "big") for i in (KEM_ID, KDF_ID, AEAD_ID))


_HASH_LEN = 32
"""Nh of HKDF-SHA256: bytes of one HMAC-SHA256 output."""


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract(salt, IKM) with SHA-256, RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM).

    An empty salt means HashLen zero bytes, as the RFC says. This is the RFC's definition
    written out over `hmac.digest`, not a new primitive: one HMAC call costs less than
    building cryptography's HKDF objects, and HPKE makes about ten such calls per seal.
    """
    return hmac.digest(salt or bytes(_HASH_LEN), ikm, "sha256")


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand(PRK, info, L) with SHA-256, RFC 5869 §2.3: the first L bytes of
    T(1) ‖ T(2) ‖ …, where T(0) is empty and T(i) = HMAC-Hash(PRK, T(i-1) ‖ info ‖ i).

    L is at most 255 * HashLen (8160 bytes), the RFC's limit.
    """
    if not 0 < length <= 255 * _HASH_LEN:
        raise InvalidInput(f"HKDF output length {length} is outside 1..{255 * _HASH_LEN}")
    t = b""
    blocks = []
    for i in range(1, -(-length // _HASH_LEN) + 1):
        t = hmac.digest(prk, t + info + bytes([i]), "sha256")
        blocks.append(t)
    return b"".join(blocks)[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hkdf_extract(salt, _VERSION + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + _VERSION + suite + label + info
    return hkdf_expand(prk, labeled_info, length)


def _check_len(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes) else type(value).__name__
        raise InvalidInput(f"{what} is {got} bytes, expected {size}")


def derive_keypair(ikm: bytes) -> tuple[bytes, bytes]:
    """DeriveKeyPair(ikm) for DHKEM(X25519): (private, public) raw 32-byte keys.

    RFC 9180 §7.1.3. `ikm` must have at least 32 bytes of entropy.
    """
    if len(ikm) < N_SK:
        raise InvalidInput(f"key derivation input is {len(ikm)} bytes, need at least {N_SK}")
    dkp_prk = _labeled_extract(_KEM_SUITE, b"", b"dkp_prk", ikm)
    sk = _labeled_expand(_KEM_SUITE, dkp_prk, b"sk", b"", N_SK)
    pk = X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()
    return sk, pk


def escrow_keypair() -> tuple[bytes, bytes]:
    """A fresh (private, public) X25519 escrow key pair, raw 32 bytes each.

    The private key is the regulator's secret: keep it offline and never log it.
    """
    return derive_keypair(secrets.token_bytes(N_SK))


def _dh(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
    try:
        return private.exchange(public)
    except ValueError:
        # RFC 9180 §7.1.4: an all-zero shared secret (small-order point) must be rejected.
        raise InvalidInput("X25519 public key is a small-order point; use a valid key") from None


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, eae_prk, b"shared_secret", kem_context, N_SECRET)


@functools.lru_cache(maxsize=16)
def _recipient_key(recipient_public: bytes) -> X25519PublicKey:
    """The recipient's key object, loaded once: an operator seals every escrow to the same
    public key (loading costs about 8 µs of a 60 µs seal). Public data only."""
    return X25519PublicKey.from_public_bytes(recipient_public)


def encap(recipient_public: bytes, ephemeral_private: bytes | None = None) -> tuple[bytes, bytes]:
    """Encap(pkR) of RFC 9180 §4.1: (shared_secret, enc).

    `ephemeral_private` exists for known-answer tests only; by default every call draws a
    fresh ephemeral key with `X25519PrivateKey.generate()` (OpenSSL's CSPRNG), which RFC
    9180 §4 allows for GenerateKeyPair ("randomized algorithm"). It is also the cheapest
    route: turning raw private bytes into a key object costs one scalar multiplication
    (the public key), so deriving the key from `secrets` bytes and then loading it, as
    this did before, paid for that twice. Reusing an ephemeral key breaks confidentiality.
    """
    _check_len(recipient_public, N_PK, "recipient public key")
    if ephemeral_private is None:
        sk_e = X25519PrivateKey.generate()
    else:
        _check_len(ephemeral_private, N_SK, "ephemeral private key")
        sk_e = X25519PrivateKey.from_private_bytes(ephemeral_private)
    dh = _dh(sk_e, _recipient_key(recipient_public))
    enc = sk_e.public_key().public_bytes_raw()
    return _extract_and_expand(dh, enc + recipient_public), enc


def decap(enc: bytes, recipient_private: bytes) -> bytes:
    """Decap(enc, skR) of RFC 9180 §4.1: the shared secret."""
    _check_len(enc, N_ENC, "encapsulated key")
    _check_len(recipient_private, N_SK, "recipient private key")
    sk_r = X25519PrivateKey.from_private_bytes(recipient_private)
    dh = _dh(sk_r, X25519PublicKey.from_public_bytes(enc))
    return _extract_and_expand(dh, enc + sk_r.public_key().public_bytes_raw())


@dataclass
class Context:
    """An HPKE encryption context (RFC 9180 §5.2): key, base nonce, sequence number.

    A context is used in one direction only. It is mutable on purpose: the sequence number
    advances after every seal/open so that no nonce is ever reused.
    """

    key: bytes = field(repr=False)
    base_nonce: bytes = field(repr=False)
    exporter_secret: bytes = field(repr=False)
    seq: int = 0

    def _nonce(self) -> bytes:
        if self.seq >= 1 << (8 * N_N):
            raise InvalidInput("HPKE sequence number exhausted; set up a new context")
        return (int.from_bytes(self.base_nonce, "big") ^ self.seq).to_bytes(N_N, "big")

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        """AES-128-GCM encryption with the next nonce; returns ciphertext || tag."""
        ct = AESGCM(self.key).encrypt(self._nonce(), plaintext, aad)
        self.seq += 1
        return ct

    def open(self, aad: bytes, ciphertext: bytes) -> bytes:
        """AES-128-GCM decryption with the next nonce; raises VerificationError."""
        try:
            pt = AESGCM(self.key).decrypt(self._nonce(), ciphertext, aad)
        except InvalidTag:
            raise VerificationError(
                "HPKE ciphertext does not authenticate: wrong key, info or aad, or tampered"
            ) from None
        self.seq += 1
        return pt

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Secret export (RFC 9180 §5.3)."""
        if not 0 < length <= 255 * 32:
            raise InvalidInput(f"export length {length} is outside 1..{255 * 32}")
        return _labeled_expand(
            _HPKE_SUITE, self.exporter_secret, b"sec", exporter_context, length
        )


@functools.lru_cache(maxsize=16)
def _base_key_schedule_context(info: bytes) -> bytes:
    """key_schedule_context = mode ‖ psk_id_hash ‖ info_hash for mode_base (RFC 9180 §5.1).

    In mode_base psk_id is empty and `info` is a public label (ESCROW_INFO for every
    escrow), so nothing here depends on a secret and it is computed once per `info`.
    Nothing derived from the shared secret is ever cached.
    """
    psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
    return bytes([MODE_BASE]) + psk_id_hash + info_hash


def key_schedule(shared_secret: bytes, info: bytes) -> Context:
    """KeySchedule(mode_base, shared_secret, info, "", "") of RFC 9180 §5.1."""
    context = _base_key_schedule_context(info)
    secret = _labeled_extract(_HPKE_SUITE, shared_secret, b"secret", b"")
    return Context(
        key=_labeled_expand(_HPKE_SUITE, secret, b"key", context, N_K),
        base_nonce=_labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, N_N),
        exporter_secret=_labeled_expand(_HPKE_SUITE, secret, b"exp", context, N_SECRET),
    )


def setup_base_sender(
    recipient_public: bytes, info: bytes, ephemeral_private: bytes | None = None
) -> tuple[bytes, Context]:
    """SetupBaseS(pkR, info): (enc, sender context)."""
    shared, enc = encap(recipient_public, ephemeral_private)
    return enc, key_schedule(shared, info)


def setup_base_recipient(enc: bytes, recipient_private: bytes, info: bytes) -> Context:
    """SetupBaseR(enc, skR, info): the recipient context."""
    return key_schedule(decap(enc, recipient_private), info)


def seal(recipient_public: bytes, info: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """Single-shot HPKE base-mode encryption: enc (32 bytes) || ciphertext || tag (16).

    `info` names the purpose (domain separation, e.g. b"candor/v1/escrow") and `aad` binds
    the ciphertext to its context (e.g. the ledger entry it belongs to); both must be given
    again, identical, to open it.
    """
    enc, ctx = setup_base_sender(recipient_public, info)
    return enc + ctx.seal(aad, plaintext)


def open_(recipient_private: bytes, info: bytes, aad: bytes, sealed: bytes) -> bytes:
    """Open a `seal` output; raises VerificationError if it does not authenticate."""
    if len(sealed) < N_ENC + N_T:
        raise VerificationError(
            f"sealed escrow is {len(sealed)} bytes, shorter than the {N_ENC + N_T} bytes of "
            "encapsulated key and tag"
        )
    try:
        ctx = setup_base_recipient(sealed[:N_ENC], recipient_private, info)
    except InvalidInput as e:
        if len(recipient_private) != N_SK:
            raise
        raise VerificationError(f"sealed escrow has an invalid encapsulated key: {e}") from None
    return ctx.open(aad, sealed[N_ENC:])


# -- the report escrow (docs/reports.md) ----------------------------------------------------
#
# The plaintext is the member id, length-prefixed and zero-padded to MEMBER_ID_FIELD bytes,
# then the member's 64-byte Ed25519 escrow signature: every sealed escrow therefore has the
# same length (ESCROW_BYTES), whoever reported. The AAD binds it to the genesis and to the
# exact entry bytes, so it cannot be moved to another report or another ledger.

ESCROW_INFO = b"candor/v1/escrow"
"""HPKE `info` of every report escrow (domain separation from any other HPKE use)."""

ESCROW_SIGNATURE_CONTEXT = b"CANDOR-V1-ESCROW"
"""Prefix of the member's escrow signature: its own domain, never an entry signature."""

MEMBER_ID_FIELD = 64
"""1 length byte + a member id of at most 63 characters, zero-padded."""
ESCROW_SIGNATURE_BYTES = 64
ESCROW_PLAINTEXT_BYTES = MEMBER_ID_FIELD + ESCROW_SIGNATURE_BYTES
ESCROW_BYTES = N_ENC + ESCROW_PLAINTEXT_BYTES + N_T
"""Length of every sealed report escrow: 32 (enc) + 128 (plaintext) + 16 (tag) = 176."""


def escrow_message(genesis_hash: bytes, entry_bytes: bytes) -> bytes:
    """What the member signs with its Ed25519 member key, beside (not inside) the entry."""
    _check_len(genesis_hash, 32, "genesis hash")
    return ESCROW_SIGNATURE_CONTEXT + genesis_hash + hashlib.sha256(entry_bytes).digest()


def escrow_aad(genesis_hash: bytes, entry_bytes: bytes) -> bytes:
    """The HPKE additional data of a report's escrow: genesis hash ‖ SHA-256(entry bytes)."""
    _check_len(genesis_hash, 32, "genesis hash")
    return genesis_hash + hashlib.sha256(entry_bytes).digest()


def seal_report_escrow(regulator_key: bytes, genesis_hash: bytes, entry_bytes: bytes, member_id: str,
                       signature: bytes) -> bytes:
    """Seal (member id, escrow signature) to the regulator: always ESCROW_BYTES long."""
    raw = member_id.encode("ascii")
    if not 0 < len(raw) < MEMBER_ID_FIELD:
        raise InvalidInput(f"member id is {len(raw)} bytes; an escrow holds 1..{MEMBER_ID_FIELD - 1}")
    _check_len(signature, ESCROW_SIGNATURE_BYTES, "escrow signature")
    plaintext = bytes([len(raw)]) + raw.ljust(MEMBER_ID_FIELD - 1, b"\x00") + signature
    sealed = seal(regulator_key, ESCROW_INFO, escrow_aad(genesis_hash, entry_bytes), plaintext)
    assert len(sealed) == ESCROW_BYTES
    return sealed


def open_report_escrow(regulator_private: bytes, genesis_hash: bytes, entry_bytes: bytes,
                       sealed: bytes) -> tuple[str, bytes]:
    """(member id, escrow signature) from a report's escrow.

    Raises VerificationError if it does not open under this key and entry, or if what it
    holds is not a padded member id and a signature (either is the sealer's fault).
    """
    if len(sealed) != ESCROW_BYTES:
        raise VerificationError(f"escrow is {len(sealed)} bytes, expected {ESCROW_BYTES}")
    plaintext = open_(regulator_private, ESCROW_INFO, escrow_aad(genesis_hash, entry_bytes), sealed)
    if len(plaintext) != ESCROW_PLAINTEXT_BYTES:
        raise VerificationError(f"escrow plaintext is {len(plaintext)} bytes, expected {ESCROW_PLAINTEXT_BYTES}")
    size = plaintext[0]
    field_ = plaintext[1:MEMBER_ID_FIELD]
    if not 0 < size < MEMBER_ID_FIELD or any(field_[size:]):
        raise VerificationError("escrow does not hold a length-prefixed, zero-padded member id")
    try:
        member_id = field_[:size].decode("ascii")
    except UnicodeDecodeError:
        raise VerificationError("escrow's member id is not ASCII") from None
    return member_id, plaintext[MEMBER_ID_FIELD:]
