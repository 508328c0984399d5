"""Attacks on report intake and on the escrow, through the real gRPC path (docs/reports.md).

Each test acts as a member, the operator or the regulator would: a member SDK or a raw
stub over mTLS against a running operator; the regulator through `client.regulator`.
Refusals are checked twice: the typed error (from the gRPC status) with its message, and a
ledger whose size did not change.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client.connection import Connection
from client.regulator import Regulator
from client.sdk import Member
from core import entries as e
from core import errors, escrow, merkle, ring, state
from core.group import default_group
from server import intake, reporting
from server.intake import seal_report

SUBJECT = "anchor-escrow"
KEYS = Path(__file__).parent / "keys"


def recent() -> str:
    return (_dt.datetime.now(_dt.UTC).date() - _dt.timedelta(days=12)).isoformat()


def size(operator: Any) -> int:
    return int(operator.ledger.store.size())


def member(identity_dir: Path, operator: Any, state_dir: Path) -> Member:
    state_dir.mkdir(parents=True, exist_ok=True)
    return Member(Identity.load(identity_dir), f"127.0.0.1:{operator.port}", state_dir, pool_size=2)


def submit(conn: Connection, leaf: bytes, escrow_signature: bytes) -> gov.Receipt:
    """SubmitReport exactly as a member's own code could call it, past the SDK."""
    request = gov.SubmitEntryRequest(signed_entry=leaf, escrow_signature=escrow_signature)
    result: gov.Receipt = conn.call(conn.reporting.SubmitReport, request)
    return result


def resigned(m: Member, leaf: bytes, *, timestamp_ms: int | None = None, subject_tag: bytes | None = None,
             **changes: Any) -> bytes:
    """`leaf`'s report (or, given its report's `subject_tag`, retraction) with fields changed,
    ring-signed again by `m` (only the changes are wrong)."""
    signed = wire.signed_entry_from_bytes(leaf)
    body: Any = dataclasses.replace(signed.entry.body, **changes)
    entry = e.LedgerEntry(body, timestamp_ms=signed.entry.timestamp_ms if timestamp_ms is None else timestamp_ms)
    entry_bytes = wire.entry_to_bytes(entry)
    x = int(m.identity.read("reporting.key").decode(), 16)
    keys, changed_at = m.ring()
    coupon = ring.make_coupon(default_group(), ring.RingContext(m.genesis_hash, changed_at, keys), x)
    tag = body.subject_tag if subject_tag is None else subject_tag
    sig = ring.ring_sign(default_group(), coupon, tag, e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
    return wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))


@pytest.fixture()
def alice(alliance_dir: Path, operator: Any, tmp_path: Path) -> Iterator[Member]:
    m = member(alliance_dir / "member-a", operator, tmp_path / "state-a")
    yield m
    m.close()


@pytest.fixture()
def bob(alliance_dir: Path, operator: Any, tmp_path: Path) -> Iterator[Member]:
    m = member(alliance_dir / "member-b", operator, tmp_path / "state-b")
    yield m
    m.close()


@pytest.fixture()
def regulator(alliance_dir: Path, operator: Any) -> Iterator[Regulator]:
    r = Regulator(Identity.load(alliance_dir / "regulator"), f"127.0.0.1:{operator.port}")
    yield r
    r.close()


# -- (7) a non-unit ciphertext ------------------------------------------------------------


def test_a_non_unit_ciphertext_is_refused_and_the_subject_stays_ratable(alice: Member, operator: Any) -> None:
    """c = n, c ≡ 0 mod p, c ≥ n²: each would make every aggregate of its subject
    undecryptable. Intake refuses them with what to fix; the subject still takes reports."""
    alice.refresh()
    good = alice.prepare_report(SUBJECT, "fake_traffic", "serious", recent())
    n = alice.alliance.genesis.paillier_n
    p = int(json.loads((KEYS / "test_only_threshold_1024_t2_n3.json").read_text())["factors"]["p"], 16)
    assert n % p == 0
    before = size(operator)
    for c, message in ((n, "not a unit"), (n * n - p, "not a unit"), (3 * n, "not a unit"),
                       (n * n, "outside 0 < c < n"), (n * n + 1, "outside 0 < c < n")):
        bad = resigned(alice, good, ciphertext=c)
        with pytest.raises(errors.InvalidInput, match=message) as info:
            submit(alice.conn, bad, alice.escrow_signature(bad))
        assert "encrypt" in str(info.value)  # says what to do
    assert size(operator) == before
    receipt = alice.submit_prepared(good)  # the subject is not blocked
    assert receipt.index == before


def test_a_notice_date_after_the_report_or_before_the_incident_is_refused(alice: Member, operator: Any) -> None:
    """The notice duty (docs/reports.md, "Notice"): the subject is told on or after the
    incident and no later than the report. A ring-signed leaf that says otherwise, or names
    no notice day at all, is refused over gRPC with what to do; nothing is stored. The SDK
    says so first, and its default (today) is accepted."""
    alice.refresh()
    incident = recent()
    good = alice.prepare_report(SUBJECT, "fake_traffic", "general", incident)
    signed = wire.signed_entry_from_bytes(good)
    assert isinstance(signed.entry.body, e.ReportCommitted)
    today = _dt.datetime.fromtimestamp(signed.entry.timestamp_ms / 1000, tz=_dt.UTC).date()
    assert signed.entry.body.notice_date == today.isoformat()  # the SDK's default
    before = size(operator)
    cases = {
        "after the day of the report": (today + _dt.timedelta(days=1)).isoformat(),
        "before the incident date": (_dt.date.fromisoformat(incident) - _dt.timedelta(days=1)).isoformat(),
        "must carry notice_date": "",
    }
    for message, notice in cases.items():
        bad = resigned(alice, good, notice_date=notice)
        with pytest.raises(errors.InvalidInput, match=message) as info:
            submit(alice.conn, bad, alice.escrow_signature(bad))
        assert "tell" in str(info.value) or "told" in str(info.value)  # says what to do
    with pytest.raises(errors.InvalidInput, match="after the day of the report"):
        alice.prepare_report(SUBJECT, "fake_traffic", "general", incident,
                             notice_date=today + _dt.timedelta(days=1))
    assert size(operator) == before
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "general", incident, notice_date=incident)
    stored = wire.signed_entry_from_bytes(operator.ledger.store.entry(receipt.index)).entry.body
    assert isinstance(stored, e.ReportCommitted) and stored.notice_date == incident


# -- (4) nothing in a stored report identifies its reporter ----------------------------------


def test_reporters_cannot_be_told_apart_by_lengths_or_times(alliance_dir: Path, operator: Any, alice: Member,
                                                            tmp_path: Path, regulator: Regulator) -> None:
    """Two members with ids of very different lengths: their stored ReportCommitted leaves
    have identical lengths (fixed-length escrow and fields), carry whole-hour timestamps,
    derived ids, and name the ring by its membership change, not by what each had seen."""
    long_id = "a-member-with-a-much-longer-identifier-than-a"
    folder, _receipt = regulator.admit_member(long_id, tmp_path / f"member-{long_id}")
    other = member(folder, operator, tmp_path / "state-long")
    try:
        first = alice.submit_report(SUBJECT, "fake_traffic", "general", recent())
        alice.submit_report("filler", "contract_default", "minor", recent())  # the ledger grows in between
        second = other.submit_report(SUBJECT, "fake_traffic", "critical", recent())
    finally:
        other.close()
    leaves = [operator.ledger.store.entry(r.index) for r in (first, second)]
    assert len(leaves[0]) == len(leaves[1])
    signed = [wire.signed_entry_from_bytes(leaf) for leaf in leaves]
    assert {len(s.escrow or b"") for s in signed} == {escrow.ESCROW_BYTES}
    for s in signed:
        body = s.entry.body
        assert isinstance(body, e.ReportCommitted)
        assert s.entry.timestamp_ms % state.HOUR_MS == 0
        assert abs(s.entry.timestamp_ms - time.time() * 1000) < 2 * state.HOUR_MS
        assert body.report_id == e.derive_report_id(body.commitment)
    # Both name the same ring: the admission of the long-named member, whatever size each saw.
    assert {s.entry.body.ring_change for s in signed} == {state.current_ring(operator.ledger.view)[1]}  # type: ignore[union-attr]


def test_a_member_clock_or_chosen_id_is_refused(alice: Member, operator: Any) -> None:
    alice.refresh()
    good = alice.prepare_report(SUBJECT, "fake_traffic", "minor", recent())
    hour = wire.signed_entry_from_bytes(good).entry.timestamp_ms
    before = size(operator)
    cases = {
        "whole UTC hour": resigned(alice, good, timestamp_ms=hour + 1234),  # a member's millisecond clock
        "ledger's clock": resigned(alice, good, timestamp_ms=hour - 3 * state.HOUR_MS),
    }
    for message, leaf in cases.items():
        with pytest.raises(errors.InvalidInput, match=message):
            submit(alice.conn, leaf, alice.escrow_signature(leaf))
    # A report id of the member's choosing does not even decode.
    raw = wire.entry_to_proto(wire.signed_entry_from_bytes(good).entry)
    raw.report_committed.report_id = bytes(16)
    entry_bytes = raw.SerializeToString(deterministic=True)
    forged = wire.signed_entry_from_bytes(good)
    leaf = good.replace(forged.entry_bytes, entry_bytes)
    with pytest.raises(errors.InvalidInput, match="derive it from the commitment"):
        submit(alice.conn, leaf, b"")
    assert size(operator) == before


def test_a_retraction_carries_no_member_clock_either(alice: Member, operator: Any) -> None:
    """A retraction is ring-signed like its report, so a millisecond clock in it would
    narrow the ring just the same: the ledger takes only the operator's whole hour."""
    report = alice.submit_report(f"{SUBJECT}-clock", "fake_traffic", "minor", recent())
    good = alice.prepare_retraction(report.report_id)
    hour = wire.signed_entry_from_bytes(good).entry.timestamp_ms
    leaf = resigned(alice, good, timestamp_ms=hour + 1234, subject_tag=alice.subject_tag(f"{SUBJECT}-clock"))
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="whole UTC hour"):
        alice.conn.call(alice.conn.reporting.RetractReport, gov.SubmitEntryRequest(signed_entry=leaf))
    assert size(operator) == before
    alice.retract_report(report.report_id)  # the SDK's own whole-hour retraction is taken


def test_reports_are_appended_in_random_order_within_a_batch(alice: Member, operator: Any) -> None:
    """The sequencer's batch preparation (the same code for SQLite and shared PostgreSQL)
    permutes the reports of a batch, so ledger order does not follow arrival order."""
    alice.refresh()
    items = []
    for i in range(6):
        leaf = alice.prepare_report(f"{SUBJECT}-{i}", "fake_traffic", i % 4, recent(), refresh=False)
        stored, signed = seal_report(operator.ledger.alliance, operator.ledger.view, "a",
                                     wire.signed_entry_from_bytes(leaf), alice.escrow_signature(leaf))
        items.append((stored, signed, True))
    first = size(operator)
    orders = set()
    for _ in range(10):
        prepared = operator.ledger.prepare(items)
        indices = tuple(prepared.results)
        assert sorted(indices) == list(range(first, first + len(items)))
        orders.add(indices)
    assert len(orders) > 1, "ten batches of six reports were all appended in arrival order"


# -- (10) the escrow is made by the party that saw who --------------------------------------


def test_a_member_cannot_escrow_garbage_or_another_member(alice: Member, bob: Member, operator: Any) -> None:
    alice.refresh()
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "serious", recent())
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="escrow signature is 0 bytes"):
        submit(alice.conn, leaf, b"")
    with pytest.raises(errors.PermissionDenied, match="does not verify under the key of member a"):
        submit(alice.conn, leaf, bytes(64))  # garbage
    with pytest.raises(errors.PermissionDenied, match="does not verify under the key of member a"):
        submit(alice.conn, leaf, bob.escrow_signature(leaf))  # bob's valid signature: framing bob
    other = alice.prepare_report("another subject", "fake_traffic", "serious", recent())
    with pytest.raises(errors.PermissionDenied, match="does not verify"):
        submit(alice.conn, leaf, alice.escrow_signature(other))  # her own, for another entry
    # A member cannot bring its own sealed escrow either.
    signed = wire.signed_entry_from_bytes(leaf)
    own = escrow.seal_report_escrow(alice.alliance.genesis.regulator_escrow_key, alice.genesis_hash,
                                    signed.entry_bytes, "b", bob.escrow_signature(leaf))
    with pytest.raises(errors.InvalidInput, match="without an escrow"):
        submit(alice.conn, wire.signed_entry_to_bytes(dataclasses.replace(signed, escrow=own)),
               alice.escrow_signature(leaf))
    assert size(operator) == before
    receipt = alice.submit_prepared(leaf)
    assert receipt.index == before


def test_the_ledger_checks_the_escrow_is_there_and_fixed_length(alice: Member, operator: Any) -> None:
    alice.refresh()
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "general", recent())
    stored = wire.signed_entry_from_bytes(operator.ledger.store.entry(receipt.index))
    assert stored.escrow is not None
    with pytest.raises(errors.InvalidInput, match=f"sealed escrow is {escrow.ESCROW_BYTES - 1} bytes"):
        dataclasses.replace(stored, escrow=stored.escrow[:-1])
    without = dataclasses.replace(stored, escrow=None)
    view = state.Overlay(operator.ledger.view)
    assert isinstance(stored.entry.body, e.ReportCommitted)
    view.updates[f"report/{stored.entry.body.report_id.hex()}"] = None
    with pytest.raises(errors.InvalidInput, match="carries the escrow"):
        state.apply(view, operator.ledger.alliance, size(operator), without, verify=False)


def test_a_retry_resends_identical_bytes_and_a_replay_returns_the_receipt(alice: Member, operator: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator withholds the acknowledgement: the SDK keeps the signed bytes pending,
    resends them unchanged, and gets the stored report's receipt: one report, not two."""
    sent: list[bytes] = []
    real_call = alice.conn.call

    def withhold_first(method: Any, request: Any) -> Any:
        if isinstance(request, gov.SubmitEntryRequest):
            sent.append(request.SerializeToString(deterministic=True))
            assert list(alice.pending_dir.glob("*.leaf")), "the signed bytes are kept until the receipt"
            result = real_call(method, request)
            if len(sent) == 1:
                raise errors.Unavailable("connection reset before the answer")
            return result
        return real_call(method, request)

    monkeypatch.setattr(alice.conn, "call", withhold_first)
    before = size(operator)
    receipt = alice.submit_report(SUBJECT, "false_advertising", "serious", recent())
    assert len(sent) == 2 and sent[0] == sent[1]
    assert size(operator) == before + 1 and receipt.index == before
    assert not list(alice.pending_dir.glob("*.leaf"))

    # A report left pending by a crash is sent again byte for byte.
    monkeypatch.setattr(alice.conn, "call", real_call)
    leaf = alice.prepare_report(SUBJECT, "contract_default", "minor", recent())
    alice.submit_prepared(leaf)
    alice.pending_dir.mkdir(exist_ok=True)
    (alice.pending_dir / "x.leaf").write_bytes(leaf)
    (again,) = alice.resend_pending()
    assert again.index == before + 1 and size(operator) == before + 2


# -- opening an escrow ----------------------------------------------------------------------


def file_dispute(m: Member, report_id: bytes) -> bytes:
    dispute_id = bytes.fromhex("d1" * 16)
    entry = e.LedgerEntry(e.DisputeFiled(dispute_id, report_id, "the refund was paid"),
                          timestamp_ms=int(time.time() * 1000))
    m.conn.call(m.conn.governance.FileDispute,
                gov.SubmitEntryRequest(signed_entry=wire.sign_leaf(entry, m.identity.signing_key())))
    return dispute_id


def kinds(operator: Any, start: int) -> list[str]:
    leaves = operator.ledger.store.entries(start, size(operator))
    return [wire.signed_entry_from_bytes(leaf).entry.kind for leaf in leaves]


def test_an_escrow_opened_for_a_dispute_names_the_reporter(alice: Member, bob: Member, operator: Any,
                                                           regulator: Regulator, alliance_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "critical", recent())
    dispute = file_dispute(bob, receipt.report_id)
    before = size(operator)
    opening = regulator.open_escrow(receipt.report_id, f"dispute:{dispute.hex()}")
    assert (opening.member_id, opening.signature_valid, opening.failure) == ("a", True, None)
    assert opening.opened_index == before and kinds(operator, before) == ["EscrowOpened"]

    # The CLI prints the same, after recording its own opening (another reason is needed:
    # one opening per report and reason). An investigation needs a held subject
    # (docs/ratings.md), so the second reason is a second dispute.
    from candor.cli import main

    with pytest.raises(errors.AlreadyExists, match="already opened"):
        regulator.open_escrow(receipt.report_id, f"dispute:{dispute.hex()}")
    tag = alice.subject_tag(SUBJECT)
    with pytest.raises(errors.Conflict, match="not held"):
        regulator.append("AuthoriseInvestigation", e.InvestigationAuthorised(tag, "a fraud ring", size(operator)))
    regulator.append("ResolveDispute", e.DisputeResolved(dispute, "annotate", "the refund was late"))
    second = bytes.fromhex("d2" * 16)
    bob.conn.call(bob.conn.governance.FileDispute, gov.SubmitEntryRequest(signed_entry=wire.sign_leaf(
        e.LedgerEntry(e.DisputeFiled(second, receipt.report_id, "the goods never arrived"),
                      timestamp_ms=int(time.time() * 1000)), bob.identity.signing_key())))
    main(["escrow", "open", "--identity", str(alliance_dir / "regulator"), "--server", f"127.0.0.1:{operator.port}",
          "--report-id", receipt.report_id.hex(), "--reason", f"dispute:{second.hex()}", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert (printed["member_id"], printed["signature_valid"]) == ("a", True)
    assert kinds(operator, before) == ["EscrowOpened", "DisputeResolved", "DisputeFiled", "EscrowOpened"]


def test_an_escrow_stays_closed_without_a_reason(alice: Member, bob: Member, operator: Any, regulator: Regulator,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "serious", recent())
    other = alice.submit_report("someone else", "fake_traffic", "serious", recent())

    def never(*_a: Any) -> Any:
        raise AssertionError("the escrow was decrypted without an EscrowOpened on the ledger")

    monkeypatch.setattr(escrow, "open_report_escrow", never)
    before = size(operator)
    with pytest.raises(errors.NotFound, match="no dispute"):
        regulator.open_escrow(receipt.report_id, "dispute:" + "ab" * 16)
    dispute = file_dispute(bob, other.report_id)  # a dispute on ANOTHER report
    with pytest.raises(errors.NotFound, match="no dispute"):
        regulator.open_escrow(receipt.report_id, f"dispute:{dispute.hex()}")
    with pytest.raises(errors.PermissionDenied, match="escrow stays closed"):
        regulator.open_escrow(receipt.report_id, f"investigation:{other.index}")  # not an investigation
    with pytest.raises(errors.InvalidInput, match="must be dispute"):
        regulator.open_escrow(receipt.report_id, "curiosity")
    # A resolved dispute no longer justifies an opening.
    regulator.append("ResolveDispute", e.DisputeResolved(dispute, "uphold"))
    with pytest.raises(errors.Conflict, match="resolved"):
        regulator.open_escrow(other.report_id, f"dispute:{dispute.hex()}")
    assert kinds(operator, before) == ["DisputeFiled", "DisputeResolved"]
    # Only the regulator may open: a member's EscrowOpened is refused.
    leaf = wire.sign_leaf(e.LedgerEntry(e.EscrowOpened(other.report_id, f"dispute:{dispute.hex()}"),
                                        timestamp_ms=int(time.time() * 1000)), bob.identity.signing_key())
    with pytest.raises(errors.PermissionDenied, match="for the regulator"):
        bob.conn.call(bob.conn.governance.OpenEscrow, gov.SubmitEntryRequest(signed_entry=leaf))


def test_an_operator_that_sealed_garbage_is_faulted(alice: Member, bob: Member, operator: Any, regulator: Regulator,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A dishonest operator seals a signature that is not the member's: opening the escrow
    shows it, and OperatorFaulted goes on the ledger (a member cannot be framed). The
    operator here swaps the escrow its verification worker sealed for one of its own making,
    where it builds the leaf to append."""
    real_with_escrow = intake.with_escrow
    ally = operator.ledger.alliance

    def with_garbage(signed: e.SignedEntry, _sealed: bytes) -> tuple[bytes, e.SignedEntry]:
        garbage = escrow.seal_report_escrow(ally.genesis.regulator_escrow_key, ally.genesis_hash,
                                            signed.entry_bytes, "a", bytes(64))
        return real_with_escrow(signed, garbage)

    monkeypatch.setattr(reporting, "with_escrow", with_garbage)
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "general", recent())
    monkeypatch.setattr(reporting, "with_escrow", real_with_escrow)
    dispute = file_dispute(bob, receipt.report_id)
    before = size(operator)
    opening = regulator.open_escrow(receipt.report_id, f"dispute:{dispute.hex()}")
    assert not opening.signature_valid and opening.member_id == "a"
    assert opening.failure is not None and "does not verify" in opening.failure
    assert opening.fault_index == before + 1
    assert kinds(operator, before) == ["EscrowOpened", "OperatorFaulted"]
    fault = wire.signed_entry_from_bytes(operator.ledger.store.entry(before + 1)).entry.body
    assert isinstance(fault, e.OperatorFaulted) and fault.report_id == receipt.report_id
    record = state.report_record(operator.ledger.view, receipt.report_id.hex())
    assert record is not None and record.operator_faulted == before + 1
    assert merkle.leaf_hash(operator.ledger.store.entry(receipt.index)) == receipt.leaf_hash
