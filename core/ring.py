"""Linkable ring signatures over members' BLS12-381 G1 reporting keys.

Follows DESIGN §2 ("Reporter: anonymous to the alliance, accountable to the regulator").
The construction is the linkable ring signature of Liu, Wei, Wong, "Linkable Spontaneous
Anonymous Group Signature for Ad Hoc Groups" (ACISP 2004), written as a Cramer–Damgård–
Schoenmakers OR proof (CRYPTO '94) over n Chaum–Pedersen proofs of equal discrete
logarithms (Chaum, Pedersen, "Wallet Databases with Observers", CRYPTO '92), with explicit
commitments so that signatures verify in a batch.

Keys: a member's reporting key is x in [1, q), its public key P = x·G (G the standard G1
generator). For a subject tag S the link base is B_S = hash_to_curve(b"link/" ‖ S) under
the tag `LINK_DST`, and the link tag is I = x·B_S. The same member reporting the same
subject always produces the same I (so distinct reporters = distinct tags, and only the
original reporter can retract); tags of one member for two subjects are unlinkable under
DDH in G1, since B_S and B_S' are independent random-oracle points.

Signature on `message` for ring (P_0..P_{n-1}): for every i, a_i, b_i, e_i, z_i with

    z_i·G == a_i + e_i·P_i    and    z_i·B_S == b_i + e_i·I,

and Σ e_i == Hash(RING_TAG, n, P_0..P_{n-1}, S, I, message, a_0..a_{n-1}, b_0..b_{n-1}).
(P_i and I must be in G1; the a_i and b_i need only be on the curve, and the equations are
checked in G1 after multiplying by the cofactor: see `batch_ring_verify`.) The signer (index s) runs Chaum–Pedersen honestly on branch s (a_s = k·G, b_s = k·B_S) and
simulates every other branch. Branch i can only be completed honestly by someone knowing
log_G P_i = log_{B_S} I, so an accepting signature shows that I = x·B_S for the x of some
ring member, without saying which (CDS witness indistinguishability). The hash is the
same length-prefixed SHA-512-mod-q construction as `core.proofs.fiat_shamir_challenge`.

Wire form (`RingSignature.to_bytes`): n (4 bytes, big-endian), I (48), a_0..a_{n-1}
(48 each), b_0..b_{n-1} (48 each), e_0..e_{n-1} (32 each), z_0..z_{n-1} (32 each).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import InvalidInput, VerificationError
from core.group import ORDER, POINT_BYTES, Group, Point, default_group
from core.proofs import (
    BATCH_COEFFICIENT_BITS,
    SCALAR_BYTES,
    ScalarSource,
    fiat_shamir_challenge,
)

__all__ = [
    "RING_TAG",
    "LINK_DST",
    "MAX_RING_SIZE",
    "SUBJECT_TAG_BYTES",
    "reporting_keypair",
    "public_key",
    "link_base",
    "link_tag",
    "RingSignature",
    "RingItem",
    "ring_sign",
    "ring_verify",
    "batch_ring_verify",
]

#: Protocol tag, the first transcript field of every ring signature.
RING_TAG = b"CANDOR-V1-RING"
#: RFC 9380 domain-separation tag of the link bases B_S.
LINK_DST = b"CANDOR-V1-LINK"
#: Largest ring accepted (a signature is 160 bytes per member).
MAX_RING_SIZE = 4096
SUBJECT_TAG_BYTES = 32


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


def _ring_points(group: Group, ring: Sequence[bytes]) -> list[Point]:
    """Decode and check a ring; InvalidInput says which member is bad."""
    if not 1 <= len(ring) <= MAX_RING_SIZE:
        raise InvalidInput(f"ring has {len(ring)} members; it needs 1..{MAX_RING_SIZE}")
    seen: dict[bytes, int] = {}
    points = []
    for i, key in enumerate(ring):
        if not isinstance(key, bytes):
            raise InvalidInput(f"ring member {i} key must be bytes, got {type(key).__name__}")
        if key in seen:
            raise InvalidInput(f"ring lists the same key at positions {seen[key]} and {i}")
        seen[key] = i
        try:
            points.append(_member_key(group, key))
        except InvalidInput as ex:
            raise InvalidInput(f"ring member {i} key is not a valid public key: {ex}") from None
    return points


def _scalar_ok(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value < ORDER


@dataclass(frozen=True)
class RingSignature:
    """A linkable ring signature: link tag I and per-member a_i, b_i, e_i, z_i."""

    link_tag: bytes
    a: tuple[bytes, ...]
    b: tuple[bytes, ...]
    e: tuple[int, ...]
    z: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.link_tag, bytes) or len(self.link_tag) != POINT_BYTES:
            raise InvalidInput(f"link tag must be a {POINT_BYTES}-byte compressed point")
        for field in ("a", "b", "e", "z"):
            value = getattr(self, field)
            if not isinstance(value, (tuple, list)):
                raise InvalidInput(f"ring signature field {field} must be a sequence")
            object.__setattr__(self, field, tuple(value))
        n = len(self.a)
        if not 1 <= n <= MAX_RING_SIZE:
            raise InvalidInput(f"ring signature has {n} branches; it needs 1..{MAX_RING_SIZE}")
        if not len(self.b) == len(self.e) == len(self.z) == n:
            raise InvalidInput(
                f"ring signature has {n} a-commitments, {len(self.b)} b-commitments, "
                f"{len(self.e)} challenges and {len(self.z)} responses; all must equal "
                "the ring size"
            )
        for name, points in (("a", self.a), ("b", self.b)):
            for i, p in enumerate(points):
                if not isinstance(p, bytes) or len(p) != POINT_BYTES:
                    raise InvalidInput(f"ring signature {name}[{i}] must be {POINT_BYTES} bytes")
        for name, scalars in (("challenge e", self.e), ("response z", self.z)):
            for i, s in enumerate(scalars):
                if not _scalar_ok(s):
                    raise InvalidInput(
                        f"ring signature {name}[{i}] is not a canonical scalar "
                        "(it must be an integer in [0, q))"
                    )

    @property
    def n(self) -> int:
        """The number of branches, which must equal the ring size."""
        return len(self.a)

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.n.to_bytes(4, "big"),
                self.link_tag,
                *self.a,
                *self.b,
                *(e.to_bytes(SCALAR_BYTES, "big") for e in self.e),
                *(z.to_bytes(SCALAR_BYTES, "big") for z in self.z),
            )
        )

    @staticmethod
    def size(n: int) -> int:
        """Encoded size of a signature over a ring of n members."""
        return 4 + POINT_BYTES + n * (2 * POINT_BYTES + 2 * SCALAR_BYTES)

    @classmethod
    def link_tag_of(cls, data: bytes) -> bytes:
        """The link tag of an encoded signature, without decoding the rest (a length check
        and a slice): for callers that count reporters of signatures already verified."""
        if not isinstance(data, bytes) or len(data) < 4:
            raise InvalidInput("ring signature is shorter than its 4-byte branch count")
        n = int.from_bytes(data[:4], "big")
        if not 1 <= n <= MAX_RING_SIZE or len(data) != cls.size(n):
            raise InvalidInput(f"ring signature of {len(data)} bytes does not match its {n} branches")
        return data[4 : 4 + POINT_BYTES]

    @classmethod
    def from_bytes(cls, data: bytes) -> RingSignature:
        if not isinstance(data, bytes) or len(data) < 4:
            raise InvalidInput("ring signature is shorter than its 4-byte branch count")
        n = int.from_bytes(data[:4], "big")
        if not 1 <= n <= MAX_RING_SIZE:
            raise InvalidInput(f"ring signature claims {n} branches; it needs 1..{MAX_RING_SIZE}")
        if len(data) != cls.size(n):
            raise InvalidInput(
                f"ring signature is {len(data)} bytes, expected {cls.size(n)} for {n} branches"
            )
        pos = 4 + POINT_BYTES

        def take(count: int, width: int) -> list[bytes]:
            nonlocal pos
            out = [data[pos + i * width : pos + (i + 1) * width] for i in range(count)]
            pos += count * width
            return out

        a = take(n, POINT_BYTES)
        b = take(n, POINT_BYTES)
        e = [int.from_bytes(s, "big") for s in take(n, SCALAR_BYTES)]
        z = [int.from_bytes(s, "big") for s in take(n, SCALAR_BYTES)]
        return cls(data[4 : 4 + POINT_BYTES], tuple(a), tuple(b), tuple(e), tuple(z))


def _challenge(
    ring: Sequence[bytes],
    subject_tag: bytes,
    tag: bytes,
    message: bytes,
    a: Sequence[bytes],
    b: Sequence[bytes],
) -> int:
    return fiat_shamir_challenge(
        RING_TAG, (len(ring).to_bytes(4, "big"), *ring, subject_tag, tag, message, *a, *b)
    )


def ring_sign(
    group: Group,
    ring: Sequence[bytes],
    x: int,
    subject_tag: bytes,
    message: bytes,
    rng: ScalarSource | None = None,
) -> RingSignature:
    """Sign `message` as an anonymous member of `ring`, linkably for `subject_tag`.

    The signer's position is found from its public key; InvalidInput if the key is not in
    the ring (a revoked or never-admitted member cannot sign). `rng` replaces the CSPRNG
    only in the vector generator; a predictable nonce reveals x.
    """
    _check_secret(x)
    _check_subject(subject_tag)
    if not isinstance(message, bytes):
        raise InvalidInput("ring signature message must be bytes")
    points = _ring_points(group, ring)
    own = public_key(x, group)
    try:
        s = list(ring).index(own)
    except ValueError:
        raise InvalidInput(
            "your reporting public key is not in the ring: only admitted, unrevoked "
            "members can sign"
        ) from None
    return _sign(group, ring, points, s, x, subject_tag, message, rng or _random_key)


def _sign(
    group: Group,
    ring: Sequence[bytes],
    points: Sequence[Point],
    s: int,
    x: int,
    subject_tag: bytes,
    message: bytes,
    draw: ScalarSource,
    tag_point: Point | None = None,
) -> RingSignature:
    """The CDS signer without the membership checks (tests use it to play a forger)."""
    g = group.generator()
    base = link_base(group, subject_tag)
    honest_tag = tag_point is None
    if tag_point is None:
        tag_point = group.mul(base, x)
    tag = group.encode(tag_point)
    n = len(ring)
    a: list[bytes] = [b""] * n
    b: list[bytes] = [b""] * n
    e = [0] * n
    z = [0] * n
    for i in range(n):
        if i == s:
            continue
        # Simulated branch: choose e_i, z_i, solve for a_i and b_i.
        e[i], z[i] = draw() % ORDER, draw() % ORDER
        a[i] = group.encode(group.msm([g, points[i]], [z[i], -e[i]]))
        if honest_tag:
            # I = x·B, so z·B − e·I = (z − e·x)·B: one multiplication instead of two.
            b[i] = group.encode(group.mul(base, z[i] - e[i] * x))
        else:
            b[i] = group.encode(group.msm([base, tag_point], [z[i], -e[i]]))
    k = draw() % ORDER
    a[s] = group.encode(group.mul(g, k))
    b[s] = group.encode(group.mul(base, k))
    challenge = _challenge(ring, subject_tag, tag, message, a, b)
    e[s] = (challenge - sum(e[i] for i in range(n) if i != s)) % ORDER
    z[s] = (k + e[s] * x) % ORDER
    return RingSignature(tag, tuple(a), tuple(b), tuple(e), tuple(z))


@dataclass(frozen=True)
class _Decoded:
    """A signature whose challenges match the hash and whose points decoded.

    Member keys and the link tag are in G1 (subgroup-checked); `a_pts` and `b_pts` are
    only known to be on the curve (see `batch_ring_verify` for why that suffices).
    """

    ring: tuple[bytes, ...]
    ring_points: tuple[Point, ...]
    base: Point
    subject_tag: bytes
    tag_point: Point
    a_pts: tuple[Point, ...]
    b_pts: tuple[Point, ...]
    sig: RingSignature


def _decode(
    group: Group, ring: Sequence[bytes], subject_tag: bytes, message: bytes, sig: RingSignature
) -> _Decoded:
    """Everything but the group equations; raises VerificationError."""
    if not isinstance(sig, RingSignature):
        raise VerificationError(f"expected a RingSignature, got {type(sig).__name__}")
    if sig.n != len(ring):
        raise VerificationError(
            f"ring signature has {sig.n} branches but the ring has {len(ring)} members"
        )
    if not isinstance(message, bytes):
        raise VerificationError("ring signature message must be bytes")
    try:
        _check_subject(subject_tag)
        points = _ring_points(group, ring)
    except InvalidInput as ex:
        raise VerificationError(str(ex)) from None
    if sum(sig.e) % ORDER != _challenge(ring, subject_tag, sig.link_tag, message, sig.a, sig.b):
        raise VerificationError(
            "ring signature challenges do not sum to the Fiat–Shamir hash: it was made for "
            "another ring, subject, link tag or message, or it was altered"
        )
    try:
        # The link tag is compared across reports (distinct reporters, retractions): it
        # must be in G1, or one key could show up to h different tags for one subject.
        tag_point = group.decode(sig.link_tag)
    except InvalidInput as ex:
        raise VerificationError(f"link tag is not a valid point: {ex}") from None
    if group.is_identity(tag_point):
        raise VerificationError("link tag is the identity point, which no reporting key yields")

    def decode_all(name: str, encoded: Sequence[bytes]) -> tuple[Point, ...]:
        out = []
        for i, p in enumerate(encoded):
            try:
                out.append(group.decode_unchecked(p))
            except InvalidInput as ex:
                raise VerificationError(
                    f"ring signature {name}[{i}] is not a valid G1 point: {ex}"
                ) from None
        return tuple(out)

    return _Decoded(
        ring=tuple(ring),
        ring_points=tuple(points),
        base=link_base(group, subject_tag),
        subject_tag=subject_tag,
        tag_point=tag_point,
        a_pts=decode_all("a", sig.a),
        b_pts=decode_all("b", sig.b),
        sig=sig,
    )


def _combined_equation(group: Group, items: Sequence[_Decoded]) -> bool:
    """Whether h·Σ ρ_i·(a_i + e_i·P_i − z_i·G) + σ_i·(b_i + e_i·I − z_i·B) is the identity.

    h is the cofactor. Coefficients of the shared points (G, each B_S, each member key)
    are summed, so a batch costs one MSM over 2 points per branch, plus one per signature,
    subject and key, and one multiplication by h.
    """
    points: list[Point] = []
    scalars: list[int] = []
    g_coef = 0
    base_coef: dict[bytes, tuple[Point, int]] = {}
    key_coef: dict[bytes, tuple[Point, int]] = {}
    for item in items:
        sig = item.sig
        tag_coef = 0
        base_sum = 0
        for i in range(sig.n):
            # ρ and σ multiply a_i and b_i as they are: 128-bit scalars (negated they would
            # be 255-bit ones, and these are most of the MSM's points).
            rho = secrets.randbits(BATCH_COEFFICIENT_BITS)
            sigma = secrets.randbits(BATCH_COEFFICIENT_BITS)
            e_i, z_i = sig.e[i], sig.z[i]
            g_coef -= rho * z_i
            base_sum -= sigma * z_i
            tag_coef += sigma * e_i
            key = item.ring[i]
            prev = key_coef.get(key)
            key_coef[key] = (item.ring_points[i], (prev[1] if prev else 0) + rho * e_i)
            points.append(item.a_pts[i])
            scalars.append(rho)
            points.append(item.b_pts[i])
            scalars.append(sigma)
        points.append(item.tag_point)
        scalars.append(tag_coef)
        prev_base = base_coef.get(item.subject_tag)
        base_coef[item.subject_tag] = (item.base, (prev_base[1] if prev_base else 0) + base_sum)
    points.append(group.generator())
    scalars.append(g_coef)
    for point, coef in (*base_coef.values(), *key_coef.values()):
        points.append(point)
        scalars.append(coef)
    return group.is_identity(group.mul_by_cofactor(group.msm(points, scalars)))


def _explain_failure(group: Group, item: _Decoded) -> VerificationError:
    """Say why an item that failed its combined equation is invalid (slow path, bad input only).

    Each branch equation is checked alone, after multiplying by the cofactor as in the
    batch. A failing equation whose a_i or b_i lies outside G1 is reported as such (a
    point whose only fault is a component of order dividing h passes every equation).
    """
    g = group.generator()
    sig = item.sig
    failing: list[tuple[int, str]] = []
    for i in range(sig.n):
        e_i, z_i = sig.e[i], sig.z[i]
        for name, transient, base, target in (
            ("a", item.a_pts[i], g, item.ring_points[i]),
            ("b", item.b_pts[i], item.base, item.tag_point),
        ):
            residue = group.msm([transient, target, base], [1, e_i, -z_i])
            if not group.is_identity(group.mul_by_cofactor(residue)):
                failing.append((i, name))
    for i, name in failing:
        encoded = (sig.a if name == "a" else sig.b)[i]
        try:
            group.decode(encoded)
        except InvalidInput as ex:
            return VerificationError(f"ring signature {name}[{i}] is not a valid G1 point: {ex}")
    for i, name in failing:
        if name == "a":
            return VerificationError(
                f"ring signature branch {i} fails z·G == a + e·P for ring member {i}"
            )
        return VerificationError(
            f"ring signature branch {i} fails z·B == b + e·I: the link tag does not "
            "belong to this ring and subject"
        )
    return VerificationError("ring signature fails its group equations")


def ring_verify(
    group: Group,
    ring: Sequence[bytes],
    subject_tag: bytes,
    message: bytes,
    sig: RingSignature,
) -> None:
    """Raise VerificationError unless `sig` is a ring signature on `message` by a member of `ring`.

    Returns None on success; `sig.link_tag` is then the signer's tag for `subject_tag`.
    The ring must be given in the canonical order it was signed with. Member keys are
    decoded once per process and cached; they and I are decoded with the subgroup check,
    a and b only as points on the curve. The equations are multiplied by the cofactor and
    combined with random coefficients exactly as in `batch_ring_verify`, so that the two
    always agree on a signature.
    """
    item = _decode(group, ring, subject_tag, message, sig)
    if not _combined_equation(group, [item]):
        raise _explain_failure(group, item)


#: One batch item: (ring in canonical order, subject tag, signed message, signature).
RingItem = tuple[Sequence[bytes], bytes, bytes, RingSignature]


def batch_ring_verify(group: Group, items: Sequence[RingItem]) -> None:
    """Verify many ring signatures (ring, subject_tag, message, sig) in one MSM.

    Raises VerificationError naming the first failing item ("item 7: ..."). Each item's
    challenge sum is checked against its hash and its points decoded first; then all 2·Σn
    equations are combined with independent uniform 128-bit coefficients from `secrets`
    and the sum is multiplied by the cofactor h before it is compared with the identity.
    If the batch fails, each item is re-verified alone to name it.

    Soundness is argued in `core.proofs.batch_verify_validity`; here is how it applies.
    Member keys P_i and the link tag I are decoded with the subgroup check, because they
    persist: a key is reused by every report of its member, and I is compared across
    reports to count distinct reporters and to authorise retractions. Were I allowed an
    h-torsion component T, the cofactored equations would accept I + T as readily as I
    (they only see its G1 part), so one member could show many tags for one subject. G and
    the B_S are hashed to G1. The a_i and b_i are transient and only decoded as points on
    the curve; h·(a_i + e_i·P_i − z_i·G) = 0 iff the G1 part of a_i satisfies the exact
    Chaum–Pedersen equation (likewise for b_i with B_S and I), the challenges hash the
    bytes of every a_i and b_i, so the CDS special-soundness extraction of an x with
    P_i = x·G and I = x·B_S for some member i goes through as before; and a failing
    equation survives the random combination except with probability 2^-128. A signer may
    add h-torsion to its own a_i or b_i and still be accepted, for the same true statement;
    nobody else can, since the hash binds those bytes.
    """
    decoded: list[_Decoded] = []
    for idx, (ring, subject_tag, message, sig) in enumerate(items):
        try:
            decoded.append(_decode(group, ring, subject_tag, message, sig))
        except VerificationError as ex:
            raise VerificationError(f"item {idx}: {ex}") from None
    if not decoded or _combined_equation(group, decoded):
        return
    for idx, item in enumerate(decoded):
        if not _combined_equation(group, [item]):
            raise VerificationError(f"item {idx}: {_explain_failure(group, item)}")
    raise VerificationError(
        "the batch equation failed but every item verified on its own; retry the batch"
    )
