"""C2SP signed-note and tlog-cosignature: golang.org/x/mod and C2SP vectors, strictness."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CandorError, InvalidInput, VerificationError
from core.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    NoteVerifier,
    Signature,
    append_signatures,
    cosignature_message,
    cosignature_timestamp,
    format_skey,
    format_vkey,
    open_note,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
)

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "published" / "signed_note.json").read_text())
KEYS = {k["name"]: k for k in VECTORS["keys"]}
PETER_VK = KEYS["PeterNeumann"]["vkey"]
PETER_SK = KEYS["PeterNeumann"]["skey"]
TEXT = VECTORS["signing"][0]["text"]

# Go's error strings mapped to the error class this implementation raises for them.
GO_ERRORS: dict[str, type[CandorError]] = {
    "malformed note": InvalidInput,
    "note has no verifiable signatures": VerificationError,
    "invalid signature for key PeterNeumann+c74f20a3": VerificationError,
    "ambiguous key EnochRoot+af0cfe78": InvalidInput,
}


def _note_signer(skey: str) -> NoteSigner:
    signer = parse_skey(skey)
    assert isinstance(signer, NoteSigner)
    return signer


def _note_bytes(case: dict[str, Any]) -> bytes:
    if "note_hex" in case:
        return bytes.fromhex(case["note_hex"])
    return str(case["note"]).encode()


# --- keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", VECTORS["keys"], ids=lambda k: k["name"])
def test_vkeys_parse_and_format(key: dict[str, Any]) -> None:
    v = parse_vkey(key["vkey"])
    assert v.name == key["name"]
    assert v.key_id.hex() == key["key_id"]
    assert v.alg == key["signature_type"]
    assert v.public_bytes.hex() == key["public_key_hex"]
    assert isinstance(v, NoteVerifier if key["signature_type"] == ALG_ED25519 else CosignatureVerifier)
    assert format_vkey(v) == v.vkey == key["vkey"]


@pytest.mark.parametrize("key", [k for k in VECTORS["keys"] if "skey" in k], ids=lambda k: k["name"])
def test_skeys_parse_derive_vkey_and_format(key: dict[str, Any]) -> None:
    s = parse_skey(key["skey"])
    assert format_vkey(s.verifier()) == key["vkey"]
    assert s.private_key.private_bytes_raw().hex() == key["ed25519_seed_hex"]
    assert format_skey(s) == key["skey"]
    assert key["skey"] not in repr(s) and key["ed25519_seed_hex"] not in repr(s)


def test_enoch_key_comes_from_zero_seed() -> None:
    signer = NoteSigner("EnochRoot", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    assert signer.verifier().vkey == KEYS["EnochRoot"]["vkey"]


@pytest.mark.parametrize("bad", [b for b in VECTORS["bad_keys"] if "vkey" in b], ids=lambda b: b["why"])
def test_bad_vkeys_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse_vkey(bad["vkey"])


def _mutations(s: str) -> list[str]:
    subs = {s[i:j] for i in range(len(s) + 1) for j in range(i, len(s) + 1)} - {s}
    bumped = {s[:i] + chr(ord(s[i]) + 1) + s[i + 1 :] for i in range(len(s))}
    return sorted(subs | bumped)


def test_every_substring_and_bumped_byte_of_vkey_rejected() -> None:
    rule = next(b for b in VECTORS["bad_keys"] if b.get("base_vkey") == PETER_VK)
    assert "proper substring" in rule["rule"]
    for m in _mutations(PETER_VK):
        with pytest.raises(InvalidInput):
            parse_vkey(m)


def test_every_substring_and_bumped_byte_of_skey_rejected() -> None:
    rule = next(b for b in VECTORS["bad_keys"] if b.get("base_skey") == PETER_SK)
    assert "proper substring" in rule["rule"]
    for m in _mutations(PETER_SK):
        with pytest.raises(InvalidInput):
            parse_skey(m)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\x01b"])
def test_bad_key_names_rejected(name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        NoteSigner(name, Ed25519PrivateKey.generate())


# --- signing -------------------------------------------------------------------------


def test_signing_vector_byte_for_byte() -> None:
    case = VECTORS["signing"][0]
    signer = _note_signer(case["skey"])
    assert sign_note(case["text"], [signer]) == case["expected_signed_note"].encode()


def test_signing_rejects_text_without_newline() -> None:
    case = VECTORS["signing"][1]
    assert case["expected_error"] == "malformed note"
    with pytest.raises(InvalidInput, match="end with a newline"):
        sign_note(case["text"], [_note_signer(case["skey"])])


def test_signing_rejects_control_characters_and_no_signers() -> None:
    signer = _note_signer(PETER_SK)
    with pytest.raises(InvalidInput, match=r"U\+000D"):
        sign_note("a\r\n", [signer])
    with pytest.raises(InvalidInput, match="at least one signer"):
        sign_note("a\n", [])


# --- opening -------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["open"], ids=lambda c: c["id"])
def test_open_vectors(case: dict[str, Any]) -> None:
    verifiers = [parse_vkey(k) for k in case["verifier_keys"]]
    data = _note_bytes(case)
    if case["valid"]:
        note = open_note(data, verifiers)
        assert note.text == case["expected_text"]
        assert [s.name for s in note.signatures] == case["verified_signers"]
        if "unverified_signers" in case:
            assert [s.name for s in note.unverified] == case["unverified_signers"]
    else:
        with pytest.raises(GO_ERRORS[case["expected_error"]]):
            open_note(data, verifiers)


def test_error_messages_name_the_problem() -> None:
    by_id = {c["id"]: c for c in VECTORS["open"]}
    peter = [parse_vkey(PETER_VK)]
    with pytest.raises(VerificationError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(_note_bytes(by_id["corrupted signature from known key"]), peter)
    with pytest.raises(VerificationError, match="no signature from a known key"):
        open_note(_note_bytes(by_id["no known keys"]), [])
    with pytest.raises(InvalidInput, match=r"ambiguous key EnochRoot\+af0cfe78"):
        c = by_id["duplicated verifier key"]
        open_note(_note_bytes(c), [parse_vkey(k) for k in c["verifier_keys"]])
    with pytest.raises(InvalidInput, match="101 signature lines"):
        open_note(_note_bytes(by_id["101 signatures (over Go's limit of 100)"]), peter)
    with pytest.raises(InvalidInput, match="not valid UTF-8"):
        open_note(_note_bytes(by_id["badMsgs[4]"]), peter)
    with pytest.raises(InvalidInput, match="U\\+0001"):
        open_note(_note_bytes(by_id["badMsgs[3]"]), peter)
    with pytest.raises(InvalidInput, match="no blank line"):
        open_note(_note_bytes(by_id["badMsgs[0]"]), peter)
    with pytest.raises(InvalidInput, match="em dash"):
        open_note(_note_bytes(by_id["badMsgs[6]"]), peter)


def test_sixteen_signatures_accepted() -> None:
    signers = [NoteSigner(f"k{i}", Ed25519PrivateKey.generate()) for i in range(16)]
    data = sign_note(TEXT, signers)
    note = open_note(data, [s.verifier() for s in signers])
    assert len(note.signatures) == 16


def test_non_canonical_signature_base64_rejected() -> None:
    signed = VECTORS["signing"][0]["expected_signed_note"]
    # "...nAM=" -> "...nAN=": the low padding bits become non-zero, the bytes stay the same.
    bad = signed.replace("JnAM=\n", "JnAN=\n")
    assert bad != signed
    with pytest.raises(InvalidInput, match="canonical"):
        open_note(bad.encode(), [parse_vkey(PETER_VK)])
    with pytest.raises(InvalidInput, match="base64"):
        open_note(signed.replace("=\n", "\n").encode(), [parse_vkey(PETER_VK)])


def test_note_text_may_contain_blank_lines() -> None:
    case = next(c for c in VECTORS["parse_only"] if "intro" in c["id"])
    note = parse_note(case["note"].encode())
    assert note.text == case["expected_text"]
    assert [(s.name, s.key_id.hex(), len(s.key_id + s.signature)) for s in note.unverified] == [
        (s["name"], s["key_id"], s["len"]) for s in case["signatures"]
    ]
    signer = NoteSigner("k", Ed25519PrivateKey.generate())
    text = "a\n\nb\n"
    assert open_note(sign_note(text, [signer]), [signer.verifier()]).text == text


def test_note_roundtrip_and_signed_by() -> None:
    a, b = (NoteSigner(n, Ed25519PrivateKey.generate()) for n in ("a", "b"))
    data = sign_note(TEXT, [a, b])
    note = open_note(data, [a.verifier()])
    assert note.to_bytes() == data
    assert note.signed_by(a.verifier()) is not None
    assert note.signed_by(b.verifier()) is None


# --- cosignatures --------------------------------------------------------------------


def test_c2sp_cosignature_example() -> None:
    case = next(c for c in VECTORS["parse_only"] if "tlog-cosignature example" in c["id"])
    note = parse_note(case["note"].encode())
    witness = note.unverified[1]
    want = case["signatures"][1]
    assert (witness.name, witness.key_id.hex()) == (want["name"], want["key_id"])
    assert cosignature_timestamp(witness.signature) == want["timestamp"]
    assert witness.signature[8:].hex() == want["ed25519_sig_hex"]
    assert cosignature_message(note.text, want["timestamp"]) == case[
        "cosignature_signed_message"
    ].encode()


def test_cosignature_timestamp_vectors() -> None:
    ok = next(c for c in VECTORS["parse_only"] if c["id"] == "cosignature/v1 timestamp extraction")
    raw = base64.b64decode(ok["signature_b64"])
    assert raw[:4].hex() == ok["parsed"]["key_id"]
    assert cosignature_timestamp(raw[4:]) == ok["expected_timestamp"]
    bad = next(c for c in VECTORS["parse_only"] if "wrong signature type" in c["id"])
    with pytest.raises(VerificationError, match="64 bytes, expected 72"):
        cosignature_timestamp(base64.b64decode(bad["signature_b64"])[4:])


def test_cosignature_key_from_vkey() -> None:
    v = parse_vkey(KEYS["remora.n621.de"]["vkey"])
    assert isinstance(v, CosignatureVerifier)
    assert v.alg == ALG_COSIGNATURE_V1


def test_cosign_and_verify() -> None:
    op = NoteSigner("log", Ed25519PrivateKey.generate())
    w = CosignatureSigner("w.example", Ed25519PrivateKey.generate())
    body = "log\n3\n" + base64.b64encode(bytes(32)).decode() + "\n"
    signed = append_signatures(sign_note(body, [op]), [w.cosign(body, 1679315147)])
    note = open_note(signed, [op.verifier(), w.verifier()])
    assert [(s.name, s.timestamp) for s in note.signatures] == [("log", None), ("w.example", 1679315147)]
    assert note.signatures[1].key_id == w.key_id != NoteSigner("w.example", w.private_key).key_id

    line = w.cosign(body, 5)
    sig = Signature.from_line(line)
    altered = Signature(sig.name, sig.key_id, (6).to_bytes(8, "big") + sig.signature[8:]).line()
    with pytest.raises(VerificationError, match="invalid cosignature for key w.example"):
        open_note(append_signatures(sign_note(body, [op]), [altered]), [op.verifier(), w.verifier()])
    other = w.cosign(body.replace("\n3\n", "\n4\n"), 5)
    with pytest.raises(VerificationError, match="invalid cosignature"):
        open_note(append_signatures(sign_note(body, [op]), [other]), [op.verifier(), w.verifier()])
    with pytest.raises(InvalidInput, match="outside"):
        w.cosign(body, 2**63)
    with pytest.raises(InvalidInput, match="outside"):
        w.cosign(body, -1)


def test_append_signatures_deduplicates_and_validates() -> None:
    op = NoteSigner("log", Ed25519PrivateKey.generate())
    w = CosignatureSigner("w", Ed25519PrivateKey.generate())
    signed = sign_note("x\n", [op])
    line = w.cosign("x\n", 1)
    once = append_signatures(signed, [line])
    assert append_signatures(once, [line]) == once
    with pytest.raises(InvalidInput, match="em dash"):
        append_signatures(signed, ["- w AAAA\n"])


def test_verifier_equality_by_key() -> None:
    k = Ed25519PrivateKey.generate()
    assert NoteSigner("a", k).verifier() == NoteSigner("a", k).verifier()
    assert NoteSigner("a", k).verifier() != CosignatureSigner("a", k).verifier()
    assert len({NoteSigner("a", k).verifier(), NoteSigner("a", k).verifier()}) == 1


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), max_size=40))
def test_any_valid_text_roundtrips(line: str) -> None:
    signer = NoteSigner("k", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    text = line + "\n"
    note = open_note(sign_note(text, [signer]), [signer.verifier()])
    assert note.text == text
    assert isinstance(signer.verifier().public_key, Ed25519PublicKey)
