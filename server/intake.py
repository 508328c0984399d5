"""Report intake off the GIL: verifying reports and retractions in a process pool (docs/reports.md,
docs/architecture.md), and the regulator's governance entries' stateless checks beside them.

docs/architecture.md: "Hot crypto (proof verification, share computation) runs in a process pool:
gmpy2 holds the GIL" (and so does py-arkworks-bls12381: two threads decoding points run
no faster than one, docs/performance.md). A `Verifier` therefore runs the checks of
`core.report_check` — the ciphertext range, the validity proof and the ring signature — in
worker processes, and keeps in the server process only what needs the ledger's state: the
current ring (keys and the index of the last membership change), the ledger size, and for
a retraction the subject of the report it retracts. Those are read here and sent along as
bytes and integers; a worker never sees the store.

Batching. docs/reports.md makes validity proofs and ring signatures batch-verifiable
(`core.proofs.batch_verify_validity`, `core.ring.batch_ring_verify`), and a batch's two
kinds of proof are checked in one multi-scalar multiplication
(`core.report_check.joint_batch_holds`). Reports arriving together are gathered by one dispatcher
thread. A batch is sent when a worker is free and it is due: `max_batch` items are waiting
(256, as an audit's jobs: past that a batch costs no less per report), or its first item has
waited `window` (2 ms) and no item arrived in the last 0.25 ms per item waiting, or its first
has waited `max_wait` (50 ms). At light load, a lone report or the few that unary callers
keep in flight goes 2 ms after the first of them arrived. Under sustained load reports keep
arriving, so the batch keeps gathering until the arrivals pause (for longer, the more are
waiting), it is full, or its first has waited 50 ms. That pays because a batch's cost per
report falls with its size (at ring 20, about 0.72 ms at 48 reports, 0.60 at 128, 0.55 at
256: docs/performance.md, "Gathering larger batches under load") and under load the cores
are the limit. Waiting items are split evenly over the free workers so no core idles
while another verifies a long batch.

Exact verdicts. Workers run `verify_jobs`: the escrows, then the batch verification every
party runs (`client.batch.verify_decoded`; a trustee's mirror and an auditor too): each
item gets the error `core.report_check.verify_report` would give it alone. A governance
entry signed with a genesis key (`server.service.GovernanceServicer`) gets
`core.state.stateless_checks` (its Ed25519 signature, an admission's reporting key) and the
error `core.state.apply` would give for them; the sequencer then makes only the checks that
need the state. An Ed25519 verification and a subgroup-checked decoding were most of such
an entry's time in the sequencer, which every entry waits for (docs/performance.md).

Escrow (docs/reports.md). The member sends, beside its ring-signed entry, an Ed25519
signature by its member key over "CANDOR-V1-ESCROW" ‖ genesis hash ‖ SHA-256(entry bytes).
`escrow_request` makes the cheap checks in the server process (a report without an escrow
of its own, the signature's length, the member the mTLS certificate names admitted and not
revoked). The job then carries (member id, member key, signature) to a worker, where
`seal_escrow` checks the signature against that key and seals (member id, signature) to
the regulator's X25519 key at a fixed length, before the batch's proofs (`verify_jobs`);
the server builds the leaf to append from what comes back (`with_escrow`): the entry and
ring signature unchanged, the escrow beside them. Nothing else keeps the signature. The
Ed25519 verification and the HPKE seal are the costliest steps of a report in the server
process otherwise, which holds one interpreter lock for all its threads
(docs/performance.md, "Sealing the escrow in the verification workers").

Workers are started from a fork server that preloads this module (so `core`, gmpy2 and
arkworks are imported once, not per worker) and initialised once with the genesis leaf,
from which they build the alliance's Pedersen generators. Jobs cross the process
boundary as tuples of bytes and integers, never as decoded objects. `workers=0` verifies
synchronously in the calling thread, one item at a time (deterministic; for tests), with
the very same function. As with any spawn or fork-server pool, a program that embeds the
operator must keep its main module importable without side effects (the
`if __name__ == "__main__":` idiom): workers import it. A worker that dies is replaced on
the next batch; the items it held get Unavailable (retry with the same report id).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api import wire
from client.batch import (
    JOB_REPORTS,
    DecodedJob,
    JobWire,
    decode_job,
    refusal_of,
    register_alliance,
    registered,
    verify_batch,
    verify_decoded,
)
from client.cpu import start_worker
from core import entries as e
from core import escrow, merkle, state
from core.alliance import Alliance
from core.errors import CandorError, InvalidInput, PermissionDenied, Unavailable, VerificationError

if TYPE_CHECKING:
    from server.ledger import Ledger

log = logging.getLogger("candor.intake")

DEFAULT_WINDOW = 0.002
GAP_PER_WAITING = 0.00025
"""Seconds without an arrival, per item waiting, after which a batch stops gathering."""
DEFAULT_MAX_WAIT = 0.05
DEFAULT_MAX_BATCH = JOB_REPORTS
VERIFY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Job:
    """One entry to verify, with the state it is verified against (taken in the server)."""

    leaf: bytes
    ring: tuple[bytes, ...]
    changed_at: int
    index: int
    subject_tag: bytes | None = None
    escrow: EscrowRequest | None = None
    """For a report as submitted: its escrow, sealed by the worker that verifies it."""

    def __post_init__(self) -> None:
        if not isinstance(self.leaf, bytes) or not isinstance(self.ring, tuple):
            raise InvalidInput("a verification job holds the leaf bytes and the ring as a tuple of keys")
        if self.changed_at < 0 or self.index < 0:
            raise InvalidInput("ring change index and ledger size cannot be negative")
        if self.subject_tag is not None and len(self.subject_tag) != 32:
            raise InvalidInput("the retracted report's subject tag must be 32 bytes")

    def wire(self) -> JobWire:
        return (self.leaf, self.ring, self.changed_at, self.index, self.subject_tag)


# -- the worker side (also run in-process when workers=0) -----------------------------------


def _init_worker(genesis_leaf: bytes, server_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # from the start: the alliance takes a while
    register_alliance(genesis_leaf)
    start_worker(server_pid)  # then: its collector settles with the alliance in the frozen part;
    # and it watches the server's pid, as its parent is the fork server, not the server


def _outcome_of(fut: Future[bytes | None], timeout: float) -> None:
    try:
        fut.result(timeout=timeout)
    except FutureTimeout:
        raise Unavailable("report verification did not finish in time; retry with the same report id") from None


# -- the escrow, made by the party that saw who -----------------------------------------------


@dataclass(frozen=True)
class EscrowRequest:
    """What sealing a report's escrow needs beyond the entry: the member the mTLS certificate
    names, that member's Ed25519 key and the escrow signature it sent. Plain bytes and a
    string, so that it crosses to a verification worker with the job."""

    member_id: str
    signing_key: bytes
    signature: bytes


def escrow_request(view: state.StateView, member_id: str, signed: e.SignedEntry,
                   escrow_signature: bytes) -> EscrowRequest:
    """The cheap checks of a report's escrow, made where the state is: the entry is a report
    without an escrow yet, the signature has its length, and `member_id` is admitted and
    not revoked. Raises InvalidInput or PermissionDenied."""
    if not isinstance(signed.entry.body, e.ReportCommitted):
        raise InvalidInput(f"only a report carries an escrow, not a {signed.entry.kind}")
    if signed.escrow is not None:
        raise InvalidInput("send the report without an escrow: the operator seals it from the escrow signature "
                           "you send beside the entry")
    if len(escrow_signature) != escrow.ESCROW_SIGNATURE_BYTES:
        raise InvalidInput(f"escrow signature is {len(escrow_signature)} bytes, expected "
                           f"{escrow.ESCROW_SIGNATURE_BYTES}: sign \"CANDOR-V1-ESCROW\" || genesis hash || "
                           "SHA-256(entry bytes) with your member key")
    record = state.member_record(view, member_id)
    if record is None or record.revoked_at is not None:
        raise PermissionDenied(f"member {member_id} is not an admitted, unrevoked member and may not report")
    return EscrowRequest(member_id, record.signing_key, escrow_signature)


def seal_escrow(ally: Alliance, signed: e.SignedEntry, request: EscrowRequest) -> bytes:
    """The report's sealed escrow, once the escrow signature verifies under the member's key
    over this very entry (raises PermissionDenied if not): a member can neither escrow
    garbage nor another member's identity. The expensive part (an Ed25519 verification and
    an HPKE seal), run by a verification worker beside the report's proofs."""
    from core.signing import VerifyKey

    try:
        VerifyKey.from_bytes(request.signing_key).verify(
            escrow.escrow_message(ally.genesis_hash, signed.entry_bytes), request.signature)
    except VerificationError:
        raise PermissionDenied(
            f"the escrow signature does not verify under the key of member {request.member_id}, whose certificate "
            "you connected with: sign \"CANDOR-V1-ESCROW\" || genesis hash || SHA-256(entry bytes) with that "
            "member's key"
        ) from None
    return escrow.seal_report_escrow(ally.genesis.regulator_escrow_key, ally.genesis_hash, signed.entry_bytes,
                                     request.member_id, request.signature)


def with_escrow(signed: e.SignedEntry, sealed: bytes) -> tuple[bytes, e.SignedEntry]:
    """The leaf to append: the entry and ring signature unchanged, the sealed escrow beside them."""
    stored = dataclasses.replace(signed, escrow=sealed)
    return wire.signed_entry_to_bytes(stored), stored


def seal_report(ally: Alliance, view: state.StateView, member_id: str, signed: e.SignedEntry,
                escrow_signature: bytes) -> tuple[bytes, e.SignedEntry]:
    """The leaf to append for a report submitted by `member_id` (authenticated over mTLS):
    `escrow_request`, then `seal_escrow`, in this process."""
    return with_escrow(signed, seal_escrow(ally, signed, escrow_request(view, member_id, signed, escrow_signature)))


def verify_jobs(genesis_hash: bytes, jobs: Sequence[JobWire],
                escrows: Sequence[EscrowRequest | None]) -> list[BaseException | bytes | None]:
    """A worker's batch: each entry decoded once; a governance entry signed with a genesis key
    gets `core.state.stateless_checks` and nothing more; a report's escrow is sealed
    (`seal_escrow`; a refusal there leaves the report out of the batch); then
    `client.batch.verify_decoded` over the reports and retractions. One outcome per job:
    its refusal, the sealed escrow of a report that came with an `EscrowRequest`, or None.
    As in `verify_batch`, a failure that is not a refusal (a bug) is that job's outcome
    alone, never its batch's."""
    ally = registered(genesis_hash)
    outcomes: list[BaseException | bytes | None] = [None] * len(jobs)
    decoded: dict[int, DecodedJob] = {}
    for pos, (job, request) in enumerate(zip(jobs, escrows, strict=True)):
        try:
            item = decode_job(job)
            if state.stateless_checks(ally, item[0]):
                continue  # a governance entry: its checks were all there is to do here
            if request is not None:
                outcomes[pos] = seal_escrow(ally, item[0], request)
        except Exception as exc:  # noqa: BLE001 - returned, so one bad job cannot fail its batch
            outcomes[pos] = refusal_of(exc)
            continue
        decoded[pos] = item
    for pos, refusal in verify_decoded(ally, decoded).items():
        outcomes[pos] = refusal
    return outcomes


def _settle(future: Future[bytes | None], outcome: BaseException | bytes | None) -> None:
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


# -- the server side ------------------------------------------------------------------------


@dataclass
class _Waiting:
    job: Job
    future: Future[bytes | None]
    since: float


class Verifier:
    """Verifies reports and retractions (and governance entries' stateless checks) for one
    ledger, in `workers` processes.

    `workers=None` starts one per core (`os.cpu_count()`); `workers=0` verifies in the
    calling thread. `verify_entry(leaf, signed)` gives the verdict of `core.report_check.verify_report`
    against the ledger's current state (same checks, same error types and messages), but the
    crypto runs elsewhere and concurrent calls share batch equations. The pool starts on
    first use (the ledger needs its genesis first) or on `warm()`; `close()` stops it.
    """

    def __init__(self, ledger: Ledger, workers: int | None = None, *, window: float = DEFAULT_WINDOW,
                 max_wait: float = DEFAULT_MAX_WAIT, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
            raise InvalidInput(f"verify workers must be a non-negative integer (0: in-process), got {workers!r}")
        if max_batch < 1 or not 0 <= window <= max_wait:
            raise InvalidInput("a verification batch needs max_batch >= 1 and 0 <= window <= max_wait seconds")
        self.ledger = ledger
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.window = window
        self.max_wait = max_wait
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._waiting: deque[_Waiting] = deque()
        self._inflight = 0
        self._closed = False
        self._executor: ProcessPoolExecutor | None = None
        self._dispatcher: threading.Thread | None = None
        self._genesis_hash: bytes | None = None
        self.batches = 0  # batches sent to workers, and the items in them: the batching factor
        self.items = 0

    # -- lifecycle ------------------------------------------------------------------------

    def warm(self) -> None:
        """Start the workers now (the ledger must hold its genesis)."""
        with self._cond:
            self._start_locked()
        if self.workers:
            executor = self._executor
            assert executor is not None
            # One trivial task per worker, so every process has started and run its initializer.
            futures = [executor.submit(verify_batch, self._genesis(), []) for _ in range(self.workers)]
            for f in futures:
                f.result(timeout=120)

    def _genesis(self) -> bytes:
        if self._genesis_hash is None:
            self.ledger.alliance  # noqa: B018 - raises Unavailable without a genesis
            self._genesis_hash = register_alliance(self.ledger.store.entry(0))
        return self._genesis_hash

    def _start_locked(self) -> None:
        if self._closed:
            raise Unavailable("the operator is shutting down; retry against another server")
        genesis_hash = self._genesis()
        if self.workers == 0 or self._executor is not None:
            return
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has imported this module (and so core, gmpy2,
        # arkworks) once; forking the operator itself, with its gRPC and database threads,
        # would not be safe.
        ctx.set_forkserver_preload(["server.intake"])
        self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(self.ledger.store.entry(0), os.getpid()))
        assert merkle.leaf_hash(self.ledger.store.entry(0)) == genesis_hash
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch_loop, name="candor-intake", daemon=True)
            self._dispatcher.start()

    def pids(self) -> list[int]:
        """Process ids of the running workers (for monitoring; empty in-process)."""
        with self._cond:
            executor = self._executor
        # ProcessPoolExecutor keeps no public list of its processes.
        processes = getattr(executor, "_processes", None) or {}
        return sorted(int(pid) for pid in processes)

    def close(self) -> None:
        """Verify what is already queued, then stop the dispatcher and the workers."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=VERIFY_TIMEOUT)
        with self._cond:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    # -- the state part, in the server ----------------------------------------------------

    def _ring(self) -> tuple[tuple[bytes, ...], int]:
        """The current ring and the index of its last change (decoded once per change:
        `core.state.current_ring`)."""
        keys, changed_at = state.current_ring(self.ledger.intake_view)
        return tuple(keys), changed_at

    def prepare(self, leaf: bytes, signed: e.SignedEntry | None = None,
                escrow: EscrowRequest | None = None) -> tuple[e.SignedEntry, Job]:
        """Take the state the entry is verified against (in this process); `signed` is `leaf`
        already decoded by the caller (decoded here if not given); `escrow`, for a report as
        submitted, has the worker seal its escrow too. The worker decodes the bytes again in
        its own process, with every check of `api.wire`."""
        if signed is None:
            signed = wire.signed_entry_from_bytes(leaf)
        body = signed.entry.body
        subject: bytes | None = None  # a retraction of no report on the ledger: refused by the worker
        if isinstance(body, e.ReportRetracted):
            record = state.report_record(self.ledger.view, body.report_id.hex())
            if record is not None:
                subject = record.subject
        self.ledger.alliance  # noqa: B018 - raises Unavailable before genesis
        ring, changed_at = self._ring()
        if isinstance(body, (e.ReportCommitted, e.ReportRetracted)) and body.ring_change > changed_at:
            # The sender knows of a membership change this process has not heard of yet
            # (another server appended it): read the ring again rather than refuse.
            self.ledger.appended_elsewhere()
            ring, changed_at = self._ring()
        return signed, Job(leaf, ring, changed_at, self.ledger.intake_view.size(), subject, escrow)

    def verify_entry(self, leaf: bytes, signed: e.SignedEntry | None = None,
                     timeout: float = VERIFY_TIMEOUT) -> e.SignedEntry:
        """Verify a report or retraction (`leaf`, and `signed` if the caller decoded it already)
        against the ledger's current state; raise what `core.report_check.verify_report`
        raises for it."""
        if signed is None:
            signed = wire.signed_entry_from_bytes(leaf)
        _outcome_of(self.verify_later(leaf, signed), timeout)
        return signed

    def verify_later(self, leaf: bytes, signed: e.SignedEntry,
                     escrow: EscrowRequest | None = None) -> Future[bytes | None]:
        """`verify_entry` without waiting: the future resolves to the refusal, or to the
        sealed escrow of a report given with its `escrow` request (None for any other entry).
        The state is taken now. In-process (workers=0) it is done before this returns."""
        start = time.perf_counter()
        _, job = self.prepare(leaf, signed, escrow)
        fut = self._later(job)
        observe = self.ledger.metrics.verification.observe
        fut.add_done_callback(lambda _f: observe(time.perf_counter() - start))
        return fut

    def verify(self, job: Job, timeout: float = VERIFY_TIMEOUT) -> None:
        """Verify one job (batched with concurrent ones); raise its error, if any."""
        _outcome_of(self._later(job), timeout)

    def _later(self, job: Job) -> Future[bytes | None]:
        if self.workers:
            return self.submit(job)
        done: Future[bytes | None] = Future()  # in-process: verified here and now
        with self._cond:
            self._start_locked()
        _settle(done, verify_jobs(self._genesis(), [job.wire()], [job.escrow])[0])
        return done

    def submit(self, job: Job) -> Future[bytes | None]:
        """Queue a job for the workers; the future resolves as `verify_later`'s does."""
        if self.workers == 0:
            raise InvalidInput("an in-process verifier (workers=0) verifies synchronously: call verify()")
        fut: Future[bytes | None] = Future()
        with self._cond:
            self._start_locked()
            self._waiting.append(_Waiting(job, fut, time.monotonic()))
            # The dispatcher needs waking only to start a batch's wait or to send a full
            # batch; in between it wakes when its wait ends (a few wake-ups per batch, not
            # one per report: the operator's threads share one interpreter lock).
            if len(self._waiting) == 1 or len(self._waiting) >= self.max_batch:
                self._cond.notify_all()
        return fut

    # -- dispatching ----------------------------------------------------------------------

    def _next_batch(self) -> list[_Waiting] | None:
        """Wait for a free worker and a batch worth sending; None when closed and drained."""
        with self._cond:
            while True:
                if self._waiting and self._inflight < self.workers:
                    first, last = self._waiting[0].since, self._waiting[-1].since
                    due = min(max(first + self.window, last + GAP_PER_WAITING * len(self._waiting)),
                              first + self.max_wait)
                    wait = due - time.monotonic()
                    if len(self._waiting) >= self.max_batch or wait <= 0 or self._closed:
                        break
                    self._cond.wait(wait)
                elif self._closed and not self._waiting:
                    return None
                else:
                    self._cond.wait()
            free = self.workers - self._inflight
            size = min(self.max_batch, max(1, math.ceil(len(self._waiting) / free)))
            batch = [self._waiting.popleft() for _ in range(min(size, len(self._waiting)))]
            self._inflight += 1
            return batch

    def _dispatch_loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            executor = None
            try:
                with self._cond:
                    if self._executor is None:  # the last pool broke: start another
                        self._start_locked()
                    executor = self._executor
                assert executor is not None
                fut = executor.submit(verify_jobs, self._genesis(), [w.job.wire() for w in batch],
                                      [w.job.escrow for w in batch])
            except BrokenProcessPool as exc:  # a worker died since the last batch: `_done` says so
                self._done(batch, executor, None, exc)
                continue
            except (OSError, RuntimeError) as exc:  # the pool cannot take work: no worker process could start
                log.error("the verification pool could not take a batch (%s: %s); the next batch starts a new pool",
                          type(exc).__name__, exc)
                self._drop_pool(executor)
                self._done(batch, executor, None, Unavailable(
                    "the report verifier could not start its workers; retry with the same report id"))
                continue
            except Exception as exc:  # noqa: BLE001 - a bug: these fail with it, the pool is kept
                self._done(batch, executor, None, exc)
                continue
            self.batches += 1
            self.items += len(batch)
            fut.add_done_callback(functools.partial(self._done_future, batch, executor))

    def _drop_pool(self, executor: ProcessPoolExecutor | None) -> None:
        """`executor` can take no more work: the next batch starts a new pool."""
        with self._cond:
            if self._executor is executor:  # not a pool started since
                self._executor = None
        if executor is not None:
            executor.shutdown(wait=False)

    def _done_future(self, batch: list[_Waiting], executor: ProcessPoolExecutor,
                     fut: Future[list[BaseException | bytes | None]]) -> None:
        self._done(batch, executor, fut, None)

    def _done(self, batch: list[_Waiting], executor: ProcessPoolExecutor | None,
              fut: Future[list[BaseException | bytes | None]] | None, error: BaseException | None) -> None:
        outcomes: list[BaseException | bytes | None] | None = None
        if fut is not None:
            error = fut.exception()
            if error is None:
                outcomes = fut.result()
        if error is not None:
            if isinstance(error, BrokenProcessPool):
                log.error("a verification worker died; the next batch starts a new pool")
                self._drop_pool(executor)
                error = Unavailable("the report verifier restarted; retry with the same report id")
            elif not isinstance(error, CandorError):
                log.error("verification batch failed", exc_info=error)
        for i, w in enumerate(batch):
            if outcomes is not None:
                _settle(w.future, outcomes[i])
            else:
                assert error is not None
                w.future.set_exception(error)
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()
