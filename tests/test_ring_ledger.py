"""Ring-signature coupons at the ledger and in the SDK, over real gRPC with mTLS.

A coupon (core.ring) is spent once: the SDK records it before signing, and the ledger
refuses a second signature carrying the same coupon commitment Cx (which would link two
reports, and with a repeated nonce reveal the key). A coupon is void once the ring changes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client.connection import Connection
from client.sdk import Member
from core import entries as e
from core import errors, ring, state
from core.group import default_group
from server.intake import seal_report
from server.storage import LedgerStore

GROUP = default_group()


def recent() -> str:
    return (_dt.datetime.now(_dt.timezone.utc).date() - _dt.timedelta(days=30)).isoformat()


def size(operator: Any) -> int:
    return int(operator.ledger.store.size())


def member(alliance_dir: Path, name: str, operator: Any, tmp_path: Path, **kw: Any) -> Member:
    state_dir = tmp_path / f"state-{name}"
    state_dir.mkdir(exist_ok=True)
    return Member(Identity.load(alliance_dir / f"member-{name}"), f"127.0.0.1:{operator.port}", state_dir, **kw)


@pytest.fixture()
def alice(alliance_dir: Path, operator: Any, tmp_path: Path) -> Any:
    m = member(alliance_dir, "a", operator, tmp_path, pool_size=0, coupon_pool_size=0)
    yield m
    m.close()


def reporting_key(m: Member) -> int:
    return int(m.identity.read("reporting.key").decode().strip(), 16)


def signed_with(m: Member, body: Any, subject_tag: bytes, coupon: ring.Coupon) -> bytes:
    """What a faulty SDK would send: `body` signed with a coupon it already used."""
    body = dataclasses.replace(body, ring_change=coupon.context.ring_change)
    entry = e.LedgerEntry(body, timestamp_ms=state.report_hour(int(time.time() * 1000)))
    entry_bytes = wire.entry_to_bytes(entry)
    sig = ring.ring_sign(GROUP, coupon, subject_tag, e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
    return wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))


def current_context(m: Member) -> ring.RingContext:
    m.refresh()
    keys, changed_at = m.ring()
    return ring.RingContext(m.genesis_hash, changed_at, keys)


def test_a_reused_coupon_is_refused_by_the_ledger(alice: Member, operator: Any) -> None:
    """Two reports about different subjects signed with one coupon: each signature is valid
    on its own, but they share Cx (linkable); the ledger keeps the first, refuses the second."""
    context = current_context(alice)
    coupon = ring.make_coupon(GROUP, context, reporting_key(alice))
    now = int(time.time() * 1000)
    first_body, first_tag = alice._report_body("Subject One", "fake_traffic", "serious", recent(), b"", True, now)
    second_body, second_tag = alice._report_body("Subject Two", "fake_traffic", "minor", recent(), b"", True, now)
    first = signed_with(alice, first_body, first_tag, coupon)
    second = signed_with(alice, second_body, second_tag, coupon)
    for leaf, tag in ((first, first_tag), (second, second_tag)):
        signed = wire.signed_entry_from_bytes(leaf)
        assert signed.ring_signature is not None
        ring.ring_verify(GROUP, context, tag, signed.signed_message(),
                         ring.RingSignature.from_bytes(signed.ring_signature))
    before = size(operator)
    alice.submit_prepared(first)
    assert size(operator) == before + 1
    with pytest.raises(errors.Conflict, match="coupon"):
        alice.submit_prepared(second)
    assert size(operator) == before + 1


def test_a_retraction_cannot_reuse_its_reports_coupon(alice: Member, operator: Any) -> None:
    context = current_context(alice)
    coupon = ring.make_coupon(GROUP, context, reporting_key(alice))
    now = int(time.time() * 1000)
    body, tag = alice._report_body("Subject Three", "fake_traffic", "general", recent(), b"", True, now)
    receipt = alice.submit_prepared(signed_with(alice, body, tag, coupon))
    before = size(operator)
    retraction = e.ReportRetracted(receipt.report_id, ring_change=1, reason="mistake")
    with pytest.raises(errors.Conflict, match="coupon"):
        alice.submit_prepared(signed_with(alice, retraction, tag, coupon))
    assert size(operator) == before
    alice.retract_report(receipt.report_id, "mistake")  # with a fresh coupon it goes through
    assert size(operator) == before + 1


def test_sdk_records_each_coupon_before_it_signs(alice: Member, operator: Any) -> None:
    receipts = [alice.submit_report(f"Subject {i}", "fake_traffic", "minor", recent()) for i in range(2)]
    spent = alice.coupon_log.read_text().split()
    stored = [wire.signed_entry_from_bytes(operator.ledger.store.entry(r.index)).ring_signature for r in receipts]
    assert [ring.RingSignature.commitment_of(s or b"").hex() for s in stored] == spent


def revoke(alliance_dir: Path, operator: Any, member_id: str) -> None:
    regulator = Identity.load(alliance_dir / "regulator")
    leaf = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked(member_id, "test"), timestamp_ms=int(time.time() * 1000)),
                          regulator.signing_key())
    with Connection(regulator, f"127.0.0.1:{operator.port}") as conn:
        conn.call(conn.governance.RevokeMember, gov.SubmitEntryRequest(signed_entry=leaf))


def test_a_coupon_is_void_after_a_ring_change(alice: Member, operator: Any, alliance_dir: Path) -> None:
    """A coupon made before member c was revoked names the old ring: spent under the old
    ring_change it is a stale ring (Conflict); passed off as the new ring (the entry names
    the new change, the coupon still the old ring) its hash does not match (refused)."""
    old = current_context(alice)
    coupon = ring.make_coupon(GROUP, old, reporting_key(alice))
    revoke(alliance_dir, operator, "c")
    new = current_context(alice)
    assert new.ring_change > old.ring_change and len(new.ring) == len(old.ring) - 1
    now = int(time.time() * 1000)
    body, tag = alice._report_body("Subject Four", "fake_traffic", "minor", recent(), b"", True, now)
    before = size(operator)
    with pytest.raises(errors.Conflict, match="member set changed"):
        alice.submit_prepared(signed_with(alice, body, tag, coupon))
    grafted = ring.Coupon(new, coupon.proof, coupon.x, coupon.rho)
    with pytest.raises(errors.InvalidInput, match="ring signature"):
        alice.submit_prepared(signed_with(alice, body, tag, grafted))
    assert size(operator) == before
    alice.submit_prepared(signed_with(alice, body, tag, ring.make_coupon(GROUP, new, reporting_key(alice))))
    assert size(operator) == before + 1


def test_one_shot_member_starts_no_pool_thread(alice: Member) -> None:
    alice.prepare_report("Subject Five", "fake_traffic", "minor", recent())
    names = {t.name for t in threading.enumerate()}
    assert "coupon-pool" not in names and "rn-pool" not in names


def test_long_lived_member_keeps_coupons_ready(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    m = member(alliance_dir, "b", operator, tmp_path, pool_size=0, coupon_pool_size=2)
    try:
        m.prepare_report("Subject Six", "fake_traffic", "minor", recent())
        for _ in range(200):
            if len(m.coupons) >= 2:
                break
            time.sleep(0.05)
        assert len(m.coupons) >= 2
        assert "coupon-pool" in {t.name for t in threading.enumerate()}
    finally:
        m.close()
    assert "coupon-pool" not in {t.name for t in threading.enumerate()}


def sealed(m: Member, operator: Any, leaf: bytes) -> bytes:
    """`leaf` as intake stores it: with the escrow the operator seals."""
    ally, view = operator.ledger.alliance, operator.ledger.view
    return seal_report(ally, view, "a", wire.signed_entry_from_bytes(leaf), m.escrow_signature(leaf))[0]


def test_a_batch_reads_its_replay_checks_at_once_and_still_refuses_replays(alice: Member, operator: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The sequencer reads the "is it new?" keys of a whole batch in one query
    (`core.state.lookups`, `Ledger.prepare`). Within one batch the second spend of a coupon
    and a report already stored are still refused, and nothing is read key by key."""
    context = current_context(alice)
    coupon = ring.make_coupon(GROUP, context, reporting_key(alice))
    now = int(time.time() * 1000)
    one, one_tag = alice._report_body("Subject Eleven", "fake_traffic", "minor", recent(), b"", True, now)
    two, two_tag = alice._report_body("Subject Twelve", "fake_traffic", "minor", recent(), b"", True, now)
    stored = alice.submit_report("Subject Thirteen", "fake_traffic", "minor", recent())
    stored_leaf = operator.ledger.store.entry(stored.index)
    items = [sealed(alice, operator, signed_with(alice, one, one_tag, coupon)),
             sealed(alice, operator, signed_with(alice, two, two_tag, coupon)), stored_leaf]
    store: LedgerStore = operator.ledger.store
    asked: list[str] = []
    real_get = store.get

    def get(key: str) -> bytes | None:
        asked.append(key)
        return real_get(key)

    monkeypatch.setattr(store, "get", get)
    prepared = operator.ledger.prepare([(leaf, wire.signed_entry_from_bytes(leaf), True) for leaf in items])
    first, second, replay = prepared.results  # a batch's reports are appended in a random order
    spent = second if isinstance(first, int) else first
    assert isinstance(first if spent is second else second, int)
    assert isinstance(spent, errors.Conflict) and "coupon already spent" in str(spent)
    assert isinstance(replay, errors.AlreadyExists)
    assert not [k for k in asked if k.startswith(("report/", "coupon/"))]
    assert prepared.batch is not None and len(prepared.batch.entries) == 1


def test_a_subjects_reports_are_read_in_one_round_trip(alice: Member, operator: Any) -> None:
    """`state.subject_reports` (every rating request and answer runs it) reads the subject's
    report records with one bulk read through an overlay, not one query per report, and
    reads what reading them one by one gives."""
    from server.storage import StoreView

    for _ in range(3):
        alice.submit_report("Subject Bulk", "fake_traffic", "minor", recent())
    tag = alice.subject_tag("Subject Bulk")

    class Counting(StoreView):
        gets: list[str] = []
        bulk: list[int] = []

        def get(self, key: str) -> bytes | None:
            self.gets.append(key)
            return super().get(key)

        def values(self, keys: Sequence[str]) -> dict[str, bytes | None]:
            self.bulk.append(len(keys))
            return super().values(keys)

    counting = Counting(operator.ledger.store)
    got = state.subject_reports(state.Overlay(counting), tag)
    assert counting.bulk == [3] and not [k for k in counting.gets if k.startswith("report/")]
    one_by_one = state.MemoryState()
    one_by_one.update(dict(StoreView(operator.ledger.store).scan("")))
    assert got == state.subject_reports(one_by_one, tag) and len(got) == 3
