"""The BLS12-381 G1 group behind one small interface, with two interchangeable backends.

Follows docs/reports.md ("Commitment"): every elliptic-curve operation in Candor goes through a
`Group`, so that the fast backend (py-arkworks-bls12381, Rust) and the pure-Python reference
(py_ecc.optimized_bls12_381, in `core.group_pyecc`, imported only when asked for) can be swapped
and compared byte for byte.

- Curve: BLS12-381, E(F_p): y^2 = x^3 + 4; G1 is its subgroup of prime order `ORDER` (q).
- Encoding: the 48-byte ZCash compressed form (github.com/zkcrypto/pairing, BLS12-381
  "Serialization"): the top bit of the first byte is the compression flag (always 1 here),
  the next is the infinity flag, the next is the sign of y ("lexicographically largest",
  i.e. y > (p-1)/2); the remaining 381 bits are x, big-endian.
- Hashing to the curve: RFC 9380, suite BLS12381G1_XMD:SHA-256_SSWU_RO_.

`decode` is the way untrusted bytes become a point. It is strict and identical in both
backends: exactly 48 bytes, compression flag set, the point at infinity only as 0xc0 followed
by zero bytes, x < p, (x, y) on the curve and in the prime-order subgroup. Every point that
passes is therefore in G1. (arkworks' own decoder accepts infinity encodings with stray bits
set, so the flag checks are done here, before either backend sees the bytes.)

`decode_unchecked` makes every check of `decode` except the last: its result is a point of
E(F_p), which may have a component of order dividing the cofactor h (`COFACTOR`,
#E(F_p) = h·q). It is only for the transient points of a proof (its commitments a_j, b_j)
whose equations are then tested after multiplying by h (`mul_by_cofactor`), which removes
exactly such components; the soundness argument is written next to that use, in
`core.proofs.batch_verify_validity`. Points that are stored or reused (commitments, link
tags, public keys) always go through `decode`. The subgroup check is two thirds of the cost
of decoding (docs/performance.md: 81 µs checked, 26 µs without).

`encode_xy` / `decode_xy_unchecked` are the uncompressed form (96 bytes, x ‖ y big-endian,
no flags, no identity) for transient proof points only: decoding takes no square root, so
it costs about a microsecond plus an on-curve test (y^2 = x^3 + 4, x, y < p) against
~26 µs for a compressed point (docs/performance.md). Like `decode_unchecked`, its result is
on E(F_p) but maybe not in G1, and the same cofactor argument applies wherever it is used.

Points are opaque backend objects: use them only with the group that produced them.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeAlias, cast

from py_arkworks_bls12381 import G1Point, Scalar

from core.errors import InvalidInput

__all__ = [
    "ORDER",
    "COFACTOR",
    "FIELD_MODULUS",
    "POINT_BYTES",
    "XY_BYTES",
    "compress_xy",
    "Point",
    "Group",
    "ArkworksGroup",
    "default_group",
    "group_by_name",
]

#: The order q of G1 (a 255-bit prime); every scalar lives in Z_q.
ORDER: int = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
#: The base-field modulus p of BLS12-381.
FIELD_MODULUS: int = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab",
    16,
)
#: Size of a compressed G1 point.
POINT_BYTES = 48
#: Size of an uncompressed G1 point (x ‖ y, big-endian; transient proof points only).
XY_BYTES = 96
#: The cofactor h of G1: #E(F_p) = h·q, h = (z - 1)^2 / 3 for the BLS parameter
#: z = -0xd201000000010000. 126 bits, so h < q and it fits a `Scalar` unreduced.
COFACTOR: int = 0x396C8C005555E1568C00AAAB0000AAAB
_BLS_Z = -0xD201000000010000

# Hasse: #E(F_p) = p + 1 - t with trace t = z + 1 for BLS12 curves.
assert COFACTOR * ORDER == FIELD_MODULUS + 1 - (_BLS_Z + 1) and COFACTOR < ORDER

#: An opaque backend point (arkworks `G1Point` or a py_ecc projective triple).
Point: TypeAlias = object

_COMPRESSION_FLAG = 0x80
_INFINITY_FLAG = 0x40
_SIGN_FLAG = 0x20
_IDENTITY_BYTES = bytes([_COMPRESSION_FLAG | _INFINITY_FLAG]) + bytes(POINT_BYTES - 1)
_CURVE_B = 4
_MAX_DST = 255  # RFC 9380 §5.3.3: longer tags must be pre-hashed; we never need that.

_COFACTOR_SCALAR = Scalar(COFACTOR)


def _scalar(k: int) -> Scalar:
    """k mod q as an arkworks Scalar, through 32 big-endian bytes: about 0.4 µs against
    ~5 µs for `Scalar(int)` (which dominates a large MSM's setup otherwise)."""
    return Scalar.from_be_bytes((k % ORDER).to_bytes(32, "big"))


def _parse_compressed(data: bytes) -> tuple[int, bool] | None:
    """Check the framing of a compressed encoding; return (x, y_is_largest), or None for infinity.

    Shared by both backends so that they accept and reject exactly the same byte strings
    with the same messages.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidInput(f"G1 point encoding must be bytes, got {type(data).__name__}")
    if len(data) != POINT_BYTES:
        raise InvalidInput(
            f"G1 point encoding is {len(data)} bytes, expected {POINT_BYTES} "
            "(ZCash compressed form)"
        )
    first = data[0]
    if not first & _COMPRESSION_FLAG:
        raise InvalidInput(
            "G1 point encoding lacks the compression flag (top bit of the first byte); "
            "only the 48-byte compressed form is accepted"
        )
    if first & _INFINITY_FLAG:
        if bytes(data) != _IDENTITY_BYTES:
            raise InvalidInput(
                "G1 point-at-infinity encoding has stray bits set; the only valid "
                "encoding is 0xc0 followed by 47 zero bytes"
            )
        return None
    x = int.from_bytes(bytes([first & 0x1F]) + bytes(data[1:]), "big")
    if x >= FIELD_MODULUS:
        raise InvalidInput(
            "G1 point x-coordinate is not below the field modulus p (non-canonical encoding)"
        )
    return x, bool(first & _SIGN_FLAG)


_NOT_ON_CURVE = "G1 point encoding is not on the curve y^2 = x^3 + 4 (no y exists for this x)"
_NOT_IN_SUBGROUP = (
    "G1 point is on the curve but not in the prime-order subgroup "
    "(it has a cofactor component); refusing it"
)


def _check_dst(dst: bytes) -> None:
    if not isinstance(dst, (bytes, bytearray)) or not 1 <= len(dst) <= _MAX_DST:
        raise InvalidInput(f"hash_to_curve domain tag must be 1..{_MAX_DST} bytes")


def _parse_xy(data: bytes) -> tuple[int, int]:
    """Check an uncompressed encoding: 96 bytes, x, y < p and y^2 = x^3 + 4 (mod p).

    Shared by both backends. There is no encoding of the identity: (0, 0) is not on the
    curve, so it is refused like any other off-curve pair.
    """
    if not isinstance(data, (bytes, bytearray)) or len(data) != XY_BYTES:
        got = f"{len(data)} bytes" if isinstance(data, (bytes, bytearray)) else type(data).__name__
        raise InvalidInput(f"uncompressed G1 point must be {XY_BYTES} bytes (x ‖ y), got {got}")
    x = int.from_bytes(data[:POINT_BYTES], "big")
    y = int.from_bytes(data[POINT_BYTES:], "big")
    if x >= FIELD_MODULUS or y >= FIELD_MODULUS:
        raise InvalidInput("uncompressed G1 point has a coordinate not below p (non-canonical encoding)")
    if (y * y - x * x * x - _CURVE_B) % FIELD_MODULUS:
        raise InvalidInput("uncompressed G1 point is not on the curve y^2 = x^3 + 4")
    return x, y


_HALF_P = (FIELD_MODULUS - 1) // 2


def compress_xy(data: bytes) -> bytes:
    """The 48-byte compressed encoding of the point whose uncompressed encoding is `data`,
    computed from the bytes alone (x with the compression flag and the sign of y; no curve
    arithmetic, about a microsecond). Checks only the length and x, y < p: use it on points
    already decoded (or about to be), e.g. to slice a verified signature's link tag."""
    if not isinstance(data, (bytes, bytearray)) or len(data) != XY_BYTES:
        raise InvalidInput(f"uncompressed G1 point must be {XY_BYTES} bytes (x ‖ y)")
    x = int.from_bytes(data[:POINT_BYTES], "big")
    y = int.from_bytes(data[POINT_BYTES:], "big")
    if x >= FIELD_MODULUS or y >= FIELD_MODULUS:
        raise InvalidInput("uncompressed G1 point has a coordinate not below p (non-canonical encoding)")
    flags = _COMPRESSION_FLAG | (_SIGN_FLAG if y > _HALF_P else 0)
    return (x | flags << (8 * POINT_BYTES - 8)).to_bytes(POINT_BYTES, "big")
_NOT_THE_SAME_POINT = "the uncompressed point is not the point of the compressed encoding"


def _parse_xy_matching(data: bytes, xy: bytes) -> tuple[int, int]:
    """(x, y) of `xy` if it is exactly the point the compressed `data` encodes.

    `data` framed as `_parse_compressed` requires (not the identity: it has no
    uncompressed form), `xy` on the curve as `_parse_xy` requires, the same x, and the y
    that the sign flag of `data` selects (the larger of y, p - y iff the flag is set).
    One x and one sign name one point, so the result is the point that decompressing
    `data` gives, found without its square root.
    """
    parsed = _parse_compressed(data)
    if parsed is None:
        raise InvalidInput("the identity has no uncompressed form: decode it from its compressed encoding")
    x, y = _parse_xy(xy)
    if x != parsed[0] or (y > _HALF_P) != parsed[1]:
        raise InvalidInput(_NOT_THE_SAME_POINT)
    return x, y


class Group(ABC):
    """BLS12-381 G1 with scalars in Z_q. Every method is deterministic; none mutates a point.

    Implementations MUST give byte-identical `encode` output for the same mathematical
    inputs, and MUST accept and reject exactly the same encodings in `decode`.
    """

    name: str

    @abstractmethod
    def identity(self) -> Point:
        """The neutral element (point at infinity)."""

    @abstractmethod
    def generator(self) -> Point:
        """The standard BLS12-381 G1 generator."""

    @abstractmethod
    def add(self, p: Point, q: Point) -> Point:
        """p + q."""

    @abstractmethod
    def neg(self, p: Point) -> Point:
        """-p."""

    def sub(self, p: Point, q: Point) -> Point:
        """p - q."""
        return self.add(p, self.neg(q))

    @abstractmethod
    def mul(self, p: Point, k: int) -> Point:
        """k·p for any integer k (reduced mod q, so 0 and negatives are fine)."""

    @abstractmethod
    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        """Σ scalars[i]·points[i] (scalars reduced mod q); the empty sum is the identity."""

    @abstractmethod
    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        """RFC 9380 hash_to_curve, suite BLS12381G1_XMD:SHA-256_SSWU_RO_."""

    @abstractmethod
    def encode(self, p: Point) -> bytes:
        """The 48-byte ZCash compressed encoding of p."""

    @abstractmethod
    def decode(self, data: bytes) -> Point:
        """Parse a compressed encoding, raising InvalidInput unless it is a canonical G1 point."""

    @abstractmethod
    def decode_unchecked(self, data: bytes) -> Point:
        """Like `decode` without the subgroup check: the result is on E(F_p), maybe not in G1.

        Still raises InvalidInput (with the same messages as `decode`) for a bad length or
        flags, x >= p, or an x with no point on the curve. Use it only for transient proof
        points whose equations are checked after `mul_by_cofactor` (see the module docstring).
        """

    @abstractmethod
    def encode_xy(self, p: Point) -> bytes:
        """The 96-byte uncompressed encoding x ‖ y of p; InvalidInput for the identity."""

    @abstractmethod
    def decode_xy_unchecked(self, data: bytes) -> Point:
        """Parse an uncompressed encoding into a point of E(F_p), maybe outside G1.

        Raises InvalidInput (same messages in both backends) for a bad length, a coordinate
        not below p, or a pair off the curve. Only for transient proof points whose
        equations are checked after `mul_by_cofactor` (see the module docstring).
        """

    def decode_xy_unchecked_many(self, encoded: Sequence[bytes]) -> list[Point]:
        """`decode_xy_unchecked` of each, in order (backends may do it in one tight loop);
        the error of the first bad one, with its index, if any."""
        out: list[Point] = []
        for i, data in enumerate(encoded):
            try:
                out.append(self.decode_xy_unchecked(data))
            except InvalidInput as ex:
                raise InvalidInput(f"point {i}: {ex}") from None
        return out

    @abstractmethod
    def decode_xy(self, data: bytes) -> Point:
        """Parse an uncompressed encoding into a point of G1: `decode_xy_unchecked` plus the
        subgroup check (InvalidInput with `decode`'s message if it fails). For persistent
        points carried uncompressed; a third cheaper than `decode` (no square root)."""

    @abstractmethod
    def decode_unchecked_via_xy(self, data: bytes, xy: bytes) -> Point:
        """`decode_unchecked(data)`, computed from `xy`, the same point uncompressed.

        For a compressed point bound elsewhere (a commitment in a proven ledger leaf) sent
        together with an unverified uncompressed copy: the copy is accepted only if it is
        on the curve, has the x of `data` and the y its sign flag selects, so the result
        is exactly what `decode_unchecked(data)` returns (whatever the sender did) at
        about a tenth of the cost (no square root). InvalidInput otherwise, and for the
        identity. Same caveat as `decode_unchecked`: on E(F_p), maybe not in G1.
        """

    @abstractmethod
    def mul_by_cofactor(self, p: Point) -> Point:
        """COFACTOR·p, exact for every point of E(F_p), not only for points of G1.

        Not `mul(p, COFACTOR)` in spirit: no reduction mod q and no endomorphism that acts
        as a scalar only on G1. So the result is the identity iff p has no component of
        order q, i.e. iff p's order divides COFACTOR.
        """

    @abstractmethod
    def eq(self, p: Point, q: Point) -> bool:
        """Whether p and q are the same point."""

    @abstractmethod
    def is_identity(self, p: Point) -> bool:
        """Whether p is the point at infinity."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @staticmethod
    def _check_lengths(points: Sequence[Point], scalars: Sequence[int]) -> None:
        if len(points) != len(scalars):
            raise InvalidInput(
                f"msm got {len(points)} points but {len(scalars)} scalars; pass one scalar per point"
            )


_ZERO_XY = bytes(XY_BYTES)
"""The one 96-byte string arkworks' `from_xy_bytes_unchecked_be` accepts that `_parse_xy`
refuses: it reads all zeros as the identity, which has no uncompressed encoding here.
Otherwise that function makes exactly `_parse_xy`'s checks in Rust (each coordinate a
canonical field element below p, then y² = x³ + 4; no subgroup check), at about 0.6 µs
against 4 µs for the same arithmetic on Python integers, a cost paid for the 22 transient
points of every report at intake (tests/test_group.py holds the two to the same verdicts)."""


def _arkworks_decodes(data: object) -> bool:
    """Whether arkworks' uncompressed decoders alone decide `data`: 96 bytes other than
    `_ZERO_XY`. Anything else, and anything they refuse, goes through `_parse_xy`."""
    return type(data) is bytes and len(data) == XY_BYTES and data != _ZERO_XY


class ArkworksGroup(Group):
    """The default backend: py-arkworks-bls12381 (Rust), ~40x faster than py_ecc."""

    name = "arkworks"

    def __init__(self) -> None:
        self._generator = G1Point()
        self._identity = G1Point.identity()

    def identity(self) -> Point:
        return self._identity

    def generator(self) -> Point:
        return self._generator

    def add(self, p: Point, q: Point) -> Point:
        return cast(G1Point, p) + cast(G1Point, q)

    def neg(self, p: Point) -> Point:
        return -cast(G1Point, p)

    def sub(self, p: Point, q: Point) -> Point:
        return cast(G1Point, p) - cast(G1Point, q)

    def mul(self, p: Point, k: int) -> Point:
        return cast(G1Point, p) * _scalar(k)

    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        self._check_lengths(points, scalars)
        if not points:
            return self._identity
        return G1Point.multiexp_unchecked(
            cast("list[G1Point]", list(points)), [_scalar(k) for k in scalars]
        )

    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        _check_dst(dst)
        return G1Point.hash_to_curve(bytes(msg), bytes(dst))

    def encode(self, p: Point) -> bytes:
        return cast(G1Point, p).to_compressed_bytes()

    def decode(self, data: bytes) -> Point:
        if _parse_compressed(data) is None:
            return self._identity
        raw = bytes(data)
        try:
            return G1Point.from_compressed_bytes(raw)
        except ValueError:
            pass
        # Slow path, only for bad input: find out which check failed, for the message.
        point = self._decompress(raw)
        if not point.is_in_subgroup():
            raise InvalidInput(_NOT_IN_SUBGROUP)
        raise InvalidInput("G1 point encoding rejected by the arkworks decoder")

    def decode_unchecked(self, data: bytes) -> Point:
        if _parse_compressed(data) is None:
            return self._identity
        return self._decompress(bytes(data))

    @staticmethod
    def _decompress(raw: bytes) -> G1Point:
        # After _parse_compressed, the unchecked decoder's only remaining failure is an x
        # with no square root of x^3 + 4: it computes y by decompression, so whatever it
        # returns is on the curve.
        try:
            return G1Point.from_compressed_bytes_unchecked(raw)
        except ValueError:
            raise InvalidInput(_NOT_ON_CURVE) from None

    def encode_xy(self, p: Point) -> bytes:
        if self.is_identity(p):
            raise InvalidInput("the identity has no uncompressed encoding")
        return cast(G1Point, p).to_xy_bytes_be()

    def decode_xy_unchecked(self, data: bytes) -> Point:
        if _arkworks_decodes(data):
            try:
                return G1Point.from_xy_bytes_unchecked_be(data)
            except ValueError:
                pass
        _parse_xy(data)  # the exact reason for a refusal (or a bytearray, accepted as bytes)
        return G1Point.from_xy_bytes_unchecked_be(bytes(data))

    def decode_xy_unchecked_many(self, encoded: Sequence[bytes]) -> list[Point]:
        # One tight loop over arkworks' own checks (see _ZERO_XY); any failure goes back to
        # the one-by-one loop for its index and exact message.
        make = G1Point.from_xy_bytes_unchecked_be
        out: list[Point] = []
        try:
            for data in encoded:
                if not _arkworks_decodes(data):
                    raise ValueError
                out.append(make(data))
        except ValueError:
            return super().decode_xy_unchecked_many(encoded)
        return out

    def decode_xy(self, data: bytes) -> Point:
        if _arkworks_decodes(data):
            try:
                return G1Point.from_xy_bytes_be(data)  # the checks of decode_xy_unchecked, then the subgroup
            except ValueError:
                pass
        point = cast(G1Point, self.decode_xy_unchecked(data))  # the exact reason for a refusal
        if not point.is_in_subgroup():
            raise InvalidInput(_NOT_IN_SUBGROUP)
        return point

    def decode_unchecked_via_xy(self, data: bytes, xy: bytes) -> Point:
        _parse_xy_matching(data, xy)
        return G1Point.from_xy_bytes_unchecked_be(bytes(xy))

    def mul_by_cofactor(self, p: Point) -> Point:
        # arkworks multiplies by the scalar's integer value by double-and-add for any curve
        # point (tests/test_group.py checks this against explicit doubling and adding on
        # points outside G1, so a library that switched to a G1-only shortcut would fail
        # there). COFACTOR < q, so Scalar(COFACTOR) holds h itself, not h mod q.
        return cast(G1Point, p) * _COFACTOR_SCALAR

    def eq(self, p: Point, q: Point) -> bool:
        return cast(G1Point, p) == cast(G1Point, q)

    def is_identity(self, p: Point) -> bool:
        return cast(G1Point, p) == self._identity


def _py_ecc_group() -> Group:
    # Imported on first use: importing py_ecc takes about half a second (it precomputes
    # pairing constants), which no process of the default backend should pay.
    from core.group_pyecc import PyEccGroup

    return PyEccGroup()


_BACKENDS: dict[str, Callable[[], Group]] = {"arkworks": ArkworksGroup, "py_ecc": _py_ecc_group}


@functools.cache
def group_by_name(name: str) -> Group:
    """The (shared) instance of the backend called `name`: "arkworks" or "py_ecc"."""
    try:
        backend = _BACKENDS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown group backend {name!r}; choose one of {', '.join(sorted(_BACKENDS))}"
        ) from None
    return backend()


def default_group() -> Group:
    """The shared arkworks instance: use this unless you are differential-testing."""
    return group_by_name("arkworks")
