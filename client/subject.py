"""The subject's SDK, and the dispute docket and member report list (docs/subjects.md).

`SubjectClient.own_record` reads the caller's own record from SubjectService.GetSubjectRecord
and verifies it: the checkpoint carries the genesis witness quorum and is consistent with
this client's last view; every entry is included in that checkpoint's tree; the enrolment
is the regulator's and names this folder's tag and keys; every entry is about this subject
(its reports, entries naming those reports or their disputes, ratings of its tag); governance
and rating entries carry the regulator's or operator's signature. Statuses, due dates and the
rating history are then derived from the entries themselves (`core.record`). Its query log
comes from RatingService.ListQueries, verified against QueryLogCommitted (client/queries.py).

`SubjectClient.disputes` does the same for the regulator's docket. `own_reports` lists a
member's own reports from the ledger alone: it downloads the entries, checks them against
the cosigned root, and recognises its reports by the link tag it computes itself for each
subject (`core.ring.link_tag`), so no server keeps a list of who reported what.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from api import wire
from api.v1 import rating_pb2, subject_pb2
from client.queries import LoggedQuery
from client.ratings import Rating, RatingClient, Unrated, _included, verify_rating
from core import entries as e
from core import merkle, record
from core.access import check_served_signature, open_tier, tier_aad
from core.alliance import Alliance
from core.checkpoint import Checkpoint
from core.errors import CandorError, InvalidInput, VerificationError
from core.pedersen import Tier
from core.ring import RingSignature, link_tag
from core.rules import check_canonical
from core.signing import VerifyKey, key_id

SUBJECT_TAG_FILE = "subject.tag"
SUBJECT_ENCRYPTION_KEY = "encryption.key"


@dataclass(frozen=True)
class SubjectRecord:
    """A subject's verified record: reports with statuses, rating history, query log."""

    subject_tag: str
    enrolled_at: int
    access_authorised_at: int | None
    rating: Rating | Unrated
    reports: tuple[record.ReportStatus, ...]
    ratings: tuple[record.RatingEvent, ...]
    queries: tuple[LoggedQuery, ...]
    checkpoint_size: int
    tiers: tuple[TierAccess, ...] = ()


@dataclass(frozen=True)
class TierAccess:
    """One report's tier as served to the subject (docs/subjects.md, "Your tiers").

    `state`: "sealed" (served; open it with `tiers=True`), "shown" (`tier` holds it),
    "withheld" (the report did not open its own commitment: evidence went to the regulator,
    no tier was released) or "waiting" (authorised, not served yet)."""

    report_id: str
    index: int
    category: str
    state: str
    tier: str | None
    served_at: int | None
    combiner: int | None


@dataclass(frozen=True)
class OwnReport:
    """One of a member's own reports, found on the ledger by its link tag."""

    report_id: str
    index: int
    subject_tag: str
    category: str
    incident_date: str
    status: str
    disputes: tuple[record.Dispute, ...]


Keys = dict[str, tuple[str, bytes]]
"""Key id -> (who, Ed25519 public key) of the signers a response lets the client name."""


def genesis_keys(ally: Alliance) -> Keys:
    return dict(ally.genesis_signers)


def _author(signed: e.SignedEntry, keys: Keys) -> str:
    """Who signed `signed`: "ring" for a ring signature; a signer of `keys`, checked against
    its key; "member" for another Ed25519 key (the entry's inclusion in the cosigned tree is
    proven, and the ledger checked the member's key when appending it)."""
    sig = signed.signature
    if sig is None:
        return "ring"
    known = keys.get(sig.key_id)
    if known is None:
        return "member"
    VerifyKey.from_bytes(known[1]).verify(signed.signed_message(), sig.signature)
    return known[0]


def _locate(proven: Sequence[rating_pb2.ProvenEntry], cp: Checkpoint, keys: Keys) -> list[record.Located]:
    """Each entry proven in `cp`, in ascending order, with its author. Regulator-signed
    MemberAdmitted and SubjectEnrolled entries among them name further signers."""
    out = []
    last = -1
    keys = dict(keys)
    for p in proven:
        if p.index <= last:
            raise VerificationError("the entries served are not in ascending ledger order")
        last = p.index
        signed = _included(p, cp, "an entry of the record")
        try:
            author = _author(signed, keys)
        except CandorError as exc:
            raise VerificationError(f"entry {p.index} ({signed.entry.kind}) carries a bad signature: {exc}") from None
        body = signed.entry.body
        if author == "regulator" and isinstance(body, e.MemberAdmitted):
            keys[key_id(body.signing_key)] = (f"member {body.member_id}", body.signing_key)
        elif author == "regulator" and isinstance(body, e.SubjectEnrolled):
            keys[key_id(body.signing_key)] = ("subject", body.signing_key)
        out.append(record.Located(p.index, signed.entry, author))
    return out


_SIGNED_BY = {
    e.DisputeResolved: ("regulator",), e.SubjectAccessAuthorised: ("regulator",), e.FraudFound: ("regulator",),
    e.RatingRequested: ("operator",), e.RatingPublished: ("operator",), e.RatingHeld: ("operator",),
    e.RatingWithdrawn: ("operator",), e.ReportCommitted: ("ring",), e.ReportRetracted: ("ring",),
    e.SubjectAccessServed: ("operator",),
    e.DisputeFiled: ("regulator", "member", "subject"),
}


def check_about(entries: Sequence[record.Located], subject_tag: bytes) -> None:
    """Every entry is about `subject_tag` and signed by whom its kind requires."""
    reports: set[bytes] = set()
    disputes: set[bytes] = set()
    for item in entries:
        body = item.entry.body
        allowed = _SIGNED_BY.get(type(body))
        if allowed is None or item.author.split(" ")[0] not in allowed:
            raise VerificationError(f"entry {item.index} ({item.entry.kind} by {item.author}) has no place in a "
                                    "subject's record")
        if isinstance(body, e.ReportCommitted):
            about = body.subject_tag == subject_tag
            reports.add(body.report_id)
        elif isinstance(body, (e.ReportRetracted, e.FraudFound)):
            about = body.report_id in reports
        elif isinstance(body, e.DisputeFiled):
            about = body.report_id in reports
            disputes.add(body.dispute_id)
        elif isinstance(body, e.DisputeResolved):
            about = body.dispute_id in disputes
        else:
            about = getattr(body, "subject_tag", None) == subject_tag
        if not about:
            raise VerificationError(f"entry {item.index} ({item.entry.kind}) is not about this subject")


class SubjectClient(RatingClient):
    """The subject's own record (role subject), and the regulator's dispute docket."""

    def __enter__(self) -> Self:
        return self

    def own_tag(self) -> bytes:
        if self.identity.role != "subject":
            raise InvalidInput(f"this is a {self.identity.role} identity; `candor subject record` reads a subject's "
                               "own record with the folder `candor subject enrol` wrote")
        return self.identity.hex_file(SUBJECT_TAG_FILE)

    def own_record(self, today: _dt.date | None = None, tiers: bool = False) -> SubjectRecord:
        tag = self.own_tag()
        day = today or _dt.datetime.now(_dt.UTC).date()
        resp = self.conn.call(self.conn.subject.GetSubjectRecord, subject_pb2.GetSubjectRecordRequest())
        cp = self.verifier.accept(resp.checkpoint.note, self.conn)
        if resp.checkpoint.size != cp.size:
            raise VerificationError("the record's proofs are for another checkpoint than the one it carries")
        ally = self.verifier.alliance
        enrolment = _included(resp.enrolment, cp, "the enrolment")
        body = enrolment.entry.body
        if _author(enrolment, genesis_keys(ally)) != "regulator" or not isinstance(body, e.SubjectEnrolled) \
                or body.subject_tag != tag:
            raise VerificationError("the enrolment served is not the regulator's SubjectEnrolled of this subject")
        signing_public = self.identity.signing_key().public_key().public_bytes_raw()
        if body.signing_key != signing_public:
            raise VerificationError("the enrolment served names another signing key than this folder's: it is "
                                    "not this enrolment")
        entries = _locate(resp.entries, cp, {**genesis_keys(ally),
                                             key_id(body.signing_key): ("subject", body.signing_key)})
        check_about(entries, tag)
        rule_sets = []
        for item in _locate(resp.rule_sets, cp, genesis_keys(ally)):
            if item.author != "regulator" or not isinstance(item.entry.body, e.RuleSetPublished):
                raise VerificationError(f"entry {item.index} is not a regulator's RuleSetPublished")
            rule_sets.append(check_canonical(item.entry.body.canonical_toml, ally.genesis.categories))
        rules = record.rules_in_force(rule_sets, day)
        access = next((i.index for i in reversed(entries) if isinstance(i.entry.body, e.SubjectAccessAuthorised)),
                      None)
        served = self._tiers(entries, access, body.encryption_key if tiers else None)
        return SubjectRecord(
            subject_tag=tag.hex(), enrolled_at=resp.enrolment.index, access_authorised_at=access,
            rating=self.own_rating(tag),
            reports=tuple(record.report_statuses(entries, rules, day)),
            ratings=tuple(record.rating_history(entries)), queries=tuple(self.queries(None)),
            checkpoint_size=cp.size, tiers=served)

    def _tiers(self, entries: Sequence[record.Located], access: int | None,
               encryption_public: bytes | None) -> tuple[TierAccess, ...]:
        """The reports the newest access grant covers, each with what was served for it: every
        SubjectAccessServed must name a report of this record below the grant, come from the
        combiner designated for it and carry its signature. With `encryption_public` (the
        enrolment's X25519 key), open each sealed tier with this folder's private key."""
        if access is None:
            return ()
        ally = self.verifier.alliance
        reports: dict[int, e.ReportCommitted] = {}
        served: dict[int, tuple[int, e.SubjectAccessServed]] = {}
        for item in entries:
            entry = item.entry.body
            if isinstance(entry, e.ReportCommitted):
                reports[item.index] = entry
            if not isinstance(entry, e.SubjectAccessServed) or entry.authorisation != access:
                continue
            if entry.report not in reports or entry.report in served:
                raise VerificationError(f"entry {item.index} serves report entry {entry.report}, which is not a "
                                        "report of this record awaiting its tier")
            check_served_signature(ally.genesis, ally.genesis_hash, entry)
            served[entry.report] = (item.index, entry)
        private = None
        if encryption_public is not None:
            private = self.identity.hex_file(SUBJECT_ENCRYPTION_KEY)
            if X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw() != encryption_public:
                raise VerificationError("this folder's encryption.key is not the X25519 key the enrolment names")
        out = []
        for index, report in sorted(reports.items()):
            if index >= access:
                continue
            got = served.get(index)
            kind, tier = "waiting", None
            if got is not None and not got[1].opens:
                kind = "withheld"
            elif got is not None and private is None:
                kind = "sealed"
            elif got is not None and private is not None:
                aad = tier_aad(ally.genesis_hash, report.subject_tag, report.report_id, access)
                kind, tier = "shown", Tier(open_tier(private, aad, got[1].sealed)).name.lower()
            out.append(TierAccess(report.report_id.hex(), index, report.category, kind, tier,
                                  None if got is None else got[0], None if got is None else got[1].combiner))
        return tuple(out)

    def own_rating(self, tag: bytes) -> Rating | Unrated:
        """The subject's current rating state, verified like a member's (purpose self: it
        shows in its own query log)."""
        resp = self.conn.call(self.conn.rating.GetRating, rating_pb2.GetRatingRequest(subject_tag=tag, purpose="self"))
        cp = self.verifier.accept(resp.checkpoint.note, self.conn)
        return verify_rating(self.verifier.alliance, resp, cp, tag)

    def disputes(self, open_only: bool = False) -> list[tuple[record.Dispute, e.ReportCommitted]]:
        """The regulator's docket: every dispute (or only open ones) with the report it names."""
        resp = self.conn.call(self.conn.subject.ListDisputes, subject_pb2.ListDisputesRequest(open_only=open_only))
        if not resp.entries:
            return []
        cp = self.verifier.accept(resp.checkpoint.note, self.conn)
        if resp.checkpoint.size != cp.size:
            raise VerificationError("the docket's proofs are for another checkpoint than the one it carries")
        entries = _locate(resp.entries, cp, genesis_keys(self.verifier.alliance))
        reports = {i.entry.body.report_id: i.entry.body for i in entries if isinstance(i.entry.body, e.ReportCommitted)}
        out = []
        for d in record.disputes_of(entries):
            report = reports.get(bytes.fromhex(d.report_id))
            if report is None:
                raise VerificationError(f"dispute {d.dispute_id} names report {d.report_id}, which the docket omits")
            out.append((d, report))
        return out


def own_reports(client: RatingClient, reporting_key: int, subject_tag: bytes | None = None,
                today: _dt.date | None = None) -> list[OwnReport]:
    """A member's own reports (all, or about `subject_tag`), from the ledger alone (module
    docstring). Costs one download of the ledger and one link tag per distinct subject."""
    head = client.conn.checkpoint()
    cp = client.verifier.accept(head.note, client.conn)
    leaves: list[bytes] = []
    while len(leaves) < cp.size:
        leaves.extend(client.conn.entries(len(leaves), cp.size))
    if merkle.root([merkle.leaf_hash(leaf) for leaf in leaves[:cp.size]]) != cp.root_hash:
        raise VerificationError("the entries served do not hash to the cosigned checkpoint's root")
    mine: dict[bytes, bytes] = {}  # subject tag -> this member's link tag for it
    located = []
    ours: set[bytes] = set()
    for index, leaf in enumerate(leaves[:cp.size]):
        signed = wire.signed_entry_from_bytes(leaf, check_canonical=False)
        body = signed.entry.body
        located.append(record.Located(index, signed.entry, "ring" if signed.ring_signature else "signed"))
        if not isinstance(body, e.ReportCommitted) or signed.ring_signature is None \
                or (subject_tag is not None and body.subject_tag != subject_tag):
            continue
        if body.subject_tag not in mine:
            mine[body.subject_tag] = link_tag(reporting_key, body.subject_tag)
        if RingSignature.link_tag_of(signed.ring_signature) == mine[body.subject_tag]:
            ours.add(body.report_id)
    day = today or _dt.datetime.now(_dt.UTC).date()
    rule_sets = [check_canonical(i.entry.body.canonical_toml, client.verifier.alliance.genesis.categories)
                 for i in located if isinstance(i.entry.body, e.RuleSetPublished)]
    statuses = record.report_statuses(located, record.rules_in_force(rule_sets, day), day)
    tags = {i.entry.body.report_id: i.entry.body.subject_tag for i in located
            if isinstance(i.entry.body, e.ReportCommitted)}
    return [OwnReport(s.report_id, s.index, tags[bytes.fromhex(s.report_id)].hex(), s.category, s.incident_date,
                      s.status, s.disputes)
            for s in statuses if bytes.fromhex(s.report_id) in ours]
