"""Paillier encryption of packed report plaintexts (docs/reports.md, "Ciphertext").

Scheme: Paillier, "Public-Key Cryptosystems Based on Composite Degree Residuosity Classes",
EUROCRYPT 1999, section 3, with the generator g = n + 1 (as in phe and in Damgard-Jurik,
PKC 2001, section 3 with s = 1), so that

    Enc(m; r) = (1 + m*n) * r^n  mod n^2,        r uniform in Z_n^*.

A report's plaintext packs a Pedersen blinding scalar and a one-hot count:

    m = r + 2^320 * 2^(48*slot),     slot = 4*slot(category) + tier

The low 320 bits (``R_BITS``) hold r, a BLS12-381 scalar below 2^255, with room for the
weighted sum of many of them; each (category, tier) has a 48-bit count field (``SLOT_BITS``).
Multiplying ciphertexts with small integer weights, ``prod c_i^{w_i} mod n^2``, encrypts
``sum w_i*m_i``, which unpacks into weighted counts and ``sum w_i*r_i`` as long as no field overflows into the next one.

Everything is an integer with exponent 0: no float ever reaches phe (see docs/performance.md for
the cost of mixing exponents). The raw ciphertext integers produced here are exactly the
``EncryptedNumber(public_key, c, 0).ciphertext(be_secure=False)`` values of phe, so phe's
private key and the threshold decryption of ``core.threshold`` both decrypt them.

Encryption is dominated by one exponentiation r^n mod n^2 that does not depend on the
message; ``RnPool`` precomputes those so that preparing a report costs microseconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2
import phe

from core.errors import InvalidInput
from core.pool import Pool

R_BITS = 320
"""Width of the field holding the (weighted sum of the) Pedersen blinding scalar(s)."""

SLOT_BITS = 48
"""Width of each (category, tier) count field."""

TIERS = 4
"""Tiers per category: minor, general, serious, critical (slot = 4*category_slot + tier)."""

MAX_WEIGHT_SUM = 2**SLOT_BITS - 1
"""Largest total weight an aggregate may carry.

Each packed plaintext adds exactly 1 to one count field, so a weighted aggregate adds at
most the sum of the weights to any field; keeping that sum below 2^48 means no count can
carry into its neighbour. With r < 2^255 the R field then holds at most 2^303 < 2^320.
"""


def slot_index(category_slot: int, tier: int) -> int:
    """Slot of (category, tier): ``4*category_slot + tier`` (docs/reports.md)."""
    if category_slot < 0:
        raise InvalidInput(f"category slot {category_slot} is negative: slots start at 0")
    if not 0 <= tier < TIERS:
        raise InvalidInput(f"tier {tier} is out of range: tiers are 0..{TIERS - 1}")
    return TIERS * category_slot + tier


def pack(r: int, slot: int) -> int:
    """The plaintext of one report: ``r + 2^320 * 2^(48*slot)``.

    ``r`` is the Pedersen blinding scalar of the report's commitment (a BLS12-381 scalar,
    below 2^255 in practice; any value below 2^320 is accepted here).
    """
    if not isinstance(r, int) or not isinstance(slot, int):
        raise InvalidInput("pack takes integers only: no floats ever reach Paillier")
    if not 0 <= r < 2**R_BITS:
        raise InvalidInput(f"blinding scalar r must satisfy 0 <= r < 2^{R_BITS}")
    if slot < 0:
        raise InvalidInput(f"slot {slot} is negative: slots start at 0")
    return r + (1 << (R_BITS + SLOT_BITS * slot))


@dataclass(frozen=True)
class Opening:
    """A decrypted packed plaintext: one count per slot and the summed blinding scalar."""

    counts: tuple[int, ...]
    r_sum: int

    def __post_init__(self) -> None:
        if not isinstance(self.counts, tuple):
            raise InvalidInput("counts must be a tuple of integers")
        for slot, count in enumerate(self.counts):
            if not isinstance(count, int) or not 0 <= count < 2**SLOT_BITS:
                raise InvalidInput(f"count of slot {slot} must be an integer in [0, 2^{SLOT_BITS})")
        if not isinstance(self.r_sum, int) or not 0 <= self.r_sum < 2**R_BITS:
            raise InvalidInput(f"r_sum must be an integer in [0, 2^{R_BITS})")

    def plaintext(self) -> int:
        """The packed integer this opening came from (inverse of ``unpack``)."""
        m = self.r_sum
        for slot, count in enumerate(self.counts):
            m += count << (R_BITS + SLOT_BITS * slot)
        return m


def unpack(m: int, n_slots: int) -> Opening:
    """Split a (possibly aggregated) plaintext into ``n_slots`` counts and the R field.

    Raises InvalidInput if ``m`` has bits above the last slot: that means a count overflowed
    or the plaintext was not packed for a registry of this size.
    """
    if not isinstance(m, int) or not isinstance(n_slots, int):
        raise InvalidInput("unpack takes integers only")
    if m < 0:
        raise InvalidInput("a packed plaintext is never negative")
    if n_slots < 0:
        raise InvalidInput(f"n_slots {n_slots} is negative")
    top = R_BITS + SLOT_BITS * n_slots
    if m >> top:
        raise InvalidInput(
            f"plaintext has {m.bit_length()} bits but {n_slots} slots end at bit {top}: "
            "a count overflowed or the registry size is wrong"
        )
    mask = (1 << SLOT_BITS) - 1
    counts = tuple((m >> (R_BITS + SLOT_BITS * i)) & mask for i in range(n_slots))
    return Opening(counts=counts, r_sum=m & ((1 << R_BITS) - 1))


def max_categories(n: int) -> int:
    """How many categories (``TIERS`` slots each) a key with modulus ``n`` can hold.

    The largest packed value for S slots is ``2^(320 + 48*S) - 1``; it must decode as a
    non-negative integer, i.e. stay at or below phe's ``max_int = n//3 - 1`` (which is also
    strictly below n, as docs/reports.md requires). A 2048-bit key holds 8 categories, a 3072-bit
    key 14, a 1024-bit key 3.
    """
    if not isinstance(n, int) or n <= 3:
        raise InvalidInput("the Paillier modulus must be an integer greater than 3")
    # 2^top <= n//3  <=>  top <= floor(log2(n//3))
    top = (n // 3).bit_length() - 1
    if top < R_BITS:
        return 0
    return ((top - R_BITS) // SLOT_BITS) // TIERS


def check_registry_fits(n: int, n_categories: int) -> None:
    """Refuse a category registry whose packed plaintexts would not fit below n."""
    if not isinstance(n_categories, int) or n_categories < 0:
        raise InvalidInput("the number of categories must be a non-negative integer")
    k = max_categories(n)
    if n_categories > k:
        raise InvalidInput(
            f"a {n.bit_length()}-bit key holds at most {k} categories; "
            f"the registry has {n_categories}: use a larger key"
        )


def _modulus(public_key: Any) -> int:
    if not isinstance(public_key, phe.PaillierPublicKey):
        raise InvalidInput("expected a phe.PaillierPublicKey")
    return int(public_key.n)


def _random_unit(n: int) -> int:
    while True:
        r = secrets.randbelow(n - 1) + 1
        # gcd(r, n) > 1 would factor n; it happens with probability ~2^-1000.
        if gmpy2.gcd(r, n) == 1:
            return r


class RnPool(Pool[Any]):
    """Precomputed obfuscators ``r^n mod n^2`` for one public key (`core.pool.Pool`: each
    used once; an empty pool computes one on the spot, one full exponentiation)."""

    def __init__(self, public_key: phe.PaillierPublicKey, size: int = 0) -> None:
        self._n = _modulus(public_key)
        self._nsquare = gmpy2.mpz(self._n) * self._n
        super().__init__(None, "rn-pool", size)

    def _compute(self) -> Any:
        return gmpy2.powmod(_random_unit(self._n), self._n, self._nsquare)

    @property
    def n(self) -> int:
        """The modulus of the public key this pool serves."""
        return self._n

    @property
    def nsquare(self) -> Any:
        """n^2 as a gmpy2 mpz (kept so that encrypting from the pool multiplies only)."""
        return self._nsquare


def encrypt(public_key: phe.PaillierPublicKey, m: int, pool: RnPool | None = None) -> int:
    """Encrypt ``0 <= m < n``: ``c = (1 + m*n) * r^n mod n^2`` with fresh r from ``pool``.

    Without a pool this costs one exponentiation (9 ms at 2048 bits, 30 ms at 3072, see
    docs/performance.md); with a non-empty pool a few microseconds. The result is the raw integer
    that ``phe.EncryptedNumber(public_key, c, 0)`` wraps.
    """
    n = _modulus(public_key)
    if not isinstance(m, int):
        raise InvalidInput("Paillier plaintexts are integers: no floats ever reach phe")
    if not 0 <= m < n:
        raise InvalidInput("plaintext must satisfy 0 <= m < n: check the registry fits the key")
    if pool is None:
        nsquare = gmpy2.mpz(n) * n
        rn = gmpy2.powmod(_random_unit(n), n, nsquare)
    else:
        if pool.n != n:
            raise InvalidInput("the r^n pool belongs to another public key")
        nsquare = pool.nsquare
        rn = pool.take()
    # (1 + m*n) * rn = rn + n*(m*rn mod n)  (mod n^2): a half-size product instead of a
    # full one, and one conditional subtraction instead of a reduction mod n^2.
    big_n = gmpy2.mpz(n)
    c = rn + big_n * ((m * (rn % big_n)) % big_n)
    if c >= nsquare:
        c -= nsquare
    return int(c)


def check_ciphertext(public_key: phe.PaillierPublicKey, c: int) -> None:
    """Raise InvalidInput unless ``c`` is in Z*_{n^2}: ``0 < c < n^2`` and ``gcd(c, n) = 1``."""
    n = _modulus(public_key)
    if not isinstance(c, int) or not 0 < c < n * n:
        raise InvalidInput("ciphertext must be an integer with 0 < c < n^2")
    if gmpy2.gcd(c, n) != 1:
        raise InvalidInput("ciphertext is not a unit mod n^2 (shares a factor with n)")


def aggregate(
    public_key: phe.PaillierPublicKey, ciphertexts: Sequence[int], weights: Sequence[int]
) -> int:
    """``prod c_i^{w_i} mod n^2``: an encryption of ``sum w_i * m_i``.

    Works on raw integers with gmpy2 (phe's EncryptedNumber would re-check exponents and,
    with the default ``ciphertext()``, silently re-randomise). The result is not
    re-randomised: everyone can recompute it from the ledger, which is the point.
    Weights are non-negative integers summing to at most ``MAX_WEIGHT_SUM`` so that no
    packed count can overflow into the next slot. An empty product is ``1 = Enc(0; 1)``.
    """
    n = _modulus(public_key)
    nsquare = gmpy2.mpz(n) * n
    if len(ciphertexts) != len(weights):
        raise InvalidInput(
            f"{len(ciphertexts)} ciphertexts but {len(weights)} weights: give one weight each"
        )
    # Ciphertexts with equal weights are multiplied first and exponentiated once: there are
    # few distinct weights (one per decay band), so this costs about one modular
    # multiplication per ciphertext instead of one exponentiation each.
    groups: dict[int, Any] = {}
    total = 0
    for i, (c, w) in enumerate(zip(ciphertexts, weights)):
        if not isinstance(w, int) or w < 0:
            raise InvalidInput(f"weight {i} must be a non-negative integer")
        if not isinstance(c, int) or not 0 < c < nsquare:
            raise InvalidInput(f"ciphertext {i} must be an integer with 0 < c < n^2")
        total += w
        if w == 0:
            continue
        acc = groups.get(w)
        groups[w] = gmpy2.mpz(c) if acc is None else (acc * c) % nsquare
    if total > MAX_WEIGHT_SUM:
        raise InvalidInput(
            f"weights sum to {total}, more than 2^{SLOT_BITS} - 1: a count could overflow "
            "into the next slot; aggregate fewer reports"
        )
    result = gmpy2.mpz(1)
    for w, product in groups.items():
        result = (result * gmpy2.powmod(product, w, nsquare)) % nsquare
    return int(result)


def to_encrypted_number(public_key: phe.PaillierPublicKey, c: int) -> phe.EncryptedNumber:
    """Wrap a raw ciphertext for phe, with exponent 0 (integers only)."""
    n = _modulus(public_key)
    if not isinstance(c, int) or not 0 < c < n * n:
        raise InvalidInput("ciphertext must be an integer with 0 < c < n^2")
    return phe.EncryptedNumber(public_key, int(c), 0)


def from_encrypted_number(
    public_key: phe.PaillierPublicKey, number: phe.EncryptedNumber
) -> int:
    """The raw ciphertext of a phe ``EncryptedNumber`` under ``public_key``.

    Uses ``ciphertext(be_secure=False)``: re-randomising here would cost a hidden full
    encryption (docs/performance.md); a fresh encryption is already randomised, and an aggregate
    is meant to be reproducible. Refuses non-zero exponents (floats or scaled encodings).
    """
    n = _modulus(public_key)
    if not isinstance(number, phe.EncryptedNumber):
        raise InvalidInput("expected a phe.EncryptedNumber")
    if int(number.public_key.n) != n:
        raise InvalidInput("the encrypted number belongs to another public key")
    if number.exponent != 0:
        raise InvalidInput(
            f"encrypted number has exponent {number.exponent}, expected 0: "
            "encrypt integers only, never floats"
        )
    return int(number.ciphertext(be_secure=False))
