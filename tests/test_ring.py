"""core.ring: linkable ring signatures, linkability, vectors and batch verification."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ring as ringmod
from core.errors import CandorError, InvalidInput, VerificationError
from core.group import ORDER, Group, Point, group_by_name
from core.ring import (
    LINK_DST,
    RING_TAG,
    RingSignature,
    batch_ring_verify,
    link_tag,
    public_key,
    reporting_keypair,
    ring_sign,
    ring_verify,
)
from g1_points import encoding, times

VEC = json.loads((Path(__file__).parent / "vectors" / "ring_signature.json").read_text())
ARK = group_by_name("arkworks")
PYECC = group_by_name("py_ecc")
ERRORS: dict[str, type[CandorError]] = {"InvalidInput": InvalidInput, "VerificationError": VerificationError}

KEYS = [reporting_keypair() for _ in range(8)]
SECRETS = [k[0] for k in KEYS]
RING = [k[1] for k in KEYS[:6]]  # members 6 and 7 are outside (e.g. revoked)
SUBJECT = secrets.token_bytes(32)
OTHER_SUBJECT = secrets.token_bytes(32)


def _sig(d: dict[str, Any]) -> RingSignature:
    return RingSignature(
        link_tag=bytes.fromhex(d["link_tag"]),
        a=tuple(bytes.fromhex(x) for x in d["a"]),
        b=tuple(bytes.fromhex(x) for x in d["b"]),
        e=tuple(int(x, 16) for x in d["e"]),
        z=tuple(int(x, 16) for x in d["z"]),
    )


def _case_sig(case: dict[str, Any]) -> RingSignature:
    if "signature" in case:
        return _sig(case["signature"])
    return RingSignature.from_bytes(bytes.fromhex(case["signature_bytes"]))


def _ctx(case: dict[str, Any]) -> tuple[list[bytes], bytes, bytes]:
    return [bytes.fromhex(k) for k in case["ring"]], bytes.fromhex(case["subject_tag"]), bytes.fromhex(case["signed_message"])


def _replay(values: list[str]) -> Callable[[], int]:
    it = iter(int(v, 16) for v in values)
    return lambda: next(it)


# ---- keys and link tags ----

def test_constants() -> None:
    assert RING_TAG == b"CANDOR-V1-RING" and LINK_DST == b"CANDOR-V1-LINK"


def test_keypair() -> None:
    x, pub = reporting_keypair()
    assert 1 <= x < ORDER and len(pub) == 48
    assert public_key(x) == pub == ARK.encode(ARK.mul(ARK.generator(), x))
    assert public_key(x, PYECC) == pub
    with pytest.raises(InvalidInput, match=r"\[1, q\)"):
        public_key(0)
    with pytest.raises(InvalidInput, match=r"\[1, q\)"):
        public_key(ORDER)


def test_link_tag_definition() -> None:
    x = SECRETS[0]
    base = ARK.hash_to_curve(b"link/" + SUBJECT, LINK_DST)
    assert link_tag(x, SUBJECT) == ARK.encode(ARK.mul(base, x))
    assert link_tag(x, SUBJECT, PYECC) == link_tag(x, SUBJECT)


def test_link_tags_link_same_member_and_subject_only() -> None:
    s1 = ring_sign(ARK, RING, SECRETS[1], SUBJECT, b"report 1")
    s2 = ring_sign(ARK, RING, SECRETS[1], SUBJECT, b"report 2")
    s3 = ring_sign(ARK, RING, SECRETS[1], OTHER_SUBJECT, b"report 3")
    s4 = ring_sign(ARK, RING, SECRETS[2], SUBJECT, b"report 4")
    assert s1.link_tag == s2.link_tag == link_tag(SECRETS[1], SUBJECT)
    assert s1.link_tag != s3.link_tag
    assert s1.link_tag != s4.link_tag
    assert s1 != s2  # fresh randomness every time
    for sig, subj, msg in ((s1, SUBJECT, b"report 1"), (s3, OTHER_SUBJECT, b"report 3"), (s4, SUBJECT, b"report 4")):
        ring_verify(ARK, RING, subj, msg, sig)


# ---- round trip and rejection ----

@pytest.mark.parametrize("signer", [0, 3, 5])
def test_sign_verify_round_trip(signer: int) -> None:
    sig = ring_sign(ARK, RING, SECRETS[signer], SUBJECT, b"entry")
    ring_verify(ARK, RING, SUBJECT, b"entry", sig)
    assert RingSignature.from_bytes(sig.to_bytes()) == sig
    assert len(sig.to_bytes()) == RingSignature.size(len(RING))


def test_ring_of_one() -> None:
    sig = ring_sign(ARK, RING[:1], SECRETS[0], SUBJECT, b"")
    ring_verify(ARK, RING[:1], SUBJECT, b"", sig)


def test_non_member_cannot_sign() -> None:
    with pytest.raises(InvalidInput, match="not in the ring"):
        ring_sign(ARK, RING, SECRETS[6], SUBJECT, b"entry")


def test_signature_from_outside_the_ring_fails() -> None:
    """A revoked member signs with the ring it still remembers; the current ring rejects it."""
    stale_ring = [*RING[:5], KEYS[6][1]]  # member 5 replaced by revoked member 6
    sig = ring_sign(ARK, stale_ring, SECRETS[6], SUBJECT, b"entry")
    ring_verify(ARK, stale_ring, SUBJECT, b"entry", sig)
    with pytest.raises(VerificationError, match="do not sum"):
        ring_verify(ARK, RING, SUBJECT, b"entry", sig)


def test_forger_posing_as_member_fails_its_branch() -> None:
    points = ringmod._ring_points(ARK, RING)
    forged = ringmod._sign(ARK, RING, points, 4, SECRETS[7], SUBJECT, b"entry", ringmod._random_key)
    with pytest.raises(VerificationError, match="branch 4 fails z·G == a \\+ e·P"):
        ring_verify(ARK, RING, SUBJECT, b"entry", forged)


def test_other_message_or_subject_fails() -> None:
    sig = ring_sign(ARK, RING, SECRETS[2], SUBJECT, b"entry")
    with pytest.raises(VerificationError, match="do not sum"):
        ring_verify(ARK, RING, SUBJECT, b"entry!", sig)
    with pytest.raises(VerificationError, match="do not sum"):
        ring_verify(ARK, RING, OTHER_SUBJECT, b"entry", sig)


def test_other_reports_link_tag_fails() -> None:
    sig = ring_sign(ARK, RING, SECRETS[2], SUBJECT, b"entry")
    other = ring_sign(ARK, RING, SECRETS[3], SUBJECT, b"entry")
    for tag in (other.link_tag, link_tag(SECRETS[2], OTHER_SUBJECT)):
        with pytest.raises(VerificationError, match="do not sum"):
            ring_verify(ARK, RING, SUBJECT, b"entry", replace(sig, link_tag=tag))


def test_fresh_link_tag_to_evade_linking_fails() -> None:
    """A member that signs honestly but with a random tag is caught by its own branch."""
    points = ringmod._ring_points(ARK, RING)
    fake_tag = ARK.mul(ringmod.link_base(ARK, SUBJECT), secrets.randbelow(ORDER))
    sig = ringmod._sign(ARK, RING, points, 2, SECRETS[2], SUBJECT, b"m", ringmod._random_key, tag_point=fake_tag)
    with pytest.raises(VerificationError, match="branch 2 fails z·B == b \\+ e·I"):
        ring_verify(ARK, RING, SUBJECT, b"m", sig)


def test_branch_count_mismatch_message() -> None:
    sig = ring_sign(ARK, RING[:4], SECRETS[0], SUBJECT, b"m")
    with pytest.raises(VerificationError, match="ring signature has 4 branches but the ring has 5 members"):
        ring_verify(ARK, RING[:5], SUBJECT, b"m", sig)


def test_signature_validation() -> None:
    sig = ring_sign(ARK, RING[:3], SECRETS[0], SUBJECT, b"m")
    with pytest.raises(InvalidInput, match="link tag must be a 48-byte"):
        replace(sig, link_tag=sig.link_tag[:47])
    with pytest.raises(InvalidInput, match="3 a-commitments, 2 b-commitments"):
        replace(sig, b=sig.b[:2])
    with pytest.raises(InvalidInput, match="has 0 branches"):
        RingSignature(sig.link_tag, (), (), (), ())
    with pytest.raises(InvalidInput, match=r"response z\[1\] is not a canonical scalar"):
        replace(sig, z=(sig.z[0], ORDER, sig.z[2]))
    with pytest.raises(InvalidInput, match="shorter than its 4-byte"):
        RingSignature.from_bytes(b"\x00")
    with pytest.raises(InvalidInput, match="claims 5000 branches"):
        RingSignature.from_bytes((5000).to_bytes(4, "big") + sig.to_bytes()[4:])


def test_sign_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="subject tag must be 32 bytes"):
        ring_sign(ARK, RING, SECRETS[0], b"short", b"m")
    with pytest.raises(InvalidInput, match="same key at positions 0 and 2"):
        ring_sign(ARK, [RING[0], RING[1], RING[0]], SECRETS[0], SUBJECT, b"m")
    with pytest.raises(InvalidInput, match="ring has 0 members"):
        ring_sign(ARK, [], SECRETS[0], SUBJECT, b"m")


# ---- vectors ----

VALID = [c for c in VEC["cases"] if c["valid"]]
INVALID = [c for c in VEC["cases"] if not c["valid"]]


def test_vector_file_shape() -> None:
    assert len(VALID) >= 3 and len(INVALID) >= 10
    assert all(c["why"] for c in VEC["cases"])


@pytest.mark.parametrize("case", VALID, ids=lambda c: str(c["id"]))
def test_known_answer(case: dict[str, Any]) -> None:
    ring, subject, message = _ctx(case)
    sig = _case_sig(case)
    assert sig.to_bytes().hex() == case["signature_bytes"]
    assert RingSignature.from_bytes(sig.to_bytes()) == sig
    x = int(case["signer_key"], 16)
    assert public_key(x) == ring[case["signer_index"]]
    assert sig.link_tag.hex() == case["expected_link_tag"] == link_tag(x, subject).hex()
    assert ring_sign(ARK, ring, x, subject, message, rng=_replay(case["nonces"])) == sig
    ring_verify(ARK, ring, subject, message, sig)


def test_known_answer_py_ecc_backend() -> None:
    case = next(c for c in VALID if len(c["ring"]) == 1)
    ring, subject, message = _ctx(case)
    sig = ring_sign(PYECC, ring, int(case["signer_key"], 16), subject, message, rng=_replay(case["nonces"]))
    assert sig == _case_sig(case)
    ring_verify(PYECC, ring, subject, message, sig)


@pytest.mark.parametrize("case", INVALID, ids=lambda c: f'{c["id"]}-{c["why"][:30]}')
def test_invalid_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ERRORS[case["error"]], match=re.escape(case["message"])):
        ring, subject, message = _ctx(case)
        ring_verify(ARK, ring, subject, message, _case_sig(case))


# ---- properties ----

@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 7), data=st.data())
def test_verifies_iff_signer_in_ring(n: int, data: st.DataObject) -> None:
    signer = data.draw(st.integers(0, 7))
    position = data.draw(st.integers(0, n - 1))
    ring = [k[1] for k in KEYS if k[1] != KEYS[signer][1]][: n - 1]
    ring.insert(position, KEYS[signer][1])
    sig = ring_sign(ARK, ring, SECRETS[signer], SUBJECT, b"p")
    ring_verify(ARK, ring, SUBJECT, b"p", sig)
    assert sig.link_tag == link_tag(SECRETS[signer], SUBJECT)
    # The same signature against the ring without the signer (same size) fails.
    outsider_ring = list(ring)
    outsider_ring[position] = next(k[1] for k in KEYS if k[1] not in ring)
    with pytest.raises(VerificationError):
        ring_verify(ARK, outsider_ring, SUBJECT, b"p", sig)


@settings(max_examples=25, deadline=None)
@given(flip=st.integers(0, 10_000), field=st.sampled_from(["a", "b", "e", "z", "link_tag"]))
def test_any_single_change_is_rejected(flip: int, field: str) -> None:
    sig = ring_sign(ARK, RING[:4], SECRETS[1], SUBJECT, b"m")
    fields: dict[str, Any] = {
        "link_tag": sig.link_tag, "a": list(sig.a), "b": list(sig.b), "e": list(sig.e), "z": list(sig.z)
    }
    i = flip % 4
    if field in ("e", "z"):
        fields[field][i] = (fields[field][i] + 1 + flip) % ORDER
    elif field == "link_tag":
        fields["link_tag"] = public_key(1 + flip)
    else:
        fields[field][i] = public_key(1 + flip)
    bad = RingSignature(**fields)
    assert bad != sig
    with pytest.raises(VerificationError):
        ring_verify(ARK, RING[:4], SUBJECT, b"m", bad)


# ---- batch verification ----

Item = tuple[Sequence[bytes], bytes, bytes, RingSignature]


def _batch(count: int) -> list[Item]:
    items: list[Item] = []
    for i in range(count):
        ring = RING if i % 2 else RING[:4]
        subject = SUBJECT if i % 3 else OTHER_SUBJECT
        msg = f"entry {i}".encode()
        items.append((ring, subject, msg, ring_sign(ARK, ring, SECRETS[i % 4], subject, msg)))
    return items


BATCH = _batch(20)


def test_batch_accepts_good_signatures() -> None:
    batch_ring_verify(ARK, BATCH)
    batch_ring_verify(ARK, [])


@pytest.mark.parametrize("bad_index", [0, 7, 19])
def test_batch_names_bad_signature(bad_index: int) -> None:
    items = list(BATCH)
    ring, subject, msg, sig = items[bad_index]
    items[bad_index] = (ring, subject, msg + b"x", sig)
    with pytest.raises(VerificationError, match=f"^item {bad_index}: ring signature challenges do not sum"):
        batch_ring_verify(ARK, items)


def test_batch_names_signature_failing_only_the_group_equation() -> None:
    """Hash-consistent forgery: only the combined MSM can see it; the fallback names it."""
    items = list(BATCH)
    ring, subject, msg, _ = items[7]
    points = ringmod._ring_points(ARK, ring)
    forged = ringmod._sign(ARK, ring, points, 3, SECRETS[6], subject, msg, ringmod._random_key)
    items[7] = (ring, subject, msg, forged)
    with pytest.raises(VerificationError, match="^item 7: ring signature branch 3 fails z·G"):
        batch_ring_verify(ARK, items)


def test_batch_names_link_tag_swap() -> None:
    items = list(BATCH)
    ring, subject, msg, sig = items[12]
    items[12] = (ring, subject, msg, replace(sig, link_tag=items[13][3].link_tag))
    with pytest.raises(VerificationError, match="^item 12: "):
        batch_ring_verify(ARK, items)


def test_batch_names_size_mismatch() -> None:
    items = list(BATCH)
    _, subject, msg, sig = items[4]  # signed over RING[:4]
    items[4] = (RING, subject, msg, sig)
    with pytest.raises(VerificationError, match="^item 4: ring signature has 4 branches but the ring has 6 members"):
        batch_ring_verify(ARK, items)


# ---- transient points decoded without the subgroup check (see batch_ring_verify) ----

OFF_SUBGROUP = encoding("cofactor_point")  # on the curve, has a G1 part and an h-part
#: Points of order dividing the cofactor h: one of order 3, one of large order (q·Q).
TORSION = {
    "order 3": ARK.decode_unchecked(encoding("order_3_point")),
    "order dividing h": times(ARK, ARK.decode_unchecked(OFF_SUBGROUP), ORDER),
}


def _sign_with_torsion(
    group: Group, ring: Sequence[bytes], s: int, x: int, subject: bytes, msg: bytes,
    field: str, i: int, t_point: Point,
) -> RingSignature:
    """The honest CDS signer, except that it adds t_point to a_i or b_i before hashing."""
    g = group.generator()
    base = ringmod.link_base(group, subject)
    points = ringmod._ring_points(group, ring)
    tag = group.encode(group.mul(base, x))
    n = len(ring)
    a_pts: list[Point] = [group.identity()] * n
    b_pts: list[Point] = [group.identity()] * n
    e, z = [0] * n, [0] * n
    for k in range(n):
        if k != s:
            e[k], z[k] = ringmod._random_key(), ringmod._random_key()
            a_pts[k] = group.msm([g, points[k]], [z[k], -e[k]])
            b_pts[k] = group.mul(base, z[k] - e[k] * x)
    nonce = ringmod._random_key()
    a_pts[s], b_pts[s] = group.mul(g, nonce), group.mul(base, nonce)
    target = a_pts if field == "a" else b_pts
    target[i] = group.add(target[i], t_point)
    a = tuple(group.encode(p) for p in a_pts)
    b = tuple(group.encode(p) for p in b_pts)
    e[s] = (ringmod._challenge(ring, subject, tag, msg, a, b) - sum(e)) % ORDER
    z[s] = (nonce + e[s] * x) % ORDER
    return RingSignature(tag, a, b, tuple(e), tuple(z))


def _rebalanced(ring: Sequence[bytes], subject: bytes, msg: bytes, sig: RingSignature,
                a: tuple[bytes, ...], b: tuple[bytes, ...]) -> RingSignature:
    """Replace a and b and fix e_0 so that the challenges sum to the new hash."""
    e0 = (ringmod._challenge(ring, subject, sig.link_tag, msg, a, b) - sum(sig.e[1:])) % ORDER
    return replace(sig, a=a, b=b, e=(e0, *sig.e[1:]))


@pytest.mark.parametrize("name", list(TORSION))
@pytest.mark.parametrize("field,i", [("a", 2), ("b", 2), ("a", 4), ("b", 0)])
def test_signer_added_torsion_is_accepted(name: str, field: str, i: int) -> None:
    """Documented behaviour: h-torsion a signer adds to its own a_i or b_i is accepted.

    Keys and the link tag are checked, so the statement (I = x·B_S for some member's x)
    still holds; single and batch verification agree, whatever the random coefficients.
    """
    ring = RING[:5]
    sig = _sign_with_torsion(ARK, ring, 2, SECRETS[2], SUBJECT, b"entry", field, i, TORSION[name])
    with pytest.raises(InvalidInput, match="prime-order subgroup"):
        ARK.decode((sig.a if field == "a" else sig.b)[i])
    assert sig.link_tag == link_tag(SECRETS[2], SUBJECT)
    for _ in range(20):
        ring_verify(ARK, ring, SUBJECT, b"entry", sig)
    batch_ring_verify(ARK, [*BATCH[:3], (ring, SUBJECT, b"entry", sig), *BATCH[3:6]])


def test_signer_added_torsion_is_accepted_by_py_ecc_backend() -> None:
    ring = RING[:2]
    sig = _sign_with_torsion(ARK, ring, 0, SECRETS[0], SUBJECT, b"m", "b", 1, TORSION["order 3"])
    ring_verify(PYECC, ring, SUBJECT, b"m", sig)
    batch_ring_verify(PYECC, [(ring, SUBJECT, b"m", sig)])


def test_nobody_else_can_add_torsion_to_a_signature() -> None:
    ring = RING[:5]
    sig = ring_sign(ARK, ring, SECRETS[1], SUBJECT, b"entry")
    b = list(sig.b)
    b[3] = ARK.encode(ARK.add(ARK.decode(b[3]), TORSION["order 3"]))
    with pytest.raises(VerificationError, match="do not sum"):
        ring_verify(ARK, ring, SUBJECT, b"entry", replace(sig, b=tuple(b)))
    forged = _rebalanced(ring, SUBJECT, b"entry", sig, sig.a, tuple(b))
    with pytest.raises(VerificationError, match="^item 1: ring signature branch 0 fails z·G"):
        batch_ring_verify(ARK, [BATCH[0], (ring, SUBJECT, b"entry", forged)])


def test_batch_rejects_a_point_outside_g1_with_a_g1_part() -> None:
    """x = 4 is on the curve with a nonzero G1 component: the cofactor does not hide that."""
    items = list(BATCH)
    ring, subject, msg, sig = items[6]
    a = (*sig.a[:-1], OFF_SUBGROUP)
    items[6] = (ring, subject, msg, _rebalanced(ring, subject, msg, sig, a, sig.b))
    with pytest.raises(
        VerificationError,
        match=rf"^item 6: ring signature a\[{len(a) - 1}\] is not a valid G1 point: .*prime-order subgroup",
    ):
        batch_ring_verify(ARK, items)


def test_batch_rejects_an_off_curve_b() -> None:
    items = list(BATCH)
    ring, subject, msg, sig = items[2]
    b = (sig.b[0], encoding("x_off_curve"), *sig.b[2:])
    items[2] = (ring, subject, msg, _rebalanced(ring, subject, msg, sig, sig.a, b))
    with pytest.raises(VerificationError, match=r"^item 2: ring signature b\[1\] is not a valid G1 point: .*not on the curve"):
        batch_ring_verify(ARK, items)


@pytest.mark.parametrize("name", list(TORSION))
def test_link_tag_with_torsion_is_refused_although_its_equations_hold(name: str) -> None:
    """I is persistent (it counts reporters), so it stays subgroup-checked: I + T is refused
    even with a signature whose cofactored equations hold (shown first). Otherwise one
    member could present several tags for one subject."""
    ring = RING[:4]
    points = ringmod._ring_points(ARK, ring)
    tag = ARK.add(ARK.mul(ringmod.link_base(ARK, SUBJECT), SECRETS[3]), TORSION[name])
    sig = ringmod._sign(ARK, ring, points, 3, SECRETS[3], SUBJECT, b"m", ringmod._random_key, tag_point=tag)
    decoded = ringmod._Decoded(
        ring=tuple(ring), ring_points=tuple(points), base=ringmod.link_base(ARK, SUBJECT),
        subject_tag=SUBJECT, tag_point=tag,
        a_pts=tuple(ARK.decode_unchecked(p) for p in sig.a),
        b_pts=tuple(ARK.decode_unchecked(p) for p in sig.b), sig=sig,
    )
    assert ringmod._combined_equation(ARK, [decoded])
    assert sig.link_tag != link_tag(SECRETS[3], SUBJECT)
    with pytest.raises(VerificationError, match="^link tag is not a valid point: .*prime-order subgroup"):
        ring_verify(ARK, ring, SUBJECT, b"m", sig)
    with pytest.raises(VerificationError, match="^item 1: link tag is not a valid point"):
        batch_ring_verify(ARK, [BATCH[0], (ring, SUBJECT, b"m", sig)])
