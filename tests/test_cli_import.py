"""`candor report import` and `candor report resend` through the real CLI entry, against a
running operator: a batch file goes on one SubmitReports stream, every row checked first."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from candor.cli import main
from client.sdk import Member, ReportReceipt
from client.verifier import LogVerifier
from core import entries as e
from core.errors import InvalidInput, Unavailable

DAY = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
NOTICE = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
GOOD = ("subject,category,tier,incident_date,notice_date,evidence\n"
        f"streamer-42,fake_traffic,serious,{DAY},{NOTICE},shots.png\n"
        f"shop-7,contract_default,minor,{DAY},,\n"
        f"streamer-9,false_advertising,critical,{DAY},{DAY},proof/chat.txt\n")


@pytest.fixture()
def member(alliance_dir: Path, tmp_path: Path) -> Path:
    """A copy of member a's folder (the CLI keeps its verified view and pending/ in it)."""
    folder = tmp_path / "member-a"
    shutil.copytree(alliance_dir / "member-a", folder)
    return folder


def batch(tmp_path: Path, text: str = GOOD) -> Path:
    """The batch file and the evidence files it names, relative to its folder."""
    folder = tmp_path / "batch"
    (folder / "proof").mkdir(parents=True, exist_ok=True)
    (folder / "shots.png").write_bytes(b"screenshots")
    (folder / "proof" / "chat.txt").write_bytes(b"chat log")
    path = folder / "reports.csv"
    path.write_text(text, encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `candor argv`; its exit status, stdout and stderr."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rebuilt(shown: dict[str, Any]) -> ReportReceipt:
    """The receipt a script rebuilds from the JSON: it verifies offline."""
    return ReportReceipt(base64.b64decode(shown["leaf"]), shown["index"], shown["checkpoint"].encode(),
                         tuple(bytes.fromhex(h) for h in shown["inclusion_proof"]))


def test_import_records_every_row_with_a_verified_receipt(member: Path, operator: Any, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = batch(tmp_path)
    server = f"127.0.0.1:{operator.port}"
    before = operator.ledger.store.size()
    code, out, err = cli(capsys, "report", "import", "--identity", str(member), "--server", server,
                         "--file", str(path), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert [r["row"] for r in shown] == [2, 3, 4] and all("error" not in r for r in shown)
    assert operator.ledger.store.size() == before + 3
    verifier = LogVerifier((member / "genesis.entry").read_bytes())
    bodies = []
    for r in shown:
        receipt = rebuilt(r["receipt"])
        assert receipt.report_id.hex() == r["report_id"] == r["receipt"]["report_id"]
        assert receipt.verify(verifier).size == r["receipt"]["checkpoint_size"]
        body = wire.signed_entry_from_bytes(receipt.leaf).entry.body
        assert isinstance(body, e.ReportCommitted)
        bodies.append(body)
    assert [b.category for b in bodies] == ["fake_traffic", "contract_default", "false_advertising"]
    assert [b.notice_date for b in bodies] == [NOTICE, datetime.date.today().isoformat(), DAY]
    assert [b.evidence_digest for b in bodies] == [hashlib.sha256(x).digest()
                                                  for x in (b"screenshots", b"", b"chat log")]
    assert not list((member / "pending").glob("*.leaf"))  # every answer came: nothing left to resend


def test_reimporting_the_same_file_records_new_reports(member: Path, operator: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = batch(tmp_path)
    argv = ("report", "import", "--identity", str(member), "--server", f"127.0.0.1:{operator.port}",
            "--file", str(path))
    first = {r["report_id"] for r in json.loads(cli(capsys, *argv, "--json")[1])}
    before = operator.ledger.store.size()
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    code, out, err = cli(capsys, *argv)
    # Every report is freshly committed and encrypted, so its id (derived from the commitment)
    # is new: the ledger cannot tell a second import from new reports and records them.
    assert code == 0, err
    assert operator.ledger.store.size() == before + 3
    lines = [line for line in out.splitlines() if "recorded (receipt verified)" in line]
    assert len(lines) == 3 and "streamer-42" in lines[0] and "shop-7" in lines[1] and "streamer-9" in lines[2]
    second = {word for line in lines for word in line.split() if len(word) == 32}
    assert len(second) == 3 and not second & first


@pytest.mark.parametrize(("row", "expected"), [
    ("shop-8,fake_reviews,minor,{day},,", "row 3: category 'fake_reviews' is not in the registry"),
    ("shop-8,fake_traffic,catastrophic,{day},,", "row 3: unknown tier 'catastrophic'"),
    ("shop-8,fake_traffic,minor,,,", "row 3: incident_date is empty"),
    ("shop-8,fake_traffic,minor,{day},,missing.png", "row 3: evidence file"),
    ("shop-8,fake_traffic,minor,{day}", "row 3 has 4 fields but the header names 6 columns"),
    ("shop-8,fake_traffic,minor,{day},2001-01-01,", "row 3: notice date 2001-01-01 is before the incident date"),
])
def test_a_bad_row_refuses_the_whole_file_before_sending(member: Path, operator: Any, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], row: str,
                                                         expected: str) -> None:
    lines = GOOD.splitlines()
    path = batch(tmp_path, "\n".join([*lines[:2], row.format(day=DAY), *lines[2:]]) + "\n")
    before = operator.ledger.store.size()
    code, out, err = cli(capsys, "report", "import", "--identity", str(member), "--server",
                         f"127.0.0.1:{operator.port}", "--file", str(path), "--json")
    assert code == 1  # the CLI's status for every CandorError, InvalidInput included
    assert expected in " ".join(err.split()) and "Traceback" not in err
    assert json.loads(out)["error"] == "invalid_argument"
    assert operator.ledger.store.size() == before  # nothing was sent, not even the good rows
    assert not (member / "pending").exists() or not list((member / "pending").glob("*.leaf"))


@pytest.mark.parametrize(("text", "expected"), [
    ("subject,category,tier\nshop-8,fake_traffic,minor\n", "row 1 (the header): missing column(s) incident_date"),
    ("subject,category,tier,incident_date,grade\n", "row 1 (the header): unknown column(s) 'grade'"),
    ("subject,category,tier,incident_date\n\n", "has a header but no reports"),
    ("subject,category,tier,incident_date\n" + f"shop-8,fake_traffic,minor,{DAY}\n" * 10_001,
     "has more than 10000 reports (row 10002 is one too many)"),
])
def test_a_bad_file_is_one_clear_line(member: Path, operator: Any, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    before = operator.ledger.store.size()
    code, _, err = cli(capsys, "report", "import", "--identity", str(member), "--server",
                       f"127.0.0.1:{operator.port}", "--file", str(batch(tmp_path, text)))
    assert code == 1 and expected in " ".join(err.split())
    assert operator.ledger.store.size() == before


def test_refused_and_unanswered_rows_exit_1_and_name_resend(member: Path, operator: Any, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real = Member.submit_reports

    def some_fail(self: Member, reports: Any) -> list[Any]:
        # The first report goes through the real stream; the ledger's refusal of the second and
        # a stream that broke before the third was answered are what the SDK would return.
        return [*real(self, reports[:1]), InvalidInput("refused by the ledger"), Unavailable("stream ended")]

    monkeypatch.setattr(Member, "submit_reports", some_fail)
    code, out, err = cli(capsys, "report", "import", "--identity", str(member), "--server",
                         f"127.0.0.1:{operator.port}", "--file", str(batch(tmp_path)), "--json")
    assert code == 1
    shown = json.loads(out)
    assert "report_id" in shown[0]
    assert shown[1] == {"row": 3, "error": {"type": "InvalidInput", "message": "refused by the ledger"}}
    assert shown[2] == {"row": 4, "error": {"type": "Unavailable", "message": "stream ended"}}
    err = " ".join(err.split())
    assert "1 of 3 reports recorded" in err and "row(s) 3 refused" in err
    assert "row(s) 4 unanswered and kept pending" in err and "candor report resend" in err


def test_resend_sends_pending_reports_byte_for_byte(member: Path, operator: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = f"127.0.0.1:{operator.port}"
    code, out, _ = cli(capsys, "report", "resend", "--identity", str(member), "--server", server)
    assert code == 0 and out.strip() == "nothing pending"
    code, out, _ = cli(capsys, "report", "resend", "--identity", str(member), "--server", server, "--json")
    assert code == 0 and json.loads(out) == []
    # A report prepared and kept in pending/ whose answer never came (the process died).
    with Member(Identity.load(member), server, pool_size=0, coupon_pool_size=0) as sdk:
        leaf = sdk.prepare_report("streamer-42", "fake_traffic", "general", DAY)
    rid = wire.signed_entry_from_bytes(leaf).entry.body.report_id  # type: ignore[union-attr]
    (member / "pending").mkdir(exist_ok=True)
    (member / "pending" / f"{rid.hex()}.leaf").write_bytes(leaf)
    before = operator.ledger.store.size()
    code, out, err = cli(capsys, "report", "resend", "--identity", str(member), "--server", server, "--json")
    assert code == 0, err
    [shown] = json.loads(out)
    assert shown["report_id"] == rid.hex() and operator.ledger.store.size() == before + 1
    stored = wire.signed_entry_from_bytes(base64.b64decode(shown["receipt"]["leaf"]))
    assert stored.entry_bytes == wire.signed_entry_from_bytes(leaf).entry_bytes  # the very bytes prepared
    assert not list((member / "pending").glob("*.leaf"))
    code, out, _ = cli(capsys, "report", "resend", "--identity", str(member), "--server", server)
    assert code == 0 and out.strip() == "nothing pending"
