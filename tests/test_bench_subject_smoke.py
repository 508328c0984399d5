"""`python -m bench.subject` runs end to end on a tiny input and reports what it measured."""

from __future__ import annotations

import json

import pytest

from bench.subject import main

pytestmark = pytest.mark.slow  # a benchmark run, however small


def test_bench_subject_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--reports", "3", "--reps", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["reports"] == 3 and result["ledger_size"] >= 3 + 3
    assert result["own_record_s"] > 0 and result["cli_process_s"] > 0 and result["target_s"] == 1.0
