"""The publication proof of a rating: a score bound to the aggregate commitment, nothing more.

Follows docs/publication.md. A published rating states a score (hence a grade) and proves
that it is `base − ⌈D/1000⌉` for the deduction D = Σ_s points_s·N_s of the hidden weighted
counts N_s that open the public aggregate C* = Σ w_i·C_i = Σ_s N_s·G_s + R·H. The counts,
R and D stay hidden: D mod 1000 could reveal the tier of one report whose decay weight
differs from the others', so the proof carries D only as the rounding remainder
u = 1000·(base − score) − D ∈ [0, 999], committed bit by bit.

Sources. The linear part is a sigma protocol for linear relations between discrete
logarithms in the style of Maurer, "Unifying Zero-Knowledge Proofs of Knowledge"
(AFRICACRYPT 2009), extended by one linear equation over Z_q on the witness (the nonce
vector is drawn from the kernel of that row, so the row holds on the responses too). Each
remainder bit is a 1-of-2 OR proof of Cramer, Damgård, Schoenmakers, "Proofs of Partial
Knowledge and Simplified Design of Witness Hiding Protocols" (CRYPTO '94). All of it runs
in parallel under one challenge, made non-interactive with the Fiat–Shamir transform
(Fiat, Shamir, CRYPTO '86), with the whole statement and every first-message point hashed
(the strong transform of Bernhard, Pereira, Warinschi, ASIACRYPT 2012).

Notation. S slots, G_s the Pedersen generators in slot order (`core.pedersen`), H the
blinding generator, G_0 = hash_to_curve(b"remainder", CANDOR-V1-PEDERSEN) a further
nothing-up-my-sleeve generator (`remainder_generator`). Public: C*, points_s, base, score,
and M = 1000·(base − score). Remainder weights ω = (1, 2, 4, …, 256, 488): ten bits b_i
give u = Σ ω_i·b_i, and since Σ ω_i = 999, every choice of bits gives a value in [0, 999]
and every value in [0, 999] has one (0..511 with b_9 = 0, 488..999 with b_9 = 1). This is
the range check: no second decomposition is needed.

Witness: N_1 … N_S, R (mod q), u, the bits b_i and their blindings s_i, σ = Σ ω_i·s_i.

    U_i = b_i·G_0 + s_i·H                            (i = 0..9, sent in the proof)
    (1) C*        = Σ_s N_s·G_s + R·H
    (2) Σ ω_i·U_i = u·G_0 + σ·H
    (3) Σ_s points_s·N_s + u = M                       (over Z_q)
    (4) U_i ∈ {0·G_0 + s·H, 1·G_0 + s·H}               (CDS, i = 0..9)

Prover. Nonces k_N (S of them), k_R, k_σ uniform and k_u = −Σ points_s·k_Ns, so that
(k_N, k_u) lies in the kernel of row (3); T_C = Σ k_Ns·G_s + k_R·H, T_U = k_u·G_0 + k_σ·H;
for bit i, the real branch b_i gets a_{i,b} = k_i·H and the other branch is simulated
(e, z chosen, a solved for). The challenge is

    e = Hash(PUBLICATION_TAG, genesis hash, subject tag, L, set digest, rule-set hash,
             points, base, C*, score, U_0..U_9, T_C, T_U, a_{0,0}, a_{0,1}, …, a_{9,1})

(`core.proofs.fiat_shamir_challenge`: SHA-512 over length-prefixed fields, mod q; integers
big-endian, L as 8 unsigned bytes, base and score as 16 signed bytes, each point as 4
bytes). Responses z = k + e·x for x = (N, R, u, σ); for each bit the challenges of its two
branches sum to e, and z_{i,j} = k_i + e_{i,j}·s_i on the real branch.

Verifier: recompute e; check the row Σ points_s·z_Ns + z_u = e·M (mod q), then the group
equations

    T_C + e·C*        = Σ z_Ns·G_s + z_R·H
    T_U + e·Σ ω_i·U_i = z_u·G_0 + z_σ·H
    a_{i,0} + e_{i,0}·U_i         = z_{i,0}·H,    e_{i,1} = e − e_{i,0}
    a_{i,1} + e_{i,1}·(U_i − G_0) = z_{i,1}·H

all at once: one multi-scalar multiplication of Σ ρ_j·(equation_j) with independent
128-bit random ρ_j, multiplied by the cofactor (the proof's points are decoded on-curve
only; the argument, the same as the validity proof's, is in `verify_batch`).

Completeness: direct substitution; the row holds on z because it holds on x (with right
side M) and on k (right side 0).

Special soundness: from two accepting transcripts with the same first message (all U_i,
T, a) and challenges e ≠ e', x = (z − z')/(e − e') satisfies (1)–(3); for each bit the
branch challenges cannot all agree (they sum to e and e'), so some branch j has
e_{i,j} ≠ e'_{i,j} and gives s with U_i − j·G_0 = s·H: U_i opens to bit j (`_extract` is
the extractor, exercised by the tests). By Pedersen binding (no one knows a discrete-log
relation between G_s, H and G_0), the extracted N_s are the true weighted counts that the
reports' commitments open to, and u = Σ ω_i·b_i ∈ [0, 999]. The counts are below
2^SLOT_BITS = 2^48 and points ≤ 100, so both sides of (3) are integers far below q and the
mod-q equation is exact: D + u = 1000·(base − score) with 0 ≤ u ≤ 999, i.e.
score = base − ⌈D/1000⌉. Fiat–Shamir turns this into soundness in the random-oracle model.

Honest-verifier zero knowledge (`_simulate`): given e, pick each U_i uniform (U_i = s·H,
s uniform: Pedersen commitments are uniform whatever they commit to), simulate both
branches of each bit, pick z_N, z_R, z_σ uniform, set z_u = e·M − Σ points_s·z_Ns and solve
T_C, T_U from the equations. Real transcripts have the same distribution: U_i uniform, z
uniform on the affine plane {Σ points·z_N + z_u = e·M} (since k is uniform on the kernel),
T determined, and the CDS branches perfectly hiding. So the proof reveals nothing beyond
the statement: not N_s, not R, not D or u (the statement itself, score and C*, is public).

Nonces are hedged: every random scalar of the prover is SHA-512 of the witness, the
statement and 32 fresh bytes from `secrets`, with a counter: a broken CSPRNG alone does
not repeat nonces across different witnesses, and a repeated witness alone does not
repeat them either.

Wire form (`PublicationProof.to_bytes`), fixed length for S slots, 1536 + 32·(S + 33)
bytes (3616 for the 8-category registry): U_0..U_9, T_C, T_U, then a_{i,0}, a_{i,1} for
i = 0..9 (32 compressed points of 48 bytes); then the scalars (32 bytes big-endian, each
below q): z_N for slots 1..S, z_R, z_u, z_σ, then e_{i,0}, z_{i,0}, z_{i,1} for i = 0..9.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.errors import InvalidInput, VerificationError
from core.group import ORDER, POINT_BYTES, Point, default_group
from core.paillier import SLOT_BITS
from core.pedersen import TIERS, Generators, nums_generator, random_scalar
from core.proofs import SCALAR_BYTES, batch_coefficients, decode_items, fiat_shamir_challenge
from core.rules import PER_MILLE

__all__ = [
    "MAX_POINTS",
    "PUBLICATION_TAG",
    "REMAINDER_BITS",
    "REMAINDER_WEIGHTS",
    "PublicationProof",
    "PublicationStatement",
    "deduction",
    "prove",
    "remainder_generator",
    "score_of",
    "verify",
    "verify_batch",
]

#: Protocol tag, the first transcript field of every publication proof.
PUBLICATION_TAG = b"CANDOR-V1-PUBLICATION"
#: Number of committed bits of the rounding remainder u.
REMAINDER_BITS = 10
#: u = Σ REMAINDER_WEIGHTS[i]·b_i: powers of two, the last one cut so the weights sum to 999.
REMAINDER_WEIGHTS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 488)
#: Largest deduction points per slot (rule sets use 1..100); bounds the linear row.
MAX_POINTS = 100
#: Largest base score; with `_MAX_DEFICIT` it keeps 1000·(base − score) far below q.
MAX_BASE = 2**31 - 1
# base − score must be below this: above any real deduction (counts < 2^48, points ≤ 100,
# fewer than 2^16 slots give D/1000 < 2^62), and 1000·2^96 is still far below q.
_MAX_DEFICIT = 2**96
_MAX_LEDGER_SIZE = 2**63 - 1
_NONCE_TAG = b"CANDOR-V1-PUBLICATION-NONCE"
_REMAINDER_MSG = b"remainder"
_POINTS_PER_PROOF = 3 * REMAINDER_BITS + 2  # U_i, a_{i,0}, a_{i,1}, T_C, T_U
_FIXED_SCALARS = 3 + 3 * REMAINDER_BITS  # z_R, z_u, z_σ, and e_{i,0}, z_{i,0}, z_{i,1}

assert len(REMAINDER_WEIGHTS) == REMAINDER_BITS
assert sum(REMAINDER_WEIGHTS) == PER_MILLE - 1
# Every u in [0, 999] has bits: the first nine weights cover 0..511 and 488 + 511 = 999.
assert REMAINDER_WEIGHTS[-1] <= sum(REMAINDER_WEIGHTS[:-1]) + 1


def remainder_generator(gens: Generators) -> Point:
    """G_0 = hash_to_curve(b"remainder", CANDOR-V1-PEDERSEN), computed once per process
    (`core.pedersen.nums_generator`).

    Nothing-up-my-sleeve like G_{c,t} and H, and distinct from them: category codes cannot
    contain '/', so no generator string `category/<code>/tier/<t>` is `remainder`.
    """
    return nums_generator(gens.group, _REMAINDER_MSG)


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an integer, got {type(value).__name__}")
    return value


def _check_points(points: Sequence[int]) -> tuple[int, ...]:
    out = []
    for s, p in enumerate(points):
        v = _int(p, f"points of slot {s}")
        if not 0 <= v <= MAX_POINTS:
            raise InvalidInput(f"points of slot {s} is {v}, expected 0..{MAX_POINTS}")
        out.append(v)
    return tuple(out)


def _check_counts(counts: Sequence[int], slots: int) -> tuple[int, ...]:
    if len(counts) != slots:
        raise InvalidInput(
            f"{len(counts)} counts for {slots} slots: give one weighted count per slot, in slot order"
        )
    out = []
    for s, n in enumerate(counts):
        v = _int(n, f"count of slot {s}")
        if not 0 <= v < 2**SLOT_BITS:
            raise InvalidInput(f"count of slot {s} must lie in [0, 2^{SLOT_BITS})")
        out.append(v)
    return tuple(out)


def deduction(points: Sequence[int], counts: Sequence[int]) -> int:
    """D = Σ_s points_s·N_s, in milli-points (counts are weighted per mille)."""
    pts = _check_points(points)
    return sum(p * n for p, n in zip(pts, _check_counts(counts, len(pts))))


def score_of(base: int, points: Sequence[int], counts: Sequence[int]) -> int:
    """The published score base − ⌈D/1000⌉ (it may be negative; shown as 0 and graded D)."""
    d = deduction(points, counts)
    return _int(base, "base score") - (d + PER_MILLE - 1) // PER_MILLE


def _require_bytes(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise InvalidInput(f"{name} must be {size} bytes, got {got}")
    return value


@dataclass(frozen=True)
class PublicationStatement:
    """What a publication proof is about: the rating's public fields and the aggregate C*.

    `aggregate` is C* = Σ w_i·C_i over the active set (48-byte compressed); `points` the
    rule set's deduction points per slot, in slot order (4 per category of the registry);
    `base` the rule set's base score; `score` the published score, at most `base`.
    """

    genesis_hash: bytes
    subject_tag: bytes
    ledger_size: int
    set_digest: bytes
    rule_set_hash: bytes
    aggregate: bytes
    points: tuple[int, ...]
    base: int
    score: int

    def __post_init__(self) -> None:
        _require_bytes("genesis hash", self.genesis_hash, 32)
        _require_bytes("subject tag", self.subject_tag, 32)
        size = _int(self.ledger_size, "ledger size")
        if not 1 <= size <= _MAX_LEDGER_SIZE:
            raise InvalidInput(f"ledger size must be 1..2^63-1, got {size}")
        _require_bytes("set digest", self.set_digest, 32)
        _require_bytes("rule set hash", self.rule_set_hash, 32)
        _require_bytes("aggregate", self.aggregate, POINT_BYTES)
        if not isinstance(self.points, (tuple, list)):
            raise InvalidInput(f"points must be a sequence, got {type(self.points).__name__}")
        if not self.points or len(self.points) % TIERS:
            raise InvalidInput(
                f"statement has {len(self.points)} points; expected {TIERS} per category "
                "(one per slot, in slot order)"
            )
        object.__setattr__(self, "points", _check_points(self.points))
        base = _int(self.base, "base score")
        if not 0 <= base <= MAX_BASE:
            raise InvalidInput(f"base score must be 0..{MAX_BASE}, got {base}")
        score = _int(self.score, "score")
        if score > base:
            raise InvalidInput(
                f"score {score} is above the base score {base}: deductions are never negative"
            )
        if base - score >= _MAX_DEFICIT:
            raise InvalidInput("score is implausibly far below the base score (2^96 points or more)")

    @property
    def slots(self) -> int:
        return len(self.points)

    @property
    def target(self) -> int:
        """M = 1000·(base − score), the right side of the linear row."""
        return PER_MILLE * (self.base - self.score)

    def transcript(self) -> tuple[bytes, ...]:
        """The statement's Fiat–Shamir fields after the tag (see the module docstring)."""
        return (
            self.genesis_hash,
            self.subject_tag,
            self.ledger_size.to_bytes(8, "big"),
            self.set_digest,
            self.rule_set_hash,
            b"".join(p.to_bytes(4, "big") for p in self.points),
            self.base.to_bytes(16, "big", signed=True),
            self.aggregate,
            self.score.to_bytes(16, "big", signed=True),
        )


def _scalar(value: object, what: str) -> int:
    v = _int(value, what)
    if not 0 <= v < ORDER:
        raise InvalidInput(f"{what} is not a canonical scalar (it must lie in [0, q))")
    return v


def _scalars(value: object, what: str, n: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise InvalidInput(f"{what} must be a sequence, got {type(value).__name__}")
    if n is not None and len(value) != n:
        raise InvalidInput(f"proof has {len(value)} {what}, expected {n}")
    return tuple(_scalar(v, f"{what}[{i}]") for i, v in enumerate(value))


def _point_list(value: object, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, (tuple, list)):
        raise InvalidInput(f"{what} must be a sequence, got {type(value).__name__}")
    if len(value) != REMAINDER_BITS:
        raise InvalidInput(f"proof has {len(value)} {what}, expected {REMAINDER_BITS}")
    return tuple(_require_bytes(f"{what}[{i}]", v, POINT_BYTES) for i, v in enumerate(value))


@dataclass(frozen=True)
class PublicationProof:
    """The proof: bit commitments U_i, first messages T_C, T_U, a_{i,j}, and the responses.

    `z_counts` has one response per slot, so the proof's length depends on the registry;
    `from_bytes` needs the slot count. Every point must be a compressed encoding of a
    point on the curve (checked on construction; membership of the prime-order subgroup
    is not required, see `verify_batch`), every scalar canonical (below q).
    """

    bits: tuple[bytes, ...]
    t_aggregate: bytes
    t_remainder: bytes
    a0: tuple[bytes, ...]
    a1: tuple[bytes, ...]
    z_counts: tuple[int, ...]
    z_r: int
    z_u: int
    z_sigma: int
    e0: tuple[int, ...]
    z0: tuple[int, ...]
    z1: tuple[int, ...]
    # The points above decoded with the default group (verify reuses them, saving a decode).
    _decoded: tuple[Point, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("bits", "a0", "a1"):
            object.__setattr__(self, name, _point_list(getattr(self, name), name))
        _require_bytes("t_aggregate", self.t_aggregate, POINT_BYTES)
        _require_bytes("t_remainder", self.t_remainder, POINT_BYTES)
        counts = _scalars(self.z_counts, "count responses z_counts")
        if not counts or len(counts) % TIERS:
            raise InvalidInput(
                f"proof has {len(counts)} count responses; expected {TIERS} per category"
            )
        object.__setattr__(self, "z_counts", counts)
        for name in ("z_r", "z_u", "z_sigma"):
            _scalar(getattr(self, name), f"proof response {name}")
        for name in ("e0", "z0", "z1"):
            object.__setattr__(self, name, _scalars(getattr(self, name), name, REMAINDER_BITS))
        group = default_group()
        decoded = []
        for what, data in self._named_points():
            try:
                decoded.append(group.decode_unchecked(data))
            except InvalidInput as ex:
                raise InvalidInput(f"proof point {what}: {ex}") from None
        object.__setattr__(self, "_decoded", tuple(decoded))

    def _named_points(self) -> list[tuple[str, bytes]]:
        """The proof's points in wire order, each with its name for messages."""
        named = [(f"U[{i}]", u) for i, u in enumerate(self.bits)]
        named += [("T_C", self.t_aggregate), ("T_U", self.t_remainder)]
        for i in range(REMAINDER_BITS):
            named += [(f"a[{i}][0]", self.a0[i]), (f"a[{i}][1]", self.a1[i])]
        return named

    @property
    def slots(self) -> int:
        return len(self.z_counts)

    @staticmethod
    def size(slots: int) -> int:
        """The wire length of a proof for `slots` slots."""
        return _POINTS_PER_PROOF * POINT_BYTES + (slots + _FIXED_SCALARS) * SCALAR_BYTES

    def to_bytes(self) -> bytes:
        tail = [*self.z_counts, self.z_r, self.z_u, self.z_sigma]
        for i in range(REMAINDER_BITS):
            tail += [self.e0[i], self.z0[i], self.z1[i]]
        return b"".join(
            (*(p for _, p in self._named_points()), *(v.to_bytes(SCALAR_BYTES, "big") for v in tail))
        )

    @classmethod
    def from_bytes(cls, data: bytes, slots: int) -> PublicationProof:
        """Parse the wire form for a registry of `slots` slots; InvalidInput if malformed."""
        n = _int(slots, "slot count")
        if n < TIERS or n % TIERS:
            raise InvalidInput(f"slot count must be a positive multiple of {TIERS}, got {n}")
        expected = cls.size(n)
        if not isinstance(data, bytes) or len(data) != expected:
            got = len(data) if isinstance(data, bytes) else type(data).__name__
            raise InvalidInput(
                f"publication proof is {got} bytes, expected {expected} for {n} slots "
                f"({_POINTS_PER_PROOF} points of {POINT_BYTES} bytes, then {n + _FIXED_SCALARS} "
                f"scalars of {SCALAR_BYTES} bytes)"
            )
        cut = _POINTS_PER_PROOF * POINT_BYTES
        pts = [data[i : i + POINT_BYTES] for i in range(0, cut, POINT_BYTES)]
        sc = [int.from_bytes(data[i : i + SCALAR_BYTES], "big") for i in range(cut, expected, SCALAR_BYTES)]
        r = REMAINDER_BITS
        bit_sc = sc[n + 3 :]
        return cls(
            bits=tuple(pts[:r]),
            t_aggregate=pts[r],
            t_remainder=pts[r + 1],
            a0=tuple(pts[r + 2 :: 2]),
            a1=tuple(pts[r + 3 :: 2]),
            z_counts=tuple(sc[:n]),
            z_r=sc[n],
            z_u=sc[n + 1],
            z_sigma=sc[n + 2],
            e0=tuple(bit_sc[0::3]),
            z0=tuple(bit_sc[1::3]),
            z1=tuple(bit_sc[2::3]),
        )

    def first_message(self) -> tuple[bytes, ...]:
        """The points hashed into the challenge, in transcript order."""
        return tuple(p for _, p in self._named_points())


def _challenge(stmt: PublicationStatement, first_message: Sequence[bytes]) -> int:
    return fiat_shamir_challenge(PUBLICATION_TAG, (*stmt.transcript(), *first_message))


# ---- prover ----

ScalarSource = Callable[[], int]


def _hedged(stmt: PublicationStatement, witness: Sequence[int], entropy: bytes) -> ScalarSource:
    """Scalars SHA-512(seed ‖ counter) mod q, seed = SHA-512(tag, entropy, statement, witness)."""
    h = hashlib.sha512()
    fields = (_NONCE_TAG, entropy, *stmt.transcript(), *((w % ORDER).to_bytes(32, "big") for w in witness))
    for part in fields:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    seed = h.digest()
    counter = 0

    def draw() -> int:
        nonlocal counter
        counter += 1
        return int.from_bytes(hashlib.sha512(seed + counter.to_bytes(8, "big")).digest(), "big") % ORDER

    return draw


@dataclass(frozen=True)
class _Witness:
    counts: tuple[int, ...]
    r: int
    bits: tuple[int, ...]  # 0 or 1 for an honest prover; anything for a cheating one
    blinds: tuple[int, ...]

    @property
    def u(self) -> int:
        return sum(w * b for w, b in zip(REMAINDER_WEIGHTS, self.bits))

    @property
    def sigma(self) -> int:
        return sum(w * s for w, s in zip(REMAINDER_WEIGHTS, self.blinds)) % ORDER


@dataclass(frozen=True)
class _Nonces:
    counts: tuple[int, ...]
    r: int
    sigma: int
    bit: tuple[int, ...]  # k_i of the real branch
    sim_e: tuple[int, ...]  # challenge of the simulated branch
    sim_z: tuple[int, ...]  # response of the simulated branch

    def u(self, stmt: PublicationStatement) -> int:
        """k_u = −Σ points_s·k_Ns: (k_N, k_u) lies in the kernel of the linear row."""
        return -sum(p * k for p, k in zip(stmt.points, self.counts)) % ORDER


def _draw_nonces(slots: int, rng: ScalarSource) -> _Nonces:
    counts = tuple(rng() for _ in range(slots))
    r, sigma = rng(), rng()
    per_bit = [(rng(), rng(), rng()) for _ in range(REMAINDER_BITS)]
    return _Nonces(
        counts, r, sigma,
        bit=tuple(b[0] for b in per_bit),
        sim_e=tuple(b[1] for b in per_bit),
        sim_z=tuple(b[2] for b in per_bit),
    )


def _real_branch(bit: int) -> int:
    # A cheating "bit" outside {0, 1} has no true branch; run branch 0 (it will not verify).
    return bit if bit in (0, 1) else 0


def _slot_generators(gens: Generators) -> list[Point]:
    return [gens.g(code, t) for code in gens.categories for t in range(TIERS)]


@dataclass(frozen=True)
class _FirstMessage:
    bits: tuple[bytes, ...]
    t_aggregate: bytes
    t_remainder: bytes
    a0: tuple[bytes, ...]
    a1: tuple[bytes, ...]

    def points(self) -> tuple[bytes, ...]:
        """In wire (and transcript) order, as `PublicationProof.first_message`."""
        pairs = (p for i in range(REMAINDER_BITS) for p in (self.a0[i], self.a1[i]))
        return (*self.bits, self.t_aggregate, self.t_remainder, *pairs)


def _first_message(
    gens: Generators, stmt: PublicationStatement, wit: _Witness, k: _Nonces
) -> _FirstMessage:
    group, h, g0 = gens.group, gens.h, remainder_generator(gens)
    u_pts = [
        group.msm([g0, h], [b, s]) if b not in (0, 1)  # only a cheating prover's "bit"
        else group.add(group.mul(h, s), g0) if b else group.mul(h, s)
        for b, s in zip(wit.bits, wit.blinds)
    ]
    t_c = group.msm([*_slot_generators(gens), h], [*k.counts, k.r])
    t_u = group.msm([g0, h], [k.u(stmt), k.sigma])
    a: list[list[bytes]] = [[], []]
    for i in range(REMAINDER_BITS):
        real = _real_branch(wit.bits[i])
        for j in (0, 1):
            if j == real:
                pt = group.mul(h, k.bit[i])
            else:
                # Simulated branch: a = z·H − e·(U_i − j·G_0).
                x_j = group.sub(u_pts[i], g0) if j else u_pts[i]
                pt = group.msm([h, x_j], [k.sim_z[i], -k.sim_e[i]])
            a[j].append(group.encode(pt))
    return _FirstMessage(
        bits=tuple(group.encode(p) for p in u_pts),
        t_aggregate=group.encode(t_c),
        t_remainder=group.encode(t_u),
        a0=tuple(a[0]),
        a1=tuple(a[1]),
    )


def _respond(
    stmt: PublicationStatement, wit: _Witness, k: _Nonces, first: _FirstMessage, e: int
) -> PublicationProof:
    e0, z0, z1 = [], [], []
    for i in range(REMAINDER_BITS):
        real = _real_branch(wit.bits[i])
        e_real = (e - k.sim_e[i]) % ORDER
        z_real = (k.bit[i] + e_real * wit.blinds[i]) % ORDER
        if real == 0:
            e0.append(e_real)
            z0.append(z_real)
            z1.append(k.sim_z[i])
        else:
            e0.append(k.sim_e[i])
            z0.append(k.sim_z[i])
            z1.append(z_real)
    return PublicationProof(
        bits=first.bits,
        t_aggregate=first.t_aggregate,
        t_remainder=first.t_remainder,
        a0=first.a0,
        a1=first.a1,
        z_counts=tuple((kn + e * n) % ORDER for kn, n in zip(k.counts, wit.counts)),
        z_r=(k.r + e * wit.r) % ORDER,
        z_u=(k.u(stmt) + e * wit.u) % ORDER,
        z_sigma=(k.sigma + e * wit.sigma) % ORDER,
        e0=tuple(e0),
        z0=tuple(z0),
        z1=tuple(z1),
    )


def _prove_raw(
    gens: Generators,
    stmt: PublicationStatement,
    counts: Sequence[int],
    r: int,
    bits: Sequence[int],
    entropy: bytes,
) -> PublicationProof:
    """The prover without any check of the witness (tests use it to play a cheater)."""
    rng = _hedged(stmt, (*counts, r, *bits), entropy)
    wit = _Witness(tuple(counts), r % ORDER, tuple(bits), tuple(rng() for _ in range(REMAINDER_BITS)))
    k = _draw_nonces(len(counts), rng)
    first = _first_message(gens, stmt, wit, k)
    return _respond(stmt, wit, k, first, _challenge(stmt, first.points()))


def _remainder_bits(u: int) -> tuple[int, ...]:
    """Bits b_i with Σ REMAINDER_WEIGHTS[i]·b_i = u, for 0 ≤ u ≤ 999."""
    top = 1 if u >= 2 ** (REMAINDER_BITS - 1) else 0
    low = u - REMAINDER_WEIGHTS[-1] * top
    return (*((low >> i) & 1 for i in range(REMAINDER_BITS - 1)), top)


def _check_witness(
    gens: Generators, stmt: PublicationStatement, counts: Sequence[int], r_sum: int
) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """(counts, R mod q, remainder bits) after checking the witness satisfies `stmt`."""
    slots = TIERS * len(gens.categories)
    if stmt.slots != slots:
        raise InvalidInput(
            f"statement has {stmt.slots} points but the registry has {slots} slots "
            f"({TIERS} per category)"
        )
    ns = _check_counts(counts, slots)
    r = _int(r_sum, "r_sum")
    if r < 0:
        raise InvalidInput("r_sum must be a non-negative integer (the decrypted R field)")
    group = gens.group
    opening = group.msm([*_slot_generators(gens), gens.h], [*ns, r % ORDER])
    if group.encode(opening) != stmt.aggregate:
        raise InvalidInput(
            "the counts and R do not open the statement's aggregate C*: prove the aggregate "
            "of the set these counts were decrypted from"
        )
    u = stmt.target - deduction(stmt.points, ns)
    if not 0 <= u < PER_MILLE:
        raise InvalidInput(
            "the statement's score is not base − ⌈D/1000⌉ for these counts and points: "
            "compute it with score_of"
        )
    return ns, r % ORDER, _remainder_bits(u)


def _prove_with_entropy(
    gens: Generators,
    stmt: PublicationStatement,
    counts: Sequence[int],
    r_sum: int,
    entropy: bytes,
) -> PublicationProof:
    """`prove` with the fresh bytes given: deterministic, for the vector generator only."""
    ns, r, bits = _check_witness(gens, stmt, counts, r_sum)
    return _prove_raw(gens, stmt, ns, r, bits, entropy)


def prove(
    gens: Generators, statement: PublicationStatement, counts: Sequence[int], r_sum: int
) -> PublicationProof:
    """Prove that `statement.score` is base − ⌈D/1000⌉ for the counts opening C*.

    `counts` are the decrypted weighted counts N_s in slot order (per mille), `r_sum` the
    decrypted R = Σ w_i·r_i (any non-negative integer; reduced mod q). Raises InvalidInput
    if the witness does not satisfy the statement (C* does not open to it, the score is
    not the one it gives, a count is negative or too large): a proof of a false statement
    would be rejected anyway, so fail early. Messages never contain the counts.
    """
    return _prove_with_entropy(gens, statement, counts, r_sum, secrets.token_bytes(32))


# ---- verifier ----


@dataclass(frozen=True)
class _Decoded:
    """An item whose challenge was recomputed, whose row holds and whose points decoded."""

    stmt: PublicationStatement
    proof: PublicationProof
    e: int
    aggregate: Point  # subgroup-checked
    bits: tuple[Point, ...]  # the rest on-curve only
    t_aggregate: Point
    t_remainder: Point
    a0: tuple[Point, ...]
    a1: tuple[Point, ...]


def _decode(
    gens: Generators, stmt: PublicationStatement, proof: PublicationProof, e: int | None = None
) -> _Decoded:
    """Everything but the group equations, with challenge `e` (default: the hash)."""
    group = gens.group
    slots = TIERS * len(gens.categories)
    if stmt.slots != slots:
        raise VerificationError(
            f"statement has {stmt.slots} points but the registry has {slots} slots "
            f"({TIERS} per category): the statement is for another registry"
        )
    if proof.slots != slots:
        raise VerificationError(
            f"proof has {proof.slots} count responses but the registry has {slots} slots: "
            "the proof was made for another registry"
        )
    try:
        # C* is recomputed by the verifier from stored commitments; refuse anything else.
        aggregate = group.decode(stmt.aggregate)
    except InvalidInput as ex:
        raise VerificationError(f"aggregate C* is not a valid G1 point: {ex}") from None
    if e is None:
        e = _challenge(stmt, proof.first_message())
    row = sum(p * z for p, z in zip(stmt.points, proof.z_counts)) + proof.z_u
    if (row - e * stmt.target) % ORDER:
        raise VerificationError(
            "publication proof fails its linear row (Σ points·z_N + z_u ≠ e·1000·(base − score) "
            "for this statement's Fiat–Shamir challenge e): the proof was made for another "
            "score, base, points, subject, ledger size, set digest, rule set, genesis or "
            "aggregate, or it was altered"
        )
    if group is default_group():
        pts = list(proof._decoded)
    else:
        pts = []
        for what, data in proof._named_points():
            try:
                pts.append(group.decode_unchecked(data))
            except InvalidInput as ex:
                raise VerificationError(f"proof point {what}: {ex}") from None
    r = REMAINDER_BITS
    return _Decoded(
        stmt, proof, e, aggregate,
        bits=tuple(pts[:r]), t_aggregate=pts[r], t_remainder=pts[r + 1],
        a0=tuple(pts[r + 2 :: 2]), a1=tuple(pts[r + 3 :: 2]),
    )


# Equations of one item, by name: ("aggregate",), ("remainder",), ("bit", i, j).
_Equation = tuple[object, ...]


_EQUATIONS: tuple[_Equation, ...] = (
    ("aggregate",),
    ("remainder",),
    *(("bit", i, j) for i in range(REMAINDER_BITS) for j in (0, 1)),
)


class _Terms:
    """The terms of one multi-scalar multiplication, one coefficient per distinct point.

    Points are named by keys; a point named twice gets its coefficients summed, so each
    generator and each U_i enters the MSM once however many equations use it.
    """

    def __init__(self) -> None:
        self._points: dict[object, Point] = {}
        self._coefs: dict[object, int] = {}

    def add(self, key: object, point: Point, coef: int) -> None:
        if key in self._coefs:
            self._coefs[key] += coef
        else:
            self._points[key] = point
            self._coefs[key] = coef

    def is_identity_times_cofactor(self, gens: Generators) -> bool:
        group = gens.group
        keys = list(self._points)
        total = group.msm([self._points[k] for k in keys], [self._coefs[k] for k in keys])
        return group.is_identity(group.mul_by_cofactor(total))


def _accumulate(
    gens: Generators, slot_gens: Sequence[Point], item: _Decoded, eq: _Equation, rho: int, terms: _Terms
) -> None:
    """Add ρ·(equation, moved to one side) to `terms`:

    aggregate: T_C + e·C* − Σ z_Ns·G_s − z_R·H
    remainder: T_U + e·Σ ω_i·U_i − z_u·G_0 − z_σ·H
    bit i, j:  a_{i,j} + e_{i,j}·U_i − j·e_{i,j}·G_0 − z_{i,j}·H,   e_{i,1} = e − e_{i,0}
    """
    proof, e, me = item.proof, item.e, id(item)
    h, g0 = gens.h, remainder_generator(gens)
    if eq[0] == "aggregate":
        terms.add((me, "T_C"), item.t_aggregate, rho)
        terms.add((me, "C*"), item.aggregate, rho * e)
        for s, (g, z) in enumerate(zip(slot_gens, proof.z_counts)):
            terms.add(("G", s), g, -rho * z)
        terms.add("H", h, -rho * proof.z_r)
    elif eq[0] == "remainder":
        terms.add((me, "T_U"), item.t_remainder, rho)
        for i, (w, u_pt) in enumerate(zip(REMAINDER_WEIGHTS, item.bits)):
            terms.add((me, "U", i), u_pt, rho * e * w)
        terms.add("G0", g0, -rho * proof.z_u)
        terms.add("H", h, -rho * proof.z_sigma)
    else:
        bit, branch = eq[1], eq[2]
        assert isinstance(bit, int) and isinstance(branch, int)
        e_j = proof.e0[bit] if branch == 0 else (e - proof.e0[bit]) % ORDER
        z_j = proof.z0[bit] if branch == 0 else proof.z1[bit]
        # ρ multiplies a_{i,j} as it is: a 128-bit scalar keeps that part of the MSM cheap.
        terms.add((me, "a", bit, branch), item.a0[bit] if branch == 0 else item.a1[bit], rho)
        terms.add((me, "U", bit), item.bits[bit], rho * e_j)
        if branch:
            terms.add("G0", g0, -rho * e_j)
        terms.add("H", h, -rho * z_j)


def _holds(gens: Generators, work: Sequence[tuple[_Decoded, _Equation]]) -> bool:
    """Whether cofactor·Σ ρ·(equation) is the identity, ρ fresh 128-bit for each equation."""
    slot_gens = _slot_generators(gens)
    terms = _Terms()
    for (item, eq), rho in zip(work, batch_coefficients(len(work))):
        _accumulate(gens, slot_gens, item, eq, rho, terms)
    return terms.is_identity_times_cofactor(gens)


def _all_equations(items: Sequence[_Decoded]) -> list[tuple[_Decoded, _Equation]]:
    return [(item, eq) for item in items for eq in _EQUATIONS]


def _explain_failure(gens: Generators, item: _Decoded) -> VerificationError:
    """Name the first failing equation of an item (slow path, bad input only)."""
    for eq in _EQUATIONS:
        if _holds(gens, [(item, eq)]):
            continue
        if eq[0] == "aggregate":
            return VerificationError(
                "publication proof's aggregate equation T_C + e·C* == Σ z_N·G + z_R·H fails: "
                "the proof does not open this aggregate"
            )
        if eq[0] == "remainder":
            return VerificationError(
                "publication proof's remainder equation T_U + e·Σ ω_i·U_i == z_u·G_0 + z_σ·H "
                "fails: the bit commitments do not add up to the remainder"
            )
        return VerificationError(
            f"publication proof's remainder bit {eq[1]} fails (branch {eq[2]}): U[{eq[1]}] is "
            "not shown to commit to 0 or 1, so the remainder is not shown to be in [0, 999]"
        )
    return VerificationError("publication proof fails its group equations")


def _check_transcript(
    gens: Generators, stmt: PublicationStatement, proof: PublicationProof, e: int
) -> None:
    """The interactive verifier: accept (return) iff the proof verifies under challenge e."""
    item = _decode(gens, stmt, proof, e)
    if not _holds(gens, _all_equations([item])):
        raise _explain_failure(gens, item)


def verify(gens: Generators, statement: PublicationStatement, proof: PublicationProof) -> None:
    """Raise VerificationError unless `proof` proves `statement` (returns None on success).

    Checks, in order: the statement and proof have one slot per (category, tier) of the
    registry; C* decodes as a G1 point (subgroup-checked); the linear row holds for the
    Fiat–Shamir challenge of this statement and first message; every group equation,
    combined in one multi-scalar multiplication with random coefficients and multiplied by
    the cofactor. The same rule as `verify_batch`, so one proof and a batch always agree.
    A failure is re-checked equation by equation for the message.
    """
    _check_transcript(gens, statement, proof, _challenge(statement, proof.first_message()))


def verify_batch(
    gens: Generators, items: Sequence[tuple[PublicationStatement, PublicationProof]]
) -> None:
    """Verify many publication proofs at once; raise VerificationError naming the first bad item.

    Each item's slot counts, C* and linear row are checked first (cheap, and they name the
    item). Then every group equation of every item (22 per proof) is checked together as
    h·Σ ρ_j·E_j = 0, h the cofactor, ρ_j independent uniform 128-bit from `secrets`, in one
    multi-scalar multiplication; G_s, H and G_0 appear once with summed coefficients.

    Soundness (as for `core.proofs.batch_verify_validity`). Every point P of E(F_p) is
    uniquely P_q + P_h with P_q in G1 and h·P_h = 0; h·P = 0 iff P_q = 0, and P -> P_q is a
    homomorphism. The proof's points (U_i, T, a) are decoded on-curve only; C* is checked;
    the generators are hashed to G1. So h·E_j = 0 iff equation j holds for the G1 parts of
    the proof's points, which is all the soundness argument of the module docstring uses:
    the challenge hashes the exact bytes, so the extractor works on the G1 parts, and they
    open to the true counts and to bits. If some E_j has a nonzero G1 part, fixing every ρ
    but ρ_j, the sum is the identity for at most one residue of ρ_j mod q, so the batch
    accepts with probability at most 2^-128. A torsion component can only be put there by
    the prover (it is hashed), and it proves the same statement.

    If the batch fails, items are re-verified one by one to find the bad one.
    """
    decoded = decode_items(functools.partial(_decode, gens), items)
    if not decoded or _holds(gens, _all_equations(decoded)):
        return
    for n, item in enumerate(decoded):
        if not _holds(gens, _all_equations([item])):
            raise VerificationError(f"item {n}: {_explain_failure(gens, item)}")
    raise VerificationError(
        "the batch equation failed but every item verified on its own; retry the batch"
    )


# ---- the soundness and zero-knowledge arguments, as code (the tests run them) ----


@dataclass(frozen=True)
class _Extracted:
    counts: tuple[int, ...]
    r: int
    u: int
    sigma: int
    bits: tuple[int, ...]
    blinds: tuple[int, ...]


def _extract(
    stmt: PublicationStatement,
    first: PublicationProof,
    e1: int,
    second: PublicationProof,
    e2: int,
) -> _Extracted:
    """The special-soundness extractor: a witness from two accepting transcripts that share
    their first message and have challenges e1 ≠ e2."""
    if first.first_message() != second.first_message() or (e1 - e2) % ORDER == 0:
        raise InvalidInput("extraction needs one first message and two different challenges")
    inv = pow(e1 - e2, -1, ORDER)

    def ex(z1: int, z2: int) -> int:
        return (z1 - z2) * inv % ORDER

    bits, blinds = [], []
    for i in range(REMAINDER_BITS):
        pairs = [
            (first.e0[i], second.e0[i], first.z0[i], second.z0[i]),
            ((e1 - first.e0[i]) % ORDER, (e2 - second.e0[i]) % ORDER, first.z1[i], second.z1[i]),
        ]
        # The branch challenges sum to e1 and e2, so they differ on at least one branch.
        j = 0 if pairs[0][0] != pairs[0][1] else 1
        ea, eb, za, zb = pairs[j]
        bits.append(j)
        blinds.append((za - zb) * pow(ea - eb, -1, ORDER) % ORDER)
    return _Extracted(
        counts=tuple(ex(a, b) for a, b in zip(first.z_counts, second.z_counts)),
        r=ex(first.z_r, second.z_r),
        u=ex(first.z_u, second.z_u),
        sigma=ex(first.z_sigma, second.z_sigma),
        bits=tuple(bits),
        blinds=tuple(blinds),
    )


def _simulate(
    gens: Generators, stmt: PublicationStatement, e: int, rng: ScalarSource = random_scalar
) -> PublicationProof:
    """The HVZK simulator: a transcript accepted under challenge e, made without a witness."""
    group, h, g0 = gens.group, gens.h, remainder_generator(gens)
    u_pts = [group.mul(h, rng()) for _ in range(REMAINDER_BITS)]
    a0, a1, e0, z0, z1 = [], [], [], [], []
    for u_pt in u_pts:
        e_0, z_0, z_1 = rng(), rng(), rng()
        e_1 = (e - e_0) % ORDER
        a0.append(group.encode(group.msm([h, u_pt], [z_0, -e_0])))
        a1.append(group.encode(group.msm([h, group.sub(u_pt, g0)], [z_1, -e_1])))
        e0.append(e_0)
        z0.append(z_0)
        z1.append(z_1)
    z_counts = [rng() for _ in range(stmt.slots)]
    z_r, z_sigma = rng(), rng()
    z_u = (e * stmt.target - sum(p * z for p, z in zip(stmt.points, z_counts))) % ORDER
    aggregate = group.decode(stmt.aggregate)
    t_c = group.msm([*_slot_generators(gens), h, aggregate], [*z_counts, z_r, -e])
    u_sum = group.msm(u_pts, list(REMAINDER_WEIGHTS))
    t_u = group.msm([g0, h, u_sum], [z_u, z_sigma, -e])
    return PublicationProof(
        bits=tuple(group.encode(p) for p in u_pts),
        t_aggregate=group.encode(t_c),
        t_remainder=group.encode(t_u),
        a0=tuple(a0), a1=tuple(a1),
        z_counts=tuple(z_counts), z_r=z_r, z_u=z_u, z_sigma=z_sigma,
        e0=tuple(e0), z0=tuple(z0), z1=tuple(z1),
    )
