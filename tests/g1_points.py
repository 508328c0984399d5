"""Named G1 encodings from tests/vectors/g1_decode.json and exact scalar multiplication,
shared by the tests of transient points decoded without the subgroup check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.group import Group, Point

DECODE: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "g1_decode.json").read_text())


def encoding(name: str) -> bytes:
    """The encoding of the decode-vector case called `name`."""
    return bytes.fromhex(next(c["encoding"] for c in DECODE["cases"] if c["name"] == name))


def times(group: Group, p: Point, k: int) -> Point:
    """k·p by doubling and adding: exact for any curve point (no reduction mod q)."""
    acc = group.identity()
    for bit in bin(k)[2:]:
        acc = group.add(acc, acc)
        if bit == "1":
            acc = group.add(acc, p)
    return acc
