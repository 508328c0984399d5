"""Issue 5 benchmark: a rating epoch per subject and a client's verification of a rating.

Run `python -m bench.ratings` (`--json` for machine-readable output, `--quick` for a
smoke run under half a minute, `--no-e2e` to skip the gRPC part). It measures

1. Epoch work per subject (DESIGN §5) with 3 trustees, t = 2, at 3072 bits (the test-only
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
   single report cannot verify (k ≥ 2 always, DESIGN §4), so the smallest rating measured
   has 2 reports from 2 reporters. At the largest size verify_rating is also profiled
   (cProfile) to show where its time goes. Target: 1,000 reports ≤ 50 ms.
3. (Full run, optional) the real epoch over gRPC: an operator, three trustee servers and a
   witness in this process at 2048 bits, reports submitted through the member SDK; each
   subject's `EpochRunner.rate` is timed (trustees' mirrors synced beforehand). Reported
   next to the same powmods, without a target.

Timing: `time.perf_counter`, inputs prepared outside the timed region, a few warm-up runs,
operation and floor interleaved (op, floor, op, floor, ...) so both see the same load on a
shared machine; medians. Most report r^n values come from a `core.paillier.RnPool`; beyond
the pool's first values they are products of two pool values ((r_a·r_b)^n, still a valid
obfuscator) so that 1,000 reports do not cost 1,000 full exponentiations to set up.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import itertools
import json
import math
import os
import platform
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import gmpy2
import phe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from candor import wire
from candor.identity import Identity
from candor.v1 import ledger_pb2, rating_pb2
from client.ratings import Rating, verify_rating
from client.sdk import ESCROW_INFO, escrow_message
from client.verifier import LogVerifier
from core import entries as e
from core import escrow, merkle, ring, state
from core.checkpoint import Checkpoint, sign_checkpoint
from core.group import ORDER, Point
from core.note import append_signatures
from core.paillier import RnPool, encrypt, pack, unpack
from core.pedersen import TIERS, commit, random_scalar, slot
from core.proofs import ReportStatement, prove_validity
from core.rating import ReportInfo, active_set, check_opening, check_publishable
from core.rules import RuleSet, check_canonical, score
from core.threshold import (
    CHALLENGE_BITS,
    HIDING_BITS,
    DecryptionShare,
    KeyShare,
    ThresholdPublicKey,
    combine,
    decryption_share,
    load_key_file,
    verify_share,
)
from server.trustee import aggregate_ciphertext

__all__ = [
    "Settings",
    "Row",
    "Target",
    "ProfileLine",
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

OP_ACTIVE = "active set + k and update-rule check (one party)"
OP_AGGREGATE = "aggregate c* = Π c_i^w_i from ledger leaves (one party)"
OP_SHARE = "decryption share with proof (one trustee)"
OP_VERIFY = "share verification (operator, one share)"
OP_COMBINE = f"combine t={THRESHOLD} shares"
OP_UNPACK_SCORE = "unpack + score"
OP_OPENING = "check_opening: decode m commitments + one msm"
OP_TOTAL = f"epoch total: operator + t={THRESHOLD} trustees"
OP_CHECKPOINT = f"checkpoint open: operator signature + {WITNESSES} cosignatures"
OP_E2E = "EpochRunner.rate over gRPC, per subject"
OP_E2E_INPROCESS = "in-process epoch total, same key and m (comparison)"

FLOOR_AGG = "m powmods c_i^w_i mod n^2 (same exponents)"
FLOOR_SHARE = "3 powmods: c*^(2*Delta*s_i), (c*^4)^r, v^r"
FLOOR_VERIFY = "4 powmods: (c*^4)^z, (c_i^2)^-e, v^z, v_i^-e"
FLOOR_COMBINE = "t powmods c_i^(2*lambda_i) + inverse mod n"
FLOOR_OPENING = "Group.msm of the same points and scalars, pre-decoded"
FLOOR_TOTAL = "(t+1) aggregations + t shares + t verifications + combine, as powmods"
FLOOR_ED = f"{1 + WITNESSES} raw Ed25519 verifications"
NO_FLOOR = "—"


def verify_label(m: int) -> str:
    return f"verify_rating, {m} reports"


def msm_floor_label(points: int) -> str:
    return f"Group.msm over {points} points, full scalars"


EPOCH_RATIO_TARGET = 1.5
"""Epoch work per subject, at most this many times the powmods it needs."""
VERIFY_TARGET_S = 50e-3
"""Client verification of a rating over 1,000 reports."""
VERIFY_TARGET_REPORTS = 1000

Thunk = Callable[[], object]
Setup = Callable[[], Thunk]
"""Prepares fresh inputs (untimed) and returns the zero-argument call to time."""


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
        if not self.verify_sizes or min(self.verify_sizes) < 2:
            raise ValueError("a rating verifies over at least 2 reports (k >= 2 reporters)")
        if self.e2e and (self.e2e_subjects < 1 or self.e2e_reports < 2):
            raise ValueError("the gRPC epoch needs at least one subject with 2 reports")
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
            verify_sizes=(2, 100, 1000),
            e2e=True,
            e2e_bits=2048,
            e2e_subjects=6,
            e2e_reports=10,
            row_budget_s=3.0,
            min_reps=5,
            max_reps=200,
            warmup=1,
            profile_calls=5,
        )

    @classmethod
    def quick_run(cls) -> Settings:
        """A smoke run: 2048 bits, small subjects, tiny repetitions, no gRPC part."""
        return cls(
            quick=True,
            epoch_bits=2048,
            epoch_sizes=(10,),
            verify_sizes=(2, 20),
            e2e=False,
            e2e_bits=2048,
            e2e_subjects=2,
            e2e_reports=4,
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
class Target:
    """A performance target checked against one row."""

    name: str
    operation: str
    key_bits: int | None
    reports: int | None
    limit_s: float
    measured_s: float

    @property
    def passed(self) -> bool:
        return self.measured_s <= self.limit_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "operation": self.operation,
            "key_bits": self.key_bits,
            "reports": self.reports,
            "limit_ms": self.limit_s * 1e3,
            "measured_ms": self.measured_s * 1e3,
            "status": "PASS" if self.passed else "MISS",
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


def _time_once(setup: Setup) -> float:
    thunk = setup()
    start = time.perf_counter()
    thunk()
    return time.perf_counter() - start


def _measure(settings: Settings, op: Setup, floor: Setup | None) -> tuple[float, float | None, int]:
    """Medians of op and floor (interleaved), and the number of repetitions."""
    gc.collect()
    setups = [op] if floor is None else [op, floor]
    spent = 0.0
    for _ in range(max(settings.warmup, 1)):
        spent = sum(_time_once(s) for s in setups)
    reps = max(settings.min_reps, min(settings.max_reps, math.ceil(settings.row_budget_s / max(spent, 1e-9))))
    times: list[list[float]] = [[] for _ in setups]
    for _ in range(reps):
        for setup, out in zip(setups, times):
            out.append(_time_once(setup))
    medians = [statistics.median(t) for t in times]
    return medians[0], (medians[1] if floor is not None else None), reps


def _const(thunk: Thunk) -> Setup:
    return lambda: thunk


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
    ally: state.Alliance
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
        for leaf in bootstrap:
            world.append(leaf)
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
        ring_size = self.size
        subject = _Subject(tag, [], {}, {})
        now_ms = int(time.time() * 1000)
        for i in range(m):
            x, signing_key = self.members[i % len(self.members)]
            rid = secrets.token_bytes(16)
            category = g.categories[secrets.randbelow(len(g.categories))]
            tier = secrets.randbelow(TIERS)
            incident = (self.as_of - _dt.timedelta(days=1 + secrets.randbelow(4 * 365 + 180))).isoformat()
            r = random_scalar()
            commitment = group.encode(commit(gens, category, tier, r))
            proof = prove_validity(gens, ReportStatement(self.ally.genesis_hash, rid, tag, category, incident,
                                                         commitment), tier, r)
            s = slot(gens.category_index(category), tier)
            ciphertext = encrypt(self.pk.phe(), pack(r, s), pool)
            sealed = escrow.seal(g.regulator_escrow_key, ESCROW_INFO, rid, json.dumps(
                {"member_id": MEMBERS[i % len(MEMBERS)],
                 "signature": signing_key.sign(escrow_message(rid, tag, commitment)).hex()},
                sort_keys=True, separators=(",", ":")).encode())
            body = e.ReportCommitted(report_id=rid, subject_tag=tag, category=category, incident_date=incident,
                                     evidence_digest=secrets.token_bytes(32), commitment=commitment,
                                     validity_proof=proof.to_bytes(), ciphertext=ciphertext, escrow=sealed,
                                     ring_size=ring_size)
            entry = e.LedgerEntry(body, timestamp_ms=now_ms)
            entry_bytes = wire.entry_to_bytes(entry)
            sig = ring.ring_sign(group, self.ring_keys, x, tag, e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
            leaf = wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))
            index = self.append(leaf)
            subject.infos.append(ReportInfo(index=index, category=category,
                                            incident_date=_dt.date.fromisoformat(incident),
                                            link_tag=sig.link_tag, commitment=commitment))
            subject.ciphertexts[index] = ciphertext
            subject.plaintexts[index] = (r, s)
        self.subjects[m] = subject
        return subject

    def publish_ratings(self) -> None:
        """The true opening of every subject as a RatingPublished signed by the operator."""
        size = self.size
        n_slots = TIERS * len(self.ally.genesis.categories)
        key = self.operator.signing_key()
        for subject in self.subjects.values():
            subject.active = active_set(subject.infos, self.rules, size, self.as_of)
            counts = [0] * n_slots
            r_sum = 0
            for index, w in subject.active:
                r, s = subject.plaintexts[index]
                counts[s] += w
                r_sum += w * r
            subject.counts, subject.r_sum = tuple(counts), r_sum
            score_milli, grade = score(self.rules, self.ally.genesis.categories, counts)
            body = e.RatingPublished(
                subject_tag=subject.tag, rule_set_version=self.rules.version, ledger_size=size,
                active_set=tuple(i for i, _ in subject.active), weights=tuple(w for _, w in subject.active),
                counts=subject.counts, r_sum=r_sum, score_milli=score_milli, grade=grade,
                as_of=self.as_of.isoformat(), trustees=tuple(range(1, THRESHOLD + 1)))
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
        resp.rule_set.CopyFrom(self.proven(self.rules_index, size))
        for index, _w in subject.active:
            resp.reports.append(self.proven(index, size))
        return resp

