"""A subject learns the tiers of the reports about it (docs/subjects.md, "Your tiers").

Through the real path: the regulator's and the subject's CLI over gRPC, the ledger's
append, the operator's epoch runner and the trustees' API as the operator calls it.
Covered: the tiers shown equal what the members submitted; a re-randomised copy of another
member's ciphertext in a report about a subject the cheater controls is not released to
the subject (its evidence goes to the regulator, who can check it); no share, no served
entry and no tier without the regulator's SubjectAccessAuthorised; a second run decrypts
nothing; the operator receives and appends sealed bytes only; neither a member nor the
operator can authorise access.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from api.v1 import trustee_pb2
from candor.cli import main
from core import access, paillier, state, threshold
from core import entries as e
from core.alliance import public_key_of
from core.errors import PermissionDenied
from tests.test_investigations import Recording
from tests.test_ratings import S1, S3, World, _hex, rerandomised_copy, world  # noqa: F401  (world: the fixture)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    main([*argv, "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    with pytest.raises(SystemExit):
        main([*argv, "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return data


def server(w: World) -> str:
    return f"127.0.0.1:{w.operator.port}"


def enrol(w: World, capsys: pytest.CaptureFixture[str], subject: str) -> Path:
    out = w.tmp / f"subject-{subject}"
    cli(capsys, "subject", "enrol", "--identity", str(w.alliance / "regulator"), "--server", server(w),
        "--subject", subject, "--out", str(out))
    return out


def tiers(w: World, capsys: pytest.CaptureFixture[str], folder: Path) -> dict[str, Any]:
    w.operator.ledger.wait_checkpoint(w.operator.ledger.store.size())
    w.cosign()
    return cli(capsys, "subject", "record", "--identity", str(folder), "--server", server(w), "--tiers")


@pytest.mark.slow
def test_tiers_reach_the_subject_and_a_copied_ciphertext_goes_to_the_regulator(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """§9: member c controls subject S3 and copies (re-randomised) member a's ciphertext of a
    critical report about S1 into its own report about S3, then has S3 ask for its tiers.
    S3 gets the two honest tiers exactly as submitted; c's report is withheld and its
    evidence (the plaintext of a's report) is sealed to the regulator, who checks it. The
    operator forwards and appends sealed bytes only; a second epoch decrypts nothing."""
    ledger = world.operator.ledger
    store = ledger.store
    victim = world.report("a", S1, "fake_traffic", "critical")
    original = wire.signed_entry_from_bytes(store.entry(victim.index)).entry.body
    assert isinstance(original, e.ReportCommitted)
    n = ledger.alliance.genesis.paillier_n
    copy = rerandomised_copy(original.ciphertext, n)
    honest_a = world.report("a", S3, "fake_traffic", "general")
    honest_b = world.report("b", S3, "contract_default", "serious")
    monkeypatch.setattr(paillier, "encrypt", lambda *_a, **_k: copy)
    thief = world.report("c", S3, "false_advertising", "minor")
    monkeypatch.undo()
    folder = enrol(world, capsys, S3)
    tag = world.tag(S3)

    # Without the authorisation: no share from any trustee, nothing served, no tier.
    honest = world.trustees[0][2]
    enrolment = state.subject_party(ledger.view, tag)
    assert enrolment is not None
    world.operator.ledger.wait_checkpoint(store.size())
    world.cosign()
    with pytest.raises(PermissionDenied, match="not a SubjectAccessAuthorised"):
        honest.access_share(enrolment.index, honest_a.index, 1, ledger.cosigned_size())
    forged = e.SubjectAccessServed(store.size() + 1, tag, honest_a.index, 1, True, b"x" * 49, bytes(64))
    with pytest.raises(PermissionDenied, match="without the regulator's authorisation"):
        ledger.append(world.operator_leaf(forged))
    before_auth = tiers(world, capsys, folder)
    assert before_auth["access_authorised_at"] is None and before_auth["tiers"] == []
    assert world.epoch().access == []

    authorised = cli(capsys, "subject", "authorise-access", "--identity", str(world.alliance / "regulator"),
                     "--server", server(world), "--subject", S3)
    grant = int(authorised["index"])

    # Record every plaintext the combiners compute and every message the operator receives.
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
    result = world.epoch()
    monkeypatch.undo()
    assert tag.hex() in result.access, result.messages
    served = [(i, b) for i, b in world.entries(e.SubjectAccessServed) if b.authorisation == grant]
    assert sorted(b.report for _i, b in served) == sorted([honest_a.index, honest_b.index, thief.index])
    assert {b.report: b.opens for _i, b in served} == {honest_a.index: True, honest_b.index: True,
                                                      thief.index: False}

    # The subject sees the tiers the members submitted, and the copy withheld.
    shown = {t["report_id"]: t for t in tiers(world, capsys, folder)["tiers"]}
    assert shown[_hex(honest_a.report_id)]["tier"] == "general"
    assert shown[_hex(honest_b.report_id)]["tier"] == "serious"
    assert shown[_hex(thief.report_id)]["state"] == "withheld" and shown[_hex(thief.report_id)]["tier"] is None
    main(["subject", "record", "--identity", str(folder), "--server", server(world), "--tiers"])
    text = capsys.readouterr().out
    assert "Your tiers" in text and "serious" in text and "withheld" in text
    # Without --tiers the client verifies but does not open: sealed.
    plain = cli(capsys, "subject", "record", "--identity", str(folder), "--server", server(world))
    assert {t["state"] for t in plain["tiers"]} == {"sealed", "withheld"}

    # The regulator opens the withheld report's evidence and re-checks it (CLI) ...
    checked = cli(capsys, "subject", "withheld", "--identity", str(world.alliance / "regulator"), "--server",
                  server(world), "--subject", S3)["withheld"]
    assert [(w["report_id"], w["checked"]) for w in checked] == [(_hex(thief.report_id), True)]
    # ... and what it holds is a's critical report, seen by the regulator only.
    ally = ledger.alliance
    (_i, withheld), = [(i, b) for i, b in served if not b.opens]
    thief_body = wire.signed_entry_from_bytes(store.entry(thief.index)).entry.body
    assert isinstance(thief_body, e.ReportCommitted)
    evidence = access.open_evidence(
        Identity.load(world.alliance / "regulator").hex_file("escrow.key"),
        access.evidence_aad(ally.genesis_hash, grant, tag, thief.index, withheld.combiner), withheld.sealed)
    access.check_evidence(ally.generators, public_key_of(ally.genesis), thief_body.ciphertext,
                          thief_body.category, thief_body.commitment, evidence, withheld.combiner)
    slot = 4 * ally.genesis.categories.index("fake_traffic") + 3
    counts = paillier.unpack(evidence.plaintext, 4 * len(ally.genesis.categories)).counts
    assert counts[slot] == 1 and sum(counts) == 1  # the victim's tier, seen by the regulator only

    # The operator never received nor appended a plaintext or a tier: only sealed bytes.
    leaves = store.entries(before, store.size())
    assert seen and len(plaintexts) >= 3
    for value in plaintexts:
        encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
        assert not any(encoded in message for message in seen)
        assert not any(encoded in leaf for leaf in leaves)
    for message in seen:
        resp = trustee_pb2.CombineResponse()
        resp.ParseFromString(message)
        assert not resp.proof and not resp.score and not resp.grade
        assert not resp.sealed_tier or len(resp.sealed_tier) == 32 + 1 + 16  # HPKE of one byte, fixed length
    for _i, body in served:
        if body.opens:
            with pytest.raises(Exception):  # the regulator's escrow key does not open a subject's tier
                access.open_tier(Identity.load(world.alliance / "regulator").hex_file("escrow.key"),
                                 access.tier_aad(ally.genesis_hash, tag, b"", grant), body.sealed)

    # Consumed: a second epoch decrypts nothing; trustees refuse; the ledger refuses a replay.
    party = state.subject_party(ledger.view, tag)
    assert party is not None and party.access_consumed is not None
    size = store.size()
    again = world.epoch()
    assert again.access == [] and not [b for _i, b in world.entries(e.SubjectAccessServed)
                                       if b.authorisation == grant and _i >= size]
    with pytest.raises(PermissionDenied, match="consumed"):
        honest.access_share(grant, honest_a.index, served[0][1].combiner, ledger.cosigned_size())
    with pytest.raises(PermissionDenied, match="without the regulator's authorisation"):
        ledger.append(world.operator_leaf(served[0][1]))


@pytest.mark.slow
def test_only_the_regulator_authorises_and_trustees_serve_only_covered_reports(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """A member or the operator cannot authorise access (CLI and ledger); under a grant a
    trustee serves only the grant's own subject's reports below it, to the designated
    combiner, and the ledger takes a served entry only from that combiner's signature."""
    ledger = world.operator.ledger
    mine = world.report("a", S3, "fake_traffic", "minor")
    other = world.report("b", S1, "fake_traffic", "critical")
    enrol(world, capsys, S3)
    tag = world.tag(S3)
    before = ledger.store.size()
    member = world.tmp / "member-a"
    shutil.copytree(world.alliance / "member-a", member)
    for who in (str(member), str(world.alliance / "operator")):
        err = refused(capsys, "subject", "authorise-access", "--identity", who, "--server", server(world),
                      "--subject", S3)
        assert err["error"] == "permission_denied", err
    with pytest.raises(PermissionDenied):
        ledger.append(world.operator_leaf(e.SubjectAccessAuthorised(tag, "operator says so")))
    assert ledger.store.size() == before
    grant = world.regulator(e.SubjectAccessAuthorised(tag, "subject asked for its record"))
    later = world.report("c", S3, "fake_traffic", "serious")  # after the grant: not covered
    ledger.wait_checkpoint(ledger.store.size())
    world.cosign()
    ally = ledger.alliance
    trustee = world.trustees[0][2]
    order = access.access_combiners(ally.genesis_hash, tag, grant, mine.index, [1, 2, 3])
    cosigned = ledger.cosigned_size()
    for report in (other.index, later.index):
        with pytest.raises(PermissionDenied, match="not a report about this subject awaiting access"):
            trustee.access_share(grant, report, order[0], cosigned)
    with pytest.raises(PermissionDenied, match="not designated"):
        trustee.access_share(grant, mine.index, order[-1], cosigned)
    assert trustee.access_share(grant, mine.index, order[0], cosigned).sealed_share
    # A served entry the designated combiner did not sign is refused.
    fake = e.SubjectAccessServed(grant, tag, mine.index, order[0], True, b"x" * 49, bytes(64))
    with pytest.raises(Exception, match="does not verify"):
        ledger.append(world.operator_leaf(fake))
    result = world.epoch()
    assert tag.hex() in result.access
    served = [b for _i, b in world.entries(e.SubjectAccessServed)]
    assert [b.report for b in served] == [mine.index] and served[0].combiner in order[:2]


def test_a_grant_waits_for_the_epoch_and_dies_with_its_enrolment(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Before the epoch the record shows the covered reports as waiting; a revoked enrolment's
    grant is never served (the trustees and the ledger refuse), and the epoch skips it."""
    ledger = world.operator.ledger
    mine = world.report("a", S3, "fake_traffic", "minor")
    folder = enrol(world, capsys, S3)
    tag = world.tag(S3)
    grant = cli(capsys, "subject", "authorise-access", "--identity", str(world.alliance / "regulator"),
                "--server", server(world), "--subject", S3)["index"]
    waiting = tiers(world, capsys, folder)["tiers"]
    assert [(t["report_id"], t["state"], t["tier"]) for t in waiting] == [(_hex(mine.report_id), "waiting", None)]
    world.regulator(e.SubjectRevoked(tag, "lost key"))
    ledger.wait_checkpoint(ledger.store.size())
    world.cosign()
    order = access.access_combiners(ledger.alliance.genesis_hash, tag, grant, mine.index, [1, 2, 3])
    with pytest.raises(PermissionDenied, match="revoked"):
        world.trustees[0][2].access_share(grant, mine.index, order[0], ledger.cosigned_size())
    assert world.epoch().access == [] and world.entries(e.SubjectAccessServed) == []
