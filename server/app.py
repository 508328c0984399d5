"""The operator's gRPC server, built by a factory (DESIGN §7).

`create_server(settings, store)` wires the ledger, the servicers, health checking and
reflection behind mutual TLS and returns the started server and its bound port; tests bind
port 0. Nothing here is a module-level global.
"""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from candor.v1 import governance_pb2, governance_pb2_grpc, ledger_pb2, ledger_pb2_grpc, rating_pb2, rating_pb2_grpc
from candor.identity import Identity
from server.ledger import Ledger
from server.cpu import CpuPool
from server.epoch import EpochRunner
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


@dataclass
class Operator:
    server: grpc.Server
    port: int
    ledger: Ledger
    health: health.HealthServicer
    epochs: EpochRunner | None
    _stop: threading.Event

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new calls, let in-flight appends finish, then stop the ledger threads."""
        self._stop.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.ledger.stop()
        if self.epochs is not None:
            self.epochs.close()


def server_credentials(identity: Identity) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(identity.tls_key_pem(), identity.tls_cert_pem())],
        root_certificates=identity.ca_pem(),
        require_client_auth=True,
    )


def create_server(settings: Settings, store: LedgerStore) -> Operator:
    ledger = Ledger(store, settings.identity.note_signer(), checkpoint_interval=settings.checkpoint_interval)
    ledger.start()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.workers),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", 16 * 1024 * 1024)],
    )
    addresses = settings.trustees or {int(i): a for i, a in settings.identity.info.get("trustees", {}).items()}
    epochs = EpochRunner(ledger, settings.identity, addresses, cpu=CpuPool(settings.epoch_workers)) if addresses else None
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(LedgerServicer(ledger), server)
    rating_pb2_grpc.add_RatingServiceServicer_to_server(RatingServicer(ledger, epochs), server)
    governance_pb2_grpc.add_GovernanceServiceServicer_to_server(GovernanceServicer(ledger), server)
    governance_pb2_grpc.add_ReportingServiceServicer_to_server(ReportingServicer(ledger), server)
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
    return Operator(server, port, ledger, health_servicer, epochs, stop)


def _epoch_loop(epochs: EpochRunner, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            result = epochs.run()
            log.info("epoch: %d published, %d pending, %d held, %d fraud", len(result.published),
                     len(result.pending), len(result.held), len(result.fraud))
        except Exception:
            log.exception("epoch failed; retrying at the next interval")
