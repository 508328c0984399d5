"""The one table from Candor errors to gRPC status codes (docs/architecture.md).

Every servicer method runs inside `grpc_errors`: a `CandorError` becomes its row's status
with the error's own message (which says what to fix); anything else becomes INTERNAL with
a fixed message and is logged server-side, so no internals leak to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import grpc

from core import errors

log = logging.getLogger("candor.rpc")

STATUS: tuple[tuple[type[errors.CandorError], grpc.StatusCode], ...] = (
    # most specific first: AlreadyExists and StaleRing are Conflicts
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.StaleRing, grpc.StatusCode.ABORTED),
    (errors.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.VerificationError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)

INTERNAL_MESSAGE = "internal error in the Candor server; the operator has the details in its log"


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unhandled error in RPC", exc_info=exc)
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover


@contextmanager
def grpc_errors(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the table decides what the caller sees
        if context.code() is not None:  # already aborted with a status of its own
            raise
        abort(context, exc)


def from_rpc_error(exc: grpc.RpcError) -> errors.CandorError:
    """The client side of the table: a typed error carrying the server's message."""
    code: Callable[[], grpc.StatusCode] = exc.code
    details: Callable[[], str] = exc.details
    return error_for(code(), details() or "")


def error_for(status: grpc.StatusCode | str, message: str) -> errors.CandorError:
    """The typed error for a status (or its name, as a streamed `Refusal` carries it)."""
    if isinstance(status, str):
        status = grpc.StatusCode.__members__.get(status, grpc.StatusCode.UNKNOWN)
    for cls, mapped in STATUS:
        if mapped is status and cls is not errors.VerificationError:
            return cls(message)
    if status in (grpc.StatusCode.DEADLINE_EXCEEDED,):
        return errors.Unavailable(f"the server did not answer in time: {message}")
    return errors.CandorError(f"{status.name}: {message}")


#: gRPC's wording when no connection could be made at all (refused, no route, unresolvable, TLS).
#: Only gRPC's own transport wording: a server's UNAVAILABLE message (e.g. "database
#: unreachable: ... Connection refused") is the server's answer and passes through unchanged.
_NO_CONNECTION = ("failed to connect to all addresses", "DNS resolution failed", "errors resolving",
                  "connections to all backends failing", "Ssl handshake failed")


def unreachable(exc: grpc.RpcError, party: str, address: str, start: str) -> errors.Unavailable | None:
    """An `Unavailable` naming the party, its address and what to start there, if `exc` means
    nothing answered at `address` (None for an error the server itself returned)."""
    code: Callable[[], grpc.StatusCode] = exc.code
    details: Callable[[], str] = exc.details
    status, message = code(), details() or ""
    if status is not grpc.StatusCode.UNAVAILABLE or not any(s in message for s in _NO_CONNECTION):
        return None
    if "resolv" in message:
        reason = f"the host {address.rpartition(':')[0]!r} does not resolve"
    elif "andshake" in message:
        reason = "the TLS handshake failed (is it this alliance's party, with a certificate from the same CA?)"
    elif "refused" in message:
        reason = "connection refused"
    else:
        reason = "no answer"
    return errors.Unavailable(f"cannot reach the {party} at {address}: {reason}; is `{start}` running there? "
                              "(the address comes from --server or the identity folder)")
