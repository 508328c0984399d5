"""The gRPC server plumbing the operator and the trustee share (docs/operations.md).

Start-up refuses rather than half-starts: a malformed or taken listen address is one
CandorError (gRPC's SO_REUSEPORT is off, so a second server cannot share the port), and
malformed protobuf is INVALID_ARGUMENT before any handler runs (`RejectMalformed`).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

import grpc

from core.errors import Conflict, InvalidInput, Unavailable

#: gRPC otherwise sets SO_REUSEPORT, and a second server on the same port starts and splits the traffic.
SERVER_OPTIONS = [("grpc.so_reuseport", 0)]


class Malformed:
    """What the guarded deserializer returns for bytes that are not the method's message."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class RejectMalformed(grpc.ServerInterceptor):  # type: ignore[misc]
    """Malformed protobuf (a truncated varint, bad UTF-8 in a string field) is answered
    INVALID_ARGUMENT before any handler or role check runs, instead of gRPC's INTERNAL
    "Exception deserializing request!" with a logged traceback. In a request stream, each
    malformed message reaches the handler as a `Malformed`."""

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception as exc:  # noqa: BLE001 - DecodeError and friends: the caller's bytes are bad
                return Malformed(type(exc).__name__)

        if handler.stream_stream is not None and str(details.method).startswith("/candor."):
            # A stream's handler sees each malformed message as a `Malformed` in its place
            # and refuses that message alone (server/reporting.py).
            return grpc.stream_stream_rpc_method_handler(handler.stream_stream, request_deserializer=deserialize,
                                                         response_serializer=handler.response_serializer)
        if handler.unary_unary is None:
            return handler  # gRPC's own streams (health Watch, reflection)
        behaviour = handler.unary_unary
        method = str(details.method)

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, Malformed):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"malformed request for {method}: not a valid protobuf message ({request.reason})")
            return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(guarded, request_deserializer=deserialize,
                                                   response_serializer=handler.response_serializer)


def check_listen(listen: str, flag: str = "--listen") -> tuple[str, int]:
    """Split HOST:PORT (IPv6 as [::1]:PORT), or raise InvalidInput saying what to write."""
    host, sep, port_text = listen.rpartition(":")
    example = f"0.0.0.0:{listen}" if listen.isdigit() else "127.0.0.1:7400"
    if not sep or not host:
        raise InvalidInput(f"{flag} {listen!r} needs HOST:PORT, e.g. {example} (0.0.0.0 listens on every interface)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidInput(f"{flag} {listen!r}: the port {port_text!r} must be a number from 0 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def _probe(host: str, port: int, listen: str, party: str) -> None:
    """Bind and release HOST:PORT once, to turn gRPC's generic bind failure into a reason."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise InvalidInput(f"cannot listen on {listen}: the host {host!r} does not resolve; give an address of "
                           "this machine, e.g. 0.0.0.0:PORT") from None
    for family, kind, proto, _name, address in infos[:1]:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: TIME_WAIT is no conflict
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise Conflict(f"cannot listen on {listen}: the address is already in use (another {party} "
                                   "or another program listens there); stop it or choose another --listen") from None
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise InvalidInput(f"cannot listen on {listen}: {host} is not an address of this machine") from None
                if exc.errno == errno.EACCES:
                    raise InvalidInput(f"cannot listen on {listen}: ports below 1024 need privileges; "
                                       "choose a higher port") from None
                raise Unavailable(f"cannot listen on {listen}: {exc.strerror}") from None


def check_bindable(listen: str, party: str = "server") -> None:
    """Raise a CandorError naming the problem if `listen` is malformed, foreign or in use."""
    host, port = check_listen(listen)
    if port:
        _probe(host, port, listen, party)


def listen_on(server: grpc.Server, listen: str, credentials: grpc.ServerCredentials, party: str = "server") -> int:
    """Bind `server` (built with SERVER_OPTIONS) to `listen`; return the bound port. A bad
    address or one in use raises a CandorError naming it."""
    check_bindable(listen, party)
    try:
        bound: int = server.add_secure_port(listen, credentials)
    except RuntimeError:
        raise Unavailable(f"cannot listen on {listen}: gRPC could not bind it (in use, or not an address of "
                          "this machine)") from None
    return bound
