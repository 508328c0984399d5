"""Regenerate ring_signature.json: known-answer and invalid ring signatures (version 2, coupons).

Run: python tests/vectors/make_ring_signature.py

Member keys are x_i = SHA-512(b"candor-ring-vector/key/" ‖ i) mod q (the same keys as the
first form's vectors, whose link tags are kept under "form1_link_tags": a member's tag on
a subject did not change). Known answers are made with core.ring.make_coupon and ring_sign
driven by recorded draws, so the test can replay them and demand the same bytes. Invalid
cases change one thing in a valid signature or its context, or are made by a forger doing
the arithmetic itself (below), so that every check of the verifier is the one that fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.group import FIELD_MODULUS, ORDER, Group, Point, default_group
from core.ring import (
    Coupon,
    CouponProof,
    RingContext,
    RingSignature,
    _coupon_challenge,
    _make_coupon,
    _online_challenge,
    _ring_points,
    blinding_base,
    link_base,
    link_tag,
    make_coupon,
    public_key,
    ring_sign,
)

OUT = Path(__file__).with_name("ring_signature.json")
GROUP: Group = default_group()
FORM1_TAGS = [  # (key, subject tag, link tag) from the first form's valid vectors, before it was retired
    ("573968b3eb2f9aaf6e2cd37acf9c1f14542cff9bd8a4a9a8794197e3bc5147e8",
     "0d707fa4e9a180c36b8dc7e0e1309ca05c948f79d4c1f4dc2afd31ba34ffbf77",
     "b3682dee776801d8c83a2f1debe424066290e1b63acfa98bb1e693508900458ee5b9a2fb4044793f74de5e892e40523e"),
    ("3a2abc513a5e2c7b4ea22cfb385c2c7af5b118e3b257a767ee5d36009aa19831",
     "1c21a5e5f6ec40f0b6e8d954dcaa0a1df14890bbcd16e4a1f5744458a19999b1",
     "a5eee5c26bd5f308c14f57efd91e8b406e63150b6bb6a3d0cc33adb44dcf6cd65c47376f83ae73166d3a865cd70931cc"),
    ("3a2abc513a5e2c7b4ea22cfb385c2c7af5b118e3b257a767ee5d36009aa19831",
     "0d707fa4e9a180c36b8dc7e0e1309ca05c948f79d4c1f4dc2afd31ba34ffbf77",
     "b5718894f99c14798922a7f2e0b043aeb814a1fd0b56a21721695392c113d0fb9d51c1bdef4dc01db3148c36e25b182b"),
    ("44586e6cc1255a34487201790cd2667c610038ad27024b4f063fbac23396e4d4",
     "0d707fa4e9a180c36b8dc7e0e1309ca05c948f79d4c1f4dc2afd31ba34ffbf77",
     "8e47c75533dc92ede5773407af3a66216ab5788b898765d3303c550041100d99083a3a1c47c02109bfceee8b6a03fd11"),
]


def det(label: str) -> int:
    return int.from_bytes(hashlib.sha512(b"candor-ring-vector/" + label.encode()).digest(), "big") % ORDER


KEYS = [det(f"key/{i}") for i in range(7)]
PUBS = [public_key(x) for x in KEYS]
GENESIS = hashlib.sha256(b"candor ring vector genesis").digest()
OTHER_GENESIS = hashlib.sha256(b"another ledger").digest()
CTX = RingContext(GENESIS, 3, tuple(PUBS[:5]))
SUBJECT = hashlib.sha256(b"subject A").digest()
SUBJECT_B = hashlib.sha256(b"subject B").digest()
MESSAGE = b"candor/v1/entry\nReportCommitted entry bytes"


def recording_rng(label: str, log: list[int]) -> Callable[[], int]:
    def rng() -> int:
        value = det(f"{label}/draw/{len(log)}")
        log.append(value)
        return value
    return rng


def torsion_point() -> Point:
    """A point of order 3 (on E, outside G1), from the decode vectors' "order_3_point"."""
    cases = json.loads((Path(__file__).with_name("g1_decode.json")).read_text())["cases"]
    enc = bytes.fromhex(next(c["encoding"] for c in cases if c["name"] == "order_3_point"))
    return GROUP.decode_unchecked(enc)


T3 = torsion_point()


def xy_off_curve() -> bytes:
    return (1).to_bytes(48, "big") + (1).to_bytes(48, "big")


def with_fields(sig: RingSignature, **over: Any) -> bytes:
    """The encoding of `sig` with some fields replaced (no re-hashing)."""
    coupon_over = {k[2:]: v for k, v in over.items() if k.startswith("c_")}
    top = {k: v for k, v in over.items() if not k.startswith("c_")}
    c = sig.coupon
    coupon = CouponProof(coupon_over.get("cx", c.cx), coupon_over.get("a", c.a),
                         coupon_over.get("c", c.c), coupon_over.get("w", c.w))
    fields = {"tag": sig.tag, "t1": sig.t1, "t2": sig.t2, "z1": sig.z1, "z2": sig.z2, **top}
    return RingSignature(coupon=coupon, **fields).to_bytes()


def forged_coupon(ctx: RingContext, x: int, s: int, rho: int, cx: Point, seed: str,
                  a_override: dict[int, bytes] | None = None) -> Coupon:
    """A coupon whose ring proof is made honestly for branch s with commitment point cx
    (which need not be x·G + ρ·H, nor in G1), with some A_j replaced before hashing: the
    forger's tool."""
    g = GROUP
    h = blinding_base(g)
    points = _ring_points(g, ctx.ring)
    cx_bytes = g.encode_xy(cx)
    n = ctx.n
    a: list[bytes] = [b""] * n
    c = [0] * n
    w = [0] * n
    for j in range(n):
        if j == s:
            continue
        c[j], w[j] = det(f"{seed}/c/{j}"), det(f"{seed}/w/{j}")
        a[j] = g.encode_xy(g.msm([h, g.sub(cx, points[j])], [w[j], -c[j]]))
    k = det(f"{seed}/k")
    a[s] = g.encode_xy(g.mul(h, k))
    for j, value in (a_override or {}).items():
        a[j] = value
    c[s] = (_coupon_challenge(ctx, cx_bytes, a) - sum(c)) % ORDER
    w[s] = (k + c[s] * rho) % ORDER
    return Coupon(ctx, CouponProof(cx_bytes, tuple(a), tuple(c), tuple(w)), x, rho)


def forged_online(coupon: Coupon, subject: bytes, message: bytes, seed: str, *, tag_point: Point | None = None,
                  tag_base: bytes | None = None, e_shift: int = 0, t1_extra: Point | None = None) -> bytes:
    """The online proof done by hand: `tag_point` replaces I, `tag_base` hashes t2 from
    another subject's base, `e_shift` answers a challenge other than the hash, `t1_extra`
    is added to t1 before hashing (torsion by the signer)."""
    g = GROUP
    x, rho = coupon.x, coupon.rho
    a, b = det(f"{seed}/a"), det(f"{seed}/b")
    base = link_base(g, subject)
    t2_base = link_base(g, tag_base) if tag_base else base
    t1p = g.add(g.mul(g.generator(), a), g.mul(blinding_base(g), b))
    if t1_extra is not None:
        t1p = g.add(t1p, t1_extra)
    t1 = g.encode_xy(t1p)
    tag = g.encode_xy(g.mul(t2_base, x) if tag_point is None else tag_point)
    t2 = g.encode_xy(g.mul(t2_base, a))
    e = (_online_challenge(coupon.context, subject, message, coupon.proof.encoded, tag, t1, t2) + e_shift) % ORDER
    return RingSignature(tag, t1, t2, (a + e * x) % ORDER, (b + e * rho) % ORDER, coupon.proof).to_bytes()


def main() -> None:
    cases: list[dict[str, Any]] = []

    def add(**case: Any) -> None:
        cases.append({"id": len(cases) + 1, **case})

    def ctx_json(ctx: RingContext, subject: bytes, message: bytes) -> dict[str, Any]:
        return {"genesis_hash": ctx.genesis_hash.hex(), "ring_change": ctx.ring_change,
                "ring": [k.hex() for k in ctx.ring], "subject_tag": subject.hex(), "signed_message": message.hex()}

    valid: dict[str, tuple[Coupon, RingSignature]] = {}
    for label, ctx, signer, subject, message in [
        ("member 2 of 5, subject A", CTX, 2, SUBJECT, MESSAGE),
        ("member 2 of 5, subject B (another link tag, same key)", CTX, 2, SUBJECT_B, MESSAGE),
        ("member 4 of 5, another message", CTX, 4, SUBJECT, b"candor/v1/entry\nReportRetracted bytes"),
        ("the only member of a ring of 1", RingContext(GENESIS, 1, (PUBS[0],)), 0, SUBJECT, MESSAGE),
    ]:
        coupon_draws: list[int] = []
        sign_draws: list[int] = []
        coupon = make_coupon(GROUP, ctx, KEYS[signer], rng=recording_rng(f"{label}/coupon", coupon_draws))
        sig = ring_sign(GROUP, coupon, subject, message, rng=recording_rng(f"{label}/sign", sign_draws))
        valid[label] = (coupon, sig)
        add(valid=True, why=f"honest signature: {label}", **ctx_json(ctx, subject, message),
            signature=sig.to_bytes().hex(), signer_index=signer, signer_key=hex(KEYS[signer]),
            coupon_draws=[hex(v) for v in coupon_draws], sign_draws=[hex(v) for v in sign_draws],
            expected_link_tag=link_tag(KEYS[signer], subject).hex())

    coupon, sig = valid["member 2 of 5, subject A"]
    x = KEYS[2]
    good = ctx_json(CTX, SUBJECT, MESSAGE)
    torsion_sig = forged_online(coupon, SUBJECT, MESSAGE, "torsion", t1_extra=T3)
    add(valid=True, why="the signer added a point of order 3 to its own t1 before hashing: the cofactored "
        "equation accepts it, for the same true statement (nobody else can: the hash binds t1)",
        **good, signature=torsion_sig.hex(), signer_index=2, signer_key=hex(x),
        expected_link_tag=link_tag(x, SUBJECT).hex())

    def bad(why: str, error: str, contains: str, signature: bytes, context: dict[str, Any] | None = None) -> None:
        add(valid=False, why=why, error=error, message_contains=contains, **(context or good),
            signature=signature.hex())

    q = ORDER
    enc = sig.to_bytes()
    fails_open = "z1·G + z2·H == t1 + e·Cx"
    bad("z1 + 1: the online response no longer answers the challenge", "VerificationError", fails_open,
        with_fields(sig, z1=(sig.z1 + 1) % q))
    bad("z2 + 1", "VerificationError", fails_open, with_fields(sig, z2=(sig.z2 + 1) % q))
    bad("responses computed for e + 1 instead of the Fiat–Shamir hash e", "VerificationError", fails_open,
        forged_online(coupon, SUBJECT, MESSAGE, "eshift", e_shift=1))
    other = GROUP.encode_xy(GROUP.mul(GROUP.generator(), 5))
    bad("t1 replaced by another curve point (the hash changes, so does e)", "VerificationError", fails_open,
        with_fields(sig, t1=other))
    bad("t2 replaced by another curve point", "VerificationError", "fails", with_fields(sig, t2=other))
    bad("t1 off the curve", "VerificationError", "t1 is not a valid curve point", with_fields(sig, t1=xy_off_curve()))
    bad("t2 with x = p (non-canonical coordinate)", "VerificationError", "t2 is not a valid curve point",
        with_fields(sig, t2=FIELD_MODULUS.to_bytes(48, "big") + sig.t2[48:]))
    bad("coupon A[1] off the curve", "VerificationError", "coupon challenges do not sum",
        with_fields(sig, c_a=(sig.coupon.a[0], xy_off_curve(), *sig.coupon.a[2:])))
    rho_a = det("offcurve/rho")
    cx_a = GROUP.add(GROUP.mul(GROUP.generator(), x), GROUP.mul(blinding_base(GROUP), rho_a))
    off = forged_coupon(CTX, x, 2, rho_a, cx_a, "offcurve", {1: xy_off_curve()})
    bad("coupon A[1] off the curve, hashed as such (the challenge sum holds): the curve check refuses it",
        "VerificationError", "coupon A[1] is not a valid curve point", forged_online(off, SUBJECT, MESSAGE, "offcurve"))
    bad("I given as (0, 0), the only candidate encoding of the identity (which has no uncompressed form and "
        "which no key yields)", "VerificationError", "link tag is not a valid point",
        with_fields(sig, tag=bytes(96)))
    bad("I of another subject: the signer's honest tag for subject B on a report about A", "VerificationError",
        "z1·B == t2 + e·I", forged_online(coupon, SUBJECT, MESSAGE, "othersubject",
                                          tag_point=GROUP.mul(link_base(GROUP, SUBJECT_B), x)))
    bad("signature for subject B verified as subject A (the hash binds the subject)", "VerificationError", "fails",
        valid["member 2 of 5, subject B (another link tag, same key)"][1].to_bytes())
    bad("I with a point of order 3 added (responses made for it): the cofactored equations would accept it, "
        "so only the subgroup check stands between one key and several tags", "VerificationError",
        "link tag is not a valid point",
        forged_online(coupon, SUBJECT, MESSAGE, "tagtorsion",
                      tag_point=GROUP.add(GROUP.mul(link_base(GROUP, SUBJECT), x), T3)))
    bad("another message", "VerificationError", "fails", enc, ctx_json(CTX, SUBJECT, MESSAGE + b"!"))
    ring_b = RingContext(GENESIS, 3, (*PUBS[:4], PUBS[5]))
    bad("a coupon for another ring (member 4 replaced by member 5)", "VerificationError",
        "coupon challenges do not sum", enc, ctx_json(ring_b, SUBJECT, MESSAGE))
    bad("a coupon for another membership change (same keys, ring_change 7)", "VerificationError",
        "coupon challenges do not sum", enc, ctx_json(RingContext(GENESIS, 7, CTX.ring), SUBJECT, MESSAGE))
    bad("a coupon for another ledger (genesis hash)", "VerificationError", "coupon challenges do not sum",
        enc, ctx_json(RingContext(OTHER_GENESIS, 3, CTX.ring), SUBJECT, MESSAGE))
    bad("the ring in another order", "VerificationError", "coupon challenges do not sum",
        enc, ctx_json(RingContext(GENESIS, 3, CTX.ring[::-1]), SUBJECT, MESSAGE))
    bad("the ring one member shorter", "VerificationError", "5 branches but the ring has 4 members",
        enc, ctx_json(RingContext(GENESIS, 3, CTX.ring[:4]), SUBJECT, MESSAGE))
    c = list(sig.coupon.c)
    bad("coupon challenge c_0 + 1", "VerificationError", "coupon challenges do not sum",
        with_fields(sig, c_c=((c[0] + 1) % q, *c[1:])))
    bad("coupon challenges c_0 + 1 and c_1 − 1 (sum kept): branch 0 fails", "VerificationError",
        "coupon branch 0 fails", with_fields(sig, c_c=((c[0] + 1) % q, (c[1] - 1) % q, *c[2:])))
    w = list(sig.coupon.w)
    bad("coupon response w_3 + 1", "VerificationError", "coupon branch 3 fails",
        with_fields(sig, c_w=(*w[:3], (w[3] + 1) % q, *w[4:])))
    bad("coupon commitment A_2 replaced", "VerificationError", "coupon challenges do not sum",
        with_fields(sig, c_a=(*sig.coupon.a[:2], other, *sig.coupon.a[3:])))
    bad("Cx replaced by another G1 point", "VerificationError", "coupon challenges do not sum",
        with_fields(sig, c_cx=GROUP.encode_xy(GROUP.mul(GROUP.generator(), 7))))
    rho = det("offsubgroup/rho")
    cx_t = GROUP.add(GROUP.add(GROUP.mul(GROUP.generator(), x), GROUP.mul(blinding_base(GROUP), rho)), T3)
    forged = forged_coupon(CTX, x, 2, rho, cx_t, "offsubgroup")
    bad("Cx with a point of order 3 added, coupon and online proof made for it (every cofactored equation "
        "holds): a second encoding of a spent coupon; the subgroup check refuses it", "VerificationError",
        "coupon commitment Cx is not a valid G1 point", forged_online(forged, SUBJECT, MESSAGE, "offsubgroup"))
    zero = forged_coupon(CTX, x, 2, 0, GROUP.mul(GROUP.generator(), x), "rhozero")
    bad("ρ = 0: Cx is the signer's own public key, which would name it", "VerificationError",
        "equals a ring member's key", forged_online(zero, SUBJECT, MESSAGE, "rhozero"))
    outsider = _make_coupon(GROUP, CTX, KEYS[6], 2, rng=lambda: det("outsider"))
    bad("a non-member (key 6) posing as member 2: its coupon branch 2 fails", "VerificationError",
        "coupon branch 2 fails", ring_sign(GROUP, outsider, SUBJECT, MESSAGE, rng=lambda: det("outsider/sign")).to_bytes())
    swapped = Coupon(CTX, coupon.proof, KEYS[3], coupon.rho)
    bad("member 2's coupon spent by member 3's key (the online proof does not open Cx)", "VerificationError",
        fails_open, ring_sign(GROUP, swapped, SUBJECT, MESSAGE, rng=lambda: det("swapped")).to_bytes())
    bad("version byte 1 (the retired first form)", "InvalidInput", "version 1 is not supported", b"\x01" + enc[1:])
    bad("truncated by one byte", "InvalidInput", "bytes, expected", enc[:-1])
    bad("one byte too many", "InvalidInput", "bytes, expected", enc + b"\x00")
    bad("branch count 0", "InvalidInput", "claims 0 branches", enc[:353] + b"\x00\x00" + enc[355:])
    bad("z1 + q (non-canonical scalar)", "InvalidInput", "z1 is not a canonical scalar",
        enc[:289] + (sig.z1 + q).to_bytes(32, "big") + enc[321:])
    last_w = len(enc) - 32
    bad("w_4 + q (non-canonical scalar)", "InvalidInput", "response w[4] is not a canonical scalar",
        enc[:last_w] + (sig.coupon.w[4] + q).to_bytes(32, "big"))

    doc = {
        "description": "Linkable ring signatures, version 2 (offline coupon + online proof), core.ring. "
                       "Valid cases replay make_coupon/ring_sign with the recorded draws; invalid cases say "
                       "why and which check must refuse them.",
        "form1_link_tags": [{"key": k, "subject_tag": s, "link_tag": t} for k, s, t in FORM1_TAGS],
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
