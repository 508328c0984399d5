"""Issue 2 benchmark: every core operation of a report's life, next to its floor.

Run `python -m bench.core` (add `--json` for machine-readable output, `--quick` for a
seconds-long smoke run). For 2048- and 3072-bit threshold Paillier keys it measures

- report preparation on the client (docs/reports.md): Paillier encryption without and with a
  warm r^n pool, the Pedersen commitment, the 1-of-4 validity proof, the Ed25519 signature,
  the HPKE escrow, the linkable ring signature for rings of 5, 20 and 100 members (its
  offline coupon and its online half apart), the validity proof's offline nonces, and the
  whole online preparation of one report with warm r^n, validity-nonce and coupon pools, as
  a long-lived SDK has them;
- intake verification on the operator (docs/reports.md; proofs and signatures batch): validity
  proofs one at a time and in batches of 100 and 1000 (per report), ring signatures one at
  a time and in batches of 100 at each ring size, so that their cost per member shows
  (with the subjects' link bases cached, as for recurring subjects, and at a ring of 20
  hashed afresh too);
- threshold decryption on the trustees (docs/ratings.md): a decryption share, its verification,
  and combining t = 2 shares.

Every row is timed next to its *floor*, the one primitive that bounds it from below (a
gmpy2 powmod of the same size, one arkworks G1 scalar multiplication, a raw library call),
measured in the same run and interleaved with the operation itself (op, floor, op, floor,
...) so that both see the same load on a shared machine (except the warm-pool encryption,
whose microseconds a preceding powmod would distort; see `_measure`). The ratio median/floor says how
far the implementation is from what the hardware and libraries allow. The threshold rows
also carry the *needed* cost, all the powmods the operation cannot avoid (for a share:
the share itself and its proof's two commitments), interleaved the same way; the issue's
target is that sharing and combining stay within 1.3x of it. Timings use
`time.perf_counter`; inputs are prepared outside the timed region; a few warm-up runs are
discarded and the number of repetitions adapts to a per-row time budget (`bench.timing`).

Keys are the test-only files under tests/keys/ when present; otherwise they are dealt on
the spot with `core.threshold.deal`, and the output says so.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gmpy2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from py_arkworks_bls12381 import G1Point, Scalar
from rich.console import Console

from api.identity import load_key_file
from bench import timing
from bench.timing import Setup, Target, Thunk, format_ratio, format_time
from bench.timing import const as _const
from core import escrow
from core.coupons import CouponPool
from core.group import ORDER, Group, default_group
from core.paillier import RnPool, encrypt, pack
from core.pedersen import Generators, commit, random_scalar, slot
from core.pool import Pool
from core.proofs import (
    ReportStatement,
    ValidityProof,
    batch_verify_validity,
    prove_validity,
    validity_nonces,
    verify_validity,
)
from core.ring import (
    RingContext,
    RingItem,
    batch_ring_verify,
    link_base,
    make_coupon,
    reporting_keypair,
    ring_sign,
    ring_verify,
)
from core.rules import DEFAULT_CATEGORIES
from core.signing import SigningKey
from core.threshold import (
    CHALLENGE_BITS,
    HIDING_BITS,
    DecryptionShare,
    KeyShare,
    ThresholdPublicKey,
    combine,
    deal,
    decryption_share,
    verify_share,
)

__all__ = [
    "DECRYPT",
    "INTAKE",
    "PREP",
    "BenchReport",
    "Row",
    "Settings",
    "Target",
    "main",
    "render",
    "run",
    "to_json",
]

KEY_DIR = Path(__file__).resolve().parent.parent / "tests" / "keys"
THRESHOLD = 2
PARTIES = 3
CATEGORIES = ("contract_default", "fake_traffic", "false_advertising")
ESCROW_INFO = b"candor/v1/escrow"

PREP = "report preparation (client)"
INTAKE = "intake verification (operator)"
DECRYPT = "threshold decryption (trustees)"

FLOOR_G1 = "one arkworks G1 scalar mul"
FLOOR_ENC = "powmod r^n mod n^2 (|n|-bit exponent)"
FLOOR_SHARE = "powmod c^(2*Delta*s_i) mod n^2"
FLOOR_ED = "raw cryptography Ed25519 sign"
FLOOR_X25519 = "raw X25519 key exchange"
FLOOR_COMBINE = "t powmods c_i^(2*lambda_i) + inverse mod n"
FLOOR_COMBINE_VERIFY = "verification powmods + combine powmods"
NEEDED_SHARE = "3 powmods: c^(2*Delta*s_i), (c^4)^r, v^r"
NEEDED_VERIFY = "4 powmods: (c^4)^z, (c_i^2)^-e, v^z, v_i^-e"

TOTAL_NO_RING = "online preparation total, warm pool, no ring sig"


def total_label(ring_size: int) -> str:
    return f"online preparation total, warm pool, ring n={ring_size}"


def batch_label(batch: int) -> str:
    return f"validity verification, batch of {batch}, per report"


def _target_ring(settings: Settings) -> int:
    """The ring size the batched ring verification target is judged at."""
    n = settings.ring_batch[0]
    return n if n in settings.ring_sizes else min(settings.ring_sizes)


def ring_batch_label(n: int, batch: int, fresh: bool = False) -> str:
    return f"ring verification, n={n}, batch of {batch}, per report" + (", new subjects" if fresh else "")


PREP_TARGET_S = 3e-3
"""Total online preparation of one report with a warm pool, at 3072 bits."""
BATCH_TARGET_S = 0.5e-3
"""Batched validity-proof verification, per report."""
RING_BATCH_TARGET_S = 0.6e-3
"""Batched ring-signature verification (ring of 20 in the full run), per report."""
NEEDED_RATIO_TARGET = 1.3
"""Threshold sharing and combining, at most this many times the powmods they need."""

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Settings:
    """What to measure and how long to spend on each row."""

    quick: bool
    key_bits: tuple[int, ...]
    ring_sizes: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    ring_batch: tuple[int, int]
    """(ring size of the target, batch size) of the batched ring-signature verification rows,
    measured at every ring size."""
    row_budget_s: float
    min_reps: int
    max_reps: int
    pool_max_reps: int
    """Cap for rows that consume a precomputed r^n per repetition (each costs a powmod)."""
    warmup: int

    def __post_init__(self) -> None:
        if not self.key_bits or any(b < 1024 or b % 2 for b in self.key_bits):
            raise ValueError("key_bits must list even sizes of at least 1024 bits")
        if not self.ring_sizes or min(self.ring_sizes) < 1:
            raise ValueError("ring sizes must be at least 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes must be at least 1")
        if min(self.ring_batch) < 1:
            raise ValueError("ring batch sizes must be at least 1")
        if not 1 <= self.min_reps <= self.max_reps or self.pool_max_reps < 1:
            raise ValueError("need 1 <= min_reps <= max_reps and pool_max_reps >= 1")
        if self.row_budget_s <= 0 or self.warmup < 0:
            raise ValueError("row budget must be positive and warm-up non-negative")

    @classmethod
    def full(cls) -> Settings:
        """The default run: both key sizes, every ring and batch size (about 1.5-2 minutes)."""
        return cls(
            quick=False,
            key_bits=(2048, 3072),
            ring_sizes=(5, 20, 100),
            batch_sizes=(100, 1000),
            ring_batch=(20, 100),
            row_budget_s=1.2,
            min_reps=7,
            max_reps=300,
            pool_max_reps=60,
            warmup=3,
        )

    @classmethod
    def quick_run(cls) -> Settings:
        """A smoke run of a few seconds: 2048 bits only, no ring of 100, tiny repetitions."""
        return cls(
            quick=True,
            key_bits=(2048,),
            ring_sizes=(5, 20),
            batch_sizes=(100,),
            ring_batch=(5, 10),
            row_budget_s=0.02,
            min_reps=2,
            max_reps=10,
            pool_max_reps=3,
            warmup=1,
        )


@dataclass(frozen=True)
class Row:
    """One measured operation and its floor, both medians in seconds (per report if batched)."""

    section: str
    operation: str
    key_bits: int | None
    median_s: float
    reps: int
    floor: str
    floor_median_s: float
    batch: int = 1
    needed: str | None = None
    """What the operation cannot avoid computing (threshold rows only), and its median."""
    needed_median_s: float | None = None

    def __post_init__(self) -> None:
        if self.median_s <= 0 or self.floor_median_s <= 0:
            raise ValueError(f"{self.operation}: timings must be positive")
        if self.reps < 1 or self.batch < 1:
            raise ValueError(f"{self.operation}: reps and batch must be at least 1")
        if (self.needed is None) != (self.needed_median_s is None):
            raise ValueError(f"{self.operation}: give both the needed work and its median, or neither")
        if self.needed_median_s is not None and self.needed_median_s <= 0:
            raise ValueError(f"{self.operation}: timings must be positive")

    @property
    def ratio(self) -> float:
        return self.median_s / self.floor_median_s

    @property
    def needed_ratio(self) -> float | None:
        """median / needed median, or None for rows without a needed cost."""
        return None if self.needed_median_s is None else self.median_s / self.needed_median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "operation": self.operation,
            "key_bits": self.key_bits,
            "median_ms": self.median_s * 1e3,
            "floor": self.floor,
            "floor_median_ms": self.floor_median_s * 1e3,
            "ratio": self.ratio,
            "reps": self.reps,
            "batch": self.batch,
            "needed": self.needed,
            "needed_median_ms": None if self.needed_median_s is None else self.needed_median_s * 1e3,
            "needed_ratio": self.needed_ratio,
        }


@dataclass(frozen=True)
class BenchReport:
    settings: Settings
    rows: tuple[Row, ...]
    targets: tuple[Target, ...]
    key_sources: dict[int, str]
    environment: dict[str, str]
    elapsed_s: float

    def row(self, operation: str, key_bits: int | None = None) -> Row:
        for r in self.rows:
            if r.operation == operation and r.key_bits == key_bits:
                return r
        raise KeyError(f"no row {operation!r} for key {key_bits}")


# --------------------------------------------------------------------------- timing


def _measure(
    settings: Settings,
    op: Setup,
    floor: Setup,
    max_reps: int | None = None,
    *,
    interleave: bool = True,
    needed: Setup | None = None,
) -> tuple[float, float, float | None, int]:
    """Medians of op, floor and needed (None if not given); returns them and the repetitions.

    Interleaved (op, floor[, needed], op, ...) by default, so that a change of load on the
    shared machine hits both alike. Not interleaved for microsecond operations measured
    against a large powmod floor: right after a multi-millisecond gmpy2 powmod, a 10 µs
    operation was measured at 50 µs (caches and allocator state), which says nothing
    about the operation.
    """
    setups = [op, floor] if needed is None else [op, floor, needed]
    medians, reps = timing.measure(settings, setups, max_reps=max_reps, interleave=interleave)
    return medians[0], medians[1], (medians[2] if needed is not None else None), reps


# --------------------------------------------------------------------------- floors


def _g1_floor() -> Setup:
    point = G1Point.hash_to_curve(b"blinding", b"CANDOR-V1-PEDERSEN")

    def setup() -> Thunk:
        k = Scalar(secrets.randbelow(ORDER))
        return lambda: point * k

    return setup


def _enc_floor(n: int) -> Setup:
    mn = gmpy2.mpz(n)
    nsquare = mn * mn

    def setup() -> Thunk:
        r = gmpy2.mpz(secrets.randbelow(n - 1) + 1)
        return lambda: gmpy2.powmod(r, mn, nsquare)

    return setup


def _share_floor(pk: ThresholdPublicKey, share: KeyShare, c: int) -> Setup:
    base = gmpy2.mpz(c)
    exponent = gmpy2.mpz(2 * pk.delta * share.s_i)
    nsquare = gmpy2.mpz(pk.nsquare)
    return _const(lambda: gmpy2.powmod(base, exponent, nsquare))


def _share_powmods(pk: ThresholdPublicKey, share: KeyShare, c: int) -> Setup:
    """The three exponentiations a decryption share with its proof cannot avoid.

    c^(2*Delta*s_i), then (c^4)^r and v^r with r of the size `core.threshold` draws
    (|Delta*n^2| + challenge + hiding bits), fresh for every repetition.
    """
    nsquare = gmpy2.mpz(pk.nsquare)
    base = gmpy2.mpz(c)
    c4 = gmpy2.powmod(base, 4, nsquare)
    v = gmpy2.mpz(pk.v)
    exponent = gmpy2.mpz(2 * pk.delta * share.s_i)
    r_bits = (pk.delta * pk.nsquare).bit_length() + CHALLENGE_BITS + HIDING_BITS

    def setup() -> Thunk:
        r = gmpy2.mpz(secrets.randbits(r_bits))
        return lambda: (
            gmpy2.powmod(base, exponent, nsquare),
            gmpy2.powmod(c4, r, nsquare),
            gmpy2.powmod(v, r, nsquare),
        )

    return setup


def _combine_powmods(pk: ThresholdPublicKey, shares: Sequence[DecryptionShare]) -> Thunk:
    n = gmpy2.mpz(pk.n)
    nsquare = n * n
    delta = pk.delta
    indices = [s.index for s in shares]
    terms = [
        (gmpy2.mpz(s.c_i), 2 * timing.lagrange(delta, s.index, indices)) for s in shares
    ]
    four_delta_sq = gmpy2.mpz(4 * delta * delta)

    def thunk() -> object:
        acc = gmpy2.mpz(1)
        for base, exponent in terms:
            acc = acc * gmpy2.powmod(base, exponent, nsquare) % nsquare
        return (acc - 1) // n * gmpy2.invert(four_delta_sq, n) % n

    return thunk


def _verify_powmods(pk: ThresholdPublicKey, c: int, shares: Sequence[DecryptionShare]) -> Thunk:
    nsquare = gmpy2.mpz(pk.nsquare)
    v = gmpy2.mpz(pk.v)
    mc = gmpy2.mpz(c)
    inputs = [
        (gmpy2.mpz(s.c_i), gmpy2.mpz(pk.verification_keys[s.index - 1]), s.response, s.challenge)
        for s in shares
    ]

    def thunk() -> object:
        out = []
        for c_i, v_i, z, e in inputs:
            c4 = gmpy2.powmod(mc, 4, nsquare)
            ci2 = gmpy2.powmod(c_i, 2, nsquare)
            a = gmpy2.powmod(c4, z, nsquare) * gmpy2.powmod(ci2, -e, nsquare) % nsquare
            b = gmpy2.powmod(v, z, nsquare) * gmpy2.powmod(v_i, -e, nsquare) % nsquare
            out.append((a, b))
        return out

    return thunk


# --------------------------------------------------------------------------- fixtures


def _load_keys(bits: int, log: Callable[[str], None]) -> tuple[ThresholdPublicKey, list[KeyShare], str]:
    path = KEY_DIR / f"test_only_threshold_{bits}_t{THRESHOLD}_n{PARTIES}.json"
    if path.exists():
        pk, shares = load_key_file(path, check_shares=False)
        return pk, shares, f"test-only key file {path.name}"
    log(f"{path.name} not found: dealing a fresh {bits}-bit key with core.threshold.deal")
    pk, shares = deal(bits, THRESHOLD, PARTIES)
    return pk, shares, "generated in this run with core.threshold.deal (no key file found)"


@dataclass
class _Alliance:
    """Everything key-independent a report needs: generators, a member's keys, rings."""

    group: Group
    gens: Generators
    genesis: bytes
    signing_key: SigningKey
    escrow_public: bytes
    member_x: int
    rings: dict[int, list[bytes]] = field(default_factory=dict)
    contexts: dict[int, RingContext] = field(default_factory=dict)
    coupons: dict[int, CouponPool] = field(default_factory=dict)

    @classmethod
    def make(cls, ring_sizes: Sequence[int]) -> _Alliance:
        group = default_group()
        gens = Generators(group, CATEGORIES)
        for code in CATEGORIES:  # hash the generators once, as a long-lived client would
            for tier in range(4):
                gens.g(code, tier)
        x, own = reporting_keypair(group)
        rings: dict[int, list[bytes]] = {}
        others = [reporting_keypair(group)[1] for _ in range(max(ring_sizes) - 1)]
        for size in ring_sizes:
            # Canonical order is the ledger's; here, sorted bytes. The signer sits at a
            # random position, which is what anonymity needs and costs the same anywhere.
            rings[size] = sorted([own, *others[: size - 1]])
        genesis = secrets.token_bytes(32)
        return cls(
            group=group,
            gens=gens,
            genesis=genesis,
            signing_key=SigningKey.generate(),
            escrow_public=escrow.escrow_keypair()[1],
            member_x=x,
            rings=rings,
            contexts={size: RingContext(genesis, 1, tuple(ring)) for size, ring in rings.items()},
            coupons={size: CouponPool(group, x) for size in rings},
        )

    def coupon_pool(self, n: int) -> tuple[RingContext, CouponPool]:
        """The context and a coupon pool with at least one coupon ready (filled outside
        the timed region: the pool is meant to be warm, as a running SDK keeps it)."""
        context, pool = self.contexts[n], self.coupons[n]
        if len(pool) == 0:
            pool.refill(context, 1)
        return context, pool

    def statement(self, r: int, category: str, tier: int) -> ReportStatement:
        c = self.group.encode(commit(self.gens, category, tier, r))
        return ReportStatement(
            genesis_hash=self.genesis,
            report_id=secrets.token_bytes(16),
            subject_tag=secrets.token_bytes(32),
            category=category,
            event_date="2026-11-02",
            commitment=c,
        )

    def proved_report(self) -> tuple[ReportStatement, ValidityProof]:
        r = random_scalar()
        category = CATEGORIES[secrets.randbelow(len(CATEGORIES))]
        tier = secrets.randbelow(4)
        stmt = self.statement(r, category, tier)
        return stmt, prove_validity(self.gens, stmt, tier, r)


def _prepare_report(
    alliance: _Alliance, pk: ThresholdPublicKey, pool: RnPool, ring_size: int | None
) -> Setup:
    """The whole online preparation of one report, as a client SDK would run it: warm r^n,
    validity-nonce and coupon pools, so the validity proof is additions only and the ring
    signature its online half (take a coupon, sign)."""
    phe_key = pk.phe()
    width = (pk.nsquare.bit_length() + 7) // 8
    group, gens = alliance.group, alliance.gens
    nonce_pool = Pool(functools.partial(validity_nonces, gens), "bench-validity-nonces")

    def setup() -> Thunk:
        if len(pool) == 0:
            pool.refill(1)  # outside the timed region: the pools are meant to be warm
        if len(nonce_pool) == 0:
            nonce_pool.refill(1)
        coupons = None if ring_size is None else alliance.coupon_pool(ring_size)
        category = CATEGORIES[secrets.randbelow(len(CATEGORIES))]
        tier = secrets.randbelow(4)
        report_id = secrets.token_bytes(16)
        subject_tag = secrets.token_bytes(32)
        evidence = secrets.token_bytes(32)

        def thunk() -> object:
            nonces = nonce_pool.take()
            r, c_point = nonces.r, nonces.commitment(gens, category, tier)
            c_bytes = group.encode(c_point)
            m = pack(r, slot(gens.category_index(category), tier))
            ciphertext = encrypt(phe_key, m, pool)
            stmt = ReportStatement(
                alliance.genesis, report_id, subject_tag, category, "2026-11-02", c_bytes
            )
            proof = prove_validity(gens, stmt, tier, r, commitment_point=c_point, nonces=nonces)
            entry = b"".join(
                (
                    report_id,
                    subject_tag,
                    category.encode(),
                    b"2026-11-02",
                    evidence,
                    c_bytes,
                    proof.to_bytes(),
                    ciphertext.to_bytes(width, "big"),
                )
            )
            sig = None
            if coupons is not None:
                context, coupon_pool = coupons
                sig = ring_sign(group, coupon_pool.take(context), subject_tag, entry)
            # The member's escrow signature, sent beside the entry; the operator seals it to
            # the regulator (server/intake.py), so no HPKE runs on the member's side.
            return sig, alliance.signing_key.sign(escrow.escrow_message(alliance.genesis, entry))

        return thunk

    return setup


# --------------------------------------------------------------------------- sections


class _Runner:
    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.rows: list[Row] = []

    def add(
        self,
        section: str,
        operation: str,
        key_bits: int | None,
        op: Setup,
        floor_name: str,
        floor: Setup,
        *,
        batch: int = 1,
        max_reps: int | None = None,
        interleave: bool = True,
        pool: RnPool | None = None,
        needed: tuple[str, Setup] | None = None,
        floor_is_needed: bool = False,
    ) -> Row:
        """Measure one row; `needed` (name, setup) adds the needed-work column, and
        `floor_is_needed` says the floor already is exactly that work."""
        label = f"{operation}" + (f" [{key_bits}]" if key_bits else "")
        self.log(f"measuring {label}")
        if pool is not None:
            # Warm the pool before the row, so no refill runs between timed calls.
            wanted = max(self.settings.warmup, 1) + min(
                self.settings.pool_max_reps, max_reps or self.settings.pool_max_reps
            )
            pool.refill(max(0, wanted - len(pool)))
        median, floor_median, needed_median, reps = _measure(
            self.settings, op, floor, max_reps, interleave=interleave,
            needed=None if needed is None else needed[1],
        )
        needed_name = None if needed is None else needed[0]
        if floor_is_needed:
            needed_name, needed_median = floor_name, floor_median
        row = Row(
            section, operation, key_bits, median / batch, reps, floor_name, floor_median, batch,
            needed_name, needed_median,
        )
        self.rows.append(row)
        return row


def _ec_preparation(run: _Runner, alliance: _Alliance) -> None:
    s = run.settings
    group, gens = alliance.group, alliance.gens
    g1 = _g1_floor()

    def commit_setup() -> Thunk:
        r = random_scalar()
        return lambda: commit(gens, "fake_traffic", 2, r)

    run.add(PREP, "Pedersen commit", None, commit_setup, FLOOR_G1, g1)

    def prove_setup() -> Thunk:
        r = random_scalar()
        tier = secrets.randbelow(4)
        stmt = alliance.statement(r, "fake_traffic", tier)
        return lambda: prove_validity(gens, stmt, tier, r)

    run.add(PREP, "validity proof generation", None, prove_setup, FLOOR_G1, g1)
    registry = Generators(group, DEFAULT_CATEGORIES)  # offline cost grows with the registry: the default one
    run.add(PREP, f"validity nonces (offline), {len(DEFAULT_CATEGORIES)} categories", None,
            _const(functools.partial(validity_nonces, registry)), FLOOR_G1, g1)

    def prove_from_nonces_setup() -> Thunk:
        nonces = validity_nonces(gens)  # outside the timed region: drawn offline
        tier = secrets.randbelow(4)
        stmt = alliance.statement(nonces.r, "fake_traffic", tier)
        return lambda: prove_validity(gens, stmt, tier, nonces.r, nonces=nonces)

    run.add(PREP, "validity proof generation from precomputed nonces", None, prove_from_nonces_setup, FLOOR_G1, g1)

    raw_ed = Ed25519PrivateKey.generate()
    entry = secrets.token_bytes(1024)
    run.add(
        PREP,
        "Ed25519 sign (1 KB entry)",
        None,
        _const(lambda: alliance.signing_key.sign(entry)),
        FLOOR_ED,
        _const(lambda: raw_ed.sign(entry)),
    )

    peer = X25519PublicKey.from_public_bytes(alliance.escrow_public)

    def x25519_setup() -> Thunk:
        eph = X25519PrivateKey.generate()
        return lambda: eph.exchange(peer)

    run.add(
        PREP,
        "escrow seal by the operator (HPKE X25519, 128 B)",
        None,
        _const(lambda: escrow.seal(alliance.escrow_public, ESCROW_INFO, entry, entry[:128])),
        FLOOR_X25519,
        x25519_setup,
    )

    for n in s.ring_sizes:
        context = alliance.contexts[n]
        run.add(
            PREP,
            f"ring coupon (offline), n={n}",
            None,
            _const(functools.partial(make_coupon, group, context, alliance.member_x)),
            FLOOR_G1,
            g1,
        )

        def ring_setup(n: int = n) -> Thunk:
            subject = secrets.token_bytes(32)  # a fresh subject: its link base is hashed too
            context, pool = alliance.coupon_pool(n)
            return lambda: ring_sign(group, pool.take(context), subject, entry)

        run.add(PREP, f"ring signature online (coupon ready), n={n}", None, ring_setup, FLOOR_G1, g1)


def _paillier_preparation(
    run: _Runner, alliance: _Alliance, bits: int, pk: ThresholdPublicKey
) -> None:
    s = run.settings
    phe_key = pk.phe()
    floor = _enc_floor(pk.n)

    def plaintext() -> int:
        return pack(random_scalar(), slot(secrets.randbelow(len(CATEGORIES)), secrets.randbelow(4)))

    def enc_setup() -> Thunk:
        m = plaintext()
        return lambda: encrypt(phe_key, m)

    run.add(PREP, "Paillier encrypt, no pool", bits, enc_setup, FLOOR_ENC, floor)

    with RnPool(phe_key) as pool:

        def pooled_setup() -> Thunk:
            if len(pool) == 0:
                pool.refill(1)
            m = plaintext()
            return lambda: encrypt(phe_key, m, pool)

        run.add(
            PREP,
            "Paillier encrypt, warm r^n pool",
            bits,
            pooled_setup,
            FLOOR_ENC,
            floor,
            max_reps=s.pool_max_reps,
            interleave=False,
            pool=pool,
        )
        g1 = _g1_floor()
        run.add(
            PREP,
            TOTAL_NO_RING,
            bits,
            _prepare_report(alliance, pk, pool, None),
            FLOOR_G1,
            g1,
            max_reps=s.pool_max_reps,
            pool=pool,
        )
        for n in s.ring_sizes:
            run.add(
                PREP,
                total_label(n),
                bits,
                _prepare_report(alliance, pk, pool, n),
                FLOOR_G1,
                g1,
                max_reps=s.pool_max_reps,
                pool=pool,
            )


def _intake(run: _Runner, alliance: _Alliance) -> None:
    s = run.settings
    group, gens = alliance.group, alliance.gens
    g1 = _g1_floor()
    biggest = max(s.batch_sizes)
    run.log(f"preparing {biggest} validity proofs for the batch rows")
    reports = [alliance.proved_report() for _ in range(biggest)]
    verify_validity(gens, *reports[0])  # a benchmark of a failing check would be meaningless
    cursor = itertools.count()

    def single_setup() -> Thunk:
        stmt, proof = reports[next(cursor) % len(reports)]
        return lambda: verify_validity(gens, stmt, proof)

    run.add(INTAKE, "validity verification, single", None, single_setup, FLOOR_G1, g1)
    for b in s.batch_sizes:
        batch = reports[:b]
        run.add(
            INTAKE,
            batch_label(b),
            None,
            _const(functools.partial(batch_verify_validity, gens, batch)),
            FLOOR_G1,
            g1,
            batch=b,
        )

    entry = secrets.token_bytes(1024)
    for n in s.ring_sizes:
        context = alliance.contexts[n]
        subject = secrets.token_bytes(32)
        sig = ring_sign(group, make_coupon(group, context, alliance.member_x), subject, entry)
        ring_verify(group, context, subject, entry, sig)
        run.add(
            INTAKE,
            f"ring verification, n={n}, single",
            None,
            _const(functools.partial(ring_verify, group, context, subject, entry, sig)),
            FLOOR_G1,
            g1,
        )

    b = s.ring_batch[1]
    batches: dict[int, list[RingItem]] = {}
    for n in s.ring_sizes:  # every ring size: what the ring costs per member (docs/scale.md)
        context = alliance.contexts[n]
        run.log(f"preparing {b} ring signatures (n={n}) for the batch rows")
        items = batches[n] = []
        for _ in range(b):
            subject = secrets.token_bytes(32)
            msg = secrets.token_bytes(1024)
            coupon = make_coupon(group, context, alliance.member_x)
            items.append((context, subject, msg, ring_sign(group, coupon, subject, msg)))
        run.add(
            INTAKE,
            ring_batch_label(n, b),
            None,
            _const(functools.partial(batch_ring_verify, group, items)),
            FLOOR_G1,
            g1,
            batch=b,
        )

    def fresh_subjects() -> Thunk:
        link_base.cache_clear()  # outside the timed region: every B_S is hashed again
        return functools.partial(batch_ring_verify, group, batches[_target_ring(s)])

    run.add(INTAKE, ring_batch_label(_target_ring(s), b, fresh=True), None, fresh_subjects, FLOOR_G1, g1, batch=b)


def _decryption(run: _Runner, bits: int, pk: ThresholdPublicKey, shares: Sequence[KeyShare]) -> None:
    m = pack(random_scalar(), slot(1, 3))
    c = encrypt(pk.phe(), m)
    trustees = list(shares[:THRESHOLD])
    dshares = [decryption_share(pk, k, c) for k in trustees]
    if combine(pk, c, dshares) != m:
        raise RuntimeError(f"{bits}-bit key does not decrypt correctly: refusing to benchmark it")
    floor = _share_floor(pk, trustees[0], c)
    run.add(
        DECRYPT,
        "decryption share (with proof)",
        bits,
        _const(lambda: decryption_share(pk, trustees[0], c)),
        FLOOR_SHARE,
        floor,
        needed=(NEEDED_SHARE, _share_powmods(pk, trustees[0], c)),
    )
    run.add(
        DECRYPT,
        "decryption share verification",
        bits,
        _const(lambda: verify_share(pk, c, dshares[0])),
        FLOOR_SHARE,
        floor,
        needed=(NEEDED_VERIFY, _const(_verify_powmods(pk, c, dshares[:1]))),
    )
    run.add(
        DECRYPT,
        f"combine t={THRESHOLD} shares, unverified",
        bits,
        _const(lambda: combine(pk, c, dshares, verify=False)),
        FLOOR_COMBINE,
        _const(_combine_powmods(pk, dshares)),
        floor_is_needed=True,
    )
    verify_then_combine = _verify_powmods(pk, c, dshares)
    combine_only = _combine_powmods(pk, dshares)
    run.add(
        DECRYPT,
        f"combine t={THRESHOLD} shares, verifying each",
        bits,
        _const(lambda: combine(pk, c, dshares, verify=True)),
        FLOOR_COMBINE_VERIFY,
        _const(lambda: (verify_then_combine(), combine_only())),
        floor_is_needed=True,
    )


# --------------------------------------------------------------------------- run


def _targets(settings: Settings, rows: Sequence[Row]) -> list[Target]:
    by_key = {(r.operation, r.key_bits): r for r in rows}
    bits = 3072 if 3072 in settings.key_bits else max(settings.key_bits)
    out: list[Target] = []
    for n in settings.ring_sizes:
        op = total_label(n)
        out.append(
            Target(
                f"online preparation at {bits} bits, ring n={n} <= 3 ms",
                op,
                bits,
                PREP_TARGET_S,
                by_key[(op, bits)].median_s,
            )
        )
    op = TOTAL_NO_RING
    out.append(
        Target(
            f"online preparation at {bits} bits, without ring signature <= 3 ms",
            op,
            bits,
            PREP_TARGET_S,
            by_key[(op, bits)].median_s,
        )
    )
    for b in settings.batch_sizes:
        op = batch_label(b)
        out.append(
            Target(
                f"batched validity verification (batch {b}) <= 0.5 ms per report",
                op,
                None,
                BATCH_TARGET_S,
                by_key[(op, None)].median_s,
            )
        )
    n, b = _target_ring(settings), settings.ring_batch[1]
    op = ring_batch_label(n, b)
    out.append(
        Target(
            f"batched ring verification (n={n}, batch {b}) <= 0.6 ms per report",
            op,
            None,
            RING_BATCH_TARGET_S,
            by_key[(op, None)].median_s,
        )
    )
    for r in rows:
        if r.section == DECRYPT and r.needed is not None and r.needed_median_s is not None:
            out.append(
                Target(
                    f"{r.operation} at {r.key_bits} bits <= {NEEDED_RATIO_TARGET}x the powmods "
                    "it needs",
                    r.operation,
                    r.key_bits,
                    NEEDED_RATIO_TARGET * r.needed_median_s,
                    r.median_s,
                )
            )
    return out


def run(settings: Settings, log: Callable[[str], None] | None = None) -> BenchReport:
    """Measure every row for `settings`; `log` receives progress lines (default: none)."""
    say = log or (lambda _line: None)
    start = time.perf_counter()
    env = timing.environment(("gmpy2", "phe", "py_arkworks_bls12381", "cryptography"))
    runner = _Runner(settings, say)
    keys: dict[int, tuple[ThresholdPublicKey, list[KeyShare]]] = {}
    sources: dict[int, str] = {}
    for bits in settings.key_bits:
        pk, shares, source = _load_keys(bits, say)
        keys[bits] = (pk, shares)
        sources[bits] = source
    say("setting up generators, member keys and rings")
    alliance = _Alliance.make(settings.ring_sizes)

    for bits in settings.key_bits:
        _paillier_preparation(runner, alliance, bits, keys[bits][0])
    _ec_preparation(runner, alliance)
    _intake(runner, alliance)
    for bits in settings.key_bits:
        _decryption(runner, bits, *keys[bits])

    order = {PREP: 0, INTAKE: 1, DECRYPT: 2}
    rows = sorted(
        runner.rows,
        key=lambda r: (order[r.section], r.operation.startswith("online preparation total"), r.key_bits or 0),
    )
    return BenchReport(
        settings=settings,
        rows=tuple(rows),
        targets=tuple(_targets(settings, rows)),
        key_sources=sources,
        environment=env,
        elapsed_s=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- output


def render(report: BenchReport, console: Console) -> None:
    """Print the rows (grouped by section) and the targets as rich tables."""
    s = report.settings
    timing.render_header(
        console,
        "Candor core benchmark",
        quick=s.quick,
        elapsed_s=report.elapsed_s,
        environment=report.environment,
        key_sources=report.key_sources,
    )
    table = timing.sectioned_table(
        "median per operation vs. its floor, same run "
        "(interleaved op/floor, except the warm-pool encryption: see bench.core._measure)",
        [
            ("operation", "left"),
            ("key", "right"),
            ("median", "right"),
            ("floor", "left"),
            ("floor median", "right"),
            ("ratio", "right"),
            ("needed (threshold rows)", "left"),
            ("needed median", "right"),
            ("vs needed", "right"),
            ("reps", "right"),
        ],
        (
            (
                r.section,
                (
                    r.operation,
                    str(r.key_bits) if r.key_bits else "—",
                    format_time(r.median_s),
                    r.floor,
                    format_time(r.floor_median_s),
                    format_ratio(r.ratio),
                    "= floor" if r.needed == r.floor else (r.needed or "—"),
                    "—" if r.needed_median_s is None else format_time(r.needed_median_s),
                    format_ratio(r.needed_ratio),
                    str(r.reps),
                ),
            )
            for r in report.rows
        ),
    )
    console.print(table)
    timing.render_targets(console, report.targets)


def to_json(report: BenchReport) -> dict[str, Any]:
    """The same content as `render`, as a JSON-ready dict (times in milliseconds)."""
    return {
        **timing.json_head(
            "bench.core",
            quick=report.settings.quick,
            elapsed_s=report.elapsed_s,
            environment=report.environment,
            key_sources=report.key_sources,
        ),
        "rows": [r.to_dict() for r in report.rows],
        "targets": [t.to_dict() for t in report.targets],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.core",
        description="Time Candor's core operations against their floors (issue 2).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="very few repetitions, 2048 bits only, no ring of 100 (a smoke run)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    settings = Settings.quick_run() if args.quick else Settings.full()
    report = run(settings, timing.stderr_log(args.quiet))
    timing.print_report(report, as_json=args.json, to_json=to_json, render=render, min_width=240)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
