"""Smoke test of the issue-12 benchmark `python -m bench.submit` on a small ledger.

It asserts structure only, never a timing: the bulk-loaded ledger has the size asked for, the
two `candor report submit` runs each appended one verified report, and the first left a
persisted view behind for the second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import submit

pytestmark = pytest.mark.slow  # a benchmark run, however small


def test_small_run_reports_both_runs(tmp_path: Path) -> None:
    said: list[str] = []
    result = submit.run(40, tmp_path, said.append, extra=1)
    assert result["entries"] == 40 and result["ledger_size"] > 40
    assert result["first_index"] == result["ledger_size"]
    assert result["second_index"] == result["first_index"] + 1
    assert result["view_bytes"] > 0
    assert result["first_s"] > 0 and result["second_s"] > 0
    assert len(result["steady_s"]) == 2 and result["steady_s"][0] == result["second_s"]
    assert result["ratio"] == result["steady_median_s"] / submit.TARGET_S
    assert any("steady state" in line for line in said)
