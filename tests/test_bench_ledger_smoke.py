"""Smoke test of `python -m bench.ledger --quick` (docs/performance.md): the appends over
SQLite (to a ledger holding the genesis, and with `--grown` to one holding earlier reports)
and, through two servers' shared sequencers, over PostgreSQL, the proofs and the
replays all run and report every figure. Asserts the figures are there, never a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.slow  # a benchmark run, however small
PG_URL = os.environ.get("CANDOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


def test_ledger_bench_reports_every_figure() -> None:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} ({exc}); set CANDOR_TEST_POSTGRES_URL")
    done = subprocess.run([sys.executable, "-m", "bench.ledger", "--quick", "--json", "--pg-url", PG_URL,
                           "--grown", "2000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["append_reports_grown"]["earlier_reports"] == 2000
    for kind in ("append_reports", "append_reports_grown", "append_governance", "append_reports_postgres"):
        figures = result[kind]
        assert figures["append_per_s"] > 0 and figures["raw_per_s"] > 0 and figures["rounds"] == 3, (kind, figures)
        assert figures["ratio_min"] <= figures["ratio"] <= figures["ratio_max"], (kind, figures)
    for kind in ("replay_reports", "replay_governance", "replay_reports_one_subject_each"):
        assert result[kind]["replay_per_s"] > 0, (kind, result[kind])
    assert result["proofs"]["inclusion_p50_ms"] > 0 and result["replay_verify_floor"]["floor_per_s"] > 0


def test_ledger_bench_names_an_unreachable_database() -> None:
    from bench import ledger

    reason = ledger._postgres_appends(ROOT, [], "postgresql://127.0.0.1:1/x")
    assert isinstance(reason, str) and reason.startswith("PostgreSQL is not reachable at postgresql://127.0.0.1:1/x")
