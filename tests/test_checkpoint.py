"""C2SP tlog-checkpoint: generated valid/invalid notes, published examples, properties."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from core import errors
from core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from core.errors import InvalidInput, VerificationError
from core.merkle import MemoryTree
from core.note import (
    CosignatureSigner,
    NoteSigner,
    append_signatures,
    parse_note,
    parse_vkey,
)

HERE = Path(__file__).parent / "vectors"
VECTORS: dict[str, Any] = json.loads((HERE / "checkpoint.json").read_text())
SIGNED_NOTE: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "published" / "signed_note.json").read_text()
)
OPERATOR = parse_vkey(VECTORS["operator_vkey"])
WITNESSES = [parse_vkey(v) for v in VECTORS["witness_vkeys"]]


def _vkey(name: str) -> str:
    return str(next(k["vkey"] for k in SIGNED_NOTE["keys"] if k["name"] == name))


def _open_case(case: dict[str, Any]) -> Any:
    return open_checkpoint(
        case["note"].encode(),
        case.get("origin", VECTORS["origin"]),
        OPERATOR,
        WITNESSES,
        case["quorum"],
    )


# --- generated vectors ---------------------------------------------------------------


def test_vector_file_has_enough_invalid_cases() -> None:
    assert sum(not c["valid"] for c in VECTORS["cases"]) >= 10


def test_vector_file_is_what_the_script_generates() -> None:
    spec = importlib.util.spec_from_file_location("make_checkpoint", HERE / "make_checkpoint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == VECTORS


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: f"{c['id']}-{c['why']}")
def test_checkpoint_vectors(case: dict[str, Any]) -> None:
    if case["valid"]:
        got = _open_case(case)
        want = case["checkpoint"]
        assert got.checkpoint == Checkpoint(
            want["origin"], want["size"], bytes.fromhex(want["root_hash"]), tuple(want["extensions"])
        )
        assert list(got.witnesses) == case["witnesses"]
        assert got.operator_signature.name == OPERATOR.name
        assert all(s.timestamp is not None for s in got.cosignatures)
    else:
        with pytest.raises(getattr(errors, case["error"]), match=re.escape(case["message"])):
            _open_case(case)


# --- published examples ----------------------------------------------------------------


def _open_vector(case_id: str) -> dict[str, Any]:
    return next(c for c in SIGNED_NOTE["open"] if c["id"] == case_id)


def test_sumdb_checkpoint_opens() -> None:
    case = _open_vector("sum.golang.org checkpoint")
    got = open_checkpoint(
        case["note"].encode(), case["expected_origin"], parse_vkey(_vkey("sum.golang.org"))
    )
    assert got.checkpoint.origin == case["checkpoint"]["origin"]
    assert got.checkpoint.size == case["checkpoint"]["size"] == 6476701
    assert got.checkpoint.root_hash == base64.b64decode(case["checkpoint"]["root_hash_b64"])
    assert got.checkpoint.body() == case["expected_text"]


def test_sumdb_checkpoint_with_three_cosigners_meets_quorum() -> None:
    case = _open_vector("sum.golang.org checkpoint + 3 extra Ed25519 signatures")
    witnesses = [parse_vkey(_vkey(n)) for n in ("monkeys", "bananas", "witness")]
    got = open_checkpoint(
        case["note"].encode(),
        "go.sum database tree",
        parse_vkey(_vkey("sum.golang.org")),
        witnesses,
        quorum=3,
    )
    assert got.witnesses == ("monkeys", "bananas", "witness")


def test_sumdb_checkpoint_unknown_signers_do_not_count() -> None:
    case = _open_vector(
        "sum.golang.org checkpoint + sigs from unknown keys (random1/random2 reuse witness's "
        "signature bytes)"
    )
    op = parse_vkey(_vkey("sum.golang.org"))
    got = open_checkpoint(
        case["note"].encode(), "go.sum database tree", op, [parse_vkey(_vkey("monkeys"))], 1
    )
    assert got.witnesses == ("monkeys",)
    with pytest.raises(InvalidInput, match="quorum 2 must be between 0 and the 1 witnesses"):
        open_checkpoint(
            case["note"].encode(), "go.sum database tree", op, [parse_vkey(_vkey("monkeys"))], 2
        )


def test_sumdb_checkpoint_wrong_origin() -> None:
    case = _open_vector("checkpoint wrong origin")
    assert case["checkpoint_valid"] is False
    with pytest.raises(VerificationError, match="not the expected 'Go rocks"):
        open_checkpoint(
            case["note"].encode(), case["expected_origin"], parse_vkey(_vkey("sum.golang.org"))
        )


@pytest.mark.parametrize(
    "case_id",
    [
        "C2SP tlog-checkpoint example (no public key published)",
        "C2SP tlog-cosignature example (no public keys published)",
    ],
)
def test_c2sp_example_texts_parse(case_id: str) -> None:
    case = next(c for c in SIGNED_NOTE["parse_only"] if c["id"] == case_id)
    note = parse_note(case["note"].encode())
    assert note.text == case["expected_text"]
    cp = Checkpoint.parse(note.text)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.root_hash.hex() == (
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    )
    assert cp.body() == note.text
    assert [(s.name, s.key_id.hex()) for s in note.unverified] == [
        (s["name"], s["key_id"]) for s in case["signatures"]
    ]


# --- end to end with a real tree -----------------------------------------------------


def test_sign_cosign_open_roundtrip() -> None:
    tree = MemoryTree()
    for i in range(11):
        tree.append(f"entry {i}".encode())
    operator = NoteSigner("candor.test/log", Ed25519PrivateKey.generate())
    w = [CosignatureSigner(f"w{i}.test", Ed25519PrivateKey.generate()) for i in range(3)]
    cp = Checkpoint("candor.test/log", tree.size, tree.root())
    signed = sign_checkpoint(cp, operator)
    signed = append_signatures(signed, [w[0].cosign(cp.body(), 100), w[2].cosign(cp.body(), 101)])
    got = open_checkpoint(signed, cp.origin, operator.verifier(), [x.verifier() for x in w], 2)
    assert got.checkpoint == cp
    assert got.witnesses == ("w0.test", "w2.test")
    assert [s.timestamp for s in got.cosignatures] == [100, 101]
    with pytest.raises(VerificationError, match=r"2 valid witness cosignature\(s\) .*missing: w1.test"):
        open_checkpoint(signed, cp.origin, operator.verifier(), [x.verifier() for x in w], 3)


def test_witness_configuration_is_checked() -> None:
    operator = NoteSigner("log", Ed25519PrivateKey.generate())
    key = Ed25519PrivateKey.generate()
    twins = [CosignatureSigner("a", key).verifier(), CosignatureSigner("b", key).verifier()]
    cp = Checkpoint("log", 0, bytes(32))
    signed = sign_checkpoint(cp, operator)
    with pytest.raises(InvalidInput, match="share a public key"):
        open_checkpoint(signed, "log", operator.verifier(), twins, 1)
    with pytest.raises(InvalidInput, match="distinct"):
        open_checkpoint(signed, "log", operator.verifier(), [operator.verifier()], 0)
    with pytest.raises(InvalidInput, match="quorum -1"):
        open_checkpoint(signed, "log", operator.verifier(), [], -1)


# --- the dataclass -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": ""}, "origin is empty"),
        ({"origin": "a\nb"}, "control character"),
        ({"size": -1}, "outside"),
        ({"size": 2**64}, "outside"),
        ({"size": True}, "must be an int"),
        ({"root_hash": bytes(31)}, "31 bytes"),
        ({"extensions": ("",)}, "extension line 0 is empty"),
        ({"extensions": ("a\nb",)}, "control character"),
    ],
)
def test_checkpoint_validates_on_construction(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"origin": "o", "size": 1, "root_hash": bytes(32)}
    fields.update(kwargs)
    with pytest.raises(InvalidInput, match=message):
        Checkpoint(**fields)


def test_parse_rejects_missing_newline_and_short_text() -> None:
    body = Checkpoint("o", 5, bytes(32)).body()
    with pytest.raises(InvalidInput, match="end with a newline"):
        Checkpoint.parse(body[:-1])
    with pytest.raises(InvalidInput, match="at least 3"):
        Checkpoint.parse("o\n5\n")


_line = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
    min_size=1,
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(_line, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(_line, max_size=3))
def test_body_parse_roundtrip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert Checkpoint.parse(cp.body()) == cp
    assert Checkpoint.parse(cp.body()).body() == cp.body()
