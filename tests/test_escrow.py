"""RFC 9180 HPKE base mode (X25519, HKDF-SHA256, AES-128-GCM): A.1.1 vectors, tampering,
interoperability with cryptography's own HPKE; RFC 5869 A.1-A.3 vectors for the HKDF-SHA256
underneath it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from core.errors import InvalidInput, VerificationError
from core.escrow import (
    N_ENC,
    N_T,
    decap,
    derive_keypair,
    encap,
    escrow_keypair,
    hkdf_expand,
    hkdf_extract,
    open_,
    seal,
    setup_base_recipient,
    setup_base_sender,
)

V: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "published" / "hpke_x25519_sha256_aes128gcm_base.json").read_text()
)


def h(name: str) -> bytes:
    return bytes.fromhex(V[name])


def test_vector_suite() -> None:
    assert (V["mode"], V["kem_id"], V["kdf_id"], V["aead_id"]) == (0, 0x20, 1, 1)


def test_derive_keypair() -> None:
    assert derive_keypair(h("ikmE")) == (h("skEm"), h("pkEm"))
    assert derive_keypair(h("ikmR")) == (h("skRm"), h("pkRm"))


def test_encap_decap() -> None:
    shared, enc = encap(h("pkRm"), h("skEm"))
    assert (shared, enc) == (h("shared_secret"), h("enc"))
    assert decap(enc, h("skRm")) == h("shared_secret")


def test_key_schedule() -> None:
    enc, ctx = setup_base_sender(h("pkRm"), h("info"), h("skEm"))
    assert enc == h("enc")
    assert (ctx.key, ctx.base_nonce, ctx.exporter_secret) == (
        h("key"),
        h("base_nonce"),
        h("exporter_secret"),
    )


@pytest.mark.parametrize("e", V["encryptions"], ids=lambda e: f"seq{e['sequence_number']}")
def test_encryptions(e: dict[str, Any]) -> None:
    _, sender = setup_base_sender(h("pkRm"), h("info"), h("skEm"))
    receiver = setup_base_recipient(h("enc"), h("skRm"), h("info"))
    sender.seq = receiver.seq = e["sequence_number"]
    pt, aad, ct = (bytes.fromhex(e[k]) for k in ("pt", "aad", "ct"))
    assert sender.seal(aad, pt) == ct
    assert receiver.open(aad, ct) == pt
    assert sender.seq == receiver.seq == e["sequence_number"] + 1


def test_sequence_advances_through_vectors_in_order() -> None:
    _, sender = setup_base_sender(h("pkRm"), h("info"), h("skEm"))
    first, second = V["encryptions"][0], V["encryptions"][1]
    pt = bytes.fromhex(first["pt"])
    assert sender.seal(bytes.fromhex(first["aad"]), pt).hex() == first["ct"]
    assert sender.seal(bytes.fromhex(second["aad"]), pt).hex() == second["ct"]


@pytest.mark.parametrize("x", V["exports"], ids=lambda x: x["exporter_context"] or "empty")
def test_exports(x: dict[str, Any]) -> None:
    ctx = setup_base_recipient(h("enc"), h("skRm"), h("info"))
    assert ctx.export(bytes.fromhex(x["exporter_context"]), x["L"]).hex() == x["exported_value"]


def test_single_shot_opens_vector_seq0() -> None:
    e = V["encryptions"][0]
    sealed = h("enc") + bytes.fromhex(e["ct"])
    assert open_(h("skRm"), h("info"), bytes.fromhex(e["aad"]), sealed).hex() == e["pt"]


# --- single-shot API -----------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return escrow_keypair()


def test_seal_open_roundtrip(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    sealed = seal(pk, b"candor/v1/escrow", b"entry-hash", b"member-7 signature")
    assert len(sealed) == N_ENC + len(b"member-7 signature") + N_T
    assert open_(sk, b"candor/v1/escrow", b"entry-hash", sealed) == b"member-7 signature"
    assert seal(pk, b"i", b"a", b"p") != seal(pk, b"i", b"a", b"p")  # fresh ephemeral keys


def test_every_tampered_byte_is_rejected(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    sealed = seal(pk, b"info", b"aad", b"escrowed secret")
    for i in range(len(sealed)):
        bad = sealed[:i] + bytes([sealed[i] ^ 0x80]) + sealed[i + 1 :]
        with pytest.raises(VerificationError):
            open_(sk, b"info", b"aad", bad)


def test_wrong_context_is_rejected(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    sealed = seal(pk, b"info", b"aad", b"escrowed secret")
    with pytest.raises(VerificationError, match="does not authenticate"):
        open_(sk, b"info2", b"aad", sealed)
    with pytest.raises(VerificationError, match="does not authenticate"):
        open_(sk, b"info", b"aad2", sealed)
    with pytest.raises(VerificationError, match="does not authenticate"):
        open_(escrow_keypair()[0], b"info", b"aad", sealed)
    with pytest.raises(VerificationError, match="shorter than the 48 bytes"):
        open_(sk, b"info", b"aad", sealed[:47])
    with pytest.raises(VerificationError, match="invalid encapsulated key"):
        open_(sk, b"info", b"aad", bytes(32) + sealed[32:])


def test_bad_keys_rejected(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    with pytest.raises(InvalidInput, match="31 bytes, expected 32"):
        seal(pk[:31], b"", b"", b"x")
    with pytest.raises(InvalidInput, match="small-order"):
        seal(bytes(32), b"", b"", b"x")
    with pytest.raises(InvalidInput, match="recipient private key is 16 bytes"):
        open_(sk[:16], b"", b"", seal(pk, b"", b"", b"x"))
    with pytest.raises(InvalidInput, match="at least 32"):
        derive_keypair(bytes(16))


# --- interoperability with cryptography.hazmat.primitives.hpke -----------------------

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)


def test_cryptography_hpke_opens_our_seal(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    sealed = seal(pk, b"candor/v1/escrow", b"", b"interop")
    got = SUITE.decrypt(sealed, X25519PrivateKey.from_private_bytes(sk), info=b"candor/v1/escrow")
    assert got == b"interop"


def test_we_open_cryptography_hpke(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    sealed = SUITE.encrypt(b"interop", X25519PublicKey.from_public_bytes(pk), info=b"x")
    assert open_(sk, b"x", b"", sealed) == b"interop"


# --- HKDF-SHA256 (RFC 5869 Appendix A, Test Cases 1-3) --------------------------------
# (name, IKM, salt, info, L, PRK, OKM), hex, transcribed from RFC 5869 A.1-A.3.

RFC5869 = [
    (
        "A.1 basic",
        "0b" * 22,
        "000102030405060708090a0b0c",
        "f0f1f2f3f4f5f6f7f8f9",
        42,
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        "A.2 longer inputs and outputs",
        bytes(range(0x00, 0x50)).hex(),
        bytes(range(0x60, 0xB0)).hex(),
        bytes(range(0xB0, 0x100)).hex(),
        82,
        "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        "A.3 zero-length salt and info",
        "0b" * 22,
        "",
        "",
        42,
        "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 0x01]) + b[1:]


@pytest.mark.parametrize("case", RFC5869, ids=lambda c: c[0])
def test_hkdf_rfc5869(case: tuple[str, str, str, str, int, str, str]) -> None:
    _, ikm, salt, info, length, prk, okm = case
    got_prk = hkdf_extract(bytes.fromhex(salt), bytes.fromhex(ikm))
    assert got_prk.hex() == prk
    assert hkdf_expand(got_prk, bytes.fromhex(info), length).hex() == okm


@pytest.mark.parametrize("case", RFC5869, ids=lambda c: c[0])
def test_hkdf_rfc5869_changed_byte_changes_output(case: tuple[str, str, str, str, int, str, str]) -> None:
    # Invalid: one flipped bit in IKM, in salt or in PRK must not reproduce the vector.
    _, ikm, salt, info, length, prk, okm = case
    assert hkdf_extract(bytes.fromhex(salt), _flip(bytes.fromhex(ikm))).hex() != prk
    if salt:
        assert hkdf_extract(_flip(bytes.fromhex(salt)), bytes.fromhex(ikm)).hex() != prk
    assert hkdf_expand(_flip(bytes.fromhex(prk)), bytes.fromhex(info), length).hex() != okm
    if info:
        assert hkdf_expand(bytes.fromhex(prk), _flip(bytes.fromhex(info)), length).hex() != okm


def test_hkdf_empty_salt_is_hashlen_zeros() -> None:
    # RFC 5869 §2.2: "if not provided, it is set to a string of HashLen zeros".
    assert hkdf_extract(b"", b"ikm") == hkdf_extract(bytes(32), b"ikm")


@pytest.mark.parametrize("length", [1, 31, 32, 33, 255 * 32])
def test_hkdf_expand_matches_cryptography(length: int) -> None:
    prk, info = bytes(range(32)), b"candor/v1/test"
    assert hkdf_expand(prk, info, length) == HKDFExpand(hashes.SHA256(), length, info).derive(prk)


@pytest.mark.parametrize("length", [0, -1, 255 * 32 + 1])
def test_hkdf_expand_rejects_length_outside_rfc_limit(length: int) -> None:
    with pytest.raises(InvalidInput, match=r"outside 1\.\.8160"):
        hkdf_expand(bytes(32), b"", length)
