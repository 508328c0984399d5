"""The operator's gRPC server, built by a factory (DESIGN §7).

`create_server(settings, store)` wires the ledger, the servicers, health checking and
reflection behind mutual TLS and returns the started server and its bound port; tests bind
port 0. Nothing here is a module-level global.

Operations: every RPC passes `server.logging_setup.RpcObserver` (request id, one log line,
metrics); `Settings.metrics_listen` serves Prometheus metrics on a port of its own. Over a
shared PostgreSQL store several operators run side by side (server/sequencer.py); epochs
run on whichever of them currently sequences. `Operator.stop` refuses new calls, lets the
in-flight ones finish, drains the sequencer and releases its lease.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from candor.identity import Identity
from candor.v1 import governance_pb2, governance_pb2_grpc, ledger_pb2, ledger_pb2_grpc, rating_pb2, rating_pb2_grpc
from core.errors import Conflict
from server.cpu import CpuPool
from server.epoch import EpochRunner
from server.intake import Verifier
from server.ledger import Ledger
from server.logging_setup import RpcObserver
from server.metrics import MetricsServer, OperatorMetrics
from server.service import GovernanceServicer, LedgerServicer, RatingServicer, ReportingServicer
from server.storage import LedgerStore

MAX_MESSAGE_BYTES = 512 * 1024
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


def server_credentials(identity: Identity) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(identity.tls_key_pem(), identity.tls_cert_pem())],
        root_certificates=identity.ca_pem(),
        require_client_auth=True,
    )


def create_server(settings: Settings, store: LedgerStore) -> Operator:
    metrics = OperatorMetrics()
    ledger = Ledger(store, settings.identity.note_signer(), checkpoint_interval=settings.checkpoint_interval,
                    metrics=metrics, name=settings.server_name, intake_timeout=settings.intake_timeout,
                    lease_poll=settings.lease_poll)
    metrics.bind_ledger_size(lambda: float(store.size()))
    metrics_server = MetricsServer(settings.metrics_listen, metrics.render) if settings.metrics_listen else None
    ledger.start()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers),
        interceptors=[RpcObserver(metrics)],
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", 16 * 1024 * 1024)],
    )
    addresses = settings.trustees or {int(i): a for i, a in settings.identity.info.get("trustees", {}).items()}
    epochs = (EpochRunner(ledger, settings.identity, addresses, cpu=CpuPool(settings.epoch_workers))
              if addresses else None)
    if epochs is not None:
        runner = epochs
        metrics.bind_epoch_lag(lambda: time.time() - (runner.last_run or metrics.started))
    verifier = Verifier(ledger, settings.verify_workers)  # workers start with the first report
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(LedgerServicer(ledger), server)
    rating_pb2_grpc.add_RatingServiceServicer_to_server(RatingServicer(ledger, epochs), server)
    governance_pb2_grpc.add_GovernanceServiceServicer_to_server(GovernanceServicer(ledger), server)
    governance_pb2_grpc.add_ReportingServiceServicer_to_server(ReportingServicer(ledger, verifier), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
        governance_pb2.DESCRIPTOR.services_by_name["GovernanceService"].full_name,
        governance_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name,
        rating_pb2.DESCRIPTOR.services_by_name["RatingService"].full_name,
    ]
    for name in names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_secure_port(settings.listen, server_credentials(settings.identity))
    server.start()
    stop = threading.Event()
    if epochs is not None and settings.epoch_interval:
        threading.Thread(target=_epoch_loop, args=(epochs, settings.epoch_interval, stop), daemon=True,
                         name="candor-epochs").start()
    return Operator(server, port, ledger, health_servicer, epochs, stop, metrics, metrics_server, verifier=verifier)


def _epoch_loop(epochs: EpochRunner, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        if not epochs.ledger.sequencing:
            continue  # over a shared store, only the server that sequences runs epochs
        try:
            result = epochs.run()
            log.info("epoch: %d published, %d pending, %d held, %d fraud", len(result.published),
                     len(result.pending), len(result.held), len(result.fraud))
        except Exception:
            log.exception("epoch failed; retrying at the next interval")
