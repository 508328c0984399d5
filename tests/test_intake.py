"""The intake verifier (server/intake.py) against the reference, `core.report_check.verify_report`.

Every verdict — accepted, or the exact error type and message — must be the same whether
an entry is verified one at a time by the core function, by the ledger's replay
(`core.state.apply`'s crypto checks), by the verifier in-process (workers=0), by a worker
process alone, or by a worker process inside a batch with other entries. Entries are real:
made by the member SDK against a running operator, then damaged by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_cpu import running

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client.batch import register_alliance, verify_batch
from client.connection import Connection
from client.sdk import Member
from core import entries as e
from core import errors, report_check, ring, state
from core.escrow import ESCROW_BYTES
from core.group import ORDER, default_group
from core.proofs import ValidityProof
from server import intake
from server.intake import Job, Verifier

SUBJECT = "anchor-intake"
KEYS = Path(__file__).parent / "keys"


def recent() -> str:
    return (_dt.datetime.now(_dt.timezone.utc).date() - _dt.timedelta(days=10)).isoformat()


def member(alliance_dir: Path, name: str, operator: Any, tmp_path: Path) -> Member:
    state_dir = tmp_path / f"state-{name}"
    state_dir.mkdir(exist_ok=True)
    return Member(Identity.load(alliance_dir / f"member-{name}"), f"127.0.0.1:{operator.port}", state_dir,
                  pool_size=2)


def resigned(m: Member, leaf: bytes, **changes: Any) -> bytes:
    """The report of `leaf` with some fields changed (ring_change too), ring-signed again with
    the member's current ring, so only the changed fields are wrong."""
    body: Any = dataclasses.replace(wire.signed_entry_from_bytes(leaf).entry.body, **changes)
    entry = e.LedgerEntry(body, timestamp_ms=state.report_hour(int(time.time() * 1000)))
    entry_bytes = wire.entry_to_bytes(entry)
    x = int(m.identity.read("reporting.key").decode(), 16)
    keys, changed_at = m.ring()
    coupon = ring.make_coupon(default_group(), ring.RingContext(m.genesis_hash, changed_at, keys), x)
    sig = ring.ring_sign(default_group(), coupon, body.subject_tag, e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
    return wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))


def with_ring_signature(leaf: bytes, sig: bytes) -> bytes:
    signed = wire.signed_entry_from_bytes(leaf)
    return wire.signed_entry_to_bytes(dataclasses.replace(signed, ring_signature=sig))


def one_at_a_time(ledger: Any) -> Callable[[bytes], object]:
    """`core.report_check.verify_report` of a leaf, against the ledger's state (the reference)."""
    def verify(leaf: bytes) -> bytes:
        signed = wire.signed_entry_from_bytes(leaf)
        body = signed.entry.body
        record = state.report_record(ledger.view, body.report_id.hex()) \
            if isinstance(body, e.ReportRetracted) else None
        keys, changed_at = state.current_ring(ledger.view)
        return report_check.verify_report(ledger.alliance, signed, keys, changed_at, ledger.store.size(),
                                          None if record is None else record.subject)
    return verify


def intake_reference(ledger: Any) -> Callable[[bytes], object]:
    """What the intake's workers owe an entry: `core.state.stateless_checks` for a governance
    entry signed with a genesis key (GovernanceService sends those), `one_at_a_time` for
    anything else."""
    reference = one_at_a_time(ledger)

    def verify(leaf: bytes) -> object:
        signed = wire.signed_entry_from_bytes(leaf)
        if state.has_stateless_checks(ledger.alliance, signed):
            return state.stateless_checks(ledger.alliance, signed)
        return reference(leaf)
    return verify


def replayed(ledger: Any) -> Callable[[bytes], object]:
    """`core.state.apply(verify=True)` of a report, as when the ledger is replayed (with an
    escrow, which a stored report carries)."""
    def verify(leaf: bytes) -> object:
        signed = dataclasses.replace(wire.signed_entry_from_bytes(leaf), escrow=bytes(ESCROW_BYTES))
        return state.apply(ledger.view, ledger.alliance, ledger.store.size(), signed, verify=True)
    return verify


def verdict(fn: Any, leaf: bytes) -> tuple[str, str] | None:
    try:
        fn(leaf)
    except errors.CandorError as exc:
        return type(exc).__name__, str(exc)
    return None


@pytest.fixture()
def verifiers(operator: Any) -> Iterator[tuple[Verifier, Verifier]]:
    inline = Verifier(operator.ledger, workers=0)
    pool = Verifier(operator.ledger, workers=2)
    yield inline, pool
    pool.close()
    inline.close()


@pytest.fixture()
def alice(alliance_dir: Path, operator: Any, tmp_path: Path) -> Iterator[Member]:
    m = member(alliance_dir, "a", operator, tmp_path)
    m.refresh()
    yield m
    m.close()


def revoke(alliance_dir: Path, operator: Any, member_id: str) -> None:
    regulator = Identity.load(alliance_dir / "regulator")
    leaf = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked(member_id, "test"), timestamp_ms=int(time.time() * 1000)),
                          regulator.signing_key())
    with Connection(regulator, f"127.0.0.1:{operator.port}") as conn:
        conn.call(conn.governance.RevokeMember, gov.SubmitEntryRequest(signed_entry=leaf))


def bad_reports(alice: Member) -> dict[str, bytes]:
    """Reports each wrong in one way (or, for the last, two), all signed by a member."""
    good = alice.prepare_report(SUBJECT, "fake_traffic", "serious", recent(), refresh=False)
    other = alice.prepare_report("someone else", "fake_traffic", "minor", recent(), refresh=False)
    sig = wire.signed_entry_from_bytes(good).ring_signature or b""
    other_body = wire.signed_entry_from_bytes(other).entry.body
    assert isinstance(other_body, e.ReportCommitted)
    ally = alice.alliance
    n = ally.genesis.paillier_n
    p = int(json.loads((KEYS / "test_only_threshold_1024_t2_n3.json").read_text())["factors"]["p"], 16)
    assert n % p == 0
    return {
        "tampered ring signature": with_ring_signature(good, sig[:-1] + bytes([sig[-1] ^ 1])),
        "ring signature of another report": with_ring_signature(
            good, wire.signed_entry_from_bytes(other).ring_signature or b""),
        "truncated ring signature": with_ring_signature(good, sig[:-32]),
        "an Ed25519 signature instead of a ring signature": wire.signed_entry_to_bytes(
            dataclasses.replace(wire.signed_entry_from_bytes(good), ring_signature=None,
                                signature=e.Signature("0" * 16, bytes(64)))),
        "proof for another report": resigned(alice, good, validity_proof=other_body.validity_proof),
        "proof bytes cut short": resigned(alice, good, validity_proof=other_body.validity_proof[:-1]),
        "unknown category": alice.prepare_report(SUBJECT, "gambling", "minor", recent(), check=False,
                                                 refresh=False),
        "ciphertext out of range": resigned(alice, good, ciphertext=ally.nsquare + 1),
        "ciphertext n (not a unit)": resigned(alice, good, ciphertext=n),
        "ciphertext 0 mod p (not a unit)": resigned(alice, good, ciphertext=ally.nsquare - p),
        "ciphertext shorter than n^2": resigned(alice, good, ciphertext=2),
        "ring names a future entry": resigned(alice, good, ring_change=10**6),
        "bad proof and future ring": resigned(alice, good, validity_proof=other_body.validity_proof,
                                              ring_change=10**6),
    }


def test_pool_and_inline_verdicts_match_the_ledger(operator: Any, alice: Member, alliance_dir: Path,
                                                   verifiers: tuple[Verifier, Verifier]) -> None:
    inline, pool = verifiers
    leaves = {"good": alice.prepare_report(SUBJECT, "contract_default", 0, recent(), refresh=False),
              **bad_reports(alice)}
    regulator = Identity.load(alliance_dir / "regulator").signing_key()
    governance = {  # GovernanceService sends the regulator's entries to the workers too
        "a governance entry": wire.sign_leaf(e.LedgerEntry(e.MemberRevoked("b", "x"), timestamp_ms=1), regulator),
        "an admission of the identity point": wire.sign_leaf(e.LedgerEntry(e.MemberAdmitted(
            "zero", bytes(32), default_group().encode(default_group().identity())), timestamp_ms=1), regulator),
        "a member's governance entry": wire.sign_leaf(e.LedgerEntry(e.MemberRevoked("b", "x"), timestamp_ms=1),
                                                      Identity.load(alliance_dir / "member-a").signing_key()),
    }
    forged = bytearray(governance["a governance entry"])
    forged[-5] ^= 0x40  # inside the regulator's signature
    governance["a governance entry with a forged signature"] = bytes(forged)
    leaves.update(governance)
    seen_types = set()
    reference_of = intake_reference(operator.ledger)
    references: dict[str, tuple[str, str] | None] = {}
    for name, leaf in leaves.items():
        reference = verdict(reference_of, leaf)
        if name not in governance:
            assert verdict(replayed(operator.ledger), leaf) == reference, name
        assert verdict(inline.verify_entry, leaf) == reference, name
        assert verdict(pool.verify_entry, leaf) == reference, name
        references[name] = reference
        seen_types.add(None if reference is None else reference[0])
        if name in ("good", "a governance entry"):
            assert reference is None
        else:
            assert reference is not None, f"{name} was accepted"
    # The cases exercise every kind of refusal the intake can give.
    assert {"InvalidInput", "VerificationError", "PermissionDenied"} <= seen_types
    assert verdict(pool.verify_entry, leaves["bad proof and future ring"])[1].startswith(  # type: ignore[index]
        "validity proof"), "the proof is checked before the ring, as in the ledger"
    assert references["an admission of the identity point"] == (
        "InvalidInput", "the reporting key is the identity point, which every scalar matches; generate a fresh key "
        "for the member")
    assert references["a governance entry with a forged signature"] == (
        "VerificationError", "the regulator signature on this MemberRevoked entry does not verify")
    # All of them in one batch, run by the worker function itself: each keeps its own verdict.
    outcomes = intake.verify_jobs(inline._genesis(), [inline.prepare(leaf)[1].wire() for leaf in leaves.values()],
                                  [None] * len(leaves))
    assert [None if o is None else (type(o).__name__, str(o)) for o in outcomes] == list(references.values())
    # A non-unit ciphertext would make every aggregate of its subject undecryptable: refused
    # by the one core check, whichever path runs it, with what to do about it.
    for name in ("ciphertext n (not a unit)", "ciphertext 0 mod p (not a unit)"):
        assert verdict(pool.verify_entry, leaves[name]) == (
            "InvalidInput", "ciphertext is not a unit of Z*_{n^2} (it shares a factor with n), so no aggregate "
            "containing it could be decrypted: encrypt as g^m * r^n mod n^2 with r coprime to n"), name


def test_one_bad_report_in_a_batch_leaves_the_others_accepted(operator: Any, alice: Member) -> None:
    goods = [alice.prepare_report(f"{SUBJECT}-{i}", "fake_traffic", i % 4, recent(), refresh=False)
             for i in range(5)]
    bads = bad_reports(alice)
    leaves = [*goods[:2], bads["tampered ring signature"], *goods[2:], bads["proof for another report"]]
    expected = [verdict(one_at_a_time(operator.ledger), leaf) for leaf in leaves]
    assert expected.count(None) == len(goods)

    # One worker, a wait long enough that every item joins: exactly one batch.
    batcher = Verifier(operator.ledger, workers=1, window=5.0, max_wait=5.0, max_batch=len(leaves))
    try:
        prepared = [batcher.prepare(leaf)[1] for leaf in leaves]
        futures = [batcher.submit(job) for job in prepared]
        got = []
        for f in futures:
            exc = f.exception(timeout=60)
            got.append(None if exc is None else (type(exc).__name__, str(exc)))
        assert (batcher.batches, batcher.items) == (1, len(leaves))
    finally:
        batcher.close()
    assert got == expected


def test_a_bug_in_one_report_of_a_worker_batch_fails_that_report_only(operator: Any, alice: Member,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker function itself (`server.intake.verify_jobs`): a report whose escrow sealing
    raises something that is not a refusal (a bug) gets an error carrying its traceback
    (logged, INTERNAL to its client); a leaf that does not decode gets its refusal; the
    others are sealed and verified as usual."""
    goods = [alice.prepare_report(f"{SUBJECT}-bug-{i}", "fake_traffic", i % 4, recent(), refresh=False)
             for i in range(3)]
    view = operator.ledger.view
    keys, changed_at = state.current_ring(view)
    index = operator.ledger.store.size()
    jobs = [Job(leaf, tuple(keys), changed_at, index).wire() for leaf in [*goods, b"\x00not a leaf"]]
    requests = [intake.escrow_request(view, alice.member_id, wire.signed_entry_from_bytes(leaf),
                                      alice.escrow_signature(leaf)) for leaf in goods] + [None]
    real_seal = intake.seal_escrow
    broken = wire.signed_entry_from_bytes(goods[1]).entry_bytes

    def seal(ally: Any, signed: e.SignedEntry, request: Any) -> bytes:
        if signed.entry_bytes == broken:
            raise ZeroDivisionError("a bug in sealing")
        return real_seal(ally, signed, request)

    monkeypatch.setattr(intake, "seal_escrow", seal)
    outcomes = intake.verify_jobs(register_alliance(operator.ledger.store.entry(0)), jobs, requests)
    assert [type(o).__name__ for o in outcomes] == ["bytes", "RuntimeError", "bytes", "InvalidInput"]
    assert "ZeroDivisionError: a bug in sealing" in str(outcomes[1])
    assert all(len(o) == ESCROW_BYTES for o in outcomes if isinstance(o, bytes))


def test_a_batch_goes_when_full_or_when_reports_stop_coming(operator: Any, alice: Member) -> None:
    """A full batch goes at once; a batch whose first report has waited `window` goes once
    no more reports arrive, though `max_wait` would let it gather for a minute (far beyond
    the test's timeouts)."""
    leaves = [alice.prepare_report(f"{SUBJECT}-{i}", "fake_traffic", i % 4, recent(), refresh=False)
              for i in range(3)]

    def run(batcher: Verifier, count: int) -> tuple[int, int]:
        try:
            futures = [batcher.submit(batcher.prepare(leaf)[1]) for leaf in leaves[:count]]
            assert [f.exception(timeout=30) for f in futures] == [None] * count
            return batcher.batches, batcher.items
        finally:
            batcher.close()

    # Full: three of three waiting, though neither pause nor first report's wait is over.
    assert run(Verifier(operator.ledger, workers=1, window=60.0, max_wait=60.0, max_batch=3), 3) == (1, 3)
    # No more coming: two reports go together after `window`, without the minute.
    assert run(Verifier(operator.ledger, workers=1, window=2.0, max_wait=60.0, max_batch=256), 2) == (1, 2)
    with pytest.raises(errors.InvalidInput, match="window <= max_wait"):
        Verifier(operator.ledger, workers=1, window=1.0, max_wait=0.5)


def test_one_equation_for_both_proofs_refuses_what_either_batch_refuses(operator: Any, alice: Member) -> None:
    """The worker checks a batch's validity proofs and ring signatures as one equation
    (`report_check.joint_batch_holds`). A report wrong only in a validity equation, or only
    in a ring equation (each hash-consistent, so nothing but the equation can see it), makes
    that equation fail among good reports; each report still gets its one-at-a-time verdict."""
    goods = [alice.prepare_report(f"{SUBJECT}-{i}", "fake_traffic", i % 4, recent(), refresh=False)
             for i in range(4)]
    good = alice.prepare_report(SUBJECT, "false_advertising", "serious", recent(), refresh=False)
    body: Any = wire.signed_entry_from_bytes(good).entry.body
    proof = ValidityProof.from_bytes(body.validity_proof)
    z = list(proof.z)
    z[2] = (z[2] + 5) % ORDER
    bad_validity = resigned(alice, good, validity_proof=dataclasses.replace(proof, z=tuple(z)).to_bytes())
    sig = ring.RingSignature.from_bytes(wire.signed_entry_from_bytes(good).ring_signature or b"")
    bad_ring = with_ring_signature(good, dataclasses.replace(sig, z1=(sig.z1 + 1) % ORDER).to_bytes())
    reference_of = one_at_a_time(operator.ledger)
    keys, changed_at = state.current_ring(operator.ledger.view)
    ally, index = operator.ledger.alliance, operator.ledger.store.size()

    def holds(leaves: list[bytes]) -> bool:
        items = [report_check.report_items(ally, wire.signed_entry_from_bytes(leaf), keys, changed_at, index)
                 for leaf in leaves]
        return report_check.joint_batch_holds(ally.generators, [i.validity for i in items if i.validity],
                                              [i.ring for i in items])

    assert holds(goods)
    for bad, refusal in ((bad_validity, "validity proof branch 2"), (bad_ring, "ring signature")):
        reference = verdict(reference_of, bad)
        assert reference is not None and reference[1].startswith(refusal), reference
        assert not holds([*goods[:2], bad, *goods[2:]])
        jobs = [Job(leaf, tuple(keys), changed_at, index).wire() for leaf in [*goods[:2], bad, *goods[2:]]]
        outcomes = verify_batch(register_alliance(operator.ledger.store.entry(0)), jobs)
        assert [None if o is None else (type(o).__name__, str(o)) for o in outcomes] == [
            None, None, reference, None, None]


def test_batch_function_matches_sequential_for_a_retraction(operator: Any, alice: Member,
                                                            verifiers: tuple[Verifier, Verifier]) -> None:
    inline, pool = verifiers
    receipt = alice.submit_report(SUBJECT, "false_advertising", "minor", recent())
    retraction = alice.prepare_retraction(receipt.report_id)
    sig = wire.signed_entry_from_bytes(retraction).ring_signature or b""
    tampered = with_ring_signature(retraction, sig[:-1] + bytes([sig[-1] ^ 1]))
    unknown = alice.sign_entry(e.ReportRetracted(bytes(16), ring_change=1), alice.subject_tag(SUBJECT), refresh=False)
    report = alice.prepare_report(SUBJECT, "fake_traffic", 1, recent(), refresh=False)
    reference_of = one_at_a_time(operator.ledger)
    for leaf in (retraction, tampered, unknown):
        reference = verdict(reference_of, leaf)
        assert verdict(inline.verify_entry, leaf) == reference
        assert verdict(pool.verify_entry, leaf) == reference
    assert verdict(reference_of, retraction) is None
    assert verdict(reference_of, unknown) == ("NotFound", f"report {bytes(16).hex()} is not on the ledger")
    # A batch mixing reports and retractions, run by the worker function itself.
    jobs = [inline.prepare(leaf)[1].wire() for leaf in (retraction, report, tampered, report)]
    outcomes = verify_batch(inline._genesis(), jobs)
    assert [None if o is None else str(o) for o in outcomes] == [
        None, None, verdict(reference_of, tampered)[1], None]  # type: ignore[index]


def test_revoked_ring(operator: Any, alice: Member, alliance_dir: Path, tmp_path: Path,
                      verifiers: tuple[Verifier, Verifier]) -> None:
    inline, pool = verifiers
    carol = member(alliance_dir, "c", operator, tmp_path)
    try:
        stale = carol.prepare_report(SUBJECT, "fake_traffic", "serious", recent())
        revoke(alliance_dir, operator, "c")
        alice.refresh()
        keys, current = alice.ring()
        assert carol.reporting_public_key not in keys
        stale_body: Any = wire.signed_entry_from_bytes(stale).entry.body
        body = dataclasses.replace(stale_body, ring_change=current)
        entry = e.LedgerEntry(body, timestamp_ms=state.report_hour(int(time.time() * 1000)))
        entry_bytes = wire.entry_to_bytes(entry)
        x = int(carol.identity.read("reporting.key").decode(), 16)
        forged_ring = ring.RingContext(alice.genesis_hash, current, (*keys, carol.reporting_public_key))
        sig = ring.ring_sign(default_group(), ring.make_coupon(default_group(), forged_ring, x), body.subject_tag,
                             e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
        forged = wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))
        fresh = alice.prepare_report(SUBJECT, "fake_traffic", "serious", recent(), refresh=False)
        expected = {"stale": ("StaleRing", "member set changed"), "forged": ("VerificationError", "branches")}
        reference_of = one_at_a_time(operator.ledger)
        for name, leaf in (("stale", stale), ("forged", forged), ("fresh", fresh)):
            reference = verdict(reference_of, leaf)
            if name in expected:
                assert reference is not None and reference[0] == expected[name][0]
                assert expected[name][1] in reference[1]
            else:
                assert reference is None
            assert verdict(inline.verify_entry, leaf) == reference
            assert verdict(pool.verify_entry, leaf) == reference
        # All three in one batch: the good one passes, each bad one keeps its own error.
        jobs = [inline.prepare(leaf)[1].wire() for leaf in (stale, fresh, forged)]
        outcomes = verify_batch(inline._genesis(), jobs)
        assert outcomes[1] is None
        assert [str(o) for o in (outcomes[0], outcomes[2])] == [
            verdict(reference_of, stale)[1], verdict(reference_of, forged)[1]]  # type: ignore[index]
    finally:
        carol.close()


def test_jobs_cross_as_bytes_and_validate(operator: Any, alice: Member, verifiers: tuple[Verifier, Verifier]) -> None:
    inline, _ = verifiers
    leaf = alice.prepare_report(SUBJECT, "fake_traffic", 2, recent(), refresh=False)
    signed, job = inline.prepare(leaf)
    assert signed.entry.body == wire.signed_entry_from_bytes(leaf).entry.body
    leaf_bytes, keys, changed_at, index, subject = job.wire()
    assert leaf_bytes == leaf and subject is None and index == operator.ledger.store.size()
    assert all(isinstance(k, bytes) for k in keys) and isinstance(changed_at, int)
    with pytest.raises(errors.InvalidInput, match="subject tag"):
        Job(leaf, keys, changed_at, index, b"short")
    with pytest.raises(errors.InvalidInput, match="non-negative"):
        Verifier(operator.ledger, workers=-1)
    with pytest.raises(errors.InvalidInput, match="synchronously"):
        inline.submit(job)


@pytest.mark.parametrize("killed", ["worker", "fork server"])
def test_a_dead_worker_is_replaced(operator: Any, alice: Member, killed: str) -> None:
    # A worker ends once its parent changes (client.cpu.start_worker): its fork server killed
    # alone ends it too, and the next batch starts a new pool on a new fork server.
    pool = Verifier(operator.ledger, workers=1)
    try:
        pool.warm()
        leaf = alice.prepare_report(SUBJECT, "fake_traffic", 2, recent(), refresh=False)
        pool.verify_entry(leaf)
        (pid,) = pool.pids()
        if killed == "worker":
            os.kill(pid, signal.SIGKILL)
        else:
            fork_server = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
            os.kill(fork_server, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while running(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not running(pid)
        outcomes = []
        for _ in range(3):
            try:
                pool.verify_entry(leaf)
                outcomes.append("ok")
                break
            except errors.Unavailable as exc:
                assert "restarted" in str(exc) or "stopped" in str(exc)
                outcomes.append("unavailable")
        assert outcomes[-1] == "ok"
        (new,) = pool.pids()
        assert new != pid and running(new)
    finally:
        pool.close()


def test_a_pool_that_cannot_start_a_worker_says_retry_and_is_replaced(operator: Any, alice: Member,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker process could start (fork refused: EAGAIN under a process limit): the batch
    is told UNAVAILABLE, retry (not INTERNAL), and the next batch starts a new pool."""
    refusals: list[ProcessPoolExecutor] = []

    class Refusing(ProcessPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            if not refusals:
                refusals.append(self)
                raise BlockingIOError(11, "Resource temporarily unavailable")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(intake, "ProcessPoolExecutor", Refusing)
    pool = Verifier(operator.ledger, workers=1)
    try:
        leaf = alice.prepare_report(SUBJECT, "fake_traffic", 2, recent(), refresh=False)
        with pytest.raises(errors.Unavailable, match="could not start its workers; retry"):
            pool.verify_entry(leaf)
        pool.verify_entry(leaf)  # a new pool
        assert len(refusals) == 1 and pool.pids()
    finally:
        pool.close()


def test_operator_stop_closes_the_pool(alliance_dir: Path, tmp_path: Path) -> None:
    from server.app import Settings, create_server
    from server.ceremony import bootstrap_entries
    from server.database import open_store

    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator"), verify_workers=2), store)
    try:
        op.ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
        m = member(alliance_dir, "a", op, tmp_path)
        try:
            m.submit_report(SUBJECT, "fake_traffic", "general", recent())  # through the pool, over gRPC
        finally:
            m.close()
        assert op.verifier is not None and op.verifier.workers == 2
        pids = op.verifier.pids()
        assert pids
    finally:
        op.stop(grace=1)
        store.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            for _ in range(50):  # reaped by the pool's shutdown; allow the OS a moment
                os.kill(pid, 0)
                time.sleep(0.1)
    with pytest.raises(errors.Unavailable, match="shutting down"):
        op.verifier.verify(Job(b"leaf", (), 0, 1))


def test_bench_intake_steady_rate_leaves_out_filling_and_draining() -> None:
    """The verdicts' rate counts the answers between the tenth and the ninetieth percentile of
    their times, so a slow start and a slow end do not move it; short runs fall back to the
    whole run's rate."""
    from bench.intake import RunResult

    start, middle, end = [i * 0.01 for i in range(10)], [0.1 + i * 0.001 for i in range(80)], \
        [0.2 + i * 0.01 for i in range(10)]
    run = RunResult(100, 100, {}, 0.3, [1.0] * 100, 0.5, answered_at=start + middle + end)
    assert run.rate == pytest.approx(100 / 0.3)
    assert run.steady_rate == pytest.approx(1000.0)  # the middle's 1 ms apart
    few = RunResult(10, 10, {}, 2.0, [1.0] * 10, 0.5, answered_at=[i * 0.1 for i in range(10)])
    assert few.steady_rate == few.rate == 5.0


def test_bench_intake_judges_the_medians_of_its_rounds() -> None:
    """`--rounds N`: each setup's verdicts are on the medians of its runs, not on any one run."""
    from bench.intake import BenchSettings, round_medians

    def measured(mode: str, ratio: float, rate: float) -> dict[str, object]:
        return {"verify_workers": "auto", "mode": mode, "ratio_combined": ratio, "steady_per_s": rate}

    runs = [measured("unary", 0.30, 300.0), measured("stream", 0.72, 1500.0),
            measured("unary", 0.40, 320.0), measured("stream", 0.65, 990.0),
            measured("unary", 0.35, 310.0), measured("stream", 0.71, 1400.0)]
    unary, stream = round_medians(runs, 20)
    assert (unary["mode"], unary["rounds"], unary["ratio_combined"], unary["steady_per_s"]) == \
        ("unary", 3, 0.35, 310.0)
    assert (stream["ratio_combined"], stream["steady_per_s"]) == (0.71, 1400.0)
    assert stream["pass_ratio"] and stream["pass_rate"] and not unary["pass_ratio"] and not unary["pass_rate"]
    assert round_medians(runs, 5)[1]["pass_rate"] is None  # the rate target is for a ring of 20
    with pytest.raises(errors.InvalidInput, match="--rounds"):
        BenchSettings(rounds=0)


@pytest.mark.slow
@pytest.mark.parametrize("store, servers", [("sqlite", 1), ("postgresql", 2)])
def test_bench_intake_quick_smoke(store: str, servers: int) -> None:
    """`python -m bench.intake --quick [--store postgresql --servers 2]` end to end, tiny
    counts, a small bulk load, a unary and a stream run; structure only, no timing."""
    import io

    from rich.console import Console

    from bench import intake as bench

    settings = dataclasses.replace(bench.BenchSettings.quick_run(), store=store, servers=servers)
    if store == "postgresql":
        psycopg = pytest.importorskip("psycopg")
        try:
            psycopg.connect(settings.pg_url, connect_timeout=3).close()
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL is not reachable at {settings.pg_url} ({exc})")
    results = bench.run(settings)
    (r,) = results
    assert r["ring"] == 5 and r["request_bytes"] > 0 and r["subjects"] == bench.SUBJECTS
    assert (r["store"], r["servers"]) == (store, servers)
    assert [run["mode"] for run in r["runs"]] == ["unary", "stream"]  # --quick runs every mode
    assert set(r["response_bytes"]) == set(r["floor_transport"]) == {"unary", "stream"}
    loaded = r["prefill"]
    assert loaded["entries"] == settings.rss_entries and loaded["size"] > settings.rss_entries
    work = r["floor_work_s"]
    assert all(work[k] > 0 for k in ("ring", "ring_batched", "validity", "validity_batched", "commit_single",
                                     "commit_group"))
    for run in r["runs"]:
        mode = run["mode"]
        assert r["response_bytes"][mode] > 0
        assert run["ok"] == run["sent"] > 0 and not run["errors"] and not run["warm_errors"]
        assert run["p50_ms"] > 0 and run["p99_ms"] >= run["p50_ms"] and run["per_s"] > 0
        assert run["pass_rate"] is None  # the absolute target is for a ring of 20
        floors, transport = run["floor"], r["floor_transport"][mode]
        assert transport["ok"] > 0 and not transport["errors"]
        # Floor (b)'s crypto is the workers' own job, at the batch the mode can have in flight.
        assert 0 < run["floor_batch"] <= bench.floor_batch(mode, settings)
        assert floors["verify_s"] == run["floor_verify_s"] > 0  # the mean of the jobs before and after the run
        assert run["floor_verify_s"] == (run["floor_verify_before_s"] + run["floor_verify_after_s"]) / 2
        assert 0 < floors["combined_per_s"] <= min(floors["work_per_s"], transport["steady_per_s"])
        assert run["ratio_combined"] == run["steady_per_s"] / floors["combined_per_s"]
        assert run["pass_ratio"] == (run["ratio_combined"] >= bench.TARGET_RATIO)
        # The bulk load sits between the bootstrap entries and the submitted reports, and the
        # receipts' proofs (streamed ones too) were built over it.
        receipts = run["receipts"]
        assert receipts["verified"] == receipts["checked"] > 0 and not receipts["failures"]
        assert receipts["min_checkpoint"] > loaded["size"]
        assert len(run["memory"]) == len(run["memory_start"]) == servers
        assert all(m["peak_mb"] >= m["rss_mb"] > 0 for m in run["memory"])
        assert run["pass_rss"] is None  # the memory target is for 10^6 entries
        assert run["round"] == 1
    # One round: each setup's medians are its one run's figures.
    assert r["rounds"] == 1 and [(m["mode"], m["rounds"], m["ratio_combined"]) for m in r["medians"]] == \
        [(run["mode"], 1, run["ratio_combined"]) for run in r["runs"]]
    warm = 2 * settings.clients  # each run warms up with as many reports
    assert r["ledger_size"] == loaded["size"] + sum(warm + run["ok"] for run in r["runs"])
    console = Console(file=io.StringIO(), width=1000)  # nothing wraps: the test reads words, not layout
    bench.render(results, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "floor (a) transport/s" in text and "Floor (a): empty unary calls" in text
    assert "server.intake.verify_jobs" in " ".join(text.split()) and "of which crypto" in text
    assert "for the stream rows, one stream per client thread" in " ".join(text.split())  # wrapped lines
    assert " unary " in text and " stream " in text
    assert ("PASS" in text) or ("MISS" in text)
    assert f"{store}, {servers} server" in text and "BULK-LOADED" in text and "peak RSS" in text
    assert f"reports about {bench.SUBJECTS} anchors" in " ".join(text.split())


@pytest.mark.slow
def test_bench_intake_rounds_end_to_end() -> None:
    """`--quick --mode stream --rounds 2`: two real runs, each with its own servers, reports and
    floor (b), and the verdicts on their medians, printed in a table of their own."""
    import io

    from rich.console import Console

    from bench import intake as bench

    settings = dataclasses.replace(bench.BenchSettings.quick_run(), modes=("stream",), rounds=2, rss_entries=0)
    (r,) = bench.run(settings)
    assert r["rounds"] == 2 and [run["round"] for run in r["runs"]] == [1, 2]
    assert all(run["ok"] == run["sent"] > 0 and run["floor_verify_s"] > 0 for run in r["runs"])
    (median,) = r["medians"]
    mean = sum(run["ratio_combined"] for run in r["runs"]) / 2  # the median of two
    assert median["rounds"] == 2 and median["ratio_combined"] == pytest.approx(mean)
    console = Console(file=io.StringIO(), width=1000)  # nothing wraps: the test reads words, not layout
    bench.render([r], console)
    assert "medians over the rounds" in console.file.getvalue()  # type: ignore[attr-defined]


def test_bench_intake_compares_the_stores_in_alternating_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--compare-stores`: SQLite with one server, then PostgreSQL with two, round after
    round; the verdict is on the medians of each store's ratios."""
    from bench import intake as bench

    ratios = iter([0.80, 0.70, 0.90, 0.75, 0.85, 0.95])
    calls: list[tuple[str, int]] = []

    def fake_run(s: bench.BenchSettings, say: object = None) -> list[dict[str, object]]:
        calls.append((s.store, s.servers))
        return [{"runs": [{"ratio_combined": next(ratios), "steady_per_s": 1000.0}]}]

    monkeypatch.setattr(bench, "run", fake_run)
    settings = bench.BenchSettings(rings=(20,), modes=("stream",))
    c = bench.compare_stores(settings, 3)
    assert calls == [("sqlite", 1), ("postgresql", 2)] * 3
    assert c["ratios"] == {"sqlite": [0.80, 0.90, 0.85], "postgresql": [0.70, 0.75, 0.95]}
    assert c["medians"] == {"sqlite": 0.85, "postgresql": 0.75} and c["pass"] is False


@pytest.mark.slow
def test_bench_intake_compare_stores_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench.intake --quick --ring 5 --mode stream --compare-stores 1`: one real
    run over each store, the comparison printed with its verdict."""
    from bench import intake as bench

    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(bench.DEFAULT_PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {bench.DEFAULT_PG_URL} ({exc})")
    bench.main(["--quick", "--ring", "5", "--mode", "stream", "--compare-stores", "1", "--json"])
    c = json.loads(capsys.readouterr().out)
    assert c["rounds"] == 1 and c["ring"] == 5 and c["mode"] == "stream"
    assert all(len(c["ratios"][store]) == 1 and c["per_s"][store][0] > 0 for store in ("sqlite", "postgresql"))
    assert c["pass"] == (c["medians"]["postgresql"] >= c["medians"]["sqlite"])
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--compare-stores", "1"])  # three rings: refused
    assert "--compare-stores takes one --ring" in capsys.readouterr().err


def test_bench_intake_refuses_two_servers_on_sqlite() -> None:
    from bench import intake as bench

    with pytest.raises(errors.InvalidInput, match="needs --store postgresql"):
        bench.BenchSettings(store="sqlite", servers=2)
    with pytest.raises(errors.InvalidInput, match="--subjects is 0"):
        bench.BenchSettings(subjects=0)


def test_bench_intake_splits_the_cores_among_servers_that_share_them() -> None:
    """'auto' verifiers: one per core of the bench's machine in all, so two servers on one
    box do not run twice as many verifiers as there are cores."""
    from bench import intake as bench

    assert bench._per_server(None, 1, 2) is None  # one server: its own default, one per core
    assert bench._per_server(None, 2, 2) == 1 and bench._per_server(None, 2, 8) == 4
    assert bench._per_server(None, 2, 1) == 1  # never none at all
    assert bench._per_server(3, 2, 2) == 3  # an explicit count is each server's
    assert bench._label(None, 2, 2) == "auto (1 each)" and bench._label(None, 1, 2) == "auto"
