"""The validity proof of a report commitment: a 1-of-4 OR proof over the tiers.

Follows docs/reports.md ("Validity proof") and Cramer, Damgård, Schoenmakers, "Proofs of Partial
Knowledge and Simplified Design of Witness Hiding Protocols" (CRYPTO '94): their 1-out-of-n
composition applied to Schnorr's proof of knowledge of a discrete logarithm, made
non-interactive with the Fiat–Shamir transform (Fiat, Shamir, CRYPTO '86), with the statement
bound into the hash as Bernhard, Pereira, Warinschi, "How not to prove yourself"
(ASIACRYPT 2012) require.

Statement: for the public commitment C and category c, there is a tier t' in 0..3 and an r
with C − G_{c,t'} = r·H. Write X_j = C − G_{c,j}. The proof is (a_j, e_j, z_j) for j = 0..3,
and it verifies iff

    z_j·H == a_j + e_j·X_j    for every j,    and    Σ_j e_j == Hash(transcript)  (mod q).

(C must be in G1; the a_j need only be on the curve, and the branch equations are then
checked in G1 after multiplying by the cofactor: see `batch_verify_validity`.)

Encoding, `VERSION` 2 (`ValidityProof.to_bytes`): the version byte, then a_0..a_3
uncompressed (96 bytes each, x ‖ y big-endian), then e_0..e_3 and z_0..z_3 (32 bytes each,
big-endian, below q): 641 bytes. The a_j are transient points (nothing stores or sums them),
so the verifier only checks that each lies on the curve, which takes no square root (about
2 µs against 26 µs for a compressed point, four per report at intake, in the mirror and in
every audit replay). Why that is enough: E(F_p) has order h·q with gcd(h, q) = 1, so a curve
point is U + T with U in G1 and T of order dividing h; the branch equations are checked after
multiplying by h, which kills T and is a bijection on G1, so the verifier checks exactly the
equations on the G1 parts of the a_j, whose bytes (T included) the hash binds. The prover
can add h-torsion to its own a_j and still be accepted for the same true statement; nobody
else can (the hash changes), and C, the point that is stored and summed, is subgroup-checked.
Version 1 (the a_j compressed, 448 bytes) is retired: no ledger carries it and `from_bytes`
refuses it by its length.

The prover runs Schnorr honestly on its own branch t and simulates the other three by
picking e_j, z_j first and solving for a_j; the hash fixes the sum of the challenges, so at
most one of them is free. CDS show special soundness (two accepting proofs with the same
a_j and different hashes yield r for some branch) and perfect witness indistinguishability
(the proof says nothing about which tier is real).

Transcript. The hash input is the sequence of fields, each prefixed with its length as a
4-byte big-endian integer (so no two different sequences give the same bytes):
`VALIDITY_TAG, version (1 byte), genesis_hash, report_id, subject_tag, category (UTF-8),
event_date (ASCII), C, a_0, a_1, a_2, a_3` with C compressed and each a_j as encoded.
Binding the report id, subject, category, date and genesis makes a proof useless for any
other report (no replay or grafting); binding C and every a_j is what Bernhard et al. call
the strong Fiat–Shamir transform (statement and first message hashed). The version byte
keeps a proof of one encoding from ever hashing like one of another.

Hash to scalar: SHA-512 of the transcript, read as a 512-bit big-endian integer, reduced
mod q. 512 bits exceed log2(q) + 128 = 383, so the result is within statistical distance
2^-256 of uniform on Z_q (the same margin RFC 9380 §5 asks of hash_to_field, L = 64).

Batch verification (docs/reports.md "MUST be batch-verifiable"): see `batch_verify_validity`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from core.errors import InvalidInput, VerificationError
from core.group import ORDER, POINT_BYTES, XY_BYTES, Group, Point
from core.pedersen import TIERS, Generators, Tier, commit, random_scalar, validate_category_code

__all__ = [
    "VALIDITY_TAG",
    "VERSION",
    "SCALAR_BYTES",
    "fiat_shamir_challenge",
    "ReportStatement",
    "ValidityProof",
    "prove_validity",
    "verify_validity",
    "batch_verify_validity",
    "validity_batch_terms",
    "BatchTerms",
    "batch_equation_holds",
    "decode_items",
    "ValidityNonces",
    "validity_nonces",
]

#: Protocol tag, the first transcript field of every validity proof.
VALIDITY_TAG = b"CANDOR-V1-VALIDITY"
#: The encoding of `ValidityProof` (its first byte, and a transcript field).
VERSION = 2
#: Size of an encoded scalar (big-endian, canonical: below q).
SCALAR_BYTES = 32
#: Random coefficients of batch verification are this many bits (soundness error 2^-128).
BATCH_COEFFICIENT_BITS = 128


def batch_coefficients(count: int) -> list[int]:
    """`count` independent uniform `BATCH_COEFFICIENT_BITS`-bit coefficients for one batch
    equation (validity proofs, ring signatures, publication proofs), from one read of the
    system CSPRNG rather than one system call per coefficient."""
    width = BATCH_COEFFICIENT_BITS // 8
    pool = secrets.token_bytes(width * count)
    return [int.from_bytes(pool[i: i + width], "big") for i in range(0, len(pool), width)]


_D = TypeVar("_D")
BatchTerms = tuple[list[Point], list[int]]
"""The points and scalars of a batch equation h·Σ scalars[i]·points[i] = 0 (h the cofactor)."""


def batch_equation_holds(group: Group, *terms: BatchTerms) -> bool:
    """Whether h·Σ scalars·points over all of `terms` is the identity: one MSM and one
    multiplication by the cofactor, for one batch equation or several added together."""
    points = [p for pts, _ in terms for p in pts]
    scalars = [k for _, ks in terms for k in ks]
    return group.is_identity(group.mul_by_cofactor(group.msm(points, scalars)))


def decode_items(decode: Callable[..., _D], items: Sequence[tuple[Any, ...]]) -> list[_D]:
    """`decode(*item)` for each of a batch's `items`, naming a refusal by its position: a
    VerificationError "item i: ..." (batch verification of validity, ring and publication
    proofs)."""
    decoded: list[_D] = []
    for i, item in enumerate(items):
        try:
            decoded.append(decode(*item))
        except VerificationError as ex:
            raise VerificationError(f"item {i}: {ex}") from None
    return decoded


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: A source of scalars in [0, q); only the vector generators pass one, for reproducibility.
ScalarSource = Callable[[], int]


def fiat_shamir_challenge(tag: bytes, parts: Iterable[bytes]) -> int:
    """SHA-512 over length-prefixed (4-byte big-endian) `tag` and `parts`, reduced mod q."""
    h = hashlib.sha512()
    for part in (tag, *parts):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return int.from_bytes(h.digest(), "big") % ORDER


def _require_bytes(name: str, value: object, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise InvalidInput(f"{name} must be {size} bytes, got {got}")
    return value


def _require_scalar(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value < ORDER:
        raise InvalidInput(f"{name} is not a canonical scalar (it must lie in [0, q))")
    return value


def _draw(rng: ScalarSource) -> int:
    return rng() % ORDER


@dataclass(frozen=True)
class ReportStatement:
    """What a validity proof is about: one report's public fields and its commitment C."""

    genesis_hash: bytes
    report_id: bytes
    subject_tag: bytes
    category: str
    event_date: str
    commitment: bytes

    def __post_init__(self) -> None:
        _require_bytes("genesis hash", self.genesis_hash, 32)
        _require_bytes("report id", self.report_id, 16)
        _require_bytes("subject tag", self.subject_tag, 32)
        validate_category_code(self.category)
        if not isinstance(self.event_date, str) or not _ISO_DATE.fullmatch(self.event_date):
            raise InvalidInput(f"event date {self.event_date!r} is not an ISO date YYYY-MM-DD")
        try:
            datetime.date.fromisoformat(self.event_date)
        except ValueError:
            raise InvalidInput(f"event date {self.event_date!r} is not a calendar date") from None
        _require_bytes("commitment", self.commitment, POINT_BYTES)

    def transcript(self, a: Sequence[bytes]) -> tuple[bytes, ...]:
        """The Fiat–Shamir fields after the tag (see the module docstring)."""
        return (
            bytes([VERSION]),
            self.genesis_hash,
            self.report_id,
            self.subject_tag,
            self.category.encode("utf-8"),
            self.event_date.encode("ascii"),
            self.commitment,
            *a,
        )


@dataclass(frozen=True)
class ValidityProof:
    """A 1-of-4 CDS proof: commitments a_j (uncompressed points, x ‖ y), challenges e_j,
    responses z_j.

    Wire form (`to_bytes`, version 2): the byte `VERSION`, a_0..a_3 (96 bytes each),
    e_0..e_3, z_0..z_3 (32 bytes each, big-endian, each below q): 641 bytes in all. Nothing
    here says the a_j are on the curve: verification checks that.
    """

    a: tuple[bytes, ...]
    e: tuple[int, ...]
    z: tuple[int, ...]

    SIZE = 1 + TIERS * XY_BYTES + 2 * TIERS * SCALAR_BYTES

    def __post_init__(self) -> None:
        for field, what in (("a", "commitments a"), ("e", "challenges e"), ("z", "responses z")):
            value = getattr(self, field)
            if not isinstance(value, (tuple, list)):
                raise InvalidInput(f"proof {what} must be a sequence, got {type(value).__name__}")
            if len(value) != TIERS:
                raise InvalidInput(
                    f"proof has {len(value)} branches ({what}), expected {TIERS} (one per tier)"
                )
            object.__setattr__(self, field, tuple(value))
        for j, a_j in enumerate(self.a):
            _require_bytes(f"proof commitment a[{j}]", a_j, XY_BYTES)
        for j in range(TIERS):
            _require_scalar(f"proof challenge e[{j}]", self.e[j])
            _require_scalar(f"proof response z[{j}]", self.z[j])

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                bytes([VERSION]),
                *self.a,
                *(e.to_bytes(SCALAR_BYTES, "big") for e in self.e),
                *(z.to_bytes(SCALAR_BYTES, "big") for z in self.z),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ValidityProof:
        if not isinstance(data, bytes) or len(data) != cls.SIZE:
            got = len(data) if isinstance(data, bytes) else type(data).__name__
            raise InvalidInput(
                f"validity proof is {got} bytes, expected {cls.SIZE} (version byte {VERSION}, "
                f"{TIERS} uncompressed points of {XY_BYTES} bytes, then {2 * TIERS} scalars of "
                f"{SCALAR_BYTES} bytes); prove the report again with this version's SDK"
            )
        if data[0] != VERSION:
            raise InvalidInput(f"validity proof version {data[0]} is not supported; this ledger uses version "
                               f"{VERSION} (uncompressed a_j)")
        pts = 1 + TIERS * XY_BYTES
        a = tuple(data[i : i + XY_BYTES] for i in range(1, pts, XY_BYTES))
        scalars = [
            int.from_bytes(data[i : i + SCALAR_BYTES], "big")
            for i in range(pts, cls.SIZE, SCALAR_BYTES)
        ]
        return cls(a=a, e=tuple(scalars[:TIERS]), z=tuple(scalars[TIERS:]))


def _challenge(stmt: ReportStatement, a: Sequence[bytes]) -> int:
    return fiat_shamir_challenge(VALIDITY_TAG, stmt.transcript(a))


@dataclass(frozen=True)
class ValidityNonces:
    """Everything of one report's commitment and validity proof that depends on neither the
    report, its subject, its category nor its tier: drawn ahead of time
    (`validity_nonces`) and kept in a `core.pool.Pool` by the SDK, as the r^n of Paillier
    are, so that the online proof needs no scalar multiplication.

    - r, R = r·H: the commitment's blinding, so C = G_{c,t} + R is one addition.
    - k, K = k·H: the real branch's Schnorr nonce, so a_t = K and z_t = k + e_t·r.
    - For each tier j, a challenge e_j and a mask s_j with S_j = s_j·H, and for every
      category c and tier t ≠ j the point F_{c,t,j} = e_j·(G_{c,t} − G_{c,j}): where branch
      j is simulated (j ≠ t), z_j = s_j + e_j·r and a_j = S_j − F_{c,t,j}. Indeed
      z_j·H − e_j·(C − G_{c,j}) = s_j·H + e_j·r·H − e_j·(G_{c,t} + r·H − G_{c,j}) = a_j.

    Why the proof is the same. `_prove` draws e_j and z_j uniformly and solves for a_j; here
    e_j is uniform and z_j = s_j + e_j·r is uniform and independent of e_j (s_j is), so the
    transcript has exactly the same distribution, and CDS's witness indistinguishability and
    special soundness hold unchanged (the verifier sees the same equations and hash).

    Why a set serves ONE proof. Two proofs with the same k and different challenges give
    r = (z_t − z_t')/(e_t − e_t'), and the same (s_j, e_j) under two commitments link them;
    so a set is taken from the pool once and dropped (the pool hands each value out once).
    Nothing here depends on the report, which is why it can be computed before it exists.
    The values are secret: never log or serialise them.
    """

    r: int
    big_r: Point
    k: int
    big_k: Point
    e: tuple[int, ...]
    s: tuple[int, ...]
    big_s: tuple[Point, ...]
    f: dict[tuple[str, int, int], Point]

    def __repr__(self) -> str:
        return "ValidityNonces(<secret>)"

    def commitment(self, gens: Generators, category: str, tier: int) -> Point:
        """C = G_{c,t} + r·H, as `core.pedersen.commit` computes it, by one addition."""
        return gens.group.add(gens.g(category, tier), self.big_r)


def validity_nonces(gens: Generators) -> ValidityNonces:
    """A fresh `ValidityNonces` for the categories of `gens`: 4 + 2 + 12·(categories) scalar
    multiplications, ahead of the report."""
    group, h = gens.group, gens.h
    r, k = random_scalar(), _draw(random_scalar)
    e = tuple(_draw(random_scalar) for _ in range(TIERS))
    s = tuple(_draw(random_scalar) for _ in range(TIERS))
    f: dict[tuple[str, int, int], Point] = {}
    for category in gens.categories:
        points = [gens.g(category, t) for t in range(TIERS)]
        for t in range(TIERS):
            for j in range(TIERS):
                if j != t:
                    f[(category, t, j)] = group.mul(group.sub(points[t], points[j]), e[j])
    return ValidityNonces(r=r, big_r=group.mul(h, r), k=k, big_k=group.mul(h, k), e=e, s=s,
                          big_s=tuple(group.mul(h, s_j) for s_j in s), f=f)


def prove_validity(
    gens: Generators,
    stmt: ReportStatement,
    tier: int,
    r: int,
    rng: ScalarSource | None = None,
    *,
    commitment_point: Point | None = None,
    nonces: ValidityNonces | None = None,
) -> ValidityProof:
    """Prove that stmt.commitment = G_{c,t} + r·H for some tier, without saying which.

    Raises InvalidInput unless the commitment really opens to (stmt.category, tier, r): a
    proof of a false statement would be rejected anyway, so fail early and clearly. A
    caller that has just computed the commitment with `commit(gens, category, tier, r)`
    may pass that point as `commitment_point` to save recomputing it (one scalar
    multiplication of the online preparation); then only its encoding is compared. `rng`
    replaces the CSPRNG only in the vector generator (tests/vectors/make_validity_proof.py);
    never pass one in production, since a predictable nonce reveals r. `nonces`, drawn
    ahead by `validity_nonces` for this r (`nonces.r`), leave no scalar multiplication to
    do here; they are used up by this proof.
    """
    if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier < TIERS:
        raise InvalidInput(f"tier must be an integer 0..{TIERS - 1}, got {tier!r}")
    _require_scalar("blinding factor r", r)
    group = gens.group
    if nonces is not None:
        if nonces.r != r:
            raise InvalidInput("these validity nonces were drawn for another blinding factor: commit with nonces.r")
        if (stmt.category, tier, (tier + 1) % TIERS) not in nonces.f:
            raise InvalidInput(f"these validity nonces were drawn for other categories than {stmt.category!r}")
    if commitment_point is not None:
        c_point = commitment_point
    else:
        c_point = commit(gens, stmt.category, tier, r) if nonces is None else nonces.commitment(gens, stmt.category,
                                                                                               tier)
    if group.encode(c_point) != stmt.commitment:
        raise InvalidInput(
            "the statement's commitment does not open to this category, tier and r; "
            "prove the commitment you actually made"
        )
    if nonces is not None:
        return _prove_with(gens, stmt, tier, r, nonces)
    return _prove(gens, stmt, c_point, tier, r, rng or random_scalar)


def _prove_with(gens: Generators, stmt: ReportStatement, tier: int, r: int, nonces: ValidityNonces) -> ValidityProof:
    """`_prove` from precomputed nonces: additions only (see `ValidityNonces`)."""
    group = gens.group
    a_pts: list[Point] = [nonces.big_k] * TIERS
    e = list(nonces.e)
    z = [0] * TIERS
    for j in range(TIERS):
        if j != tier:
            z[j] = (nonces.s[j] + nonces.e[j] * r) % ORDER
            a_pts[j] = group.sub(nonces.big_s[j], nonces.f[(stmt.category, tier, j)])
    a = tuple(group.encode_xy(p) for p in a_pts)
    challenge = _challenge(stmt, a)
    e[tier] = (challenge - sum(e[j] for j in range(TIERS) if j != tier)) % ORDER
    z[tier] = (nonces.k + e[tier] * r) % ORDER
    return ValidityProof(a=a, e=tuple(e), z=tuple(z))


def _prove(
    gens: Generators,
    stmt: ReportStatement,
    c_point: Point,
    tier: int,
    r: int,
    rng: ScalarSource,
) -> ValidityProof:
    """The CDS prover without the opening check (tests use it to play a cheating prover)."""
    group = gens.group
    h = gens.h
    a_pts: list[Point] = [group.identity()] * TIERS
    e = [0] * TIERS
    z = [0] * TIERS
    for j in range(TIERS):
        if j == tier:
            continue
        # Simulated branch: choose the challenge and response, solve for a_j.
        e[j], z[j] = _draw(rng), _draw(rng)
        x_j = group.sub(c_point, gens.g(stmt.category, j))
        a_pts[j] = group.msm([h, x_j], [z[j], -e[j]])
    k = _draw(rng)
    a_pts[tier] = group.mul(h, k)
    a = tuple(group.encode_xy(p) for p in a_pts)
    challenge = _challenge(stmt, a)
    e[tier] = (challenge - sum(e[j] for j in range(TIERS) if j != tier)) % ORDER
    z[tier] = (k + e[tier] * r) % ORDER
    return ValidityProof(a=a, e=tuple(e), z=tuple(z))


@dataclass(frozen=True)
class _Decoded:
    """A statement and proof whose challenges match the hash and whose points decoded.

    `c_point` is in G1 (decoded with the subgroup check); the `a_pts` are only known to be
    on the curve (see `batch_verify_validity` for why that suffices).
    """

    category: str
    c_point: Point
    a_pts: tuple[Point, ...]
    proof: ValidityProof


def _decode(gens: Generators, stmt: ReportStatement, proof: ValidityProof) -> _Decoded:
    """Everything but the group equations; raises VerificationError."""
    group = gens.group
    try:
        gens.category_index(stmt.category)
    except InvalidInput as ex:
        raise VerificationError(str(ex)) from None
    if sum(proof.e) % ORDER != _challenge(stmt, proof.a):
        raise VerificationError(
            "validity proof challenges do not sum to the Fiat–Shamir hash of the statement: "
            "the proof was made for another report, subject, category, date, genesis or "
            "commitment, or it was altered"
        )
    try:
        # C is stored on the ledger and summed into aggregates: it must be in G1.
        c_point = group.decode(stmt.commitment)
    except InvalidInput as ex:
        raise VerificationError(f"commitment is not a valid G1 point: {ex}") from None
    a_pts = []
    for j, a_j in enumerate(proof.a):
        try:
            a_pts.append(group.decode_xy_unchecked(a_j))  # on the curve: enough (module docstring)
        except InvalidInput as ex:
            raise VerificationError(f"proof commitment a[{j}] is not a valid G1 point: {ex}") from None
    return _Decoded(stmt.category, c_point, tuple(a_pts), proof)


def _branch_holds(gens: Generators, item: _Decoded, j: int) -> bool:
    """Whether h·(a_j + e_j·C − e_j·G_{c,j} − z_j·H) is the identity (h the cofactor)."""
    group = gens.group
    e_j, z_j = item.proof.e[j], item.proof.z[j]
    residue = group.msm(
        [item.a_pts[j], item.c_point, gens.g(item.category, j), gens.h],
        [1, e_j, -e_j, -z_j],
    )
    return group.is_identity(group.mul_by_cofactor(residue))


def _explain_failure(gens: Generators, item: _Decoded) -> VerificationError:
    """Say why an item that failed its combined equation is invalid (slow path, bad input only).

    A failing branch whose a_j lies outside G1 is reported as such: that is why it fails
    (an a_j whose only fault is a component of order dividing h passes every branch
    equation, so it cannot be the only fault here).
    """
    group = gens.group
    failing = [j for j in range(TIERS) if not _branch_holds(gens, item, j)]
    for j in failing:
        try:
            group.decode_xy(item.proof.a[j])
        except InvalidInput as ex:
            return VerificationError(f"proof commitment a[{j}] is not a valid G1 point: {ex}")
    for j in failing:
        return VerificationError(
            f"validity proof branch {j} ({Tier(j).name.lower()}) fails "
            f"z·H == a + e·(C − G_{{c,{j}}}): the proof does not prove this commitment"
        )
    return VerificationError("validity proof fails its group equations")


def _equation_terms(gens: Generators, items: Sequence[_Decoded]) -> BatchTerms:
    """The terms of Σ_i Σ_j ρ_ij·(a_ij + e_ij·C_i − e_ij·G_{c_i,j} − z_ij·H), fresh ρ_ij."""
    points: list[Point] = []
    scalars: list[int] = []
    h_coef = 0
    g_coef: dict[tuple[str, int], int] = {}
    draws = iter(batch_coefficients(TIERS * len(items)))
    for item in items:
        c_coef = 0
        for j in range(TIERS):
            # ρ multiplies a_ij as it is: 128 bits. (Negated, it would be q − ρ, a full
            # 255-bit scalar, and the MSM over the a_ij, most of its points, gets slower.)
            rho = next(draws)
            e_j = item.proof.e[j]
            h_coef -= rho * item.proof.z[j]
            c_coef += rho * e_j
            key = (item.category, j)
            g_coef[key] = g_coef.get(key, 0) - rho * e_j
            points.append(item.a_pts[j])
            scalars.append(rho)
        points.append(item.c_point)
        scalars.append(c_coef)
    points.append(gens.h)
    scalars.append(h_coef)
    for (category, j), coef in g_coef.items():
        points.append(gens.g(category, j))
        scalars.append(coef)
    return points, scalars


def _combined_equation(gens: Generators, items: Sequence[_Decoded]) -> bool:
    """Whether h·Σ_i Σ_j ρ_ij·(a_ij + e_ij·C_i − e_ij·G_{c_i,j} − z_ij·H) is the identity."""
    return batch_equation_holds(gens.group, _equation_terms(gens, items))


def verify_validity(gens: Generators, stmt: ReportStatement, proof: ValidityProof) -> None:
    """Raise VerificationError unless `proof` proves that stmt.commitment commits to some tier.

    Returns None on success. Checks, in order: the category is registered, Σ e_j equals the
    transcript hash, C decodes as a G1 point (subgroup-checked) and every a_j as a point on
    the curve, and the four branch equations multiplied by the cofactor, combined in one
    MSM with random coefficients. This is exactly the rule of `batch_verify_validity` (read
    its docstring for why it is sound), so that a proof accepted at intake in a batch is
    accepted when the ledger is replayed one proof at a time, and vice versa. A failure is
    re-checked branch by branch for the message.
    """
    item = _decode(gens, stmt, proof)
    if not _combined_equation(gens, [item]):
        raise _explain_failure(gens, item)


def validity_batch_terms(gens: Generators, items: Sequence[tuple[ReportStatement, ValidityProof]]) -> BatchTerms:
    """The terms of `batch_verify_validity`'s batch equation over `items`, with fresh
    coefficients, to be added to another batch equation (`batch_equation_holds`); raises
    VerificationError "item i: ..." for an item whose challenges or points are bad, as
    `batch_verify_validity` does."""
    return _equation_terms(gens, decode_items(functools.partial(_decode, gens), items))


def batch_verify_validity(
    gens: Generators, items: Sequence[tuple[ReportStatement, ValidityProof]]
) -> None:
    """Verify many validity proofs at once; raise VerificationError naming the first bad item.

    First each item's challenge sum is checked against its transcript hash and its points
    are decoded (cheap, and it names the item at once). Then all 4n equations
    D_ij = a_ij + e_ij·(C_i − G_{c_i,j}) − z_ij·H = 0 are checked together as
    h·Σ ρ_ij·D_ij = 0, h the cofactor (`core.group.COFACTOR`), with independent uniform
    128-bit ρ_ij from `secrets`, in one multi-scalar multiplication (about 5n + 5 points:
    every a_ij and C_i, plus H and the G_{c,j} of the categories present, whose
    coefficients are summed) and one multiplication by h.

    Which points are subgroup-checked. C_i is decoded with the subgroup check: it is
    persistent (stored on the ledger, summed into aggregates, compared with decrypted
    totals), so it must be exactly the point the statement is about; H and the G_{c,j} are
    hashed to G1. The a_ij are transient (they exist only to be hashed and checked here),
    are sent uncompressed and are decoded without the subgroup check, only as points of
    E(F_p) (96 bytes, x < p and y < p, y² = x³ + 4): about 2 µs, against 81 µs for a
    compressed point with the subgroup check and 26 µs without it.

    Soundness. E(F_p) has order h·q with gcd(h, q) = 1, so every point P of it is
    uniquely P_q + P_h with P_q in G1 (order q) and h·P_h = 0. Multiplication by h kills
    P_h and is a bijection on G1, so h·P = 0 iff P_q = 0. The projection P -> P_q is a
    homomorphism, so the G1 part of any sum of multiples is computed from the G1 parts
    alone; how the MSM reduces scalars mod q, or uses endomorphisms correct on G1, changes
    only the h-part of its output, which the final multiplication by h discards.
    (1) One branch: h·D_ij = 0 iff (D_ij)_q = 0 iff z_ij·H = (a_ij)_q + e_ij·X_ij,
    X_ij = C_i − G_{c_i,j} in G1: the exact CDS equation for the G1 part of a_ij. The
    challenges are the hash of the bytes of a_ij (h-part included), fixed before the
    challenge is known, so CDS special soundness is unchanged: two accepting proofs with
    the same a_ij and different hashes give e ≠ e' on some branch j with
    (z − z')·H = (e − e')·X_ij, i.e. the opening r of X_ij; the statement about C_i holds.
    (2) The batch: if some (D_kl)_q ≠ 0, fix every ρ except ρ_kl; the G1 part of the sum is
    S + ρ_kl·(D_kl)_q, the identity for exactly one residue of ρ_kl mod q, and ρ_kl is
    uniform on [0, 2^128), 2^128 < q, drawn after the proofs are fixed: the batch accepts
    with probability at most 2^-128. (Without the multiplication by h the G1 argument
    would be the same, but the h-parts would have to cancel too, and whether they do
    depends on the ρ: an a_ij with a component of order 3 would pass when ρ_ij ≡ 0 mod 3,
    one time in three. The same proof could pass at intake and fail when the ledger is
    replayed. With h, the verdict is a function of the proofs alone, up to 2^-128.)

    What this accepts that a fully checked verifier would not: a proof whose a_ij carry a
    component of order dividing h, i.e. (a_ij)_q + T with T in the h-torsion. Only the
    prover can make one (the hash binds the bytes of every a_ij, so nobody can add T to
    another's proof without re-proving), it proves the same true statement about C_i, and
    C_i itself is checked. So it is harmless, and `verify_validity` applies the same rule so
    that the two verifiers always agree.

    If the batch equation fails, items are re-verified one at a time to find which one.
    """
    decoded = decode_items(functools.partial(_decode, gens), items)
    if not decoded or _combined_equation(gens, decoded):
        return
    for i, item in enumerate(decoded):
        if not _combined_equation(gens, [item]):
            raise VerificationError(f"item {i}: {_explain_failure(gens, item)}")
    raise VerificationError(
        "the batch equation failed but every item verified on its own; retry the batch"
    )
