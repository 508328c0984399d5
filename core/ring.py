"""Linkable ring signatures over members' BLS12-381 G1 reporting keys, in offline/online form.

Follows docs/reports.md ("Ring signature"). A member's reporting key is x in [1, q), its
public key P = x·G (G the standard G1 generator). For a subject tag S the link base is
B_S = hash_to_curve(b"link/" ‖ S) under `LINK_DST`, and the link tag is I = x·B_S: the same
member reporting the same subject always shows the same I (distinct reporters = distinct
tags; only the original reporter can retract), while tags of one member for two subjects
are unlinkable under DDH in G1 (B_S and B_S' are independent random-oracle points).

A signature has two halves.

Coupon (offline, independent of subject and report; `make_coupon`). The signer, member s
of the ring (P_0..P_{n-1}) named by the membership change `ring_change` of the ledger with
genesis hash `genesis`, picks ρ in [1, q) and commits to its own key,

    Cx = x·G + ρ·H        (H = hash_to_curve(b"blinding", BLINDING_DST)),

then proves with a Cramer–Damgård–Schoenmakers 1-of-n OR proof (CRYPTO '94) of Schnorr
proofs that D_j = Cx − P_j = ρ·H for some j: for every j, A_j, c_j, w_j with

    w_j·H == A_j + c_j·(Cx − P_j)    and    Σ c_j == Hash(COUPON_TAG, version, genesis,
                                               ring_change, n, P_0..P_{n-1}, Cx, A_0..A_{n-1}).

Branch s is run honestly (A_s = k·H, w_s = k + c_s·ρ), the others simulated; the proof is
perfectly witness-indistinguishable and Cx perfectly hiding, so the coupon says nothing
about s.

Online (per report; `ring_sign`). Hedged nonces a, b: the two halves of SHAKE-256(NONCE_TAG,
x, ρ, subject, message, SHA-512(coupon), fresh random), each mod q; t1 = a·G + b·H,
I = x·B_S, t2 = a·B_S,

    e = Hash(ONLINE_TAG, version, genesis, ring_change, S, message, coupon bytes, I, t1, t2),
    z1 = a + e·x,    z2 = b + e·ρ.

The verifier recomputes B_S itself (never from the wire) and checks

    z1·G + z2·H == t1 + e·Cx    and    z1·B_S == t2 + e·I,

with Cx and I in G1 (subgroup-checked) and I not the identity, and the coupon's ring proof.
Soundness: rewinding the online proof yields (x, ρ) with Cx = x·G + ρ·H and I = x·B_S;
rewinding the coupon yields j and ρ' with Cx = x_j·G + ρ'·H. Since nobody knows log_G H,
Pedersen binding forces x = x_j: I is the link tag of ring member j, who alone could have
signed. Online cost: one hash to curve and four multiplications; the verifier checks n + 2
equations (against 2n for the first form, which proved n Chaum–Pedersen branches at once).
Hashes are the length-prefixed SHA-512-mod-q of `core.proofs.fiat_shamir_challenge`.

A coupon is used once (`core.coupons.CouponPool`): its Cx on two reports would link them,
and the ledger refuses a Cx it has seen. A coupon is void when the ring changes (its hash
binds the ring and `ring_change`, which must name the latest membership change).

Wire form, `VERSION` 2 (`RingSignature.to_bytes`): version (1 byte), I, t1, t2, z1 (32),
z2 (32), then the coupon: n (2 bytes, big-endian), Cx, A_0..A_{n-1}, c_0..c_{n-1} (32 each),
w_0..w_{n-1} (32 each). Every point is uncompressed (96 bytes, x ‖ y big-endian, see
`core.group`), because decoding takes no square root: about 2 µs with the on-curve test for
the transient points (A_j, t1, t2), against 26 µs compressed, and ~65 µs with the subgroup
check for the persistent ones (I, Cx), against ~85 µs. Where a persistent point is named
(the link tag a ledger counts, the Cx it records), it is named by its 48-byte compressed
form, computed from x and the sign of y (`core.group.compress_xy`). Scalars are big-endian
and canonical (below q). Version 1 (the one-shot form with 2n Chaum–Pedersen equations) is
retired: no ledger carries it.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidInput, VerificationError
from core.group import ORDER, POINT_BYTES, XY_BYTES, Group, Point, compress_xy, default_group
from core.proofs import SCALAR_BYTES, BatchTerms, ScalarSource, batch_coefficients, batch_equation_holds, decode_items

__all__ = [
    "BLINDING_DST",
    "COUPON_TAG",
    "LINK_DST",
    "MAX_RING_SIZE",
    "NONCE_TAG",
    "ONLINE_TAG",
    "SUBJECT_TAG_BYTES",
    "VERSION",
    "Coupon",
    "CouponProof",
    "RingContext",
    "RingItem",
    "RingSignature",
    "batch_ring_verify",
    "ring_batch_terms",
    "blinding_base",
    "link_base",
    "link_tag",
    "make_coupon",
    "public_key",
    "reporting_keypair",
    "ring_context",
    "ring_sign",
    "ring_verify",
]

#: Encoding version, the first byte of every signature (and a transcript field).
VERSION = 2
#: Protocol tag of the coupon's ring proof.
COUPON_TAG = b"CANDOR-V1-RING-COUPON"
#: Protocol tag of the online proof.
ONLINE_TAG = b"CANDOR-V1-RING-ONLINE"
#: Domain of the hedged nonces (never a transcript: nonces are secret).
NONCE_TAG = b"CANDOR-V1-RING-NONCE"
#: RFC 9380 domain-separation tag of the link bases B_S (unchanged since the first form,
#: so a member's link tag on a subject is the same in both).
LINK_DST = b"CANDOR-V1-LINK"
#: RFC 9380 domain-separation tag of the coupon's blinding generator H.
BLINDING_DST = b"CANDOR-V1-RING-BLINDING"
#: Largest ring accepted (a signature is 160 bytes per member).
MAX_RING_SIZE = 4096
SUBJECT_TAG_BYTES = 32
GENESIS_HASH_BYTES = 32

_HEAD = 1 + 3 * XY_BYTES + 2 * SCALAR_BYTES  # version, I, t1, t2, z1, z2
_BRANCH = XY_BYTES + 2 * SCALAR_BYTES  # A_j, c_j, w_j
_LINK_TAG = slice(1, 1 + XY_BYTES)  # I, right after the version
_COUPON = slice(_HEAD + 2, _HEAD + 2 + XY_BYTES)  # Cx, right after the branch count


@functools.lru_cache(maxsize=4096)
def _compressed(xy: bytes) -> bytes:
    """`compress_xy`, remembered for the last 4,096 points (under 1 MB): the ledger asks for
    an entry's coupon commitment and link tag more than once (its batch's read-ahead, the
    coupon it spends, the link it records), and each answer is a pure function of 96 bytes."""
    return compress_xy(xy)


def _random_key() -> int:
    return 1 + secrets.randbelow(ORDER - 1)


def _check_secret(x: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x < ORDER:
        raise InvalidInput("reporting key must be an integer in [1, q)")
    return x


def public_key(x: int, group: Group | None = None) -> bytes:
    """P = x·G, compressed (48 bytes)."""
    group = group or default_group()
    return group.encode(group.mul(group.generator(), _check_secret(x)))


def reporting_keypair(group: Group | None = None) -> tuple[int, bytes]:
    """A fresh reporting key: (secret x uniform in [1, q), public key x·G as 48 bytes)."""
    x = _random_key()
    return x, public_key(x, group)


def _check_subject(subject_tag: bytes) -> bytes:
    if not isinstance(subject_tag, bytes) or len(subject_tag) != SUBJECT_TAG_BYTES:
        raise InvalidInput(f"subject tag must be {SUBJECT_TAG_BYTES} bytes (HMAC-SHA256)")
    return subject_tag


@functools.lru_cache(maxsize=4096)
def link_base(group: Group, subject_tag: bytes) -> Point:
    """B_S = hash_to_curve(b"link/" ‖ subject_tag, LINK_DST); cached, subjects recur."""
    return group.hash_to_curve(b"link/" + _check_subject(subject_tag), LINK_DST)


@functools.cache
def blinding_base(group: Group) -> Point:
    """H = hash_to_curve(b"blinding", BLINDING_DST): nobody knows log_G H."""
    return group.hash_to_curve(b"blinding", BLINDING_DST)


def link_tag(x: int, subject_tag: bytes, group: Group | None = None) -> bytes:
    """The link tag I = x·B_S a member with key x puts on its reports about subject S."""
    group = group or default_group()
    return group.encode(group.mul(link_base(group, subject_tag), _check_secret(x)))


@functools.lru_cache(maxsize=8192)
def _member_key(group: Group, key: bytes) -> Point:
    """Decode (subgroup-checked) one ring member's key once; rings repeat across reports."""
    point = group.decode(key)
    if group.is_identity(point):
        raise InvalidInput("a reporting public key is the identity point")
    return point


def _scalar_ok(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value < ORDER


def _absorb(h: hashlib._Hash, *parts: bytes) -> None:
    """Feed length-prefixed fields, exactly as `core.proofs.fiat_shamir_challenge` does (in
    one update: a call per field costs more than hashing it)."""
    h.update(b"".join(b for part in parts for b in (len(part).to_bytes(4, "big"), part)))


def _to_scalar(h: hashlib._Hash) -> int:
    return int.from_bytes(h.digest(), "big") % ORDER


@dataclass(frozen=True)
class RingContext:
    """What a coupon is bound to: the ledger (genesis hash), the membership change that
    defines the ring (`ring_change`, an entry index) and the ring's keys in canonical
    (admission) order. A verifier builds it from its own ledger state, never from the wire."""

    genesis_hash: bytes
    ring_change: int
    ring: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.genesis_hash, bytes) or len(self.genesis_hash) != GENESIS_HASH_BYTES:
            raise InvalidInput(f"genesis hash must be {GENESIS_HASH_BYTES} bytes")
        if isinstance(self.ring_change, bool) or not isinstance(self.ring_change, int) \
                or not 0 <= self.ring_change < 2**63:
            raise InvalidInput("ring_change must be a ledger index (a non-negative integer)")
        if not isinstance(self.ring, (tuple, list)):
            raise InvalidInput("ring must be a sequence of 48-byte public keys")
        object.__setattr__(self, "ring", tuple(self.ring))
        if not 1 <= len(self.ring) <= MAX_RING_SIZE:
            raise InvalidInput(f"ring has {len(self.ring)} members; it needs 1..{MAX_RING_SIZE}")
        seen: dict[bytes, int] = {}
        for i, key in enumerate(self.ring):
            if not isinstance(key, bytes) or len(key) != POINT_BYTES:
                raise InvalidInput(f"ring member {i} key must be {POINT_BYTES} bytes")
            if key in seen:
                raise InvalidInput(f"ring lists the same key at positions {seen[key]} and {i}")
            seen[key] = i

    @property
    def n(self) -> int:
        return len(self.ring)


@functools.lru_cache(maxsize=64)
def ring_context(genesis_hash: bytes, ring_change: int, ring: tuple[bytes, ...]) -> RingContext:
    """`RingContext(genesis_hash, ring_change, ring)`, made once per ring (verifiers ask for
    the same one for every report until the next membership change)."""
    return RingContext(genesis_hash, ring_change, ring)


@functools.lru_cache(maxsize=64)
def _ring_points(group: Group, ring: tuple[bytes, ...]) -> tuple[Point, ...]:
    """Decode and check a ring once (rings repeat across reports); says which member is bad."""
    points = []
    for i, key in enumerate(ring):
        try:
            points.append(_member_key(group, key))
        except InvalidInput as ex:
            raise InvalidInput(f"ring member {i} key is not a valid public key: {ex}") from None
    return tuple(points)


@functools.lru_cache(maxsize=64)
def _coupon_prefix(context: RingContext) -> hashlib._Hash:
    """The coupon transcript up to the ring (shared by every coupon of a ring; copy it)."""
    h = hashlib.sha512()
    _absorb(h, COUPON_TAG, bytes([VERSION]), context.genesis_hash, context.ring_change.to_bytes(8, "big"),
            context.n.to_bytes(2, "big"), *context.ring)
    return h


def _coupon_challenge(context: RingContext, commitment: bytes, a: Sequence[bytes]) -> int:
    h = _coupon_prefix(context).copy()
    _absorb(h, commitment, *a)
    return _to_scalar(h)


def _online_challenge(context: RingContext, subject_tag: bytes, message: bytes, coupon: bytes,
                      tag: bytes, t1: bytes, t2: bytes) -> int:
    h = hashlib.sha512()
    _absorb(h, ONLINE_TAG, bytes([VERSION]), context.genesis_hash, context.ring_change.to_bytes(8, "big"),
            subject_tag, message, coupon, tag, t1, t2)
    return _to_scalar(h)


def _hedged(label: bytes, x: int, rho: int, *parts: bytes) -> int:
    """A secret nonce from the secrets, the public inputs and fresh randomness (the last
    of `parts`): unpredictable while either the secrets or the randomness are, and never
    repeated across two different messages even if the random source repeats."""
    h = hashlib.sha512()
    _absorb(h, NONCE_TAG, label, x.to_bytes(SCALAR_BYTES, "big"), rho.to_bytes(SCALAR_BYTES, "big"), *parts)
    value = _to_scalar(h)
    return value or 1  # 0 happens with probability 2^-255


def _hedged_pair(x: int, rho: int, *parts: bytes) -> tuple[int, int]:
    """The online nonces a, b: like `_hedged`, both from one SHAKE-256 output of 128 bytes
    (two 512-bit halves, each reduced mod q: within 2^-256 of uniform)."""
    h = hashlib.shake_256()
    h.update(b"".join(b for part in (NONCE_TAG, b"ab", x.to_bytes(SCALAR_BYTES, "big"),
                                      rho.to_bytes(SCALAR_BYTES, "big"), *parts)
                      for b in (len(part).to_bytes(4, "big"), part)))
    out = h.digest(128)
    return int.from_bytes(out[:64], "big") % ORDER or 1, int.from_bytes(out[64:], "big") % ORDER or 1


def _fresh(rng: ScalarSource | None) -> bytes:
    return (rng() % ORDER).to_bytes(SCALAR_BYTES, "big") if rng else secrets.token_bytes(SCALAR_BYTES)


@dataclass(frozen=True)
class CouponProof:
    """The public half of a coupon: Cx (uncompressed) and the ring proof's A_j, c_j, w_j."""

    cx: bytes
    a: tuple[bytes, ...]
    c: tuple[int, ...]
    w: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.cx, bytes) or len(self.cx) != XY_BYTES:
            raise InvalidInput(f"ring signature coupon commitment Cx must be a {XY_BYTES}-byte uncompressed point")
        for field in ("a", "c", "w"):
            value = getattr(self, field)
            if not isinstance(value, (tuple, list)):
                raise InvalidInput(f"ring signature coupon field {field} must be a sequence")
            object.__setattr__(self, field, tuple(value))
        n = len(self.a)
        if not 1 <= n <= MAX_RING_SIZE:
            raise InvalidInput(f"ring signature coupon has {n} branches; it needs 1..{MAX_RING_SIZE}")
        if not len(self.c) == len(self.w) == n:
            raise InvalidInput(f"ring signature coupon has {n} commitments, {len(self.c)} challenges and {len(self.w)} "
                               "responses; all must equal the ring size")
        for i, p in enumerate(self.a):
            if not isinstance(p, bytes) or len(p) != XY_BYTES:
                raise InvalidInput(f"ring signature coupon A[{i}] must be a {XY_BYTES}-byte uncompressed point")
        for name, scalars in (("challenge c", self.c), ("response w", self.w)):
            for i, s in enumerate(scalars):
                if not _scalar_ok(s):
                    raise InvalidInput(f"ring signature coupon {name}[{i}] is not a canonical scalar "
                                       "(an integer in [0, q))")

    @property
    def n(self) -> int:
        return len(self.a)

    @functools.cached_property
    def commitment(self) -> bytes:
        """Cx, compressed: the name under which the ledger records the coupon as spent."""
        return compress_xy(self.cx)

    @functools.cached_property
    def digest(self) -> bytes:
        """SHA-512 of `encoded`: what the signer's nonces hash (computed offline)."""
        return hashlib.sha512(self.encoded).digest()

    @functools.cached_property
    def encoded(self) -> bytes:
        """n (2 bytes) ‖ Cx ‖ A_0.. ‖ c_0.. ‖ w_0..: the coupon part of the wire form."""
        return b"".join((self.n.to_bytes(2, "big"), self.cx, *self.a,
                         *(c.to_bytes(SCALAR_BYTES, "big") for c in self.c),
                         *(w.to_bytes(SCALAR_BYTES, "big") for w in self.w)))

    @classmethod
    def from_bytes(cls, data: bytes) -> CouponProof:
        if not isinstance(data, bytes) or len(data) < 2:
            raise InvalidInput("ring signature coupon is shorter than its 2-byte branch count")
        n = int.from_bytes(data[:2], "big")
        if not 1 <= n <= MAX_RING_SIZE:
            raise InvalidInput(f"ring signature coupon claims {n} branches; it needs 1..{MAX_RING_SIZE}")
        if len(data) != 2 + XY_BYTES + n * _BRANCH:
            raise InvalidInput(f"ring signature coupon is {len(data)} bytes, expected {2 + XY_BYTES + n * _BRANCH} "
                               f"for {n} branches")
        pos = 2 + XY_BYTES
        a = tuple(data[pos + i * XY_BYTES: pos + (i + 1) * XY_BYTES] for i in range(n))
        pos += n * XY_BYTES
        c = tuple(int.from_bytes(data[pos + i * SCALAR_BYTES: pos + (i + 1) * SCALAR_BYTES], "big")
                  for i in range(n))
        pos += n * SCALAR_BYTES
        w = tuple(int.from_bytes(data[pos + i * SCALAR_BYTES: pos + (i + 1) * SCALAR_BYTES], "big")
                  for i in range(n))
        proof = cls(data[2: 2 + XY_BYTES], a, c, w)
        proof.__dict__["encoded"] = data  # what was hashed is what was received
        return proof


@dataclass(frozen=True, repr=False, eq=False)
class Coupon:
    """A member's offline half of one ring signature: the context it is bound to, the
    public ring proof, and the secrets x and ρ. Use it for one signature only (see
    `core.coupons`); never log, serialise or compare it."""

    context: RingContext
    proof: CouponProof
    x: int
    rho: int

    def __repr__(self) -> str:
        return f"<Coupon ring_change={self.context.ring_change} n={self.context.n}>"

    @property
    def commitment(self) -> bytes:
        """Cx: what the ledger records to refuse a second use."""
        return self.proof.commitment


@dataclass(frozen=True)
class RingSignature:
    """A ring signature: the online proof (I, t1, t2, z1, z2) and the coupon it spends."""

    tag: bytes
    t1: bytes
    t2: bytes
    z1: int
    z2: int
    coupon: CouponProof

    def __post_init__(self) -> None:
        for name in ("tag", "t1", "t2"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != XY_BYTES:
                raise InvalidInput(f"ring signature {name} must be a {XY_BYTES}-byte uncompressed point")
        for name in ("z1", "z2"):
            if not _scalar_ok(getattr(self, name)):
                raise InvalidInput(f"ring signature {name} is not a canonical scalar (an integer in [0, q))")
        if not isinstance(self.coupon, CouponProof):
            raise InvalidInput("ring signature coupon must be a CouponProof")

    @property
    def n(self) -> int:
        """The number of ring branches, which must equal the ring size."""
        return self.coupon.n

    @property
    def link_tag(self) -> bytes:
        """I, compressed (48 bytes): what ledgers record and compare."""
        return compress_xy(self.tag)

    def to_bytes(self) -> bytes:
        return b"".join((bytes([VERSION]), self.tag, self.t1, self.t2,
                         self.z1.to_bytes(SCALAR_BYTES, "big"), self.z2.to_bytes(SCALAR_BYTES, "big"),
                         self.coupon.encoded))

    @staticmethod
    def size(n: int) -> int:
        """Encoded size of a signature over a ring of n members."""
        return _HEAD + 2 + XY_BYTES + n * _BRANCH

    @classmethod
    def _framed(cls, data: bytes) -> None:
        if not isinstance(data, bytes) or len(data) < _HEAD + 2:
            raise InvalidInput("ring signature is shorter than its fixed header")
        if data[0] != VERSION:
            raise InvalidInput(f"ring signature version {data[0]} is not supported; this ledger uses "
                               f"version {VERSION} (offline/online coupons)")
        n = data[_HEAD] << 8 | data[_HEAD + 1]
        if not 1 <= n <= MAX_RING_SIZE:
            raise InvalidInput(f"ring signature claims {n} branches; it needs 1..{MAX_RING_SIZE}")
        if len(data) != cls.size(n):
            raise InvalidInput(f"ring signature is {len(data)} bytes, expected {cls.size(n)} for {n} branches")

    @classmethod
    def link_tag_of(cls, data: bytes) -> bytes:
        """The link tag (compressed) of an encoded signature, without decoding the rest
        (framing checks and a compression from x and y): for callers that count reporters
        of signatures already verified."""
        cls._framed(data)
        return _compressed(data[_LINK_TAG])

    @classmethod
    def commitment_of(cls, data: bytes) -> bytes:
        """The coupon commitment Cx (compressed) of an encoded signature, without decoding
        the rest: what the ledger records so that a coupon is spent once."""
        cls._framed(data)
        return _compressed(data[_COUPON])

    @classmethod
    def tags_of(cls, data: bytes) -> tuple[bytes, bytes]:
        """(`link_tag_of`, `commitment_of`) with one framing check: what the ledger's sequencer
        records of every report it appends."""
        cls._framed(data)
        return _compressed(data[_LINK_TAG]), _compressed(data[_COUPON])

    @classmethod
    def from_bytes(cls, data: bytes) -> RingSignature:
        cls._framed(data)
        tag, t1, t2 = (data[1 + i * XY_BYTES: 1 + (i + 1) * XY_BYTES] for i in range(3))
        pos = 1 + 3 * XY_BYTES
        z1 = int.from_bytes(data[pos: pos + SCALAR_BYTES], "big")
        z2 = int.from_bytes(data[pos + SCALAR_BYTES: _HEAD], "big")
        return cls(tag, t1, t2, z1, z2, CouponProof.from_bytes(data[_HEAD:]))


# --------------------------------------------------------------------------- signing


def make_coupon(group: Group, context: RingContext, x: int, rng: ScalarSource | None = None) -> Coupon:
    """The offline half of a signature for member key x in `context` (about n scalar
    multiplications). InvalidInput if x's public key is not in the ring (a revoked or
    never-admitted member cannot sign). `rng` replaces the CSPRNG only in the vector
    generator."""
    _check_secret(x)
    if not isinstance(context, RingContext):
        raise InvalidInput("make_coupon needs a RingContext (genesis hash, ring_change, ring)")
    own = public_key(x, group)
    try:
        s = context.ring.index(own)
    except ValueError:
        raise InvalidInput("your reporting public key is not in the ring: only admitted, unrevoked "
                           "members can sign") from None
    return _make_coupon(group, context, x, s, rng)


def _make_coupon(group: Group, context: RingContext, x: int, s: int, rng: ScalarSource | None) -> Coupon:
    """The CDS prover without the membership check (tests use it to play a forger)."""
    points = _ring_points(group, context.ring)
    h = blinding_base(group)
    draw = rng or (lambda: secrets.randbelow(ORDER))
    rho = _hedged(b"rho", x, 0, _fresh(rng))
    k = _hedged(b"k", x, rho, _fresh(rng))
    cx = group.add(group.mul(group.generator(), x), group.mul(h, rho))
    cx_bytes = group.encode_xy(cx)
    n = context.n
    a: list[bytes] = [b""] * n
    c = [0] * n
    w = [0] * n
    for j in range(n):
        if j == s:
            continue
        c[j], w[j] = draw() % ORDER, draw() % ORDER
        # Simulated branch: A_j = w_j·H − c_j·(Cx − P_j).
        a[j] = group.encode_xy(group.msm([h, group.sub(cx, points[j])], [w[j], -c[j]]))
    a[s] = group.encode_xy(group.mul(h, k))
    challenge = _coupon_challenge(context, cx_bytes, a)
    c[s] = (challenge - sum(c)) % ORDER
    w[s] = (k + c[s] * rho) % ORDER
    proof = CouponProof(cx_bytes, tuple(a), tuple(c), tuple(w))
    proof.digest  # noqa: B018 - computed now, offline, not in the online half
    return Coupon(context, proof, x, rho)


def ring_sign(group: Group, coupon: Coupon, subject_tag: bytes, message: bytes,
              rng: ScalarSource | None = None) -> RingSignature:
    """Sign `message` linkably for `subject_tag`, spending `coupon` (the online half: one
    hash to curve and four scalar multiplications). Use each coupon once: take it from a
    `core.coupons.CouponPool`, which marks it spent first. `rng` replaces the fresh
    randomness only in the vector generator; the nonces stay hedged with x, ρ and the
    message either way."""
    if not isinstance(coupon, Coupon):
        raise InvalidInput("ring_sign needs a Coupon (see make_coupon)")
    _check_subject(subject_tag)
    if not isinstance(message, bytes):
        raise InvalidInput("ring signature message must be bytes")
    x, rho, proof = coupon.x, coupon.rho, coupon.proof
    coupon_bytes = proof.encoded
    a, b = _hedged_pair(x, rho, subject_tag, message, proof.digest, _fresh(rng))
    base = link_base(group, subject_tag)
    t1 = group.encode_xy(group.msm([group.generator(), blinding_base(group)], [a, b]))
    tag = group.encode_xy(group.mul(base, x))
    t2 = group.encode_xy(group.mul(base, a))
    e = _online_challenge(coupon.context, subject_tag, message, coupon_bytes, tag, t1, t2)
    return RingSignature(tag, t1, t2, (a + e * x) % ORDER, (b + e * rho) % ORDER, proof)


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class _Decoded:
    """A signature whose coupon challenges match their hash and whose points decoded.

    Ring keys, Cx and I are in G1 (subgroup-checked); `a_pts`, `t1` and `t2` are only known
    to be on the curve (see `batch_ring_verify` for why that suffices).
    """

    context: RingContext
    ring_points: tuple[Point, ...]
    subject_tag: bytes
    base: Point
    e: int
    cx: Point
    tag: Point
    t1: Point
    t2: Point
    a_pts: tuple[Point, ...]
    sig: RingSignature


def _decode(group: Group, context: RingContext, subject_tag: bytes, message: bytes,
            sig: RingSignature) -> _Decoded:
    """Everything but the group equations; raises VerificationError."""
    if not isinstance(sig, RingSignature):
        raise VerificationError(f"expected a RingSignature, got {type(sig).__name__}")
    if not isinstance(context, RingContext):
        raise VerificationError("ring verification needs a RingContext (genesis hash, ring_change, ring)")
    if sig.n != context.n:
        raise VerificationError(f"ring signature has {sig.n} branches but the ring has {context.n} members")
    if not isinstance(message, bytes):
        raise VerificationError("ring signature message must be bytes")
    try:
        _check_subject(subject_tag)
        points = _ring_points(group, context.ring)
    except InvalidInput as ex:
        raise VerificationError(str(ex)) from None
    coupon = sig.coupon
    if sum(coupon.c) % ORDER != _coupon_challenge(context, coupon.cx, coupon.a):
        raise VerificationError(
            "ring signature coupon challenges do not sum to its Fiat–Shamir hash: it was made for another ring, "
            "membership change or ledger, or it was altered (a coupon is void once the ring changes)"
        )
    if coupon.commitment in context.ring:
        raise VerificationError("ring signature coupon commitment Cx equals a ring member's key "
                                "(ρ = 0 would reveal the signer)")
    try:
        # Cx is recorded by the ledger (a coupon is spent once) and I is compared across
        # reports: both must be in G1, or one coupon or key could show several encodings.
        cx = group.decode_xy(coupon.cx)
    except InvalidInput as ex:
        raise VerificationError(f"ring signature coupon commitment Cx is not a valid G1 point: {ex}") from None
    try:
        tag = group.decode_xy(sig.tag)
    except InvalidInput as ex:
        raise VerificationError(f"ring signature link tag is not a valid point: {ex}") from None
    if group.is_identity(tag):
        raise VerificationError("ring signature link tag is the identity point, which no reporting key yields")

    try:
        t1, t2, *a_pts = group.decode_xy_unchecked_many((sig.t1, sig.t2, *coupon.a))
    except InvalidInput:
        for name, data in (("t1", sig.t1), ("t2", sig.t2), *((f"coupon A[{j}]", p) for j, p in enumerate(coupon.a))):
            try:
                group.decode_xy_unchecked(data)
            except InvalidInput as ex:
                raise VerificationError(f"ring signature {name} is not a valid curve point: {ex}") from None
        raise

    e = _online_challenge(context, subject_tag, message, coupon.encoded, sig.tag, sig.t1, sig.t2)
    return _Decoded(
        context=context, ring_points=points, subject_tag=subject_tag, base=link_base(group, subject_tag), e=e,
        cx=cx, tag=tag, t1=t1, t2=t2, a_pts=tuple(a_pts), sig=sig,
    )


def _equation_terms(group: Group, items: Sequence[_Decoded]) -> BatchTerms:
    """The terms of h·Σ [Σ_j ρ_j·(A_j + c_j·Cx − c_j·P_j − w_j·H) + α·(t1 + e·Cx − z1·G − z2·H)
    + β·(t2 + e·I − z1·B_S)], h the cofactor, with fresh coefficients.

    The transient points (A_j, t1, t2) carry the 128-bit coefficients ρ_j, α, β as they
    are; Cx and I one full scalar each; the fixed bases G, H, each member key P_j and each
    B_S one folded coefficient across the whole batch. So a batch of m signatures over a
    ring of n costs one MSM over m·(n + 4) + n + 2 + (distinct subjects) points.
    """
    points: list[Point] = []
    scalars: list[int] = []
    g_coef = 0
    h_coef = 0
    key_coef: dict[bytes, list[object]] = {}
    base_coef: dict[bytes, list[object]] = {}
    draws = iter(batch_coefficients(sum(item.sig.n + 2 for item in items)))
    for item in items:
        sig, coupon = item.sig, item.sig.coupon
        cx_coef = 0
        ring = item.context.ring
        for j, (c_j, w_j) in enumerate(zip(coupon.c, coupon.w)):
            rho = next(draws)
            points.append(item.a_pts[j])
            scalars.append(rho)
            rc = rho * c_j
            cx_coef += rc
            h_coef -= rho * w_j
            entry = key_coef.get(ring[j])
            if entry is None:
                key_coef[ring[j]] = [item.ring_points[j], -rc]
            else:
                entry[1] = entry[1] - rc  # type: ignore[operator]
        alpha, beta = next(draws), next(draws)
        points += (item.t1, item.t2, item.cx, item.tag)
        scalars += (alpha, beta, cx_coef + alpha * item.e, beta * item.e)
        g_coef -= alpha * sig.z1
        h_coef -= alpha * sig.z2
        entry = base_coef.get(item.subject_tag)
        if entry is None:
            base_coef[item.subject_tag] = [item.base, -beta * sig.z1]
        else:
            entry[1] = entry[1] - beta * sig.z1  # type: ignore[operator]
    points += (group.generator(), blinding_base(group))
    scalars += (g_coef, h_coef)
    for point, coef in (*key_coef.values(), *base_coef.values()):
        points.append(point)
        scalars.append(coef)  # type: ignore[arg-type]
    return points, scalars


def _combined_equation(group: Group, items: Sequence[_Decoded]) -> bool:
    """Whether the batch equation of `items` (`_equation_terms`) holds."""
    return batch_equation_holds(group, _equation_terms(group, items))


def _explain_failure(group: Group, item: _Decoded) -> VerificationError:
    """Say why an item that failed its combined equation is invalid (slow path, bad input only).

    Each equation is checked alone, multiplied by the cofactor as in the batch.
    """
    g, h = group.generator(), blinding_base(group)
    sig, coupon = item.sig, item.sig.coupon

    def holds(residue: Point) -> bool:
        return group.is_identity(group.mul_by_cofactor(residue))

    for j in range(sig.n):
        residue = group.msm([item.a_pts[j], item.cx, item.ring_points[j], h],
                            [1, coupon.c[j], -coupon.c[j], -coupon.w[j]])
        if not holds(residue):
            return VerificationError(f"ring signature coupon branch {j} fails w·H == A + c·(Cx − P) "
                                     f"for ring member {j}")
    if not holds(group.msm([item.t1, item.cx, g, h], [1, item.e, -sig.z1, -sig.z2])):
        return VerificationError("ring signature fails z1·G + z2·H == t1 + e·Cx: the online proof does not "
                                 "open the coupon's commitment")
    if not holds(group.msm([item.t2, item.tag, item.base], [1, item.e, -sig.z1])):
        return VerificationError("ring signature fails z1·B == t2 + e·I: the link tag does not belong to the "
                                 "committed key and this subject")
    return VerificationError("ring signature fails its group equations")


def ring_verify(group: Group, context: RingContext, subject_tag: bytes, message: bytes,
                sig: RingSignature) -> None:
    """Raise VerificationError unless `sig` is a ring signature on `message` by a member of
    the ring in `context`, linkable for `subject_tag`.

    Returns None on success; `sig.link_tag` is then the signer's tag for `subject_tag`. The
    equations are multiplied by the cofactor and combined with random coefficients exactly
    as in `batch_ring_verify`, so that the two always agree on a signature.
    """
    item = _decode(group, context, subject_tag, message, sig)
    if not _combined_equation(group, [item]):
        raise _explain_failure(group, item)


#: One batch item: (ring context, subject tag, signed message, signature).
RingItem = tuple[RingContext, bytes, bytes, RingSignature]


def ring_batch_terms(group: Group, items: Sequence[RingItem]) -> BatchTerms:
    """The terms of `batch_ring_verify`'s batch equation over `items`, with fresh
    coefficients, to be added to another batch equation (`core.proofs.batch_equation_holds`);
    raises VerificationError "item i: ..." for an item that fails before its equations, as
    `batch_ring_verify` does."""
    return _equation_terms(group, decode_items(functools.partial(_decode, group), items))


def batch_ring_verify(group: Group, items: Sequence[RingItem]) -> None:
    """Verify many ring signatures (context, subject_tag, message, sig) in one MSM.

    Raises VerificationError naming the first failing item ("item 7: ..."). Each item's
    coupon challenges are checked against their hash, its online challenge recomputed and
    its points decoded first; then all Σ(n + 2) equations are combined with independent
    uniform 128-bit coefficients from `secrets`, and the sum is multiplied by the cofactor
    h before it is compared with the identity. If the batch fails, each item is re-verified
    alone to name it.

    Soundness of checking transient points on the curve only. E(F_p) has order h·q with
    gcd(h, q) = 1, so every curve point is uniquely U + T with U in G1 and T of order
    dividing h. Member keys P_j, Cx and I are decoded with the subgroup check (they
    persist: keys are reused by every report, Cx is recorded so that a coupon is spent once,
    I is compared across reports), and G, H and B_S are hashed to G1. The A_j, t1 and t2
    are only checked to be on the curve (`Group.decode_xy_unchecked`: coordinates below p,
    y² = x³ + 4). For an equation E = A + (terms in G1), h·E = h·U_A + h·(terms), and since
    multiplication by h is a bijection on G1, h·E = 0 iff U_A + (terms) = 0: the verifier
    checks exactly the first form's equations on the G1 parts. The hashes bind the bytes of
    every A_j, t1, t2 (so their G1 parts too), so both special-soundness extractions (the
    coupon's CDS proof and the online proof; see the module docstring) go through as
    before. A failing equation leaves a non-zero element of G1 after multiplying by h, and
    a random combination of such elements vanishes with probability at most 2^-128, since
    each coefficient is uniform over 2^128 values below q. A signer may add h-torsion to its
    own transient points and still be accepted, for the same true statement; nobody else
    can, since the hashes bind those bytes; and no torsion can reach I or Cx.
    """
    decoded = decode_items(functools.partial(_decode, group), items)
    if not decoded or _combined_equation(group, decoded):
        return
    for idx, item in enumerate(decoded):
        if not _combined_equation(group, [item]):
            raise VerificationError(f"item {idx}: {_explain_failure(group, item)}")
    raise VerificationError("the batch equation failed but every item verified on its own; retry the batch")
