"""Verify a rating locally, from the ledger's own bytes (docs/ratings.md).

`verify_rating` takes what RatingService.GetRating returned and re-derives everything a
member relies on: the checkpoint carries the genesis witness quorum (and the caller checks
it is consistent with its own view); the rating, the request it answers, its rule set and
every report of its active set are included in that checkpoint's tree; the rating and the
request are the operator's and the rule set the regulator's; the reports are about this
subject and their weights follow from the rule set and their incident dates; and then the
one core check of a publication (`core.combination.check_publication`, the very function the
ledger runs on append): it answers its request, has k distinct reporters, carries the
designated combiner's signature, its publication proof binds the score to C* recomputed
from the commitments, and the grade is the score's. No count is published, so none is
shown. Any failure raises `VerificationError`; a `Rating` exists only once all of that
passed. What a member cannot check without the whole ledger (that no report was left out
or retracted in between, that the request is the newest) is what `candor audit` re-checks.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from api import wire
from api.identity import Identity
from api.v1 import rating_pb2
from client.connection import Connection
from client.queries import LoggedQuery, verify_queries, verify_whole_commitment
from client.verifier import LogVerifier
from core import entries as e
from core import merkle
from core.alliance import Alliance
from core.checkpoint import Checkpoint
from core.combination import check_publication
from core.errors import CandorError, VerificationError
from core.rating import ReportInfo
from core.ring import RingSignature
from core.rules import check_canonical, weight
from core.signing import VerifyKey, key_id
from core.subject import subject_tag

STATES = ("unrated", "below_k", "rated", "rated_changes_waiting", "held", "disputed")
"""What GetRating says about a subject (docs/ratings.md, "GetRating")."""


@dataclass(frozen=True)
class Rating:
    """A verified published rating: a score and its grade, never a count."""

    subject_tag: str
    grade: str
    score: int
    rule_set: str
    as_of: str
    ledger_size: int
    reports: int
    reporters: int
    pending: int
    checkpoint_size: int
    state: str = "rated"
    waiting_since: str = ""
    verified: bool = True

    def __post_init__(self) -> None:
        if self.verified is not True:
            raise VerificationError("a Rating is only ever built after verification")

    @property
    def shown_score(self) -> int:
        """The score as shown: a score below zero is shown as 0 (graded D)."""
        return max(0, self.score)


@dataclass(frozen=True)
class Unrated:
    """No rating is published for the subject: `state` is unrated, below_k (fewer than
    k distinct reporters: `reporters` of `k`) or held (the combiner's verdict is on the
    ledger: the aggregate did not open; awaiting an investigation)."""

    subject_tag: str
    pending: int
    checkpoint_size: int
    state: str = "unrated"
    reporters: int = 0
    k: int = 0
    verified: bool = True


def _included(proven: rating_pb2.ProvenEntry, cp: Checkpoint, what: str) -> e.SignedEntry:
    _all_included([proven], cp, what)
    return _decoded(proven, what)


def _all_included(proven: Sequence[rating_pb2.ProvenEntry], cp: Checkpoint, what: str) -> None:
    """Every entry's inclusion proof against `cp`, verified together (`merkle.verify_inclusions`
    does the nodes they share once; each is accepted iff it would be alone)."""
    try:
        merkle.verify_inclusions([(merkle.leaf_hash(p.entry), p.index, p.inclusion_proof) for p in proven],
                                 cp.size, cp.root_hash)
    except CandorError:
        for p in proven:  # name the first entry that fails
            try:
                merkle.verify_inclusion(merkle.leaf_hash(p.entry), p.index, cp.size, list(p.inclusion_proof),
                                        cp.root_hash)
            except CandorError as exc:
                raise VerificationError(f"{what} (entry {p.index}) is not proven in the cosigned checkpoint: "
                                        f"{exc}") from None
        raise


def _decoded(proven: rating_pb2.ProvenEntry, what: str) -> e.SignedEntry:
    try:
        # The bytes are bound to the cosigned tree, so the canonical-encoding re-check is moot.
        return wire.signed_entry_from_bytes(proven.entry, check_canonical=False)
    except CandorError as exc:
        raise VerificationError(
            f"{what} (entry {proven.index}) is not proven in the cosigned checkpoint: {exc}") from None


def _signed_by(signed: e.SignedEntry, key: bytes, who: str) -> None:
    if signed.signature is None or signed.signature.key_id != key_id(key):
        raise VerificationError(f"{signed.entry.kind} is not signed by the {who}")
    VerifyKey.from_bytes(key).verify(signed.signed_message(), signed.signature.signature)


def verify_rating(ally: Alliance, resp: rating_pb2.RatingResponse, cp: Checkpoint,
                  subject_tag: bytes) -> Rating | Unrated:
    """Everything above; `cp` is the response's checkpoint, already opened with the quorum."""
    if resp.checkpoint.size != cp.size:
        raise VerificationError("the response's proofs are for another checkpoint than the one it carries")
    answer_state = resp.state or ("rated" if resp.rated else "unrated")
    if answer_state not in STATES:
        raise VerificationError(f"the operator says the subject is {answer_state!r}, not one of {', '.join(STATES)}")
    g = ally.genesis
    if not resp.rated:
        if answer_state in ("rated", "rated_changes_waiting"):
            raise VerificationError("the operator says the subject is rated but sends no rating")
        if answer_state == "held":
            held = _included(resp.held, cp, "the held verdict")
            _signed_by(held, g.operator_key, "operator")
            if not isinstance(held.entry.body, e.RatingHeld) or held.entry.body.subject_tag != subject_tag:
                raise VerificationError("the held verdict returned is not a RatingHeld about this subject")
        return Unrated(subject_tag.hex(), resp.pending_reports, cp.size, answer_state, resp.reporters, resp.k)
    rating_entry = _included(resp.rating, cp, "the rating")
    _signed_by(rating_entry, g.operator_key, "operator")
    body = rating_entry.entry.body
    if not isinstance(body, e.RatingPublished) or body.subject_tag != subject_tag:
        raise VerificationError("the operator returned a rating entry for another subject or of another type")
    request_entry = _included(resp.request, cp, "the rating request")
    _signed_by(request_entry, g.operator_key, "operator")
    request = request_entry.entry.body
    if not isinstance(request, e.RatingRequested) or resp.request.index != body.request_index:
        raise VerificationError(
            f"entry {resp.request.index} is not the request {body.request_index} the rating answers")
    rules_entry = _included(resp.rule_set, cp, "the rule set")
    _signed_by(rules_entry, g.regulator_key, "regulator")
    rules_body = rules_entry.entry.body
    if not isinstance(rules_body, e.RuleSetPublished) or rules_body.version != body.rule_set_version:
        raise VerificationError(f"the rule set returned is not version {body.rule_set_version} that the rating names")
    rules = check_canonical(rules_body.canonical_toml, g.categories)
    as_of = _dt.date.fromisoformat(body.as_of)
    if rules.effective_from > as_of:
        raise VerificationError(f"rule set {rules.version} was not yet in force on {body.as_of}")

    if [p.index for p in resp.reports] != list(body.active_set):
        raise VerificationError("the reports returned are not the rating's active set, in order")
    xy = list(resp.commitments_xy) or None
    if xy is not None and len(xy) != len(resp.reports):
        raise VerificationError(f"{len(xy)} uncompressed commitments for {len(resp.reports)} reports")
    _all_included(resp.reports, cp, "a report of the active set")
    infos: list[ReportInfo] = []
    weights: dict[tuple[str, str], int] = {}  # many reports share a category and incident date
    for proven, w in zip(resp.reports, body.weights, strict=True):
        if proven.index >= body.ledger_size:
            raise VerificationError(
                f"entry {proven.index} is beyond the ledger size {body.ledger_size} the rating covers")
        signed = _decoded(proven, "a report of the active set")
        report = signed.entry.body
        if not isinstance(report, e.ReportCommitted) or report.subject_tag != subject_tag \
                or signed.ring_signature is None:
            raise VerificationError(f"entry {proven.index} in the active set is not a report about this subject")
        incident = _dt.date.fromisoformat(report.incident_date)
        expected = weights.get((report.category, report.incident_date))
        if expected is None:
            expected = weights[report.category, report.incident_date] = weight(rules, incident, as_of,
                                                                                category=report.category)
        if expected != w:
            raise VerificationError(f"entry {proven.index} has weight {w} in the rating; the rule set gives {expected}")
        infos.append(ReportInfo(index=proven.index, category=report.category, incident_date=incident,
                                link_tag=RingSignature.link_tag_of(signed.ring_signature),
                                commitment=report.commitment))
    check_publication(ally.generators, g, ally.genesis_hash, rules, body.request_index, request, infos, body,
                      commitments_xy=xy)
    shown = answer_state if answer_state in ("rated", "rated_changes_waiting", "disputed") else "rated"
    return Rating(
        subject_tag=subject_tag.hex(), grade=body.grade, score=body.score, rule_set=rules.version,
        as_of=body.as_of, ledger_size=body.ledger_size, reports=len(infos), reporters=body.reporters,
        pending=resp.pending_reports, checkpoint_size=cp.size, state=shown, waiting_since=resp.waiting_since,
    )


class RatingClient:
    """Query ratings and verify them; any member or the regulator.

    The checkpoint of every answer must carry the genesis witness quorum and be consistent
    with the last checkpoint this client verified (kept in `state_dir/verifier.state`).
    """

    def __init__(self, identity: Identity, address: str | None = None, state_dir: Path | None = None) -> None:
        self.identity = identity
        self.conn = Connection(identity, address)
        folder = state_dir or identity.path
        self.verifier = LogVerifier(identity.genesis_leaf(), folder / "verifier.state")

    def subject_tag(self, subject_id: str) -> bytes:
        return subject_tag(self.identity.hex_file("subject.key"), subject_id)

    def get_rating(self, subject_id: str, purpose: str) -> Rating | Unrated:
        tag = self.subject_tag(subject_id)
        resp = self.conn.call(self.conn.rating.GetRating, rating_pb2.GetRatingRequest(subject_tag=tag, purpose=purpose))
        cp = self.verifier.accept(resp.checkpoint.note, self.conn)
        return verify_rating(self.verifier.alliance, resp, cp, tag)

    def queries(self, subject_id: str | None = None) -> list[LoggedQuery]:
        """The query log as this caller may read it (docs/queries.md), every page verified
        against the ledger's QueryLogCommitted entries (client/queries.py)."""
        tag = b"" if subject_id is None else self.subject_tag(subject_id)
        out: list[LoggedQuery] = []
        after = 0
        while True:
            resp = self.conn.call(self.conn.rating.ListQueries,
                                  rating_pb2.ListQueriesRequest(subject_tag=tag, after=after))
            cp = self.verifier.accept(resp.checkpoint.note, self.conn) if resp.checkpoint.note else None
            out.extend(verify_queries(self.verifier.alliance, resp, cp, int(time.time() * 1000)))
            if not resp.next_after:
                return out
            after = resp.next_after

    def audit_queries(self, commitment: int) -> list[LoggedQuery]:
        """Regulator: every record of the QueryLogCommitted at ledger index `commitment`,
        checked against its count and root (client/queries.py)."""
        pages: list[rating_pb2.ListQueriesResponse] = []
        after = 0
        while True:
            resp = self.conn.call(self.conn.rating.ListQueries,
                                  rating_pb2.ListQueriesRequest(commitment=commitment, after=after))
            pages.append(resp)
            if not resp.next_after:
                break
            after = resp.next_after
        cp = self.verifier.accept(pages[0].checkpoint.note, self.conn)
        return verify_whole_commitment(self.verifier.alliance, pages, cp, commitment)

    def run_epoch(self) -> rating_pb2.RunEpochResponse:
        resp: rating_pb2.RunEpochResponse = self.conn.call(self.conn.rating.RunEpoch, rating_pb2.RunEpochRequest())
        return resp

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
