"""core.ring (offline/online linkable ring signatures) and core.coupons: vectors, properties,
batch verification, the cofactor argument for transient points, and the coupon pool."""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from g1_points import encoding, times
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ring as ringmod
from core.coupons import CouponPool
from core.errors import CandorError, InvalidInput, VerificationError
from core.group import ORDER, Group, Point, compress_xy, group_by_name
from core.ring import (
    BLINDING_DST,
    COUPON_TAG,
    LINK_DST,
    ONLINE_TAG,
    VERSION,
    Coupon,
    CouponProof,
    RingContext,
    RingItem,
    RingSignature,
    batch_ring_verify,
    blinding_base,
    link_base,
    link_tag,
    make_coupon,
    public_key,
    reporting_keypair,
    ring_sign,
    ring_verify,
)

VEC = json.loads((Path(__file__).parent / "vectors" / "ring_signature.json").read_text())
ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
ERRORS: dict[str, type[CandorError]] = {"InvalidInput": InvalidInput, "VerificationError": VerificationError}

KEYS = [reporting_keypair() for _ in range(8)]
SECRETS = [k[0] for k in KEYS]
RING = tuple(k[1] for k in KEYS[:6])  # members 6 and 7 are outside (e.g. revoked)
GENESIS = secrets.token_bytes(32)
CTX = RingContext(GENESIS, 4, RING)
CTX4 = RingContext(GENESIS, 4, RING[:4])
SUBJECT = secrets.token_bytes(32)
OTHER_SUBJECT = secrets.token_bytes(32)


def _sign(ctx: RingContext, signer: int, subject: bytes = SUBJECT, msg: bytes = b"entry") -> RingSignature:
    return ring_sign(ARK, make_coupon(ARK, ctx, SECRETS[signer]), subject, msg)


def _ctx(case: dict[str, Any]) -> tuple[RingContext, bytes, bytes]:
    ctx = RingContext(bytes.fromhex(case["genesis_hash"]), case["ring_change"],
                      tuple(bytes.fromhex(k) for k in case["ring"]))
    return ctx, bytes.fromhex(case["subject_tag"]), bytes.fromhex(case["signed_message"])


def _replay(values: list[str]) -> Callable[[], int]:
    it = iter(int(v, 16) for v in values)
    return lambda: next(it)


# ---- keys, link tags, constants ----

def test_constants() -> None:
    assert VERSION == 2
    assert LINK_DST == b"CANDOR-V1-LINK"  # unchanged: link tags did not change with the form
    assert len({COUPON_TAG, ONLINE_TAG, BLINDING_DST, LINK_DST}) == 4


def test_keypair() -> None:
    x, pub = reporting_keypair()
    assert 1 <= x < ORDER and len(pub) == 48
    assert public_key(x) == pub == ARK.encode(ARK.mul(ARK.generator(), x))
    assert public_key(x, PYECC) == pub


def test_blinding_base_is_hashed_and_agrees_across_backends() -> None:
    assert ARK.encode(blinding_base(ARK)) == PYECC.encode(blinding_base(PYECC))
    assert ARK.encode(blinding_base(ARK)) == ARK.encode(ARK.hash_to_curve(b"blinding", BLINDING_DST))


def test_link_tag_is_x_times_link_base() -> None:
    x = SECRETS[0]
    expected = ARK.encode(ARK.mul(ARK.hash_to_curve(b"link/" + SUBJECT, LINK_DST), x))
    assert link_tag(x, SUBJECT) == expected == _sign(CTX, 0).link_tag


def test_link_tags_equal_the_first_forms() -> None:
    """A member's tag on a subject is what the retired first form gave (recorded vectors)."""
    assert VEC["form1_link_tags"]
    for rec in VEC["form1_link_tags"]:
        x, subject = int(rec["key"], 16), bytes.fromhex(rec["subject_tag"])
        assert link_tag(x, subject).hex() == rec["link_tag"]
        ctx = RingContext(GENESIS, 1, (public_key(x), *RING[:2]))
        assert ring_sign(ARK, make_coupon(ARK, ctx, x), subject, b"m").link_tag.hex() == rec["link_tag"]


def test_link_tags_link_same_member_and_subject_only() -> None:
    a1 = _sign(CTX, 1, SUBJECT, b"one").link_tag
    a2 = _sign(CTX, 1, SUBJECT, b"two").link_tag
    assert a1 == a2
    assert _sign(CTX, 1, OTHER_SUBJECT).link_tag != a1
    assert _sign(CTX, 2, SUBJECT).link_tag != a1


# ---- signing and verifying ----

@pytest.mark.parametrize("signer", [0, 3, 5])
def test_round_trip(signer: int) -> None:
    sig = _sign(CTX, signer)
    ring_verify(ARK, CTX, SUBJECT, b"entry", sig)
    data = sig.to_bytes()
    assert len(data) == RingSignature.size(6) and data[0] == VERSION
    back = RingSignature.from_bytes(data)
    assert back == sig
    ring_verify(ARK, CTX, SUBJECT, b"entry", back)
    assert RingSignature.link_tag_of(data) == sig.link_tag
    assert RingSignature.commitment_of(data) == sig.coupon.commitment


def test_ring_of_one() -> None:
    ctx = RingContext(GENESIS, 1, (RING[2],))
    ring_verify(ARK, ctx, SUBJECT, b"m", _sign(ctx, 2, msg=b"m"))


def test_non_member_cannot_make_a_coupon() -> None:
    with pytest.raises(InvalidInput, match="not in the ring"):
        make_coupon(ARK, CTX, SECRETS[7])


def test_coupon_is_bound_to_its_context() -> None:
    sig = _sign(CTX, 1)
    for other in (RingContext(GENESIS, 5, RING), RingContext(secrets.token_bytes(32), 4, RING),
                  RingContext(GENESIS, 4, (*RING[:5], KEYS[6][1])), RingContext(GENESIS, 4, RING[::-1])):
        with pytest.raises(VerificationError, match="coupon challenges do not sum"):
            ring_verify(ARK, other, SUBJECT, b"entry", sig)


def test_other_message_or_subject_fails() -> None:
    sig = _sign(CTX, 1)
    with pytest.raises(VerificationError):
        ring_verify(ARK, CTX, SUBJECT, b"entry!", sig)
    with pytest.raises(VerificationError):
        ring_verify(ARK, CTX, OTHER_SUBJECT, b"entry", sig)


def test_other_reports_link_tag_fails() -> None:
    """Grafting another member's tag onto a signature (to frame or to dodge linking) fails."""
    sig = _sign(CTX, 1)
    other = _sign(CTX, 2)
    with pytest.raises(VerificationError):
        ring_verify(ARK, CTX, SUBJECT, b"entry", replace(sig, tag=other.tag))


def test_coupon_spent_by_another_key_fails() -> None:
    coupon = make_coupon(ARK, CTX, SECRETS[1])
    stolen = Coupon(CTX, coupon.proof, SECRETS[2], coupon.rho)
    with pytest.raises(VerificationError, match="does not open the coupon"):
        ring_verify(ARK, CTX, SUBJECT, b"m", ring_sign(ARK, stolen, SUBJECT, b"m"))


def test_nonces_are_hedged() -> None:
    """The same coupon and the same 'random' draw give different nonces for different
    messages (so even a repeated random source does not repeat a nonce), and a broken
    random source still gives a valid signature."""
    coupon = make_coupon(ARK, CTX, SECRETS[3])
    s1 = ring_sign(ARK, coupon, SUBJECT, b"one", rng=lambda: 7)
    s2 = ring_sign(ARK, coupon, SUBJECT, b"two", rng=lambda: 7)
    assert s1.t1 != s2.t1 and s1.t2 != s2.t2
    ring_verify(ARK, CTX, SUBJECT, b"one", s1)


def test_coupon_repr_hides_secrets() -> None:
    coupon = make_coupon(ARK, CTX, SECRETS[3])
    assert str(SECRETS[3]) not in repr(coupon) and hex(coupon.rho) not in repr(coupon)
    assert "rho" not in repr(coupon) and "x=" not in repr(coupon)


def test_context_validation() -> None:
    with pytest.raises(InvalidInput, match="genesis hash"):
        RingContext(b"short", 1, RING)
    with pytest.raises(InvalidInput, match="ring_change"):
        RingContext(GENESIS, -1, RING)
    with pytest.raises(InvalidInput, match="same key at positions 0 and 2"):
        RingContext(GENESIS, 1, (RING[0], RING[1], RING[0]))
    with pytest.raises(InvalidInput, match="0 members"):
        RingContext(GENESIS, 1, ())
    with pytest.raises(InvalidInput, match="48 bytes"):
        RingContext(GENESIS, 1, (b"x",))


def test_bad_ring_key_is_named() -> None:
    ctx = RingContext(GENESIS, 1, (RING[0], bytes.fromhex("c0" + "00" * 47)))
    sig = _sign(CTX4, 0)
    with pytest.raises(VerificationError, match="branches but the ring has 2"):
        ring_verify(ARK, ctx, SUBJECT, b"entry", sig)
    ctx2 = RingContext(GENESIS, 4, (*RING[:3], bytes.fromhex("c0" + "00" * 47)))
    with pytest.raises(VerificationError, match="ring member 3 key is not a valid public key"):
        ring_verify(ARK, ctx2, SUBJECT, b"entry", sig)


def test_signature_field_validation() -> None:
    sig = _sign(CTX4, 0)
    with pytest.raises(InvalidInput, match="tag must be a 96-byte"):
        replace(sig, tag=b"x")
    with pytest.raises(InvalidInput, match="t1 must be a 96-byte"):
        replace(sig, t1=sig.t1[:48])
    with pytest.raises(InvalidInput, match="z2 is not a canonical scalar"):
        replace(sig, z2=ORDER)
    with pytest.raises(InvalidInput, match="3 challenges"):
        replace(sig.coupon, c=sig.coupon.c[:3])
    with pytest.raises(InvalidInput, match="A\\[1\\] must be a 96-byte"):
        replace(sig.coupon, a=(sig.coupon.a[0], sig.link_tag, *sig.coupon.a[2:]))
    with pytest.raises(InvalidInput, match="ring_sign needs a Coupon"):
        ring_sign(ARK, sig.coupon, SUBJECT, b"m")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="subject tag"):
        ring_sign(ARK, make_coupon(ARK, CTX4, SECRETS[0]), b"short", b"m")


# ---- vectors ----

VALID = [c for c in VEC["cases"] if c["valid"]]
INVALID = [c for c in VEC["cases"] if not c["valid"]]


def test_vector_file_shape() -> None:
    assert len(VALID) >= 5 and len(INVALID) >= 30
    assert all(c["why"] for c in VEC["cases"])
    whys = " ".join(c["why"] for c in INVALID)
    for needed in ("z1 + 1", "z2 + 1", "e + 1", "t1 replaced", "t2 replaced", "Cx with a point of order 3",
                   "(0, 0)", "I of another subject", "another ring", "branch", "truncated", "non-canonical"):
        assert needed in whys, needed


@pytest.mark.parametrize("case", VALID, ids=lambda c: f'{c["id"]}-{c["why"][:40]}')
def test_valid_vectors(case: dict[str, Any]) -> None:
    ctx, subject, message = _ctx(case)
    sig = RingSignature.from_bytes(bytes.fromhex(case["signature"]))
    ring_verify(ARK, ctx, subject, message, sig)
    assert sig.link_tag.hex() == case["expected_link_tag"]
    if "coupon_draws" in case:  # known answer: replaying the draws gives the same bytes
        x = int(case["signer_key"], 16)
        coupon = make_coupon(ARK, ctx, x, rng=_replay(case["coupon_draws"]))
        again = ring_sign(ARK, coupon, subject, message, rng=_replay(case["sign_draws"]))
        assert again.to_bytes().hex() == case["signature"]


def test_valid_vector_py_ecc_backend() -> None:
    case = next(c for c in VALID if len(c["ring"]) == 1)
    ctx, subject, message = _ctx(case)
    sig = RingSignature.from_bytes(bytes.fromhex(case["signature"]))
    ring_verify(PYECC, ctx, subject, message, sig)
    coupon = make_coupon(PYECC, ctx, int(case["signer_key"], 16), rng=_replay(case["coupon_draws"]))
    assert ring_sign(PYECC, coupon, subject, message, rng=_replay(case["sign_draws"])).to_bytes().hex() \
        == case["signature"]


@pytest.mark.parametrize("case", INVALID, ids=lambda c: f'{c["id"]}-{c["why"][:40]}')
def test_invalid_vectors(case: dict[str, Any]) -> None:
    ctx, subject, message = _ctx(case)
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["message_contains"])):
        ring_verify(ARK, ctx, subject, message, RingSignature.from_bytes(bytes.fromhex(case["signature"])))
    if case["error"] == "VerificationError":  # the batch names it too
        good = next(c for c in VALID if c["ring"] == case["ring"] and c["subject_tag"] == case["subject_tag"]) \
            if any(c["ring"] == case["ring"] for c in VALID) else None
        items: list[RingItem] = []
        if good is not None:
            gctx, gs, gm = _ctx(good)
            items.append((gctx, gs, gm, RingSignature.from_bytes(bytes.fromhex(good["signature"]))))
        items.append((ctx, subject, message, RingSignature.from_bytes(bytes.fromhex(case["signature"]))))
        with pytest.raises(VerificationError, match=f"^item {len(items) - 1}: .*{re.escape(case['message_contains'])}"):
            batch_ring_verify(ARK, items)


# ---- properties ----

@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 7), data=st.data())
def test_verifies_iff_signer_in_ring(n: int, data: st.DataObject) -> None:
    """Completeness anywhere in any ring; the same signature against the ring with the
    signer replaced fails (a wrong key cannot have made it)."""
    signer = data.draw(st.integers(0, 7))
    position = data.draw(st.integers(0, n - 1))
    keys = [k[1] for k in KEYS if k[1] != KEYS[signer][1]][: n - 1]
    keys.insert(position, KEYS[signer][1])
    ctx = RingContext(GENESIS, 2, tuple(keys))
    sig = _sign(ctx, signer, msg=b"p")
    ring_verify(ARK, ctx, SUBJECT, b"p", sig)
    assert sig.link_tag == link_tag(SECRETS[signer], SUBJECT)
    outsider = list(keys)
    outsider[position] = next(k[1] for k in KEYS if k[1] not in keys)
    with pytest.raises(VerificationError):
        ring_verify(ARK, RingContext(GENESIS, 2, tuple(outsider)), SUBJECT, b"p", sig)


@settings(max_examples=25, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_single_bit_flip_is_rejected(position: int, bit: int) -> None:
    data = bytearray(SIG4.to_bytes())
    data[position % len(data)] ^= 1 << bit
    with pytest.raises((InvalidInput, VerificationError)):
        ring_verify(ARK, CTX4, SUBJECT, b"m", RingSignature.from_bytes(bytes(data)))


SIG4 = ring_sign(ARK, make_coupon(ARK, CTX4, SECRETS[1]), SUBJECT, b"m")


# ---- batch verification ----

def _batch(count: int) -> list[RingItem]:
    items: list[RingItem] = []
    for i in range(count):
        ctx = CTX if i % 2 else CTX4
        subject = SUBJECT if i % 3 else OTHER_SUBJECT
        msg = f"entry {i}".encode()
        items.append((ctx, subject, msg, _sign(ctx, i % 4, subject, msg)))
    return items


BATCH = _batch(12)


def test_batch_accepts_good_signatures() -> None:
    batch_ring_verify(ARK, BATCH)
    batch_ring_verify(ARK, [])
    batch_ring_verify(PYECC, BATCH[:2])


@pytest.mark.parametrize("bad_index", [0, 7, 11])
def test_batch_names_bad_signature(bad_index: int) -> None:
    items = list(BATCH)
    ctx, subject, msg, sig = items[bad_index]
    items[bad_index] = (ctx, subject, msg + b"x", sig)
    with pytest.raises(VerificationError, match=f"^item {bad_index}: ring signature fails"):
        batch_ring_verify(ARK, items)


def test_batch_names_signature_failing_only_the_group_equation() -> None:
    """A hash-consistent forgery (a non-member posing as member 3): only the combined MSM
    can see it; the fallback names it and its failing branch."""
    items = list(BATCH)
    ctx, subject, msg, _ = items[7]
    forged = ringmod._make_coupon(ARK, ctx, SECRETS[6], 3, None)
    items[7] = (ctx, subject, msg, ring_sign(ARK, forged, subject, msg))
    with pytest.raises(VerificationError, match="^item 7: ring signature coupon branch 3 fails"):
        batch_ring_verify(ARK, items)


def test_batch_names_link_tag_swap() -> None:
    items = list(BATCH)
    ctx, subject, msg, sig = items[8]
    items[8] = (ctx, subject, msg, replace(sig, tag=items[9][3].tag))
    with pytest.raises(VerificationError, match="^item 8: "):
        batch_ring_verify(ARK, items)


def test_batch_names_size_mismatch() -> None:
    items = list(BATCH)
    _, subject, msg, sig = items[4]  # signed over CTX4
    items[4] = (CTX, subject, msg, sig)
    with pytest.raises(VerificationError, match="^item 4: ring signature has 4 branches but the ring has 6 members"):
        batch_ring_verify(ARK, items)


def test_single_and_batch_agree_on_every_vector() -> None:
    for case in VEC["cases"]:
        ctx, subject, message = _ctx(case)
        try:
            sig = RingSignature.from_bytes(bytes.fromhex(case["signature"]))
        except InvalidInput:
            assert not case["valid"]
            continue
        outcomes = []
        for batch in (False, True):
            try:
                if batch:
                    batch_ring_verify(ARK, [(ctx, subject, message, sig)])
                else:
                    ring_verify(ARK, ctx, subject, message, sig)
                outcomes.append(True)
            except VerificationError:
                outcomes.append(False)
        assert outcomes == [case["valid"]] * 2, case["why"]


# ---- transient points decoded on the curve only (see batch_ring_verify) ----

OFF_SUBGROUP = encoding("cofactor_point")  # on the curve, has a G1 part and an h-part
#: Points of order dividing the cofactor h: one of order 3, one of large order (q·Q).
TORSION = {
    "order 3": ARK.decode_unchecked(encoding("order_3_point")),
    "order dividing h": times(ARK, ARK.decode_unchecked(OFF_SUBGROUP), ORDER),
}


def _coupon_with(group: Group, ctx: RingContext, s: int, x: int, extra: dict[int, Point]) -> Coupon:
    """The honest coupon prover, except that it adds extra[j] to A_j before hashing."""
    h = blinding_base(group)
    points = ringmod._ring_points(group, ctx.ring)
    rho = ringmod._random_key()
    cx = group.add(group.mul(group.generator(), x), group.mul(h, rho))
    n = ctx.n
    a_pts: list[Point] = [group.identity()] * n
    c, w = [0] * n, [0] * n
    for j in range(n):
        if j != s:
            c[j], w[j] = ringmod._random_key(), ringmod._random_key()
            a_pts[j] = group.msm([h, group.sub(cx, points[j])], [w[j], -c[j]])
    k = ringmod._random_key()
    a_pts[s] = group.mul(h, k)
    for j, t_point in extra.items():
        a_pts[j] = group.add(a_pts[j], t_point)
    a = tuple(group.encode_xy(p) for p in a_pts)
    cx_bytes = group.encode_xy(cx)
    c[s] = (ringmod._coupon_challenge(ctx, cx_bytes, a) - sum(c)) % ORDER
    w[s] = (k + c[s] * rho) % ORDER
    return Coupon(ctx, CouponProof(cx_bytes, a, tuple(c), tuple(w)), x, rho)


@pytest.mark.parametrize("name", list(TORSION))
@pytest.mark.parametrize("j", [0, 2, 3])
def test_signer_added_torsion_is_accepted(name: str, j: int) -> None:
    """Documented behaviour: h-torsion a signer adds to its own A_j is accepted. Keys, Cx
    and I are checked, so the statement still holds; single and batch verification agree
    whatever the random coefficients."""
    coupon = _coupon_with(ARK, CTX4, 2, SECRETS[2], {j: TORSION[name]})
    sig = ring_sign(ARK, coupon, SUBJECT, b"entry")
    with pytest.raises(InvalidInput, match="prime-order subgroup"):
        ARK.decode(ARK.encode(ARK.decode_xy_unchecked(sig.coupon.a[j])))
    assert sig.link_tag == link_tag(SECRETS[2], SUBJECT)
    for _ in range(10):
        ring_verify(ARK, CTX4, SUBJECT, b"entry", sig)
    batch_ring_verify(ARK, [*BATCH[:3], (CTX4, SUBJECT, b"entry", sig), *BATCH[3:5]])


def test_signer_added_torsion_is_accepted_by_py_ecc_backend() -> None:
    ctx = RingContext(GENESIS, 1, RING[:2])
    coupon = _coupon_with(ARK, ctx, 0, SECRETS[0], {1: TORSION["order 3"]})
    sig = ring_sign(ARK, coupon, SUBJECT, b"m")
    ring_verify(PYECC, ctx, SUBJECT, b"m", sig)
    batch_ring_verify(PYECC, [(ctx, SUBJECT, b"m", sig)])


def test_nobody_else_can_add_torsion_to_a_signature() -> None:
    sig = _sign(CTX4, 1)
    a = list(sig.coupon.a)
    a[3] = ARK.encode_xy(ARK.add(ARK.decode_xy_unchecked(a[3]), TORSION["order 3"]))
    tampered = replace(sig, coupon=replace(sig.coupon, a=tuple(a)))
    with pytest.raises(VerificationError, match="coupon challenges do not sum"):
        ring_verify(ARK, CTX4, SUBJECT, b"entry", tampered)
    t1 = ARK.encode_xy(ARK.add(ARK.decode_xy_unchecked(sig.t1), TORSION["order 3"]))
    with pytest.raises(VerificationError, match="^item 1: ring signature fails"):
        batch_ring_verify(ARK, [BATCH[0], (CTX4, SUBJECT, b"entry", replace(sig, t1=t1))])


def test_a_point_outside_g1_with_a_g1_part_is_refused() -> None:
    """x = 4 is on the curve with a non-zero G1 component: the cofactor does not hide
    that, so a coupon hashed with it as A_1 fails its branch equation."""
    off = ARK.decode_unchecked(OFF_SUBGROUP)
    coupon = _coupon_with(ARK, CTX4, 2, SECRETS[2], {1: off})
    sig = ring_sign(ARK, coupon, SUBJECT, b"e")
    with pytest.raises(VerificationError, match="coupon branch 1 fails"):
        ring_verify(ARK, CTX4, SUBJECT, b"e", sig)


@pytest.mark.parametrize("name", list(TORSION))
def test_link_tag_with_torsion_is_refused_although_its_equations_hold(name: str) -> None:
    """I is persistent (it counts reporters), so it stays subgroup-checked: I + T is refused
    even when the cofactored equations hold (shown first)."""
    coupon = make_coupon(ARK, CTX4, SECRETS[3])
    base = link_base(ARK, SUBJECT)
    a, b = ringmod._random_key(), ringmod._random_key()
    t1 = ARK.encode_xy(ARK.add(ARK.mul(ARK.generator(), a), ARK.mul(blinding_base(ARK), b)))
    tag_point = ARK.add(ARK.mul(base, SECRETS[3]), TORSION[name])
    tag = ARK.encode_xy(tag_point)
    t2 = ARK.encode_xy(ARK.mul(base, a))
    e = ringmod._online_challenge(CTX4, SUBJECT, b"m", coupon.proof.encoded, tag, t1, t2)
    sig = RingSignature(tag, t1, t2, (a + e * SECRETS[3]) % ORDER, (b + e * coupon.rho) % ORDER, coupon.proof)
    decoded = ringmod._Decoded(
        context=CTX4, ring_points=ringmod._ring_points(ARK, CTX4.ring), subject_tag=SUBJECT, base=base, e=e,
        cx=ARK.decode_xy(coupon.proof.cx), tag=tag_point, t1=ARK.decode_xy_unchecked(t1),
        t2=ARK.decode_xy_unchecked(t2), a_pts=tuple(ARK.decode_xy_unchecked(p) for p in coupon.proof.a), sig=sig,
    )
    assert ringmod._combined_equation(ARK, [decoded])
    with pytest.raises(VerificationError, match="^ring signature link tag is not a valid point: .*prime-order"):
        ring_verify(ARK, CTX4, SUBJECT, b"m", sig)
    with pytest.raises(VerificationError, match="^item 1: ring signature link tag is not a valid point"):
        batch_ring_verify(ARK, [BATCH[0], (CTX4, SUBJECT, b"m", sig)])


def test_uncompressed_encoding_round_trips_in_both_backends() -> None:
    for point in (ARK.generator(), ARK.mul(ARK.generator(), 12345), TORSION["order 3"],
                  ARK.decode_unchecked(OFF_SUBGROUP)):
        data = ARK.encode_xy(point)
        assert ARK.eq(ARK.decode_xy_unchecked(data), point)
        assert PYECC.encode_xy(PYECC.decode_xy_unchecked(data)) == data
        assert PYECC.encode(PYECC.decode_xy_unchecked(data)) == ARK.encode(point)
    for point in (ARK.generator(), ARK.mul(ARK.generator(), 98765)):
        assert compress_xy(ARK.encode_xy(point)) == ARK.encode(point)
        assert ARK.eq(ARK.decode_xy(ARK.encode_xy(point)), point)
        assert PYECC.encode(PYECC.decode_xy(ARK.encode_xy(point))) == ARK.encode(point)
    for group in (ARK, PYECC):
        for name in TORSION:
            with pytest.raises(InvalidInput, match="prime-order subgroup"):
                group.decode_xy(ARK.encode_xy(TORSION[name]))
        with pytest.raises(InvalidInput, match="identity has no uncompressed"):
            group.encode_xy(group.identity())
        with pytest.raises(InvalidInput, match="not on the curve"):
            group.decode_xy_unchecked(bytes(96))


# ---- the coupon pool ----

def test_pool_spends_before_handing_out_and_never_twice() -> None:
    spent: list[bytes] = []
    with CouponPool(ARK, SECRETS[1], spent.append) as pool:
        pool.refill(CTX4, 3)
        assert len(pool) == 3
        coupons = [pool.take(CTX4) for _ in range(5)]  # 3 ready, 2 made on the spot
    assert [c.commitment for c in coupons] == spent
    assert len(set(spent)) == 5
    for c in coupons:
        ring_verify(ARK, CTX4, SUBJECT, b"x", ring_sign(ARK, c, SUBJECT, b"x"))


def test_pool_failed_spend_hands_out_nothing() -> None:
    def refuse(_cx: bytes) -> None:
        raise OSError("disk full")

    with CouponPool(ARK, SECRETS[1], refuse) as pool:
        pool.refill(CTX4, 1)
        with pytest.raises(OSError):
            pool.take(CTX4)
        assert len(pool) == 0


def test_pool_voids_coupons_when_the_ring_changes() -> None:
    with CouponPool(ARK, SECRETS[1]) as pool:
        pool.refill(CTX4, 2)
        newer = RingContext(GENESIS, 9, RING)
        coupon = pool.take(newer)
        assert coupon.context == newer and len(pool) == 0
        ring_verify(ARK, newer, SUBJECT, b"x", ring_sign(ARK, coupon, SUBJECT, b"x"))


def test_pool_background_thread_fills_and_stops() -> None:
    done = threading.Event()
    pool = CouponPool(ARK, SECRETS[2])
    pool.start_background(CTX4, 2)
    for _ in range(200):
        if len(pool) >= 2:
            done.set()
            break
        threading.Event().wait(0.05)
    pool.close()
    assert done.is_set() and len(pool) == 0
    with pytest.raises(InvalidInput, match="closed"):
        pool.take(CTX4)


def test_pool_refuses_a_key_outside_the_ring() -> None:
    with CouponPool(ARK, SECRETS[7]) as pool, pytest.raises(InvalidInput, match="not in the ring"):
        pool.start_background(CTX4, 1)


def test_a_coupon_made_while_the_ring_changes_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The background thread is part-way through a coupon for the old ring when a take names
    a new one: that coupon is dropped when it is done (`core.pool.Pool._void`), and every
    coupon handed out names the ring it was asked for."""
    started, release = threading.Event(), threading.Event()
    real = make_coupon

    def slow_for_the_old_ring(group: Any, context: RingContext, x: int) -> Any:
        if context == CTX4:
            started.set()
            release.wait(10)
        return real(group, context, x)

    monkeypatch.setattr("core.coupons.make_coupon", slow_for_the_old_ring)
    newer = RingContext(GENESIS, 9, RING)
    with CouponPool(ARK, SECRETS[1]) as pool:
        pool.start_background(CTX4, 1)
        assert started.wait(10)
        taken = pool.take(newer)  # while the old ring's coupon is still being made
        release.set()
        for _ in range(100):  # the thread finishes the old coupon, drops it, makes new ones
            if len(pool):
                break
            threading.Event().wait(0.05)
        assert len(pool) == 1
        handed = [taken, pool.take(newer), pool.take(newer)]
    assert all(c.context == newer for c in handed)


def test_a_key_that_left_the_ring_waits_for_the_next_ring() -> None:
    """A member revoked while its pool runs: the thread cannot make a coupon for the ring
    without its key, so it waits (no error, no busy loop) until a ring with the key is asked for."""
    with CouponPool(ARK, SECRETS[1]) as pool:
        pool.start_background(CTX4, 1)
        without = RingContext(GENESIS, 11, tuple(k for k in RING if k != KEYS[1][1]))
        with pytest.raises(InvalidInput):
            pool.take(without)  # made on the spot: this key is not in that ring
        threading.Event().wait(0.2)
        assert len(pool) == 0
        back = RingContext(GENESIS, 12, RING)
        pool.take(back)
        for _ in range(100):
            if len(pool):
                break
            threading.Event().wait(0.05)
        assert len(pool) == 1 and pool.take(back).context == back
