"""Subject pseudonyms: normalisation equivalences, limits, the HMAC tag."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.subject import MAX_SUBJECT_LENGTH, normalise, subject_tag

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "variants",
    [
        ("alice smith", "  Alice   Smith ", "ALICE\tSMITH", "alice\u00a0smith", "\uff21lice\u3000Smith"),
        ("strasse", "Straße", "STRASSE", "straße"),
        ("file", "ﬁle", "FILE"),
        ("shop 42", "SHOP ４２", "shop\n42"),
        ("caf\u00e9", "cafe\u0301", "CAF\u00c9"),
    ],
)
def test_differently_written_ids_give_one_tag(variants: tuple[str, ...]) -> None:
    canonical = variants[0]
    for v in variants:
        assert normalise(v) == canonical
        assert subject_tag(KEY, v) == subject_tag(KEY, canonical)


def test_tag_is_hmac_sha256_of_the_normalised_utf8() -> None:
    want = hmac.new(KEY, "strasse café".encode(), hashlib.sha256)
    assert subject_tag(KEY, "  STRASSE  Café ") == want.digest()
    assert len(subject_tag(KEY, "x")) == 32


def test_different_ids_and_keys_give_different_tags() -> None:
    assert subject_tag(KEY, "alice") != subject_tag(KEY, "alice2")
    assert subject_tag(KEY, "alice") != subject_tag(bytes(32), "alice")
    assert subject_tag(KEY, "a b") != subject_tag(KEY, "ab")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\u3000\u00a0"])
def test_empty_ids_rejected(blank: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        normalise(blank)


def test_length_limit_applies_after_normalisation() -> None:
    assert len(normalise("a" * MAX_SUBJECT_LENGTH)) == MAX_SUBJECT_LENGTH
    assert normalise("  " + "a" * MAX_SUBJECT_LENGTH + "   ") == "a" * MAX_SUBJECT_LENGTH
    with pytest.raises(InvalidInput, match="257 characters"):
        normalise("a" * (MAX_SUBJECT_LENGTH + 1))
    with pytest.raises(InvalidInput, match="300 characters"):
        normalise("\ufb03" * 100)  # the ffi ligature expands to three letters


@pytest.mark.parametrize("bad", ["a\x00b", "a\x7fb", "a\ud800b"])
def test_control_characters_and_surrogates_rejected(bad: str) -> None:
    with pytest.raises(InvalidInput, match="control character or lone surrogate"):
        normalise(bad)


def test_short_key_rejected() -> None:
    with pytest.raises(InvalidInput, match="at least 32"):
        subject_tag(bytes(16), "alice")


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40))
def test_normalise_is_idempotent(subject_id: str) -> None:
    try:
        once = normalise(subject_id)
    except InvalidInput:
        return
    assert normalise(once) == once
