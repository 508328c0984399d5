"""Tamper and fork detection: audit by replay, client and witness consistency checks."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from client.audit import AuditFailure, check_root, replay
from client.connection import Connection
from client.verifier import LogVerifier
from client.witness import Witness
from core import entries as e
from core import merkle, state
from core.errors import VerificationError


def revoke(alliance_dir: Path, member: str) -> bytes:
    key = Identity.load(alliance_dir / "regulator").signing_key()
    return wire.sign_leaf(e.LedgerEntry(e.MemberRevoked(member, "test"), timestamp_ms=int(time.time() * 1000)), key)


def conn_for(alliance_dir: Path, who: str, port: int) -> Connection:
    return Connection(Identity.load(alliance_dir / who), f"127.0.0.1:{port}")


def audit(conn: Connection) -> None:
    resp = conn.checkpoint()
    verifier = LogVerifier(conn.identity.genesis_leaf())
    cp = verifier.open(resp.note, quorum=0).checkpoint
    _, report = replay(conn.entries(0, cp.size))
    check_root(report, cp.size, cp.root_hash)


def test_audit_passes_on_honest_ledger(alliance_dir: Path, operator: Any) -> None:
    operator.ledger.append(revoke(alliance_dir, "c"))
    operator.ledger.wait_checkpoint(6)
    with conn_for(alliance_dir, "regulator", operator.port) as conn:
        audit(conn)


def test_tampered_entry_is_named_by_audit_and_caught_by_client(alliance_dir: Path, operator: Any,
                                                               tmp_path: Path) -> None:
    operator.ledger.append(revoke(alliance_dir, "c"))
    operator.ledger.wait_checkpoint(6)
    with conn_for(alliance_dir, "regulator", operator.port) as conn:
        size, note = conn.checkpoint().size, conn.checkpoint().note
        client = LogVerifier(conn.identity.genesis_leaf(), tmp_path / "client.state")
        client.accept(note, conn, quorum=0)

        # An attacker with write access to the database file edits one byte of entry 2.
        db = sqlite3.connect(tmp_path / "ledger.db")
        db.execute("DROP TRIGGER entries_no_update")
        (leaf,) = db.execute("SELECT data FROM entries WHERE idx = 2").fetchone()
        forged = bytearray(leaf)
        forged[len(forged) // 2] ^= 0x01
        db.execute("UPDATE entries SET data = ? WHERE idx = 2", (bytes(forged),))
        db.commit()
        db.close()

        with pytest.raises(AuditFailure) as failure:
            audit(conn)
        assert failure.value.index == 2

        # The client holding the earlier checkpoint sees the entry no longer matches it.
        served = conn.entries(2, 3)[0]
        assert served != leaf
        with pytest.raises(VerificationError):
            client.verify_inclusion(served, 2, conn.inclusion(2, size), client.open(note, quorum=0).checkpoint)


def test_fork_is_caught_by_witness_and_client(alliance_dir: Path, tmp_path: Path) -> None:
    """The operator keeps two ledgers and shows each to a different party."""
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    ops = []
    for name, victim in (("a", "c"), ("b", "b")):
        store = open_store(str(tmp_path / f"fork-{name}.db"))
        op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
        op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        op.ledger.append(revoke(alliance_dir, victim))
        op.ledger.wait_checkpoint(6)
        ops.append((op, store))
    try:
        (op_a, _), (op_b, _) = ops
        ident = Identity.load(alliance_dir / "witness-1")
        w = Witness.open(ident, f"127.0.0.1:{op_a.port}", tmp_path)
        assert w.step() == 6
        w.conn.close()
        w = Witness.open(ident, f"127.0.0.1:{op_b.port}", tmp_path)
        with pytest.raises(VerificationError, match="fork"):
            w.step()
        w.conn.close()
        assert "fork" in (tmp_path / "fork-evidence.json").read_text()

        with conn_for(alliance_dir, "member-a", op_a.port) as ca, conn_for(alliance_dir, "member-a", op_b.port) as cb:
            client = LogVerifier(ca.identity.genesis_leaf(), tmp_path / "member.state")
            client.accept(ca.checkpoint().note, ca)
            with pytest.raises(VerificationError, match="fork"):
                client.accept(cb.checkpoint().note, cb, quorum=0)
    finally:
        for op, store in ops:
            op.stop(grace=0.5)
            store.close()


def test_rollback_is_rejected(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    """A witness never cosigns below what it cosigned; a reader shown an older (proven
    prefix) checkpoint keeps its head (tests/test_verifier.py has every rule in isolation)."""
    with conn_for(alliance_dir, "member-a", operator.port) as conn:
        old = conn.checkpoint().note
        operator.ledger.append(revoke(alliance_dir, "c"))
        operator.ledger.wait_checkpoint(6)
        witness = LogVerifier(conn.identity.genesis_leaf(), tmp_path / "w.state", witness=True)
        witness.accept(conn.checkpoint().note, conn)
        with pytest.raises(VerificationError, match="rollback"):
            witness.accept(old, conn)
        assert witness.head is not None and witness.head.size == 6
        client = LogVerifier(conn.identity.genesis_leaf(), tmp_path / "c.state")
        client.accept(conn.checkpoint().note, conn, quorum=0)
        assert client.accept(old, conn, quorum=0).size == 5
        assert client.latest is not None and client.latest.size == 6


def test_audit_replay_rejects_entry_out_of_place(alliance_dir: Path) -> None:
    leaves = bootstrap_entries_list(alliance_dir)
    with pytest.raises(AuditFailure) as failure:
        replay([leaves[0], leaves[1], leaves[1]])
    assert failure.value.index == 2
    assert "already admitted" in str(failure.value)


def bootstrap_entries_list(alliance_dir: Path) -> list[bytes]:
    from server.ceremony import bootstrap_entries

    return bootstrap_entries(alliance_dir / "operator")


def test_leaf_hash_matches_rfc9162() -> None:
    assert merkle.leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")


@pytest.mark.slow
def test_replay_batches_reports_and_still_names_a_bad_one(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    import datetime

    from client.sdk import Member

    member = Member(Identity.load(alliance_dir / "member-a"), f"127.0.0.1:{operator.port}", tmp_path / "a")
    try:
        day = (datetime.date.today() - datetime.timedelta(days=9)).isoformat()
        for i in range(6):
            member.submit_report(f"anchor-{i}", "fake_traffic", i % 4, day)
    finally:
        member.close()
    from client.cpu import CpuPool

    leaves = operator.ledger.store.entries(0, operator.ledger.store.size())
    _, report = replay(leaves)
    assert report.kinds["ReportCommitted"] == 6
    bad = 5 + 3  # the fourth report
    signed = wire.signed_entry_from_bytes(leaves[bad])
    assert signed.ring_signature is not None
    forged = bytearray(signed.ring_signature)
    forged[-1] ^= 1  # the last response scalar
    honest = list(leaves)
    leaves[bad] = wire.signed_entry_to_bytes(e.SignedEntry(signed.entry_bytes, signed.entry,
                                                           ring_signature=bytes(forged)))
    with pytest.raises(AuditFailure) as failure:
        replay(leaves)
    assert failure.value.index == bad
    # With worker processes verifying the batches: the same report, the same verdict.
    pool = CpuPool(2)
    try:
        _, parallel = replay(honest, pool=pool)
        assert parallel == report
        with pytest.raises(AuditFailure) as again:
            replay(leaves, pool=pool)
        assert (again.value.index, again.value.reason) == (bad, failure.value.reason)
    finally:
        pool.close()


def test_replay_refuses_a_non_unit_ciphertext_whatever_verifies_it(alliance_dir: Path, operator: Any,
                                                                     tmp_path: Path) -> None:
    """An operator appends, past intake, a report whose proofs hold but whose ciphertext is
    not a unit (no aggregate holding it could be decrypted). The replay's state pass leaves
    that check to the batch verification (`state.apply(checked=True)`), so the batch must
    make it: one process or a pool, the audit names the entry with the same reason."""
    import dataclasses
    import datetime

    from client.cpu import CpuPool
    from client.sdk import Member
    from tests.test_intake import resigned

    member = Member(Identity.load(alliance_dir / "member-a"), f"127.0.0.1:{operator.port}", tmp_path / "a")
    try:
        day = (datetime.date.today() - datetime.timedelta(days=9)).isoformat()
        for i in range(4):
            member.submit_report(f"anchor-{i}", "fake_traffic", i % 4, day)
        leaves = operator.ledger.store.entries(0, operator.ledger.store.size())
        bad = len(leaves) - 2
        stored = wire.signed_entry_from_bytes(leaves[bad])
        n = operator.ledger.alliance.genesis.paillier_n
        forged = wire.signed_entry_from_bytes(resigned(member, leaves[bad], ciphertext=n))
        leaves[bad] = wire.signed_entry_to_bytes(dataclasses.replace(forged, escrow=stored.escrow))
    finally:
        member.close()
    with pytest.raises(AuditFailure) as failure:
        replay(leaves)
    assert failure.value.index == bad and "not a unit" in failure.value.reason
    pool = CpuPool(2)
    try:
        with pytest.raises(AuditFailure) as again:
            replay(leaves, pool=pool)
        assert (again.value.index, again.value.reason) == (bad, failure.value.reason)
    finally:
        pool.close()


def test_replay_names_a_leaf_in_a_non_canonical_encoding_on_workers_or_not(alliance_dir: Path, operator: Any,
                                                                            tmp_path: Path) -> None:
    """A leaf with its entry field twice (the first copy junk, which a parser overwrites)
    decodes to the same entry under another leaf hash. With a pool, the replay's own process
    decodes without the canonical check and leaves it to the worker that decodes a report or
    a genesis-signed entry again; it makes it itself for the rest (here a retraction, which
    no worker decodes). Each such leaf is named, one process or a pool, with the same reason."""
    import datetime

    from client.cpu import CpuPool
    from client.sdk import Member
    from tests.test_reporting import entry_field_twice

    member = Member(Identity.load(alliance_dir / "member-a"), f"127.0.0.1:{operator.port}", tmp_path / "a")
    try:
        day = (datetime.date.today() - datetime.timedelta(days=9)).isoformat()
        receipts = [member.submit_report(f"anchor-{i}", "fake_traffic", i % 4, day) for i in range(4)]
        member.retract_report(receipts[1].report_id)
        member.submit_report("anchor-4", "fake_traffic", 1, day)
    finally:
        member.close()
    honest = operator.ledger.store.entries(0, operator.ledger.store.size())
    ally = operator.ledger.alliance
    kinds = [wire.signed_entry_from_bytes(leaf) for leaf in honest]
    report = max(i for i, signed in enumerate(kinds) if isinstance(signed.entry.body, e.ReportCommitted))
    governance = max(i for i, signed in enumerate(kinds[1:], 1) if state.has_stateless_checks(ally, signed))
    [retraction] = [i for i, signed in enumerate(kinds) if isinstance(signed.entry.body, e.ReportRetracted)]
    pool = CpuPool(2)
    try:
        for bad in (report, governance, retraction):
            leaves = list(honest)
            leaves[bad] = entry_field_twice(honest[bad])
            with pytest.raises(AuditFailure) as failure:
                replay(leaves)
            assert failure.value.index == bad and "not in canonical encoding" in failure.value.reason
            with pytest.raises(AuditFailure) as again:
                replay(leaves, pool=pool)
            assert (again.value.index, again.value.reason) == (bad, failure.value.reason)
    finally:
        pool.close()


def test_job_size_spreads_small_ledgers_and_caps_large_ones() -> None:
    from client.batch import JOB_MIN_REPORTS, JOB_REPORTS, job_size

    assert job_size(3_005, 2) == JOB_REPORTS == 256  # a large ledger: the cheapest batches
    assert job_size(300, 2) == 75  # a small one: two jobs per worker, none idle
    assert job_size(1_000, 4) == 125
    assert job_size(10, 2) == JOB_MIN_REPORTS  # never batches too small to be worth a job
    assert job_size(1_000, 0) == JOB_REPORTS  # no workers counts as one


def test_replay_on_workers_names_a_forged_governance_entry_as_one_process_does(alliance_dir: Path) -> None:
    """With a pool, the auditor's workers verify the regulator's and operator's Ed25519
    signatures and the admitted reporting keys (`state.stateless_checks`) while the replay
    applies every entry with `prechecked=True`. A forged regulator signature, and an
    admission the regulator really signed whose reporting key is the identity point, are
    each named with the entry and reason the one-process replay gives; an honest ledger
    replays to the same report both ways."""
    from client.cpu import CpuPool
    from core.group import default_group
    from server.ceremony import bootstrap_entries
    from tests.test_ring_record import admission

    regulator = Identity.load(alliance_dir / "regulator")
    honest = bootstrap_entries(alliance_dir / "operator") + [admission(regulator, f"g-{i}") for i in range(40)]
    bad = len(honest) - 7
    signed = wire.signed_entry_from_bytes(honest[bad])
    assert signed.signature is not None
    forged_signature = list(honest)
    flipped = bytes([signed.signature.signature[0] ^ 1]) + signed.signature.signature[1:]
    forged_signature[bad] = wire.signed_entry_to_bytes(
        e.SignedEntry(signed.entry_bytes, signed.entry, signature=e.Signature(signed.signature.key_id, flipped)))
    identity_key = list(honest)
    body = signed.entry.body
    assert isinstance(body, e.MemberAdmitted)
    nothing = default_group().encode(default_group().identity())
    identity_key[bad] = wire.sign_leaf(e.LedgerEntry(e.MemberAdmitted(body.member_id, body.signing_key, nothing),
                                                     timestamp_ms=signed.entry.timestamp_ms), regulator.signing_key())

    _, report = replay(honest)
    failures = {}
    for name, leaves in (("signature", forged_signature), ("identity", identity_key)):
        with pytest.raises(AuditFailure) as failure:
            replay(leaves)
        assert failure.value.index == bad
        failures[name] = failure.value.reason
    assert "regulator signature on this MemberAdmitted entry does not verify" in failures["signature"]
    assert "identity point" in failures["identity"]
    pool = CpuPool(2)
    try:
        assert replay(honest, pool=pool)[1] == report
        for name, leaves in (("signature", forged_signature), ("identity", identity_key)):
            with pytest.raises(AuditFailure) as again:
                replay(leaves, pool=pool)
            assert (again.value.index, again.value.reason) == (bad, failures[name])
    finally:
        pool.close()


def test_prechecked_never_skips_a_members_signature(alliance_dir: Path) -> None:
    """`prechecked=True` stands only for checks of the genesis keys' signatures, which need no
    state: an entry signed by a member (whose key the state names) makes no stateless
    checks, and its signature is verified even when a caller claims it was prechecked."""
    from core import state
    from core.alliance import alliance_of
    from server.ceremony import bootstrap_entries

    view, _ = replay(bootstrap_entries(alliance_dir / "operator"))
    genesis = bootstrap_entries(alliance_dir / "operator")[0]
    ally = alliance_of(wire.signed_entry_from_bytes(genesis), merkle.leaf_hash(genesis))
    leaf = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked("b", "test"), timestamp_ms=int(time.time() * 1000)),
                          Identity.load(alliance_dir / "member-a").signing_key())
    signed = wire.signed_entry_from_bytes(leaf)
    assert signed.signature is not None
    assert state.author_of(view, ally, signed, prechecked=True) == "member:a"
    assert not state.stateless_checks(ally, signed)
    flipped = bytes([signed.signature.signature[0] ^ 1]) + signed.signature.signature[1:]
    forged = e.SignedEntry(signed.entry_bytes, signed.entry, signature=e.Signature(signed.signature.key_id, flipped))
    with pytest.raises(VerificationError, match="member:a signature on this MemberRevoked entry does not verify"):
        state.author_of(view, ally, forged, prechecked=True)
