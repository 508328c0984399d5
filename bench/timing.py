"""Timing, measurement and output helpers shared by the Candor benchmarks.

`bench.core` (issue 2) and `bench.ratings` (issue 5) measure every row the same way, and
this module is that method, written once:

- inputs are prepared by a *setup* outside the timed region, which returns the zero-argument
  *thunk* that is timed with `time.perf_counter`;
- a few warm-up runs are discarded; the slowest of them tells how many repetitions fit in
  the row's time budget, clamped to [min_reps, max_reps];
- an operation is timed next to its floor (and any further reference work) interleaved,
  op, floor, op, floor, ..., so that a change of load on a shared machine hits all of them
  alike; the result is the median of each.

It also holds what both benchmarks print: the time and ratio formats, the environment
line, the section-grouped rich table, the targets table and the common head of the JSON
output. Nothing here knows about Candor's cryptography except `lagrange`, the one piece of
arithmetic both benchmarks' threshold-combining floors need.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, TypeVar

from rich.console import Console, JustifyMethod
from rich.table import Table

__all__ = [
    "Thunk",
    "Setup",
    "Budget",
    "Target",
    "const",
    "time_once",
    "measure",
    "lagrange",
    "environment",
    "format_time",
    "format_ratio",
    "render_header",
    "sectioned_table",
    "render_targets",
    "json_head",
    "stderr_log",
    "print_report",
]

Thunk = Callable[[], object]
Setup = Callable[[], Thunk]
"""Prepares fresh inputs (untimed) and returns the zero-argument call to time."""

R = TypeVar("R")


class Budget(Protocol):
    """How long to spend on one row: both benchmarks' Settings have these fields."""

    @property
    def row_budget_s(self) -> float: ...

    @property
    def min_reps(self) -> int: ...

    @property
    def max_reps(self) -> int: ...

    @property
    def warmup(self) -> int: ...


@dataclass(frozen=True)
class Target:
    """A performance target checked against one row: met when the row's `measured_s` is
    within `limit_s`. `reports`: the row's report count, where it has one."""

    name: str
    operation: str
    key_bits: int | None
    limit_s: float
    measured_s: float
    reports: int | None = None

    def __post_init__(self) -> None:
        if self.limit_s <= 0 or self.measured_s <= 0:
            raise ValueError(f"{self.name}: limit and measurement must be positive")

    @property
    def passed(self) -> bool:
        return self.measured_s <= self.limit_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "operation": self.operation,
            "key_bits": self.key_bits,
            "reports": self.reports,
            "limit_ms": self.limit_s * 1e3,
            "measured_ms": self.measured_s * 1e3,
            "status": "PASS" if self.passed else "MISS",
        }


# --------------------------------------------------------------------------- measurement


def const(thunk: Thunk) -> Setup:
    """A setup for work whose inputs need no refreshing between repetitions."""
    return lambda: thunk


def time_once(setup: Setup) -> float:
    """Seconds one call of `setup()`'s thunk takes; the setup itself is not timed."""
    thunk = setup()
    start = time.perf_counter()
    thunk()
    return time.perf_counter() - start


def measure(
    budget: Budget,
    setups: Sequence[Setup],
    *,
    max_reps: int | None = None,
    interleave: bool = True,
) -> tuple[list[float], int]:
    """Median seconds of each setup's thunk, in order, and the repetitions each got.

    `max_reps` lowers the budget's cap for rows whose setups consume something costly per
    repetition. With `interleave=False` each setup runs all its repetitions in a row; that
    is only for microsecond work measured against a heavy floor, which a preceding
    multi-millisecond powmod would slow down (caches, allocator state).
    """
    gc.collect()  # a collection of earlier garbage would otherwise land in some timed call
    spent = 0.0
    for _ in range(max(budget.warmup, 1)):
        spent = sum(time_once(setup) for setup in setups)
    cap = budget.max_reps if max_reps is None else min(max_reps, budget.max_reps)
    reps = max(budget.min_reps, min(cap, math.ceil(budget.row_budget_s / max(spent, 1e-9))))
    times: list[list[float]] = [[] for _ in setups]
    if interleave:
        for _ in range(reps):
            for setup, out in zip(setups, times):
                out.append(time_once(setup))
    else:
        times = [[time_once(setup) for _ in range(reps)] for setup in setups]
    return [statistics.median(t) for t in times], reps


def lagrange(delta: int, index: int, indices: Sequence[int]) -> int:
    """Delta times the Lagrange coefficient at 0 of `index` among `indices` (an integer).

    Threshold Paillier combining (Damgård-Jurik, as `core.threshold.combine`) raises each
    share to 2 times this; the benchmarks' combining floors redo those powmods by hand.
    """
    num, den = delta, 1
    for j in indices:
        if j != index:
            num *= -j
            den *= index - j
    return num // den


def environment(distributions: Iterable[str]) -> dict[str, str]:
    """Python, machine, CPU count, load average and the versions of `distributions`."""
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for dist in distributions:
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "?"
    return env


# --------------------------------------------------------------------------- output


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ratio: float | None) -> str:
    """`1.23×` below ten, `42×` above, `—` for a row without the reference."""
    if ratio is None:
        return "—"
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×"


def render_header(
    console: Console,
    title: str,
    *,
    quick: bool,
    elapsed_s: float,
    environment: Mapping[str, str],
    key_sources: Mapping[int, str],
) -> None:
    """The bold title with the run's mode and duration, the environment and the keys used."""
    console.print(f"[bold]{title}[/bold] ({'quick' if quick else 'full'} run, {elapsed_s:.0f} s)")
    console.print("  " + ", ".join(f"{k} {v}" for k, v in environment.items()), highlight=False)
    for bits, source in sorted(key_sources.items()):
        console.print(f"  {bits}-bit key: {source}", highlight=False)


def sectioned_table(
    title: str,
    columns: Sequence[tuple[str, JustifyMethod]],
    rows: Iterable[tuple[str, Sequence[str]]],
) -> Table:
    """A table of (section, cells) rows, each run of one section under its bold heading.

    `columns` are (header, justify) pairs; the first column is the operation and does not
    wrap, and its cells are indented under the section heading.
    """
    table = Table(title=title)
    for i, (header, justify) in enumerate(columns):
        table.add_column(header, justify=justify, no_wrap=i == 0)
    section: str | None = None
    for row_section, cells in rows:
        if row_section != section:
            if section is not None:
                table.add_section()
            table.add_row(f"[bold]{row_section}[/bold]")
            section = row_section
        table.add_row("  " + cells[0], *cells[1:])
    return table


def render_targets(console: Console, targets: Iterable[Target]) -> None:
    table = Table(title="targets")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("status")
    for t in targets:
        table.add_row(
            t.name,
            format_time(t.measured_s),
            format_time(t.limit_s),
            "[green]PASS[/green]" if t.passed else "[red]MISS[/red]",
        )
    console.print(table)


def json_head(
    benchmark: str,
    *,
    quick: bool,
    elapsed_s: float,
    environment: Mapping[str, str],
    key_sources: Mapping[int, str],
) -> dict[str, Any]:
    """The keys every benchmark's JSON output starts with, in their order."""
    return {
        "benchmark": benchmark,
        "mode": "quick" if quick else "full",
        "elapsed_s": elapsed_s,
        "environment": environment,
        "keys": {str(bits): src for bits, src in sorted(key_sources.items())},
    }


# --------------------------------------------------------------------------- command line


def stderr_log(quiet: bool) -> Callable[[str], None]:
    """Progress lines on stderr as `[bench] ...`, or nothing when `quiet`."""

    def log(line: str) -> None:
        if not quiet:
            print(f"[bench] {line}", file=sys.stderr, flush=True)

    return log


def print_report(
    report: R,
    *,
    as_json: bool,
    to_json: Callable[[R], dict[str, Any]],
    render: Callable[[R, Console], None],
    min_width: int,
) -> None:
    """Print `report` as indented JSON, or render it on a console at least `min_width` wide.

    The width keeps each row on one line when the output is piped into a file or an issue.
    """
    if as_json:
        print(json.dumps(to_json(report), indent=2))
    else:
        console = Console()
        render(report, Console(width=max(console.width, min_width)))
