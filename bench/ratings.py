"""Issue 5 benchmark: a rating epoch per subject and a client's verification of a rating.

Run `python -m bench.ratings` (`--json` for machine-readable output, `--quick` for a
smoke run under half a minute, `--no-e2e` to skip the gRPC part). It measures

1. Epoch work per subject (docs/ratings.md) with 3 trustees, t = 2, at 3072 bits (the test-only
   key tests/keys/test_only_threshold_3072_t2_n3.json, the default 8-category registry),
   for subjects with m = 10 and 100 reports. The trustees run in this process, without
   gRPC, ledger storage or mirrors: every party computes the active set and checks k and
   the update rule, computes the aggregate c* = Π c_i^{w_i} from the reports' ledger leaves
   itself (`server.trustee.aggregate_ciphertext`), t trustees each compute a decryption
   share with its proof, the operator verifies t shares, combines them, unpacks the
   counts, checks the opening against the commitments and scores. Each step is timed next
   to the gmpy2 powmods it cannot avoid, and the whole epoch next to all of them together:
   (t + 1) aggregations (operator and each trustee, timed as m powmods c_i^{w_i} with the
   same ciphertexts and weights), per trustee c*^(2Δs_i), (c*^4)^r and v^r, per verified
   share (c*^4)^z, (c_i^2)^-e, v^z and v_i^-e, and the t combining powmods c_i^(2λ_i).
   Target: the epoch within 1.5× of its powmods.
2. Client verification of a rating over 2, 100 and 1,000 reports: a RatingResponse built
   from real ledger leaves (ring-signed ReportCommitted entries with commitments, validity
   proofs, escrows and Paillier ciphertexts; a RatingPublished signed by the operator whose
   counts and R are the true opening; the rule set; RFC 9162 inclusion proofs from a
   `core.merkle.MemoryTree`; a checkpoint signed by the operator and cosigned by the
   witness quorum), timed through `client.ratings.verify_rating` next to one
   `Group.msm` with full scalars over as many points as its opening check. A rating over a
   single report cannot verify (k ≥ 2 always; the default rule set has k = 3, docs/rules.md),
   so the smallest rating measured has 3 reports from 3 reporters. At the largest size verify_rating is also profiled
   (cProfile) to show where its time goes. Target: 1,000 reports ≤ 50 ms.
3. A trustee mirror catching up on this whole ledger from genesis into an empty SQLite store
   (`server.mirror.Mirror`, pages of 1,000 as `sync` fetches them, report crypto batched on a
   CPU pool of one worker per core), next to the batch verification of its reports alone in
   one process; printed as "mirror catch-up: N entries/s". Target: ≥ 2,000 entries/s.
   Then the check every ledger replica makes of a rating in its one state thread (the
   sequencer's, a mirror's, an audit's): the subject's RatingRequested and RatingPublished
   through `core.state.apply` over a SQLite store holding the ledger before them, for each
   client-verification size, next to the one MSM it cannot avoid (C* from the pre-decoded
   commitments), and how much of it decoding the compressed commitments takes. No target:
   it is paid again at every epoch that rates the subject (docs/scale.md). Last, a ledger
   of ratings as daily epochs make one (`Settings.rated_ledger`: many subjects with a few
   reports each, every one rated, so that about as many entries are ratings as reports):
   a mirror catching up on it and an auditor replaying it, both on the pool, which checks
   each publication's crypto as it checks the reports', next to that crypto alone in one
   process; printed as "ledger of ratings: mirror N entries/s, audit N entries/s". No target.
4. (Full run, optional) the real epoch over gRPC: an operator, three trustee servers and a
   witness in this process at 2048 bits, reports submitted through the member SDK; each
   subject's `EpochRunner.rate` is timed (trustees' mirrors synced beforehand). Reported
   next to the same powmods, without a target.

Timing: `time.perf_counter`, inputs prepared outside the timed region, a few warm-up runs,
operation and floor interleaved (op, floor, op, floor, ...) so both see the same load on a
shared machine; medians (the method is `bench.timing`'s, shared with `bench.core`). Most
report r^n values come from a `core.paillier.RnPool`; beyond the pool's first values they
are products of two pool values ((r_a·r_b)^n, still a valid obfuscator) so that 1,000
reports do not cost 1,000 full exponentiations to set up.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as _dt
import gc
import itertools
import pstats
import secrets
import statistics
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gmpy2
import phe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from api import wire
from api.identity import Identity, load_key_file
from api.v1 import ledger_pb2, rating_pb2
from bench import timing
from bench.timing import Setup, Target, Thunk, format_ratio, format_time
from bench.timing import const as _const
from client.ratings import Rating, verify_rating
from client.sdk import encrypt_report
from client.verifier import LogVerifier
from core import combination, escrow, merkle, ring, state
from core import entries as e
from core import rating as ratingv2
from core.alliance import Alliance
from core.checkpoint import Checkpoint, sign_checkpoint
from core.combination import check_opening
from core.escrow import escrow_keypair
from core.group import ORDER, Point
from core.note import append_signatures
from core.paillier import RnPool, pack, unpack
from core.pedersen import TIERS, commit, random_scalar, slot
from core.proofs import ReportStatement, prove_validity
from core.rating import ReportInfo, plan_request
from core.rules import RuleSet, check_canonical
from core.score import grade_of, rating_score
from core.threshold import (
    CHALLENGE_BITS,
    HIDING_BITS,
    DecryptionShare,
    KeyShare,
    ThresholdPublicKey,
    combine,
    decryption_share,
    verify_share,
)
from server.trustee import aggregate_ciphertext

if TYPE_CHECKING:
    from client.batch import JobWire
    from client.cpu import CpuPool

__all__ = [
    "Settings",
    "Row",
    "Target",
    "ProfileLine",
    "Stage",
    "BenchReport",
    "run",
    "render",
    "to_json",
    "main",
    "EPOCH",
    "VERIFY",
    "E2E",
]

KEY_DIR = Path(__file__).resolve().parent.parent / "tests" / "keys"
THRESHOLD = 2
PARTIES = 3
MEMBERS = ("a", "b", "c")
WITNESSES = 2

EPOCH = "epoch work per subject (trustees in-process, no gRPC)"
VERIFY = "client verification (client.ratings.verify_rating)"
E2E = "end-to-end epoch over gRPC (operator, 3 trustees, witness: one process)"
MIRROR = "trustee mirror catch-up from genesis (verification + SQLite storage, no gRPC)"

OP_ACTIVE = "active set + k and update-rule check (one party)"
OP_AGGREGATE = "aggregate c* = Π c_i^w_i from ledger leaves (one party)"
OP_SHARE = "decryption share with proof (one trustee)"
OP_VERIFY = "share verification (combiner, one share)"
OP_SEAL = "seal one share to the combiner + open it (HPKE)"
OP_PROVE = "publication proof of the score (combiner)"
OP_COMBINE = f"combine t={THRESHOLD} shares"
OP_UNPACK_SCORE = "unpack + score"
OP_OPENING = "open_aggregate: unpack, bounds, decode m commitments + one msm"
OP_TOTAL = f"epoch total: t={THRESHOLD} trustees (sealed shares) + combiner (proof)"
OP_CHECKPOINT = f"checkpoint open: operator signature + {WITNESSES} cosignatures"
OP_E2E = "EpochRunner request + answer over gRPC, per subject"
OP_E2E_INPROCESS = "in-process epoch total, same key and m (comparison)"

FLOOR_AGG = "m powmods c_i^w_i mod n^2 (same exponents)"
FLOOR_SHARE = "3 powmods: c*^(2*Delta*s_i), (c*^4)^r, v^r"
FLOOR_VERIFY = "4 powmods: (c*^4)^z, (c_i^2)^-e, v^z, v_i^-e"
FLOOR_COMBINE = "t powmods c_i^(2*lambda_i) + inverse mod n"
FLOOR_OPENING = "Group.msm of the same points and scalars, pre-decoded"
FLOOR_TOTAL = "(t+1) aggregations + t shares + t verifications + combine, as powmods"
FLOOR_ED = f"{1 + WITNESSES} raw Ed25519 verifications"
NO_FLOOR = "—"
OP_MIRROR = "Mirror extends an empty store over the whole ledger, pages of 1,000"
FLOOR_MIRROR = "client.batch.verify_batch of its reports only (proofs + ring signatures), one process"
OP_MIRROR_RATED = "Mirror extends an empty store over a ledger of ratings (every subject rated), pages of 1,000"
OP_AUDIT_RATED = "client.audit.replay of that ledger on the pool"
FLOOR_RATED = ("its reports' client.batch.verify_batch and its publications' check_publication_crypto "
               "(C* and the proof), one process")
OP_LEDGER_CHECK = "a rating's ledger check: RatingRequested + RatingPublished through core.state.apply, SQLite state"
OP_DECOMPRESS = "  of which decoding its m compressed commitments (Group.decode_unchecked)"
FLOOR_LEDGER_CHECK = "Group.msm of C* = sum w_i*C_i, the commitments pre-decoded"


def verify_label(m: int) -> str:
    return f"verify_rating, {m} reports"


def msm_floor_label(points: int) -> str:
    return f"Group.msm over {points} points, full scalars"


EPOCH_RATIO_TARGET = 1.5
"""Epoch work per subject, at most this many times the powmods it needs."""
VERIFY_TARGET_S = 50e-3
"""Client verification of a rating over 1,000 reports."""
VERIFY_TARGET_REPORTS = 1000
MIRROR_TARGET_RATE = 2000.0
"""Trustee mirror catch-up, entries per second."""

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Settings:
    """What to measure and how long to spend on each row."""

    quick: bool
    epoch_bits: int
    epoch_sizes: tuple[int, ...]
    verify_sizes: tuple[int, ...]
    e2e: bool
    e2e_bits: int
    e2e_subjects: int
    e2e_reports: int
    rated_ledger: tuple[int, int]
    """Subjects, and reports about each, of the ledger of ratings the mirror and an audit replay."""
    row_budget_s: float
    min_reps: int
    max_reps: int
    warmup: int
    profile_calls: int

    def __post_init__(self) -> None:
        if self.epoch_bits not in (1024, 2048, 3072) or self.e2e_bits not in (1024, 2048, 3072):
            raise ValueError("key sizes must be those of the test-only key files: 1024, 2048, 3072")
        if not self.epoch_sizes or min(self.epoch_sizes) < 2:
            raise ValueError("epoch sizes must be at least 2 (k >= 2 reporters)")
        if not self.verify_sizes or min(self.verify_sizes) < 3:
            raise ValueError("a rating verifies over at least 3 reports (k >= 3 reporters in the default rules)")
        if self.e2e and (self.e2e_subjects < 1 or self.e2e_reports < 2):
            raise ValueError("the gRPC epoch needs at least one subject with 2 reports")
        if self.rated_ledger[0] < 1 or self.rated_ledger[1] < 3:
            raise ValueError("the ledger of ratings needs a subject with at least 3 reports (k = 3)")
        if not 1 <= self.min_reps <= self.max_reps or self.warmup < 0 or self.profile_calls < 1:
            raise ValueError("need 1 <= min_reps <= max_reps, warmup >= 0, profile_calls >= 1")
        if self.row_budget_s <= 0:
            raise ValueError("row budget must be positive")

    @classmethod
    def full(cls) -> Settings:
        """The default run (a few minutes on the reference machine)."""
        return cls(
            quick=False,
            epoch_bits=3072,
            epoch_sizes=(10, 100),
            verify_sizes=(3, 100, 1000),
            e2e=True,
            e2e_bits=2048,
            e2e_subjects=6,
            e2e_reports=10,
            rated_ledger=(200, 5),
            row_budget_s=3.0,
            min_reps=5,
            max_reps=200,
            warmup=1,
            profile_calls=5,
        )

    @classmethod
    def quick_run(cls) -> Settings:
        """A smoke run: 2048 bits, small subjects, tiny repetitions, two subjects over gRPC."""
        return cls(
            quick=True,
            epoch_bits=2048,
            epoch_sizes=(10,),
            verify_sizes=(3, 20),
            e2e=True,
            e2e_bits=2048,
            e2e_subjects=2,
            e2e_reports=3,
            rated_ledger=(12, 3),
            row_budget_s=0.05,
            min_reps=2,
            max_reps=5,
            warmup=1,
            profile_calls=1,
        )


@dataclass(frozen=True)
class Row:
    """One measured operation (medians in seconds) and its floor, if it has one."""

    section: str
    operation: str
    key_bits: int | None
    reports: int | None
    median_s: float
    reps: int
    floor: str
    floor_median_s: float | None

    def __post_init__(self) -> None:
        if self.median_s <= 0 or self.reps < 1:
            raise ValueError(f"{self.operation}: need a positive median and at least one repetition")
        if (self.floor == NO_FLOOR) != (self.floor_median_s is None):
            raise ValueError(f"{self.operation}: a floor needs its median and a median its floor")
        if self.floor_median_s is not None and self.floor_median_s <= 0:
            raise ValueError(f"{self.operation}: the floor median must be positive")

    @property
    def ratio(self) -> float | None:
        return None if self.floor_median_s is None else self.median_s / self.floor_median_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "operation": self.operation,
            "key_bits": self.key_bits,
            "reports": self.reports,
            "median_ms": self.median_s * 1e3,
            "floor": self.floor,
            "floor_median_ms": None if self.floor_median_s is None else self.floor_median_s * 1e3,
            "ratio": self.ratio,
            "reps": self.reps,
        }


@dataclass(frozen=True)
class ProfileLine:
    """One function in the profile of verify_rating, per verification."""

    function: str
    calls: float
    own_ms: float
    cumulative_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "calls": self.calls, "own_ms": self.own_ms,
                "cumulative_ms": self.cumulative_ms}


@dataclass(frozen=True)
class Stage:
    """One stage of verify_rating re-run on its own, without a profiler (median, whole rating)."""

    name: str
    calls: int
    median_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "calls": self.calls, "median_ms": self.median_s * 1e3}


@dataclass(frozen=True)
class BenchReport:
    settings: Settings
    rows: tuple[Row, ...]
    targets: tuple[Target, ...]
    profile_reports: int
    profile_total_ms: float
    profile_top: tuple[ProfileLine, ...]
    """Functions with the most own time."""
    profile_parts: tuple[ProfileLine, ...]
    """The stages of verify_rating, by cumulative time."""
    stages: tuple[Stage, ...]
    """The same stages timed directly (cProfile inflates Python-heavy code)."""
    key_sources: dict[int, str]
    notes: tuple[str, ...]
    environment: dict[str, str]
    elapsed_s: float

    def row(self, operation: str, key_bits: int | None = None, reports: int | None = None) -> Row:
        for r in self.rows:
            if r.operation == operation and r.key_bits == key_bits and r.reports == reports:
                return r
        raise KeyError(f"no row {operation!r} for key {key_bits}, {reports} reports")


# --------------------------------------------------------------------------- timing


def _measure(settings: Settings, op: Setup, floor: Setup | None) -> tuple[float, float | None, int]:
    """Medians of op and floor (interleaved), and the number of repetitions."""
    medians, reps = timing.measure(settings, [op] if floor is None else [op, floor])
    return medians[0], (medians[1] if floor is not None else None), reps


class _Runner:
    def __init__(self, settings: Settings, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.log = log
        self.rows: list[Row] = []

    def add(self, section: str, operation: str, key_bits: int | None, reports: int | None, op: Setup,
            floor_name: str = NO_FLOOR, floor: Setup | None = None) -> Row:
        label = operation + (f" [{key_bits}]" if key_bits else "") + (f" m={reports}" if reports else "")
        self.log(f"measuring {label}")
        median, floor_median, reps = _measure(self.settings, op, floor)
        row = Row(section, operation, key_bits, reports, median, reps, floor_name, floor_median)
        self.rows.append(row)
        return row


# --------------------------------------------------------------------------- world


class _ProductPool(RnPool):
    """An RnPool whose first `genuine` values are real; later ones are products of two.

    (r_a^n)(r_b^n) = (r_a r_b)^n mod n^2 is the obfuscator of r_a r_b, so every ciphertext
    stays a valid encryption; only the set-up cost of a 1,000-report fixture shrinks. Not
    for anything but benchmark fixtures: the products are not independent.
    """

    def __init__(self, public_key: phe.PaillierPublicKey, genuine: int) -> None:
        super().__init__(public_key, size=genuine)
        self._base = [super(_ProductPool, self).take() for _ in range(genuine)]
        self._fresh: deque[Any] = deque(self._base)
        self._pairs = itertools.combinations(range(genuine), 2)

    def take(self) -> Any:
        if self._fresh:
            return self._fresh.popleft()
        pair = next(self._pairs, None)
        if pair is None:
            return super().take()
        return self._base[pair[0]] * self._base[pair[1]] % self.nsquare


@dataclass
class _Subject:
    tag: bytes
    infos: list[ReportInfo]
    ciphertexts: dict[int, int]
    plaintexts: dict[int, tuple[int, int]]
    """index -> (r, slot)."""
    active: tuple[tuple[int, int], ...] = ()
    counts: tuple[int, ...] = ()
    r_sum: int = 0
    rating_index: int = -1
    request_index: int = -1

    @property
    def m(self) -> int:
        return len(self.infos)


class _Leaves:
    """The one method of a LedgerStore that `aggregate_ciphertext` reads."""

    def __init__(self, leaves: list[bytes]) -> None:
        self._leaves = leaves

    def entry(self, index: int) -> bytes:
        return self._leaves[index]


@dataclass
class _World:
    """An alliance (test-only key, 3 members, 3 trustees, 2 witnesses) and an in-memory ledger."""

    directory: Path
    bits: int
    key_source: str
    ally: Alliance
    genesis_leaf: bytes
    pk: ThresholdPublicKey
    shares: list[KeyShare]
    rules: RuleSet
    rules_index: int
    operator: Identity
    members: list[tuple[int, Ed25519PrivateKey]]
    ring_keys: list[bytes]
    leaves: list[bytes] = field(default_factory=list)
    tree: merkle.MemoryTree = field(default_factory=merkle.MemoryTree)
    subjects: dict[int, _Subject] = field(default_factory=dict)
    as_of: _dt.date = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).date())
    ring_change: int = 0
    """Index of the last membership change: the ring every report names."""

    @classmethod
    def make(cls, bits: int, folder: Path) -> _World:
        from server.ceremony import Plan, bootstrap_entries, init_alliance

        path = KEY_DIR / f"test_only_threshold_{bits}_t{THRESHOLD}_n{PARTIES}.json"
        init_alliance(Plan(directory=folder, members=MEMBERS, trustees=PARTIES, threshold=THRESHOLD,
                           witnesses=WITNESSES, quorum=WITNESSES, key_file=path))
        pk, shares = load_key_file(path, check_shares=False)
        operator = Identity.load(folder / "operator")
        genesis_leaf = operator.genesis_leaf()
        ally = LogVerifier(genesis_leaf).alliance
        members = []
        for name in MEMBERS:
            ident = Identity.load(folder / f"member-{name}")
            members.append((int(ident.read("reporting.key").decode().strip(), 16), ident.signing_key()))
        bootstrap = bootstrap_entries(folder / "operator")
        rules_index, rules = -1, None
        for index, leaf in enumerate(bootstrap):
            body = wire.signed_entry_from_bytes(leaf).entry.body
            if isinstance(body, e.RuleSetPublished):
                rules_index, rules = index, check_canonical(body.canonical_toml, ally.genesis.categories)
        if rules is None:
            raise RuntimeError("the ceremony published no rule set: cannot rate")
        world = cls(folder, bits, f"test-only key file {path.name}", ally, genesis_leaf, pk, shares, rules,
                    rules_index, operator, members, [ring.public_key(x) for x, _ in members])
        for index, leaf in enumerate(bootstrap):
            world.append(leaf)
            if isinstance(wire.signed_entry_from_bytes(leaf).entry.body, (e.MemberAdmitted, e.MemberRevoked)):
                world.ring_change = index
        gens = ally.generators
        for code in ally.genesis.categories:  # a long-lived client hashes its generators once
            for tier in range(TIERS):
                gens.g(code, tier)
        return world

    def append(self, leaf: bytes) -> int:
        self.leaves.append(leaf)
        return self.tree.append(leaf)

    @property
    def size(self) -> int:
        return self.tree.size

    def add_subject(self, m: int, pool: RnPool) -> _Subject:
        """m reports about a fresh subject, by the 3 members in turn, over the last 4.5 years."""
        g = self.ally.genesis
        gens = self.ally.generators
        group = gens.group
        tag = secrets.token_bytes(32)
        subject = _Subject(tag, [], {}, {})
        now_ms = state.report_hour(int(time.time() * 1000))
        for i in range(m):
            x, signing_key = self.members[i % len(self.members)]
            category = g.categories[secrets.randbelow(len(g.categories))]
            tier = secrets.randbelow(TIERS)
            incident = (self.as_of - _dt.timedelta(days=1 + secrets.randbelow(4 * 365 + 180))).isoformat()
            r = random_scalar()
            commitment = group.encode(commit(gens, category, tier, r))
            rid = e.derive_report_id(commitment)
            proof = prove_validity(gens, ReportStatement(self.ally.genesis_hash, rid, tag, category, incident,
                                                         commitment), tier, r)
            s = slot(gens.category_index(category), tier)
            ciphertext = encrypt_report(self.pk.phe(), pack(r, s), pool)
            body = e.ReportCommitted(report_id=rid, subject_tag=tag, category=category, incident_date=incident,
                                     evidence_digest=secrets.token_bytes(32), commitment=commitment,
                                     validity_proof=proof.to_bytes(), ciphertext=ciphertext,
                                     ring_change=self.ring_change, notice_date=incident)
            entry = e.LedgerEntry(body, timestamp_ms=now_ms)
            entry_bytes = wire.entry_to_bytes(entry)
            context = ring.RingContext(self.ally.genesis_hash, self.ring_change, tuple(self.ring_keys))
            sig = ring.ring_sign(group, ring.make_coupon(group, context, x), tag,
                                 e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
            sealed = escrow.seal_report_escrow(
                g.regulator_escrow_key, self.ally.genesis_hash, entry_bytes, MEMBERS[i % len(MEMBERS)],
                signing_key.sign(escrow.escrow_message(self.ally.genesis_hash, entry_bytes)))
            leaf = wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes(),
                                                            escrow=sealed))
            index = self.append(leaf)
            subject.infos.append(ReportInfo(index=index, category=category,
                                            incident_date=_dt.date.fromisoformat(incident),
                                            link_tag=sig.link_tag, commitment=commitment))
            subject.ciphertexts[index] = ciphertext
            subject.plaintexts[index] = (r, s)
        self.subjects[m] = subject
        return subject

    def publish_ratings(self) -> None:
        """Every subject rated as the protocol does it (docs/ratings.md): a RatingRequested
        by the operator, then a RatingPublished whose score is the true opening's, with its
        publication proof and the designated combiner's signature."""
        from core.publication import PublicationStatement, prove
        from core.rules import rule_set_hash
        from core.score import points_vector

        size = self.size
        n_slots = TIERS * len(self.ally.genesis.categories)
        key = self.operator.signing_key()
        gens = self.ally.generators
        for subject in self.subjects.values():
            plan = plan_request(self.rules, subject.infos, None, None, size, self.as_of)
            subject.active = plan.active
            counts = [0] * n_slots
            r_sum = 0
            for index, w in subject.active:
                r, s = subject.plaintexts[index]
                counts[s] += w
                r_sum += w * r
            subject.counts, subject.r_sum = tuple(counts), r_sum
            request = e.RatingRequested(
                subject_tag=subject.tag, ledger_size=size, set_digest=plan.digest,
                active_set=tuple(i for i, _ in plan.active), weights=tuple(w for _, w in plan.active),
                as_of=self.as_of.isoformat(), rule_set_version=self.rules.version, kind=plan.kind)
            subject.request_index = self.append(wire.sign_leaf(e.LedgerEntry(request, timestamp_ms=int(
                time.time() * 1000)), key))
            score_value = rating_score(self.rules, self.ally.genesis.categories, counts)
            aggregate = combination.aggregate_commitment(gens.group, [c.commitment for c in subject.infos
                                                                   if c.index in dict(plan.active)],
                                                      [w for _, w in plan.active])
            statement = PublicationStatement(self.ally.genesis_hash, subject.tag, size, plan.digest,
                                             rule_set_hash(self.rules), gens.group.encode(aggregate),
                                             points_vector(self.rules, self.ally.genesis.categories),
                                             self.rules.base_score, score_value)
            combiner = combination.combiner_order(self.ally.genesis_hash, subject.tag, size,
                                               [t.index for t in self.ally.genesis.trustees])[0]
            body = e.RatingPublished(
                request_index=subject.request_index, subject_tag=subject.tag, rule_set_version=self.rules.version,
                ledger_size=size, set_digest=plan.digest, active_set=request.active_set, weights=request.weights,
                as_of=request.as_of, score=score_value, grade=grade_of(self.rules, score_value),
                reporters=plan.reporters, proof=prove(gens, statement, counts, r_sum).to_bytes(), combiner=combiner,
                combiner_signature=bytes(64))
            signer = Identity.load(self.directory / f"trustee-{combiner}").signing_key()
            body = dataclasses.replace(body, combiner_signature=signer.sign(
                combination.publication_message(self.ally.genesis_hash, body)))
            subject.rating_index = self.append(wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(
                time.time() * 1000)), key))

    def cosigned_note(self) -> bytes:
        g = self.ally.genesis
        cp = Checkpoint(g.origin, self.size, self.tree.root())
        note = sign_checkpoint(cp, self.operator.note_signer())
        now = int(time.time())
        lines = [Identity.load(self.directory / f"witness-{i}").cosignature_signer().cosign(cp.body(), now)
                 for i in range(1, WITNESSES + 1)]
        return append_signatures(note, lines)

    def proven(self, index: int, size: int) -> rating_pb2.ProvenEntry:
        return rating_pb2.ProvenEntry(index=index, entry=self.leaves[index],
                                      inclusion_proof=self.tree.inclusion_proof(index, size))

    def response(self, subject: _Subject, note: bytes) -> rating_pb2.RatingResponse:
        size = self.size
        resp = rating_pb2.RatingResponse(rated=True, checkpoint=ledger_pb2.CheckpointResponse(note=note, size=size))
        resp.rating.CopyFrom(self.proven(subject.rating_index, size))
        resp.request.CopyFrom(self.proven(subject.request_index, size))
        resp.rule_set.CopyFrom(self.proven(self.rules_index, size))
        resp.state = "rated"
        group = self.ally.generators.group
        commitments = {info.index: info.commitment for info in subject.infos}
        for index, _w in subject.active:
            resp.reports.append(self.proven(index, size))
            # As server/service.py sends them: a decoding hint the client checks.
            resp.commitments_xy.append(group.encode_xy(group.decode(commitments[index])))
        return resp



# --------------------------------------------------------------------------- powmod floors


@dataclass
class _Powmods:
    """The exponentiations one subject's epoch cannot avoid, as raw gmpy2 calls."""

    pk: ThresholdPublicKey
    ciphertexts: list[Any]
    weights: list[int]
    c: Any
    trustees: list[KeyShare]
    shares: list[DecryptionShare]

    def __post_init__(self) -> None:
        self.nsquare = gmpy2.mpz(self.pk.nsquare)
        self.n = gmpy2.mpz(self.pk.n)
        self.c4 = gmpy2.powmod(self.c, 4, self.nsquare)
        self.v = gmpy2.mpz(self.pk.v)
        self.r_bits = (self.pk.delta * self.pk.nsquare).bit_length() + CHALLENGE_BITS + HIDING_BITS
        self.exponents = [gmpy2.mpz(2 * self.pk.delta * k.s_i) for k in self.trustees]
        indices = [s.index for s in self.shares]
        self.combine_terms = [(gmpy2.mpz(s.c_i), 2 * timing.lagrange(self.pk.delta, s.index, indices))
                              for s in self.shares]
        self.verify_inputs = [(gmpy2.mpz(s.c_i), gmpy2.mpz(self.pk.verification_keys[s.index - 1]),
                               gmpy2.mpz(s.response), s.challenge) for s in self.shares]
        self.four_delta_sq = gmpy2.mpz(4 * self.pk.delta**2)

    def fresh_r(self) -> Any:
        return gmpy2.mpz(secrets.randbits(self.r_bits))

    def aggregate(self) -> None:
        for c, w in zip(self.ciphertexts, self.weights):
            gmpy2.powmod(c, w, self.nsquare)

    def share(self, exponent: Any, r: Any) -> None:
        gmpy2.powmod(self.c, exponent, self.nsquare)
        gmpy2.powmod(self.c4, r, self.nsquare)
        gmpy2.powmod(self.v, r, self.nsquare)

    def verify(self, i: int) -> None:
        c_i, v_i, z, e = self.verify_inputs[i]
        ci2 = gmpy2.powmod(c_i, 2, self.nsquare)
        _ = gmpy2.powmod(self.c4, z, self.nsquare) * gmpy2.powmod(ci2, -e, self.nsquare) % self.nsquare
        _ = gmpy2.powmod(self.v, z, self.nsquare) * gmpy2.powmod(v_i, -e, self.nsquare) % self.nsquare

    def combine(self) -> None:
        acc = gmpy2.mpz(1)
        for base, exponent in self.combine_terms:
            acc = acc * gmpy2.powmod(base, exponent, self.nsquare) % self.nsquare
        _ = (acc - 1) // self.n * gmpy2.invert(self.four_delta_sq, self.n) % self.n

    def share_setup(self) -> Thunk:
        r = self.fresh_r()
        return lambda: self.share(self.exponents[0], r)

    def total_setup(self) -> Thunk:
        rs = [self.fresh_r() for _ in self.trustees]

        def thunk() -> None:
            self.aggregate()  # the operator's own c*
            for exponent, r in zip(self.exponents, rs):
                self.aggregate()  # each trustee rebuilds c* itself
                self.share(exponent, r)
            for i in range(len(self.shares)):
                self.verify(i)
            self.combine()

        return thunk


# --------------------------------------------------------------------------- 1. epoch


@dataclass
class _Epoch:
    """One subject's epoch, in process (docs/ratings.md): each of t trustees rebuilds the
    set under the update rule, aggregates c*, computes its share and seals it to the
    combiner (HPKE); the combiner rebuilds c* and C*, opens and verifies the shares,
    combines them, checks the plaintext strictly, scores and proves the score."""

    world: _World
    subject: _Subject
    size: int

    def __post_init__(self) -> None:
        w = self.world
        self.pub = w.pk
        self.store = _Leaves(w.leaves)
        self.trustees = w.shares[:THRESHOLD]
        self.gens = w.ally.generators
        self.categories = w.ally.genesis.categories
        self.n_slots = TIERS * len(self.categories)
        self.commitment = {r.index: r.commitment for r in self.subject.infos}
        self.combiner_sk, self.combiner_pk = escrow_keypair()
        self.digest = ratingv2.set_digest(self.checks())

    def checks(self) -> tuple[tuple[int, int], ...]:
        """A party's own active set, k and update rule (core.rating.plan_request)."""
        w = self.world
        return plan_request(w.rules, self.subject.infos, None, None, self.size, w.as_of).active

    def aad(self, trustee: int) -> bytes:
        return combination.share_aad(self.world.ally.genesis_hash, 0, self.subject.tag, self.size, self.digest, 1,
                                  trustee)

    def opening(self, active: tuple[tuple[int, int], ...], counts: Sequence[int], r_sum: int) -> None:
        check_opening(self.gens, [self.commitment[i] for i, _ in active], [w for _, w in active], counts, r_sum)

    def open_aggregate(self, active: tuple[tuple[int, int], ...], plaintext: int) -> Any:
        return combination.open_aggregate(self.gens, [self.commitment[i] for i, _ in active], [w for _, w in active],
                                       plaintext)

    def prove(self, active: tuple[tuple[int, int], ...], counts: Sequence[int], r_sum: int) -> bytes:
        from core.publication import PublicationStatement, prove
        from core.rules import rule_set_hash
        from core.score import points_vector

        w = self.world
        score = rating_score(w.rules, self.categories, counts)
        aggregate = combination.aggregate_commitment(self.gens.group, [self.commitment[i] for i, _ in active],
                                                  [x for _, x in active])
        statement = PublicationStatement(w.ally.genesis_hash, self.subject.tag, self.size, self.digest,
                                         rule_set_hash(w.rules), self.gens.group.encode(aggregate),
                                         points_vector(w.rules, self.categories), w.rules.base_score, score)
        return prove(self.gens, statement, counts, r_sum).to_bytes()

    def run(self) -> tuple[tuple[int, ...], int, int]:
        sealed = []
        for key in self.trustees:  # each trustee, on its own
            own = self.checks()
            share = decryption_share(self.pub, key, aggregate_ciphertext(self.store, self.pub, own))  # type: ignore[arg-type]
            sealed.append((key.index, combination.seal_share(self.combiner_pk, self.aad(key.index), share)))
        active = self.checks()  # the combiner
        c = aggregate_ciphertext(self.store, self.pub, active)  # type: ignore[arg-type]
        shares = [combination.open_share(self.combiner_sk, self.aad(i), data, i) for i, data in sealed]
        for share in shares:
            verify_share(self.pub, c, share)
        opened = self.open_aggregate(active, combine(self.pub, c, shares, verify=False))
        score = rating_score(self.world.rules, self.categories, opened.counts)
        self.prove(active, opened.counts, opened.r_sum)
        return opened.counts, opened.r_sum, score


def _epoch_rows(runner: _Runner, world: _World, subject: _Subject, size: int, section: str = EPOCH,
                only_total: bool = False, operation_total: str = OP_TOTAL) -> Row:
    bits, m = world.bits, subject.m
    ep = _Epoch(world, subject, size)
    counts, r_sum, _ = ep.run()
    if (counts, r_sum) != (subject.counts, subject.r_sum):
        raise RuntimeError(f"the epoch over {m} reports decrypted something else than the reports hold")
    active = ep.checks()
    pub = ep.pub
    c = aggregate_ciphertext(ep.store, pub, active)  # type: ignore[arg-type]
    shares = [decryption_share(pub, k, c) for k in ep.trustees]
    powmods = _Powmods(pub, [gmpy2.mpz(subject.ciphertexts[i]) for i, _ in active], [w for _, w in active],
                       gmpy2.mpz(c), ep.trustees, shares)
    if not only_total:
        add = runner.add
        add(section, OP_ACTIVE, bits, m, _const(ep.checks))
        add(section, OP_AGGREGATE, bits, m, _const(lambda: aggregate_ciphertext(ep.store, pub, active)),  # type: ignore[arg-type]
            FLOOR_AGG, _const(powmods.aggregate))
        add(section, OP_SHARE, bits, m, _const(lambda: decryption_share(pub, ep.trustees[0], c)),
            FLOOR_SHARE, powmods.share_setup)
        sealed = combination.seal_share(ep.combiner_pk, ep.aad(shares[0].index), shares[0])
        add(section, OP_SEAL, bits, m, _const(lambda: combination.open_share(
            ep.combiner_sk, ep.aad(shares[0].index),
            combination.seal_share(ep.combiner_pk, ep.aad(shares[0].index), shares[0]), shares[0].index)))
        assert combination.open_share(ep.combiner_sk, ep.aad(shares[0].index), sealed, shares[0].index) == shares[0]
        add(section, OP_VERIFY, bits, m, _const(lambda: verify_share(pub, c, shares[0])),
            FLOOR_VERIFY, _const(lambda: powmods.verify(0)))
        add(section, OP_COMBINE, bits, m, _const(lambda: combine(pub, c, shares, verify=False)),
            FLOOR_COMBINE, _const(powmods.combine))
        plaintext = combine(pub, c, shares, verify=False)
        add(section, OP_UNPACK_SCORE, bits, m,
            _const(lambda: rating_score(world.rules, ep.categories, unpack(plaintext, ep.n_slots).counts)))
        group = ep.gens.group
        points: list[Point] = [group.decode(ep.commitment[i]) for i, _ in active]
        scalars = [w for _, w in active]
        for s, count in enumerate(counts):
            if count:
                points.append(ep.gens.g(ep.categories[s // TIERS], s % TIERS))
                scalars.append(-count)
        points.append(ep.gens.h)
        scalars.append(-(r_sum % ORDER))
        if not group.is_identity(group.msm(points, scalars)):
            raise RuntimeError("the opening floor's multi-scalar multiplication is not the identity")
        add(section, OP_OPENING, bits, m, _const(lambda: ep.open_aggregate(active, plaintext)),
            FLOOR_OPENING, _const(lambda: group.msm(points, scalars)))
        add(section, OP_PROVE, bits, m, _const(lambda: ep.prove(active, counts, r_sum)))
    return runner.add(section, operation_total, bits, m, _const(ep.run), FLOOR_TOTAL, powmods.total_setup)


# --------------------------------------------------------------------------- 2. client verification


def _verify_rows(runner: _Runner, world: _World, note: bytes, verifier: LogVerifier) -> None:
    ally = verifier.alliance
    cp = verifier.open(note).checkpoint
    group = ally.generators.group
    for m in runner.settings.verify_sizes:
        subject = world.subjects[m]
        resp = world.response(subject, note)
        rating = verify_rating(ally, resp, cp, subject.tag)
        if not isinstance(rating, Rating) or rating.reports != m:
            raise RuntimeError(f"the rating over {m} reports did not verify as a rating of {m} reports")
        points: list[Point] = [group.decode(r.commitment) for r in subject.infos]
        points += [ally.generators.g(ally.genesis.categories[s // TIERS], s % TIERS)
                   for s, count in enumerate(subject.counts) if count]
        points.append(ally.generators.h)

        def msm_setup(points: list[Point] = points) -> Thunk:
            scalars = [secrets.randbelow(ORDER) for _ in points]
            return lambda: group.msm(points, scalars)

        runner.add(VERIFY, verify_label(m), world.bits, m,
                   _const(lambda resp=resp, tag=subject.tag: verify_rating(ally, resp, cp, tag)),  # type: ignore[misc]
                   msm_floor_label(len(points)), msm_setup)

    keys = [Ed25519PrivateKey.generate() for _ in range(1 + WITNESSES)]
    message = note.split(b"\n\n")[0]
    signed = [(k.public_key(), k.sign(message)) for k in keys]

    def ed_floor() -> None:
        for public, signature in signed:
            public.verify(signature, message)

    runner.add(VERIFY, OP_CHECKPOINT, None, None, _const(lambda: verifier.open(note)), FLOOR_ED, _const(ed_floor))


_PARTS = (
    # (label, module file suffix, function name): stages of verify_rating, by cumulative time
    ("inclusion proofs, shared nodes once (merkle.verify_inclusions)", "core/merkle.py", "verify_inclusions"),
    ("leaf hashing (merkle.leaf_hash)", "core/merkle.py", "leaf_hash"),
    ("leaf decoding (wire.signed_entry_from_bytes)", "api/wire.py", "signed_entry_from_bytes"),
    ("Ed25519 signatures (rating, request, rule set)", "client/ratings.py", "_signed_by"),
    ("rule set parsing (rules.check_canonical)", "core/rules.py", "check_canonical"),
    ("decay weights (rules.weight)", "core/rules.py", "weight"),
    ("link tags (RingSignature.link_tag_of)", "core/ring.py", "link_tag_of"),
    ("ReportInfo validation (__post_init__)", "core/rating.py", "__post_init__"),
    ("publication check (combination.check_publication)", "core/combination.py", "check_publication"),
    ("  of which C* (combination.aggregate_commitment)", "core/combination.py", "aggregate_commitment"),
    ("  of which commitment decoding from the checked uncompressed hint (Group.decode_unchecked_via_xy)",
     "core/group.py", "decode_unchecked_via_xy"),
    ("  of which the multi-scalar multiplications (Group.msm)", "core/group.py", "msm"),
    ("  of which the publication proof (publication.verify)", "core/publication.py", "verify"),
    ("  of which the combiner signature", "core/combination.py", "check_combiner_signature"),
)


def _profile(world: _World, note: bytes, verifier: LogVerifier, calls: int
             ) -> tuple[int, float, list[ProfileLine], list[ProfileLine]]:
    """cProfile of verify_rating at the largest size: own-time leaders and the stages."""
    m = max(world.subjects)
    subject = world.subjects[m]
    resp = world.response(subject, note)
    ally = verifier.alliance
    cp = verifier.open(note).checkpoint
    verify_rating(ally, resp, cp, subject.tag)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        verify_rating(ally, resp, cp, subject.tag)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for (_cc, _nc, _tt, ct, _callers) in raw.values()) / calls * 1e3

    def name(key: tuple[str, int, str]) -> str:
        filename, line, func = key
        parts = Path(filename).parts
        short = "/".join(parts[-2:]) if len(parts) >= 2 else filename
        return f"{short}:{line}({func})" if line else func

    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    top_lines = [ProfileLine(name(k), v[1] / calls, v[2] / calls * 1e3, v[3] / calls * 1e3) for k, v in top]
    parts: list[ProfileLine] = []
    for label, suffix, func in _PARTS:
        matches = [(k, v) for k, v in raw.items() if k[0].endswith(suffix) and k[2] == func]
        if not matches:
            continue
        calls_n = sum(v[1] for _k, v in matches)
        cum = sum(v[3] for _k, v in matches)
        own = sum(v[2] for _k, v in matches)
        parts.append(ProfileLine(label, calls_n / calls, own / calls * 1e3, cum / calls * 1e3))
    return m, total, top_lines, parts


STAGE_TOTAL = "verify_rating as a whole"
STAGE_DECODE = "commitment decoding, subgroup-checked (Group.decode)"
STAGE_DECOMPRESS = "  of which decompression only (from_compressed_bytes_unchecked)"
STAGE_DECODE_CURVE = "commitment decoding, on-curve only, without the hint (Group.decode_unchecked)"
STAGE_DECODE_XY = ("commitment decoding as verify_rating does: uncompressed hint checked against the leaf "
                   "(Group.decode_unchecked_via_xy)")
STAGE_MSM = "C* = Σ w_i·C_i over the decoded points (Group.msm, the weights)"
STAGE_PROOF = "publication proof verification (publication.verify)"
STAGE_LEAVES = "leaf decoding of proven leaves (wire.signed_entry_from_bytes, no canonical re-encode)"
STAGE_INCLUSION = "leaf hashes + inclusion proofs, shared nodes once (merkle.verify_inclusions)"
STAGE_INCLUSION_ONE = "leaf hash + inclusion proof, one by one (merkle.verify_inclusion, for comparison)"
STAGE_RING = "link tags via RingSignature.from_bytes (full decode, for comparison)"
STAGE_SLICE = "link tags as verify_rating reads them (RingSignature.link_tag_of)"
STAGE_INFO = "decay weights + ReportInfo"
STAGE_RULES = "rule set parsing (rules.check_canonical)"


def _stages(runner: _Runner, world: _World, note: bytes, verifier: LogVerifier) -> list[Stage]:
    """verify_rating's stages at the largest size, each re-run on its own and timed directly."""
    from py_arkworks_bls12381 import G1Point

    from core.ring import RingSignature
    from core.rules import weight

    m = max(world.subjects)
    subject = world.subjects[m]
    resp = world.response(subject, note)
    ally = verifier.alliance
    cp = verifier.open(note).checkpoint
    group = ally.generators.group
    proven = [resp.rating, resp.request, resp.rule_set, *resp.reports]
    signed = [wire.signed_entry_from_bytes(p.entry) for p in resp.reports]
    bodies: list[e.ReportCommitted] = [sig.entry.body for sig in signed]  # type: ignore[misc]
    rings = [sig.ring_signature or b"" for sig in signed]
    commitments = [body.commitment for body in bodies]
    hints = list(resp.commitments_xy)
    rating = wire.signed_entry_from_bytes(resp.rating.entry).entry.body
    rules_text = wire.signed_entry_from_bytes(resp.rule_set.entry).entry.body
    assert isinstance(rating, e.RatingPublished) and isinstance(rules_text, e.RuleSetPublished)
    points = [group.decode(c) for c in commitments]
    scalars = list(rating.weights)
    from core.publication import PublicationProof, PublicationStatement
    from core.publication import verify as verify_publication
    from core.rules import rule_set_hash
    from core.score import points_vector

    aggregate = group.encode(group.msm(points, scalars))
    statement = PublicationStatement(ally.genesis_hash, rating.subject_tag, rating.ledger_size, rating.set_digest,
                                     rule_set_hash(world.rules), aggregate,
                                     points_vector(world.rules, ally.genesis.categories), world.rules.base_score,
                                     rating.score)
    n_points = len(statement.points)
    rules, as_of, categories = world.rules, _dt.date.fromisoformat(rating.as_of), ally.genesis.categories

    def infos() -> None:
        for index, (body, sig) in enumerate(zip(bodies, rings)):
            incident = _dt.date.fromisoformat(body.incident_date)
            weight(rules, incident, as_of, category=body.category)
            ReportInfo(index=index, category=body.category, incident_date=incident, link_tag=sig[4:52],
                       commitment=body.commitment)

    def inclusions() -> None:
        merkle.verify_inclusions([(merkle.leaf_hash(p.entry), p.index, p.inclusion_proof) for p in proven],
                                 cp.size, cp.root_hash)

    def inclusions_one_by_one() -> None:
        for p in proven:
            merkle.verify_inclusion(merkle.leaf_hash(p.entry), p.index, cp.size, list(p.inclusion_proof),
                                    cp.root_hash)

    work: list[tuple[str, int, Thunk]] = [
        (STAGE_TOTAL, 1, lambda: verify_rating(ally, resp, cp, subject.tag)),
        (STAGE_DECODE, m, lambda: [group.decode(c) for c in commitments]),
        (STAGE_DECOMPRESS, m, lambda: [G1Point.from_compressed_bytes_unchecked(c) for c in commitments]),
        (STAGE_DECODE_CURVE, m, lambda: [group.decode_unchecked(c) for c in commitments]),
        (STAGE_DECODE_XY, m, lambda: [group.decode_unchecked_via_xy(c, h) for c, h in zip(commitments, hints)]),
        (STAGE_MSM, 1, lambda: group.msm(points, scalars)),
        (STAGE_PROOF, 1, lambda: verify_publication(ally.generators, statement,
                                                    PublicationProof.from_bytes(rating.proof, n_points))),
        (STAGE_LEAVES, len(proven), lambda: [wire.signed_entry_from_bytes(p.entry, check_canonical=False)
                                             for p in proven]),
        (STAGE_INCLUSION, len(proven), inclusions),
        (STAGE_INCLUSION_ONE, len(proven), inclusions_one_by_one),
        (STAGE_RING, m, lambda: [RingSignature.from_bytes(r).link_tag for r in rings]),
        (STAGE_SLICE, m, lambda: [RingSignature.link_tag_of(r) for r in rings]),
        (STAGE_INFO, m, infos),
        (STAGE_RULES, 1, lambda: check_canonical(rules_text.canonical_toml, categories)),
    ]
    out: list[Stage] = []
    for name, calls, thunk in work:
        runner.log(f"timing stage: {name.strip()}")
        median, _floor, _reps = _measure(runner.settings, _const(thunk), None)
        out.append(Stage(name, calls, median))
    return out


# --------------------------------------------------------------------------- mirror catch-up


def _mirror_rows(runner: _Runner, world: _World, folder: Path) -> None:
    """A trustee's mirror catching up on the whole in-memory ledger (every report, request
    and rating of this run) into an empty SQLite store: `Mirror._extend` over its pages, as
    `Mirror.sync` calls it with the pages it fetches, with the checkpoint root it must reach.
    The mirror verifies on a CpuPool of one worker per core, as `candor trustee serve` runs
    it (started and warmed up before timing). The floor is the batch verification of the
    same reports alone, in the same runs, in this one process. Then the same, and an
    auditor's replay on the pool, over a ledger of ratings (`_rated_rows`)."""
    from client.batch import register_alliance, verify_reports
    from client.cpu import CpuPool

    digest = register_alliance(world.genesis_leaf)
    runs = _report_runs(world)

    def floor() -> Thunk:
        def thunk() -> None:
            _verify_runs(digest, runs)
        return thunk

    pool = CpuPool()
    opened: list[Any] = []
    try:
        sample = [job for run in runs for job in run][:2 * pool.workers]
        warm = [pool.submit(verify_reports, world.genesis_leaf, sample[k::pool.workers]) for k in range(pool.workers)]
        if not all(all(f.result()) for f in warm):
            raise RuntimeError("a report of the benchmark ledger failed batch verification")
        runner.add(MIRROR, OP_MIRROR, world.bits, world.size, _catch_up(world, folder / "mirrors", pool, opened),
                   FLOOR_MIRROR, floor)
        _ledger_check_rows(runner, world, Identity.load(world.directory / "trustee-1"), folder, pool)
        _rated_rows(runner, world.bits, folder / "rated", pool, opened)
    finally:
        pool.close()
        for mirror in opened:
            mirror.conn.close()
            mirror.store.close()


def _report_runs(world: _World) -> list[list[JobWire]]:
    """The world's reports as verification jobs, in runs of consecutive reports (one ring)."""
    runs: list[list[JobWire]] = [[]]
    for index, leaf in enumerate(world.leaves):
        signed = wire.signed_entry_from_bytes(leaf)
        if index > 0 and isinstance(signed.entry.body, e.ReportCommitted) and signed.ring_signature is not None:
            runs[-1].append((leaf, tuple(world.ring_keys), world.ring_change, index, None))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _verify_runs(digest: bytes, runs: list[list[JobWire]]) -> None:
    """Every run through `client.batch.verify_batch` in this process (a mirror row's floor)."""
    from client.batch import verify_batch

    for run in runs:
        if any(v is not None for v in verify_batch(digest, run)):
            raise RuntimeError("a report of the benchmark ledger failed batch verification")


def _catch_up(world: _World, folder: Path, pool: CpuPool, opened: list[Any]) -> Setup:
    """A Setup for the mirror rows: each call a new mirror (trustee-1's, an empty SQLite store
    under `folder`, verifying on `pool`, kept in `opened` to be closed), whose thunk extends
    it over the world's whole ledger."""
    from client.connection import Connection
    from server.database import open_store
    from server.mirror import PAGE, Mirror

    leaves, size, root = list(world.leaves), world.size, world.tree.root()
    identity = Identity.load(world.directory / "trustee-1")
    folder.mkdir(parents=True, exist_ok=True)
    count = itertools.count()

    def catch_up() -> Thunk:
        n = next(count)
        store = open_store(str(folder / f"mirror-{n}.db"))
        mirror = Mirror(identity, Connection(identity, "127.0.0.1:1"), store, folder / f"mirror-{n}.state", cpu=pool)
        opened.append(mirror)

        def thunk() -> None:
            mirror._extend((leaves[start:start + PAGE] for start in range(0, size, PAGE)), size, root,
                           world.tree.consistency_proof)
            if store.size() != size:
                raise RuntimeError(f"the mirror stored {store.size()} of {size} entries")
        return thunk
    return catch_up


def _rated_rows(runner: _Runner, bits: int, folder: Path, pool: CpuPool, opened: list[Any]) -> None:
    """A ledger of ratings, as daily epochs make one: `Settings.rated_ledger` subjects with a
    few reports each, every subject rated (a RatingRequested and a RatingPublished each),
    so that about as many entries are ratings as are reports. A mirror catching up on it
    and an auditor replaying it (`client.audit.replay`), both on `pool`, which checks the
    reports' crypto and each publication's (C* and its proof). The floor: that crypto
    alone, in this one process."""
    from client.audit import replay
    from client.batch import register_alliance

    subjects, per = runner.settings.rated_ledger
    runner.log(f"preparing a ledger of ratings: {subjects} subjects with {per} reports each, each rated")
    world = _World.make(bits, folder / "alliance")
    with _ProductPool(world.pk.phe(), min(64, subjects * per)) as rn:
        for k in range(subjects):
            world.subjects[-1 - k] = world.add_subject(per, rn)
            del world.subjects[per]
    world.publish_ratings()
    digest = register_alliance(world.genesis_leaf)
    runs = _report_runs(world)
    publications: list[combination.PublicationCrypto] = []  # what the pool checks of each rating, gathered once
    view, ally = state.MemoryState(), None
    for index, leaf in enumerate(world.leaves):
        signed = wire.signed_entry_from_bytes(leaf)
        report = index > 0 and isinstance(signed.entry.body, e.ReportCommitted)
        view.update(state.apply(view, ally, index, signed, verify=not report, checked=report,
                                defer=publications.append))
        if index == 0:
            ally = world.ally
    gens = world.ally.generators

    def floor() -> Thunk:
        def thunk() -> None:
            _verify_runs(digest, runs)
            for crypto in publications:
                combination.check_publication_crypto(gens, crypto)
        return thunk

    def audit() -> Thunk:
        def thunk() -> None:
            replay(world.leaves, pool=pool)
        return thunk

    runner.add(MIRROR, OP_MIRROR_RATED, bits, world.size, _catch_up(world, folder / "mirrors", pool, opened),
               FLOOR_RATED, floor)
    runner.add(MIRROR, OP_AUDIT_RATED, bits, world.size, audit, FLOOR_RATED, floor)


def _ledger_check_rows(runner: _Runner, world: _World, identity: Identity, folder: Path, cpu: CpuPool) -> None:
    """The state thread's check of each verified size's rating, over a mirror's SQLite store
    of the ledger up to the first rating request (every report; the requests and ratings of
    the other subjects change nothing of this one's)."""
    from client.connection import Connection
    from server.database import open_store
    from server.mirror import PAGE, Mirror
    from server.storage import StoreView

    first = min(subject.request_index for subject in world.subjects.values())
    leaves = world.leaves[:first]
    store = open_store(str(folder / "before-ratings.db"))
    mirror = Mirror(identity, Connection(identity, "127.0.0.1:1"), store, folder / "before-ratings.state", cpu=cpu)
    try:
        mirror._extend((leaves[start:start + PAGE] for start in range(0, first, PAGE)), first, world.tree.root(first),
                       world.tree.consistency_proof)
        view, ally, group = StoreView(store), world.ally, world.ally.generators.group
        for m in runner.settings.verify_sizes:
            subject = world.subjects[m]
            request = wire.signed_entry_from_bytes(world.leaves[subject.request_index])
            rating = wire.signed_entry_from_bytes(world.leaves[subject.rating_index])
            active = dict(subject.active)
            commitments = [r.commitment for r in subject.infos if r.index in active]
            points = [group.decode(c) for c in commitments]
            weights = [active[r.index] for r in subject.infos if r.index in active]

            def check(request: e.SignedEntry = request, rating: e.SignedEntry = rating,
                      subject: _Subject = subject) -> None:
                over = state.Overlay(view)
                over.updates.update(state.apply(over, ally, subject.request_index, request))
                state.apply(over, ally, subject.rating_index, rating)

            def msm(points: list[Point] = points, weights: list[int] = weights) -> Point:
                return group.msm(points, weights)

            def decode(commitments: list[bytes] = commitments) -> None:
                for c in commitments:
                    group.decode_unchecked(c)

            def first_check(check: Thunk = check) -> Thunk:
                # Outside the timed region: the request parses every report record, as in a
                # process that meets them first; the answer finds them parsed.
                state.report_info.cache_clear()
                return check

            runner.add(MIRROR, OP_LEDGER_CHECK, None, m, first_check, FLOOR_LEDGER_CHECK, _const(msm))
            runner.add(MIRROR, OP_DECOMPRESS, None, m, _const(decode), FLOOR_LEDGER_CHECK, _const(msm))
    finally:
        mirror.conn.close()
        store.close()


# --------------------------------------------------------------------------- 3. gRPC epoch


@contextmanager
def _grpc_world(folder: Path, bits: int, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """An operator, three trustee servers and an EpochRunner on localhost (as tests/test_ratings.py)."""
    from server.app import Settings as OperatorSettings
    from server.app import create_server
    from server.ceremony import Plan, bootstrap_entries, init_alliance
    from server.database import open_store
    from server.epoch import EpochRunner
    from server.trustee import create_trustee_server

    key = KEY_DIR / f"test_only_threshold_{bits}_t{THRESHOLD}_n{PARTIES}.json"
    adir = folder / "alliance"
    init_alliance(Plan(directory=adir, members=MEMBERS, trustees=PARTIES, threshold=THRESHOLD, witnesses=1,
                       quorum=1, key_file=key))
    stores = [open_store(str(folder / "ledger.db"))]
    op = create_server(OperatorSettings(identity=Identity.load(adir / "operator")), stores[0])
    op.ledger.append_now(bootstrap_entries(adir / "operator"))
    trustees = []
    for i in range(1, PARTIES + 1):
        stores.append(open_store(str(folder / f"trustee-{i}.db")))
        (folder / f"trustee-{i}").mkdir()
        trustees.append(create_trustee_server(Identity.load(adir / f"trustee-{i}"), stores[-1], "127.0.0.1:0",
                                              f"127.0.0.1:{op.port}", state_dir=folder / f"trustee-{i}"))
    epochs = EpochRunner(op.ledger, Identity.load(adir / "operator"),
                         {i + 1: f"127.0.0.1:{t[1]}" for i, t in enumerate(trustees)})
    log(f"gRPC world up: operator on port {op.port}, trustees on {[t[1] for t in trustees]}")
    try:
        yield {"dir": adir, "op": op, "trustees": trustees, "epochs": epochs, "key": key}
    finally:
        for server, _port, trustee in trustees:
            server.stop(0)
            trustee.mirror.conn.close()
        epochs.close()
        op.stop(grace=0.5)
        for store in stores:
            store.close()


def _e2e_rows(runner: _Runner, folder: Path) -> str:
    from client.sdk import Member
    from client.witness import Witness

    s = runner.settings
    bits, m = s.e2e_bits, s.e2e_reports
    with _grpc_world(folder, bits, runner.log) as w:
        adir, op, epochs = w["dir"], w["op"], w["epochs"]
        address = f"127.0.0.1:{op.port}"
        members = [Member(Identity.load(adir / f"member-{n}"), address, folder / f"state-{n}") for n in MEMBERS]
        categories = members[0].categories
        subjects = [f"bench:subject-{j}" for j in range(s.e2e_subjects)]
        try:
            runner.log(f"submitting {len(subjects)} x {m} reports through the member SDK")
            today = _dt.date.today()
            for subject in subjects:
                for i in range(m):
                    members[i % len(members)].submit_report(
                        subject, categories[secrets.randbelow(len(categories))], secrets.randbelow(TIERS),
                        today - _dt.timedelta(days=1 + secrets.randbelow(4 * 365 + 180)))
            tags = [members[0].subject_tag(subject) for subject in subjects]
        finally:
            for member in members:
                member.close()
        op.ledger.wait_checkpoint(op.ledger.store.size())
        witness = Witness.open(Identity.load(adir / "witness-1"), address, folder)
        try:
            witness.step()
        finally:
            witness.conn.close()
        size = op.ledger.cosigned_size()
        for _server, _port, trustee in w["trustees"]:
            trustee.mirror.sync(size)  # verified ledger up to `size`: no sync inside the timed calls

        pk, key_shares = load_key_file(w["key"], check_shares=False)
        trustees = key_shares[:THRESHOLD]
        floors: list[Setup] = []
        inputs: list[tuple[list[ReportInfo], tuple[tuple[int, int], ...]]] = []
        for tag in tags:
            rules, _prev, reports, active = state.rating_inputs(op.ledger.view, tag, size, today)
            c = aggregate_ciphertext(op.ledger.store, pk, active)
            shares = [decryption_share(pk, k, c) for k in trustees]
            cts = [gmpy2.mpz(wire.signed_entry_from_bytes(op.ledger.store.entry(i)).entry.body.ciphertext)  # type: ignore[union-attr]
                   for i, _ in active]
            floors.append(_Powmods(pk, cts, [w_ for _, w_ in active], gmpy2.mpz(c), trustees, shares).total_setup)
            inputs.append((reports, active))

        runner.log(f"rating {len(tags)} subjects over gRPC: EpochRunner.request, cosign, EpochRunner.answer each")
        from server.epoch import EpochResult

        gc.collect()
        op_times: list[float] = []
        floor_times: list[float] = []
        for tag, floor in zip(tags, floors):
            result = EpochResult()
            start = time.perf_counter()
            index = epochs.request(tag, size, result)
            requested = time.perf_counter() - start
            if index is None:
                raise RuntimeError(f"EpochRunner.request appended no request: {result.messages}")
            # The witness cosigns the request (untimed) and the trustees' mirrors catch up.
            op.ledger.wait_checkpoint(op.ledger.store.size())
            witness = Witness.open(Identity.load(adir / "witness-1"), address, folder)
            try:
                witness.step()
            finally:
                witness.conn.close()
            for _server, _port, trustee in w["trustees"]:
                trustee.mirror.sync(op.ledger.cosigned_size())
            start = time.perf_counter()
            epochs.answer(tag, index, result)
            op_times.append(requested + time.perf_counter() - start)
            if result.published != [tag.hex()]:
                raise RuntimeError(f"the epoch did not publish: {result.messages}")
            floor_times.append(timing.time_once(floor))
        runner.rows.append(Row(E2E, OP_E2E, bits, m, statistics.median(op_times), len(op_times), FLOOR_TOTAL,
                               statistics.median(floor_times)))

        # The same subject's epoch in process, for comparison: what gRPC, the ledger and n = 3
        # trustees (instead of t = 2) add.
        world = _World(adir, bits, "", LogVerifier(Identity.load(adir / "operator").genesis_leaf()).alliance,
                       b"", pk, key_shares, rules, -1, Identity.load(adir / "operator"), [], [],
                       leaves=[op.ledger.store.entry(i) for i in range(size)], as_of=today)
        reports, active = inputs[0]
        first = _Subject(tags[0], list(reports), {}, {})
        first.counts, first.r_sum, _ = _Epoch(world, first, size).run()
        first.ciphertexts = {i: wire.signed_entry_from_bytes(world.leaves[i]).entry.body.ciphertext  # type: ignore[union-attr]
                             for i, _ in active}
        _epoch_rows(runner, world, first, size, E2E, only_total=True, operation_total=OP_E2E_INPROCESS)
    return f"{bits}-bit gRPC world: {w['key'].name}"


# --------------------------------------------------------------------------- run


def _targets(settings: Settings, rows: Sequence[Row]) -> list[Target]:
    out: list[Target] = []
    for r in rows:
        if r.section == EPOCH and r.operation == OP_TOTAL and r.floor_median_s is not None:
            out.append(Target(f"epoch work per subject, m={r.reports}, {r.key_bits} bits "
                              f"<= {EPOCH_RATIO_TARGET}x its powmods", r.operation, r.key_bits,
                              EPOCH_RATIO_TARGET * r.floor_median_s, r.median_s, reports=r.reports))
    mirror = next((r for r in rows if r.section == MIRROR), None)
    if mirror is not None and mirror.reports:
        out.append(Target(f"mirror catch-up >= {MIRROR_TARGET_RATE:,.0f} entries/s", mirror.operation,
                          mirror.key_bits, mirror.reports / MIRROR_TARGET_RATE, mirror.median_s,
                          reports=mirror.reports))
    m = max(settings.verify_sizes)
    row = next(r for r in rows if r.operation == verify_label(m))
    out.append(Target(f"verify_rating over {m} reports <= {VERIFY_TARGET_S * 1e3:g} ms", row.operation,
                      row.key_bits, VERIFY_TARGET_S, row.median_s, reports=m))
    return out


def run(settings: Settings, log: Callable[[str], None] | None = None) -> BenchReport:
    """Measure every row for `settings`; `log` receives progress lines (default: none)."""
    say = log or (lambda _line: None)
    start = time.perf_counter()
    env = timing.environment(("gmpy2", "phe", "py_arkworks_bls12381", "grpcio", "protobuf"))
    runner = _Runner(settings, say)
    notes = [
        "epoch rows: trustees run in this process, without gRPC, ledger storage or mirrors; ledger "
        "leaves are decoded from memory as a trustee reads them from its mirror",
        f"epoch rows follow the protocol (docs/ratings.md): t = {THRESHOLD} shares computed, sealed to the "
        f"combiner and verified there; server.epoch.EpochRunner asks all n = {PARTIES} trustees for sealed shares "
        "and the combiner verifies them before combining t, checks the plaintext strictly and proves the score",
        "a rating over fewer than k = 3 reporters cannot verify (default rules): "
        "the smallest verified rating has 3 reports",
        "aggregate rows: core.paillier.aggregate multiplies reports of equal weight first and exponentiates "
        "once per decay band, so it beats the m per-report powmods of its floor (ratio below 1)",
    ]
    if settings.e2e:
        notes.append(
            f"gRPC rows: EpochRunner asks all n = {PARTIES} trustees and verifies every share it receives; "
            "operator and trustee servers run in this process with their default inline CpuPool(0), so the "
            f"{PARTIES} shares and {PARTIES} verifications run one after another under the GIL; the floor is "
            f"the t = {THRESHOLD} powmods, so about 1.5x is the n/t cost of asking everyone, not overhead"
        )
    sources: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="candor-bench-ratings-") as tmp:
        folder = Path(tmp)
        bits = settings.epoch_bits
        say(f"setting up a {bits}-bit alliance and its ledger")
        world = _World.make(bits, folder / "alliance")
        sources[bits] = world.key_source
        sizes = sorted(set(settings.epoch_sizes) | set(settings.verify_sizes))
        genuine = min(sum(sizes), 64)
        say(f"precomputing {genuine} r^n values")
        with _ProductPool(world.pk.phe(), genuine) as pool:
            for m in sizes:
                say(f"preparing a subject with {m} reports (commitment, proof, ciphertext, escrow, ring signature)")
                world.add_subject(m, pool)
        rated_size = world.size
        world.publish_ratings()
        note = world.cosigned_note()
        verifier = LogVerifier(world.genesis_leaf)

        for m in settings.epoch_sizes:
            _epoch_rows(runner, world, world.subjects[m], rated_size)
        _verify_rows(runner, world, note, verifier)
        _mirror_rows(runner, world, folder)
        say(f"profiling verify_rating over {max(settings.verify_sizes)} reports")
        p_reports, p_total, p_top, p_parts = _profile(world, note, verifier, settings.profile_calls)
        stages = _stages(runner, world, note, verifier)

        if settings.e2e:
            e2e_dir = folder / "grpc"
            e2e_dir.mkdir()
            sources.setdefault(settings.e2e_bits, _e2e_rows(runner, e2e_dir))
    order = {EPOCH: 0, VERIFY: 1, MIRROR: 2, E2E: 3}
    rows = sorted(runner.rows, key=lambda r: order[r.section])
    return BenchReport(
        settings=settings,
        rows=tuple(rows),
        targets=tuple(_targets(settings, rows)),
        profile_reports=p_reports,
        profile_total_ms=p_total,
        profile_top=tuple(p_top),
        profile_parts=tuple(p_parts),
        stages=tuple(stages),
        key_sources=sources,
        notes=tuple(notes),
        environment=env,
        elapsed_s=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------- output


def render(report: BenchReport, console: Console) -> None:
    """Print the rows (grouped by section), the targets and the profile as rich tables."""
    s = report.settings
    timing.render_header(console, "Candor rating benchmark", quick=s.quick, elapsed_s=report.elapsed_s,
                         environment=report.environment, key_sources=report.key_sources)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)
    cells = ((r.section, (r.operation, str(r.key_bits) if r.key_bits else "—", str(r.reports) if r.reports else "—",
                          format_time(r.median_s), r.floor,
                          "—" if r.floor_median_s is None else format_time(r.floor_median_s),
                          format_ratio(r.ratio), str(r.reps)))
             for r in report.rows)
    console.print(timing.sectioned_table(
        "median per operation vs. its floor, same run, interleaved (op, floor, op, floor, ...)",
        [("operation", "left"), ("key", "right"), ("m", "right"), ("median", "right"), ("floor", "left"),
         ("floor median", "right"), ("ratio", "right"), ("reps", "right")],
        cells))
    timing.render_targets(console, report.targets)
    mirror = next((r for r in report.rows if r.section == MIRROR), None)
    if mirror is not None and mirror.reports:
        console.print(f"mirror catch-up: {mirror.reports / mirror.median_s:,.0f} entries/s "
                      f"({mirror.reports} entries in {format_time(mirror.median_s)}; "
                      f"target >= {MIRROR_TARGET_RATE:,.0f}/s)", highlight=False)
    rated = {r.operation: r for r in report.rows if r.operation in (OP_MIRROR_RATED, OP_AUDIT_RATED)}
    if len(rated) == 2:
        subjects, per = report.settings.rated_ledger
        console.print(f"ledger of ratings ({subjects} subjects x {per} reports, each rated): " + ", ".join(
            f"{name} {row.reports / row.median_s:,.0f} entries/s ({row.floor_median_s / row.median_s:.2f} of the "
            "crypto alone in one process)" for name, row in (("mirror", rated[OP_MIRROR_RATED]),
                                                             ("audit", rated[OP_AUDIT_RATED]))
            if row.reports and row.floor_median_s), highlight=False)
    direct = Table(title=f"verify_rating over {report.profile_reports} reports, stages re-run on their own "
                         "(no profiler; medians for the whole rating)")
    direct.add_column("stage")
    direct.add_column("calls", justify="right")
    direct.add_column("median", justify="right")
    direct.add_column("per call", justify="right")
    for st in report.stages:
        direct.add_row(st.name, str(st.calls), format_time(st.median_s), format_time(st.median_s / st.calls))
    console.print(direct)
    for title, lines in (("stages", report.profile_parts), ("functions with the most own time", report.profile_top)):
        prof = Table(title=f"profile of verify_rating over {report.profile_reports} reports, {title} "
                           f"(per verification; {report.profile_total_ms:.1f} ms under cProfile)")
        prof.add_column("function")
        prof.add_column("calls", justify="right")
        prof.add_column("own", justify="right")
        prof.add_column("cumulative", justify="right")
        for line in lines:
            prof.add_row(line.function, f"{line.calls:g}", f"{line.own_ms:.2f} ms", f"{line.cumulative_ms:.2f} ms")
        console.print(prof)


def to_json(report: BenchReport) -> dict[str, Any]:
    """The same content as `render`, as a JSON-ready dict (times in milliseconds)."""
    return {
        **timing.json_head("bench.ratings", quick=report.settings.quick, elapsed_s=report.elapsed_s,
                           environment=report.environment, key_sources=report.key_sources),
        "notes": list(report.notes),
        "rows": [r.to_dict() for r in report.rows],
        "targets": [t.to_dict() for t in report.targets],
        "profile": {
            "reports": report.profile_reports,
            "total_ms_under_cprofile": report.profile_total_ms,
            "stages": [p.to_dict() for p in report.profile_parts],
            "stages_timed_directly": [st.to_dict() for st in report.stages],
            "top_own_time": [p.to_dict() for p in report.profile_top],
        },
    }


def publication_proof_timing(repeat: int = 15) -> str:
    """One line: median time to prove and to verify a rating publication proof
    (core.publication) for the default 8-category registry (32 slots), arkworks backend.

    Counts are random weighted counts, the statement's C* their true aggregate; verifying
    includes parsing the wire form, as a client receiving the proof would.
    """
    from core.group import default_group
    from core.pedersen import Generators
    from core.publication import (
        PublicationProof,
        PublicationStatement,
        prove,
        score_of,
        verify,
    )
    from core.rules import DEFAULT_CATEGORIES

    gens = Generators(default_group(), DEFAULT_CATEGORIES)
    group = gens.group
    points = (1, 3, 6, 40) * len(DEFAULT_CATEGORIES)
    counts = [secrets.randbelow(5000) for _ in points]
    r_sum = random_scalar()
    slot_gens = [gens.g(c, t) for c in DEFAULT_CATEGORIES for t in range(TIERS)]
    stmt = PublicationStatement(
        genesis_hash=secrets.token_bytes(32), subject_tag=secrets.token_bytes(32), ledger_size=1000,
        set_digest=secrets.token_bytes(32), rule_set_hash=secrets.token_bytes(32),
        aggregate=group.encode(group.msm([*slot_gens, gens.h], [*counts, r_sum])),
        points=points, base=100, score=score_of(100, points, counts),
    )
    proofs, prove_s, verify_s = [], [], []
    for _ in range(repeat + 2):  # the first two are warm-up
        start = time.perf_counter()
        proofs.append(prove(gens, stmt, counts, r_sum).to_bytes())
        prove_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        verify(gens, stmt, PublicationProof.from_bytes(proofs[-1], len(points)))
        verify_s.append(time.perf_counter() - start)
    return (
        f"publication proof: prove {statistics.median(prove_s[2:]) * 1e3:.1f} ms, "
        f"verify {statistics.median(verify_s[2:]) * 1e3:.1f} ms "
        f"({len(points)} slots, {len(proofs[-1])} bytes)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ratings",
        description="Time a rating epoch per subject and a client's rating verification (issue 5).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--quick", action="store_true",
                        help="2048 bits, small subjects, very few repetitions (a smoke run, under 30 s)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end epoch over gRPC")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    settings = Settings.quick_run() if args.quick else Settings.full()
    if args.no_e2e and settings.e2e:
        settings = Settings(**{**settings.__dict__, "e2e": False})
    report = run(settings, timing.stderr_log(args.quiet))
    timing.print_report(report, as_json=args.json, to_json=to_json, render=render, min_width=200)
    if not args.json:
        print(publication_proof_timing())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
