"""core.group: RFC 9380 vectors, strict decoding, and arkworks vs py_ecc byte-for-byte."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from g1_points import encoding, times
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.group import (
    COFACTOR,
    FIELD_MODULUS,
    ORDER,
    ArkworksGroup,
    Group,
    default_group,
    group_by_name,
)
from core.group_pyecc import PyEccGroup

VECTORS = Path(__file__).parent / "vectors"
SHARED = Path(__file__).parent / "vectors" / "published"
H2C_FILE = "hash_to_curve_bls12381g1_xmd_sha256_sswu_ro.json"

ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
BACKENDS = [ARK, PYECC]


def _h2c_vectors() -> dict[str, Any]:
    # The published copy lives in tests/vectors/published; fall back to a copy beside the tests.
    for folder in (SHARED, VECTORS):
        if (folder / H2C_FILE).exists():
            data: dict[str, Any] = json.loads((folder / H2C_FILE).read_text())
            return data
    raise FileNotFoundError(H2C_FILE)


def _compress_xy(x_hex: str, y_hex: str) -> bytes:
    """ZCash compression of an affine point, written out from the spec, not via a backend."""
    x, y = int(x_hex, 16), int(y_hex, 16)
    flags = 0x80 | (0x20 if y > (FIELD_MODULUS - 1) // 2 else 0)
    out = bytearray(x.to_bytes(48, "big"))
    out[0] |= flags
    return bytes(out)


H2C = _h2c_vectors()
DECODE = json.loads((VECTORS / "g1_decode.json").read_text())


@pytest.fixture(params=BACKENDS, ids=lambda g: g.name)
def group(request: pytest.FixtureRequest) -> Group:
    g: Group = request.param
    return g


@pytest.mark.parametrize("vector", H2C["vectors"], ids=lambda v: repr(v["msg"][:16]))
def test_rfc9380_hash_to_curve(group: Group, vector: dict[str, Any]) -> None:
    point = group.hash_to_curve(vector["msg"].encode(), H2C["dst"].encode())
    assert group.encode(point) == _compress_xy(vector["P"]["x"], vector["P"]["y"])


def test_order_and_generator() -> None:
    assert ORDER.bit_length() == 255
    assert pow(2, ORDER - 1, ORDER) == 1
    # The standard generator, as published in the ZCash BLS12-381 description.
    std_g = bytes.fromhex(
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
    )
    for g in BACKENDS:
        assert g.encode(g.generator()) == std_g
        assert g.is_identity(g.mul(g.generator(), ORDER))
        assert not g.is_identity(g.generator())


@pytest.mark.parametrize("case", DECODE["cases"], ids=lambda c: c["name"])
def test_decode_vectors(group: Group, case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["encoding"])
    if case["valid"]:
        assert group.encode(group.decode(data)) == data
    else:
        with pytest.raises(InvalidInput, match=re.escape(case["message"])):
            group.decode(data)


def test_decode_vectors_cover_required_classes() -> None:
    invalid = [c for c in DECODE["cases"] if not c["valid"]]
    assert len(invalid) >= 10
    fragments = {c["message"] for c in invalid}
    assert {"expected 48", "compression flag", "stray bits", "field modulus",
            "not on the curve", "prime-order subgroup"} <= fragments


def test_identity_encoding(group: Group) -> None:
    ident = group.identity()
    assert group.encode(ident) == bytes([0xC0]) + bytes(47)
    assert group.is_identity(group.decode(group.encode(ident)))
    g = group.generator()
    assert group.eq(group.add(g, ident), g)
    assert group.is_identity(group.sub(g, g))
    assert group.is_identity(group.mul(g, 0))


def test_decode_rejects_non_bytes(group: Group) -> None:
    with pytest.raises(InvalidInput, match="must be bytes"):
        group.decode("97f1" * 24)  # type: ignore[arg-type]


def test_msm_checks_lengths(group: Group) -> None:
    g = group.generator()
    with pytest.raises(InvalidInput, match="2 points but 1 scalars"):
        group.msm([g, g], [1])
    assert group.is_identity(group.msm([], []))


def test_hash_to_curve_rejects_bad_dst(group: Group) -> None:
    with pytest.raises(InvalidInput, match="domain tag"):
        group.hash_to_curve(b"m", b"")
    with pytest.raises(InvalidInput, match="domain tag"):
        group.hash_to_curve(b"m", b"x" * 256)


def test_backend_registry() -> None:
    assert default_group() is default_group()
    assert isinstance(default_group(), ArkworksGroup)
    assert isinstance(group_by_name("py_ecc"), PyEccGroup)
    with pytest.raises(InvalidInput, match="unknown group backend 'blst'"):
        group_by_name("blst")


# ---- differential: the same operations through both backends give the same bytes ----

SCALARS = st.one_of(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.sampled_from([0, 1, -1, ORDER - 1, ORDER, ORDER + 1, -ORDER, 2**255]),
)


def _both(k: int) -> tuple[object, object]:
    return ARK.mul(ARK.generator(), k), PYECC.mul(PYECC.generator(), k)


@settings(max_examples=25, deadline=None)
@given(k=SCALARS, m=SCALARS)
def test_differential_mul_add_neg_sub(k: int, m: int) -> None:
    pa, pp = _both(k)
    qa, qp = _both(m)
    assert ARK.encode(pa) == PYECC.encode(pp)
    assert ARK.encode(ARK.add(pa, qa)) == PYECC.encode(PYECC.add(pp, qp))
    assert ARK.encode(ARK.sub(pa, qa)) == PYECC.encode(PYECC.sub(pp, qp))
    assert ARK.encode(ARK.neg(pa)) == PYECC.encode(PYECC.neg(pp))
    assert ARK.encode(ARK.mul(qa, k)) == PYECC.encode(PYECC.mul(qp, k))
    # algebra: (k + m)·G == k·G + m·G, and reduction mod q
    assert ARK.eq(ARK.mul(ARK.generator(), k + m), ARK.add(pa, qa))
    assert ARK.eq(ARK.mul(ARK.generator(), k % ORDER), pa)


@settings(max_examples=15, deadline=None)
@given(ks=st.lists(SCALARS, min_size=1, max_size=3), ss=st.lists(SCALARS, min_size=3, max_size=3))
def test_differential_msm(ks: list[int], ss: list[int]) -> None:
    pts_a = [ARK.mul(ARK.generator(), k) for k in ks]
    pts_p = [PYECC.mul(PYECC.generator(), k) for k in ks]
    scalars = ss[: len(ks)]
    got_a = ARK.msm(pts_a, scalars)
    got_p = PYECC.msm(pts_p, scalars)
    assert ARK.encode(got_a) == PYECC.encode(got_p)
    naive = ARK.identity()
    for p, s in zip(pts_a, scalars):
        naive = ARK.add(naive, ARK.mul(p, s))
    assert ARK.eq(got_a, naive)


@settings(max_examples=10, deadline=None)
@given(msg=st.binary(max_size=64), dst=st.binary(min_size=1, max_size=40))
def test_differential_hash_to_curve_and_round_trip(msg: bytes, dst: bytes) -> None:
    pa = ARK.hash_to_curve(msg, dst)
    pp = PYECC.hash_to_curve(msg, dst)
    enc = ARK.encode(pa)
    assert enc == PYECC.encode(pp)
    assert ARK.eq(ARK.decode(enc), pa)
    assert PYECC.eq(PYECC.decode(enc), pp)
    assert PYECC.encode(PYECC.decode(enc)) == enc


@settings(max_examples=25, deadline=None)
@given(k=SCALARS)
def test_arkworks_round_trip(k: int) -> None:
    p = ARK.mul(ARK.generator(), k)
    enc = ARK.encode(p)
    assert len(enc) == 48
    assert ARK.eq(ARK.decode(enc), p)
    assert ARK.is_identity(p) == (k % ORDER == 0)


# ---- decode_unchecked and mul_by_cofactor (for transient proof points, see core.proofs) ----

NOT_IN_SUBGROUP_NAMES = ["order_3_point", "order_3_point_signed", "cofactor_point", "cofactor_point_signed"]


def test_cofactor_constant() -> None:
    # #E(F_p) = p + 1 - t, t = z + 1 for the BLS parameter z; h < q so Scalar(h) is exact.
    z = -0xD201000000010000
    assert COFACTOR * ORDER == FIELD_MODULUS + 1 - (z + 1)
    assert COFACTOR == (z - 1) ** 2 // 3
    assert COFACTOR.bit_length() == 126 and COFACTOR < ORDER


@pytest.mark.parametrize("case", DECODE["cases"], ids=lambda c: c["name"])
def test_decode_unchecked_vectors(group: Group, case: dict[str, Any]) -> None:
    """Same verdicts and messages as decode, except that on-curve points outside G1 pass."""
    data = bytes.fromhex(case["encoding"])
    if case["valid"] or case["name"] in NOT_IN_SUBGROUP_NAMES:
        assert group.encode(group.decode_unchecked(data)) == data
    else:
        assert "prime-order subgroup" not in case["message"]
        with pytest.raises(InvalidInput, match=re.escape(case["message"])):
            group.decode_unchecked(data)


def test_decode_unchecked_rejects_off_curve(group: Group) -> None:
    for name in ("x_off_curve", "x_off_curve_signed"):
        with pytest.raises(InvalidInput, match="not on the curve"):
            group.decode_unchecked(encoding(name))
    with pytest.raises(InvalidInput, match="must be bytes"):
        group.decode_unchecked("80" * 48)  # type: ignore[arg-type]


def test_decode_unchecked_accepts_non_subgroup_point(group: Group) -> None:
    for name in NOT_IN_SUBGROUP_NAMES:
        data = encoding(name)
        with pytest.raises(InvalidInput, match="prime-order subgroup"):
            group.decode(data)
        point = group.decode_unchecked(data)
        assert not group.is_identity(point)
        assert group.encode(point) == data


def test_mul_by_cofactor_is_exact_outside_the_subgroup(group: Group) -> None:
    """The verifiers' soundness needs h·P computed as an integer multiple for any P on E(F_p).

    A G1-only shortcut (reduction mod q, or the GLV endomorphism, which acts as a scalar only
    on G1) would disagree with plain doubling and adding on these points.
    """
    order3 = group.decode_unchecked(encoding("order_3_point"))
    off = group.decode_unchecked(encoding("cofactor_point"))
    torsion = times(group, off, ORDER)  # Q's component of order dividing h, nothing in G1
    mixed = group.add(off, group.mul(group.generator(), 12345))
    assert group.is_identity(times(group, order3, 3))
    assert not group.is_identity(torsion)
    for p in (order3, off, torsion, mixed):
        assert group.eq(group.mul_by_cofactor(p), times(group, p, COFACTOR))
    # h kills exactly the h-torsion: the order-3 point and q·Q vanish, Q and Q + 12345·G do not
    assert group.is_identity(group.mul_by_cofactor(order3))
    assert group.is_identity(group.mul_by_cofactor(torsion))
    assert not group.is_identity(group.mul_by_cofactor(off))
    assert group.eq(
        group.mul_by_cofactor(mixed),
        group.add(group.mul_by_cofactor(off), group.mul(group.generator(), 12345 * COFACTOR)),
    )
    # on G1 it is the ordinary scalar multiplication
    g = group.generator()
    assert group.eq(group.mul_by_cofactor(g), group.mul(g, COFACTOR))


def test_cofactor_ops_agree_across_backends() -> None:
    for name in NOT_IN_SUBGROUP_NAMES:
        data = encoding(name)
        pa, pp = ARK.decode_unchecked(data), PYECC.decode_unchecked(data)
        assert ARK.encode(ARK.mul_by_cofactor(pa)) == PYECC.encode(PYECC.mul_by_cofactor(pp))
        g_a, g_p = ARK.mul(ARK.generator(), 777), PYECC.mul(PYECC.generator(), 777)
        assert ARK.encode(ARK.add(pa, g_a)) == PYECC.encode(PYECC.add(pp, g_p))


def test_decode_unchecked_via_xy_is_decode_unchecked_or_refused(group: Group) -> None:
    """An unverified uncompressed copy of a compressed point (GetRating's commitments_xy)
    is accepted only if it is that very point, and then gives what decode_unchecked gives."""
    names = ["generator", "neg_generator", "two_g", "g_times_q_minus_1", *NOT_IN_SUBGROUP_NAMES]
    for name in names:
        data = encoding(name)
        point = group.decode_unchecked(data)
        xy = group.encode_xy(point)
        assert group.encode(group.decode_unchecked_via_xy(data, xy)) == data
        assert group.eq(group.decode_unchecked_via_xy(data, xy), point)
        with pytest.raises(InvalidInput, match="not the point of the compressed encoding"):
            group.decode_unchecked_via_xy(data, group.encode_xy(group.neg(point)))  # same x, other y
    generator_xy = group.encode_xy(group.generator())
    with pytest.raises(InvalidInput, match="not the point of the compressed encoding"):
        group.decode_unchecked_via_xy(encoding("two_g"), generator_xy)
    y = int.from_bytes(generator_xy[48:], "big")
    for bad, why in [
        (generator_xy[:48] + ((y + 1) % FIELD_MODULUS).to_bytes(48, "big"), "not on the curve"),
        (generator_xy[:48] + (y + FIELD_MODULUS).to_bytes(48, "big"), "not below p"),
        (generator_xy[:95], "96 bytes"),
    ]:
        with pytest.raises(InvalidInput, match=why):
            group.decode_unchecked_via_xy(encoding("generator"), bad)
    with pytest.raises(InvalidInput, match="identity"):
        group.decode_unchecked_via_xy(encoding("identity"), generator_xy)
    # The compressed side is framed exactly as decode_unchecked frames it.
    for name in ("x_equals_p", "no_compression_flag", "infinity_with_x", "truncated_47"):
        with pytest.raises(InvalidInput):
            group.decode_unchecked_via_xy(encoding(name), generator_xy)


# ---- uncompressed decoding: arkworks' own checks against the written-out ones ----

def _xy_candidates() -> st.SearchStrategy[bytes]:
    """96-byte strings around the edges of a valid uncompressed encoding."""
    def point(k: int, torsion: bool) -> tuple[int, int]:
        p = ARK.mul(ARK.generator(), k)
        if torsion:
            p = ARK.add(p, ARK.decode_unchecked(encoding("order_3_point")))
        xy = ARK.encode_xy(p)
        return int.from_bytes(xy[:48], "big"), int.from_bytes(xy[48:], "big")

    def build(k: int, torsion: bool, how: str, r: int, byte: int, bit: int) -> bytes:
        x, y = point(k, torsion)
        if how == "negate_y":
            y = FIELD_MODULUS - y
        elif how == "random_y":
            y = r % FIELD_MODULUS
        elif how == "y_plus_p":
            y += FIELD_MODULUS
        elif how == "x_plus_p":
            x += FIELD_MODULUS
        elif how == "zero_x":  # (0, ±2) is on the curve, (0, y) for any other y is not
            x, y = 0, (2 if r % 3 == 0 else FIELD_MODULUS - 2 if r % 3 == 1 else r % FIELD_MODULUS)
        elif how == "zeros":
            x = y = 0
        data = bytearray(x.to_bytes(48, "big") + y.to_bytes(48, "big")) if max(x, y) < 1 << 384 \
            else bytearray(96)
        if how == "flip_bit":
            data[byte] ^= 1 << bit
        elif how == "flag_bits":
            data[0 if r % 2 else 48] |= 0xE0 & (1 << (5 + bit % 3))
        return bytes(data)

    return st.builds(build, st.integers(1, ORDER - 1), st.booleans(),
                     st.sampled_from(["as_is", "negate_y", "random_y", "y_plus_p", "x_plus_p", "zero_x", "zeros",
                                      "flip_bit", "flag_bits"]),
                     st.integers(0, 1 << 384), st.integers(0, 95), st.integers(0, 7))


@settings(max_examples=300, deadline=None)
@given(_xy_candidates())
def test_arkworks_uncompressed_decoding_has_the_written_out_verdicts(data: bytes) -> None:
    """ArkworksGroup decodes transient points with arkworks' own range and on-curve checks
    (core.group._ZERO_XY); py_ecc's backend computes them in Python. Same bytes, same
    verdict, same message and same point, one at a time and in a batch."""
    try:
        expected = PYECC.encode_xy(PYECC.decode_xy_unchecked(data))
    except InvalidInput as ex:
        with pytest.raises(InvalidInput, match=re.escape(str(ex))):
            ARK.decode_xy_unchecked(data)
        with pytest.raises(InvalidInput, match=re.escape(f"point 1: {ex}")):
            ARK.decode_xy_unchecked_many([ARK.encode_xy(ARK.generator()), data])
        return
    assert ARK.encode_xy(ARK.decode_xy_unchecked(data)) == expected == data
    assert [ARK.encode_xy(p) for p in ARK.decode_xy_unchecked_many([data, data])] == [data, data]


@settings(max_examples=200, deadline=None)
@given(_xy_candidates())
def test_arkworks_checked_uncompressed_decoding_has_the_written_out_verdicts(data: bytes) -> None:
    """The same for decode_xy, which adds the subgroup check (the candidates include points
    with a component of order 3)."""
    try:
        expected = PYECC.encode_xy(PYECC.decode_xy(data))
    except InvalidInput as ex:
        with pytest.raises(InvalidInput, match=re.escape(str(ex))):
            ARK.decode_xy(data)
        return
    assert ARK.encode_xy(ARK.decode_xy(data)) == expected == data
