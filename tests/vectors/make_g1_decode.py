"""Regenerate g1_decode.json: valid and invalid 48-byte compressed BLS12-381 G1 encodings.

Run: python tests/vectors/make_g1_decode.py

The invalid points are derived with plain integer arithmetic over F_p and py_ecc's reference
curve code, independently of core.group (the code under test), so the vectors can catch it.
Encoding rules: ZCash BLS12-381 serialization (compression, infinity and sign flags in the
top three bits of the first byte, then x big-endian).
"""

from __future__ import annotations

import json
from pathlib import Path

from py_ecc.bls.point_compression import compress_G1
from py_ecc.fields import optimized_bls12_381_FQ as FQ
from py_ecc.optimized_bls12_381.optimized_curve import (
    G1,
    Z1,
    add,
    curve_order,
    is_inf,
    multiply,
    neg,
)
from py_ecc.optimized_bls12_381.optimized_curve import (
    field_modulus as P,
)

OUT = Path(__file__).with_name("g1_decode.json")
C_FLAG, I_FLAG, S_FLAG = 0x80, 0x40, 0x20


def enc(point: object) -> bytes:
    return int(compress_G1(point)).to_bytes(48, "big")  # type: ignore[arg-type]


def raw(x: int, sign: bool = False, compressed: bool = True) -> bytes:
    b = bytearray(x.to_bytes(48, "big"))
    b[0] |= (C_FLAG if compressed else 0) | (S_FLAG if sign else 0)
    return bytes(b)


def sqrt(v: int) -> int | None:
    y = pow(v, (P + 1) // 4, P)
    return y if y * y % P == v % P else None


def first_x_off_curve() -> int:
    x = 1
    while sqrt(x**3 + 4) is not None:
        x += 1
    return x


def first_x_on_curve_outside_subgroup(start: int) -> int:
    x = start
    while True:
        y = sqrt(x**3 + 4)
        if y is not None and not is_inf(multiply((FQ(x), FQ(y), FQ.one()), curve_order)):
            return x
        x += 1


def build() -> dict[str, object]:
    g = enc(G1)
    x_off = first_x_off_curve()
    x_tors = first_x_on_curve_outside_subgroup(1)
    uncompressed_g = G1[0].n.to_bytes(48, "big") + G1[1].n.to_bytes(48, "big")
    valid = [
        ("generator", g, "the standard G1 generator"),
        ("neg_generator", enc(neg(G1)), "-G: same x, sign flag flipped"),
        ("identity", enc(Z1), "point at infinity: 0xc0 then 47 zero bytes"),
        ("two_g", enc(add(G1, G1)), "2G"),
        ("g_times_q_minus_1", enc(multiply(G1, curve_order - 1)), "(q-1)G = -G"),
    ]
    invalid = [
        ("empty", b"", "wrong length: 0 bytes", "expected 48"),
        ("truncated_47", g[:47], "wrong length: 47 bytes", "expected 48"),
        ("extended_49", g + b"\x00", "wrong length: 49 bytes", "expected 48"),
        ("uncompressed_96", uncompressed_g, "96-byte uncompressed form is not accepted", "expected 48"),
        ("no_compression_flag", bytes([g[0] & 0x7F]) + g[1:], "generator with the compression flag cleared", "compression flag"),
        ("all_zero", bytes(48), "48 zero bytes: compression flag missing", "compression flag"),
        ("infinity_without_compression_flag", bytes([0x40]) + bytes(47), "infinity flag set, compression flag clear", "compression flag"),
        ("infinity_with_sign", bytes([0xE0]) + bytes(47), "infinity flag with the sign bit set", "stray bits"),
        ("infinity_with_x", bytes([0xC0]) + bytes(46) + b"\x01", "infinity flag with nonzero x bits", "stray bits"),
        ("infinity_with_generator_x", bytes([g[0] | 0x40]) + g[1:], "infinity flag added to the generator's encoding", "stray bits"),
        ("all_ones", b"\xff" * 48, "every bit set (infinity + sign + x)", "stray bits"),
        ("x_equals_p", raw(P), "x = p is not a reduced field element", "field modulus"),
        ("x_p_plus_small", raw(P + x_tors), f"x = p + {x_tors}: non-canonical alias of an on-curve x", "field modulus"),
        ("x_max", raw(2**381 - 1), "x = 2^381 - 1 >= p", "field modulus"),
        ("x_off_curve", raw(x_off), f"x = {x_off}: x^3 + 4 is not a square mod p", "not on the curve"),
        ("x_off_curve_signed", raw(x_off, sign=True), f"x = {x_off} with the sign flag", "not on the curve"),
        ("order_3_point", raw(0), "x = 0: (0, 2) lies on the curve but has order 3", "prime-order subgroup"),
        ("order_3_point_signed", raw(0, sign=True), "x = 0, sign flag: (0, -2), order 3", "prime-order subgroup"),
        ("cofactor_point", raw(x_tors), f"x = {x_tors}: on the curve, not in the subgroup", "prime-order subgroup"),
        ("cofactor_point_signed", raw(x_tors, sign=True), f"x = {x_tors}, sign flag: on the curve, not in the subgroup", "prime-order subgroup"),
    ]
    cases: list[dict[str, object]] = []
    for name, data, why in valid:
        cases.append({"id": len(cases) + 1, "name": name, "valid": True, "why": why, "encoding": data.hex()})
    for name, data, why, fragment in invalid:
        cases.append({
            "id": len(cases) + 1, "name": name, "valid": False, "why": why,
            "encoding": data.hex(), "error": "InvalidInput", "message": fragment,
        })
    return {
        "description": "BLS12-381 G1 48-byte compressed (ZCash) decoding: valid encodings must "
        "decode and re-encode to the same bytes; invalid ones must raise InvalidInput whose "
        "message contains `message`. Generated by make_g1_decode.py with py_ecc field arithmetic.",
        "curve": "BLS12-381 G1, y^2 = x^3 + 4",
        "cases": cases,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
