"""Operator metrics in the Prometheus text exposition format (docs/architecture.md, operations).

A deliberately small, dependency-free registry: counters, gauges (set or computed at scrape
time) and histograms with fixed buckets, rendered in text format 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format) and served
by a stdlib `http.server` on its own port (`candor serve --metrics-listen HOST:PORT`, off by
default), so a scrape never competes with the gRPC worker pool.

`OperatorMetrics` names every metric the operator exports; the ledger, the sequencer and the
RPC interceptor update it. Nothing here ever carries report content, keys or subject tags:
label values are RPC method names and gRPC status names only.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.errors import InvalidInput

log = logging.getLogger("candor.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; from a millisecond commit to a slow proof verification or an append under load.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

LabelKey = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        if not name.replace("_", "").isalnum() or name[0].isdigit():
            raise InvalidInput(f"metric name {name!r} is not [a-zA-Z_][a-zA-Z0-9_]*")
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelKey:
        if not labels and not self.label_names:
            return ()  # most samples: a sequencer's batch, an append's latency
        if set(labels) != set(self.label_names):
            raise InvalidInput(f"metric {self.name} takes labels {self.label_names}, got {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A monotonically increasing count, per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise InvalidInput(f"counter {self.name} cannot decrease (inc by {amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A value that goes up and down; either set, or computed by `function` at scrape time.

    A function that raises or returns None leaves the sample out (a scrape must not fail
    because the database is briefly unreachable).
    """

    kind = "gauge"

    def __init__(self, name: str, help_text: str, function: Callable[[], float | None] | None = None) -> None:
        super().__init__(name, help_text)
        self._value = 0.0
        self.function = function

    def set(self, value: float) -> None:
        with self._lock:
            self._value = float(value)

    def value(self) -> float | None:
        if self.function is None:
            with self._lock:
                return self._value
        try:
            return self.function()
        except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
            log.debug("gauge %s unavailable: %s", self.name, exc)
            return None

    def lines(self) -> list[str]:
        value = self.value()
        return [] if value is None else [f"{self.name} {_number(value)}"]


class Histogram(_Metric):
    """Observations counted into cumulative buckets (plus _sum and _count), per label set."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float] = LATENCY_BUCKETS,
                 labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise InvalidInput(f"histogram {name} buckets must be increasing and non-empty")
        self.buckets = tuple(float(b) for b in buckets)
        self._data: dict[LabelKey, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            data = self._data.get(key)
            if data is None:
                data = self._data[key] = ([0] * (len(self.buckets) + 1), [0.0])
            data[0][slot] += 1
            data[1][0] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            data = self._data.get(self._key(labels))
            return 0 if data is None else sum(data[0])

    def lines(self) -> list[str]:
        out: list[str] = []
        with self._lock:
            items = sorted((k, (list(c), s[0])) for k, (c, s) in self._data.items())
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts):
                running += n
                le = 'le="' + _number(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return out


class Registry:
    """An ordered set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def add(self, metric: _Metric) -> None:
        if metric.name in self._metrics:
            raise InvalidInput(f"metric {metric.name} is registered twice")
        self._metrics[metric.name] = metric

    def render(self) -> str:
        out: list[str] = []
        for metric in self._metrics.values():
            lines = metric.lines()
            if lines:
                out.extend(metric.header())
                out.extend(lines)
        return "\n".join(out) + "\n"


class OperatorMetrics:
    """Every metric `candor serve` exports. Gauges that read state are bound by `bind_*`."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.started = time.time()
        self.reports = Counter("candor_reports_total", "Reports and retractions answered, by RPC and gRPC status "
                               "(OK = accepted; any other status = rejected for that reason).",
                               ("method", "status"))
        self.rpcs = Counter("candor_rpc_total", "gRPC calls answered, by method and gRPC status.",
                            ("method", "status"))
        self.rpc_seconds = Histogram("candor_rpc_duration_seconds", "Time to answer a gRPC call.",
                                     labels=("method",))
        self.verification = Histogram("candor_report_verification_seconds",
                                      "Time to verify a report's proofs and ring signature at intake.")
        self.append_latency = Histogram("candor_append_latency_seconds",
                                        "From handing a verified entry to the sequencer to its durable append "
                                        "(or refusal).")
        self.batch_size = Histogram("candor_sequencer_batch_entries", "Entries decided per sequencer commit "
                                    "(group commit).", BATCH_BUCKETS)
        self.batches = Counter("candor_sequencer_batches_total", "Sequencer commits made by this server.")
        self.takeovers = Counter("candor_sequencer_takeovers_total", "Times this server acquired the "
                                 "sequencer lease.")
        self.sequencer = Gauge("candor_sequencer", "1 if this server currently sequences the ledger, else 0.")
        self.ledger_size = Gauge("candor_ledger_size", "Entries in the ledger.")
        self.intake_waiting = Gauge("candor_intake_waiting", "Entries this server handed to the sequencer and "
                                    "still awaits.")
        self.epoch_lag = Gauge("candor_epoch_lag_seconds", "Seconds since the last completed rating epoch "
                               "(since start if none yet); only on servers that run epochs.")
        for metric in (self.reports, self.rpcs, self.rpc_seconds, self.verification, self.append_latency,
                       self.batch_size, self.batches, self.takeovers, self.sequencer, self.ledger_size,
                       self.intake_waiting):
            self.registry.add(metric)
        self._epochs_bound = False

    def bind_ledger_size(self, function: Callable[[], float | None]) -> None:
        self.ledger_size.function = function

    def bind_intake_waiting(self, function: Callable[[], float | None]) -> None:
        self.intake_waiting.function = function

    def bind_epoch_lag(self, function: Callable[[], float | None]) -> None:
        self.epoch_lag.function = function
        if not self._epochs_bound:
            self.registry.add(self.epoch_lag)
            self._epochs_bound = True

    def render(self) -> str:
        return self.registry.render()


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (port 0 = any free port) as (host, port); InvalidInput otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"listen address {listen!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.strip("[]"), int(port)


class MetricsServer:
    """GET /metrics on its own port, from a daemon thread."""

    def __init__(self, listen: str, render: Callable[[], str]) -> None:
        host, port = parse_listen(listen)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = render().encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug("metrics scrape: " + format, *args)

        try:
            self._http = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise InvalidInput(f"cannot serve metrics on {listen}: {exc.strerror or exc}") from None
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, name="candor-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


def samples(text: str) -> Iterable[tuple[str, float]]:
    """(series, value) pairs of an exposition text, for tests and quick checks."""
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            yield series, float(value)
