"""Subject pseudonyms (docs/reports.md): subject tag = HMAC-SHA256(alliance key, normalise(id)).

Members never send raw subject identifiers (an anchor's platform handle, shop id...) to the
operator; they send the tag. Two members must derive the same tag for the same subject even
if they write the id differently, so the id is normalised first:

1. Unicode NFKC (compatibility forms: full-width letters, ligatures, superscripts),
2. case folding (str.casefold, which also maps ß to ss),
3. NFKC again, because case folding can produce sequences that are not NFKC-normal,
4. whitespace: leading/trailing stripped, internal runs collapsed to one ASCII space.

The result must be 1..256 characters, without control characters or lone surrogates (which
have no UTF-8 encoding). The tag is only as secret as the alliance subject key:
anyone holding the key can test guesses of an id, so the key stays with members.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from core.errors import InvalidInput

MAX_SUBJECT_LENGTH = 256
"""Longest normalised subject identifier, in characters."""

MIN_KEY_SIZE = 32
"""Shortest alliance subject key accepted, in bytes (HMAC-SHA256 block of entropy)."""

TAG_SIZE = 32
"""Bytes in a subject tag."""


def normalise(subject_id: str) -> str:
    """The canonical form of a subject identifier; raises InvalidInput if empty or too long."""
    if not isinstance(subject_id, str):
        raise InvalidInput(f"subject id must be a str, got {type(subject_id).__name__}")
    s = unicodedata.normalize("NFKC", subject_id)
    s = unicodedata.normalize("NFKC", s.casefold())
    s = " ".join(s.split())
    for ch in s:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidInput(
                f"subject id contains U+{ord(ch):04X} (control character or lone surrogate)"
            )
    if not s:
        raise InvalidInput("subject id is empty after normalisation; give a non-blank identifier")
    if len(s) > MAX_SUBJECT_LENGTH:
        raise InvalidInput(
            f"subject id is {len(s)} characters after normalisation, at most "
            f"{MAX_SUBJECT_LENGTH} allowed"
        )
    return s


def subject_tag(alliance_subject_key: bytes, subject_id: str) -> bytes:
    """HMAC-SHA256(alliance_subject_key, UTF-8(normalise(subject_id))), 32 bytes."""
    if len(alliance_subject_key) < MIN_KEY_SIZE:
        raise InvalidInput(
            f"alliance subject key is {len(alliance_subject_key)} bytes, need at least "
            f"{MIN_KEY_SIZE}"
        )
    return hmac.new(alliance_subject_key, normalise(subject_id).encode(), hashlib.sha256).digest()
