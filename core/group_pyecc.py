"""The reference backend of `core.group`: py_ecc.optimized_bls12_381, pure Python.

Kept in a module of its own so that only the differential tests and vector generators that
ask for it (`core.group.group_by_name("py_ecc")`) import py_ecc: its import alone takes about
half a second. Encodings and checks are those of `core.group`'s docstring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, TypeAlias, cast

from py_ecc.bls.hash_to_curve import hash_to_G1
from py_ecc.bls.point_compression import compress_G1
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.optimized_bls12_381.optimized_curve import G1 as _PYECC_G1
from py_ecc.optimized_bls12_381.optimized_curve import Z1 as _PYECC_Z1
from py_ecc.optimized_bls12_381.optimized_curve import add as _pyecc_add
from py_ecc.optimized_bls12_381.optimized_curve import curve_order as _PYECC_ORDER
from py_ecc.optimized_bls12_381.optimized_curve import eq as _pyecc_eq
from py_ecc.optimized_bls12_381.optimized_curve import field_modulus as _PYECC_P
from py_ecc.optimized_bls12_381.optimized_curve import is_inf as _pyecc_is_inf
from py_ecc.optimized_bls12_381.optimized_curve import multiply as _pyecc_multiply
from py_ecc.optimized_bls12_381.optimized_curve import neg as _pyecc_neg
from py_ecc.optimized_bls12_381.optimized_curve import normalize as _pyecc_normalize
from py_ecc.typing import Optimized_Point3D

from core.errors import InvalidInput
from core.group import (
    _CURVE_B,
    _NOT_IN_SUBGROUP,
    _NOT_ON_CURVE,
    COFACTOR,
    FIELD_MODULUS,
    ORDER,
    POINT_BYTES,
    Group,
    Point,
    _check_dst,
    _parse_compressed,
    _parse_xy,
    _parse_xy_matching,
)

# Both libraries must agree with core.group's constants, or nothing here is meaningful.
assert ORDER == _PYECC_ORDER and FIELD_MODULUS == _PYECC_P

_PyEccPoint: TypeAlias = Optimized_Point3D[FQ]


class PyEccGroup(Group):
    """The reference backend: py_ecc.optimized_bls12_381, pure Python (~8 ms per scalar mul).

    Used by the differential tests; never on a hot path.
    """

    name = "py_ecc"

    def identity(self) -> Point:
        return _PYECC_Z1

    def generator(self) -> Point:
        return _PYECC_G1

    def add(self, p: Point, q: Point) -> Point:
        return _pyecc_add(cast(_PyEccPoint, p), cast(_PyEccPoint, q))

    def neg(self, p: Point) -> Point:
        return _pyecc_neg(cast(_PyEccPoint, p))

    def mul(self, p: Point, k: int) -> Point:
        return _pyecc_multiply(cast(_PyEccPoint, p), k % ORDER)

    def msm(self, points: Sequence[Point], scalars: Sequence[int]) -> Point:
        self._check_lengths(points, scalars)
        acc: Point = _PYECC_Z1
        for p, k in zip(points, scalars):
            acc = self.add(acc, self.mul(p, k))
        return acc

    def hash_to_curve(self, msg: bytes, dst: bytes) -> Point:
        _check_dst(dst)
        # py_ecc annotates the parameter as a hash *object* but calls it as a constructor.
        return hash_to_G1(bytes(msg), bytes(dst), cast(Any, hashlib.sha256))

    def encode(self, p: Point) -> bytes:
        return int(compress_G1(cast(_PyEccPoint, p))).to_bytes(POINT_BYTES, "big")

    def decode(self, data: bytes) -> Point:
        point = self.decode_unchecked(data)
        if not _pyecc_is_inf(_pyecc_multiply(cast(_PyEccPoint, point), ORDER)):
            raise InvalidInput(_NOT_IN_SUBGROUP)
        return point

    def decode_unchecked(self, data: bytes) -> Point:
        parsed = _parse_compressed(data)
        if parsed is None:
            return _PYECC_Z1
        x, y_is_largest = parsed
        rhs = (pow(x, 3, FIELD_MODULUS) + _CURVE_B) % FIELD_MODULUS
        # p ≡ 3 (mod 4), so a square root, if one exists, is rhs^((p+1)/4).
        y = pow(rhs, (FIELD_MODULUS + 1) // 4, FIELD_MODULUS)
        if y * y % FIELD_MODULUS != rhs:
            raise InvalidInput(_NOT_ON_CURVE)
        if (y > (FIELD_MODULUS - 1) // 2) != y_is_largest:
            y = FIELD_MODULUS - y
        point: _PyEccPoint = (FQ(x), FQ(y), FQ.one())
        return point

    def encode_xy(self, p: Point) -> bytes:
        if self.is_identity(p):
            raise InvalidInput("the identity has no uncompressed encoding")
        x, y = _pyecc_normalize(cast(_PyEccPoint, p))
        return int(x).to_bytes(POINT_BYTES, "big") + int(y).to_bytes(POINT_BYTES, "big")

    def decode_xy_unchecked(self, data: bytes) -> Point:
        x, y = _parse_xy(data)
        point: _PyEccPoint = (FQ(x), FQ(y), FQ.one())
        return point

    def decode_xy(self, data: bytes) -> Point:
        point = self.decode_xy_unchecked(data)
        if not _pyecc_is_inf(_pyecc_multiply(cast(_PyEccPoint, point), ORDER)):
            raise InvalidInput(_NOT_IN_SUBGROUP)
        return point

    def decode_unchecked_via_xy(self, data: bytes, xy: bytes) -> Point:
        x, y = _parse_xy_matching(data, xy)
        point: _PyEccPoint = (FQ(x), FQ(y), FQ.one())
        return point

    def mul_by_cofactor(self, p: Point) -> Point:
        # py_ecc's multiply is plain double-and-add on the integer it is given.
        return _pyecc_multiply(cast(_PyEccPoint, p), COFACTOR)

    def eq(self, p: Point, q: Point) -> bool:
        return _pyecc_eq(cast(_PyEccPoint, p), cast(_PyEccPoint, q))

    def is_identity(self, p: Point) -> bool:
        return _pyecc_is_inf(cast(_PyEccPoint, p))
