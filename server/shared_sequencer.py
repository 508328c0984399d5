"""One sequencer, many servers: the ledger's single linear history over a shared database.

docs/architecture.md ("PostgreSQL for a deployment of several stateless servers over one
database"; "Intake over a shared store"). The `Sequencer` interface this implements, and
the single-process `LocalSequencer`: server/sequencer.py.

Every server accepts calls and verifies reports where they arrive (the expensive crypto runs
in parallel on all servers). Appending is serialised through the database:

1. Hand-off. The accepting server queues the verified entry in memory; its hand-off thread
   inserts everything queued into the `intake` table in one statement (`intake_submit`,
   durable, with a NOTIFY: one commit for a whole verified batch, not one per report) and
   the call waits for its outcome.
2. Sequencing. Exactly one server holds the sequencer lease: a session-level PostgreSQL
   advisory lock on a dedicated connection (`PostgresStore.try_sequencer_lease`). Its
   sequencer thread drains pending rows in id order, up to MAX_BATCH at a time (group
   commit), re-checks each against the state as it stands after the rows before it
   (`Ledger.prepare`, the same code as the single-process path, which appends the reports
   of a batch in a fresh random order: docs/reports.md) and commits, through the
   lease's own connection and in ONE transaction: the entries, Merkle nodes, state updates,
   and every row's outcome (ledger index, or error class and message), each row moving
   from the queue to `intake_outcome`. The commit is a compare-and-set on the ledger size,
   and a row's outcome is written only if the row is still undecided and its leaf is the
   entry at the named index.
3. Answer. A watcher thread on each server LISTENs for outcomes, collects those of its own
   rows and resolves the waiting calls; the call then waits for a checkpoint covering the
   index (signed by the sequencer; read from the shared store) and returns the receipt.

The lease holder's own entries skip the table: while it holds the lease, its calls queue
their entries for its own sequencer thread, which appends them in the same transactions
as the rows (`SharedSequencer._set_direct`), and answers them once that transaction has
committed. If a commit fails on the database, the sequencer reads the ledger on another
connection to learn whether the batch was appended (`_landed`). If the holder loses the
lease, what its lane still holds goes to the intake table for the next holder.

Why nothing acknowledged is lost and nothing forks:
- A call is answered with an index only after the transaction holding both the entry and
  that outcome committed. A sequencer killed mid-batch rolls back everything of the batch;
  its rows stay pending and the next lease holder appends them. The calls of its own lane
  die with it, unanswered, as any call to a server that dies does: their clients resend.
- Two sequencers cannot both commit: only the lock holder sequences; it commits on the
  lock's own session, so losing the session (and the lock) makes its next commit fail; and a
  writer that bypasses all this still meets the compare-and-set on the ledger size and the
  schema's primary key and contiguity trigger: it gets Conflict and writes nothing.
- Followers poll `pg_try_advisory_lock` every `lease_poll` seconds on one kept connection:
  when the holder dies, PostgreSQL drops its session and a follower takes over within about
  that interval (plus TCP keepalive detection if the host vanished without closing sockets).
- A row waits at most `intake_timeout` seconds. After that the sequencer refuses it as
  expired (checked inside the commit transaction, on the database clock), and its server,
  which waits a little longer, cancels it (a definitive update) or, if the database is
  gone, reports UNAVAILABLE: in every case "not appended" then really means not appended.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from api import wire
from api.status import STATUS
from core import errors
from core.errors import CandorError, Conflict, Unavailable
from server.sequencer import Pending, Sequenced, refuse_waiting
from server.storage import MAX_BATCH, AppendBatch

if TYPE_CHECKING:
    from core import entries as e
    from server.postgres_intake import IntakeListener, IntakeOutcome, IntakeRow, SequencerLease

log = logging.getLogger("candor.sequencer")

#: Side log of checkpoint sizes that reached the witness quorum (shared stores only).
COSIGNED_LOG = "ledger/cosigned"
#: Extra seconds a server waits beyond the sequencer's expiry before deciding for itself.
WAIT_MARGIN = 2.0
#: Decided rows whose server never collected them are deleted after this long.
PURGE_AFTER = 3600.0

#: The error classes an outcome may name, most specific first: every class a caller can tell
#: apart by its gRPC status (a refusal the sequencer decides on another server reaches the
#: caller as it would from this one: a stale ring stays StaleRing, which the SDK rebuilds for).
_ERRORS: tuple[type[CandorError], ...] = (*(cls for cls, _code in STATUS), errors.CandorError)
_BY_NAME = {cls.__name__: cls for cls in _ERRORS}


def error_class(exc: CandorError) -> str:
    """The most specific class of `exc` that an outcome can carry."""
    for cls in _ERRORS:
        if isinstance(exc, cls):
            return cls.__name__
    return "CandorError"


def error_from(name: str | None, message: str | None) -> CandorError:
    """Rebuild the error an outcome names (unknown names become a plain CandorError)."""
    cls = _BY_NAME.get(name or "", CandorError)
    return cls(message or "refused by the sequencer")


def default_server_name() -> str:
    """host-pid-random: unique per process, readable in the intake table and pg_stat_activity."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(2)}"


@runtime_checkable
class SharedStore(Protocol):
    """What a store offers beyond `LedgerStore` so that several servers can share it."""

    def intake_submit(self, entries: Sequence[tuple[bytes, bool, str]], *, server: str) -> list[int]: ...

    def intake_collect(self, ids: Sequence[int]) -> list[IntakeOutcome]: ...

    def intake_cancel(self, ids: Sequence[int], error_class: str, message: str) -> int: ...

    def intake_purge(self, older_than: float) -> int: ...

    def notify(self, payload: str) -> None: ...

    def listener(self) -> IntakeListener: ...

    def try_sequencer_lease(self, holder: str) -> SequencerLease | None: ...


@dataclass
class _Waiter:
    pending: Pending  # its `signed` is the leaf decoded at intake: the sequencer reuses it for this server's rows
    deadline: float  # time.monotonic()


class SharedSequencer:
    """Hand-off, lease and sequencing for one server of a multi-server deployment."""

    def __init__(self, ledger: Sequenced, store: SharedStore, *, name: str | None = None,
                 intake_timeout: float = 20.0, lease_poll: float = 0.5, poll: float = 0.2) -> None:
        if intake_timeout <= 0 or lease_poll <= 0 or poll <= 0:
            raise errors.InvalidInput("intake_timeout, lease_poll and poll must be positive seconds")
        self.ledger = ledger
        self.store = store
        self.name = name or default_server_name()
        self.intake_timeout = intake_timeout
        self.lease_poll = lease_poll
        self.poll = poll
        self._lock = threading.Lock()
        self._waiting: dict[int, _Waiter] = {}
        self._outbox: list[Pending] = []  # accepted, not yet handed off (under _outbox_cond)
        # This server's own entries while it holds the lease: its sequencer takes them from
        # here, without the intake table's round trip (under _outbox_cond; see `_set_direct`).
        self._direct: list[Pending] = []
        self._direct_open = False
        self._outbox_cond = threading.Condition()
        self._closed = False  # no more hand-offs: the server is stopping
        self._wake = threading.Event()  # rows may be pending
        self._stop = threading.Event()  # stop sequencing (drain first if holding the lease)
        self._watch_stop = threading.Event()
        self._lease: SequencerLease | None = None
        self._threads: list[threading.Thread] = []
        self._last_purge = time.monotonic()
        self._cosign_cursor = 0  # last COSIGNED_LOG record read
        ledger.metrics.bind_intake_waiting(lambda: float(len(self._waiting)))

    # -- state --------------------------------------------------------------------------------

    @property
    def sequencing(self) -> bool:
        lease = self._lease
        return lease is not None and lease.alive

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        return tuple(self._threads)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    # -- threads ------------------------------------------------------------------------------

    def start(self) -> None:
        for target, name in ((self._sequence_loop, "sequencer"), (self._watch_loop, "intake-watch"),
                             (self._hand_off_loop, "intake-hand-off")):
            t = threading.Thread(target=target, name=f"candor-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, drain: float = 10.0) -> None:
        """Drain and release the lease if held, answer what can be answered, stop the threads."""
        with self._outbox_cond:  # what was accepted is handed off first, then nothing more
            self._closed = True
            self._outbox_cond.notify_all()
        seq, watch, hand_off = self._threads if len(self._threads) == 3 else (None, None, None)
        if hand_off is not None:
            hand_off.join(timeout=drain + 5)
        self._refuse_unsent()  # left behind by a hand-off stuck on the database
        self._stop.set()
        self._wake.set()
        if seq is not None:
            seq.join(timeout=drain + 5)
        self._refuse_unsent()  # the sequencer's own lane, handed back after the hand-off ended
        deadline = time.monotonic() + 2.0
        while self.waiting() and time.monotonic() < deadline:
            time.sleep(0.05)  # the watcher collects outcomes of the last batch
        self._watch_stop.set()
        if watch is not None:
            watch.join(timeout=5)
        self._threads.clear()
        with self._lock:
            left, self._waiting = self._waiting, {}
        refuse_waiting((waiter.pending for waiter in left.values()), Unavailable(
            "this server shut down before the sequencer confirmed the append; ask GetReceipt "
            "on another server, or resend the same report id (ALREADY_EXISTS means it was appended)"))

    def _refuse_unsent(self) -> None:
        """Answer the entries that were never queued with the database (the server stops)."""
        with self._outbox_cond:
            unsent, self._outbox = self._outbox, []
        for queued in unsent:
            queued.answer(Unavailable(
                "this server shut down before it could queue the entry for the sequencer; it was not "
                "appended: resend it to another server"))

    # -- hand-off (any server) ------------------------------------------------------------------

    def submit(self, leaf: bytes, signed: e.SignedEntry, *, verified: bool) -> Future[int]:
        """Queue a decoded, checked entry; the future resolves to its index or its refusal
        (Unavailable if the database could not take its intake row: nothing was queued).

        While this server holds the lease, its own entries go straight to its sequencer
        (`_set_direct`); otherwise, or once it loses the lease, through the intake table."""
        from server.logging_setup import current_request_id

        queued = Pending(leaf, signed, verified, self.ledger.metrics.append_latency, current_request_id())
        with self._outbox_cond:
            if self._closed:
                raise Unavailable("this server is shutting down: send the entry to another server")
            if self._direct_open:
                self._direct.append(queued)
                self._wake.set()
            else:
                self._outbox.append(queued)
                self._outbox_cond.notify()
        return queued.future

    def _set_direct(self, open_: bool) -> None:
        """Open the lease holder's own lane, or close it and hand what it holds to the intake
        table, where the next lease holder (maybe this server again) will find it.

        The lane saves the holder's own entries the intake table's round trip: the insert of
        the leaf, the sequencer's read of it, the outcome's update and its collection. It
        changes nothing of what an answer means: an entry is answered with an index only after
        the transaction that appended it committed (`_step`), as a row's outcome is."""
        with self._outbox_cond:
            self._direct_open = open_
            if not open_ and self._direct:
                self._outbox[:0], self._direct = self._direct, []
                self._outbox_cond.notify()

    def _take_direct(self, limit: int) -> list[Pending]:
        with self._outbox_cond:
            taken, self._direct = self._direct[:limit], self._direct[limit:]
        return taken

    def _give_back(self, direct: list[Pending], *, to_intake: bool) -> None:
        """Entries of the lane whose batch wrote nothing: first in line again, on the lane or
        (`to_intake`: where a poison entry is isolated row by row) through the intake table."""
        direct = [p for p in direct if not p.future.done()]
        if not direct:
            return
        with self._outbox_cond:
            if to_intake or not self._direct_open:
                self._outbox[:0] = direct
                self._outbox_cond.notify()
            else:
                self._direct[:0] = direct

    def _hand_off_loop(self) -> None:
        """Insert what calls queued into the intake table, all of it in one statement: a
        verified batch resolves many calls at once, and one commit then serves them all."""
        while True:
            with self._outbox_cond:
                while not self._outbox and not self._closed:
                    self._outbox_cond.wait()
                if not self._outbox:
                    return  # closed, and everything accepted was handed off
                group, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            self._hand_off(group)

    def _hand_off(self, group: list[Pending]) -> None:
        refusal: CandorError
        try:
            ids = self.store.intake_submit([(q.leaf, q.verified, q.request_id) for q in group], server=self.name)
        except CandorError as exc:  # the database refused or is gone: nothing was queued
            refusal = exc
        except Exception as exc:  # noqa: BLE001 - a bug: each call gets a refusal; the thread lives on
            log.error("intake hand-off failed", exc_info=exc)
            refusal = Unavailable(f"queueing the entry for the sequencer failed ({type(exc).__name__}); "
                                  "it was not appended: resend it")
        else:
            deadline = time.monotonic() + self.intake_timeout + WAIT_MARGIN
            with self._lock:
                for q, intake_id in zip(group, ids):
                    self._waiting[intake_id] = _Waiter(q, deadline)
            self._wake.set()  # this server may be the sequencer: no need to wait for the NOTIFY
            return
        for q in group:
            q.answer(refusal)

    def _watch_loop(self) -> None:
        listener: IntakeListener | None = None
        while not self._watch_stop.is_set():
            payloads: set[str] = set()
            if listener is None:
                try:
                    listener = self.store.listener()
                except CandorError as exc:
                    log.debug("cannot listen for intake notifications yet: %s", exc)
            if listener is not None:
                try:
                    payloads = listener.wait(self.poll)
                except CandorError as exc:
                    log.warning("intake notifications interrupted (%s); reconnecting", exc)
                    listener.close()
                    listener = None
            else:
                self._watch_stop.wait(self.poll)
            if "intake" in payloads:
                self._wake.set()
            if "outcome" in payloads or not payloads:  # a commit, or silence: a lost notification
                self.ledger.appended_elsewhere()
            if payloads & {"checkpoint", "outcome", "cosigned"}:
                self.ledger.checkpoint_changed()  # receipt and cosignature waiters re-check
            try:
                self._collect()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                log.exception("collecting intake outcomes failed; retrying")
        if listener is not None:
            listener.close()

    def _collect(self) -> None:
        with self._lock:
            ids = list(self._waiting)
        if not ids:
            return
        try:
            outcomes = self.store.intake_collect(ids)
        except Unavailable as exc:
            self._give_up(exc)
            return
        for outcome in outcomes:
            with self._lock:
                waiter = self._waiting.pop(outcome.id, None)
            if waiter is None or waiter.pending.future.done():
                continue
            waiter.pending.answer(outcome.index if outcome.index is not None
                                  else error_from(outcome.error_class, outcome.error_message))
        now = time.monotonic()
        with self._lock:
            overdue = [i for i, w in self._waiting.items() if w.deadline <= now]
        if overdue:
            # Definitive: a row being committed right now is locked by the sequencer, so the
            # cancel waits and finds it decided; a row cancelled here can never be appended.
            self.store.intake_cancel(overdue, "Unavailable",
                                     f"no sequencer appended this entry within {self.intake_timeout:g} s; it was "
                                     "not appended: resend it (same report id)")

    def _give_up(self, exc: Unavailable) -> None:
        """The database is unreachable: fail the waiters whose rows can no longer be appended."""
        now = time.monotonic()
        with self._lock:
            overdue = [(i, w) for i, w in self._waiting.items() if w.deadline <= now]
            for i, _ in overdue:
                del self._waiting[i]
        refuse_waiting((waiter.pending for _, waiter in overdue), Unavailable(
            f"the database became unreachable before the append was confirmed ({exc}); the entry "
            f"expired unappended after {self.intake_timeout:g} s: resend it once the service is back"))

    # -- sequencing (the lease holder) ------------------------------------------------------------

    def _sequence_loop(self) -> None:
        while not self._stop.is_set():
            try:
                lease = self.store.try_sequencer_lease(self.name)
            except CandorError as exc:
                log.debug("cannot try the sequencer lease: %s", exc)
                lease = None
            if lease is None:
                self._stop.wait(self.lease_poll)
                continue
            self._lease = lease
            self.ledger.metrics.sequencer.set(1)
            self.ledger.metrics.takeovers.inc()
            log.info("this server (%s) now sequences the ledger", self.name)
            try:
                self._sequence(lease)
            except Exception:  # noqa: BLE001 - give the lease up and try again
                log.exception("sequencer failed; releasing the lease")
            finally:
                self._lease = None
                self.ledger.metrics.sequencer.set(0)
                lease.release()
                log.info("this server (%s) no longer sequences the ledger", self.name)

    def _sequence(self, lease: SequencerLease) -> None:
        self.ledger.entries_changed()  # sign for entries the previous holder left unsigned
        self._set_direct(True)
        try:
            self._sequence_batches(lease)
        finally:
            self._set_direct(False)
        if lease.alive:
            try:
                self.ledger.sign_checkpoint()
            except Exception:  # noqa: BLE001
                log.exception("signing the final checkpoint failed")

    def _sequence_batches(self, lease: SequencerLease) -> None:
        limit = MAX_BATCH
        drain_until: float | None = None
        while True:
            if self._stop.is_set():
                if drain_until is None:
                    drain_until = time.monotonic() + 5.0
                if time.monotonic() > drain_until:
                    break
            self._wake.clear()  # before looking: a wake-up from now on is not lost
            # Half a batch at most from this server's own lane while other servers' rows wait.
            direct = self._take_direct(max(1, limit // 2))
            try:
                rows = lease.pending(limit - len(direct), self.intake_timeout) if len(direct) < limit else []
            except Unavailable as exc:
                self._give_back(direct, to_intake=False)
                if not lease.alive:
                    log.warning("sequencer lease lost: %s", exc)
                    return
                time.sleep(self.poll)
                continue
            direct += self._take_direct(limit - len(direct) - len(rows))
            if not rows and not direct:
                if self._stop.is_set():
                    break
                self._maybe_purge()
                self._wake.wait(self.poll)
                continue
            try:
                self._step(lease, rows, direct)
                limit = MAX_BATCH
            except Conflict as exc:
                # The ledger moved (someone appended around the lease, e.g. a genesis
                # bootstrap) or a row was cancelled meanwhile: rebuild from the new state.
                self._give_back(direct, to_intake=False)
                log.info("sequencer batch refused, rebuilding: %s", exc)
                time.sleep(0.01)
            except Unavailable as exc:
                self._give_back(direct, to_intake=False)  # not appended, or not answerable here
                if not lease.alive:
                    log.warning("sequencer lease lost mid-batch (nothing of the batch was written): %s", exc)
                    return
                time.sleep(self.poll)
            except Exception:  # noqa: BLE001 - isolate a poison row rather than stall the ledger
                self._give_back(direct, to_intake=True)  # nothing was written; rows isolate it
                if len(rows) > 1:
                    log.exception("sequencer batch failed; retrying one entry at a time")
                    limit = 1
                elif rows:
                    log.exception("intake row %d cannot be appended; refusing it", rows[0].id)
                    self._refuse(lease, rows[0])
                else:
                    log.exception("sequencer batch of this server's own entries failed; queueing them as "
                                  "intake rows, appended or refused one at a time")

    def _step(self, lease: SequencerLease, rows: Sequence[IntakeRow], direct: Sequence[Pending]) -> None:
        """Append `direct` (this server's own entries) and `rows` in one transaction, which
        also records each row's outcome; then answer the direct entries."""
        from server.postgres_intake import IntakeOutcome

        outcomes: list[IntakeOutcome] = []
        items = [(p.leaf, p.signed, p.verified) for p in direct]
        decoded_rows = []
        for row in rows:
            if row.expired:
                outcomes.append(IntakeOutcome(row.id, error_class="Unavailable", error_message=(
                    f"the ledger did not append this entry within {self.intake_timeout:g} s of its arrival; "
                    "it was not appended: resend it (same report id)")))
                continue
            with self._lock:
                mine = self._waiting.get(row.id)
            if mine is not None and mine.pending.leaf == row.leaf:
                signed = mine.pending.signed  # queued by this server: decoded already
            else:
                try:
                    signed = wire.signed_entry_from_bytes(row.leaf)
                except CandorError as exc:
                    outcomes.append(IntakeOutcome(row.id, error_class=error_class(exc), error_message=str(exc)))
                    continue
            items.append((row.leaf, signed, row.verified))
            decoded_rows.append(row)
        results: tuple[int | CandorError, ...] = ()
        if items:
            prepared = self.ledger.prepare(items)
            results = prepared.results
            for row, result in zip(decoded_rows, results[len(direct):]):
                if isinstance(result, int):
                    outcomes.append(IntakeOutcome(row.id, index=result))
                else:
                    outcomes.append(IntakeOutcome(row.id, error_class=error_class(result), error_message=str(result)))
            batch = prepared.batch or AppendBatch(first_index=prepared.first, entries=())
        else:
            batch = AppendBatch(first_index=self.ledger.store.size(), entries=())
        own = results[:len(direct)]
        start = time.perf_counter()
        try:
            lease.commit(batch, outcomes, self.intake_timeout, direct=[r for r in own if isinstance(r, int)])
        except Unavailable as exc:
            if not self._landed(batch, direct, own, exc):
                raise
            log.warning("the database failed after it committed a batch (%s); the ledger holds it", exc)
        log.debug("sequenced %d entries at %d (%d refused, %d from this server) in %.1f ms; requests %s",
                  len(batch.entries), batch.first_index, len(outcomes) + len(direct) - len(batch.entries),
                  len(direct), (time.perf_counter() - start) * 1000,
                  ",".join(r for r in [p.request_id for p in direct] + [r.request_id for r in rows] if r)[:400])
        try:
            self.ledger.committed(batch, len(outcomes) + len(direct))
        finally:  # committed: whatever the bookkeeping does, these answers stand
            for p, result in zip(direct, own):
                p.answer(result)

    def _landed(self, batch: AppendBatch, direct: Sequence[Pending], own: Sequence[int | CandorError],
                exc: Unavailable) -> bool:
        """Whether a commit that failed on the database had made `batch` durable first (a
        connection lost at COMMIT), as far as the lane's entries can tell.

        The ledger, read on another connection, says which: an entry of the lane found at the
        index this batch gave it was appended, and the whole batch with it (one transaction).
        Without such an entry (no lane entries, or only refused ones) the answer is no, which
        costs nothing: rows are decided in the same transaction, and a refusal is decided
        again. If the ledger cannot be read, the lane's appended entries are told that they
        may or may not be appended (only their clients can resend), and the answer is no.
        """
        first = batch.first_index
        mine = [(p, i) for p, i in zip(direct, own) if isinstance(i, int)]
        if not mine:
            return False
        try:
            stored = self.ledger.store.entries(first, first + len(batch.entries))
        except CandorError:
            for p, _ in mine:
                p.answer(Unavailable(
                    f"the database failed while appending this entry ({exc}); it may or may not be appended: "
                    "resend the same report id (ALREADY_EXISTS means it was appended)"))
            return False
        return all(i - first < len(stored) and stored[i - first] == p.leaf for p, i in mine)

    def _refuse(self, lease: SequencerLease, row: IntakeRow) -> None:
        from server.postgres_intake import IntakeOutcome

        try:
            lease.commit(AppendBatch(first_index=self.ledger.store.size(), entries=()),
                         [IntakeOutcome(row.id, error_class="CandorError",
                                        error_message="internal error while appending this entry")],
                         self.intake_timeout)
        except CandorError as exc:
            log.warning("could not refuse intake row %d: %s", row.id, exc)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < 60:
            return
        self._last_purge = now
        try:
            purged = self.store.intake_purge(max(PURGE_AFTER, 10 * self.intake_timeout))
            if purged:
                log.info("purged %d intake outcomes nobody collected", purged)
        except CandorError as exc:
            log.debug("intake purge skipped: %s", exc)

    def announce_checkpoint(self) -> None:
        try:
            self.store.notify("checkpoint")
        except CandorError as exc:
            log.debug("checkpoint notification not sent: %s", exc)

    def publish_cosigned(self, size: int) -> None:
        self.ledger.store.append_log(COSIGNED_LOG, str(size).encode())
        try:
            self.store.notify("cosigned")  # wakes `Ledger.wait_cosigned` on the other servers
        except CandorError as exc:
            log.debug("cosignature notification not sent: %s", exc)

    def cosigned_elsewhere(self) -> int:
        # Witnesses may cosign through any server: catch up on what the others recorded.
        newest = -1
        for record_id, raw in self.ledger.store.read_log(COSIGNED_LOG, self._cosign_cursor, 1000):
            self._cosign_cursor = record_id
            newest = max(newest, int(raw))
        return newest
