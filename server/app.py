"""The operator's gRPC server, built by a factory (docs/architecture.md).

`create_server(settings, store)` wires the ledger, the servicers, health checking and
reflection behind mutual TLS and returns the started server and its bound port; tests bind
port 0. Nothing here is a module-level global.

Operations: every RPC passes `server.logging_setup.RpcObserver` (request id, one log line,
metrics); `Settings.metrics_listen` serves Prometheus metrics on a port of its own. Over a
shared PostgreSQL store several operators run side by side (server/shared_sequencer.py); epochs
run on whichever of them currently sequences. `Operator.stop` refuses new calls, lets the
in-flight ones finish, drains the sequencer and releases its lease.

Start-up refuses rather than half-starts (docs/operations.md): the listen address is
checked before any thread starts (server/serving.py), and `Operator.wait` ends the process
when a background loop dies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from api import wire
from api.identity import Identity
from api.v1 import (
    governance_pb2,
    governance_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    rating_pb2,
    rating_pb2_grpc,
    subject_pb2_grpc,
)
from client.cpu import CpuPool
from core.errors import Conflict, Unavailable
from core.querylog import COMMIT_INTERVAL_S
from server.epoch import EpochRunner
from server.intake import Verifier
from server.ledger import Ledger
from server.logging_setup import RpcObserver, without_subjects
from server.metrics import MetricsServer, OperatorMetrics
from server.pki import server_credentials
from server.querylog import QueryLog
from server.sequencer import LocalSequencer, Sequenced, Sequencer
from server.service import (
    GovernanceServicer,
    LedgerServicer,
    RatingServicer,
    ReportingServicer,
)
from server.serving import SERVER_OPTIONS, RejectMalformed, check_bindable, listen_on
from server.shared_sequencer import SharedSequencer, SharedStore
from server.storage import LedgerStore
from server.subjects import SubjectServicer

log = logging.getLogger("candor.server")


@dataclass(frozen=True)
class Settings:
    identity: Identity
    listen: str = "127.0.0.1:0"
    checkpoint_interval: float = 0.05
    workers: int = 16
    epoch_interval: float | None = None  # seconds between automatic epochs; None: on demand only
    trustees: dict[int, str] | None = None  # trustee addresses (default: from the identity)
    epoch_workers: int | None = 0  # processes verifying trustee shares (None: one per core; 0: inline)
    verify_workers: int | None = None  # processes verifying reports (None: one per core; 0: in-process)
    metrics_listen: str | None = None  # HOST:PORT for Prometheus /metrics; None: off
    server_name: str | None = None  # shared store: this server's name in the intake queue
    intake_timeout: float = 20.0  # shared store: seconds a handed-off entry may wait for the sequencer
    lease_poll: float = 0.5  # shared store: seconds between attempts to take the sequencer lease
    querylog_interval: float | None = COMMIT_INTERVAL_S  # seconds between query log commitments; None: off
    check_store: bool = True  # at start: entries vs the latest checkpoint, state vs the entries (server/integrity.py)


@dataclass
class Operator:
    server: grpc.Server
    port: int
    ledger: Ledger
    health: health.HealthServicer
    epochs: EpochRunner | None
    _stop: threading.Event
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    metrics_server: MetricsServer | None = None
    verifier: Verifier | None = None
    loops: list[threading.Thread] = field(default_factory=list)  # background loops of the operator itself
    queries: QueryLog | None = None

    def dead_loops(self) -> list[str]:
        """Names of background threads (sequencer, checkpointer, epochs) that died while serving."""
        if self._stop.is_set():
            return []
        return [t.name for t in [*self.ledger.threads, *self.loops] if not t.is_alive()]

    def wait(self, stop: threading.Event, poll: float = 0.5) -> None:
        """Block until `stop` is set. If a background loop dies first, raise Unavailable: an
        operator without its checkpointer or sequencer must not keep answering half-alive."""
        while not stop.wait(poll):
            dead = self.dead_loops()
            if dead:
                raise Unavailable(f"background loop {', '.join(dead)} stopped unexpectedly (see the log line "
                                  "above); the operator shuts down instead of serving without it")

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_server is None else self.metrics_server.port

    def bootstrap(self, operator_dir: Path) -> int:
        """Append the ceremony's genesis and founding entries if the ledger is empty.

        Several servers starting together over one empty database race for index 0; the
        losers see Conflict and accept the winner's entries if they are the same bytes.
        Returns the ledger size.
        """
        from server.ceremony import bootstrap_entries

        store = self.ledger.store
        leaves = bootstrap_entries(operator_dir)
        if store.size() == 0:
            try:
                return self.ledger.append_now(leaves)
            except Conflict:
                pass  # another server wrote them first: check below that it wrote ours
        if store.entries(0, 1) != leaves[:1]:
            raise Conflict("the ledger in this database starts with a different genesis than the identity "
                           f"folder {operator_dir}; point --data at this alliance's database")
        return store.size()

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let in-flight appends finish, then stop the ledger threads
        (which releases the sequencer lease of a shared store)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.verifier is not None:
            self.verifier.close()  # after the in-flight calls, which may still be verifying
        self.ledger.stop()
        if self.epochs is not None:
            self.epochs.close()
        if self.metrics_server is not None:
            self.metrics_server.close()


def create_server(settings: Settings, store: LedgerStore) -> Operator:
    check_bindable(settings.listen, "operator")  # before any thread starts
    # A store several servers share gets the lease-and-intake sequencer, any other the
    # in-process one (server/shared_sequencer.py, server/sequencer.py).
    sequencer: Callable[[Sequenced], Sequencer] = LocalSequencer
    if isinstance(store, SharedStore):
        sequencer = partial(SharedSequencer, store=store, name=settings.server_name,
                            intake_timeout=settings.intake_timeout, lease_poll=settings.lease_poll)
    if settings.check_store:
        from server.integrity import check_store

        # A shared store gets appends from other servers while this one starts: entries only.
        checked = check_store(store, replay=not isinstance(store, SharedStore))
        (log.warning if checked.rebuilt_keys else log.info)("%s", checked.line())
    metrics = OperatorMetrics()
    ledger = Ledger(store, settings.identity.note_signer(), checkpoint_interval=settings.checkpoint_interval,
                    metrics=metrics, sequencer=sequencer)
    metrics.bind_ledger_size(lambda: float(store.size()))
    metrics_server = MetricsServer(settings.metrics_listen, metrics.render) if settings.metrics_listen else None
    ledger.start()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers),
        interceptors=[RpcObserver(metrics), RejectMalformed()],
        options=[("grpc.max_receive_message_length", wire.MAX_REQUEST_BYTES),
                 ("grpc.max_send_message_length", wire.MAX_RESPONSE_BYTES), *SERVER_OPTIONS],
    )
    addresses = settings.trustees or {int(i): a for i, a in settings.identity.info.get("trustees", {}).items()}
    epochs = (EpochRunner(ledger, settings.identity, addresses, cpu=CpuPool(settings.epoch_workers))
              if addresses else None)
    if epochs is not None:
        runner = epochs
        metrics.bind_epoch_lag(lambda: time.time() - (runner.last_run or metrics.started))
    verifier = Verifier(ledger, settings.verify_workers)  # workers start with the first report
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(LedgerServicer(ledger), server)
    queries = QueryLog(ledger, settings.identity.signing_key())
    rating_pb2_grpc.add_RatingServiceServicer_to_server(RatingServicer(ledger, epochs, queries), server)
    governance_pb2_grpc.add_GovernanceServiceServicer_to_server(GovernanceServicer(ledger, verifier), server)
    reporting = ReportingServicer(ledger, verifier, max_streams=max(1, settings.workers // 2))  # half the threads
    governance_pb2_grpc.add_ReportingServiceServicer_to_server(reporting, server)
    subject_pb2_grpc.add_SubjectServiceServicer_to_server(SubjectServicer(ledger), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
        governance_pb2.DESCRIPTOR.services_by_name["GovernanceService"].full_name,
        governance_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name,
        rating_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name,
        "candor.v1.SubjectService",
    ]
    for name in names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        port = listen_on(server, settings.listen, server_credentials(settings.identity), "operator")
    except BaseException:
        verifier.close()
        ledger.stop()
        if epochs is not None:
            epochs.close()
        if metrics_server is not None:
            metrics_server.close()
        raise
    server.start()
    stop = threading.Event()
    loops: list[threading.Thread] = []
    if epochs is not None and settings.epoch_interval:
        loops.append(threading.Thread(target=_epoch_loop, args=(epochs, settings.epoch_interval, stop),
                                      daemon=True, name="candor-epochs"))
        loops[-1].start()
    if settings.querylog_interval:
        loops.append(threading.Thread(target=_querylog_loop, args=(queries, settings.querylog_interval, stop),
                                      daemon=True, name="candor-querylog"))
        loops[-1].start()
    return Operator(server, port, ledger, health_servicer, epochs, stop, metrics, metrics_server, verifier=verifier,
                    loops=loops, queries=queries)


def _querylog_loop(queries: QueryLog, interval: float, stop: threading.Event) -> None:
    """Commit the query log every `interval` seconds (at least hourly by default) and purge
    what is past retention; only the server that sequences does it (docs/queries.md)."""
    while not stop.wait(interval):
        if not queries.ledger.sequencing:
            continue
        try:
            queries.commit()
        except Exception as exc:  # noqa: BLE001 - the next interval retries; nothing is lost
            log.warning("query log commitment failed, retrying in %g s: %s", interval, type(exc).__name__)


def _epoch_loop(epochs: EpochRunner, interval: float, stop: threading.Event) -> None:
    """Run an epoch every `interval` seconds. An epoch that cannot rate (trustees away, no
    cosigned checkpoint) is logged once when it starts failing and once when it recovers;
    the loop never ends on a failure (docs/operations.md)."""
    waiting: str | None = None
    while not stop.wait(interval):
        if not epochs.ledger.sequencing:
            continue  # over a shared store, only the server that sequences runs epochs
        try:
            result = epochs.run()
            log.info("epoch: %d published, %d pending, %d held, %d fraud", len(result.published),
                     len(result.pending), len(result.held), len(result.fraud))
            # An epoch message names its subject; a log line never does (docs/queries.md).
            problem = without_subjects(result.blocked[0]) if result.blocked and not result.published else None
        except Exception as exc:  # logged once; the next interval retries
            log.debug("epoch failed", exc_info=exc)
            problem = without_subjects(f"{type(exc).__name__}: {exc}")
        if problem is not None and waiting is None:
            log.warning("epochs are waiting (retrying every %g s): %s", interval, problem)
        elif problem is None and waiting is not None:
            log.warning("epochs recovered: the last epoch ran without the failure above")
        waiting = problem
