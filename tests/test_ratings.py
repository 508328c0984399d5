"""Ratings end to end over real gRPC: operator, three trustees (t = 2), a witness, members.

Covers DESIGN §5-§6: epochs publish verified ratings; a subject below k stays pending; a
retraction changes a grade at the next epoch; a member who encrypts something other than
what it committed is held, found by bisection once the regulator authorises it, and
excluded; trustees refuse what they must; clients and the ledger catch a lying operator.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from candor import wire
from candor.demo import cheating_report
from candor.identity import Identity
from client.ratings import Rating, RatingClient, Unrated
from client.sdk import Member
from client.witness import Witness
from core import entries as e
from core.errors import Conflict, InvalidInput, PermissionDenied, VerificationError
from server.ceremony import regulator_leaf
from server.storage import open_store
from server.trustee import create_trustee_server

S1, S2, S3 = "anchor:alpha", "anchor:beta", "anchor:gamma"


def recent(days: int = 30) -> str:
    return (_dt.date.today() - _dt.timedelta(days=days)).isoformat()


@dataclasses.dataclass
class World:
    alliance: Path
    operator: Any
    trustees: list[Any]
    tmp: Path

    def member(self, name: str) -> Member:
        return Member(Identity.load(self.alliance / f"member-{name}"), f"127.0.0.1:{self.operator.port}",
                      self.tmp / f"state-{name}")

    def client(self, who: str) -> RatingClient:
        return RatingClient(Identity.load(self.alliance / who), f"127.0.0.1:{self.operator.port}", self.tmp / who)

    def cosign(self) -> int:
        w = Witness.open(Identity.load(self.alliance / "witness-1"), f"127.0.0.1:{self.operator.port}", self.tmp)
        try:
            size = w.step()
        finally:
            w.conn.close()
        return size or self.operator.ledger.cosigned_size()

    def epoch(self) -> Any:
        """Cosign, run an epoch, cosign what it appended (a witness would, continuously)."""
        for _ in range(2):
            self.operator.ledger.wait_checkpoint(self.operator.ledger.store.size())
            self.cosign()
            if _ == 0:
                result = self.operator.epochs.run()
        return result

    def regulator(self, body: e.Body) -> int:
        return int(self.operator.ledger.append(regulator_leaf(self.alliance / "regulator", body)))


@pytest.fixture()
def world(alliance_dir: Path, tmp_path: Path) -> Iterator[World]:
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries

    trustees = []
    stores = []
    # The operator must know the trustees' ports before it starts, and the trustees need the
    # operator's: bind the operator first, then start trustees, then hand the operator their ports.
    store = open_store(str(tmp_path / "ledger.db"))
    stores.append(store)
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
    for i in (1, 2, 3):
        tstore = open_store(str(tmp_path / f"trustee-{i}.db"))
        stores.append(tstore)
        ident = Identity.load(alliance_dir / f"trustee-{i}")
        mirror_dir = tmp_path / f"trustee-{i}"
        mirror_dir.mkdir()
        server, port, trustee = create_trustee_server(ident, tstore, "127.0.0.1:0", f"127.0.0.1:{op.port}",
                                                      state_dir=mirror_dir)
        trustees.append((server, port, trustee))
    from server.epoch import EpochRunner

    op.epochs = EpochRunner(op.ledger, Identity.load(alliance_dir / "operator"),
                            {i + 1: f"127.0.0.1:{t[1]}" for i, t in enumerate(trustees)})
    yield World(alliance_dir, op, trustees, tmp_path)
    for server, _port, trustee in trustees:
        server.stop(0)
        trustee.mirror.conn.close()
    op.epochs.close()
    op.stop(grace=0.5)
    for s in stores:
        s.close()


def test_ratings_story(world: World) -> None:
    a, b, c = world.member("a"), world.member("b"), world.member("c")
    try:
        critical = a.submit_report(S1, "fake_traffic", "critical", recent())
        b.submit_report(S1, "contract_default", "minor", recent())
        a.submit_report(S2, "false_advertising", "general", recent())  # one reporter only
        result = world.epoch()
        assert result.published and result.pending

        with world.client("member-b") as client:
            first = client.get_rating(S1, "pre-contract")
            assert isinstance(first, Rating) and first.verified
            assert (first.score, first.grade) == (59.0, "D")  # 100 - 40 - 1, and a critical caps at D
            assert first.counts == {"contract_default": {"minor": 1.0}, "fake_traffic": {"critical": 1.0}}
            pending = client.get_rating(S2, "monitoring")
            assert isinstance(pending, Unrated) and pending.pending == 1

        # The critical report is retracted and another member reports: the grade changes next epoch.
        a.retract_report(critical.report_id)
        c.submit_report(S1, "false_advertising", "general", recent())
        world.epoch()
        with world.client("member-c") as client:
            second = client.get_rating(S1, "monitoring")
            assert isinstance(second, Rating)
            assert (second.score, second.grade) == (96.0, "A")  # 100 - 1 - 3
            assert second.ledger_size > first.ledger_size

        # A cheating member: commits to "minor", encrypts "critical".
        a.submit_report(S3, "fake_traffic", "general", recent())
        b.submit_report(S3, "fake_traffic", "minor", recent())
        cheat = c.submit_prepared(cheating_report(c, S3, "false_advertising", "minor", "critical", recent()))
        held = world.epoch()
        assert held.held and not any(t == c.subject_tag(S3).hex() for t in held.published)
        with world.client("member-a") as client:
            assert isinstance(client.get_rating(S3, "monitoring"), Unrated)

        world.regulator(e.InvestigationAuthorised(c.subject_tag(S3), "aggregate did not open",
                                                  world.operator.ledger.store.size()))
        found = world.epoch()
        assert found.fraud == [cheat.report_id], found.messages
        assert world.epoch().published  # rated again, without the culprit
        with world.client("regulator") as client:
            third = client.get_rating(S3, "regulator")
            assert isinstance(third, Rating) and third.reports == 2
            assert (third.score, third.grade) == (96.0, "A")  # 100 - 3 - 1: the cheat is excluded
            queries = client.queries(S1)
            assert [q["purpose"] for q in queries] == ["pre-contract", "monitoring"]
            assert {q["member"] for q in queries} == {"b", "c"}
    finally:
        for m in (a, b, c):
            m.close()

    from client.audit import replay

    _, report = replay(world.operator.ledger.store.entries(0, world.operator.ledger.store.size()))
    assert report.kinds["RatingPublished"] >= 3 and report.kinds["FraudFound"] == 1


def _two_reports(world: World, subject: str) -> None:
    a, b = world.member("a"), world.member("b")
    try:
        a.submit_report(subject, "fake_traffic", "serious", recent())
        b.submit_report(subject, "fake_traffic", "minor", recent())
    finally:
        a.close()
        b.close()


def test_trustee_refusals(world: World) -> None:
    trustee = world.trustees[0][2]
    a = world.member("a")
    try:
        a.submit_report(S2, "fake_traffic", "general", recent())
    finally:
        a.close()
    size = world.cosign()
    from core.subject import subject_tag

    key = Identity.load(world.alliance / "regulator").hex_file("subject.key")
    today = _dt.date.today().isoformat()
    with pytest.raises(Conflict, match="distinct reporter"):
        trustee.request_share(subject_tag(key, S2), size, today)
    with pytest.raises(Conflict, match="verified the ledger only up to"):
        trustee.request_share(subject_tag(key, S2), size + 50, today)
    _two_reports(world, S1)
    size = world.cosign()
    report_index = size - 1
    with pytest.raises(PermissionDenied, match="InvestigationAuthorised"):
        trustee.request_share(subject_tag(key, S1), size, today, (report_index,))
    with pytest.raises(InvalidInput, match="not today"):
        trustee.request_share(subject_tag(key, S1), size, "2020-01-01")
    # Within the rules, it answers, and its share carries a valid proof.
    resp = trustee.request_share(subject_tag(key, S1), size, today)
    assert resp.trustee == 1 and len(resp.active_set) == 2


def test_forged_share_is_named_and_fewer_than_t_keeps_pending(world: World) -> None:
    _two_reports(world, S1)
    bad = world.trustees[1][2]
    honest = bad.request_share

    def forged(*args: Any, **kwargs: Any) -> Any:
        resp = honest(*args, **kwargs)
        resp.share = wire.int_to_bytes(wire.int_from_bytes(resp.share, "share") * 4 % bad.public_key.nsquare)
        return resp

    bad.request_share = forged  # type: ignore[method-assign]
    # trustee 3 unreachable, trustee 2 lies: only one good share, t = 2.
    world.trustees[2][0].stop(0)
    result = world.epoch()
    assert not result.published and result.pending
    text = " ".join(result.messages)
    assert "trustee 2" in text and "fails its proof" in text and "trustee 3" in text
    assert not world.operator.ledger.view.scan("rating/")


def test_operator_lies_are_caught(world: World) -> None:
    _two_reports(world, S1)
    ledger = world.operator.ledger
    honest_append = ledger.append
    captured: list[bytes] = []
    ledger.append = lambda leaf, **_kw: captured.append(leaf) or 0  # type: ignore[method-assign]
    world.epoch()  # the runner computes an honest rating; we hold it back
    ledger.append = honest_append  # type: ignore[method-assign]
    (honest,) = captured
    body = wire.signed_entry_from_bytes(honest).entry.body
    assert isinstance(body, e.RatingPublished)
    operator_key = Identity.load(world.alliance / "operator").signing_key()
    for lie, why in ((dataclasses.replace(body, score_milli=body.score_milli + 5000), "score"),
                     (dataclasses.replace(body, grade="A" if body.grade != "A" else "B"), "grade"),
                     (dataclasses.replace(body, active_set=body.active_set[:1], weights=body.weights[:1]),
                      "active set"),
                     (dataclasses.replace(body, counts=tuple(reversed(body.counts))), "open")):
        before = ledger.store.size()
        leaf = wire.sign_leaf(e.LedgerEntry(lie, timestamp_ms=int(time.time() * 1000)), operator_key)
        with pytest.raises(VerificationError, match=why):
            ledger.append(leaf)
        assert ledger.store.size() == before
    ledger.append(honest)
    world.epoch()

    # A client given a doctored response refuses it.
    from candor.v1 import rating_pb2
    from client.ratings import verify_rating

    with world.client("member-a") as client:
        tag = client.subject_tag(S1)
        resp = client.conn.call(client.conn.rating.GetRating,
                                rating_pb2.GetRatingRequest(subject_tag=tag, purpose="monitoring"))
        cp = client._accept(resp.checkpoint.note)
        assert isinstance(verify_rating(client.verifier.alliance, resp, cp, tag), Rating)
        doctored = rating_pb2.RatingResponse()
        doctored.CopyFrom(resp)
        del doctored.reports[0]
        with pytest.raises(VerificationError, match="active set"):
            verify_rating(client.verifier.alliance, doctored, cp, tag)
        with pytest.raises(VerificationError):
            verify_rating(client.verifier.alliance, resp, cp, client.subject_tag(S2))


def test_rating_get_cli_json(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import shutil

    from candor.cli import main

    _two_reports(world, S1)
    world.epoch()
    member = tmp_path / "member-c"
    shutil.copytree(world.alliance / "member-c", member)
    server = f"127.0.0.1:{world.operator.port}"
    main(["rating", "get", "--identity", str(member), "--server", server, "--subject", S1,
          "--purpose", "pre-contract", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["verified"] is True and data["grade"] == "A" and data["pending"] is False
    assert data["score"] == 93.0  # 100 - 6 (serious) - 1 (minor)
    main(["rating", "get", "--identity", str(member), "--server", server, "--subject", S2,
          "--purpose", "monitoring", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["grade"] is None and data["pending"] is True and data["verified"] is True
    main(["rating", "queries", "--identity", str(member), "--server", server, "--subject", S1, "--json"])
    assert [q["purpose"] for q in json.loads(capsys.readouterr().out)["queries"]] == ["pre-contract"]
