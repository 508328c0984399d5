"""Verify a rating locally, from the ledger's own bytes (DESIGN §6).

`verify_rating` takes what RatingService.GetRating returned and re-derives everything a
member relies on: the checkpoint carries the genesis witness quorum (and the caller checks
it is consistent with its own view); the rating, its rule set and every report of its
active set are included in that checkpoint's tree; the rating is the operator's and the
rule set the regulator's; the reports are about this subject, their weights follow from
the rule set and their incident dates, and they come from at least k distinct reporters;
the decrypted counts and R open the reports' commitments; and score and grade follow from
the counts. Any failure raises `VerificationError`; a `Rating` exists only once all of that
passed. What a member cannot check without the whole ledger (that no report was left out
or retracted in between) is what `candor audit` re-checks.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

from pathlib import Path

from candor import wire
from candor.identity import Identity
from candor.v1 import rating_pb2
from client.connection import Connection
from client.verifier import LogVerifier
from core import entries as e
from core import merkle, state
from core.checkpoint import Checkpoint
from core.errors import CandorError, VerificationError
from core.rating import check_opening, distinct_reporters, ReportInfo
from core.ring import RingSignature
from core.rules import check_canonical, score, weight
from core.signing import VerifyKey
from core.subject import subject_tag


@dataclass(frozen=True)
class Rating:
    subject_tag: str
    grade: str
    score: float
    rule_set: str
    as_of: str
    ledger_size: int
    reports: int
    reporters: int
    counts: dict[str, dict[str, float]]
    pending: int
    checkpoint_size: int
    verified: bool = True

    def __post_init__(self) -> None:
        if self.verified is not True:
            raise VerificationError("a Rating is only ever built after verification")


@dataclass(frozen=True)
class Unrated:
    """No rating is published for the subject (yet): below k reporters, or no report."""

    subject_tag: str
    pending: int
    checkpoint_size: int
    verified: bool = True


TIER_NAMES = ("minor", "general", "serious", "critical")


def _included(proven: rating_pb2.ProvenEntry, cp: Checkpoint, what: str) -> e.SignedEntry:
    try:
        merkle.verify_inclusion(merkle.leaf_hash(proven.entry), proven.index, cp.size, list(proven.inclusion_proof),
                                cp.root_hash)
        # The bytes are bound to the cosigned tree, so the canonical-encoding re-check is moot.
        return wire.signed_entry_from_bytes(proven.entry, check_canonical=False)
    except CandorError as exc:
        raise VerificationError(f"{what} (entry {proven.index}) is not proven in the cosigned checkpoint: {exc}") from None


def _signed_by(signed: e.SignedEntry, key: bytes, who: str) -> None:
    if signed.signature is None or signed.signature.key_id != state.key_id(key):
        raise VerificationError(f"{signed.entry.kind} is not signed by the {who}")
    VerifyKey.from_bytes(key).verify(signed.signed_message(), signed.signature.signature)


def verify_rating(ally: state.Alliance, resp: rating_pb2.RatingResponse, cp: Checkpoint,
                  subject_tag: bytes) -> Rating | Unrated:
    """Everything above; `cp` is the response's checkpoint, already opened with the quorum."""
    if resp.checkpoint.size != cp.size:
        raise VerificationError("the response's proofs are for another checkpoint than the one it carries")
    if not resp.rated:
        return Unrated(subject_tag.hex(), resp.pending_reports, cp.size)
    g = ally.genesis
    rating_entry = _included(resp.rating, cp, "the rating")
    _signed_by(rating_entry, g.operator_key, "operator")
    body = rating_entry.entry.body
    if not isinstance(body, e.RatingPublished) or body.subject_tag != subject_tag:
        raise VerificationError("the operator returned a rating entry for another subject or of another type")
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
    infos: list[ReportInfo] = []
    for proven, w in zip(resp.reports, body.weights):
        if proven.index >= body.ledger_size:
            raise VerificationError(f"entry {proven.index} is beyond the ledger size {body.ledger_size} the rating covers")
        signed = _included(proven, cp, "a report of the active set")
        report = signed.entry.body
        if not isinstance(report, e.ReportCommitted) or report.subject_tag != subject_tag or signed.ring_signature is None:
            raise VerificationError(f"entry {proven.index} in the active set is not a report about this subject")
        incident = _dt.date.fromisoformat(report.incident_date)
        expected = weight(rules, incident, as_of, category=report.category)
        if expected != w:
            raise VerificationError(f"entry {proven.index} has weight {w} in the rating; the rule set gives {expected}")
        infos.append(ReportInfo(index=proven.index, category=report.category, incident_date=incident,
                                link_tag=RingSignature.link_tag_of(signed.ring_signature),
                                commitment=report.commitment))
    reporters = distinct_reporters(infos, [r.index for r in infos])
    if reporters < rules.k_reporters:
        raise VerificationError(f"the rating rests on {reporters} distinct reporter(s); the rule set requires "
                                f"{rules.k_reporters}")
    # Commitments on the ledger were subgroup-checked at intake and by every audit replay.
    check_opening(ally.generators, [r.commitment for r in infos], list(body.weights), body.counts, body.r_sum,
                  subgroup_checked=False)
    score_milli, grade = score(rules, g.categories, body.counts)
    if (score_milli, grade) != (body.score_milli, body.grade):
        raise VerificationError(f"the rating claims {body.score_milli / 1000:g} ({body.grade}); its counts give "
                                f"{score_milli / 1000:g} ({grade})")
    return Rating(
        subject_tag=subject_tag.hex(), grade=grade, score=score_milli / 1000, rule_set=rules.version,
        as_of=body.as_of, ledger_size=body.ledger_size, reports=len(infos), reporters=reporters,
        counts=_counts(g.categories, body.counts), pending=resp.pending_reports, checkpoint_size=cp.size,
    )


def _counts(categories: Sequence[str], counts: Sequence[int]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for ci, code in enumerate(categories):
        tiers = {TIER_NAMES[t]: counts[4 * ci + t] / 1000 for t in range(4) if counts[4 * ci + t]}
        if tiers:
            out[code] = tiers
    return out


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
        cp = self._accept(resp.checkpoint.note)
        return verify_rating(self.verifier.alliance, resp, cp, tag)

    def _accept(self, note: bytes) -> Checkpoint:
        """Quorum-cosigned, and consistent with this client's head in either direction."""
        cp = self.verifier.open(note).checkpoint
        head = self.verifier.head
        if head is None or cp.size > head.size:
            self.verifier.update(note, self.conn.consistency, lambda s: self.conn.inclusion(0, s))
        elif cp.size == head.size:
            if cp.root_hash != head.root:
                raise VerificationError(f"fork: two different roots for size {cp.size}")
        else:
            merkle.verify_consistency(cp.size, head.size, cp.root_hash, head.root,
                                      self.conn.consistency(cp.size, head.size))
        return cp

    def queries(self, subject_id: str) -> list[dict[str, object]]:
        resp = self.conn.call(self.conn.rating.ListQueries,
                              rating_pb2.ListQueriesRequest(subject_tag=self.subject_tag(subject_id)))
        return [{"member": q.member, "purpose": q.purpose,
                 "time": _dt.datetime.fromtimestamp(q.time_ms / 1000, tz=_dt.timezone.utc).isoformat()}
                for q in resp.queries]

    def run_epoch(self) -> rating_pb2.RunEpochResponse:
        resp: rating_pb2.RunEpochResponse = self.conn.call(self.conn.rating.RunEpoch, rating_pb2.RunEpochRequest())
        return resp

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RatingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
