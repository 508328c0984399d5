"""Investigations as logged, canonical bisections (docs/ratings.md, "Investigations").

Every attack goes through the real path: the regulator's SDK and CLI over gRPC, the
ledger's append, the epoch runner and the trustees' API as the operator calls it.
Covered: an authorisation needs a held subject at its size and is consumed by FraudFound;
trustees serve only the step the ledger names next, to its two designated combiners; a
step that is not the canonical next one, a verdict from other combiners or with forged
signatures, and a FraudFound the bisection does not name are refused; a re-randomised copy
of another member's ciphertext is found and its plaintext reaches only the two combiners
and the regulator, never the operator; a lying combiner is caught by the other's
disagreement, the step stops, and the regulator names it (CombinerFaulted).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from api.identity import Identity
from api.v1 import trustee_pb2
from candor.demo import cheating_report
from client.regulator import Regulator
from core import combination, investigation, paillier, state, threshold
from core import entries as e
from core.errors import AlreadyExists, Conflict, NotFound, PermissionDenied, VerificationError
from tests.test_ratings import S1, S3, World, _hex, recent, rerandomised_copy, world  # noqa: F401  (world: the fixture)


def regulator(w: World) -> Regulator:
    return Regulator(Identity.load(w.alliance / "regulator"), f"127.0.0.1:{w.operator.port}")


def held_subject(w: World) -> tuple[Any, int, e.RatingRequested]:
    """S3 with two honest reports and one that commits to "minor" but encrypts "critical";
    an epoch holds it. Returns the cheat's receipt, the held request's index and body."""
    w.report("a", S3, "fake_traffic", "general")
    w.report("b", S3, "fake_traffic", "minor")
    c = w.member("c")
    try:
        cheat = c.submit_prepared(cheating_report(c, S3, "false_advertising", "minor", "critical", recent()))
    finally:
        c.close()
    assert w.tag(S3).hex() in w.epoch().held
    index, request = w.entries(e.RatingRequested)[-1]
    return cheat, index, request


def settle(w: World) -> None:
    """Checkpoint and cosign everything on the ledger now (trustees act on a cosigned mirror)."""
    w.operator.ledger.wait_checkpoint(w.operator.ledger.store.size())
    w.cosign()


def steps(w: World) -> list[tuple[int, e.InvestigationStep]]:
    return w.entries(e.InvestigationStep)


@pytest.mark.slow
def test_an_investigation_needs_a_held_subject_at_its_size(world: World) -> None:  # noqa: F811
    """Attack 5: an authorisation of a subject that is not held, or at another size, is
    refused; one investigation at a time."""
    world.three_reporters(S1)
    world.epoch()
    _cheat, _index, request = held_subject(world)
    size = world.operator.ledger.store.size()
    with regulator(world) as reg:
        with pytest.raises(Conflict, match="not held"):
            reg.append("AuthoriseInvestigation", e.InvestigationAuthorised(world.tag(S1), "curious", size))
        with pytest.raises(Conflict, match="not held"):
            reg.append("AuthoriseInvestigation", e.InvestigationAuthorised(world.tag("nobody"), "curious", size))
        with pytest.raises(Conflict, match="held at ledger size"):
            reg.append("AuthoriseInvestigation",
                       e.InvestigationAuthorised(world.tag(S3), "later", request.ledger_size + 1))
        with pytest.raises(NotFound, match="never held"):
            reg.authorise_investigation(S1, "curious")
        reg.authorise_investigation(S3, "aggregate did not open")
        with pytest.raises(AlreadyExists, match="still open"):
            reg.authorise_investigation(S3, "again")


@pytest.mark.slow
def test_trustees_serve_only_the_step_the_ledger_names(world: World) -> None:  # noqa: F811
    """§9: an unlogged or non-bisection subset, a verdict the designated combiners did not
    sign, a FraudFound the bisection does not name, and reuse of a consumed authorisation
    all fail; the bisection takes at most ⌈log2 m⌉ + 1 steps."""
    ledger = world.operator.ledger
    ally = ledger.alliance
    cheat, request_index, request = held_subject(world)
    tag, size = world.tag(S3), request.ledger_size
    first, second, third = request.active_set
    honest = world.trustees[0][2]
    # No authorisation: no step, and no subset from any trustee.
    with pytest.raises(NotFound, match="not an InvestigationAuthorised"):
        ledger.append(world.operator_leaf(e.InvestigationStep(request_index, tag, size, 1, (first, second))))
    with pytest.raises(PermissionDenied, match="InvestigationStep the ledger names"):
        honest.request_share(request_index, 1, (third,))
    auth = world.authorise(S3)
    # Steering: only the left half of the held set is step 1, and only step 1.
    for subset, number in (((third,), 1), ((second, third), 1), ((first,), 2), ((first, second), 2)):
        with pytest.raises(PermissionDenied, match="canonical next step"):
            ledger.append(world.operator_leaf(e.InvestigationStep(auth, tag, size, number, subset)))
    named = e.InvestigationStep(auth, tag, size, 1, (first, second))
    combiners = investigation.investigation_combiners(ally.genesis_hash, tag, size, 1, [1, 2, 3])
    forged = dataclasses.replace(named, verdict="opens", combiners=combiners, claims=(True, True),
                                 signatures=(bytes(64), bytes(64)), evidence=(b"x", b"x"))
    with pytest.raises(Conflict, match="not named yet"):
        ledger.append(world.operator_leaf(forged))
    step_index = int(ledger.append(world.operator_leaf(named)))
    with pytest.raises(Conflict, match="awaits its verdict"):
        ledger.append(world.operator_leaf(named))
    with pytest.raises(VerificationError, match="does not verify"):
        ledger.append(world.operator_leaf(forged))
    other = next(i for i in (1, 2, 3) if i not in combiners)
    with pytest.raises(PermissionDenied, match="designated combiners"):
        ledger.append(world.operator_leaf(dataclasses.replace(forged, combiners=(combiners[0], other))))
    settle(world)
    with pytest.raises(PermissionDenied, match="not the one step 1 names"):
        honest.request_share(request_index, combiners[0], (third,), step_index=step_index)
    with pytest.raises(PermissionDenied, match="not a designated combiner"):
        honest.request_share(request_index, other, step_index=step_index)
    with pytest.raises(NotFound, match="not an InvestigationStep"):
        honest.request_share(request_index, combiners[0], step_index=request_index)
    assert honest.request_share(request_index, combiners[0], step_index=step_index).sealed_share
    # The epoch runs the bisection on from the named step.
    found = world.epoch()
    assert found.fraud == [_hex(cheat.report_id)], found.messages
    logged = steps(world)
    numbers = [s.step for _, s in logged if s.verdict]
    assert numbers == sorted(numbers) and len(numbers) <= investigation.max_steps(3)
    assert all(s.verdict in ("opens", "does_not_open") for _, s in logged if s.verdict)
    final = logged[-1][1]
    assert final.subset == (third,) and final.verdict == "does_not_open"
    # Only the regulator finds fraud, and only the report the bisection names.
    honest_rid = next(b.report_id for i, b in world.entries(e.ReportCommitted) if i == first)
    with pytest.raises(PermissionDenied, match="regulator"):
        ledger.append(world.operator_leaf(e.FraudFound(bytes.fromhex(_hex(cheat.report_id)), tag, "mine")))
    with pytest.raises(Conflict, match=f"names entry {third}, not entry {first}"):
        world.regulator(e.FraudFound(honest_rid, tag, "framed"))
    conclusion = world.conclude(S3)
    assert conclusion.report_id == _hex(cheat.report_id) and conclusion.fraud_index is not None
    # The authorisation is consumed: no step, no share, no second authorisation of that hold.
    with pytest.raises(Conflict, match="consumed"):
        ledger.append(world.operator_leaf(e.InvestigationStep(auth, tag, size, final.step + 1, (third,))))
    settle(world)
    for _server, _port, trustee in world.trustees:
        with pytest.raises(PermissionDenied, match="consumed or closed"):
            trustee.request_share(request_index, combiners[0], step_index=logged[-2][0])
    with regulator(world) as reg, pytest.raises(Conflict, match="resolved"):
        reg.authorise_investigation(S3, "again")
    # After FraudFound the subject's next request is the correction without the report.
    world.epoch()
    correction = world.entries(e.RatingRequested)[-1][1]
    assert correction.kind == "correction" and third not in correction.active_set


class Recording:
    """A trustee stub that records every message the operator receives from it."""

    def __init__(self, stub: Any, seen: list[bytes]) -> None:
        self.stub = stub
        self.seen = seen

    def RequestShare(self, request: Any, **kw: Any) -> Any:
        resp = self.stub.RequestShare(request, **kw)
        self.seen.append(resp.SerializeToString())
        return resp

    def Combine(self, request: Any, **kw: Any) -> Any:
        resp = self.stub.Combine(request, **kw)
        self.seen.append(resp.SerializeToString())
        return resp


@pytest.mark.slow
def test_a_copied_ciphertext_is_found_and_never_decrypted_for_the_operator(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Attack 9: member c re-randomises member a's ciphertext of a report about S1 into its
    own report about S3 and has S3 investigated. The bisection names c's report; the
    single-report plaintext (a's tier) is seen by the two combiners and sealed to the
    regulator; nothing the operator receives or appends carries any plaintext."""
    from candor.cli import main

    victim = world.report("a", S1, "fake_traffic", "critical")
    store = world.operator.ledger.store
    from api import wire

    original = wire.signed_entry_from_bytes(store.entry(victim.index)).entry.body
    assert isinstance(original, e.ReportCommitted)
    n = world.operator.ledger.alliance.genesis.paillier_n
    copy = rerandomised_copy(original.ciphertext, n)
    world.report("a", S3, "fake_traffic", "general")
    world.report("b", S3, "fake_traffic", "minor")
    monkeypatch.setattr(paillier, "encrypt", lambda *_a, **_k: copy)
    thief = world.report("c", S3, "false_advertising", "minor")
    monkeypatch.undo()

    plaintexts: list[int] = []
    combine = threshold.combine

    def recording(*args: Any, **kw: Any) -> int:
        value = combine(*args, **kw)
        plaintexts.append(value)
        return value

    monkeypatch.setattr(threshold, "combine", recording)
    seen: list[bytes] = []
    runner = world.operator.epochs
    runner.trustees = {i: Recording(stub, seen) for i, stub in runner.trustees.items()}
    before = store.size()
    assert world.tag(S3).hex() in world.epoch().held
    args = ["--identity", str(world.alliance / "regulator"), "--server", f"127.0.0.1:{world.operator.port}",
            "--subject", S3, "--json"]
    main(["investigate", *args])
    assert json.loads(capsys.readouterr().out)["index"] > before
    found = world.epoch()
    assert found.fraud == [_hex(thief.report_id)], found.messages
    monkeypatch.undo()  # the regulator's own check combines too: stop recording
    world.operator.ledger.wait_checkpoint(store.size())
    main(["investigate", "conclude", *args])
    concluded = json.loads(capsys.readouterr().out)
    assert concluded["report_id"] == _hex(thief.report_id) and not concluded["faulted"]

    # The combiners did decrypt the copy alone: its plaintext is a's report (one critical
    # fake_traffic count at weight 1000) ...
    categories = world.operator.ledger.alliance.genesis.categories
    critical = 4 * categories.index("fake_traffic") + 3  # slot of (fake_traffic, critical)

    def one_critical(value: int) -> bool:
        counts = list(paillier.unpack(value, 4 * len(categories)).counts)
        return bool(counts[critical] > 0 and sum(counts) == counts[critical])

    assert any(one_critical(p) for p in plaintexts)
    # ... and no plaintext ever reached the operator: not in what the trustees returned to
    # it, not in any entry it appended.
    leaves = store.entries(before, store.size())
    assert seen and plaintexts
    for value in plaintexts:
        encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
        assert not any(encoded in message for message in seen)
        assert not any(encoded in leaf for leaf in leaves)
    for message in seen:
        resp = trustee_pb2.CombineResponse()
        resp.ParseFromString(message)
        assert not resp.proof or not resp.evidence  # a step verdict has no score or proof


@pytest.mark.slow
def test_a_lying_combiner_is_caught_by_the_other_and_named(world: World) -> None:  # noqa: F811
    """§9: one designated combiner lies about every step (framing the honest half, steering
    the bisection). The other disagrees, the step stops, the regulator's check of the
    sealed evidence names the liar (CombinerFaulted) and it is never designated again; the
    bisection then finds the real culprit."""
    ledger = world.operator.ledger
    cheat, request_index, request = held_subject(world)
    tag, size = world.tag(S3), request.ledger_size
    liar_index = investigation.investigation_combiners(ledger.alliance.genesis_hash, tag, size, 1, [1, 2, 3])[0]
    liar = world.trustees[liar_index - 1][2]
    honest_verdict = liar._step_verdict

    def lying(target: Any, step: e.InvestigationStep, commitments: Any, weights: Any, plaintext: int,
              shares: Any, bad: list[int]) -> trustee_pb2.CombineResponse:
        resp = honest_verdict(target, step, commitments, weights, plaintext, shares, bad)
        ally = liar.mirror.alliance
        aad = investigation.evidence_aad(ally.genesis_hash, step.authorisation, step.subject_tag, step.ledger_size,
                                         step.step, target.digest, liar.index)
        evidence = investigation.seal_evidence(ally.genesis.regulator_escrow_key, aad,
                                               investigation.Evidence(liar.index, not resp.opens, plaintext, shares))
        message = investigation.step_verdict_message(ally.genesis_hash, step.authorisation, step.subject_tag,
                                                     step.ledger_size, step.step, target.digest, liar.index,
                                                     not resp.opens, evidence)
        return trustee_pb2.CombineResponse(opens=not resp.opens, combiner=liar.index, evidence=evidence,
                                           signature=liar.identity.signing_key().sign(message))

    liar._step_verdict = lying
    world.authorise(S3)
    stopped = world.epoch()
    assert not stopped.fraud and any("disagree" in m for m in stopped.messages), stopped.messages
    ((step_index, named), (_, judged)) = steps(world)
    assert named.step == judged.step == 1 and judged.verdict == "disagree" and liar_index in judged.combiners
    # The step stays stopped: no trustee serves that pair again, the epoch adds nothing.
    settle(world)
    with pytest.raises(Conflict, match="disagreed"):
        world.trustees[0][2].request_share(request_index, liar_index, step_index=step_index)
    world.epoch()
    assert len(steps(world)) == 2
    first = world.conclude(S3)
    assert [c for c, _f, _i in first.faulted] == [liar_index] and first.fraud_index is None
    ((_, fault),) = world.entries(e.CombinerFaulted)
    assert (fault.combiner, fault.step) == (liar_index, 1)
    opened = state.open_investigation(ledger.view, tag)
    assert opened is not None
    assert liar_index not in state.step_combiners(ledger.view, ledger.alliance, opened, 2)
    # The liar is skipped from now on: the bisection finds the culprit.
    found = world.epoch()
    assert found.fraud == [_hex(cheat.report_id)], found.messages
    assert all(liar_index not in s.combiners for _, s in steps(world)[2:] if s.verdict)
    assert world.conclude(S3).report_id == _hex(cheat.report_id)


def test_one_lying_combiner_cannot_hold_an_honest_subject(world: World) -> None:  # noqa: F811
    """A held verdict needs two designated combiners: when the first lies "does not open"
    about an honest set, the second combines it and its publication proof settles it."""
    world.three_reporters(S1)
    ledger = world.operator.ledger
    settle(world)
    size = ledger.cosigned_size()
    order = combination.combiner_order(ledger.alliance.genesis_hash, world.tag(S1), size, [1, 2, 3])
    liar = world.trustees[order[0] - 1][2]
    honest_combine = liar.combine

    def lying(request_index: int, subset: Any, sealed: Any, cosigned_size: int = 0,
              step_index: int = 0) -> trustee_pb2.CombineResponse:
        honest_combine(request_index, subset, sealed, cosigned_size, step_index)
        record = state.request_record(liar.mirror.view, request_index)
        assert record is not None
        message = combination.held_message(ledger.alliance.genesis_hash, request_index, world.tag(S1),
                                           record.ledger_size, record.digest, liar.index)
        return trustee_pb2.CombineResponse(opens=False, combiner=liar.index,
                                           signature=liar.identity.signing_key().sign(message))

    liar.combine = lying
    result = world.epoch()
    assert result.published == [world.tag(S1).hex()] and not result.held, result.messages
    ((_, published),) = world.entries(e.RatingPublished)
    assert published.combiner == order[1]
    # A held verdict of one combiner alone is not even a well-formed entry.
    with pytest.raises(Exception, match="two distinct combiners"):
        e.RatingHeld(1, world.tag(S1), size, order[0], bytes(64), order[0], bytes(64))


def test_a_held_verdict_comes_from_two_combiners(world: World) -> None:  # noqa: F811
    _cheat, request_index, request = held_subject(world)
    ((_, held),) = world.entries(e.RatingHeld)
    order = combination.combiner_order(world.operator.ledger.alliance.genesis_hash, request.subject_tag,
                                       request.ledger_size, [1, 2, 3])
    assert held.request_index == request_index and {held.combiner, held.second_combiner} == set(order[:2])
