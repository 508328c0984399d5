"""The `candor` CLI against a real operator: governance commands, audit, errors."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from api import wire
from candor.cli import main
from client.sdk import ReportReceipt
from client.verifier import LogVerifier


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    main(list(argv))
    out = capsys.readouterr().out
    data: dict[str, Any] = json.loads(out)
    return data


def test_member_admit_revoke_and_audit(alliance_dir: Path, operator: Any, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    server = f"127.0.0.1:{operator.port}"
    regulator = str(alliance_dir / "regulator")
    admitted = run(capsys, "member", "admit", "--identity", regulator, "--server", server,
                   "--member", "pdd", "--out", str(tmp_path / "member-pdd"), "--json")
    assert admitted["verified"] is True
    assert (tmp_path / "member-pdd" / "reporting.key").stat().st_mode & 0o777 == 0o600
    revoked = run(capsys, "member", "revoke", "--identity", regulator, "--server", server,
                  "--member", "pdd", "--reason", "left the alliance", "--json")
    assert revoked["index"] == admitted["index"] + 1
    audit = run(capsys, "audit", "--identity", regulator, "--server", server, "--no-quorum", "--json")
    assert audit["ok"] is True
    assert audit["entries"]["MemberRevoked"] == 1


def test_member_cannot_admit(alliance_dir: Path, operator: Any, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    # A member folder holding a copy of the regulator's keys still has a member certificate.
    fake = tmp_path / "fake-regulator"
    shutil.copytree(alliance_dir / "regulator", fake)
    for f in ("tls.key", "tls.crt"):
        shutil.copy(alliance_dir / "member-a" / f, fake / f)
    with pytest.raises(SystemExit) as exit_info:
        main(["member", "revoke", "--identity", str(fake), "--server", f"127.0.0.1:{operator.port}",
              "--member", "b", "--json"])
    assert exit_info.value.code == 1
    assert "your certificate says member" in capsys.readouterr().err


def test_missing_identity_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--identity", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "not an identity folder" in err and "Traceback" not in err


def test_the_cli_loads_rich_only_to_print_with_it() -> None:
    """A --json command prints with `print`: importing the CLI and the member SDK does not
    import rich (about 25 ms of every `candor report submit`), and a table still prints."""
    import subprocess
    import sys

    probe = ("import sys, candor.cli, client.sdk; assert 'rich' not in sys.modules, 'rich imported'; "
             "candor.cli._emit(type('A', (), {'json': False})(), {'k': 'v'}, 't'); "
             "assert 'rich' in sys.modules")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "k" in done.stdout and "v" in done.stdout


def test_report_submit_and_retract_json(alliance_dir: Path, operator: Any, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import datetime

    member = tmp_path / "member-a"
    shutil.copytree(alliance_dir / "member-a", member)  # the CLI keeps its verifier state in the folder
    evidence = tmp_path / "evidence.bin"
    evidence.write_bytes(b"screenshots")
    day = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    server = f"127.0.0.1:{operator.port}"
    submitted = run(capsys, "report", "submit", "--identity", str(member), "--server", server, "--subject",
                    "streamer-42", "--category", "fake_traffic", "--tier", "serious", "--incident-date", day,
                    "--notice-date", day, "--evidence", str(evidence), "--json")
    assert len(submitted["report_id"]) == 32 and submitted["receipt"]["report_id"] == submitted["report_id"]
    shown = submitted["receipt"]  # the evidence, as text: it rebuilds a receipt that verifies offline
    evidence_again = ReportReceipt(base64.b64decode(shown["leaf"]), shown["index"], shown["checkpoint"].encode(),
                                   tuple(bytes.fromhex(h) for h in shown["inclusion_proof"]))
    assert wire.signed_entry_from_bytes(evidence_again.leaf).entry.body.notice_date == day  # type: ignore[union-attr]
    assert evidence_again.verify(LogVerifier((member / "genesis.entry").read_bytes())).size == shown["checkpoint_size"]
    retracted = run(capsys, "report", "retract", "--identity", str(member), "--server", server,
                    "--report-id", submitted["report_id"], "--json")
    assert retracted["receipt"]["index"] == submitted["receipt"]["index"] + 1
    with pytest.raises(SystemExit):
        main(["report", "submit", "--identity", str(member), "--server", server, "--subject", "x",
              "--category", "fake_traffic", "--tier", "catastrophic", "--incident-date", day])
    assert "tier" in capsys.readouterr().err
    early = (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()
    with pytest.raises(SystemExit):
        main(["report", "submit", "--identity", str(member), "--server", server, "--subject", "x",
              "--category", "fake_traffic", "--tier", "minor", "--incident-date", day, "--notice-date", early])
    assert "before the incident date" in capsys.readouterr().err


def test_dispute_file_and_resolve(alliance_dir: Path, operator: Any, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    import datetime

    from core import state

    member = tmp_path / "member-a"
    shutil.copytree(alliance_dir / "member-a", member)
    server = f"127.0.0.1:{operator.port}"
    day = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    report = run(capsys, "report", "submit", "--identity", str(member), "--server", server, "--subject", "s-1",
                 "--category", "fake_traffic", "--tier", "minor", "--incident-date", day, "--json")
    rid = report["report_id"]
    filed = run(capsys, "dispute", "file", "--identity", str(alliance_dir / "member-b"), "--server", server,
                "--report-id", rid, "--statement", "the views were real", "--json")
    disputed = state.report_record(operator.ledger.view, rid)
    assert disputed is not None and disputed.disputed == filed["dispute_id"]
    with pytest.raises(SystemExit):  # a second dispute while the first is open
        main(["dispute", "file", "--identity", str(alliance_dir / "member-b"), "--server", server,
              "--report-id", rid, "--statement", "again"])
    assert "already under dispute" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # members cannot decide disputes
        main(["dispute", "resolve", "--identity", str(alliance_dir / "member-b"), "--server", server,
              "--dispute-id", filed["dispute_id"], "--outcome", "retract"])
    assert "regulator" in capsys.readouterr().err
    run(capsys, "dispute", "resolve", "--identity", str(alliance_dir / "regulator"), "--server", server,
        "--dispute-id", filed["dispute_id"], "--outcome", "retract", "--json")
    record = state.report_record(operator.ledger.view, rid)
    assert record is not None and record.disputed is None and record.retracted_at is not None
