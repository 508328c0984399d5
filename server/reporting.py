"""Taking reports from members: one at a time (`SubmitReport`) or many on one call
(`SubmitReports`), with the same checks and the same receipt (docs/reports.md).

Why a stream. A unary SubmitReport holds one server thread from request to receipt: the
escrow seal, verification in a worker process, the sequencer's commit and the next
checkpoint. With a thread per report in flight the operator's process spends much of its
CPU handing the interpreter lock from thread to thread, and verification batches stay as
small as the number of threads waiting (docs/performance.md). A stream keeps up to
`WINDOW` reports of one member in flight on two threads: a reader that checks, seals and
queues each report as it arrives, and the handler that answers them in the order sent.
Reports arrive several to a message and are answered several to a message, since every
message costs both threads a wake-up and gRPC a round of its completion queue.

Each streamed report gets exactly what SubmitReport gives it: the same decoding and escrow
checks (`admit_entry`), the same verification and escrow seal (`Verifier.verify_later`: the
batch verdict of `core.report_check`, in a worker process), the same sequencer and the same
receipt. A refusal is that report's `Refusal` (the gRPC status name and message the unary
call would have answered, from the table in api/status.py), and the stream goes on. A
report whose outcome never reached the member (the stream broke) may or may not be on the
ledger: sending the identical bytes again is answered ALREADY_EXISTS if it is, and the SDK
then fetches its receipt (docs/reports.md), as after a lost unary answer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import grpc
from google.protobuf.message import DecodeError

from api import wire
from api.status import status_for
from api.v1 import governance_pb2 as gov
from core import entries as e
from core.errors import InvalidInput, ResourceExhausted, Unavailable
from server.intake import EscrowRequest, Verifier, escrow_request, with_escrow
from server.ledger import Ledger, Receipt
from server.serving import Malformed

log = logging.getLogger("candor.reporting")
T = TypeVar("T")

APPEND_TIMEOUT = 30.0
WINDOW = 64
"""Reports of one stream in flight at once (read, not yet answered): the reader waits for
room, so a member that sends faster than the ledger appends is slowed, not buffered."""
IDLE_SECONDS = 30.0
"""A stream on which nothing arrives for this long, with every report answered, is closed
(UNAVAILABLE): an idle stream would otherwise hold a server thread for ever."""


def receipt_to_proto(r: Receipt, into: gov.Receipt | None = None) -> gov.Receipt:
    """`r` as a Receipt message: written into `into` (a field of a message being built, such as
    a stream result's, so that a receipt and its 2-5 KB leaf are not copied into it again) or
    into a new one."""
    out = gov.Receipt() if into is None else into
    out.index = r.index
    out.checkpoint.note = r.checkpoint_note
    out.checkpoint.size = r.checkpoint_size
    out.inclusion_proof.extend(r.inclusion_proof)
    out.leaf_hash = r.leaf_hash
    out.leaf = r.leaf
    return out


def admit_entry(ledger: Ledger, member: str, request: gov.SubmitEntryRequest,
                kind: type[e.ReportCommitted] | type[e.ReportRetracted]) -> tuple[bytes, e.SignedEntry,
                                                                                   EscrowRequest | None]:
    """The leaf to verify for `request` from `member` (authenticated over mTLS), decoded once
    and passed on as (bytes, object), with a report's escrow request: its cheap checks are
    made here, before any expensive crypto; its signature is verified and the escrow sealed
    by the verification worker, beside the report's proofs (`Verifier.verify_later`).

    The leaf's canonical encoding is checked there too, not here: the worker decodes the
    bytes again with every check of `api.wire` before anything else (`client.batch.decode_job`)
    and refuses a non-canonical leaf whole, so nothing this process reads from it before
    then (the kind, the escrow's absence, the ring change) can let one be appended, and
    the re-encoding is paid once a report."""
    submitted = wire.signed_entry_from_bytes(request.signed_entry, check_canonical=False)
    if not isinstance(submitted.entry.body, kind):
        raise InvalidInput(f"this call takes a {kind.__name__} entry, not {submitted.entry.kind}")
    if kind is e.ReportCommitted:
        return (request.signed_entry, submitted,
                escrow_request(ledger.intake_view, member, submitted, request.escrow_signature))
    if request.escrow_signature:
        raise InvalidInput("only SubmitReport takes an escrow signature")
    return request.signed_entry, submitted, None


def append_later(ledger: Ledger, verifier: Verifier, leaf: bytes, signed: e.SignedEntry,
                 escrow: EscrowRequest | None = None) -> Future[tuple[int, bytes]]:
    """Verify (and seal a report's `escrow`), then queue for the sequencer, without waiting:
    the future resolves to the entry's index and the leaf appended, or to the refusal."""
    appended: Future[tuple[int, bytes]] = Future()

    def verified(fut: Future[bytes | None]) -> None:
        error = fut.exception()
        if error is not None:
            appended.set_exception(error)
            return
        sealed = fut.result()
        try:
            stored_leaf, stored = (leaf, signed) if sealed is None else with_escrow(signed, sealed)

            def forward(done: Future[int]) -> None:
                failed = done.exception()
                if failed is None:
                    appended.set_result((done.result(), stored_leaf))
                else:
                    appended.set_exception(failed)

            ledger.submit(stored_leaf, stored, verified=True).add_done_callback(forward)
        except Exception as exc:  # noqa: BLE001 - shutting down: this report's refusal
            appended.set_exception(exc)

    verifier.verify_later(leaf, signed, escrow).add_done_callback(verified)
    return appended


def answer(ledger: Ledger, index: int) -> gov.Receipt:
    """The receipt of entry `index`, once a checkpoint covers it."""
    return receipt_to_proto(ledger.receipt(index))


def _appended(appended: Future[T]) -> T:
    try:
        return appended.result(timeout=APPEND_TIMEOUT)
    except FutureTimeout:
        raise Unavailable("the ledger did not append in time; retry with the same report id") from None


def wait_appended(ledger: Ledger, appended: Future[int], leaf: bytes) -> gov.Receipt:
    """The receipt once `appended`, the append of `leaf`, resolves."""
    return receipt_to_proto(ledger.receipt(_appended(appended), leaf=leaf))


def wait_report(ledger: Ledger, appended: Future[tuple[int, bytes]], into: gov.Receipt | None = None) -> gov.Receipt:
    """The receipt once `appended` (from `append_later`) resolves (written into `into`, as
    `receipt_to_proto` does)."""
    index, leaf = _appended(appended)
    return receipt_to_proto(ledger.receipt(index, leaf=leaf), into)


def _refused(error: BaseException) -> gov.Refusal:
    code, message = status_for(error)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unhandled error in a streamed report", exc_info=error)
    return gov.Refusal(code=code.name, message=message)


class StreamSlots:
    """At most `limit` report streams open at once on this server: each holds a server thread
    while open, and unary calls need the rest. `readers` has a reading thread for each."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise InvalidInput("a server allows at least one report stream")
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)
        # Twice the streams: a closed stream's reader may take a moment to notice.
        self.readers = ThreadPoolExecutor(2 * limit, thread_name_prefix="candor-report-stream")

    def __enter__(self) -> StreamSlots:
        if not self._free.acquire(blocking=False):
            raise ResourceExhausted(f"this server already has {self.limit} report streams open; retry shortly, "
                                    "or send reports one by one with SubmitReport")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._free.release()


def serve_stream(ledger: Ledger, verifier: Verifier, member: str, requests: Iterator[object],
                 readers: Executor, window: int = WINDOW) -> Iterator[gov.SubmitReportsResponse]:
    """Answer each report of `requests` in order, with up to `window` of them in flight;
    raise Unavailable once nothing has arrived for IDLE_SECONDS and all is answered.

    Reports come several to a message and are answered several to a message: with the next
    outcome due, the handler sends every later one already decided (at most
    `wire.REPORTS_PER_MESSAGE`)."""
    pending: queue.Queue[tuple[int, Future[tuple[int, bytes]]] | None] = queue.Queue()
    room = threading.Semaphore(window)
    finished = threading.Event()

    def start(position: int, request: gov.SubmitEntryRequest | InvalidInput) -> tuple[int, Future[tuple[int, bytes]]]:
        try:
            if isinstance(request, InvalidInput):
                raise request
            return position, append_later(ledger, verifier, *admit_entry(ledger, member, request, e.ReportCommitted))
        except Exception as exc:  # noqa: BLE001 - this report's refusal, answered in its turn
            refused: Future[tuple[int, bytes]] = Future()
            refused.set_exception(exc)
            return position, refused

    def read() -> None:
        position = 0
        try:
            for message in requests:
                for request in _reports_of(message, position):
                    while not room.acquire(timeout=0.5):
                        if finished.is_set():
                            return
                    pending.put(start(position, request))
                    position += 1
        except grpc.RpcError:
            pass  # the member cancelled or the connection broke: answer what was read
        except Exception:  # noqa: BLE001 - keep serving the reports already read
            log.exception("reading a report stream failed")
        finally:
            pending.put(None)

    def answered(item: tuple[int, Future[tuple[int, bytes]]], result: gov.SubmitResult) -> None:
        """Write the outcome of `item` into `result`, a new result of the message being built."""
        position, appended = item
        result.position = position
        try:
            wait_report(ledger, appended, result.receipt)
        except Exception as exc:  # noqa: BLE001 - refused or failed: this report's answer
            result.refusal.CopyFrom(_refused(exc))  # one of: whatever of a receipt was written goes
        ledger.metrics.reports.inc(method="SubmitReports",
                                   status=result.refusal.code if result.HasField("refusal") else "OK")
        room.release()

    readers.submit(read)  # pooled threads: each keeps its store connection for the next stream
    try:
        carry: tuple[int, Future[tuple[int, bytes]]] | None = None  # taken, not yet decided
        ended = False
        while True:
            if carry is None:
                if ended:
                    break
                try:
                    carry = pending.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    raise Unavailable(f"no report arrived on this stream for {IDLE_SECONDS:.0f} s; it is closed: "
                                      "open a new stream to send more") from None
                if carry is None:
                    break
            response = gov.SubmitReportsResponse()
            answered(carry, response.results.add())
            carry = None
            while len(response.results) < wire.REPORTS_PER_MESSAGE:  # every outcome already decided goes along
                try:
                    later = pending.get_nowait()
                except queue.Empty:
                    break
                if later is None:
                    ended = True
                    break
                if not later[1].done():
                    carry = later
                    break
                answered(later, response.results.add())
            yield response
    finally:
        finished.set()


def _reports_of(message: object, first: int) -> list[gov.SubmitEntryRequest | InvalidInput]:
    """The reports of one stream message whose first report is at position `first`: each a
    SubmitEntryRequest, or the refusal of one that does not decode. A message that does not
    decode at all (`Malformed`) counts as one report, refused."""
    if isinstance(message, Malformed):
        return [InvalidInput(f"message of the stream holding report {first} is not a valid SubmitReportsRequest "
                             f"({message.reason}); send the serialised message")]
    assert isinstance(message, gov.SubmitReportsRequest)
    if len(message.reports) > wire.REPORTS_PER_MESSAGE:
        too_many = InvalidInput(f"a message carries at most {wire.REPORTS_PER_MESSAGE} reports, this one "
                                f"{len(message.reports)}: split it")
        return [too_many] * len(message.reports)
    out: list[gov.SubmitEntryRequest | InvalidInput] = []
    for k, raw in enumerate(message.reports):
        request = gov.SubmitEntryRequest()
        try:
            request.ParseFromString(raw)
        except DecodeError:
            out.append(InvalidInput(f"report {first + k} of the stream is not a valid SubmitEntryRequest; "
                                    "send each report as a serialised SubmitEntryRequest"))
            continue
        out.append(request)
    return out
