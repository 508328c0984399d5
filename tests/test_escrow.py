"""RFC 9180 HPKE base mode (X25519, HKDF-SHA256, AES-128-GCM): A.1.1 vectors, tampering,
interoperability with cryptography's own HPKE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from core.errors import InvalidInput, VerificationError
from core.escrow import (
    N_ENC,
    N_T,
    decap,
    derive_keypair,
    encap,
    escrow_keypair,
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
