"""How entries reach the ledger's single linear history: the `Sequencer` interface.

docs/architecture.md ("report intake and its ledger append are one transaction: an
acknowledged report is never lost") and §3 (one append-only log, checkpoints signed by the
operator).

A single-process deployment (SQLite) uses `LocalSequencer`: an in-process queue drained by
one thread, up to MAX_BATCH entries a commit (group commit). Several servers over one
PostgreSQL database use `server.shared_sequencer.SharedSequencer`. Both implement
`Sequencer`, the one interface `server.ledger.Ledger` appends through;
`server.app.create_server` picks one by the store (as Tessera's one batching queue serves
every storage driver). `Ledger.prepare` (the state checks and Merkle nodes of a batch) is
the same code for both.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from core.errors import CandorError, Unavailable
from server.storage import MAX_BATCH, AppendBatch, LedgerStore

if TYPE_CHECKING:
    from core import entries as e
    from server.metrics import Histogram, OperatorMetrics

log = logging.getLogger("candor.sequencer")


@dataclass(frozen=True)
class Prepared:
    """A batch ready to commit: `results[i]` is item i's index, or why it was refused.

    `batch` is None when every item was refused (nothing to append).
    """

    first: int
    batch: AppendBatch | None
    results: tuple[int | CandorError, ...]


class Sequenced(Protocol):
    """What a sequencer needs of the ledger it appends to (`server.ledger.Ledger`)."""

    store: LedgerStore
    metrics: OperatorMetrics

    def prepare(self, items: Sequence[tuple[bytes, e.SignedEntry, bool]]) -> Prepared: ...

    def commit(self, batch: AppendBatch, decided: int) -> None: ...

    def committed(self, batch: AppendBatch, decided: int) -> None: ...

    def checkpoint_changed(self) -> None: ...

    def appended_elsewhere(self) -> None: ...

    def entries_changed(self) -> None: ...

    def sign_checkpoint(self) -> tuple[int, bytes] | None: ...


class Sequencer(Protocol):
    """How entries reach the ledger's single linear history, and what this process learns of
    the other servers appending to it (nothing, for a `LocalSequencer`)."""

    @property
    def sequencing(self) -> bool:
        """Whether this process appends and signs checkpoints now."""
        ...

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The background threads `start` began (empty once stopped)."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None:
        """Append what is queued, sign a last checkpoint if this process sequences, stop the
        threads; a call still waiting is answered."""
        ...

    def submit(self, leaf: bytes, signed: e.SignedEntry, *, verified: bool) -> Future[int]:
        """Queue a decoded, checked entry; the future resolves to its index or its refusal."""
        ...

    def announce_checkpoint(self) -> None:
        """A new checkpoint was signed: tell the servers whose receipts wait for it."""
        ...

    def publish_cosigned(self, size: int) -> None:
        """Checkpoint `size` reached the witness quorum here: tell the other servers."""
        ...

    def cosigned_elsewhere(self) -> int:
        """The largest quorum-cosigned size the other servers told of since the last call (-1: none)."""
        ...


@dataclass
class Pending:
    """An entry a call queued and waits on (with a shared store: not yet in the intake table).
    Every outcome reaches the call through `answer`."""

    leaf: bytes
    signed: e.SignedEntry
    verified: bool
    latency: Histogram  # the ledger's append latency, observed when the call is answered
    request_id: str = ""  # the call's, recorded with its intake row
    future: Future[int] = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)

    def answer(self, result: int | CandorError) -> None:
        """Resolve the waiting call: the entry's ledger index, or why it was refused."""
        self.latency.observe(time.perf_counter() - self.queued_at)
        if isinstance(result, int):
            self.future.set_result(result)
        else:
            self.future.set_exception(result)


def refuse_waiting(calls: Iterable[Pending], error: CandorError) -> None:
    """Answer `error` to each of `calls` not answered yet (a batch that failed part-way may
    have answered some; `Pending.answer` itself raises on a second answer, which is a bug)."""
    for p in calls:
        if not p.future.done():
            p.answer(error)


class LocalSequencer:
    """One process appends: an in-process queue drained by one thread, up to MAX_BATCH
    entries a commit (group commit)."""

    def __init__(self, ledger: Sequenced) -> None:
        self.ledger = ledger
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @property
    def sequencing(self) -> bool:
        return True

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        return tuple(self._threads)

    def start(self) -> None:
        self.ledger.metrics.sequencer.set(1)
        t = threading.Thread(target=self._sequence_loop, name="candor-sequencer", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self._queue.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    def submit(self, leaf: bytes, signed: e.SignedEntry, *, verified: bool) -> Future[int]:
        pending = Pending(leaf, signed, verified, self.ledger.metrics.append_latency)
        self._queue.put(pending)
        return pending.future

    def announce_checkpoint(self) -> None:
        pass  # the only server: its own waiters are woken by the ledger

    def publish_cosigned(self, size: int) -> None:
        pass

    def cosigned_elsewhere(self) -> int:
        return -1

    def _sequence_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Pending] = []
            stop = item is None
            if item is not None:
                batch.append(item)
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            if batch:
                try:
                    self._commit(batch)
                except CandorError as exc:
                    refuse_waiting(batch, exc)
                except Exception as exc:  # a bug or the database: fail the batch, keep serving
                    log.exception("sequencer batch failed")
                    refuse_waiting(batch, Unavailable(f"append failed: {type(exc).__name__}"))
            if stop:
                break
        try:
            self.ledger.sign_checkpoint()  # the last entries appended get their checkpoint
        except Exception:  # noqa: BLE001
            log.exception("signing the final checkpoint failed")

    def _commit(self, batch: list[Pending]) -> None:
        """Prepare and commit `batch`, then answer every call in it. Refusals wait for the
        commit too: one may rest on an earlier entry of the same batch (a second copy of a
        report is ALREADY_EXISTS because of the first), which a failed commit did not
        append; then the whole batch is told to retry (`_sequence_loop`)."""
        prepared = self.ledger.prepare([(p.leaf, p.signed, p.verified) for p in batch])
        if prepared.batch is not None:
            self.ledger.commit(prepared.batch, len(batch))
        for p, result in zip(batch, prepared.results):
            p.answer(result)


