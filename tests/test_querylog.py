"""The query log over real gRPC (docs/queries.md): who reads what, commitment, tampering,
retention. Attack: a member reading who else queried a subject; an operator editing a
committed record; an operator passing an edited record off as "not yet committed"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from client.ratings import RatingClient, Unrated
from client.witness import Witness
from core import entries as e
from core import querylog, state
from core.errors import InvalidInput, VerificationError
from core.querylog import QueryRecord
from server.querylog import STREAM, reader_stream, subject_stream

S1, S2 = "anchor:alpha", "anchor:beta"


class Alliance:
    def __init__(self, root: Path, operator: Any, tmp: Path) -> None:
        self.root, self.operator, self.tmp = root, operator, tmp

    def client(self, who: str) -> RatingClient:
        return RatingClient(Identity.load(self.root / who), f"127.0.0.1:{self.operator.port}", self.tmp / who)

    def cosign(self) -> None:
        ledger = self.operator.ledger
        ledger.wait_checkpoint(ledger.store.size())
        w = Witness.open(Identity.load(self.root / "witness-1"), f"127.0.0.1:{self.operator.port}", self.tmp)
        try:
            w.step()
        finally:
            w.conn.close()

    def query(self, who: str, subject: str, purpose: str) -> None:
        with self.client(who) as c:
            assert isinstance(c.get_rating(subject, purpose), Unrated)

    def commit(self) -> int | None:
        index: int | None = self.operator.queries.commit()
        self.cosign()
        return index


@pytest.fixture()
def alliance(alliance_dir: Path, operator: Any, tmp_path: Path) -> Iterator[Alliance]:
    world = Alliance(alliance_dir, operator, tmp_path)
    world.cosign()
    yield world


def test_member_sees_only_its_own_queries_never_who_else_looked(alliance: Alliance) -> None:
    alliance.query("member-b", S1, "pre-contract")
    alliance.query("member-c", S1, "monitoring")
    alliance.query("member-b", S2, "monitoring")
    with alliance.client("member-b") as b:
        about_s1 = b.queries(S1)
        assert [(q.name, q.purpose) for q in about_s1] == [("b", "pre-contract")]
        assert [(q.name, q.subject_tag) for q in b.queries()] == [
            ("b", b.subject_tag(S1).hex()), ("b", b.subject_tag(S2).hex())]
    with alliance.client("regulator") as r:
        assert [(q.role, q.name, q.purpose) for q in r.queries(S1)] == [
            ("member", "b", "pre-contract"), ("member", "c", "monitoring")]


def test_regulator_names_a_subject(alliance: Alliance) -> None:
    with alliance.client("regulator") as r, pytest.raises(InvalidInput, match="name the subject"):
        r.queries()


def test_committed_records_verify_and_new_ones_are_marked_uncommitted(alliance: Alliance) -> None:
    alliance.query("member-b", S1, "pre-contract")
    alliance.query("member-c", S1, "monitoring")
    index = alliance.commit()
    assert index is not None
    body = wire.signed_entry_from_bytes(alliance.operator.ledger.store.entry(index)).entry.body
    assert isinstance(body, e.QueryLogCommitted) and (body.first_id, body.count) == (1, 2)
    assert alliance.commit() is None  # nothing new: no entry
    alliance.query("member-b", S1, "dispute")
    with alliance.client("regulator") as r:
        shown = r.queries(S1)
    assert [(q.id, q.committed) for q in shown] == [(1, True), (2, True), (3, False)]
    with alliance.client("member-c") as c:
        assert [(q.id, q.committed) for q in c.queries(S1)] == [(2, True)]


def _edit_record(db: Path, record_id: int, purpose: str) -> None:
    """What an operator with write access to its database would do to a committed record."""
    with sqlite3.connect(db) as conn:
        (row,) = conn.execute("SELECT record FROM logs WHERE stream = ? AND id = ?", (STREAM, record_id)).fetchone()
        old = QueryRecord.decode(bytes(row))
        edited = QueryRecord(old.subject_tag, old.role, old.name, purpose, old.time_ms, old.salt)
        conn.execute("UPDATE logs SET record = ? WHERE stream = ? AND id = ?", (edited.encode(), STREAM, record_id))


def test_operator_editing_a_committed_record_is_detected(alliance: Alliance, tmp_path: Path) -> None:
    alliance.query("member-b", S1, "pre-contract")
    alliance.query("member-c", S1, "monitoring")
    alliance.commit()
    _edit_record(tmp_path / "ledger.db", 1, "regulator")
    with alliance.client("regulator") as r, pytest.raises(VerificationError, match="does not match what the operator"):
        r.queries(S1)
    with alliance.client("member-b") as b, pytest.raises(VerificationError, match="record 1 does not match"):
        b.queries()
    with alliance.client("member-c") as c:  # c's own record is untouched and still verifies
        assert [q.purpose for q in c.queries()] == ["monitoring"]


def test_operator_dropping_a_committed_record_is_detected(alliance: Alliance, tmp_path: Path) -> None:
    alliance.query("member-b", S1, "pre-contract")
    alliance.query("member-c", S1, "monitoring")
    alliance.commit()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("DELETE FROM logs WHERE stream = ? AND id = 2", (STREAM,))
    with alliance.client("regulator") as r, pytest.raises(VerificationError, match="record 2"):
        r.queries(S1)


def test_operator_cannot_pass_an_edited_record_off_as_uncommitted(alliance: Alliance,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    alliance.query("member-b", S1, "pre-contract")
    alliance.commit()
    from core.served import Shown
    from server.querylog import QueryLog

    honest = QueryLog.read

    def lying(self: QueryLog, *args: Any, **kwargs: Any) -> tuple[list[Shown], int]:
        shown, more = honest(self, *args, **kwargs)
        return [Shown(s.id, s.record, None, ()) for s in shown], more

    monkeypatch.setattr(QueryLog, "read", lying)
    with alliance.client("member-b") as b, pytest.raises(VerificationError, match="called uncommitted"):
        b.queries()


def test_records_are_hidden_after_two_years_and_purged_after_three(alliance: Alliance) -> None:
    qlog = alliance.operator.queries
    store = alliance.operator.ledger.store
    now = 1_900_000_000_000
    tag = b"\x07" * 32
    day = querylog.DAY_MS
    qlog.record("member", "b", tag, "monitoring", now_ms=now - 3 * 365 * day - day)  # past retention
    assert qlog.commit(now_ms=now - 3 * 365 * day) is not None  # the first commitment: record 1
    qlog.record("member", "b", tag, "monitoring", now_ms=now - 2 * 365 * day - day)  # hidden, kept
    qlog.record("member", "b", tag, "monitoring", now_ms=now - day)
    assert qlog.commit(now_ms=now - day) is not None  # records 2, 3
    assert [rid for rid, _ in store.read_log(STREAM)] == [1, 2, 3]
    qlog.record("member", "b", tag, "pre-contract", now_ms=now)
    # Committing the rest purges the first commitment: its newest record is past 3 years.
    qlog.commit(now_ms=now)
    assert [rid for rid, _ in store.read_log(STREAM)] == [2, 3, 4]
    assert [rid for rid, _ in store.read_log(subject_stream(tag))] == [2, 3, 4]
    assert [rid for rid, _ in store.read_log(reader_stream("member", "b"))] == [2, 3, 4]
    shown, _ = qlog.read(qlog_scope(tag), 0, 100, now_ms=now)
    assert [s.id for s in shown] == [3, 4]  # record 2 is older than 2 years: kept, not shown
    head = state.querylog_head(alliance.operator.ledger.view)
    assert head is not None and head.next_id == 5


def qlog_scope(tag: bytes) -> Any:
    from server.querylog import scope_for

    return scope_for("regulator", "regulator", tag)


def test_record_encoding_is_canonical_and_blinded() -> None:
    a = QueryRecord(b"\x01" * 32, "member", "b", "monitoring", 5, b"\x00" * 16)
    assert QueryRecord.decode(a.encode()) == a
    same_query = QueryRecord(b"\x01" * 32, "member", "b", "monitoring", 5, b"\x01" * 16)
    assert a.leaf_hash() != same_query.leaf_hash()  # a sibling hash in a proof names nobody
    with pytest.raises(InvalidInput, match="purpose"):
        QueryRecord(b"\x01" * 32, "member", "b", "curiosity", 5, b"\x00" * 16)
    with pytest.raises(InvalidInput):
        QueryRecord.decode(a.encode() + b"\x00")


def test_reserved_purposes_belong_to_their_role(alliance: Alliance) -> None:
    from core.errors import PermissionDenied

    with alliance.client("member-b") as b:
        for purpose in ("regulator", "self"):
            with pytest.raises(PermissionDenied, match=f"purpose '{purpose}'"):
                b.get_rating(S1, purpose)
    with alliance.client("regulator") as r:
        assert r.queries(S1) == []  # refused queries are not logged


def test_regulator_audit_of_a_whole_commitment_catches_a_record_dropped_everywhere(
        alliance: Alliance, tmp_path: Path) -> None:
    from core.errors import PermissionDenied

    alliance.query("member-b", S1, "pre-contract")
    alliance.query("member-c", S2, "monitoring")
    alliance.query("member-b", S2, "dispute")
    index = alliance.commit()
    assert index is not None
    with alliance.client("regulator") as r:
        assert [(q.id, q.name) for q in r.audit_queries(index)] == [(1, "b"), (2, "c"), (3, "b")]
    with alliance.client("member-b") as b, pytest.raises(PermissionDenied, match="only the regulator audits"):
        b.audit_queries(index)
    # The operator erases c's query from the log and from both indexes: no reader of an index
    # can tell, but the count and root of the commitment can.
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("DELETE FROM logs WHERE stream = ? AND id = 2", (STREAM,))
        conn.execute("DELETE FROM logs WHERE stream IN (?, ?)", (reader_stream("member", "c"),
                                                                 subject_stream(_tag(alliance, S2))))
    with alliance.client("regulator") as r, pytest.raises(VerificationError, match="missing e.g. \\[2\\]"):
        r.audit_queries(index)


def _tag(alliance: Alliance, subject: str) -> bytes:
    with alliance.client("regulator") as r:
        return r.subject_tag(subject)


def test_commitments_tile_the_log_and_only_the_operator_signs_them(alliance: Alliance) -> None:
    from client.regulator import regulator_leaf
    from core.errors import Conflict, PermissionDenied

    ledger = alliance.operator.ledger
    root = b"\x00" * 32
    with pytest.raises(PermissionDenied):
        ledger.append(regulator_leaf(alliance.root / "regulator", e.QueryLogCommitted(1, 1, root)))
    key = Identity.load(alliance.root / "operator").signing_key()
    with pytest.raises(Conflict, match="next uncommitted record is 1"):
        ledger.append(wire.sign_leaf(e.LedgerEntry(e.QueryLogCommitted(2, 1, root), timestamp_ms=1), key))
    alliance.query("member-b", S1, "pre-contract")
    assert alliance.commit() is not None
    with pytest.raises(Conflict, match="next uncommitted record is 2"):  # no overlap either
        ledger.append(wire.sign_leaf(e.LedgerEntry(e.QueryLogCommitted(1, 1, root), timestamp_ms=1), key))


def test_pages_follow_the_cursor(alliance: Alliance) -> None:
    from api.v1 import rating_pb2

    for purpose in ("pre-contract", "monitoring", "dispute"):
        alliance.query("member-b", S1, purpose)
    alliance.commit()
    with alliance.client("member-b") as b:
        seen: list[int] = []
        after = 0
        while True:
            resp = b.conn.call(b.conn.rating.ListQueries, rating_pb2.ListQueriesRequest(after=after, limit=2))
            seen.extend(q.id for q in resp.queries)
            if not resp.next_after:
                break
            after = resp.next_after
        assert seen == [1, 2, 3]
        assert [q.id for q in b.queries()] == [1, 2, 3]
