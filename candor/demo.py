"""`candor demo`: a whole alliance on localhost in one command.

It runs the key ceremony in a temporary folder and starts the operator, three trustees
(2 of 3 needed to decrypt) and a witness as real `candor` processes serving gRPC with
mutual TLS. Then it tells the whole story: platforms submit encrypted, committed, proven
reports (every receipt verified); an epoch publishes ratings (a score and grade with a
publication proof, never a per-tier count; docs/ratings.md) that a member verifies locally
against the cosigned ledger; a subject reported by only one platform stays below k; a
retraction is published alone as a correction at the next epoch; a platform that encrypts
something other than it committed is held, found by a logged bisection (two combiners per
step) once the regulator authorises an investigation, concluded by the regulator's FraudFound
and excluded; finally the regulator audits the whole ledger by
replay.
"""

from __future__ import annotations

import datetime as _dt
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.errors import Unavailable

T = TypeVar("T")
MEMBERS = ("douyin-mall", "kuaishou-shop", "taobao-live", "pdd-live")
# (member, subject, category, tier, days ago): the scripted part of the story.
REPORTS = (
    ("douyin-mall", "anchor:sunny-beauty", "false_advertising", "minor", 40),
    ("kuaishou-shop", "anchor:sunny-beauty", "refund_refusal", "minor", 70),
    ("taobao-live", "anchor:sunny-beauty", "review_manipulation", "general", 120),
    ("douyin-mall", "anchor:gadget-guru", "fake_traffic", "serious", 30),
    ("taobao-live", "anchor:gadget-guru", "counterfeit_goods", "serious", 200),
    ("kuaishou-shop", "anchor:gadget-guru", "refund_refusal", "general", 500),
    ("kuaishou-shop", "anchor:farm-fresh-daily", "contract_default", "critical", 60),
    ("douyin-mall", "anchor:farm-fresh-daily", "false_advertising", "minor", 90),
    ("taobao-live", "anchor:farm-fresh-daily", "contract_default", "minor", 110),
    ("pdd-live", "anchor:farm-fresh-daily", "refund_refusal", "minor", 45),
    ("taobao-live", "anchor:li-fan-shop", "fake_traffic", "general", 15),
    ("douyin-mall", "anchor:flash-deals", "off_platform_luring", "general", 20),
    ("kuaishou-shop", "anchor:flash-deals", "fake_traffic", "minor", 25),
    ("taobao-live", "anchor:flash-deals", "refund_refusal", "minor", 35),
)
CHEAT = ("pdd-live", "anchor:flash-deals", "refund_refusal", "minor", "critical", 10)
RETRACTED_SUBJECT = "anchor:farm-fresh-daily"


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "candor.cli", *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


def _wait_for(predicate: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(0.2)
    raise Unavailable(f"demo: {what} did not happen within {timeout:.0f} s"
                      + (f" (last error: {last})" if last else ""))


def cheating_report(member: Any, subject_id: str, category: str, committed_tier: str, encrypted_tier: str,
                    incident_date: str) -> bytes:
    """A report whose ciphertext says something other than its commitment: a well-formed,
    ring-signed, proven report from a dishonest member (the demo's and the tests' culprit).
    Its validity proof holds — it is about the commitment — so intake accepts it; the
    aggregate's opening check catches it at the next epoch."""
    import dataclasses

    from client.sdk import encrypt_report
    from core import paillier
    from core.pedersen import Tier, slot

    body, tag = member._report_body(subject_id, category, committed_tier, incident_date, b"", True,
                                    int(time.time() * 1000))
    index = member.categories.index(category)
    forged = encrypt_report(member.public_key, paillier.pack(0, slot(index, Tier.parse(encrypted_tier))), member.pool)
    return bytes(member.sign_entry(dataclasses.replace(body, ciphertext=forged), tag))


class _Story:
    def __init__(self, root: Path, key_bits: int, con: Console, json_mode: bool) -> None:
        from server.ceremony import Plan, init_alliance

        self.root = root
        self.con = con
        self.json_mode = json_mode
        self.procs: list[subprocess.Popen[bytes]] = []
        port, *trustee_ports = _free_ports(4)
        self.alliance = root / "alliance"
        with con.status(f"key ceremony: {key_bits}-bit threshold Paillier key, generating safe primes"):
            init_alliance(Plan(directory=self.alliance, members=MEMBERS, trustees=3, threshold=2, witnesses=1,
                               quorum=1, key_bits=key_bits, server=f"127.0.0.1:{port}",
                               trustee_addresses=tuple(f"127.0.0.1:{p}" for p in trustee_ports)))
        self.port = port

    def start(self) -> None:
        from api.identity import Identity
        from client.connection import Connection

        self.procs.append(_start(["serve", "--identity", str(self.alliance / "operator"),
                                  "--data", str(self.root / "ledger.db")], self.root / "operator.log"))
        self.regulator = Identity.load(self.alliance / "regulator")
        self.conn = Connection(self.regulator)
        _wait_for(lambda: self.conn.checkpoint().size, "the operator start")
        self.procs.append(_start(["witness", "--identity", str(self.alliance / "witness-1"), "--interval", "0.2"],
                                 self.root / "witness.log"))
        for i in (1, 2, 3):
            self.procs.append(_start(["trustee", "serve", "--identity", str(self.alliance / f"trustee-{i}")],
                                     self.root / f"trustee-{i}.log"))

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def cosigned(self) -> int:
        """Wait until the witness has cosigned everything appended so far."""
        from client.verifier import LogVerifier

        verifier = LogVerifier(self.regulator.genesis_leaf())
        size = self.conn.checkpoint().size
        return _wait_for(lambda: size if verifier.open(self.conn.checkpoint().note).checkpoint.size >= size else None,
                         "the witness cosignature")

    def epoch(self) -> Any:
        from api.identity import Identity
        from client.ratings import RatingClient

        self.cosigned()
        with RatingClient(Identity.load(self.alliance / "operator")) as operator:
            result = operator.run_epoch()
        self.cosigned()
        for message in result.messages:
            self.con.print(f"   [dim]{self.named(message)}[/dim]")
        return result

    def named(self, message: str) -> str:
        """The operator names subjects by tag prefix (it never learns a name); the demo,
        which holds a member's subject key, shows the names it reported under instead."""
        from api.identity import Identity
        from core.subject import subject_tag

        key = Identity.load(self.alliance / f"member-{MEMBERS[0]}").hex_file("subject.key")
        for name in {subject for _, subject, *_ in REPORTS}:
            message = message.replace(subject_tag(key, name).hex()[:12] + "…", name)
        return message


DISPUTED = ("douyin-mall", "anchor:gadget-guru")
"""The subject chapter: this anchor enrols, reads its record and disputes this member's report."""


def subject_chapter(story: _Story, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    """The rated anchor as a party (docs/subjects.md): the regulator enrols it, it reads its
    own verified record and disputes a report about itself, the regulator retracts it, and
    the next epoch re-rates it at once (a correction is never held back)."""
    import secrets

    from api import wire
    from api.identity import Identity
    from api.v1 import governance_pb2
    from client.connection import Connection
    from client.regulator import Regulator
    from client.subject import SubjectClient
    from core import entries as e

    con = story.con
    member, anchor = DISPUTED
    folder = story.root / "subject"
    with Regulator(story.regulator) as regulator:
        regulator.enrol_subject(anchor, folder)  # the folder exists only once the ledger holds the enrolment
    con.print(f"8. The regulator enrols {anchor} as a party: its own keys, a certificate bound to its subject tag "
              "(never its name)")
    story.cosigned()
    with SubjectClient(Identity.load(folder), state_dir=story.root / "subject-state") as client:
        before = client.own_record()
    report = next(r for r in receipts if r["member"] == member and r["subject"] == anchor)
    con.print(f"   its record, verified against the cosigned ledger: {len(before.reports)} reports "
              f"({', '.join(f'{r.category} {r.status}' for r in before.reports)}); rating {before.rating.state}; "
              f"{len(before.queries)} queries logged about it")
    dispute_id = secrets.token_bytes(16)
    with Connection(Identity.load(folder)) as conn:
        conn.call(conn.governance.FileDispute, governance_pb2.SubmitEntryRequest(signed_entry=wire.sign_leaf(
            e.LedgerEntry(e.DisputeFiled(dispute_id, bytes.fromhex(report["report_id"]), "no fake traffic: the "
                                         "platform's own statistics show organic views"),
                          timestamp_ms=int(time.time() * 1000)), Identity.load(folder).signing_key())))
    con.print(f"9. {anchor} disputes the {report['category']} report of {member}: flagged at once, answer due in "
              "20 days; the regulator checks it and retracts the report")
    with Regulator(story.regulator) as regulator:
        regulator.resolve_dispute(dispute_id, "retract", "organic views confirmed")
    story.epoch()
    with SubjectClient(Identity.load(folder), state_dir=story.root / "subject-state") as client:
        after = client.own_record()
    status = next(r.status for r in after.reports if r.report_id == report["report_id"])
    con.print(f"   next epoch, not 30 days later: the report is {status}; the rating is now {after.rating.state} "
              f"(history: {', '.join(ev.kind for ev in after.ratings[-2:])})")
    return {"subject_enrolled": anchor, "subject_record_reports": len(before.reports),
            "subject_dispute_status": status, "subject_state_before": before.rating.state,
            "subject_state_after": after.rating.state}


def run_demo(key_bits: int = 2048, reports: int = 0, json_mode: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    from api.identity import Identity
    from client.audit import check_root, replay
    from client.ratings import Rating, RatingClient
    from client.sdk import Member
    from client.verifier import LogVerifier

    con = console or Console(stderr=True)
    today = _dt.date.today()
    with tempfile.TemporaryDirectory(prefix="candor-demo-") as tmp:
        root = Path(tmp)
        con.rule("[bold]Candor demo")
        con.print(f"1. Key ceremony: alliance CA, {len(MEMBERS)} platforms, 3 trustees (2 needed), 1 witness")
        story = _Story(root, key_bits, con, json_mode)
        members: dict[str, Member] = {}
        try:
            con.print("2. Starting the operator, three trustees and a witness: real processes, gRPC with mTLS")
            story.start()
            members = {m: Member(Identity.load(story.alliance / f"member-{m}"), state_dir=root / f"state-{m}")
                       for m in MEMBERS}

            con.print("3. Platforms report anchors: severity encrypted + committed + proven, reporter hidden in a ring")
            script = list(REPORTS) + [
                (MEMBERS[i % 3], "anchor:sunny-beauty", "review_manipulation", "minor", 300 + i) for i in range(reports)
            ]
            receipts: list[dict[str, Any]] = []
            with Progress(console=con, transient=json_mode) as progress:
                task = progress.add_task("reports", total=len(script) + 1)
                for member, subject, category, tier, days in script:
                    date = (today - _dt.timedelta(days=days)).isoformat()
                    r = members[member].submit_report(subject, category, tier, date,
                                                      evidence=f"{subject} {days}".encode())
                    receipts.append({"member": member, "subject": subject, "category": category,
                                     "report_id": r.report_id.hex(), "index": r.index})
                    progress.advance(task)
                cheater, subject, category, committed, encrypted, days = CHEAT
                leaf = cheating_report(members[cheater], subject, category, committed, encrypted,
                                       (today - _dt.timedelta(days=days)).isoformat())
                cheat = members[cheater].submit_prepared(leaf)
                receipts.append({"member": cheater, "subject": subject, "category": category,
                                 "report_id": cheat.report_id.hex(), "index": cheat.index})
                progress.advance(task)
            con.print(f"   {len(receipts)} receipts, each verified by the SDK (signed checkpoint + inclusion proof); "
                      f"one of them, from {cheater}, encrypts '{encrypted}' but commits to '{committed}'")

            con.print("4. Rating epoch: the operator logs a RatingRequested per subject; trustees rebuild each set "
                      "from their own mirror and seal their shares to the designated combiner, which proves and signs "
                      "the score")
            story.epoch()
            subjects = sorted({r["subject"] for r in receipts})
            reader = RatingClient(Identity.load(story.alliance / "member-taobao-live"), state_dir=root / "reader")
            verified = 0

            def show(title: str) -> dict[str, Any]:
                nonlocal verified
                table = Table(title=title)
                for col in ("subject", "state", "grade", "score", "reports", "reporters", "pending", "verified"):
                    table.add_column(col)
                grades: dict[str, Any] = {}
                for subject in subjects:
                    rating = reader.get_rating(subject, "pre-contract")
                    if isinstance(rating, Rating):
                        verified += 1
                        grades[subject] = rating.grade
                        table.add_row(subject, rating.state, rating.grade, str(rating.shown_score), str(rating.reports),
                                      str(rating.reporters), str(rating.pending), "proof verified")
                    else:
                        grades[subject] = None
                        table.add_row(subject, rating.state, "-", "-", "-", str(rating.reporters or "-"),
                                      str(rating.pending), "yes")
                if not json_mode:
                    con.print(table)
                return grades

            first = show("Ratings after epoch 1 (each verified locally: quorum checkpoint, inclusions, the combiner's "
                         "signature and the publication proof binding score to the commitments; no count is published)")

            retract = next(r for r in receipts if r["subject"] == RETRACTED_SUBJECT and r["member"] == "kuaishou-shop")
            con.print(f"5. kuaishou-shop retracts its critical report on {RETRACTED_SUBJECT}; taobao-live and "
                      "pdd-live report it again")
            members["kuaishou-shop"].retract_report(retract["report_id"])
            for again in ("taobao-live", "pdd-live"):
                members[again].submit_report(RETRACTED_SUBJECT, "refund_refusal", "general",
                                             (today - _dt.timedelta(days=5)).isoformat())
            con.print(f"6. The regulator authorises an investigation of the held subject {subject}; the operator "
                      "logs each bisection step (InvestigationStep) and two combiners judge it, sealing their "
                      "evidence to the regulator (the operator never sees a plaintext)")
            from client.regulator import Regulator

            with Regulator(story.regulator) as regulator:
                regulator.authorise_investigation(subject, "the aggregate did not open")
                second = story.epoch()
                story.cosigned()
                conclusion = regulator.conclude_investigation(subject)
            con.print(f"   The regulator re-checks both combiners' evidence and appends FraudFound for report "
                      f"{(conclusion.report_id or '?')[:12]}… (step {conclusion.step})")
            con.print("7. Next epoch: the inconsistent report is excluded and the subject rated without it")
            story.epoch()
            final = show("Ratings after the retraction and the investigation")
            subject_story = subject_chapter(story, receipts)

            con.print("10. The regulator audits: download everything, re-verify every entry, proof and rating")
            verifier = LogVerifier(story.regulator.genesis_leaf())
            checkpoint = verifier.open(story.conn.checkpoint().note)
            leaves = story.conn.entries(0, checkpoint.checkpoint.size)
            _, report = replay(leaves)
            check_root(report, checkpoint.checkpoint.size, checkpoint.checkpoint.root_hash)
            queries = reader.queries(RETRACTED_SUBJECT)
            reader.close()
            con.print("[green]Audit passed: the ledger replays from genesis, every rating re-derives, "
                      "and the root matches the cosigned checkpoint.[/green]")
            return {
                "members": len(MEMBERS),
                "subjects": len(subjects),
                "reports": len(receipts),
                "receipts_verified": len(receipts),
                "ratings_published": report.kinds.get("RatingPublished", 0),
                "ratings_verified": verified,
                "fraud_caught": int(conclusion.fraud_index is not None) if second.fraud_found else 0,
                "grades_first_epoch": first,
                "grades_final": final,
                "retraction_changed_grade": first[RETRACTED_SUBJECT] != final[RETRACTED_SUBJECT],
                "queries_logged": len(queries),
                "ledger_size": report.size,
                "cosigned_by": list(checkpoint.witnesses),
                "audit": "passed",
                **subject_story,
            }
        finally:
            for m in members.values():
                m.close()
            story.stop()
