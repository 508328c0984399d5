"""An mTLS channel to the operator, with gRPC errors turned back into Candor errors.

A call that cannot reach the operator raises `Unavailable` naming the address and what to
start there (docs/operations.md). `Outage` is how long-running parties (witness, trustee
mirror, epoch loop) wait for a party that is away: they say once that they wait, back off,
and say once that it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from api import wire
from api.identity import Identity, tls_name
from api.status import from_rpc_error, unreachable
from api.v1 import (
    governance_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    rating_pb2_grpc,
    subject_pb2_grpc,
)
from core.errors import CandorError, InvalidInput, VerificationError

T = TypeVar("T")


def secure_channel(identity: Identity, address: str | None = None, peer: str = "operator") -> grpc.Channel:
    """mTLS to `peer` ("operator", "trustee-2") at `address`: its certificate must come from
    the alliance CA and carry `tls_name(peer)`, wherever it runs."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=identity.ca_pem(),
        private_key=identity.tls_key_pem(),
        certificate_chain=identity.tls_cert_pem(),
    )
    return grpc.secure_channel(address or identity.server, creds,
                               options=[("grpc.max_receive_message_length", wire.MAX_RESPONSE_BYTES),
                                        ("grpc.ssl_target_name_override", tls_name(peer))])


class Outage:
    """Backoff and two log lines for a party that may be away: `failed` says once that `who`
    waits for `party` at `address` (and what to start there) and returns the seconds to wait;
    `recovered` says once that it is back. Never raises: the caller keeps trying."""

    def __init__(self, who: str, party: str, address: str, start: str, *, say: Callable[[str], None] | None = None,
                 initial: float = 0.5, ceiling: float = 30.0) -> None:
        self.who, self.party, self.address, self.start = who, party, address, start
        self.say = say or logging.getLogger("candor.outage").warning
        self.initial, self.ceiling = initial, ceiling
        self.delay = initial
        self.since: float | None = None

    @property
    def waiting(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        if self.since is None:
            self.since = time.monotonic()
            reason = _first_line(exc)
            if self.address not in reason:
                reason = (f"the {self.party} at {self.address} does not answer ({reason}); "
                          f"is `{self.start}` running there?")
            self.say(f"{self.who}: {reason} Waiting for it, retrying with backoff "
                     f"(at most {self.ceiling:.0f} s apart).")
            self.delay = self.initial
        else:
            self.delay = min(self.ceiling, self.delay * 2)
        return self.delay

    def recovered(self) -> None:
        if self.since is not None:
            self.say(f"{self.who}: the {self.party} at {self.address} is back after "
                     f"{time.monotonic() - self.since:.0f} s; carrying on")
            self.since = None
            self.delay = self.initial


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Connection:
    """Stubs for every operator service over one mTLS channel."""

    def __init__(self, identity: Identity, address: str | None = None, timeout: float = 60.0) -> None:
        self.identity = identity
        self.address = address or identity.server
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise InvalidInput(f"operator address {self.address!r} is not HOST:PORT with a port from 1 to 65535 "
                               "(check --server, CANDOR_SERVER or the identity's \"server\")")
        self.channel = secure_channel(identity, address)
        self.timeout = timeout
        self.ledger = ledger_pb2_grpc.LedgerServiceStub(self.channel)
        self.governance = governance_pb2_grpc.GovernanceServiceStub(self.channel)
        self.reporting = governance_pb2_grpc.ReportingServiceStub(self.channel)
        self.rating = rating_pb2_grpc.RatingServiceStub(self.channel)
        self.subject = subject_pb2_grpc.SubjectServiceStub(self.channel)

    def call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def stream(self, method: Callable[..., Iterator[T]], requests: Iterator[Any], timeout: float) -> Iterator[T]:
        """The responses of a streaming call, with errors mapped as `call` maps them."""
        try:
            yield from method(requests, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> CandorError:
        return unreachable(exc, "operator", self.address, "candor serve") or from_rpc_error(exc)

    def checkpoint(self, size: int = 0) -> ledger_pb2.CheckpointResponse:
        resp: ledger_pb2.CheckpointResponse = self.call(self.ledger.GetCheckpoint,
                                                        ledger_pb2.GetCheckpointRequest(size=size))
        return resp

    def consistency(self, old: int, new: int) -> list[bytes]:
        resp = self.call(self.ledger.GetConsistencyProof,
                         ledger_pb2.GetConsistencyProofRequest(old_size=old, new_size=new))
        return list(resp.hashes)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        resp = self.call(self.ledger.GetInclusionProof,
                         ledger_pb2.GetInclusionProofRequest(index=index, tree_size=size))
        return list(resp.hashes)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Exactly the entries [start, end), fetched in the operator's pages. Every caller
        asks for entries a checkpoint it verified covers, so an answer that starts elsewhere,
        is empty or runs past `end` is the operator's fault: VerificationError, never a
        shorter or longer list that the caller would then place at the wrong indices."""
        out: list[bytes] = []
        while start + len(out) < end:
            at = start + len(out)
            resp = self.call(self.ledger.GetEntries, ledger_pb2.GetEntriesRequest(start=at, end=end))
            if resp.start != at or not resp.entries or len(resp.entries) > end - at:
                raise VerificationError(f"asked for ledger entries [{at}, {end}), the operator served "
                                        f"{len(resp.entries)} from {resp.start}")
            out.extend(resp.entries)
        return out

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
