"""`candor demo`: a whole alliance on localhost in one command.

It runs the key ceremony in a temporary folder, starts the operator and a witness as real
`candor` processes serving gRPC with mTLS, has several members submit reports about several
anchors (each receipt verified by the SDK), retracts one, waits for the witness to cosign,
verifies the cosigned checkpoint as a client would, and audits the whole ledger by replay.
"""

from __future__ import annotations

import datetime as _dt
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from core.errors import Unavailable

MEMBERS = ("douyin-mall", "kuaishou-shop", "taobao-live")
SUBJECTS = ("anchor:li-jiaqi-fan-shop", "anchor:sunny-beauty", "anchor:farm-fresh-daily", "anchor:gadget-guru")
CATEGORIES = ("fake_traffic", "false_advertising", "refund_refusal", "contract_default", "counterfeit_goods")
TIERS = ("minor", "general", "serious", "critical")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "candor.cli", *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)


def _wait_for(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - keep polling until the deadline
            pass
        time.sleep(0.2)
    raise Unavailable(f"demo: {what} did not happen within {timeout:.0f} s")


def run_demo(key_bits: int = 2048, reports: int = 12, json_mode: bool = False,
             console: Console | None = None) -> dict[str, Any]:
    from candor.identity import Identity
    from client.audit import check_root, replay
    from client.connection import Connection
    from client.sdk import Member
    from client.verifier import LogVerifier
    from server.ceremony import Plan, init_alliance

    con = console or Console(stderr=True)
    rng = random.Random(2026)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="candor-demo-") as tmp:
        root = Path(tmp)
        port = _free_port()
        con.rule("[bold]Candor demo")
        con.print(f"1. Key ceremony: CA, identities, {key_bits}-bit threshold Paillier key (2 of 3 trustees)")
        with con.status("generating safe primes (a few seconds)"):
            init_alliance(Plan(directory=root / "alliance", members=MEMBERS, trustees=3, threshold=2,
                               witnesses=1, quorum=1, key_bits=key_bits, server=f"127.0.0.1:{port}"))
        alliance = root / "alliance"
        try:
            con.print(f"2. Starting the operator on 127.0.0.1:{port} and a witness (real processes, mTLS)")
            procs.append(_start(["serve", "--identity", str(alliance / "operator"),
                                 "--data", str(root / "ledger.db")], root / "operator.log"))
            regulator = Identity.load(alliance / "regulator")
            conn = Connection(regulator)
            _wait_for(lambda: conn.checkpoint().size, "the operator start")
            procs.append(_start(["witness", "--identity", str(alliance / "witness-1"), "--interval", "0.3"],
                                root / "witness.log"))

            con.print(f"3. {len(MEMBERS)} platforms submit {reports} encrypted, committed, proven reports")
            receipts: list[dict[str, Any]] = []
            members = {m: Member(Identity.load(alliance / f"member-{m}"), state_dir=root / f"state-{m}")
                       for m in MEMBERS}
            today = _dt.date.today()
            with Progress(console=con, transient=json_mode) as progress:
                task = progress.add_task("reports", total=reports)
                for i in range(reports):
                    member = MEMBERS[i % len(MEMBERS)]
                    subject = SUBJECTS[rng.randrange(len(SUBJECTS))]
                    category = CATEGORIES[rng.randrange(len(CATEGORIES))]
                    tier = TIERS[rng.choice((0, 0, 1, 1, 2, 3))]
                    date = today - _dt.timedelta(days=rng.randrange(10, 900))
                    receipt = members[member].submit_report(subject, category, tier, date.isoformat(),
                                                            evidence=f"evidence {i}".encode())
                    receipts.append({"member": member, "subject": subject, "category": category,
                                     "report_id": receipt.report_id, "index": receipt.index})
                    progress.advance(task)
            if not json_mode:
                table = Table(title="Receipts (each verified by the SDK: signed checkpoint + inclusion proof)")
                for col in ("entry", "member", "subject", "category", "report id"):
                    table.add_column(col)
                for r in receipts:
                    table.add_row(str(r["index"]), r["member"], r["subject"], r["category"], r["report_id"][:16] + "…")
                con.print(table)

            first = receipts[0]
            con.print(f"4. {first['member']} retracts its report {first['report_id'][:16]}… "
                      "(only the original reporter's link tag can)")
            members[first["member"]].retract_report(first["report_id"])
            for m in members.values():
                m.close()

            con.print("5. A client waits for the witness cosignature and verifies the checkpoint")
            size = conn.checkpoint().size
            client = LogVerifier(regulator.genesis_leaf(), root / "client.state")
            cp = _wait_for(lambda: client.update(conn.checkpoint().note, conn.consistency,
                                                 lambda s: conn.inclusion(0, s)) if conn.checkpoint().size >= size
                           else None, "the witness cosignature")
            con.print(f"   checkpoint of size {cp.size} cosigned by the witness quorum, root {cp.root_hash.hex()[:16]}…")

            con.print("6. The regulator audits: download everything, re-verify every entry and proof")
            verified = client.open(conn.checkpoint().note)
            leaves = conn.entries(0, verified.checkpoint.size)
            _, report = replay(leaves)
            check_root(report, verified.checkpoint.size, verified.checkpoint.root_hash)
            conn.close()
            summary = {
                "members": len(MEMBERS),
                "subjects": len({r["subject"] for r in receipts}),
                "reports": len(receipts),
                "receipts_verified": len(receipts),
                "retracted": report.retracted,
                "ledger_size": report.size,
                "cosigned_by": list(verified.witnesses),
                "audit": "passed",
            }
            con.print("[green]Audit passed: the ledger replays from genesis and matches the cosigned root.[/green]")
            return summary
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


def cheating_report(member: Any, subject_id: str, category: str, committed_tier: str, encrypted_tier: str,
                    incident_date: str) -> bytes:
    """A report whose ciphertext says something other than its commitment: a well-formed,
    ring-signed, proven report from a dishonest member (the demo's and the tests' culprit).
    Its validity proof holds — it is about the commitment — so intake accepts it; the
    aggregate's opening check catches it at the next epoch."""
    import dataclasses

    from core import paillier
    from core.pedersen import Tier, slot

    body, tag = member._report_body(subject_id, category, committed_tier, incident_date, b"", None, True,
                                    int(time.time() * 1000))
    index = member.categories.index(category)
    forged = paillier.encrypt(member.public_key, paillier.pack(0, slot(index, Tier.parse(encrypted_tier))), member.pool)
    return bytes(member.sign_entry(dataclasses.replace(body, ciphertext=forged), tag))
