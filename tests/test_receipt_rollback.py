"""Attack: an operator rolls its ledger back (restores a backup) to before a member's receipted
report, then carries on appending, before any witness cosigned that report's checkpoint
(docs/operations.md, "Receipts survive the session"). The member's next CLI run must notice
and name the report: the SDK remembers the checkpoints its receipts rest on
(`receipts.state`) and checks them against the operator's current checkpoint."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path

import pytest
from test_operations import Proc, procs, run_cli, serve  # noqa: F401 - procs is a fixture

pytestmark = pytest.mark.slow  # real `candor` processes, like test_operations.py
DAY = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()


def _submit(member: Path, server: str, subject: str) -> dict[str, object]:
    done = run_cli("report", "submit", "--identity", str(member), "--server", server, "--subject", subject,
                   "--category", "fake_traffic", "--tier", "minor", "--incident-date", DAY, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_rollback_that_dropped_my_receipted_report_is_noticed_on_the_next_run(
        alliance_dir: Path, tmp_path: Path, procs: list[Proc]) -> None:  # noqa: F811
    ledger, backup = tmp_path / "ledger.db", tmp_path / "backup.db"
    for m in ("member-a", "member-b"):
        shutil.copytree(alliance_dir / m, tmp_path / m)
    operator = serve(procs, alliance_dir, ledger)
    server = f"127.0.0.1:{operator.port()}"
    _submit(tmp_path / "member-a", server, "rollback-first")  # the member's state has seen this ledger
    done = run_cli("db", "backup", "--data", str(ledger), "--out", str(backup), "--json")
    assert done.returncode == 0, done.stderr
    mine = _submit(tmp_path / "member-a", server, "rollback-dropped")  # receipted, never cosigned

    operator.stop()
    done = run_cli("db", "restore", "--from", str(backup), "--data", str(ledger), "--json")
    assert done.returncode == 0, done.stderr
    server = f"127.0.0.1:{serve(procs, alliance_dir, ledger).port()}"
    for i in range(2):  # the restored ledger grows past the size the receipt rested on
        _submit(tmp_path / "member-b", server, f"rollback-other-{i}")

    done = run_cli("report", "submit", "--identity", str(tmp_path / "member-a"), "--server", server, "--subject",
                   "rollback-next", "--category", "fake_traffic", "--tier", "minor", "--incident-date", DAY)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert str(mine["report_id"]) in done.stderr and "rollback" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
