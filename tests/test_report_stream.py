"""SubmitReports: many reports on one stream, each checked and answered as SubmitReport
answers it (server/reporting.py, docs/reports.md).

Every test goes through the real operator over gRPC with mTLS. Bad reports are mixed with
good ones on the same stream: each bad one is refused alone with the status the unary call
gives it, the good ones around it are appended, and nothing of a refused one is stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from api import wire
from api.v1 import governance_pb2 as gov
from client.sdk import Member, ReportReceipt, ReportSpec
from core import entries as e
from core import errors
from server.app import Settings
from tests.test_reporting import (
    SUBJECT,
    connect,
    escrow_signature,
    member,
    recent,
    revoke,
    size,
    with_ring_signature,
)


@pytest.fixture()
def alice(alliance_dir: Path, operator: Any, tmp_path: Path) -> Iterator[Member]:
    m = member(alliance_dir, "a", operator, tmp_path)
    yield m
    m.close()


def request(m: Member, leaf: bytes) -> gov.SubmitEntryRequest:
    return gov.SubmitEntryRequest(signed_entry=leaf, escrow_signature=escrow_signature(m.identity, leaf))


def message(*requests: gov.SubmitEntryRequest) -> gov.SubmitReportsRequest:
    return gov.SubmitReportsRequest(reports=[r.SerializeToString() for r in requests])


def stream(m: Member, requests: list[gov.SubmitEntryRequest], per_message: int = 3) -> list[gov.SubmitResult]:
    """`requests` sent `per_message` to a message; every outcome, in the order received."""
    messages = [message(*requests[i:i + per_message]) for i in range(0, len(requests), per_message)]
    answers = m.conn.stream(m.conn.reporting.SubmitReports, iter(messages), timeout=60)
    return [result for answer in answers for result in answer.results]


def test_a_stream_appends_good_reports_and_refuses_bad_ones_alone(alice: Member, operator: Any) -> None:
    good = [alice.prepare_report(f"{SUBJECT} {i}", "fake_traffic", "serious", recent()) for i in range(3)]
    forged = alice.prepare_report("forged", "fake_traffic", "minor", recent())
    sig = wire.signed_entry_from_bytes(forged).ring_signature or b""
    forged = with_ring_signature(forged, sig[:-1] + bytes([sig[-1] ^ 1]))
    wrong_escrow = gov.SubmitEntryRequest(signed_entry=good[1], escrow_signature=bytes(64))
    before = size(operator)

    results = stream(alice, [request(alice, good[0]), request(alice, forged), wrong_escrow, request(alice, good[1]),
                             request(alice, good[1]), gov.SubmitEntryRequest(signed_entry=b"\x0a\x01"),
                             request(alice, good[2])])

    assert [r.position for r in results] == list(range(7))
    outcome = [r.refusal.code if r.HasField("refusal") else "OK" for r in results]
    # The same report twice: one copy is appended, the other refused (reports of one stream
    # are verified in parallel and appended as they pass, so either copy may come first).
    assert sorted(outcome[3:5]) == ["ALREADY_EXISTS", "OK"]
    assert outcome[:3] + outcome[5:] == ["OK", "INVALID_ARGUMENT", "PERMISSION_DENIED", "INVALID_ARGUMENT", "OK"]
    assert "ring signature" in results[1].refusal.message
    assert "escrow signature" in results[2].refusal.message
    assert size(operator) == before + 3
    for pos, leaf in ((0, good[0]), (outcome.index("OK", 3), good[1]), (6, good[2])):
        resp = results[pos].receipt
        stored = wire.signed_entry_from_bytes(resp.leaf)
        assert stored.entry_bytes == wire.signed_entry_from_bytes(leaf).entry_bytes and stored.escrow is not None
        receipt = ReportReceipt(bytes(resp.leaf), resp.index, bytes(resp.checkpoint.note),
                                tuple(resp.inclusion_proof))
        receipt.verify(alice.verifier)  # operator signature, leaf hash, inclusion proof


def test_malformed_messages_in_a_stream_are_refused_in_their_place(alice: Member, operator: Any) -> None:
    """A message that does not decode takes one position; a report inside a good message
    that does not decode is refused alone; a message over the report limit is refused
    report by report; the stream goes on after each."""
    from api.wire import REPORTS_PER_MESSAGE

    leaves = [alice.prepare_report(f"{SUBJECT} {i}", "contract_default", "general", recent()) for i in range(2)]
    raw = alice.conn.channel.stream_stream("/candor.v1.ReportingService/SubmitReports",
                                           request_serializer=lambda b: b,
                                           response_deserializer=gov.SubmitReportsResponse.FromString)
    before = size(operator)
    oversized = gov.SubmitReportsRequest(reports=[b""] * (REPORTS_PER_MESSAGE + 1))
    sent = [b"\xff\xff\xff",
            gov.SubmitReportsRequest(reports=[b"\xff\xff", request(alice, leaves[0]).SerializeToString()])
            .SerializeToString(),
            oversized.SerializeToString(), message(request(alice, leaves[1])).SerializeToString()]
    answers = raw(iter(sent), timeout=60)
    results = [r for answer in answers for r in answer.results]
    assert [r.position for r in results] == list(range(3 + REPORTS_PER_MESSAGE + 2))
    assert results[0].refusal.code == "INVALID_ARGUMENT"
    assert "not a valid SubmitReportsRequest" in results[0].refusal.message
    assert results[1].refusal.code == "INVALID_ARGUMENT"
    assert "report 1 of the stream is not a valid SubmitEntryRequest" in results[1].refusal.message
    assert results[2].HasField("receipt")
    assert all(f"at most {REPORTS_PER_MESSAGE} reports" in r.refusal.message for r in results[3:-1])
    assert results[-1].HasField("receipt")
    assert size(operator) == before + 2


def test_only_members_in_good_standing_may_stream(alice: Member, operator: Any, alliance_dir: Path,
                                                  tmp_path: Path) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "minor", recent())
    before = size(operator)
    with connect(alliance_dir, "regulator", operator) as conn:
        with pytest.raises(errors.PermissionDenied, match="member"):
            list(conn.stream(conn.reporting.SubmitReports, iter([message(request(alice, leaf))]), timeout=30))
    carol = member(alliance_dir, "c", operator, tmp_path)
    try:
        revoke(alliance_dir, operator, "c")
        with pytest.raises(errors.PermissionDenied, match="revoked"):
            stream(carol, [request(carol, leaf)])
    finally:
        carol.close()
    assert size(operator) == before + 1  # the revocation only



def test_a_member_revoked_while_its_stream_is_open_is_refused_at_once(operator: Any, alliance_dir: Path,
                                                                     tmp_path: Path) -> None:
    """The intake keeps the sender's member record between commits (server.storage.RecentView):
    the revocation's commit must drop it, so the very next report on the open stream is
    refused by the escrow check (PERMISSION_DENIED), not let through to verification."""
    import queue

    carol = member(alliance_dir, "c", operator, tmp_path)
    outbox: queue.Queue[gov.SubmitEntryRequest | None] = queue.Queue()

    def requests() -> Iterator[gov.SubmitReportsRequest]:
        while (item := outbox.get(timeout=60)) is not None:
            yield message(item)

    try:
        first, second = (carol.prepare_report(f"{SUBJECT} {i}", "fake_traffic", "minor", recent()) for i in (1, 2))
        results = carol.conn.stream(carol.conn.reporting.SubmitReports, requests(), timeout=60)
        outbox.put(request(carol, first))
        assert next(results).results[0].HasField("receipt")  # carol's record is now kept by the intake
        revoke(alliance_dir, operator, "c")
        before = size(operator)
        outbox.put(request(carol, second))
        refused = next(results).results[0]
        outbox.put(None)
        assert list(results) == []
    finally:
        carol.close()
    assert refused.refusal.code == "PERMISSION_DENIED", refused
    assert "not an admitted, unrevoked member" in refused.refusal.message
    assert size(operator) == before


def test_a_stream_longer_than_the_window_is_answered_in_order(alice: Member, operator: Any) -> None:
    from server.reporting import WINDOW

    leaves = [alice.prepare_report(f"{SUBJECT} {i}", "fake_traffic", "minor", recent()) for i in range(WINDOW + 6)]
    before = size(operator)
    results = stream(alice, [request(alice, leaf) for leaf in leaves])
    assert [r.position for r in results] == list(range(len(leaves)))
    assert all(r.HasField("receipt") for r in results)
    assert sorted(r.receipt.index for r in results) == list(range(before, before + len(leaves)))


def test_the_sdk_sends_a_batch_and_verifies_every_receipt(alice: Member, operator: Any) -> None:
    specs = [ReportSpec(f"{SUBJECT} {i}", "false_advertising", "general", recent()) for i in range(4)]
    specs.append(ReportSpec(SUBJECT, "gambling", "minor", recent()))  # no such category: refused before sending
    with pytest.raises(errors.InvalidInput, match="gambling"):
        alice.submit_reports(specs)
    before = size(operator)
    outcomes = alice.submit_reports(specs[:4])
    assert all(isinstance(o, ReportReceipt) for o in outcomes)
    assert size(operator) == before + 4
    assert not list(alice.pending_dir.glob("*.leaf"))
    # A replay of the same leaves is answered with the stored reports' receipts.
    leaves = [o.leaf for o in outcomes if isinstance(o, ReportReceipt)]
    again = stream(alice, [request(alice, dataclasses_free(leaf)) for leaf in leaves])
    assert {r.refusal.code for r in again} == {"ALREADY_EXISTS"}
    assert size(operator) == before + 4


def dataclasses_free(stored_leaf: bytes) -> bytes:
    """The leaf as the member sent it: the stored one without the operator's escrow."""
    signed = wire.signed_entry_from_bytes(stored_leaf)
    return wire.signed_entry_to_bytes(dataclasses.replace(signed, escrow=None))


def test_a_cancelled_stream_leaves_the_server_serving(alice: Member, operator: Any) -> None:
    import threading

    leaves = [alice.prepare_report(f"{SUBJECT} {i}", "fake_traffic", "minor", recent()) for i in range(3)]
    hold = threading.Event()

    def sent_then_open() -> Iterator[gov.SubmitReportsRequest]:
        yield from (message(request(alice, leaf)) for leaf in leaves)
        hold.wait(30)  # the stream stays open: one answer may carry all three outcomes

    call = alice.conn.reporting.SubmitReports(sent_then_open(), timeout=60)
    next(call)
    call.cancel()
    with pytest.raises(grpc.RpcError):
        list(call)
    hold.set()
    # The reports it had read are appended or not; sending them again settles which.
    results = stream(alice, [request(alice, leaf) for leaf in leaves])
    assert {r.refusal.code if r.HasField("refusal") else "OK" for r in results} <= {"OK", "ALREADY_EXISTS"}
    assert alice.submit_report(f"{SUBJECT} after", "fake_traffic", "minor", recent()).index >= 0


def test_a_stream_logs_one_line_without_subjects_or_address_and_counts_each_report(
        alice: Member, operator: Any, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from server.logging_setup import JsonFormatter

    caplog.set_level(logging.DEBUG)
    subjects = [f"{SUBJECT} logged {i}" for i in range(3)]
    leaves = [alice.prepare_report(s, "fake_traffic", "minor", recent()) for s in subjects]
    reports = operator.ledger.metrics.reports
    before = (reports.value(method="SubmitReports", status="OK"),
              reports.value(method="SubmitReports", status="ALREADY_EXISTS"))
    results = stream(alice, [request(alice, leaf) for leaf in (*leaves, leaves[0])])
    assert [r.refusal.code or "OK" for r in results].count("OK") == 3
    assert (reports.value(method="SubmitReports", status="OK"),
            reports.value(method="SubmitReports", status="ALREADY_EXISTS")) == (before[0] + 3, before[1] + 1)
    rpcs = [r for r in caplog.records if r.name == "candor.rpc" and str(getattr(r, "method", "")).endswith(
        "SubmitReports")]
    assert len(rpcs) == 1 and vars(rpcs[0])["role"] == "member" and vars(rpcs[0])["status"] == "OK"
    fmt = JsonFormatter()
    for record in caplog.records:
        line = fmt.format(record)
        for s in subjects:
            assert alice.subject_tag(s).hex()[:12] not in line, line
    assert "peer" not in vars(rpcs[0]) and "ipv4:" not in fmt.format(rpcs[0])


def test_idle_streams_are_closed_and_their_number_is_capped(alice: Member, operator: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle stream holds a server thread: it is closed after IDLE_SECONDS, and no more
    than half the server's threads can be held by streams at once."""
    import threading

    from server import reporting

    monkeypatch.setattr(reporting, "IDLE_SECONDS", 0.5)
    leaf = alice.prepare_report(f"{SUBJECT} idle", "fake_traffic", "minor", recent())
    release = threading.Event()

    def one_then_wait() -> Iterator[gov.SubmitReportsRequest]:
        yield message(request(alice, leaf))
        release.wait(10)  # the member goes quiet with the stream still open

    with pytest.raises(errors.Unavailable, match="no report arrived on this stream"):
        list(alice.conn.stream(alice.conn.reporting.SubmitReports, one_then_wait(), timeout=30))
    release.set()
    body = wire.signed_entry_from_bytes(leaf).entry.body
    assert isinstance(body, e.ReportCommitted)
    assert alice.receipt(body.report_id).index >= 0  # it was answered before the stream closed

    monkeypatch.setattr(reporting, "IDLE_SECONDS", 30.0)
    limit = Settings.workers // 2  # the default thread pool: half of it may hold streams
    hold = threading.Event()

    def one_then_quiet(leaf: bytes) -> Iterator[gov.SubmitReportsRequest]:
        yield message(request(alice, leaf))
        hold.wait(20)  # then the stream stays open, sending nothing

    held = [alice.conn.reporting.SubmitReports(
        one_then_quiet(alice.prepare_report(f"{SUBJECT} held {i}", "fake_traffic", "minor", recent())), timeout=30)
        for i in range(limit)]
    try:
        for call in held:
            assert next(call).results[0].HasField("receipt")  # this stream is open and holds its slot
        extra = alice.conn.reporting.SubmitReports(iter([]), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            list(extra)
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "report streams open" in (refused.value.details() or "")
    finally:
        hold.set()
        for call in held:
            list(call)
    results = stream(alice, [request(alice, alice.prepare_report(f"{SUBJECT} after", "fake_traffic", "minor",
                                                                 recent()))])
    assert results[0].HasField("receipt")  # every slot came back


def test_streams_reuse_their_reading_threads_and_store_connections(alice: Member, operator: Any) -> None:
    """A thread keeps its SQLite connection until the store closes: a new thread per stream
    would leak one connection (and file descriptor) per stream, for ever."""
    store = operator.ledger.store
    stream(alice, [request(alice, alice.prepare_report(f"{SUBJECT} warm", "fake_traffic", "minor", recent()))])
    before = len(store._connections)
    for i in range(3 * Settings.workers):
        stream(alice, [request(alice, alice.prepare_report(f"{SUBJECT} {i}", "fake_traffic", "minor", recent()))])
    assert len(store._connections) <= before + Settings.workers  # the readers' pool, at most


def test_reports_are_packed_by_count_and_by_size() -> None:
    """The SDK's packing (api.wire.report_messages): in order, at most REPORTS_PER_MESSAGE to
    a message, under the operator's request limit, and a report alone always goes."""
    from api.wire import MAX_ENTRY_BYTES, MAX_REQUEST_BYTES, REPORTS_PER_MESSAGE, report_messages

    small = [i.to_bytes(4, "big") * 25 for i in range(2 * REPORTS_PER_MESSAGE + 22)]
    chunks = list(report_messages(small))
    assert [len(c) for c in chunks] == [REPORTS_PER_MESSAGE, REPORTS_PER_MESSAGE, 22]
    assert [r for c in chunks for r in c] == small
    large = [bytes([i]) * 200_000 for i in range(5)]
    chunks = list(report_messages(large))
    assert [len(c) for c in chunks] == [2, 2, 1]
    for chunk in chunks:
        assert len(gov.SubmitReportsRequest(reports=chunk).SerializeToString()) < MAX_REQUEST_BYTES
    assert list(report_messages([b"z" * (MAX_ENTRY_BYTES + 1024)])) == [[b"z" * (MAX_ENTRY_BYTES + 1024)]]
