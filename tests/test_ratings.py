"""Ratings end to end over real gRPC: operator, three trustees (t = 2), a witness, members
(docs/ratings.md).

Every attack goes through the real path: the member SDK, the ledger's append, the epoch
runner and the trustees' gRPC API as the operator calls it. Covered: a published rating
states a proven score and grade and no count; a correction is published alone, so a
member cannot isolate another member's new report with its own retraction; the operator
cannot obtain decryptions it does not publish (requests on the ledger, monotone sizes,
every request answered, trustees serve only the newest request); a plaintext outside the
slots or an overflowing R field holds that subject alone and bisection finds the culprit;
a lying combiner or operator is refused by the ledger and by the SDK.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.identity import Identity
from api.v1 import entries_pb2, rating_pb2
from candor.demo import cheating_report
from client.ratings import Rating, RatingClient, Unrated, verify_rating
from client.regulator import regulator_leaf
from client.sdk import Member
from client.witness import Witness
from core import combination, merkle, paillier, rating, state
from core import entries as e
from core.checkpoint import Checkpoint
from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
    VerificationError,
)
from core.group import ORDER
from server.database import open_store
from server.trustee import create_trustee_server

S1, S2, S3, S4 = "anchor:alpha", "anchor:beta", "anchor:gamma", "anchor:delta"


def _hex(report_id: str | bytes) -> str:
    return report_id.hex() if isinstance(report_id, bytes) else report_id


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
        """Run an epoch while a witness keeps cosigning (as a witness process would), and
        cosign what it appended."""
        done = threading.Event()
        out: list[Any] = []

        def run() -> None:
            try:
                out.append(self.operator.epochs.run())
            finally:
                done.set()

        self.operator.ledger.wait_checkpoint(self.operator.ledger.store.size())
        self.cosign()
        thread = threading.Thread(target=run)
        thread.start()
        while not done.wait(0.1):
            self.cosign()
        thread.join()
        self.operator.ledger.wait_checkpoint(self.operator.ledger.store.size())
        self.cosign()
        return out[0]

    def regulator(self, body: e.Body) -> int:
        return int(self.operator.ledger.append(regulator_leaf(self.alliance / "regulator", body)))

    def operator_leaf(self, body: e.Body) -> bytes:
        key = Identity.load(self.alliance / "operator").signing_key()
        return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(time.time() * 1000)), key)

    def combiner_signed(self, body: e.RatingPublished) -> e.RatingPublished:
        """`body` signed anew by its combiner (a lie that only the crypto can catch)."""
        ally = self.operator.ledger.alliance
        key = Identity.load(self.alliance / f"trustee-{body.combiner}").signing_key()
        return dataclasses.replace(body, combiner_signature=key.sign(combination.publication_message(
            ally.genesis_hash, body)))

    def tag(self, subject: str) -> bytes:
        from core.subject import subject_tag

        return subject_tag(Identity.load(self.alliance / "regulator").hex_file("subject.key"), subject)

    def report(self, who: str, subject: str, category: str, tier: str, days: int = 30) -> Any:
        m = self.member(who)
        try:
            return m.submit_report(subject, category, tier, recent(days))
        finally:
            m.close()

    def three_reporters(self, subject: str) -> None:
        self.report("a", subject, "fake_traffic", "serious")
        self.report("b", subject, "fake_traffic", "minor")
        self.report("c", subject, "contract_default", "general")

    def authorise(self, subject: str) -> int:
        """The regulator authorises the investigation of a held subject, through its SDK."""
        from client.regulator import Regulator

        with Regulator(Identity.load(self.alliance / "regulator"), f"127.0.0.1:{self.operator.port}") as reg:
            return int(reg.authorise_investigation(subject, "aggregate did not open").index)

    def conclude(self, subject: str) -> Any:
        """The regulator checks the combiners' sealed evidence and appends FraudFound."""
        from client.regulator import Regulator

        self.operator.ledger.wait_checkpoint(self.operator.ledger.store.size())
        with Regulator(Identity.load(self.alliance / "regulator"), f"127.0.0.1:{self.operator.port}") as reg:
            return reg.conclude_investigation(subject)

    def entries(self, kind: type) -> list[tuple[int, Any]]:
        store = self.operator.ledger.store
        out = []
        for i, leaf in enumerate(store.entries(0, store.size())):
            body = wire.signed_entry_from_bytes(leaf).entry.body
            if isinstance(body, kind):
                out.append((i, body))
        return out


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


def rerandomised_copy(ciphertext: int, n: int) -> int:
    """Another encryption of the same plaintext (c·rⁿ mod n²), as a cheating member would
    copy a victim's ciphertext, drawn again until it has the full width of n² (the SDK
    re-draws short ciphertexts, and a copy that is returned for every draw must not be one)."""
    width = ((n * n).bit_length() + 7) // 8
    while True:
        copy = ciphertext * pow(secrets.randbelow(n - 2) + 2, n, n * n) % (n * n)
        if copy.bit_length() > 8 * (width - 1):
            return copy


def tampered(world: World, who: str, subject: str, category: str, tier: str, change: Any,
             monkeypatch: pytest.MonkeyPatch) -> Any:
    """A report from `who` sent through the real SDK whose Paillier plaintext is replaced by
    `change(m, n)` just before encryption: commitment, validity proof, ring signature and
    escrow are honest, so intake accepts it (a cheating member)."""
    original = paillier.encrypt

    def encrypt(public_key: Any, m: int, pool: Any = None) -> int:
        return original(public_key, change(m, public_key.n) % public_key.n, pool)

    monkeypatch.setattr(paillier, "encrypt", encrypt)
    try:
        return world.report(who, subject, category, tier)
    finally:
        monkeypatch.setattr(paillier, "encrypt", original)


def test_ratings_story(world: World) -> None:
    critical = world.report("a", S1, "fake_traffic", "critical")
    world.report("a", S1, "fake_traffic", "minor")
    world.report("b", S1, "contract_default", "minor")
    world.report("c", S1, "false_advertising", "general")
    world.report("a", S2, "false_advertising", "general")  # one reporter only
    result = world.epoch()
    assert result.published == [world.tag(S1).hex()] and world.tag(S2).hex() in result.pending, result.messages
    assert not result.blocked, result.blocked  # below k is not a failure

    with world.client("member-b") as client:
        first = client.get_rating(S1, "pre-contract")
        assert isinstance(first, Rating) and first.verified and first.state == "rated"
        # 100 − ⌈(61 + 1 + 1 + 3)·1000 / 1000⌉; a verified score and grade, never a count
        assert (first.score, first.grade, first.reports, first.reporters) == (34, "D", 4, 3)
        assert not hasattr(first, "counts")
        below = client.get_rating(S2, "monitoring")
        assert isinstance(below, Unrated) and (below.state, below.reporters, below.k) == ("below_k", 1, 3)
    ((_, request),) = world.entries(e.RatingRequested)
    assert request.kind == "first"
    ((_, published),) = world.entries(e.RatingPublished)
    assert published.request_index == world.entries(e.RatingRequested)[0][0] and published.score == 34

    # Attack 3: a retracts its own critical report while b adds a new one, hoping the next
    # rating differs from the last by exactly b's report. The correction is published alone.
    a = world.member("a")
    try:
        a.retract_report(critical.report_id)
    finally:
        a.close()
    fresh = world.report("b", S1, "fake_traffic", "serious")
    world.epoch()
    requests = world.entries(e.RatingRequested)
    correction = requests[-1][1]
    assert len(requests) == 2 and correction.kind == "correction"
    assert fresh.index not in correction.active_set
    assert set(correction.active_set) == set(request.active_set) - {critical.index}
    assert (correction.as_of, correction.rule_set_version) == (request.as_of, request.rule_set_version)
    with world.client("member-c") as client:
        second = client.get_rating(S1, "monitoring")
        assert isinstance(second, Rating) and (second.score, second.grade) == (95, "A")  # 100 − 1 − 1 − 3
        assert second.state == "rated_changes_waiting" and second.pending == 1 and second.waiting_since
    # b's new report is one reporter's change: the update rule holds it back.
    third = world.epoch()
    assert len(world.entries(e.RatingRequested)) == 2 and not third.published
    # A dispute on a counted report: the answer says so (the rating itself still verifies).
    counted = next(r for r in world.entries(e.ReportCommitted) if r[0] in correction.active_set)[1]
    world.regulator(e.DisputeFiled(bytes(16), counted.report_id, "the anchor contests this report"))
    world.cosign()
    with world.client("member-a") as client:
        disputed = client.get_rating(S1, "monitoring")
        assert isinstance(disputed, Rating) and disputed.state == "disputed" and disputed.score == 95

    from client.audit import replay

    _, report = replay(world.operator.ledger.store.entries(0, world.operator.ledger.store.size()))
    assert report.kinds["RatingPublished"] == 2 and report.kinds["RatingRequested"] == 2


def test_published_rating_carries_no_count() -> None:
    """Attack 1: a published rating states the score, never per-cell counts, R or a
    milli-score (D mod 1000 would give away the tier of a report whose weight differs)."""
    fields = {f.name for f in entries_pb2.RatingPublished.DESCRIPTOR.fields}
    assert fields == {"request_index", "subject_tag", "rule_set_version", "ledger_size", "set_digest", "active_set",
                      "weights", "as_of", "score", "grade", "reporters", "proof", "combiner", "combiner_signature"}
    assert not {f.name for f in entries_pb2.RatingHeld.DESCRIPTOR.fields} & {"score", "counts", "r_sum"}
    from api.v1 import trustee_pb2

    assert not {f.name for f in trustee_pb2.CombineResponse.DESCRIPTOR.fields} & {"counts", "r_sum", "plaintext"}


@pytest.mark.slow
def test_operator_cannot_collect_decryptions_it_does_not_publish(world: World) -> None:
    """Attack 2: every decryption is of a set named by the newest RatingRequested on the
    ledger; sizes only grow; a request must be answered before the next; the trustees
    serve no other set, whichever quorum is asked."""
    ledger = world.operator.ledger
    world.three_reporters(S1)
    world.epoch()
    ((first_index, first),) = world.entries(e.RatingRequested)
    # History: a request at L − 1 after one at L.
    older = dataclasses.replace(first, ledger_size=first.ledger_size - 1, kind="staleness")
    with pytest.raises(Conflict, match="never decrypt history"):
        ledger.append(world.operator_leaf(older))
    # One member's new report: a request for the changed set is refused by the ledger.
    world.report("a", S1, "false_advertising", "critical")
    size = world.cosign()
    view = ledger.view
    _rules, _prev, _reports, active = state.rating_inputs(view, world.tag(S1), size, _dt.date.today())
    changed = e.RatingRequested(world.tag(S1), size, rating.set_digest(active), tuple(i for i, _ in active),
                                tuple(w for _, w in active), first.as_of, first.rule_set_version, "changes")
    with pytest.raises(Conflict, match="distinct reporter"):
        ledger.append(world.operator_leaf(changed))
    # Changes from k reporters: a second request, rated.
    world.report("b", S1, "fake_traffic", "general")
    world.report("c", S1, "fake_traffic", "general")
    world.epoch()
    (_, (second_index, second)) = world.entries(e.RatingRequested)
    assert second.kind == "changes" and second_index > first_index
    # Another quorum (trustees 2 and 3) asked for the first, older set: refused, each of them.
    for server, _port, trustee in world.trustees[1:]:
        with pytest.raises(PermissionDenied, match="newest request"):
            trustee.request_share(first_index, 2)
        # nor any part of the newest set without an investigation
        with pytest.raises(PermissionDenied, match="InvestigationAuthorised"):
            trustee.request_share(second_index, 2, second.active_set[:2])
    # The identical newest request is served again (it reveals nothing new), to its combiner only.
    order = combination.combiner_order(ledger.alliance.genesis_hash, world.tag(S1), second.ledger_size, [1, 2, 3])
    assert world.trustees[1][2].request_share(second_index, order[0]).sealed_share
    with pytest.raises(PermissionDenied, match="not designated"):
        world.trustees[1][2].request_share(second_index, order[-1])
    # A request stays unanswered: the next one is blocked until it is answered.
    world.three_reporters(S3)
    size = world.cosign()
    plan = state.request_plan(ledger.view, world.tag(S3), size, _dt.date.today(), None)
    pending = e.RatingRequested(world.tag(S3), size, plan.digest, tuple(i for i, _ in plan.active),
                                tuple(w for _, w in plan.active), plan.as_of.isoformat(), plan.rule_version, plan.kind)
    # A request naming another set than the ledger derives is refused.
    with pytest.raises(VerificationError, match="differ from the ledger"):
        ledger.append(world.operator_leaf(dataclasses.replace(
            pending, active_set=pending.active_set[1:], weights=pending.weights[1:])))
    ledger.append(world.operator_leaf(pending))
    with pytest.raises(Conflict, match="not answered yet"):
        ledger.append(world.operator_leaf(pending))
    # A withdrawal cannot answer a request with k reporters; the epoch answers it as it is.
    index = world.entries(e.RatingRequested)[-1][0]
    with pytest.raises(Conflict, match="not withdrawn"):
        ledger.append(world.operator_leaf(e.RatingWithdrawn(index, world.tag(S3), "no reason")))
    result = world.epoch()
    assert world.tag(S3).hex() in result.published


@pytest.mark.slow
def test_plaintext_outside_the_slots_holds_only_its_subject(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack 6: a member encrypts a value above the last slot. The combiner says "does not
    open" (RatingHeld); every other subject is rated in the same epoch; bisection under the
    regulator's authorisation finds the report; the correction leaves 2 < k reporters and
    the rating is withdrawn."""
    world.report("a", S3, "fake_traffic", "general")
    world.report("b", S3, "fake_traffic", "minor")
    slots = 4 * len(world.operator.ledger.alliance.genesis.categories)
    cheat = tampered(world, "c", S3, "false_advertising", "minor",
                     lambda m, n: m + (1 << (paillier.R_BITS + paillier.SLOT_BITS * slots)), monkeypatch)
    world.three_reporters(S4)
    result = world.epoch()
    assert world.tag(S4).hex() in result.published and world.tag(S3).hex() in result.held, result.messages
    ((_, held),) = world.entries(e.RatingHeld)
    assert held.subject_tag == world.tag(S3)
    with world.client("member-a") as client:
        answer = client.get_rating(S3, "monitoring")
        assert isinstance(answer, Unrated) and answer.state == "held"
    world.authorise(S3)
    found = world.epoch()
    assert found.fraud == [_hex(cheat.report_id)], found.messages
    assert world.conclude(S3).report_id == _hex(cheat.report_id)
    after = world.epoch()
    assert world.tag(S3).hex() in after.withdrawn, after.messages
    ((_, withdrawn),) = world.entries(e.RatingWithdrawn)
    assert withdrawn.subject_tag == world.tag(S3)


@pytest.mark.slow
def test_overflowing_r_field_is_found_not_blamed_on_the_trustees(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack 8: a report encrypting m + w⁻¹·k·q, with k chosen so that its R field alone
    stays below 2^320 (it opened alone under a mod-q check) while any aggregate with others
    carries into the first count. The strict check (R < q·Σw) makes it fail alone too, so
    bisection names it instead of blaming the trustees."""
    weight = 1000

    def overflow(m: int, n: int) -> int:
        r = m % (1 << paillier.R_BITS)
        k = ((1 << paillier.R_BITS) - 1 - weight * r) // ORDER
        return m + pow(weight, -1, n) * k * ORDER

    world.report("a", S3, "fake_traffic", "general")
    world.report("b", S3, "fake_traffic", "minor")
    cheat = tampered(world, "c", S3, "false_advertising", "minor", overflow, monkeypatch)
    world.three_reporters(S4)
    result = world.epoch()
    assert world.tag(S3).hex() in result.held and world.tag(S4).hex() in result.published, result.messages
    world.authorise(S3)
    found = world.epoch()
    assert found.fraud == [_hex(cheat.report_id)], found.messages
    assert world.conclude(S3).report_id == _hex(cheat.report_id)


@pytest.mark.slow
def test_committed_tier_differs_from_encrypted_one(world: World) -> None:
    """The classic cheat: commits to "minor", encrypts "critical" (the demo's culprit)."""
    world.report("a", S3, "fake_traffic", "general")
    world.report("b", S3, "fake_traffic", "minor")
    c = world.member("c")
    try:
        cheat = c.submit_prepared(cheating_report(c, S3, "false_advertising", "minor", "critical", recent()))
    finally:
        c.close()
    assert world.tag(S3).hex() in world.epoch().held
    world.authorise(S3)
    assert world.epoch().fraud == [_hex(cheat.report_id)]
    conclusion = world.conclude(S3)
    assert conclusion.report_id == _hex(cheat.report_id) and not conclusion.faulted
    ((_, fraud),) = world.entries(e.FraudFound)
    assert fraud.report_id.hex() == _hex(cheat.report_id)


def test_trustee_refusals(world: World) -> None:
    trustee = world.trustees[0][2]
    ledger = world.operator.ledger
    world.report("a", S2, "fake_traffic", "general")
    size = world.cosign()
    with pytest.raises(NotFound, match="not a RatingRequested"):
        trustee.request_share(size - 1, 1)
    with pytest.raises(Conflict, match="verified the ledger only up to"):
        trustee.request_share(size + 50, 1)
    # One reporter: no request can even be put on the ledger.
    _rules, _prev, _reports, active = state.rating_inputs(ledger.view, world.tag(S2), size, _dt.date.today())
    lonely = e.RatingRequested(world.tag(S2), size, rating.set_digest(active), tuple(i for i, _ in active),
                               tuple(w for _, w in active), _dt.date.today().isoformat(), _rules.version, "first")
    with pytest.raises(Conflict, match="distinct reporter"):
        ledger.append(world.operator_leaf(lonely))
    world.three_reporters(S1)
    world.epoch()
    ((index, request),) = world.entries(e.RatingRequested)
    ally = ledger.alliance
    first, second, _last = combination.combiner_order(ally.genesis_hash, request.subject_tag, request.ledger_size,
                                                      [1, 2, 3])
    resp = trustee.request_share(index, first)
    assert (resp.trustee, resp.combiner) == (1, first) and resp.sealed_share
    # Sealed to the combiner: another trustee cannot open it, nor use it for another combiner slot.
    aad = combination.share_aad(ally.genesis_hash, index, request.subject_tag, request.ledger_size, request.set_digest,
                                second, 1)
    other = Identity.load(world.alliance / f"trustee-{second}").hex_file("encryption.key")
    with pytest.raises(VerificationError, match="does not open"):
        combination.open_share(other, aad, resp.sealed_share, 1)
    with pytest.raises(PermissionDenied, match="InvestigationAuthorised"):
        trustee.request_share(index, first, (request.active_set[0],))


def test_forged_share_is_named_and_fewer_than_t_keeps_pending(world: World) -> None:
    world.three_reporters(S1)
    bad = world.trustees[1][2]
    honest = bad.compute_share

    def forged(c: int) -> Any:
        share = honest(c)
        return dataclasses.replace(share, c_i=share.c_i * 4 % bad.public_key.nsquare)

    bad.compute_share = forged
    # trustee 3 unreachable, trustee 2 lies: only one good share, t = 2.
    world.trustees[2][0].stop(0)
    result = world.epoch()
    assert not result.published and result.pending
    text = " ".join(result.messages)
    assert "trustee 2" in text and "fails its proof" in text and "trustee 3" in text, text
    # trustee 3 sent no share: the subject waits for it, a typed outcome (not message text)
    assert len(result.blocked) == 1 and result.blocked[0] in result.messages, result.messages
    assert not world.operator.ledger.view.scan("rating/")


def _fake_tree(leaves: list[bytes], origin: str) -> tuple[Checkpoint, Any]:
    nodes: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(leaves):
        for level, at, h in merkle.new_nodes(i, merkle.leaf_hash(leaf), lambda lv, ix: nodes[(lv, ix)]):
            nodes[(level, at)] = h

    def get(lv: int, ix: int) -> bytes:
        return nodes[(lv, ix)]

    return Checkpoint(origin, len(leaves), merkle.root_at(len(leaves), get)), get


def test_lying_publications_are_refused_by_the_ledger_and_the_sdk(world: World) -> None:
    world.three_reporters(S1)
    ledger = world.operator.ledger
    honest_append = ledger.append
    captured: list[bytes] = []

    def capture(leaf: bytes, **kw: Any) -> int:
        if isinstance(wire.signed_entry_from_bytes(leaf).entry.body, e.RatingPublished):
            captured.append(leaf)
            return 0
        return int(honest_append(leaf, **kw))

    ledger.append = capture
    world.epoch()  # the combiner publishes honestly; we hold it back
    ledger.append = honest_append
    (honest,) = captured
    body = wire.signed_entry_from_bytes(honest).entry.body
    assert isinstance(body, e.RatingPublished)
    ally = ledger.alliance
    order = combination.combiner_order(ally.genesis_hash, body.subject_tag, body.ledger_size, [1, 2, 3])

    signed = world.combiner_signed
    flipped = bytes([body.proof[0] ^ 1]) + body.proof[1:]
    lies = [
        (signed(dataclasses.replace(body, score=body.score - 1)), "proof does not verify"),
        (signed(dataclasses.replace(body, proof=flipped)), "proof does not verify"),
        (dataclasses.replace(body, score=body.score - 1), "signature"),
        (signed(dataclasses.replace(body, grade="A" if body.grade != "A" else "B")), "grade"),
        (signed(dataclasses.replace(body, combiner=order[-1])), "not designated"),
        (signed(dataclasses.replace(body, active_set=body.active_set[:2], weights=body.weights[:2])),
         "differ from|active set"),
    ]
    for lie, why in lies:
        before = ledger.store.size()
        with pytest.raises(VerificationError, match=why):
            ledger.append(world.operator_leaf(lie))
        assert ledger.store.size() == before
    index = ledger.append(honest)
    world.epoch()

    # The SDK runs the same checks: give it each lie inside a consistent tree.
    with world.client("member-a") as client:
        tag = client.subject_tag(S1)
        resp = client.conn.call(client.conn.rating.GetRating,
                                rating_pb2.GetRatingRequest(subject_tag=tag, purpose="monitoring"))
        cp = client.verifier.accept(resp.checkpoint.note, client.conn)
        assert isinstance(verify_rating(client.verifier.alliance, resp, cp, tag), Rating)
        doctored = rating_pb2.RatingResponse()
        doctored.CopyFrom(resp)
        del doctored.reports[0]
        with pytest.raises(VerificationError, match="active set"):
            verify_rating(client.verifier.alliance, doctored, cp, tag)
        leaves = ledger.store.entries(0, cp.size)
        for lie, why in lies:
            fake_leaves = list(leaves)
            fake_leaves[index] = world.operator_leaf(lie)
            fake_cp, get = _fake_tree(fake_leaves, cp.origin)
            doctored = rating_pb2.RatingResponse()
            doctored.CopyFrom(resp)
            for proven in [doctored.rating, doctored.request, doctored.rule_set, *doctored.reports]:
                proven.entry = fake_leaves[proven.index]
                del proven.inclusion_proof[:]
                proven.inclusion_proof.extend(merkle.inclusion_proof(proven.index, fake_cp.size, get))
            with pytest.raises(VerificationError, match=why):
                verify_rating(client.verifier.alliance, doctored, fake_cp, tag)


@pytest.mark.slow
def test_rating_get_cli_json(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import shutil

    from candor.cli import main

    world.three_reporters(S1)
    world.report("a", S2, "fake_traffic", "minor")
    world.epoch()
    member = tmp_path / "member-c"
    shutil.copytree(world.alliance / "member-c", member)
    server = f"127.0.0.1:{world.operator.port}"
    main(["rating", "get", "--identity", str(member), "--server", server, "--subject", S1,
          "--purpose", "pre-contract", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["verified"] is True and data["grade"] == "A" and data["pending"] is False
    assert data["score"] == 90 and data["state"] == "rated"  # 100 − 6 (serious) − 1 (minor) − 3 (general)
    assert "counts" not in data
    main(["rating", "get", "--identity", str(member), "--server", server, "--subject", S2,
          "--purpose", "monitoring", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["grade"] is None and data["state"] == "below_k" and data["verified"] is True
    assert (data["reporters"], data["k"]) == (1, 3)


def test_designated_combiner_away_the_next_one_combines(world: World) -> None:
    world.three_reporters(S1)
    ledger = world.operator.ledger
    ledger.wait_checkpoint(ledger.store.size())
    size = world.cosign()
    order = combination.combiner_order(ledger.alliance.genesis_hash, world.tag(S1), size, [1, 2, 3])
    world.trustees[order[0] - 1][0].stop(0)
    result = world.epoch()
    assert result.published == [world.tag(S1).hex()] and not result.blocked, result.messages
    ((_, published),) = world.entries(e.RatingPublished)
    assert published.ledger_size == size and published.combiner == order[1]


def test_genesis_refuses_a_trustee_without_encryption_key(alliance_dir: Path) -> None:
    genesis = wire.signed_entry_from_bytes(Identity.load(alliance_dir / "operator").genesis_leaf()).entry.body
    assert isinstance(genesis, e.Genesis) and all(len(t.encryption_key) == 32 for t in genesis.trustees)
    zero = tuple(dataclasses.replace(t, encryption_key=bytes(32)) if t.index == 2 else t for t in genesis.trustees)
    with pytest.raises(InvalidInput, match="trustee-2 has no encryption key"):
        dataclasses.replace(genesis, trustees=zero)
    same = tuple(dataclasses.replace(t, encryption_key=genesis.trustees[0].encryption_key) for t in genesis.trustees)
    with pytest.raises(InvalidInput, match="share an encryption key"):
        dataclasses.replace(genesis, trustees=same)
    with pytest.raises(InvalidInput, match="31 bytes, expected 32"):
        dataclasses.replace(genesis.trustees[0], encryption_key=bytes(31))


def test_uncompressed_commitment_hints_are_checked_not_trusted(world: World) -> None:
    """GetRating sends each commitment uncompressed too (a decoding hint that saves a square
    root per report). The SDK accepts a hint only if it is exactly the point the proven
    leaf's compressed commitment encodes, and it does not rely on the ledger's subgroup
    check either: a commitment with a torsion component fails the rating."""
    from g1_points import encoding

    from core.group import default_group

    group = default_group()
    world.three_reporters(S1)
    world.epoch()
    with world.client("member-a") as client:
        tag = client.subject_tag(S1)
        resp = client.conn.call(client.conn.rating.GetRating,
                                rating_pb2.GetRatingRequest(subject_tag=tag, purpose="monitoring"))
        cp = client.verifier.accept(resp.checkpoint.note, client.conn)
        ally = client.verifier.alliance
        assert len(resp.commitments_xy) == len(resp.reports) == 3
        honest = verify_rating(ally, resp, cp, tag)
        assert isinstance(honest, Rating)

        def doctor(change: Any) -> rating_pb2.RatingResponse:
            doctored = rating_pb2.RatingResponse()
            doctored.CopyFrom(resp)
            change(doctored.commitments_xy)
            return doctored

        # Without hints the SDK decompresses the commitments itself: the same rating.
        plain = verify_rating(ally, doctor(lambda xy: xy.__delitem__(slice(None))), cp, tag)
        assert isinstance(plain, Rating) and (plain.score, plain.grade) == (honest.score, honest.grade)
        first = group.decode_xy_unchecked(resp.commitments_xy[0])
        lies = [
            (lambda xy: xy.__setitem__(0, xy[1]), "not the point"),  # another report's point
            (lambda xy: xy.__setitem__(0, group.encode_xy(group.neg(first))), "not the point"),  # same x
            (lambda xy: xy.__setitem__(0, xy[0][:48] + bytes(48)), "not on the curve"),
            (lambda xy: xy.__delitem__(0), "uncompressed commitments for 3 reports"),
        ]
        for change, why in lies:
            with pytest.raises(VerificationError, match=why):
                verify_rating(ally, doctor(change), cp, tag)

        # A ledger that took a commitment C + T (T of order 3) would be refused by intake; a
        # client shown one in a consistent tree refuses the rating (C* is not in G1), hint or not.
        index = resp.reports[0].index
        published = wire.signed_entry_from_bytes(resp.rating.entry).entry.body
        assert isinstance(published, e.RatingPublished) and published.weights[0] % 3  # w·T ≠ 0
        leaves = world.operator.ledger.store.entries(0, cp.size)
        signed = wire.signed_entry_from_bytes(leaves[index])
        body = signed.entry.body
        assert isinstance(body, e.ReportCommitted)
        torsion = group.decode_unchecked(encoding("order_3_point"))
        skewed = group.add(group.decode(body.commitment), torsion)
        commitment = group.encode(skewed)
        entry = dataclasses.replace(signed.entry, body=dataclasses.replace(
            body, commitment=commitment, report_id=e.derive_report_id(commitment)))
        entry_bytes = wire.entry_to_bytes(entry)
        fake_leaves = list(leaves)
        fake_leaves[index] = wire.signed_entry_to_bytes(dataclasses.replace(signed, entry_bytes=entry_bytes,
                                                                            entry=entry))
        fake_cp, get = _fake_tree(fake_leaves, cp.origin)
        for hint in (group.encode_xy(skewed), None):
            doctored = rating_pb2.RatingResponse()
            doctored.CopyFrom(resp)
            for proven in [doctored.rating, doctored.request, doctored.rule_set, *doctored.reports]:
                proven.entry = fake_leaves[proven.index]
                del proven.inclusion_proof[:]
                proven.inclusion_proof.extend(merkle.inclusion_proof(proven.index, fake_cp.size, get))
            if hint is None:
                del doctored.commitments_xy[:]
            else:
                doctored.commitments_xy[0] = hint
            with pytest.raises(VerificationError, match="C\\* is not a valid G1 point|prime-order subgroup"):
                verify_rating(ally, doctored, fake_cp, tag)


def reported_ledger(world: World, reporters: str) -> tuple[list[bytes], list[int]]:
    """The whole cosigned ledger after one report about S1 by each of `reporters` (member
    names, in order), and the indices of the reports on it."""
    for who in reporters:
        world.report(who, S1, "fake_traffic", "minor")
    world.cosign()
    store = world.operator.ledger.store
    leaves = store.entries(0, store.size())
    return leaves, [i for i, leaf in enumerate(leaves)
                    if isinstance(wire.signed_entry_from_bytes(leaf).entry.body, e.ReportCommitted)]


def test_mirror_batch_verification_refuses_what_apply_refuses(world: World, tmp_path: Path) -> None:
    """A trustee mirror verifies runs of reports in batches (client.batch.verify_batch).
    An operator serving a report whose validity proof or ring signature is another's, in
    the middle of a run of honest reports, is refused at that very entry, with the message
    entry-by-entry verification gives, and nothing of the page is stored. So is an entry
    whose regulator or operator signature is forged, which the pool checks while the page
    is staged (`state.stateless_checks`), and a report or governance entry served in a
    non-canonical encoding, which only the pool's workers decode with that check."""
    from client.connection import Connection
    from server.mirror import Mirror, _Page
    from server.staging import Staging
    from tests.test_reporting import entry_field_twice

    leaves, reports = reported_ledger(world, "abcab")
    assert len(reports) == 5
    victim, donor = reports[2], reports[3]
    ally = world.operator.ledger.alliance
    governance = [i for i, leaf in enumerate(leaves[1:], 1)
                  if state.genesis_signer(ally, wire.signed_entry_from_bytes(leaf)) is not None]
    signed_victim = governance[len(governance) // 2]
    victims = {"ring": victim, "proof": victim, "signature": signed_victim,
               "report encoding": victim, "governance encoding": signed_victim}

    def swapped(field: str) -> list[bytes]:
        out = list(leaves)
        if field.endswith("encoding"):
            out[victims[field]] = entry_field_twice(leaves[victims[field]])
            return out
        if field == "signature":
            signed = wire.signed_entry_from_bytes(leaves[signed_victim])
            assert signed.signature is not None
            flipped = bytes([signed.signature.signature[0] ^ 1]) + signed.signature.signature[1:]
            out[signed_victim] = wire.signed_entry_to_bytes(dataclasses.replace(
                signed, signature=e.Signature(signed.signature.key_id, flipped)))
            return out
        signed, other = (wire.signed_entry_from_bytes(leaves[i]) for i in (victim, donor))
        if field == "ring":
            out[victim] = wire.signed_entry_to_bytes(dataclasses.replace(signed, ring_signature=other.ring_signature))
        else:
            body, donor_body = signed.entry.body, other.entry.body
            assert isinstance(body, e.ReportCommitted) and isinstance(donor_body, e.ReportCommitted)
            entry = dataclasses.replace(signed.entry, body=dataclasses.replace(
                body, validity_proof=donor_body.validity_proof))
            out[victim] = wire.signed_entry_to_bytes(dataclasses.replace(
                signed, entry=entry, entry_bytes=wire.entry_to_bytes(entry)))
        return out

    ident = Identity.load(world.alliance / "trustee-1")
    address = f"127.0.0.1:{world.operator.port}"
    verdicts: dict[tuple[str, bool], str] = {}
    for n, (field, batched) in enumerate((f, b) for f in ("ring", "proof", "signature", "report encoding",
                                                          "governance encoding", "honest")
                                         for b in (True, False)):
        mirror = Mirror(ident, Connection(ident, address), open_store(str(tmp_path / f"m{n}.db")),
                        tmp_path / f"m{n}.state")
        served = leaves if field == "honest" else swapped(field)
        mirror.conn.entries = lambda start, end, served=served: served[start:end]  # type: ignore[method-assign,misc]
        if not batched:  # entry by entry: every report through state.apply(verify=True)
            def unbatched(leaves: list[bytes], after: Any = None, m: Mirror = mirror) -> _Page:
                return _Page(leaves, Staging(m.store, m.view), failed=True)

            mirror._stage_batched = unbatched  # type: ignore[method-assign]
        try:
            if field == "honest":
                verified_alone: list[int] = []
                prechecked: list[int] = []
                honest_apply = state.apply

                def apply(view: Any, ally: Any, index: int, signed: e.SignedEntry, **kw: Any) -> Any:
                    if kw.get("verify", True) and isinstance(signed.entry.body, e.ReportCommitted):
                        verified_alone.append(index)
                    if kw.get("prechecked"):
                        prechecked.append(index)
                    return honest_apply(view, ally, index, signed, **kw)

                state.apply = apply
                try:
                    assert mirror.sync() == len(leaves)
                finally:
                    state.apply = honest_apply
                # batched: no report verified on its own; entry by entry: every one
                assert verified_alone == ([] if batched else reports)
                assert prechecked == (governance if batched else [])
                continue
            with pytest.raises(VerificationError, match=f"ledger entry {victims[field]} fails verification") as caught:
                mirror.sync()
            assert mirror.size() == 0
            verdicts[field, batched] = str(caught.value)
        finally:
            mirror.conn.close()
            mirror.store.close()
    assert verdicts["ring", True] == verdicts["ring", False]
    assert verdicts["proof", True] == verdicts["proof", False]
    assert verdicts["signature", True] == verdicts["signature", False]
    assert "signature on this" in verdicts["signature", True]
    for field in ("report encoding", "governance encoding"):  # checked by the worker that decodes it again
        assert verdicts[field, True] == verdicts[field, False]
        assert "not in canonical encoding" in verdicts[field, True]


def test_a_publication_checked_on_workers_is_refused_as_apply_refuses(world: World, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor's and a mirror's pool check each RatingPublished's crypto (C* from the
    commitments and the publication proof: `client.batch.check_publications`) while the
    replay applies it with every other check (`state.apply(defer=...)`). A publication whose
    proof is flipped, or whose score is lowered by one, each signed anew by its combiner so
    that only the crypto can tell, is named at its entry with the reason the one-process
    replay gives, and the mirror stores nothing of the page; the honest ledger replays to
    the same report both ways, and on workers the replaying process checks no
    publication's crypto itself."""
    from client.audit import AuditFailure, replay
    from client.connection import Connection
    from client.cpu import CpuPool
    from server.mirror import Mirror

    world.three_reporters(S1)
    world.epoch()
    world.cosign()
    store = world.operator.ledger.store
    leaves = store.entries(0, store.size())
    index, body = next((i, b) for i, b in ((i, wire.signed_entry_from_bytes(leaf).entry.body)
                                           for i, leaf in enumerate(leaves)) if isinstance(b, e.RatingPublished))
    flipped = bytes([body.proof[0] ^ 1]) + body.proof[1:]
    lies = {"proof": world.combiner_signed(dataclasses.replace(body, proof=flipped)),
            "score": world.combiner_signed(dataclasses.replace(body, score=body.score - 1))}
    here: list[combination.PublicationCrypto] = []
    crypto_here = combination.check_publication_crypto

    def counted(gens: Any, crypto: combination.PublicationCrypto, **kw: Any) -> None:
        here.append(crypto)
        crypto_here(gens, crypto, **kw)

    monkeypatch.setattr(combination, "check_publication_crypto", counted)
    ident = Identity.load(world.alliance / "trustee-1")
    pool = CpuPool(2)
    try:
        _, alone = replay(leaves)
        assert len(here) == 1
        here.clear()
        assert replay(leaves, pool=pool)[1] == alone
        mirror = Mirror(ident, Connection(ident, f"127.0.0.1:{world.operator.port}"),
                        open_store(str(tmp_path / "honest.db")), tmp_path / "honest.state", cpu=pool)
        try:
            assert mirror.sync() == len(leaves)
        finally:
            mirror.conn.close()
            mirror.store.close()
        assert here == []  # the workers checked it, for the auditor and the mirror
        for n, (name, lie) in enumerate(lies.items()):
            served = list(leaves)
            served[index] = world.operator_leaf(lie)
            with pytest.raises(AuditFailure) as one:
                replay(served)
            assert one.value.index == index and "publication proof does not verify" in one.value.reason, name
            with pytest.raises(AuditFailure) as on_pool:
                replay(served, pool=pool)
            assert (on_pool.value.index, on_pool.value.reason) == (one.value.index, one.value.reason)
            mirror = Mirror(ident, Connection(ident, f"127.0.0.1:{world.operator.port}"),
                            open_store(str(tmp_path / f"m{n}.db")), tmp_path / f"m{n}.state", cpu=pool)
            mirror.conn.entries = lambda start, end, served=served: served[start:end]  # type: ignore[method-assign,misc]
            try:
                with pytest.raises(VerificationError) as caught:
                    mirror.sync()
                assert str(caught.value) == f"ledger entry {index} fails verification in the mirror: {one.value.reason}"
                assert mirror.size() == 0
            finally:
                mirror.conn.close()
                mirror.store.close()
    finally:
        pool.close()


def test_mirror_stores_only_pages_inside_the_cosigned_checkpoint(world: World, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror commits a page before it fetches the next, so each page must be shown to be
    in the cosigned checkpoint's tree first (a consistency proof to it). An operator that
    serves, over pages of 3, two reports of one page in each other's place (a history that
    passes every state check but is not the checkpointed one) gets that page and everything
    after it refused, the pages before it stored. One whose GetEntries answers with more
    entries than asked, none, or entries from another index is refused at that page too,
    through the real `Connection.entries`, with nothing of the page stored."""
    from api.v1 import ledger_pb2
    from client.connection import Connection
    from server import mirror as mirror_module

    leaves, reports = reported_ledger(world, "abcabca")
    monkeypatch.setattr(mirror_module, "PAGE", 3)
    first, second = next((r, q) for r, q in zip(reports, reports[1:]) if r // 3 == q // 3 and q < len(leaves) - 3)
    page = first - first % 3
    ident = Identity.load(world.alliance / "trustee-1")

    def mirror(name: str) -> mirror_module.Mirror:
        return mirror_module.Mirror(ident, Connection(ident, f"127.0.0.1:{world.operator.port}"),
                                    open_store(str(tmp_path / f"{name}.db")), tmp_path / f"{name}.state")

    forked = list(leaves)
    forked[first], forked[second] = leaves[second], leaves[first]
    m = mirror("forked")
    try:
        m.conn.entries = lambda start, end: forked[start:end]  # type: ignore[method-assign]
        with pytest.raises(VerificationError, match=f"entries \\[0, {page + 3}\\) that are not a prefix of its "
                                                    f"cosigned checkpoint of size {len(leaves)}"):
            m.sync()
        assert m.size() == page
        assert m.store.entries(0, page) == leaves[:page]
    finally:
        m.conn.close()
        m.store.close()

    served_badly = {
        "more": lambda resp: resp.entries.append(resp.entries[-1]),
        "none": lambda resp: resp.ClearField("entries"),
        "elsewhere": lambda resp: setattr(resp, "start", resp.start + 1),
    }
    for name, spoil in served_badly.items():
        m = mirror(name)
        honest_call = m.conn.call

        def call(method: Any, request: Any, honest_call: Any = honest_call, spoil: Any = spoil) -> Any:
            resp = honest_call(method, request)
            if isinstance(request, ledger_pb2.GetEntriesRequest) and request.start == page:
                spoil(resp)
            return resp

        m.conn.call = call  # type: ignore[method-assign]
        try:
            with pytest.raises(VerificationError, match=f"asked for ledger entries \\[{page}, {page + 3}\\), "
                                                        "the operator served"):
                m.sync()
            assert m.size() == page, name
        finally:
            m.conn.close()
            m.store.close()


def test_mirror_pages_overlap_and_stop_at_the_first_bad_entry(world: World, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror stages the next page on top of one still being verified (`Mirror._extend`).
    Over pages of 3 entries, on worker processes: an honest ledger is stored exactly; a
    report whose ring signature is another's, in a middle page or the last, is refused at
    that entry with the message entry-by-entry verification gives, every page before it is
    stored, and nothing staged on top of the bad page. So is a report served again a page
    after the first copy, which is pending when the page holding the copy is staged: the
    "is it new?" read must see through it. An operator that goes away while the next page
    is fetched leaves the pages fetched before stored."""
    from client.connection import Connection
    from client.cpu import CpuPool
    from server import mirror as mirror_module

    leaves, reports = reported_ledger(world, "abcabca")
    store = world.operator.ledger.store
    monkeypatch.setattr(mirror_module, "PAGE", 3)
    ident = Identity.load(world.alliance / "trustee-1")
    pool = CpuPool(2)
    try:
        replayed, original = next((r, o) for r in reports for o in reports if o // 3 == r // 3 - 1)
        cases = ((None, ""), (reports[2], "ring signature"), (reports[-1], "ring signature"),
                 (replayed, "report [0-9a-f]+ is already on the ledger"))
        for n, (victim, refusal) in enumerate(cases):
            served = list(leaves)
            if victim == replayed:
                served[victim] = leaves[original]
            elif victim is not None:
                signed = wire.signed_entry_from_bytes(leaves[victim])
                other = wire.signed_entry_from_bytes(leaves[reports[0]])
                served[victim] = wire.signed_entry_to_bytes(
                    dataclasses.replace(signed, ring_signature=other.ring_signature))
            mirror = mirror_module.Mirror(ident, Connection(ident, f"127.0.0.1:{world.operator.port}"),
                                          open_store(str(tmp_path / f"p{n}.db")), tmp_path / f"p{n}.state", cpu=pool)
            gone_from = [6 if victim == reports[2] else len(leaves)]  # the operator goes away at this entry

            def entries(start: int, end: int, served: list[bytes] = served) -> list[bytes]:
                if start >= gone_from[0]:
                    raise Unavailable("operator unreachable")
                return served[start:end]

            mirror.conn.entries = entries  # type: ignore[method-assign]
            try:
                if victim is None:
                    alone: list[int] = []  # reports verified one at a time: a page that fell back
                    honest_apply = state.apply

                    def apply(view: Any, ally: Any, index: int, signed: e.SignedEntry, **kw: Any) -> Any:
                        if kw.get("verify", True) and isinstance(signed.entry.body, e.ReportCommitted):
                            alone.append(index)
                        return honest_apply(view, ally, index, signed, **kw)

                    monkeypatch.setattr(state, "apply", apply)
                    assert mirror.sync() == len(leaves)
                    monkeypatch.setattr(state, "apply", honest_apply)
                    assert alone == []  # every page held the batched way, reading through the one beneath
                    assert mirror.store.entries(0, len(leaves)) == leaves
                    assert mirror.store.scan("", limit=10_000) == store.scan("", limit=10_000)
                    continue
                if gone_from[0] < len(leaves):  # away after two pages: both are stored
                    with pytest.raises(Unavailable):
                        mirror.sync()
                    assert mirror.size() == 6
                    gone_from[0] = len(leaves)
                with pytest.raises(VerificationError,
                                   match=f"ledger entry {victim} fails verification in the mirror: {refusal}"):
                    mirror.sync()
                assert mirror.size() == victim - victim % 3
            finally:
                mirror.conn.close()
                mirror.store.close()
    finally:
        pool.close()
