"""Structured logs and per-RPC observation for the operator (docs/architecture.md, operations).

* `RpcObserver`, a gRPC server interceptor: every unary call gets a request id (the caller's
  `x-request-id` metadata if it is a sane token, else a fresh random one), which is returned
  as trailing metadata, attached to every log record written while the call runs, and stored
  with the entry in the intake queue so the sequencer's logs can name it. When the call ends
  it logs one line (method, the caller's role, gRPC status, duration, peer) on logger
  "candor.rpc" and updates the RPC and report counters of `server.metrics.OperatorMetrics`.
  Trustees use it too (without metrics): `RpcObserver(party="trustee 2")`.
* `configure_json_logs` (`candor serve --log-json`): one JSON object per line on stderr,
  with ts, level, logger, msg, request_id and the structured fields of the record.

Never log keys, plaintexts, randomness, report contents or subject tags (not even a
prefix): the RPC line carries only names, codes and timings, and no peer address on report
calls, so the log cannot tie a network location to the moment a report arrived
(docs/queries.md, "Logs").
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from server.metrics import OperatorMetrics

log = logging.getLogger("candor.rpc")

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("candor_request_id", default="")
REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: Methods whose outcome is counted in candor_reports_total.
REPORT_METHODS = ("SubmitReport", "SubmitReports", "RetractReport")
#: Record attributes that are part of every LogRecord (not structured fields of ours).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


_HEX_RUN = re.compile(r"[0-9a-f]{12,}…?")


def without_subjects(text: str) -> str:
    """`text` with every run of 12+ lowercase hex digits (a subject tag or its 12-digit
    prefix, as epoch messages name subjects) replaced by "<subject>", for log lines that
    quote a message written for the operator's console."""
    return _HEX_RUN.sub("<subject>", text)


def current_request_id() -> str:
    """The id of the RPC this thread is serving ("" outside an RPC)."""
    return REQUEST_ID.get()


def new_request_id() -> str:
    return secrets.token_hex(8)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (as `record.request_id`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, request_id, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, tz=_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "") or REQUEST_ID.get()
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def configure_json_logs(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Replace the root handlers by one writing JSON lines to `stream` (default stderr)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def _method_name(full: str) -> str:
    """"/candor.v1.ReportingService/SubmitReport" -> "ReportingService/SubmitReport"."""
    service, _, method = full.rpartition("/")
    return f"{service.rsplit('.', 1)[-1]}/{method}" if service else full


class RpcObserver(grpc.ServerInterceptor):  # type: ignore[misc]
    """Request id, one log line and metrics for every unary RPC and every Candor stream."""

    def __init__(self, metrics: OperatorMetrics | None = None, party: str = "operator") -> None:
        self.metrics = metrics
        self.party = party

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return handler
        method = _method_name(str(details.method))
        incoming = dict((k, v) for k, v in (details.invocation_metadata or ()) if isinstance(v, str))

        def request_id(context: grpc.ServicerContext) -> contextvars.Token[str]:
            offered = incoming.get(REQUEST_ID_HEADER, "")
            chosen = offered if _SANE_ID.fullmatch(offered) else new_request_id()
            context.set_trailing_metadata(((REQUEST_ID_HEADER, chosen),))
            return REQUEST_ID.set(chosen)

        if handler.unary_unary is not None:
            behaviour = handler.unary_unary

            def observed(request: Any, context: grpc.ServicerContext) -> Any:
                token = request_id(context)
                start = time.perf_counter()
                status = grpc.StatusCode.UNKNOWN
                try:
                    response = behaviour(request, context)
                    status = context.code() or grpc.StatusCode.OK
                    return response
                except BaseException:
                    status = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    self._done(method, status, time.perf_counter() - start, context)
                    REQUEST_ID.reset(token)

            return grpc.unary_unary_rpc_method_handler(observed, request_deserializer=handler.request_deserializer,
                                                       response_serializer=handler.response_serializer)
        if handler.stream_stream is None or not str(details.method).startswith("/candor."):
            return handler  # gRPC's own streams (health Watch, reflection) pass through untouched
        streaming = handler.stream_stream

        def observed_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            token = request_id(context)
            start = time.perf_counter()
            status = grpc.StatusCode.UNKNOWN
            try:
                yield from streaming(requests, context)
                status = context.code() or grpc.StatusCode.OK
            except BaseException:
                status = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self._done(method, status, time.perf_counter() - start, context, streamed=True)
                try:
                    REQUEST_ID.reset(token)
                except ValueError:
                    pass  # the stream was closed from another thread's context

        return grpc.stream_stream_rpc_method_handler(observed_stream, request_deserializer=handler.request_deserializer,
                                                     response_serializer=handler.response_serializer)

    def _done(self, method: str, status: grpc.StatusCode, seconds: float, context: grpc.ServicerContext,
              streamed: bool = False) -> None:
        name = status.name
        report = method.rsplit("/", 1)[-1] in REPORT_METHODS
        if self.metrics is not None:
            self.metrics.rpcs.inc(method=method, status=name)
            self.metrics.rpc_seconds.observe(seconds, method=method)
            if report and not streamed:  # a stream counts each of its reports (server/reporting.py)
                self.metrics.reports.inc(method=method.rsplit("/", 1)[-1], status=name)
        role = caller_role(context)
        fields: dict[str, object] = {"party": self.party, "method": method, "role": role, "status": name,
                                     "duration_ms": round(seconds * 1000, 3)}
        if not report:
            fields["peer"] = context.peer()  # never on a report: who sent it stays out of the log
        log.info("%s rpc %s from %s: %s %.1f ms", self.party, method, role, name, seconds * 1000, extra=fields)


def caller_role(context: grpc.ServicerContext) -> str:
    """The role (OU) of the caller's certificate, never its name: a subject's name is its tag."""
    from server.pki import peer_identity

    try:
        return peer_identity(context.auth_context())[1]
    except Exception:  # noqa: BLE001 - no or foreign certificate: the handler refuses it itself
        return "unknown"
