"""Ed25519 wrappers: all of Project Wycheproof's Ed25519 verify tests, keys, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput, VerificationError
from core.signing import SigningKey, VerifyKey

WYCHEPROOF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "published" / "wycheproof_ed25519_test.json").read_text()
)
CASES = [(g["publicKey"]["pk"], t) for g in WYCHEPROOF["testGroups"] for t in g["tests"]]


def test_all_wycheproof_cases_present() -> None:
    assert len(CASES) == WYCHEPROOF["numberOfTests"] == 151


@pytest.mark.parametrize(("pk", "case"), CASES, ids=[f"tc{t['tcId']}" for _, t in CASES])
def test_wycheproof(pk: str, case: dict[str, Any]) -> None:
    key = VerifyKey.from_bytes(bytes.fromhex(pk))
    msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        key.verify(msg, sig)
    else:
        with pytest.raises(VerificationError):
            key.verify(msg, sig)


def test_rfc8032_test1_known_answer() -> None:
    # RFC 8032 §7.1 TEST 1 (empty message).
    sk = SigningKey.from_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    assert sk.verify_key.to_bytes().hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert sk.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_sign_verify_roundtrip_and_errors() -> None:
    sk = SigningKey.generate()
    vk = sk.verify_key
    sig = sk.sign(b"entry bytes")
    vk.verify(b"entry bytes", sig)
    with pytest.raises(VerificationError, match=f"does not verify under key {vk.key_id}"):
        vk.verify(b"entry byteS", sig)
    with pytest.raises(VerificationError, match="63 bytes, expected 64"):
        vk.verify(b"entry bytes", sig[:-1])
    with pytest.raises(VerificationError):
        SigningKey.generate().verify_key.verify(b"entry bytes", sig)


def test_bytes_roundtrip_equality_and_key_id() -> None:
    sk = SigningKey.generate()
    assert SigningKey.from_bytes(sk.to_bytes()) == sk
    vk = VerifyKey.from_bytes(sk.verify_key.to_bytes())
    assert vk == sk.verify_key and hash(vk) == hash(sk.verify_key)
    assert len(vk.key_id) == 16 and vk.key_id == sk.key_id
    assert vk != SigningKey.generate().verify_key


def test_repr_hides_the_private_key() -> None:
    sk = SigningKey.generate()
    assert sk.to_bytes().hex() not in repr(sk)
    assert sk.key_id in repr(sk)


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_wrong_key_lengths(n: int) -> None:
    with pytest.raises(InvalidInput, match=f"{n} bytes, expected 32"):
        SigningKey.from_bytes(bytes(n))
    with pytest.raises(InvalidInput, match=f"{n} bytes, expected 32"):
        VerifyKey.from_bytes(bytes(n))
