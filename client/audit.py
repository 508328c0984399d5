"""`candor audit`: rebuild everything from genesis and compare (docs/ledger.md).

The auditor downloads the whole ledger, recomputes every leaf hash and the root, checks
the root against a checkpoint the operator signed (and the witnesses cosigned), and replays
every entry through the same `core.state.apply` the operator ran, with every signature,
ring signature and proof re-verified — every RatingRequested against the update rule and
every RatingPublished through the same `core.combination.check_publication` (publication proof,
combiner signature, grade) that the ledger and the member SDK run (docs/ratings.md). The
first entry that fails is named; nothing is trusted because the operator said so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from api import wire
from client.batch import (
    JOB_REPORTS,
    JobWire,
    Prechecks,
    check_publications,
    job_size,
    register_alliance,
    verify_batch,
    verify_reports,
)
from core import entries as e
from core import merkle, state
from core.alliance import Alliance, alliance_of
from core.combination import PublicationCrypto
from core.errors import CandorError, VerificationError

if TYPE_CHECKING:
    from client.cpu import CpuPool

Progress = Callable[[int, int], None]


class AuditFailure(VerificationError):
    """The ledger does not replay: `index` is the first entry that fails (-1: the tree)."""

    def __init__(self, index: int, reason: str) -> None:
        where = f"entry {index}" if index >= 0 else "the tree"
        super().__init__(f"audit failed at {where}: {reason}")
        self.index = index
        self.reason = reason


@dataclass
class AuditReport:
    size: int
    root: bytes
    kinds: dict[str, int] = field(default_factory=dict)
    members: int = 0
    reports: int = 0
    retracted: int = 0


PARALLEL_FROM = 2048
"""Entries from which `candor audit` starts a worker per core: below, starting the
processes (about a second) costs more than verifying in one process."""


def _jobs(view: state.StateView, run: list[tuple[int, bytes]]) -> list[JobWire]:
    """Intake's verification jobs for consecutive reports, against the ring of `view` (no
    membership change lies between them: the caller ends a run at any other entry)."""
    keys, changed_at = state.current_ring(view)
    ring = tuple(keys)
    return [(leaf, ring, changed_at, index, None) for index, leaf in run]


def replay(leaves: Sequence[bytes], progress: Progress | None = None, *,
           pool: CpuPool | None = None) -> tuple[state.MemoryState, AuditReport]:
    """Re-validate every entry from genesis; raise AuditFailure naming the first bad one.

    Runs of consecutive reports have their validity proofs and ring signatures verified in
    batches by `client.batch.verify_batch`, the very function intake runs (one
    multi-scalar multiplication per batch); every other check runs entry by entry
    through `core.state.apply`, the very code the operator ran before appending.

    With a `pool` (`client.cpu.CpuPool`, one worker per core for `candor audit`) its
    workers verify the batches while this process replays the state: every report is
    applied at once with all its state checks but without its crypto, its batch goes to
    the pool; so does every entry signed with a genesis key, applied with
    `prechecked=True` while a worker makes its `core.state.stateless_checks` (its
    signature, an admission's reporting key). The replay passes only if every job holds.
    If anything fails, the ledger is replayed again in this process the sequential way,
    which names the first bad entry exactly (a bad ledger costs more to audit; a good one
    is checked once, on every core). Without a pool (or with one of 0 workers):
    sequential only.
    """
    if pool is not None and pool.workers > 0 and leaves:
        done = _replay_parallel(leaves, progress, pool)
        if done is not None:
            return done
    return _replay_sequential(leaves, progress)


def _replay_parallel(leaves: Sequence[bytes], progress: Progress | None,
                     pool: CpuPool) -> tuple[state.MemoryState, AuditReport] | None:
    """The replay with report crypto, the stateless checks of entries signed with a genesis
    key and each RatingPublished's crypto on `pool`; None if anything fails (the caller
    then runs `_replay_sequential` to name it)."""
    view = state.MemoryState()
    tree = merkle.CompactRange()
    ally: Alliance | None = None
    report = AuditReport(size=len(leaves), root=b"")
    run: list[tuple[int, bytes]] = []  # consecutive reports, against one ring
    verdicts: list[Future[list[bool]]] = []
    size = job_size(len(leaves), pool.workers)
    prechecks = Prechecks(pool.submit, leaves[0], size, verdicts)

    def flush() -> None:
        if run:
            verdicts.append(pool.submit(verify_reports, leaves[0], _jobs(view, run)))
            run.clear()

    def defer(crypto: PublicationCrypto) -> None:
        verdicts.append(pool.submit(check_publications, leaves[0], [crypto]))

    try:
        for index, leaf in enumerate(leaves):
            # The canonical encoding is checked once: by the worker that decodes a report's or
            # a prechecked entry's leaf again (`client.batch.decode_job`, `check_entries`), here
            # for the rest. What a leaf that fails it did to the state here does not matter: a
            # failed job sends the whole ledger to the sequential replay.
            signed = wire.signed_entry_from_bytes(leaf, check_canonical=False)
            tree.append(merkle.leaf_hash(leaf))
            is_report = index > 0 and isinstance(signed.entry.body, e.ReportCommitted) \
                and signed.ring_signature is not None
            if not is_report:
                flush()
            prechecked = state.has_stateless_checks(ally, signed)
            if not (is_report or prechecked):
                wire.require_canonical(leaf, signed)
            view.update(state.apply(view, ally, index, signed, verify=not is_report, checked=is_report,
                                    prechecked=prechecked, defer=defer))
            report.kinds[signed.entry.kind] = report.kinds.get(signed.entry.kind, 0) + 1
            if index == 0:
                ally = alliance_of(signed, merkle.leaf_hash(leaf))
            if is_report:
                run.append((index, leaf))
                if len(run) >= size:
                    flush()
            elif prechecked:
                prechecks.add(leaf)
            if progress is not None and (index % 256 == 0 or index + 1 == len(leaves)):
                progress(index + 1, len(leaves))
        flush()
        prechecks.flush()
        _finish(view, tree, report)  # while the workers finish their last jobs
        if not all(all(f.result()) for f in verdicts):
            return None
    except CandorError:
        for f in verdicts:
            f.cancel()
        return None
    return view, report


def _replay_sequential(leaves: Sequence[bytes], progress: Progress | None) -> tuple[state.MemoryState, AuditReport]:
    view = state.MemoryState()
    tree = merkle.CompactRange()
    ally: Alliance | None = None
    report = AuditReport(size=len(leaves), root=b"")
    pending: list[tuple[int, bytes, e.SignedEntry]] = []

    def apply(index: int, signed: e.SignedEntry, verify: bool) -> None:
        try:
            updates = state.apply(view, ally, index, signed, verify=verify, checked=not verify)
        except CandorError as exc:
            raise AuditFailure(index, str(exc)) from None
        view.update(updates)
        report.kinds[signed.entry.kind] = report.kinds.get(signed.entry.kind, 0) + 1

    def flush() -> None:
        # A report the batch refuses is re-verified by apply(verify=True), which names it.
        verified = [False] * len(pending)
        if ally is not None and pending:
            outcomes = verify_batch(register_alliance(leaves[0]), _jobs(view, [(i, leaf) for i, leaf, _ in pending]))
            verified = [outcome is None for outcome in outcomes]
        for (index, _leaf, signed), ok in zip(pending, verified):
            apply(index, signed, verify=not ok)
        pending.clear()

    for index, leaf in enumerate(leaves):
        try:
            signed = wire.signed_entry_from_bytes(leaf)
        except CandorError as exc:
            flush()
            raise AuditFailure(index, str(exc)) from None
        tree.append(merkle.leaf_hash(leaf))
        if index > 0 and isinstance(signed.entry.body, e.ReportCommitted) and signed.ring_signature is not None:
            pending.append((index, leaf, signed))
            if len(pending) >= JOB_REPORTS:
                flush()
        else:
            flush()
            apply(index, signed, verify=True)
            if index == 0:
                ally = alliance_of(signed, merkle.leaf_hash(leaf))
        if progress is not None and (index % 256 == 0 or index + 1 == len(leaves)):
            progress(index + 1, len(leaves))
    flush()
    _finish(view, tree, report)
    return view, report


def _finish(view: state.MemoryState, tree: merkle.CompactRange, report: AuditReport) -> None:
    report.root = tree.root()
    for key, raw in view.data.items():  # counted: no order needed, so not `scan`'s sorted copy
        if key.startswith("member/"):
            report.members += 1
        elif key.startswith("report/"):
            report.reports += 1
            report.retracted += b'"retracted_at":null' not in raw


def check_root(report: AuditReport, checkpoint_size: int, checkpoint_root: bytes) -> None:
    if report.size != checkpoint_size:
        raise AuditFailure(-1, f"downloaded {report.size} entries but the checkpoint says {checkpoint_size}")
    if report.root != checkpoint_root:
        raise AuditFailure(-1, "the entries hash to a different root than the signed checkpoint: "
                               "the stored entries were altered after they were checkpointed")
