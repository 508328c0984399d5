"""The rated anchor as a party (docs/subjects.md), through the real CLI and gRPC: enrolment,
its own verified record, disputes end to end, the dispute docket, a member's own reports,
and every refusal (with nothing stored)."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from api.identity import Identity
from candor.cli import main
from client.sdk import Member
from client.witness import Witness
from core import record, state
from core.subject import subject_tag

DAY = (_dt.date.today() - _dt.timedelta(days=3)).isoformat()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    main(list(argv))
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run a command expected to fail: exit 1, one JSON error object, no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--json"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    data: dict[str, Any] = json.loads(captured.out.strip().splitlines()[-1])
    return data


class World:
    def __init__(self, alliance: Path, operator: Any, tmp: Path) -> None:
        self.alliance, self.operator, self.tmp = alliance, operator, tmp
        self.server = f"127.0.0.1:{operator.port}"
        self.regulator = str(alliance / "regulator")
        self.key = Identity.load(alliance / "regulator").hex_file("subject.key")
        for name in ("a", "b"):  # the CLI keeps verifier state in the folder: use copies
            shutil.copytree(alliance / f"member-{name}", tmp / f"member-{name}")

    def member_dir(self, name: str) -> str:
        return str(self.tmp / f"member-{name}")

    def report(self, member: str, subject: str, tier: str = "minor", notice: str | None = None) -> str:
        with Member(Identity.load(self.member_dir(member)), self.server) as m:
            return m.submit_report(subject, "fake_traffic", tier, DAY, notice_date=notice).report_id.hex()

    def cosign(self) -> None:
        ledger = self.operator.ledger
        ledger.wait_checkpoint(ledger.store.size())
        w = Witness.open(Identity.load(self.alliance / "witness-1"), self.server, self.tmp)
        try:
            w.step()
        finally:
            w.conn.close()

    def size(self) -> int:
        return int(self.operator.ledger.store.size())

    def enrol(self, capsys: pytest.CaptureFixture[str], subject: str, out: Path) -> dict[str, Any]:
        return run(capsys, "subject", "enrol", "--identity", self.regulator, "--server", self.server,
                   "--subject", subject, "--out", str(out), "--json")


@pytest.fixture()
def world(alliance_dir: Path, operator: Any, tmp_path: Path) -> World:
    return World(alliance_dir, operator, tmp_path)


def test_enrol_binds_the_tag_never_the_raw_id(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    out = world.tmp / "anchor"
    before = world.size()
    enrolled = world.enrol(capsys, "Streamer-42", out)
    tag = subject_tag(world.key, "streamer-42")
    assert enrolled["subject_tag"] == tag.hex() and enrolled["verified"] is True
    assert enrolled["index"] == before
    identity = Identity.load(out)
    assert identity.role == "subject" and identity.name == tag.hex()
    assert not (out / "subject.key").exists()  # the subject never holds the alliance subject key
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600
        assert b"streamer-42" not in f.read_bytes().lower()
    leaf = world.operator.ledger.store.entry(before)
    assert b"streamer-42" not in leaf.lower()
    party = state.subject_party(world.operator.ledger.view, tag)
    assert party is not None and party.revoked_at is None
    # The same anchor twice: refused, nothing stored, no folder left behind.
    again = refused(capsys, "subject", "enrol", "--identity", world.regulator, "--server", world.server,
                    "--subject", "streamer-42", "--out", str(world.tmp / "again"))
    assert again["error"] == "already_exists" and "revoke that enrolment first" in again["message"]
    assert world.size() == before + 1
    assert not (world.tmp / "again").exists()
    assert not [p for p in world.tmp.iterdir() if p.name.startswith(".again")]


def test_only_the_regulator_enrols_or_authorises(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = world.size()
    err = refused(capsys, "subject", "enrol", "--identity", world.member_dir("a"), "--server", world.server,
                  "--subject", "s", "--out", str(world.tmp / "s"))
    assert err["error"] == "permission_denied" and "only the regulator" in err["message"]
    err = refused(capsys, "subject", "authorise-access", "--identity", str(world.alliance / "operator"),
                  "--server", world.server, "--subject", "s")
    assert err["error"] == "permission_denied"
    # A folder with the regulator's keys but a member's certificate: the operator refuses the call.
    fake = world.tmp / "fake-regulator"
    shutil.copytree(world.alliance / "regulator", fake)
    for f in ("tls.key", "tls.crt"):
        shutil.copy(world.alliance / "member-a" / f, fake / f)
    info = json.loads((fake / "identity.json").read_text())
    assert info["role"] == "regulator"  # the local check passes; the certificate decides
    err = refused(capsys, "subject", "enrol", "--identity", str(fake), "--server", world.server,
                  "--subject", "s", "--out", str(world.tmp / "s"))
    assert err["error"] == "permission_denied" and "your certificate says member" in err["message"]
    err = refused(capsys, "subject", "authorise-access", "--identity", str(fake), "--server", world.server,
                  "--subject", "s")
    assert err["error"] == "permission_denied" and "your certificate says member" in err["message"]
    assert world.size() == before
    assert not (world.tmp / "s").exists()


@pytest.mark.slow
def test_record_disputes_and_docket_end_to_end(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    r1 = world.report("a", "anchor-1")
    r2 = world.report("a", "anchor-1", "serious", notice=DAY)
    r3 = world.report("b", "anchor-1")
    other = world.report("a", "anchor-2")
    folder = world.tmp / "anchor-1"
    world.enrol(capsys, "anchor-1", folder)
    subj = str(folder)
    # Member b looks the anchor up: the anchor sees it in its query log.
    world.cosign()
    run(capsys, "rating", "get", "--identity", world.member_dir("b"), "--server", world.server,
        "--subject", "anchor-1", "--purpose", "pre-contract", "--json")
    world.cosign()

    rec = run(capsys, "subject", "record", "--identity", subj, "--server", world.server, "--json")
    assert [r["report_id"] for r in rec["reports"]] == [r1, r2, r3]
    assert {r["status"] for r in rec["reports"]} == {"active"}
    assert all(r["category"] == "fake_traffic" and r["incident_date"] == DAY for r in rec["reports"])
    # The day each reporter says it told the anchor (the SDK's default is the day of the report).
    assert [r["notice_date"] for r in rec["reports"]] == [r["recorded_on"] if i != 1 else DAY
                                                          for i, r in enumerate(rec["reports"])]
    tag = subject_tag(world.key, "anchor-1").hex()
    # Its own look (purpose self) is in its query log too, as on a PBOC credit report.
    assert [(q["role"], q["name"], q["purpose"]) for q in rec["queries"]] == [
        ("member", "b", "pre-contract"), ("subject", tag, "self")]
    assert rec["rating"]["state"] == "below_k" and rec["rating"]["reporters"] == 2

    # The subject disputes its own report: flagged at once, due in 20 days.
    filed = run(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", r1,
                "--statement", "the views were real", "--json")
    world.cosign()
    rec = run(capsys, "subject", "record", "--identity", subj, "--server", world.server, "--json")
    first = rec["reports"][0]
    assert first["status"] == "disputed" and rec["rating"]["state"] == "disputed"
    assert first["disputes"][0]["dispute_id"] == filed["dispute_id"] and first["disputes"][0]["by"] == "subject"
    today = _dt.datetime.now(_dt.UTC).date()
    assert first["disputes"][0]["due"] == (today + _dt.timedelta(days=20)).isoformat() == filed["answer_due"]

    size = world.size()
    # Refusals, each with what to do, and nothing stored.
    err = refused(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", "zz",
                  "--statement", "not hex")
    assert err["error"] == "invalid_argument" and "report list" in err["message"]
    err = refused(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", other,
                  "--statement", "not me")
    assert err["error"] == "permission_denied" and "not about you" in err["message"]
    err = refused(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", r1,
                  "--statement", "the views were real")
    assert err["error"] == "failed_precondition" and "already under dispute" in err["message"]
    assert world.size() == size

    # The regulator's docket: the open dispute with its due date, not overdue.
    docket = run(capsys, "dispute", "list", "--identity", world.regulator, "--server", world.server, "--open",
                 "--json")["disputes"]
    assert [(d["dispute_id"], d["report_id"], d["open"], d["overdue"], d["filed_by"]) for d in docket] == [
        (filed["dispute_id"], r1, True, False, "subject")]
    assert docket[0]["due"] == first["disputes"][0]["due"]
    assert docket[0]["subject_tag"] == subject_tag(world.key, "anchor-1").hex()
    assert run(capsys, "dispute", "list", "--identity", world.regulator, "--server", world.server, "--overdue",
               "--json")["disputes"] == []
    err = refused(capsys, "dispute", "list", "--identity", world.member_dir("a"), "--server", world.server)
    assert err["error"] == "permission_denied"

    # The regulator annotates; the same dispute again is refused, a new statement is not.
    run(capsys, "dispute", "resolve", "--identity", world.regulator, "--server", world.server,
        "--dispute-id", filed["dispute_id"], "--outcome", "annotate", "--annotation", "both sides recorded", "--json")
    size = world.size()
    err = refused(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", r1,
                  "--statement", "the views were real")
    assert err["error"] == "already_exists" and "add what is new" in err["message"]
    assert world.size() == size
    # A member files on the subject's behalf; the regulator retracts.
    on_behalf = run(capsys, "dispute", "file", "--identity", world.member_dir("b"), "--server", world.server,
                    "--report-id", r2, "--statement", "the contract was honoured", "--json")
    run(capsys, "dispute", "resolve", "--identity", world.regulator, "--server", world.server,
        "--dispute-id", on_behalf["dispute_id"], "--outcome", "retract", "--json")
    # A dispute on a retracted report: refused.
    size = world.size()
    err = refused(capsys, "dispute", "file", "--identity", subj, "--server", world.server, "--report-id", r2,
                  "--statement", "and another thing")
    assert err["error"] == "failed_precondition" and "retracted" in err["message"]
    assert world.size() == size

    # The regulator files one itself.
    run(capsys, "dispute", "file", "--identity", world.regulator, "--server", world.server, "--report-id", r3,
        "--statement", "supervisory review", "--json")
    world.cosign()
    rec = run(capsys, "subject", "record", "--identity", subj, "--server", world.server, "--json")
    by_id = {r["report_id"]: r for r in rec["reports"]}
    assert by_id[r1]["status"] == "active" and by_id[r1]["annotation"] == "both sides recorded"
    assert by_id[r1]["disputes"][0]["outcome"] == "annotate"
    assert by_id[r2]["status"] == "retracted" and by_id[r2]["disputes"][0]["by"] == "member"
    # The regulator's docket names the member that filed on the subject's behalf.
    assert by_id[r3]["status"] == "disputed" and by_id[r3]["disputes"][0]["by"] == "regulator"
    docket = run(capsys, "dispute", "list", "--identity", world.regulator, "--server", world.server,
                 "--json")["disputes"]
    assert [(d["outcome"], d["filed_by"]) for d in docket] == [
        ("annotate", "subject"), ("retract", "member b"), (None, "regulator")]

    # The member's own reports, found on the ledger by its link tags.
    mine = run(capsys, "report", "list", "--identity", world.member_dir("a"), "--server", world.server,
               "--json")["reports"]
    assert [(r["report_id"], r["status"]) for r in mine] == [(r1, "active"), (r2, "retracted"), (other, "active")]
    mine = run(capsys, "report", "list", "--identity", world.member_dir("a"), "--server", world.server,
               "--subject", "anchor-2", "--json")["reports"]
    assert [r["report_id"] for r in mine] == [other]
    theirs = run(capsys, "report", "list", "--identity", world.member_dir("b"), "--server", world.server,
                 "--json")["reports"]
    assert [r["report_id"] for r in theirs] == [r3]
    err = refused(capsys, "report", "list", "--identity", world.regulator, "--server", world.server)
    assert err["error"] == "permission_denied"

    # The same three commands as tables, for people.
    for argv, title in ((("subject", "record", "--identity", subj), "Reports about you (3)"),
                        (("dispute", "list", "--identity", world.regulator), "Disputes (3;"),
                        (("report", "list", "--identity", world.member_dir("a")), "Your reports (3;")):
        main([*argv, "--server", world.server])
        shown = capsys.readouterr().out
        assert title in shown and "Traceback" not in shown
        assert argv[0] != "subject" or "notifi" in shown  # the notice date column (80 columns wide)


@pytest.mark.slow
def test_revoked_subject_is_refused_and_can_be_enrolled_again(world: World,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    world.report("a", "anchor-9")
    old = world.tmp / "old"
    world.enrol(capsys, "anchor-9", old)
    authorised = run(capsys, "subject", "authorise-access", "--identity", world.regulator, "--server",
                     world.server, "--subject", "anchor-9", "--json")
    assert authorised["verified"] is True and "next rating epoch" in authorised["tiers"]
    err = refused(capsys, "subject", "authorise-access", "--identity", world.regulator, "--server", world.server,
                  "--subject", "anchor-9")
    assert err["error"] == "already_exists"
    err = refused(capsys, "subject", "authorise-access", "--identity", world.regulator, "--server", world.server,
                  "--subject", "never-enrolled")
    assert err["error"] == "not_found" and "subject enrol" in err["message"]
    world.cosign()
    rec = run(capsys, "subject", "record", "--identity", str(old), "--server", world.server, "--json")
    assert rec["access_authorised_at"] == authorised["index"]

    run(capsys, "subject", "revoke", "--identity", world.regulator, "--server", world.server,
        "--subject", "anchor-9", "--reason", "lost key", "--json")
    err = refused(capsys, "subject", "record", "--identity", str(old), "--server", world.server)
    assert err["error"] == "permission_denied" and "revoked enrolment" in err["message"]
    new = world.tmp / "new"
    world.enrol(capsys, "anchor-9", new)
    world.cosign()
    rec = run(capsys, "subject", "record", "--identity", str(new), "--server", world.server, "--json")
    assert len(rec["reports"]) == 1 and rec["access_authorised_at"] is None
    # The old certificate names the same tag, but not the current enrolment: still refused.
    err = refused(capsys, "subject", "record", "--identity", str(old), "--server", world.server)
    assert err["error"] == "permission_denied"
    # The old signing key cannot file a dispute either.
    rid = rec["reports"][0]["report_id"]
    shutil.copy(new / "tls.key", old / "tls.key")
    shutil.copy(new / "tls.crt", old / "tls.crt")
    err = refused(capsys, "dispute", "file", "--identity", str(old), "--server", world.server, "--report-id", rid,
                  "--statement", "signed with the revoked key")
    assert err["error"] == "permission_denied" and "revoked enrolment" in err["message"]
    # The auditor replays every subject entry through the same ledger rules.
    audit = run(capsys, "audit", "--identity", world.regulator, "--server", world.server, "--no-quorum", "--json")
    assert audit["ok"] is True
    assert (audit["entries"]["SubjectEnrolled"], audit["entries"]["SubjectRevoked"],
            audit["entries"]["SubjectAccessAuthorised"]) == (2, 1, 1)


def test_a_subject_reads_only_its_own_query_log(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from api.v1 import rating_pb2
    from client.connection import Connection
    from core.errors import PermissionDenied

    folder = world.tmp / "anchor-q"
    world.enrol(capsys, "anchor-q", folder)
    with Connection(Identity.load(folder), world.server) as conn, pytest.raises(PermissionDenied) as info:
        conn.call(conn.rating.ListQueries,
                  rating_pb2.ListQueriesRequest(subject_tag=subject_tag(world.key, "someone-else")))
    assert "only the queries about itself" in str(info.value)
    before = world.operator.ledger.store.read_log("queries", 0, 1000)
    for tag, purpose in ((subject_tag(world.key, "someone-else"), "self"),
                         (subject_tag(world.key, "anchor-q"), "pre-contract")):
        with Connection(Identity.load(folder), world.server) as conn, pytest.raises(PermissionDenied) as info:
            conn.call(conn.rating.GetRating, rating_pb2.GetRatingRequest(subject_tag=tag, purpose=purpose))
        assert "only its own rating, with purpose self" in str(info.value)
    assert world.operator.ledger.store.read_log("queries", 0, 1000) == before  # nothing logged


def test_a_member_cannot_read_a_subject_record(world: World) -> None:
    from api.v1 import subject_pb2
    from client.connection import Connection
    from core.errors import PermissionDenied

    with Connection(Identity.load(world.member_dir("a")), world.server) as conn, \
            pytest.raises(PermissionDenied) as info:
        conn.call(conn.subject.GetSubjectRecord, subject_pb2.GetSubjectRecordRequest())
    assert "for the subject" in str(info.value)


def test_dispute_overdue_after_twenty_days() -> None:
    d = record.Dispute(dispute_id="00" * 16, report_id="11" * 16, filed_index=5, filed_on="2026-01-01",
                       due="2026-01-21", by="subject", statement="x")
    assert not d.overdue(_dt.date(2026, 1, 21)) and d.overdue(_dt.date(2026, 1, 22))
    answered = record.Dispute(**{**vars(d), "outcome": "uphold", "resolved_on": "2026-01-25", "resolved_index": 9})
    assert answered.overdue(_dt.date(2026, 1, 30)) and not answered.open


def _report(index: int, incident: str, seed: int) -> record.Located:
    from core import entries as e

    commitment = bytes([seed]) * 48
    body = e.ReportCommitted(report_id=e.derive_report_id(commitment), subject_tag=b"\x07" * 32,
                             category="fake_traffic", incident_date=incident, evidence_digest=bytes(32),
                             commitment=commitment, validity_proof=b"p", ciphertext=5, ring_change=1)
    return record.Located(index, e.LedgerEntry(body, timestamp_ms=1_767_225_600_000), "ring")


def test_report_statuses_in_order_of_precedence() -> None:
    from core import entries as e
    from core.rules import default_rules

    active, expired, retracted, fraud, disputed = (
        _report(10, "2025-06-01", 1), _report(11, "2020-01-10", 2), _report(12, "2025-06-01", 3),
        _report(13, "2025-06-01", 4), _report(14, "2020-01-10", 5))
    rid = {x.index: x.entry.body.report_id for x in (active, expired, retracted, fraud, disputed)}  # type: ignore[union-attr]
    at = 1_767_312_000_000
    later = [
        record.Located(20, e.LedgerEntry(e.ReportRetracted(rid[12], 1), timestamp_ms=at), "ring"),
        record.Located(21, e.LedgerEntry(e.FraudFound(rid[13], b"\x07" * 32, "did not open"), timestamp_ms=at),
                       "operator"),
        record.Located(22, e.LedgerEntry(e.DisputeFiled(b"\x01" * 16, rid[14], "not me"), timestamp_ms=at),
                       "subject"),
    ]
    statuses = record.report_statuses([active, expired, retracted, fraud, disputed, *later], default_rules(),
                                      _dt.date(2026, 1, 2))
    assert [s.status for s in statuses] == ["active", "expired", "retracted", "fraudulent", "disputed"]
    assert statuses[4].disputes[0].due == "2026-01-22"
    assert statuses[1].expires_on is not None and statuses[1].expires_on <= "2026-01-02"


def test_no_log_line_names_the_subject(world: World, capsys: pytest.CaptureFixture[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    """The subject's certificate carries its tag; no log line of enrolment, record, dispute or
    refusal may (not even a 12-digit prefix)."""
    import logging

    from server.logging_setup import JsonFormatter

    caplog.set_level(logging.DEBUG)
    rid = world.report("a", "anchor-log")
    folder = world.tmp / "anchor-log"
    world.enrol(capsys, "anchor-log", folder)
    refused(capsys, "subject", "enrol", "--identity", world.regulator, "--server", world.server,
            "--subject", "anchor-log", "--out", str(world.tmp / "twice"))
    world.cosign()
    run(capsys, "subject", "record", "--identity", str(folder), "--server", world.server, "--json")
    run(capsys, "dispute", "file", "--identity", str(folder), "--server", world.server, "--report-id", rid,
        "--statement", "no", "--json")
    tag = subject_tag(world.key, "anchor-log").hex()
    fmt = JsonFormatter()
    lines = [fmt.format(r) for r in caplog.records]
    assert lines, "nothing was logged: the test would prove nothing"
    assert not [line for line in lines if tag[:12] in line]


def test_a_subject_cannot_read_another_subjects_record(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The request names no subject: editing the folder to claim another tag gets the
    certificate's own record back, which the client then refuses as not its own."""
    world.report("a", "anchor-x")
    world.report("b", "anchor-y")
    x, y = world.tmp / "x", world.tmp / "y"
    world.enrol(capsys, "anchor-x", x)
    world.enrol(capsys, "anchor-y", y)
    world.cosign()
    (x / "subject.tag").write_text(subject_tag(world.key, "anchor-y").hex())
    err = refused(capsys, "subject", "record", "--identity", str(x), "--server", world.server)
    assert err["error"] == "verification_failed" and "not the regulator's SubjectEnrolled of this subject" \
        in err["message"]
    # A folder with the other subject's tag and signing key but its own certificate: the
    # operator still answers for the certificate's subject only.
    shutil.copy(y / "signing.key", x / "signing.key")
    err = refused(capsys, "subject", "record", "--identity", str(x), "--server", world.server)
    assert err["error"] == "verification_failed"
    assert run(capsys, "subject", "record", "--identity", str(y), "--server", world.server,
               "--json")["subject_tag"] == subject_tag(world.key, "anchor-y").hex()
