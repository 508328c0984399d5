"""Reporting through the member SDK over real gRPC with mTLS (docs/reports.md, docs/ledger.md, docs/architecture.md).

Each refusal is checked twice: the caller gets the right status (as a typed Candor error),
and nothing reached the ledger (its size is unchanged). Refusals the SDK would catch itself
are sent past it (`check=False`, hand-built leaves, raw stubs) so the server's own checks
are what is tested.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import pki, wire
from api.identity import Identity
from api.status import from_rpc_error
from api.v1 import governance_pb2 as gov
from api.v1 import governance_pb2_grpc, ledger_pb2
from client.connection import Connection
from client.issuing import raw_public
from client.sdk import Member, ReportReceipt
from client.verifier import LogVerifier
from core import entries as e
from core import errors, escrow, merkle, ring, state
from core.checkpoint import Checkpoint, sign_checkpoint
from core.group import default_group
from core.signing import VerifyKey

SUBJECT = "Anchor Li ＬＩＶＥ"  # full-width letters: normalised before tagging


def today() -> _dt.date:
    return _dt.datetime.now(_dt.timezone.utc).date()


def recent() -> str:
    return (today() - _dt.timedelta(days=30)).isoformat()


def size(operator: Any) -> int:
    return int(operator.ledger.store.size())


def member(alliance_dir: Path, name: str, operator: Any, tmp_path: Path) -> Member:
    state_dir = tmp_path / f"state-{name}"
    state_dir.mkdir(exist_ok=True)
    return Member(Identity.load(alliance_dir / f"member-{name}"), f"127.0.0.1:{operator.port}", state_dir,
                  pool_size=4)


def connect(alliance_dir: Path, who: str, operator: Any) -> Connection:
    return Connection(Identity.load(alliance_dir / who), f"127.0.0.1:{operator.port}")


def escrow_signature(identity: Identity, leaf: bytes) -> bytes:
    """What the member SDK sends beside a report: the escrow signature by `identity`'s key
    (empty for bytes that are no leaf, so the server's decoding refusal is what shows)."""
    try:
        entry_bytes = wire.signed_entry_from_bytes(leaf).entry_bytes
    except errors.InvalidInput:
        return b""
    genesis_hash = merkle.leaf_hash(identity.genesis_leaf())
    return bytes(identity.signing_key().sign(escrow.escrow_message(genesis_hash, entry_bytes)))


def send(conn: Connection, method: str, leaf: bytes) -> gov.Receipt:
    """A raw call past the SDK's checks (a report with the caller's own escrow signature)."""
    stub = conn.governance if method in ("AdmitMember", "RevokeMember") else conn.reporting
    request = gov.SubmitEntryRequest(signed_entry=leaf)
    if method == "SubmitReport":
        request.escrow_signature = escrow_signature(conn.identity, leaf)
    result: gov.Receipt = conn.call(getattr(stub, method), request)
    return result


def with_ring_signature(leaf: bytes, ring_signature: bytes) -> bytes:
    signed = wire.signed_entry_from_bytes(leaf)
    return wire.signed_entry_to_bytes(dataclasses.replace(signed, ring_signature=ring_signature))


def body_of(leaf: bytes) -> Any:
    return wire.signed_entry_from_bytes(leaf).entry.body


@pytest.fixture()
def alice(alliance_dir: Path, operator: Any, tmp_path: Path) -> Any:
    m = member(alliance_dir, "a", operator, tmp_path)
    yield m
    m.close()


@pytest.fixture()
def bob(alliance_dir: Path, operator: Any, tmp_path: Path) -> Any:
    m = member(alliance_dir, "b", operator, tmp_path)
    yield m
    m.close()


def test_report_is_stored_and_its_receipt_verifies(alice: Member, bob: Member, operator: Any,
                                                    alliance_dir: Path) -> None:
    before = size(operator)
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "serious", recent(), b"screen recording")
    assert isinstance(receipt, ReportReceipt)
    # The receipt is evidence: a third party holding only the genesis checks it offline.
    assert receipt.verify(LogVerifier(alliance_dir.joinpath("regulator", "genesis.entry").read_bytes())).size \
        == receipt.checkpoint_size
    assert receipt.index == before and size(operator) == before + 1
    stored = operator.ledger.store.entry(receipt.index)
    assert receipt.leaf == stored and merkle.leaf_hash(stored) == receipt.leaf_hash
    report = body_of(stored)
    assert report.report_id == receipt.report_id == e.derive_report_id(report.commitment)
    assert report.subject_tag == alice.subject_tag("anchor li live")  # same pseudonym however written
    assert report.ring_change == state.current_ring(operator.ledger.view)[1]  # the last admission

    # GetReceipt, by the reporter and by another member, verifies to the same leaf.
    for who in (alice, bob):
        again = who.receipt(receipt.report_id)
        assert (again.index, again.leaf_hash) == (receipt.index, receipt.leaf_hash)

    # The escrow, sealed by the operator beside the entry, names the reporter to the
    # regulator, and only to the regulator, bound to this very entry.
    regulator = Identity.load(alliance_dir / "regulator")
    signed = wire.signed_entry_from_bytes(stored)
    assert signed.escrow is not None and len(signed.escrow) == escrow.ESCROW_BYTES
    genesis_hash = merkle.leaf_hash(alice.identity.genesis_leaf())
    member_id, signature = escrow.open_report_escrow(regulator.hex_file("escrow.key"), genesis_hash,
                                                     signed.entry_bytes, signed.escrow)
    assert member_id == "a"
    a_key = VerifyKey.from_bytes(raw_public(alice.identity.signing_key()))
    a_key.verify(escrow.escrow_message(genesis_hash, signed.entry_bytes), signature)
    with pytest.raises(errors.VerificationError):
        escrow.open_report_escrow(regulator.hex_file("escrow.key"), genesis_hash, signed.entry_bytes + b"x",
                                  signed.escrow)

    # Anonymous yet linkable: the link tag is alice's for this subject, and a second report
    # on the same subject carries the same tag.
    tag = ring.RingSignature.from_bytes(wire.signed_entry_from_bytes(stored).ring_signature or b"").link_tag
    second = alice.submit_report("anchor li live", "contract_default", 0, today())
    second_leaf = operator.ledger.store.entry(second.index)
    second_signature = wire.signed_entry_from_bytes(second_leaf).ring_signature or b""
    assert ring.RingSignature.from_bytes(second_signature).link_tag == tag



def test_a_report_from_precomputed_nonces_is_accepted_and_uses_them_up(alice: Member, operator: Any) -> None:
    """The SDK's pool of validity nonces (core.proofs.ValidityNonces): a report proven from
    one is accepted like any other, and the set is gone from the pool."""
    from core.pool import Pool
    from core.proofs import validity_nonces

    alice.nonces.close()  # no background refill: the count below is the report's alone
    alice.nonces = Pool(lambda: validity_nonces(alice.alliance.generators), "test-nonces", size=2)
    receipt = alice.submit_report(f"{SUBJECT} from nonces", "fake_traffic", "serious", recent())
    assert receipt.index >= 0 and len(alice.nonces) == 1


def test_retraction_only_by_the_original_reporter(alice: Member, bob: Member, operator: Any) -> None:
    receipt = alice.submit_report(SUBJECT, "false_advertising", "minor", recent())
    before = size(operator)

    with pytest.raises(errors.PermissionDenied, match="original reporter"):
        bob.retract_report(receipt.report_id)  # the SDK sees the link tag is not bob's
    # Past the SDK: bob ring-signs a retraction himself; the server compares link tags.
    subject = body_of(operator.ledger.store.entry(receipt.index)).subject_tag
    forged = bob.sign_entry(e.ReportRetracted(receipt.report_id, ring_change=1), subject)
    with pytest.raises(errors.PermissionDenied, match="original reporter"):
        send(bob.conn, "RetractReport", forged)
    assert size(operator) == before

    retraction = alice.retract_report(receipt.report_id, reason="settled")
    assert retraction.index == before and size(operator) == before + 1
    assert isinstance(body_of(operator.ledger.store.entry(retraction.index)), e.ReportRetracted)
    with pytest.raises(errors.Conflict, match="already retracted"):
        alice.retract_report(receipt.report_id)
    assert size(operator) == before + 1


def _channel_call(operator: Any, creds: grpc.ChannelCredentials, leaf: bytes) -> errors.CandorError:
    with grpc.secure_channel(f"127.0.0.1:{operator.port}", creds) as channel:
        stub = governance_pb2_grpc.ReportingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitReport(gov.SubmitEntryRequest(signed_entry=leaf), timeout=10)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE  # the TLS handshake failed
        return from_rpc_error(info.value)


def test_no_client_certificate_is_refused(alice: Member, operator: Any, alliance_dir: Path) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "general", recent())
    before = size(operator)
    creds = grpc.ssl_channel_credentials(root_certificates=Identity.load(alliance_dir / "member-a").ca_pem())
    assert isinstance(_channel_call(operator, creds, leaf), errors.Unavailable)
    assert size(operator) == before
    alice.submit_prepared(leaf)  # the very same leaf over mTLS is fine: the refusal was the channel's
    assert size(operator) == before + 1


def test_certificate_from_another_ca_is_refused(alice: Member, operator: Any, alliance_dir: Path) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "general", recent())
    before = size(operator)
    rogue_ca = pki.make_ca("Rogue CA")
    key, cert = pki.issue(rogue_ca[0], rogue_ca[1], "a", "member")  # claims to be member a
    creds = grpc.ssl_channel_credentials(
        root_certificates=Identity.load(alliance_dir / "member-a").ca_pem(),
        private_key=pki.key_pem(key), certificate_chain=pki.cert_pem(cert),
    )
    assert isinstance(_channel_call(operator, creds, leaf), errors.Unavailable)
    assert size(operator) == before


def test_forged_or_mismatched_ring_signatures_are_refused(alice: Member, operator: Any) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "critical", recent())
    other = alice.prepare_report("someone else", "fake_traffic", "critical", recent())
    sig = wire.signed_entry_from_bytes(leaf).ring_signature or b""
    other_sig = wire.signed_entry_from_bytes(other).ring_signature or b""
    before = size(operator)

    tampered_sig = with_ring_signature(leaf, sig[:-1] + bytes([sig[-1] ^ 1]))
    swapped_sig = with_ring_signature(leaf, other_sig)
    signed = wire.signed_entry_from_bytes(leaf)
    assert isinstance(signed.entry.body, e.ReportCommitted)
    body = dataclasses.replace(signed.entry.body, evidence_digest=bytes(32))  # a byte of the entry changed
    entry = dataclasses.replace(signed.entry, body=body)
    tampered_entry = wire.signed_entry_to_bytes(
        e.SignedEntry(wire.entry_to_bytes(entry), entry, ring_signature=sig))
    for bad in (tampered_sig, swapped_sig, tampered_entry):
        with pytest.raises(errors.InvalidInput, match="ring signature"):
            send(alice.conn, "SubmitReport", bad)
    with pytest.raises(errors.InvalidInput, match="canonical|valid"):
        send(alice.conn, "SubmitReport", leaf[:-1] + bytes([leaf[-1] ^ 1]) + b"\x00")
    assert size(operator) == before
    send(alice.conn, "SubmitReport", leaf)  # the untouched leaf is accepted
    assert size(operator) == before + 1


def entry_field_twice(leaf: bytes) -> bytes:
    """`leaf` re-encoded non-canonically: its entry field (1) sent twice, the first copy 3 junk
    bytes that a parser overwrites with the last, so it decodes to the same entry under
    another leaf hash."""
    return b"\x0a\x03abc" + leaf


def test_a_report_in_a_non_canonical_encoding_is_refused(alice: Member, operator: Any) -> None:
    """A valid report sent with its entry field twice, the first copy junk (a parser keeps the
    last), decodes to the same report under another leaf hash. It is refused whole, over a
    call and over a stream, with its escrow signed over the real entry so that the encoding is
    its only defect; nothing is stored, and the report itself is then accepted."""
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "minor", recent())
    twice = entry_field_twice(leaf)
    assert wire.signed_entry_from_bytes(twice, check_canonical=False) == wire.signed_entry_from_bytes(leaf)
    request = gov.SubmitEntryRequest(signed_entry=twice, escrow_signature=escrow_signature(alice.identity, leaf))
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="canonical"):
        alice.conn.call(alice.conn.reporting.SubmitReport, request)
    [result] = [r for answer in alice.conn.reporting.SubmitReports(
        iter([gov.SubmitReportsRequest(reports=[request.SerializeToString()])]), timeout=60) for r in answer.results]
    assert result.refusal.code == "INVALID_ARGUMENT" and "canonical" in result.refusal.message
    assert size(operator) == before
    send(alice.conn, "SubmitReport", leaf)
    assert size(operator) == before + 1


def test_validity_proof_of_another_report_is_refused(alice: Member, operator: Any) -> None:
    first = body_of(alice.prepare_report(SUBJECT, "fake_traffic", "minor", recent()))
    second = body_of(alice.prepare_report(SUBJECT, "fake_traffic", "critical", recent()))
    grafted = alice.sign_entry(dataclasses.replace(first, validity_proof=second.validity_proof), first.subject_tag)
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="another report"):
        send(alice.conn, "SubmitReport", grafted)
    assert size(operator) == before


def test_unknown_category(alice: Member, operator: Any) -> None:
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="not in the registry"):
        alice.submit_report(SUBJECT, "gambling", "minor", recent())
    leaf = alice.prepare_report(SUBJECT, "gambling", "minor", recent(), check=False)
    with pytest.raises(errors.InvalidInput, match="'gambling' is not in the registry"):
        send(alice.conn, "SubmitReport", leaf)
    assert size(operator) == before


@pytest.mark.parametrize("tier", [4, -1, "catastrophic", True, 1.0])
def test_tier_outside_the_four_is_refused_by_the_sdk(alice: Member, operator: Any, tier: Any) -> None:
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match="tier"):
        alice.submit_report(SUBJECT, "fake_traffic", tier, recent())
    assert size(operator) == before


@pytest.mark.parametrize("days,message", [(-1, "in the future"), (5 * 366 + 1, "retention")])
def test_incident_dates_out_of_range(alice: Member, operator: Any, days: int, message: str) -> None:
    when = today() - _dt.timedelta(days=days)
    before = size(operator)
    with pytest.raises(errors.InvalidInput, match=message):
        alice.submit_report(SUBJECT, "fake_traffic", "general", when)
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "general", when, check=False)
    with pytest.raises(errors.InvalidInput, match=message):
        send(alice.conn, "SubmitReport", leaf)
    assert size(operator) == before


def test_replayed_report_id_is_refused(alice: Member, operator: Any) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "general", recent())
    first = alice.submit_prepared(leaf)
    before = size(operator)
    with pytest.raises(errors.AlreadyExists, match="already on the ledger"):
        alice.submit_prepared(leaf)
    # The same report signed again (new ring signature, same commitment): its id is derived
    # from the commitment, so it is the same report and cannot be appended twice.
    body = body_of(leaf)
    again = alice.sign_entry(body, body.subject_tag)
    assert again != leaf
    with pytest.raises(errors.AlreadyExists):
        alice.submit_prepared(again)
    assert size(operator) == before
    assert first.report_id == body.report_id


def test_oversized_messages_are_refused(alice: Member, operator: Any) -> None:
    before = size(operator)
    with pytest.raises(errors.ResourceExhausted):
        send(alice.conn, "SubmitReport", b"\x0a" * (600 * 1024))  # over gRPC's 512 KiB limit
    with pytest.raises(errors.InvalidInput, match="at most"):
        send(alice.conn, "SubmitReport", b"\x0a" * (300 * 1024))  # under it, but over the entry limit
    assert size(operator) == before


def revoke(alliance_dir: Path, operator: Any, member_id: str) -> gov.Receipt:
    regulator = Identity.load(alliance_dir / "regulator")
    leaf = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked(member_id, "test"), timestamp_ms=int(time.time() * 1000)),
                          regulator.signing_key())
    with connect(alliance_dir, "regulator", operator) as conn:
        return send(conn, "RevokeMember", leaf)


def test_revoked_member_cannot_report(alice: Member, operator: Any, alliance_dir: Path, tmp_path: Path) -> None:
    carol = member(alliance_dir, "c", operator, tmp_path)
    try:
        before_revocation = carol.prepare_report(SUBJECT, "fake_traffic", "serious", recent())
        revoke(alliance_dir, operator, "c")
        before = size(operator)

        with pytest.raises(errors.PermissionDenied, match="revoked"):
            carol.submit_report(SUBJECT, "fake_traffic", "serious", recent())  # the SDK's replay knows
        with pytest.raises(errors.PermissionDenied, match="revoked"):
            send(carol.conn, "SubmitReport", before_revocation)  # the server's mTLS role check
        # Relayed by a member in good standing: the ring it names predates the revocation.
        with pytest.raises(errors.StaleRing, match="member set changed"):
            send(alice.conn, "SubmitReport", before_revocation)
        # Carol signs for the current size with a ring she forged to include her key.
        alice.refresh()
        keys, current = alice.ring()
        assert carol.reporting_public_key not in keys
        report = dataclasses.replace(body_of(before_revocation), ring_change=current)
        entry = e.LedgerEntry(report, timestamp_ms=state.report_hour(int(time.time() * 1000)))
        entry_bytes = wire.entry_to_bytes(entry)
        x = int(carol.identity.read("reporting.key").decode(), 16)
        forged_ring = ring.RingContext(alice.genesis_hash, current, (*keys, carol.reporting_public_key))
        sig = ring.ring_sign(default_group(), ring.make_coupon(default_group(), forged_ring, x), report.subject_tag,
                             e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
        forged = wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))
        with pytest.raises(errors.InvalidInput, match="ring"):
            send(alice.conn, "SubmitReport", forged)
        assert size(operator) == before
        alice.submit_report(SUBJECT, "fake_traffic", "serious", recent())  # the others still can
        assert size(operator) == before + 1
    finally:
        carol.close()


def test_roles_are_enforced(alice: Member, operator: Any, alliance_dir: Path) -> None:
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", "general", recent())
    regulator = Identity.load(alliance_dir / "regulator")
    admission = wire.sign_leaf(
        e.LedgerEntry(e.MemberAdmitted("d", raw_public(Ed25519PrivateKey.generate()), ring.reporting_keypair()[1]),
                      timestamp_ms=int(time.time() * 1000)),
        regulator.signing_key(),
    )
    before = size(operator)
    with connect(alliance_dir, "regulator", operator) as conn:
        with pytest.raises(errors.PermissionDenied, match="for the member"):
            send(conn, "SubmitReport", leaf)
    with pytest.raises(errors.PermissionDenied, match="for the regulator"):
        send(alice.conn, "AdmitMember", admission)
    assert size(operator) == before

    # The same admission from the regulator is accepted, and reports then use the new ring.
    # Alice's first signature names the size before the admission (her refresh is held
    # back once, as if the checkpoint covering it were not signed yet): the server answers
    # that the member set changed, and the SDK re-signs over the new ring.
    alice.refresh()
    with connect(alliance_dir, "regulator", operator) as conn:
        send(conn, "AdmitMember", admission)
    real_refresh, calls = alice.refresh, []

    def stale_once() -> int:
        calls.append(1)
        return alice.ring()[1] if len(calls) == 1 else real_refresh()

    alice.refresh = stale_once  # type: ignore[method-assign]
    receipt = alice.submit_report(SUBJECT, "fake_traffic", "general", recent())
    assert len(calls) == 2
    assert len(alice.ring()[0]) == 4
    assert body_of(operator.ledger.store.entry(receipt.index)).ring_change == before  # the admission


def test_cosigned_head_is_persisted_and_forks_are_detected(alliance_dir: Path, operator: Any,
                                                           tmp_path: Path) -> None:
    from client.witness import Witness

    w = Witness.open(Identity.load(alliance_dir / "witness-1"), f"127.0.0.1:{operator.port}", tmp_path)
    try:
        assert w.step() == size(operator)
    finally:
        w.conn.close()
    alice = member(alliance_dir, "a", operator, tmp_path)
    try:
        alice.submit_report(SUBJECT, "fake_traffic", "general", recent())
        state_file = tmp_path / "state-a" / "verifier.state"
        assert json.loads(state_file.read_text())["size"] == 5  # the cosigned one, not the newer ones
    finally:
        alice.close()

    # A checkpoint the operator signed for another tree of the same size is a fork.
    head = json.loads(state_file.read_text())
    operator_identity = Identity.load(alliance_dir / "operator")
    origin = LogVerifier(operator_identity.genesis_leaf()).alliance.genesis.origin
    note = sign_checkpoint(Checkpoint(origin, head["size"] + 1, bytes(32)), operator_identity.note_signer())
    state_file.write_text(json.dumps({"size": head["size"] + 1, "root": bytes(32).hex(),
                                      "note": base64.b64encode(note).decode()}))
    forked = member(alliance_dir, "a", operator, tmp_path)
    try:
        with pytest.raises(errors.VerificationError, match="fork"):
            forked.submit_report(SUBJECT, "fake_traffic", "general", recent())
    finally:
        forked.close()


def _forge_note(resp: gov.Receipt) -> None:
    from core.note import NoteSigner, parse_note

    text = parse_note(resp.checkpoint.note).text
    name = text.split("\n", 1)[0]  # the operator's name is its origin: same name, other key
    resp.checkpoint.note = sign_checkpoint(Checkpoint.parse(text), NoteSigner(name, Ed25519PrivateKey.generate()))


def _other_leaf(resp: gov.Receipt) -> None:
    resp.leaf_hash = bytes(32)


def _other_index(resp: gov.Receipt) -> None:
    resp.index -= 1


def _short_proof(resp: gov.Receipt) -> None:
    del resp.inclusion_proof[-1]


@pytest.mark.parametrize("lie,message", [
    (_forge_note, "not signed by the operator"), (_other_leaf, "stored something else"),
    (_other_index, "inclusion proof"), (_short_proof, "inclusion proof has"),
])
def test_a_receipt_that_does_not_verify_is_never_returned(alice: Member, operator: Any,
                                                          lie: Any, message: str) -> None:
    real_call = alice.conn.call

    def lying_call(method: Any, request: Any) -> Any:
        response = real_call(method, request)
        if isinstance(response, gov.Receipt):
            lie(response)
        return response

    alice.conn.call = lying_call  # type: ignore[method-assign]
    with pytest.raises(errors.VerificationError, match=message):
        alice.submit_report(SUBJECT, "fake_traffic", "general", recent())


def test_checkpoint_and_entries_stubs_need_a_member_in_good_standing(alliance_dir: Path, operator: Any) -> None:
    revoke(alliance_dir, operator, "b")
    with connect(alliance_dir, "member-b", operator) as conn:
        with pytest.raises(errors.PermissionDenied, match="revoked"):
            conn.call(conn.ledger.GetEntries, ledger_pb2.GetEntriesRequest(start=0, end=1))
