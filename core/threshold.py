"""Threshold Paillier decryption with a trusted dealer (docs/ratings.md).

Follows Damgard and Jurik, "A Generalisation, a Simplification and Some Applications of
Paillier's Probabilistic Public-Key System", PKC 2001, section 4.1 (the threshold
variant) with s = 1, which carries Shoup's threshold RSA ("Practical Threshold
Signatures", EUROCRYPT 2000, sections 2-3) over to Paillier, as do Fouque, Poupard and
Stern ("Sharing Decryption in the Context of Voting or Lotteries", FC 2000).

Dealing (the regulator's ceremony). n = p*q with safe primes p = 2p'+1, q = 2q'+1, and
m = p'q'. The secret d satisfies d = 0 mod m and d = 1 mod n; a random polynomial f of
degree t-1 over Z_{n*m} with f(0) = d gives trustee i the share s_i = f(i). With
Delta = l! (l trustees), v a random square in Z*_{n^2} (it generates the cyclic group of
squares, of order n*m, except with negligible probability) and v_i = v^(Delta*s_i).

Decryption share of trustee i for a ciphertext c: c_i = c^(2*Delta*s_i) mod n^2, with a
non-interactive Chaum-Pedersen proof that log_{c^4}(c_i^2) = log_v(v_i) (= Delta*s_i).
The proof is the compact (challenge, response) form of Shoup 2000 section 3: the prover
picks r with |Delta*n^2| + 256 + 128 bits, sends e = H(tag, i, n, c, v, v_i, c_i,
(c^4)^r, v^r) and z = r + e*Delta*s_i over the integers; the extra 128 bits make z
statistically independent of the secret. Squares are used because Z*_{n^2} has elements
of order 2 that a proof in the group of squares cannot speak about; combining only ever
uses c_i^2, so those elements do not matter.

Combining t shares from a set S: with the integer Lagrange coefficients
lambda_i = Delta * prod_{j in S, j != i} (-j)/(i-j), the product c' = prod c_i^(2*lambda_i)
equals c^(4*Delta^2*d) = (1+n)^(4*Delta^2*M) mod n^2, hence
M = L(c') * (4*Delta^2)^-1 mod n with L(x) = (x-1)/n.

Ciphertexts are raw phe integers (g = n + 1): whatever phe or ``core.paillier.encrypt``
produce under ``ThresholdPublicKey.phe()`` decrypts here.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import gmpy2
import phe

from core.errors import InvalidInput, VerificationError

Progress = Callable[[str], None]
"""A callback that receives one human-readable line about long-running work."""

PRODUCTION_MIN_BITS = 2048
"""``deal`` refuses smaller moduli unless ``allow_insecure=True`` (tests only)."""

MAX_PARTIES = 64
"""Delta = l! sits in every exponent; beyond a few dozen trustees it only costs time."""

CHALLENGE_BITS = 256
HIDING_BITS = 128
"""Statistical margin by which the proof's random exponent exceeds challenge*witness."""

PROOF_TAG = b"CANDOR-V1-PAILLIER-DECRYPTION-SHARE"

TEST_ONLY_WARNING = (
    "TEST ONLY - never use in production: every key share is in this file, "
    "so anyone holding it can decrypt everything"
)

_SIEVE_LIMIT = 1 << 15
_WINDOW = 1 << 15
_PRIME_REPS = 32


def _hex(x: int) -> str:
    return format(x, "x")


def _parse_hex(value: Any, what: str) -> int:
    if not isinstance(value, str) or not value or value.startswith(("-", "+", "0x")):
        raise InvalidInput(f"{what} must be a non-empty lowercase hex string without 0x")
    try:
        return int(value, 16)
    except ValueError:
        raise InvalidInput(f"{what} is not valid hex") from None


def _parse_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{what} must be a JSON integer")
    return value


def _is_unit(x: int, n: int) -> bool:
    return 0 < x < n * n and gmpy2.gcd(x, n) == 1


# --------------------------------------------------------------------------- primes


@lru_cache(maxsize=1)
def _small_odd_primes() -> tuple[int, ...]:
    flags = bytearray(b"\x01") * _SIEVE_LIMIT
    flags[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(_SIEVE_LIMIT) + 1):
        if flags[i]:
            flags[i * i :: i] = bytes(len(range(i * i, _SIEVE_LIMIT, i)))
    return tuple(i for i in range(3, _SIEVE_LIMIT) if flags[i])


def safe_prime(bits: int, progress: Progress | None = None) -> int:
    """A random safe prime p = 2q + 1 (q prime) of exactly ``bits`` bits, top two bits set.

    Candidates q are sieved in windows so that neither q nor 2q + 1 has a factor below
    2^15; survivors get a base-2 Fermat test on q and then on p, and finally
    ``gmpy2.is_prime`` (BPSW plus Miller-Rabin rounds) on both. Setting the top two bits
    makes the product of two such primes exactly ``2*bits`` bits long.

    Expected time on the reference machine (docs/performance.md): 1-5 s for 1024 bits (a 2048-bit
    key), 1-15 s for 1536 bits (a 3072-bit key); runs of this code took 0.2-4.6 s and
    0.3-14 s. The spread is large because the search is random. ``progress`` gets a line
    after every sieve window of 2^15 candidates.
    """
    if not isinstance(bits, int) or bits < 32:
        raise InvalidInput(f"safe primes need at least 32 bits, got {bits}")
    primes = _small_odd_primes()
    qbits = bits - 1
    sieved = tested = 0
    while True:
        # q has qbits bits with its top two bits set; p = 2q + 1 then has `bits` bits.
        q0 = gmpy2.mpz(secrets.randbits(qbits) | (3 << (qbits - 2)) | 1)
        alive = bytearray(b"\x01") * _WINDOW
        for ell in primes:
            rem = int(q0 % ell)
            half = (ell + 1) // 2  # the inverse of 2 mod ell
            # candidate k is q = q0 + 2k; remove k with q = 0 or 2q + 1 = 0 (mod ell)
            for k0 in ((-rem * half) % ell, (((ell - 1) // 2 - rem) * half) % ell):
                if k0 < _WINDOW:
                    alive[k0::ell] = bytes(len(range(k0, _WINDOW, ell)))
        for k in (i for i, flag in enumerate(alive) if flag):
            q = q0 + 2 * k
            if q.bit_length() != qbits:
                break
            p = 2 * q + 1
            tested += 1
            if gmpy2.powmod(2, q - 1, q) != 1 or gmpy2.powmod(2, p - 1, p) != 1:
                continue
            if gmpy2.is_prime(q, _PRIME_REPS) and gmpy2.is_prime(p, _PRIME_REPS):
                if progress is not None:
                    progress(f"found a {bits}-bit safe prime after {tested} candidates")
                return int(p)
        sieved += _WINDOW
        if progress is not None:
            progress(f"{bits}-bit safe prime: {sieved} candidates sieved, {tested} tested")


def _check_safe_prime(p: int, bits: int) -> None:
    if not isinstance(p, int) or p.bit_length() != bits:
        raise InvalidInput(f"each prime must have exactly {bits} bits")
    if not (gmpy2.is_prime(p, _PRIME_REPS) and gmpy2.is_prime((p - 1) // 2, _PRIME_REPS)):
        raise InvalidInput("a given prime is not a safe prime p = 2q + 1 with q prime")


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class ThresholdPublicKey:
    """The alliance's Paillier public key plus what is needed to check decryption shares."""

    n: int
    threshold: int
    parties: int
    v: int
    verification_keys: tuple[int, ...]

    def __post_init__(self) -> None:
        n = self.n
        if not isinstance(n, int) or n < 2**64 or n % 2 == 0:
            raise InvalidInput("n must be an odd integer of at least 64 bits")
        if not isinstance(self.parties, int) or not 1 <= self.parties <= MAX_PARTIES:
            raise InvalidInput(f"parties must be between 1 and {MAX_PARTIES}")
        if not isinstance(self.threshold, int) or not 1 <= self.threshold <= self.parties:
            raise InvalidInput(
                f"threshold {self.threshold} must be between 1 and the {self.parties} parties"
            )
        if not _is_unit(self.v, n) or self.v == 1:
            raise InvalidInput("v must be a unit of Z*_{n^2} other than 1")
        if not isinstance(self.verification_keys, tuple):
            raise InvalidInput("verification_keys must be a tuple")
        if len(self.verification_keys) != self.parties:
            raise InvalidInput(
                f"{len(self.verification_keys)} verification keys for {self.parties} parties: "
                "give one per trustee"
            )
        for i, vk in enumerate(self.verification_keys, start=1):
            if not isinstance(vk, int) or not _is_unit(vk, n):
                raise InvalidInput(f"verification key of trustee {i} is not in Z*_{{n^2}}")

    @property
    def delta(self) -> int:
        """Delta = l! for l = ``parties``: clears every Lagrange denominator."""
        return math.factorial(self.parties)

    @cached_property
    def nsquare(self) -> int:
        return self.n * self.n

    def phe(self) -> phe.PaillierPublicKey:
        """The same key as phe sees it (g = n + 1), for encryption."""
        return phe.PaillierPublicKey(self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": _hex(self.n),
            "threshold": self.threshold,
            "parties": self.parties,
            "v": _hex(self.v),
            "verification_keys": [_hex(x) for x in self.verification_keys],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdPublicKey:
        if not isinstance(data, Mapping):
            raise InvalidInput("a threshold public key must be a JSON object")
        vks = data.get("verification_keys")
        if not isinstance(vks, list):
            raise InvalidInput("verification_keys must be a list of hex strings")
        return cls(
            n=_parse_hex(data.get("n"), "n"),
            threshold=_parse_int(data.get("threshold"), "threshold"),
            parties=_parse_int(data.get("parties"), "parties"),
            v=_parse_hex(data.get("v"), "v"),
            verification_keys=tuple(
                _parse_hex(x, f"verification key {i}") for i, x in enumerate(vks, start=1)
            ),
        )


@dataclass(frozen=True)
class KeyShare:
    """Trustee ``index``'s secret share s_i = f(i) of the key with modulus ``n``."""

    index: int
    s_i: int = field(repr=False)
    n: int

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or isinstance(self.index, bool) or self.index < 1:
            raise InvalidInput(f"trustee index {self.index!r} must be an integer >= 1")
        if not isinstance(self.n, int) or self.n < 2**64:
            raise InvalidInput("n must be an integer of at least 64 bits")
        # s_i lives in Z_{n*m} and m < n/4
        if not isinstance(self.s_i, int) or not 0 <= self.s_i < self.n * self.n:
            raise InvalidInput(f"key share of trustee {self.index} is out of range")

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "n": _hex(self.n), "s_i": _hex(self.s_i)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyShare:
        if not isinstance(data, Mapping):
            raise InvalidInput("a key share must be a JSON object")
        return cls(
            index=_parse_int(data.get("index"), "index"),
            s_i=_parse_hex(data.get("s_i"), "s_i"),
            n=_parse_hex(data.get("n"), "n"),
        )


def check_key_share(public_key: ThresholdPublicKey, share: KeyShare) -> None:
    """Raise VerificationError unless v^(Delta*s_i) is trustee i's verification key.

    A trustee runs this once when it receives its share from the dealer.
    """
    _check_index(public_key, share.index)
    if share.n != public_key.n:
        raise VerificationError(f"key share of trustee {share.index} is for another key")
    expected = public_key.verification_keys[share.index - 1]
    if gmpy2.powmod(public_key.v, public_key.delta * share.s_i, public_key.nsquare) != expected:
        raise VerificationError(
            f"key share of trustee {share.index} does not match its verification key"
        )


def deal(
    n_bits: int,
    threshold: int,
    parties: int,
    progress: Progress | None = None,
    primes: tuple[int, int] | None = None,
    *,
    allow_insecure: bool = False,
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Trusted-dealer key generation: a t-of-l threshold Paillier key of ``n_bits`` bits.

    Generates two safe primes of ``n_bits/2`` bits (or uses ``primes``), shares d as
    described in the module docstring, and before returning checks that the first and the
    last t trustees each decrypt a random ciphertext correctly. The factors and d are not
    returned; the dealer must forget them. Takes up to half a minute for a 3072-bit key
    (two safe-prime searches, see ``safe_prime``; the self-test adds about a second). Moduli below 2048 bits need
    ``allow_insecure=True`` and are for tests only.
    """
    if not isinstance(n_bits, int) or n_bits % 2 or n_bits < 128:
        raise InvalidInput(f"n_bits must be an even integer of at least 128, got {n_bits}")
    if n_bits < PRODUCTION_MIN_BITS and not allow_insecure:
        raise InvalidInput(
            f"a {n_bits}-bit key is too small for production (at least {PRODUCTION_MIN_BITS} bits; "
            "3072 recommended); allow_insecure=True exists for tests only"
        )
    if not isinstance(parties, int) or not 1 <= parties <= MAX_PARTIES:
        raise InvalidInput(f"parties must be between 1 and {MAX_PARTIES}, got {parties}")
    if not isinstance(threshold, int) or not 1 <= threshold <= parties:
        raise InvalidInput(f"threshold {threshold} must be between 1 and {parties} parties")

    half = n_bits // 2
    if primes is None:
        if progress is not None:
            progress(f"safe prime 1 of 2 ({half} bits)")
        p = safe_prime(half, progress)
        q = p
        while q == p:
            if progress is not None:
                progress(f"safe prime 2 of 2 ({half} bits)")
            q = safe_prime(half, progress)
    else:
        p, q = primes
        _check_safe_prime(p, half)
        _check_safe_prime(q, half)
        if p == q:
            raise InvalidInput("the two primes must differ")
    n = p * q
    if n.bit_length() != n_bits:
        raise InvalidInput(f"p*q has {n.bit_length()} bits, expected {n_bits}")
    m = ((p - 1) // 2) * ((q - 1) // 2)
    nm = n * m
    nsquare = n * n
    # d = 0 mod m and d = 1 mod n (gcd(n, m) = 1 because p', q' < p, q are other primes)
    d = m * int(gmpy2.invert(m, n)) % nm
    coefficients = [d] + [secrets.randbelow(nm) for _ in range(threshold - 1)]
    delta = math.factorial(parties)

    while True:
        r = secrets.randbelow(nsquare)
        if _is_unit(r, n):
            break
    v = int(gmpy2.powmod(r, 2, nsquare))

    shares: list[KeyShare] = []
    for i in range(1, parties + 1):
        s_i = 0
        for a in reversed(coefficients):
            s_i = (s_i * i + a) % nm
        shares.append(KeyShare(index=i, s_i=s_i, n=n))
    if progress is not None:
        progress(f"computing {parties} verification keys")
    public_key = ThresholdPublicKey(
        n=n,
        threshold=threshold,
        parties=parties,
        v=v,
        verification_keys=tuple(
            int(gmpy2.powmod(v, delta * s.s_i, nsquare)) for s in shares
        ),
    )
    del d, coefficients, p, q, m, nm

    if progress is not None:
        progress("self-test: decrypting a random ciphertext with two sets of trustees")
    plaintext = secrets.randbelow(n)
    c = int(public_key.phe().raw_encrypt(plaintext))
    for group in (shares[:threshold], shares[-threshold:]):
        got = combine(public_key, c, [decryption_share(public_key, s, c) for s in group])
        if got != plaintext:
            raise VerificationError("dealt key fails its self-test: do not use it, deal again")
    return public_key, shares


# --------------------------------------------------------------------------- shares


@dataclass(frozen=True)
class DecryptionShare:
    """Trustee ``index``'s share c_i = c^(2*Delta*s_i) with its proof (challenge, response)."""

    index: int
    c_i: int
    challenge: int
    response: int

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or isinstance(self.index, bool) or self.index < 1:
            raise InvalidInput(f"trustee index {self.index!r} must be an integer >= 1")
        who = f"decryption share of trustee {self.index}"
        if not isinstance(self.c_i, int) or self.c_i <= 0:
            raise InvalidInput(f"{who} must be a positive integer")
        if not isinstance(self.challenge, int) or not 0 <= self.challenge < 2**CHALLENGE_BITS:
            raise InvalidInput(f"{who} has a challenge outside [0, 2^{CHALLENGE_BITS})")
        if not isinstance(self.response, int) or self.response < 0:
            raise InvalidInput(f"{who} has a negative response")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "c_i": _hex(self.c_i),
            "challenge": _hex(self.challenge),
            "response": _hex(self.response),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecryptionShare:
        if not isinstance(data, Mapping):
            raise InvalidInput("a decryption share must be a JSON object")
        return cls(
            index=_parse_int(data.get("index"), "index"),
            c_i=_parse_hex(data.get("c_i"), "c_i"),
            challenge=_parse_hex(data.get("challenge"), "challenge"),
            response=_parse_hex(data.get("response"), "response"),
        )


def _check_index(public_key: ThresholdPublicKey, index: int) -> None:
    if not 1 <= index <= public_key.parties:
        raise InvalidInput(
            f"trustee index {index} is out of range: this key has trustees 1..{public_key.parties}"
        )


def _check_ciphertext(public_key: ThresholdPublicKey, c: int) -> None:
    if not isinstance(c, int) or not 0 < c < public_key.nsquare:
        raise InvalidInput("ciphertext must be an integer with 0 < c < n^2")
    if gmpy2.gcd(c, public_key.n) != 1:
        raise InvalidInput("ciphertext is not a unit mod n^2 (shares a factor with n)")


def _response_bits(public_key: ThresholdPublicKey) -> int:
    # Bits of the prover's random exponent r. The witness x = Delta*s_i is below
    # Delta*n*m < Delta*n^2 (m itself is secret) and e < 2^256, so r exceeds e*x by a
    # factor of at least 2^128 and z = r + e*x reveals nothing about x (Shoup 2000, s. 3).
    return (public_key.delta * public_key.nsquare).bit_length() + CHALLENGE_BITS + HIDING_BITS


def _challenge(
    public_key: ThresholdPublicKey, index: int, c: int, c_i: int, a: int, b: int
) -> int:
    width = (public_key.nsquare.bit_length() + 7) // 8
    h = hashlib.sha256()
    h.update(len(PROOF_TAG).to_bytes(2, "big") + PROOF_TAG)
    h.update(index.to_bytes(4, "big"))
    h.update(public_key.n.to_bytes(width, "big"))
    v_i = public_key.verification_keys[index - 1]
    for x in (c, public_key.v, v_i, c_i, a, b):
        h.update(int(x).to_bytes(width, "big"))
    return int.from_bytes(h.digest(), "big")


def decryption_share(
    public_key: ThresholdPublicKey, share: KeyShare, c: int
) -> DecryptionShare:
    """Trustee ``share.index``'s decryption share of ``c`` with its proof of correctness.

    Costs three exponentiations mod n^2 with exponents of about 2|n| bits (the share and
    the two proof commitments). The caller (a trustee) decides *whether* to decrypt c;
    this function only computes.
    """
    _check_index(public_key, share.index)
    if share.n != public_key.n:
        raise InvalidInput(f"key share of trustee {share.index} belongs to another key")
    _check_ciphertext(public_key, c)
    nsquare = gmpy2.mpz(public_key.nsquare)
    witness = public_key.delta * share.s_i
    c_i = int(gmpy2.powmod(c, 2 * witness, nsquare))
    c4 = gmpy2.powmod(c, 4, nsquare)
    r = secrets.randbits(_response_bits(public_key))
    a = int(gmpy2.powmod(c4, r, nsquare))
    b = int(gmpy2.powmod(public_key.v, r, nsquare))
    e = _challenge(public_key, share.index, c, c_i, a, b)
    return DecryptionShare(index=share.index, c_i=c_i, challenge=e, response=r + e * witness)


def verify_share(public_key: ThresholdPublicKey, c: int, share: DecryptionShare) -> None:
    """Raise VerificationError unless ``share`` is trustee ``share.index``'s share of ``c``.

    Checks that c_i is in Z*_{n^2} and the Chaum-Pedersen proof that
    log_{c^4}(c_i^2) = log_v(v_i): recomputes (c^4)^z * (c_i^2)^-e and v^z * v_i^-e and
    compares the hash with the challenge.
    """
    _check_index(public_key, share.index)
    _check_ciphertext(public_key, c)
    who = f"decryption share of trustee {share.index}"
    n = public_key.n
    nsquare = gmpy2.mpz(public_key.nsquare)
    if not _is_unit(share.c_i, n):
        raise VerificationError(f"{who} is not in Z*_{{n^2}}: it must be a unit below n^2")
    # z = r + e*x < 2^bits + 2^(bits - 128), so an honest response has at most bits + 1 bits
    if share.response.bit_length() > _response_bits(public_key) + 1:
        raise VerificationError(f"{who} has a response too large for this key's proof")
    e = share.challenge
    c4 = gmpy2.powmod(c, 4, nsquare)
    ci2 = gmpy2.powmod(share.c_i, 2, nsquare)
    v_i = public_key.verification_keys[share.index - 1]
    a = gmpy2.powmod(c4, share.response, nsquare) * gmpy2.powmod(ci2, -e, nsquare) % nsquare
    b = gmpy2.powmod(public_key.v, share.response, nsquare) * gmpy2.powmod(v_i, -e, nsquare)
    b = b % nsquare
    if _challenge(public_key, share.index, c, share.c_i, int(a), int(b)) != e:
        raise VerificationError(
            f"{who} fails its proof: it is not c^(2*Delta*s_{share.index}) for this "
            "ciphertext and key; ask that trustee again or use another trustee"
        )


def _lagrange_times_delta(delta: int, index: int, indices: Sequence[int]) -> int:
    num = delta
    den = 1
    for j in indices:
        if j != index:
            num *= -j
            den *= index - j
    # Delta = l! is divisible by every product of index differences, so this is exact.
    return num // den


def combine(
    public_key: ThresholdPublicKey,
    c: int,
    shares: Sequence[DecryptionShare],
    *,
    verify: bool = True,
) -> int:
    """The plaintext of ``c`` (in [0, n)) from at least t decryption shares.

    With ``verify=True`` (the default) every given share is checked first, and a bad one
    raises VerificationError naming its trustee. The first t shares are combined.

    Without verification a share that is not a unit of Z*_{n^2} is still refused and named,
    but its gcd with n is only taken once the combination has failed, which it always does
    for such a share: its exponent 2*lambda_i is never 0 (the indices are distinct), so if
    the exponent is positive every prime of n that divides c_i divides the product mod n^2,
    which then is not 1 mod n; if negative, c_i has no inverse mod n^2 and the power fails.
    """
    _check_ciphertext(public_key, c)
    seen: set[int] = set()
    for s in shares:
        if not isinstance(s, DecryptionShare):
            raise InvalidInput("combine takes DecryptionShare objects")
        if s.index in seen:
            raise InvalidInput(
                f"duplicate decryption share from trustee {s.index}: each trustee counts once"
            )
        seen.add(s.index)
        _check_index(public_key, s.index)
    t = public_key.threshold
    if len(shares) < t:
        raise InvalidInput(f"need {t} shares, got {len(shares)}: ask more trustees")
    if verify:
        for s in shares:
            verify_share(public_key, c, s)
    used = list(shares[:t])
    indices = [s.index for s in used]
    n = gmpy2.mpz(public_key.n)
    nsquare = gmpy2.mpz(public_key.nsquare)
    delta = public_key.delta
    acc = gmpy2.mpz(1)
    # A share is positive (DecryptionShare); one of n^2 or more is named below with the rest.
    combined = all(s.c_i < nsquare for s in used)
    if combined:
        try:
            for s in used:
                lam = _lagrange_times_delta(delta, s.index, indices)
                acc = acc * gmpy2.powmod(s.c_i, 2 * lam, nsquare) % nsquare
            combined = acc % n == 1
        except ValueError:  # gmpy2: a negative power of a share with no inverse mod n^2
            combined = False
    if not combined:
        # No share's gcd with n is taken unless the combination failed (see the docstring);
        # then the first share that is not a unit below n^2 is named.
        for s in used:
            if not _is_unit(s.c_i, public_key.n):
                raise VerificationError(
                    f"decryption share of trustee {s.index} is not in Z*_{{n^2}}: it must be a unit below n^2"
                )
        raise VerificationError(
            "the shares do not combine to a decryption of this ciphertext: "
            "some share is wrong; combine again with verify=True to find it"
        )
    l_value = (acc - 1) // n
    return int(l_value * gmpy2.invert(4 * delta * delta, n) % n)


# --------------------------------------------------------------------------- key files


def key_file_dict(
    public_key: ThresholdPublicKey,
    shares: Sequence[KeyShare],
    factors: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A JSON-ready test-only bundle: the public key, every share, optionally p and q."""
    data: dict[str, Any] = {
        "TEST_ONLY": TEST_ONLY_WARNING,
        "n_bits": public_key.n.bit_length(),
        "public_key": public_key.to_dict(),
        "shares": [s.to_dict() for s in shares],
    }
    if factors is not None:
        data["factors"] = {"p": _hex(factors[0]), "q": _hex(factors[1])}
    return data


def parse_key_file(
    data: Mapping[str, Any], *, check_shares: bool = True
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Read a test-only bundle written by ``key_file_dict``.

    Refuses anything without the TEST_ONLY marker: a file holding every share is a
    test fixture by definition. With ``check_shares`` each share is checked against its
    verification key (one exponentiation each).
    """
    if not isinstance(data, Mapping) or data.get("TEST_ONLY") != TEST_ONLY_WARNING:
        raise InvalidInput("not a test-only key file: the TEST_ONLY marker is missing")
    public_key = ThresholdPublicKey.from_dict(data.get("public_key", {}))
    raw_shares = data.get("shares")
    if not isinstance(raw_shares, list):
        raise InvalidInput("shares must be a list")
    shares = [KeyShare.from_dict(s) for s in raw_shares]
    if sorted(s.index for s in shares) != list(range(1, len(shares) + 1)):
        raise InvalidInput("shares must be numbered 1..k without gaps or duplicates")
    for s in shares:
        if check_shares:
            check_key_share(public_key, s)
        elif s.n != public_key.n:
            raise InvalidInput(f"key share of trustee {s.index} is for another key")
    return public_key, shares


def parse_key_factors(data: Mapping[str, Any]) -> tuple[int, int]:
    """The primes p, q stored in a test-only bundle (for tests that need phe's private key)."""
    if not isinstance(data, Mapping) or data.get("TEST_ONLY") != TEST_ONLY_WARNING:
        raise InvalidInput("not a test-only key file: the TEST_ONLY marker is missing")
    factors = data.get("factors")
    if not isinstance(factors, Mapping):
        raise InvalidInput("the test-only key file stores no factors (p, q)")
    return _parse_hex(factors.get("p"), "p"), _parse_hex(factors.get("q"), "q")
