"""Smoke test of `python -m bench.load` (docs/operations.md, "Load"): 4 member clients for 3 s
against a real local operator and witness. Asserts the figures are there and that nothing
failed (the run has no deliberate errors), never a timing."""

from __future__ import annotations

import pytest

from bench import load

pytestmark = pytest.mark.slow  # a benchmark run, however small


def test_load_runs_with_no_errors_and_reports_every_figure() -> None:
    result = load.run(clients=4, seconds=3)
    assert result["errors"] == {}, result
    assert result["operations"]["submit"]["ok"] > 0 and result["operations"]["query"]["ok"] > 0, result
    for op in ("submit", "query"):
        assert {"per_s", "p50_ms", "p99_ms"} <= result["operations"][op].keys()
    assert result["per_s"] > 0 and result["server_rss_mb"]["main_end"] > 0
