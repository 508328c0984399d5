"""Batch verification of reports and retractions, as every party runs it (docs/reports.md,
docs/architecture.md).

The operator's intake (`server.intake.Verifier`), a trustee's mirror (`server.mirror`) and
an auditor (`client.audit`) verify reports with the same function, `verify_batch`, so
what one party accepts every other accepts too. A job (`JobWire`) is an entry with the
state it is verified against, as bytes and integers: it crosses process boundaries
(`client.cpu.CpuPool` or the intake's worker pool) without decoded objects, and a worker
knows the alliance from `register_alliance` once per process.

Exact verdicts. A batch must give each job the error it would have got alone
(`core.report_check.verify_report`, which a job alone gets). `core.report_check.report_items`
runs every check of an entry but its group equations and raises exactly that error, or
returns the equations' inputs, which go into one batch equation for both kinds of proof
(`core.report_check.joint_batch_holds`: one multi-scalar multiplication for many items); if
it fails, the validity proofs and ring signatures are checked in batches of their own
(`core.proofs.batch_verify_validity`, `core.ring.batch_ring_verify`), and if one of those
fails, its items are re-verified one at a time with `verify_validity` /
`ring_verify`, whose messages are the ones `verify_report` gives (the batch and single
verifiers accept exactly the same proofs; see their docstrings). Items that fail validity
never reach the ring batch, as in the one-at-a-time order. `tests/test_intake.py` compares
the paths on good and bad reports.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import TypeVar

from api import wire
from core import entries as e
from core import merkle, state
from core.alliance import Alliance, alliance_of
from core.combination import PublicationCrypto, check_publication_crypto
from core.errors import CandorError, Unavailable
from core.group import default_group
from core.proofs import batch_verify_validity, verify_validity
from core.report_check import ValidityItem, joint_batch_holds, report_items, verify_report
from core.ring import RingItem, batch_ring_verify, ring_verify

#: What a worker gets for one entry: (leaf, ring keys in admission order, index of the last
#: membership change, ledger size, subject tag of the retracted report or None).
JobWire = tuple[bytes, tuple[bytes, ...], int, int, "bytes | None"]
#: A job with its leaf decoded (`decode_job`), as a worker verifies it.
DecodedJob = tuple[e.SignedEntry, tuple[bytes, ...], int, int, "bytes | None"]
T = TypeVar("T")

JOB_REPORTS = 256
"""Most reports per verification job of a mirror or an audit (one batch equation):
past 256 the multi-scalar multiplication costs no less per report (docs/performance.md,
"Verification paths")."""
JOB_MIN_REPORTS = 32


def job_size(entries: int, workers: int) -> int:
    """Reports per job when `entries` are verified on `workers` processes: as large as
    `JOB_REPORTS` allows (the per-report cost falls by about 8 % from 128 to 256), but small
    enough that every worker gets at least two jobs, so that a few hundred entries still
    spread over all of them."""
    return max(JOB_MIN_REPORTS, min(JOB_REPORTS, entries // (2 * max(1, workers))))


# Alliances by genesis leaf hash, decoded once per process (a worker is initialised with
# one; an in-process verifier registers its own).
_ALLIANCES: dict[bytes, Alliance] = {}


def register_alliance(genesis_leaf: bytes) -> bytes:
    """Decode the genesis once in this process; warm the generators. Returns its leaf hash."""
    digest = merkle.leaf_hash(genesis_leaf)
    if digest not in _ALLIANCES:
        ally = alliance_of(wire.signed_entry_from_bytes(genesis_leaf), digest)
        for category in ally.genesis.categories:  # hash the G_{c,t} now, not on the first report
            for tier in range(4):
                ally.generators.g(category, tier)
        _ALLIANCES[digest] = ally
    return digest


def registered(genesis_hash: bytes) -> Alliance:
    """The alliance `register_alliance` decoded in this process for `genesis_hash`."""
    ally = _ALLIANCES.get(genesis_hash)
    if ally is None:
        raise Unavailable("this verification worker was started for another alliance; restart the operator")
    return ally


def refusal_of(exc: Exception) -> BaseException:
    """A job's failure as its outcome: a refusal as it is; anything else is a bug, not a
    refusal: keep its traceback for the caller's log (a server's client sees INTERNAL)."""
    if isinstance(exc, CandorError):
        return exc
    return RuntimeError("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _check_all(items: Sequence[tuple[int, T]], batch: Callable[[list[T]], None],
               single: Callable[[T], None]) -> dict[int, BaseException]:
    """Run `batch` over all items; if it fails, `single` over each. Failures by position."""
    if len(items) > 1:
        try:
            batch([item for _, item in items])
            return {}
        except Exception:  # noqa: BLE001 - any failure: find out item by item
            pass
    failed: dict[int, BaseException] = {}
    for pos, item in items:
        try:
            single(item)
        except Exception as exc:  # noqa: BLE001 - returned, so one bad item cannot fail its batch
            failed[pos] = refusal_of(exc)
    return failed


def decode_job(job: JobWire) -> DecodedJob:
    """A job with its leaf decoded (raises what decoding the leaf raises)."""
    leaf, ring, changed_at, index, subject = job
    return wire.signed_entry_from_bytes(leaf), ring, changed_at, index, subject


def verify_batch(genesis_hash: bytes, jobs: Sequence[JobWire]) -> list[BaseException | None]:
    """Verify `jobs` together; one outcome per job, each what `core.report_check.verify_report`
    gives that job alone."""
    outcomes: list[BaseException | None] = [None] * len(jobs)
    decoded: dict[int, DecodedJob] = {}
    for pos, job in enumerate(jobs):
        try:
            decoded[pos] = decode_job(job)
        except Exception as exc:  # noqa: BLE001 - the job's verdict, as verify_report gives it
            outcomes[pos] = refusal_of(exc)
    for pos, refusal in verify_decoded(registered(genesis_hash), decoded).items():
        outcomes[pos] = refusal
    return outcomes


def verify_decoded(ally: Alliance, jobs: Mapping[int, DecodedJob]) -> dict[int, BaseException]:
    """`verify_batch` of jobs already decoded, by position: the refusals, by position."""
    if len(jobs) == 1:
        [(pos, (signed, ring, changed_at, index, subject))] = jobs.items()
        try:
            verify_report(ally, signed, ring, changed_at, index, subject)
        except Exception as exc:  # noqa: BLE001
            return {pos: refusal_of(exc)}
        return {}
    gens, group = ally.generators, default_group()
    refusals: dict[int, BaseException] = {}
    validity: list[tuple[int, ValidityItem]] = []
    rings: dict[int, RingItem] = {}
    for pos, (signed, ring, changed_at, index, subject) in sorted(jobs.items()):
        try:
            checked = report_items(ally, signed, ring, changed_at, index, subject)
        except Exception as exc:  # noqa: BLE001 - the job's verdict, as verify_report gives it
            refusals[pos] = refusal_of(exc)
            continue
        if checked.validity is not None:
            validity.append((pos, checked.validity))
        rings[pos] = checked.ring
    if len(rings) > 1:
        try:
            if joint_batch_holds(gens, [item for _, item in validity], list(rings.values())):
                return refusals
        except Exception:  # noqa: BLE001 - as `_check_all`: the batches apart name what failed
            pass
    failed = _check_all(validity, lambda items: batch_verify_validity(gens, items),
                        lambda item: verify_validity(gens, *item))
    for pos, refusal in failed.items():
        refusals[pos] = refusal
        del rings[pos]
    refusals.update(_check_all(sorted(rings.items(), key=lambda kv: kv[0]),
                               lambda items: batch_ring_verify(group, items), lambda item: ring_verify(group, *item)))
    return refusals


def check_entries(genesis_leaf: bytes, leaves: Sequence[bytes]) -> list[bool]:
    """Whether each of `leaves` decodes and passes `core.state.stateless_checks` with checks
    to make, in a process that may not know the alliance yet (an auditor's or a mirror's
    `CpuPool` worker). An entry this refuses is replayed again through `core.state.apply`, which
    names the fault."""
    ally = registered(register_alliance(genesis_leaf))
    out = []
    for leaf in leaves:
        try:
            out.append(state.stateless_checks(ally, wire.signed_entry_from_bytes(leaf)))
        except CandorError:
            out.append(False)
    return out


def check_publications(genesis_leaf: bytes, checks: Sequence[PublicationCrypto]) -> list[bool]:
    """Whether each publication's crypto holds (`core.combination.check_publication_crypto`:
    C* from its commitments, its publication proof), in a process that may not know the
    alliance yet (an auditor's or a mirror's `CpuPool` worker), whose caller applied the
    RatingPublished with `defer`. A publication this refuses is replayed again through
    `core.state.apply`, which names the fault."""
    gens = registered(register_alliance(genesis_leaf)).generators
    out = []
    for check in checks:
        try:
            check_publication_crypto(gens, check)
        except CandorError:
            out.append(False)
        else:
            out.append(True)
    return out


class Prechecks:
    """Entries whose `core.state.stateless_checks` a pool makes (`check_entries`) while the
    caller applies them with `prechecked=True`: sent in jobs of `size` as they come, each
    job's future appended to `jobs`, whose verdicts must all hold (an auditor's replay, a
    trustee's mirror)."""

    def __init__(self, submit: Callable[..., Future[list[bool]]], genesis_leaf: bytes, size: int,
                 jobs: list[Future[list[bool]]]) -> None:
        self.submit = submit
        self.genesis_leaf = genesis_leaf
        self.size = size
        self.jobs = jobs
        self._leaves: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        self._leaves.append(leaf)
        if len(self._leaves) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self._leaves:
            self.jobs.append(self.submit(check_entries, self.genesis_leaf, self._leaves))
            self._leaves = []


def verify_reports(genesis_leaf: bytes, jobs: Sequence[JobWire]) -> list[bool]:
    """Whether each job passes `verify_batch`, in a process that may not know the alliance
    yet (a `client.cpu.CpuPool` worker of a trustee mirror or an auditor): registers it
    first. Booleans cross the process boundary; whoever needs the reason for a refusal
    re-runs that entry through `core.state.apply`, which names it."""
    return [outcome is None for outcome in verify_batch(register_alliance(genesis_leaf), jobs)]
