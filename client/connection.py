"""An mTLS channel to the operator, with gRPC errors turned back into Candor errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from candor.v1 import governance_pb2_grpc, ledger_pb2, ledger_pb2_grpc, rating_pb2_grpc
from candor.status import from_rpc_error
from candor.identity import Identity

T = TypeVar("T")
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def secure_channel(identity: Identity, address: str | None = None) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=identity.ca_pem(),
        private_key=identity.tls_key_pem(),
        certificate_chain=identity.tls_cert_pem(),
    )
    return grpc.secure_channel(address or identity.server, creds,
                               options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])


class Connection:
    """Stubs for every operator service over one mTLS channel."""

    def __init__(self, identity: Identity, address: str | None = None, timeout: float = 60.0) -> None:
        self.identity = identity
        self.channel = secure_channel(identity, address)
        self.timeout = timeout
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.governance = governance_pb2_grpc.GovernanceServiceStub(self.channel)
        self.reporting = governance_pb2_grpc.ReportingServiceStub(self.channel)
        self.rating = rating_pb2_grpc.RatingServiceStub(self.channel)

    def call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None

    def checkpoint(self, size: int = 0) -> ledger_pb2.CheckpointResponse:
        resp: ledger_pb2.CheckpointResponse = self.call(self.ledger.GetCheckpoint,
                                                        ledger_pb2.GetCheckpointRequest(size=size))
        return resp

    def consistency(self, old: int, new: int) -> list[bytes]:
        resp = self.call(self.ledger.GetConsistencyProof, ledger_pb2.GetConsistencyProofRequest(old_size=old, new_size=new))
        return list(resp.hashes)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        resp = self.call(self.ledger.GetInclusionProof, ledger_pb2.GetInclusionProofRequest(index=index, tree_size=size))
        return list(resp.hashes)

    def entries(self, start: int, end: int) -> list[bytes]:
        out: list[bytes] = []
        while start + len(out) < end:
            resp = self.call(self.ledger.GetEntries, ledger_pb2.GetEntriesRequest(start=start + len(out), end=end))
            if not resp.entries:
                break
            out.extend(resp.entries)
        return out

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
