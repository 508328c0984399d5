"""Pedersen commitments to a report's one-hot (category, tier) indicator.

Follows docs/reports.md ("Commitment") and Pedersen, "Non-Interactive and Information-Theoretic
Secure Verifiable Secret Sharing" (CRYPTO '91): in a group of prime order q with
generators whose mutual discrete logarithms nobody knows,

    C = G_{c,t} + r·H,    r uniform in Z_q,

hides (c, t) perfectly and binds it computationally. Here the tier t is the secret and the
category c is public; the commitment is to the indicator vector that is 1 in slot
`4·slot(c) + t` and 0 elsewhere, so that sums of commitments are commitments to per-slot
counts (docs/ratings.md, step 5).

Nothing-up-my-sleeve generators: every G_{c,t} and H is RFC 9380 hash_to_curve of a fixed
public string under the domain tag `PEDERSEN_DST`, so no one knows a discrete-log relation
between any two of them (that would require breaking the random-oracle model of the map).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from enum import IntEnum
from functools import lru_cache

from core.errors import InvalidInput
from core.group import ORDER, Group, Point

__all__ = [
    "PEDERSEN_DST",
    "TIERS",
    "Tier",
    "slot",
    "validate_category_code",
    "Generators",
    "nums_generator",
    "commit",
    "random_scalar",
]

#: RFC 9380 domain-separation tag for every Pedersen generator.
PEDERSEN_DST = b"CANDOR-V1-PEDERSEN"
#: Number of tiers; the slot layout and the validity proof's branch count depend on it.
TIERS = 4
_MAX_CATEGORY_BYTES = 64


class Tier(IntEnum):
    """Severity of a reported incident (docs/reports.md). The value is the tier's index in its slot."""

    MINOR = 0
    GENERAL = 1
    SERIOUS = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, name: str) -> Tier:
        """The tier called `name` (case-insensitive: "minor", "general", "serious", "critical")."""
        try:
            return cls[name.strip().upper()]
        except (KeyError, AttributeError):
            known = ", ".join(t.name.lower() for t in cls)
            raise InvalidInput(f"unknown tier {name!r}; expected one of {known}") from None


def _check_tier(tier: int) -> int:
    if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier < TIERS:
        raise InvalidInput(f"tier must be an integer 0..{TIERS - 1} (minor..critical), got {tier!r}")
    return int(tier)


def slot(category_index: int, tier: int) -> int:
    """The plaintext slot of (category, tier): 4·category_index + tier (docs/reports.md)."""
    if isinstance(category_index, bool) or not isinstance(category_index, int) or category_index < 0:
        raise InvalidInput(f"category index must be a non-negative integer, got {category_index!r}")
    return TIERS * category_index + _check_tier(tier)


def validate_category_code(code: str) -> str:
    """Check that `code` can name a category: 1..64 UTF-8 bytes, no '/', no control characters.

    '/' is excluded so the generator string `category/<code>/tier/<t>` reads one way only.
    """
    if not isinstance(code, str) or not code:
        raise InvalidInput(f"category code must be a non-empty string, got {code!r}")
    return _validate_code(code)


@lru_cache(maxsize=1024)
def _validate_code(code: str) -> str:
    # Cached: a registry has a handful of codes, checked once per report on hot paths.
    if len(code.encode("utf-8")) > _MAX_CATEGORY_BYTES:
        raise InvalidInput(f"category code {code!r} is longer than {_MAX_CATEGORY_BYTES} bytes")
    if "/" in code or any(not ch.isprintable() or ch.isspace() for ch in code):
        raise InvalidInput(
            f"category code {code!r} contains '/', whitespace or a control character"
        )
    return code


class Generators:
    """The Pedersen generators G_{c,t} and H for one category registry, computed once.

    Each G_{c,t} = hash_to_curve(b"category/<code>/tier/<t>", PEDERSEN_DST) and
    H = hash_to_curve(b"blinding", PEDERSEN_DST). The registry is append-only (docs/reports.md),
    so a category's index, and with it its slot, never changes.
    """

    def __init__(self, group: Group, categories: Sequence[str]) -> None:
        codes = tuple(validate_category_code(c) for c in categories)
        if not codes:
            raise InvalidInput("the category registry is empty; it needs at least one category")
        index: dict[str, int] = {}
        for i, code in enumerate(codes):
            if code in index:
                raise InvalidInput(f"category {code!r} appears twice in the registry")
            index[code] = i
        self.group = group
        self._codes = codes
        self._index = index
        self._h = nums_generator(group, b"blinding")
        self._g: dict[tuple[int, int], Point] = {}

    @property
    def categories(self) -> tuple[str, ...]:
        """The category codes in registry (slot) order."""
        return self._codes

    @property
    def h(self) -> Point:
        """The blinding generator H."""
        return self._h

    def category_index(self, code: str) -> int:
        """The registry index of `code`; InvalidInput names the known codes if it is unknown."""
        try:
            return self._index[code]
        except (KeyError, TypeError):
            raise InvalidInput(
                f"unknown category {code!r}; the registry has {', '.join(self._codes)}"
            ) from None

    def g(self, category: str, tier: int) -> Point:
        """The generator G_{c,t} of (category, tier)."""
        key = (self.category_index(category), _check_tier(tier))
        point = self._g.get(key)
        if point is None:
            point = nums_generator(self.group, f"category/{category}/tier/{key[1]}".encode())
            self._g[key] = point
        return point


@lru_cache(maxsize=1024)
def nums_generator(group: Group, msg: bytes) -> Point:
    """hash_to_curve(msg, PEDERSEN_DST), computed once per process: it costs ~0.4 ms
    (arkworks) to ~30 ms (py_ecc), and every `Generators` (one per Alliance, which each
    audit, mirror and CLI call builds afresh) derives the same points."""
    return group.hash_to_curve(msg, PEDERSEN_DST)


def commit(gens: Generators, category: str, tier: int, r: int) -> Point:
    """C = G_{c,t} + r·H, with blinding r in [0, q) (draw it with `random_scalar`)."""
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < ORDER:
        raise InvalidInput("blinding factor r must be an integer in [0, q)")
    group = gens.group
    return group.add(gens.g(category, tier), group.mul(gens.h, r))


def random_scalar() -> int:
    """A uniform scalar in Z_q from the `secrets` CSPRNG."""
    return secrets.randbelow(ORDER)
