"""The ledger's state as a projection of its entries (docs/ledger.md).

Members, rule sets, reports, disputes and ratings are never written directly: they are what
`apply` derives from each entry, in order, starting at genesis. The server runs `apply`
before appending (an entry that does not fit the state is refused and nothing changes) and
the auditor runs the very same function while replaying the whole ledger, so the two can
only disagree if the stored bytes were tampered with.

State is a flat key/value map (values are canonical JSON) read through `StateView`, so the
same code runs over a database transaction, a server's pending batch or an auditor's dict.
`apply` returns the updates an entry makes; the caller commits them together with the entry,
in one transaction.

Checks that need the ledger state live here; checks of the bytes alone live in
`core.entries`. Cryptographic checks that can run before the sequencer (signatures, ring
signatures, validity proofs) are in `verify_crypto`, so a server can run them in parallel
and the sequencer only re-checks the cheap state conditions.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import gmpy2

from core import entries as e
from core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied, StaleRing, VerificationError

RETENTION_YEARS_DEFAULT = 5
DISPUTE_DAYS = 20  # the regulator answers a dispute within 20 days (征信业管理条例 Art 25)
CLOCK_SKEW_MS = 24 * 3600 * 1000

Updates = dict[str, "bytes | None"]


class StateView(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value at `key`, or None."""

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """All (key, value) pairs whose key starts with `prefix`, ordered by key."""


class Overlay:
    """A view of `base` with pending `updates` on top (for a batch not yet committed)."""

    def __init__(self, base: StateView) -> None:
        self.base = base
        self.updates: Updates = {}

    def get(self, key: str) -> bytes | None:
        if key in self.updates:
            return self.updates[key]
        return self.base.get(key)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        merged = dict(self.base.scan(prefix))
        for k, v in self.updates.items():
            if k.startswith(prefix):
                if v is None:
                    merged.pop(k, None)
                else:
                    merged[k] = v
        return sorted(merged.items())


class MemoryState:
    """A dict-backed `StateView` for auditors and tests."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def update(self, updates: Mapping[str, bytes | None]) -> None:
        for k, v in updates.items():
            if v is None:
                self.data.pop(k, None)
            else:
                self.data[k] = v


def dump(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def load(view: StateView, key: str) -> Any:
    raw = view.get(key)
    return None if raw is None else json.loads(raw)


def key_id(public_key: bytes) -> str:
    """Names an Ed25519 key in entry signatures: hex of SHA-256(key)[:8]."""
    return hashlib.sha256(public_key).digest()[:8].hex()


@dataclass(frozen=True)
class Alliance:
    """What genesis fixes forever, decoded once and cached by callers."""

    genesis: e.Genesis
    genesis_hash: bytes

    @cached_property
    def generators(self) -> Any:
        from core.group import default_group
        from core.pedersen import Generators

        return Generators(default_group(), self.genesis.categories)

    @cached_property
    def nsquare(self) -> int:
        return self.genesis.paillier_n**2


def alliance_of(signed: e.SignedEntry, leaf_hash: bytes) -> Alliance:
    body = signed.entry.body
    if not isinstance(body, e.Genesis):
        raise InvalidInput(f"entry 0 must be the genesis, found {signed.entry.kind}")
    return Alliance(genesis=body, genesis_hash=leaf_hash)


def current_ring(view: StateView) -> tuple[list[bytes], int]:
    """Reporting keys of every admitted, unrevoked member in admission order, and the index
    of the last entry that changed that set (a ring named at a size after it is current)."""
    ring = load(view, "ring") or {"keys": [], "changed_at": 0}
    return [bytes.fromhex(k) for k in ring["keys"]], int(ring["changed_at"])


def author_of(view: StateView, ally: Alliance, signed: e.SignedEntry) -> str:
    """Verify the Ed25519 signature and name its author: "regulator", "operator" or
    "member:<id>". Raises VerificationError / PermissionDenied."""
    from core.signing import VerifyKey

    sig = signed.signature
    if sig is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry an Ed25519 signature, not a ring signature")
    g = ally.genesis
    author: str | None = None
    key: bytes | None = None
    if sig.key_id == key_id(g.regulator_key):
        author, key = "regulator", g.regulator_key
    elif sig.key_id == key_id(g.operator_key):
        author, key = "operator", g.operator_key
    else:
        member = load(view, f"memberkey/{sig.key_id}")
        if member is not None:
            record = load(view, f"member/{member}")
            if record["revoked_at"] is not None:
                raise PermissionDenied(f"member {member} was revoked at entry {record['revoked_at']} and may not write")
            author, key = f"member:{member}", bytes.fromhex(record["signing_key"])
    if author is None:
        author, key = subject_author(view, sig.key_id)
    if author is None or key is None:
        raise PermissionDenied(f"signing key {sig.key_id} belongs to no regulator, operator, admitted member "
                               "or enrolled subject")
    try:
        VerifyKey.from_bytes(key).verify(signed.signed_message(), sig.signature)
    except VerificationError:
        raise VerificationError(f"the {author} signature on this {signed.entry.kind} entry does not verify") from None
    return author


def _require(author: str, allowed: Sequence[str], kind: str) -> None:
    role = author.split(":", 1)[0]
    if role not in allowed:
        raise PermissionDenied(f"only the {' or '.join(allowed)} may write {kind}; this entry is signed by the {role}")


def check_ring_named(ring_change: int, changed_at: int, index: int) -> None:
    """A report or retraction names its ring by the membership-change entry that defines it
    (docs/reports.md): that must be the latest change, `changed_at`, as of entry `index`."""
    if ring_change == changed_at:
        return
    if ring_change < changed_at:
        raise StaleRing(
            f"the member set changed at entry {changed_at}; this entry names the ring of entry {ring_change}: "
            f"rebuild the ring signature with ring_change = {changed_at}"
        )
    if ring_change >= index:
        raise InvalidInput(f"ring_change {ring_change} names an entry beyond the ledger's {index} entries")
    raise InvalidInput(f"entry {ring_change} is not a membership change (the last one is entry {changed_at}): "
                       f"set ring_change = {changed_at}")


def verify_ring_now(view: StateView, ally: Alliance, signed: e.SignedEntry, subject_tag: bytes, ring_change: int,
                 index: int) -> bytes:
    """Check the ring is current and the ring signature verifies; return the link tag."""
    from core.group import default_group
    from core.ring import RingSignature, ring_context, ring_verify

    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature so its author stays anonymous")
    ring, changed_at = current_ring(view)
    check_ring_named(ring_change, changed_at, index)
    if not ring:
        raise Conflict("no member is admitted: there is no ring to sign with")
    sig = RingSignature.from_bytes(signed.ring_signature)
    ring_verify(default_group(), ring_context(ally.genesis_hash, changed_at, tuple(ring)), subject_tag,
                signed.signed_message(), sig)
    return sig.link_tag


def spend_coupon(view: StateView, signed: e.SignedEntry, index: int) -> dict[str, bytes | None]:
    """Record the coupon a ring signature spends, refusing one the ledger has seen: a coupon
    signs once (two signatures sharing its Cx are linkable, and a repeated nonce would reveal
    the key; docs/reports.md, "Ring signature")."""
    from core.ring import RingSignature

    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature")
    key = f"coupon/{RingSignature.commitment_of(signed.ring_signature).hex()}"
    spent = load(view, key)
    if spent is not None:
        raise Conflict(f"this ring signature spends a coupon already spent by entry {spent}; a coupon signs once: "
                       "sign again with a fresh coupon")
    return {key: dump(index)}


def check_ciphertext(ally: Alliance, ciphertext: int) -> None:
    """A report's ciphertext must be a unit of Z*_{n²} (0 < c < n², gcd(c, n) = 1): a
    non-unit has no inverse, so every aggregate containing it would be undecryptable and
    the subject could never be rated again. It must also take exactly the bytes of n²
    (no leading zero byte), so its length is the same for every report (docs/reports.md)."""
    n, nsquare = ally.genesis.paillier_n, ally.nsquare
    if not 0 < ciphertext < nsquare:
        raise InvalidInput("ciphertext is outside 0 < c < n^2 of the alliance key: encrypt under the genesis key")
    if gmpy2.gcd(ciphertext, n) != 1:  # GMP: a third of math.gcd's time at 3072 bits
        raise InvalidInput("ciphertext is not a unit of Z*_{n^2} (it shares a factor with n), so no aggregate "
                           "containing it could be decrypted: encrypt as g^m * r^n mod n^2 with r coprime to n")
    width = (nsquare.bit_length() + 7) // 8
    if ciphertext.bit_length() <= 8 * (width - 1):
        raise InvalidInput(f"ciphertext is shorter than the {width} bytes of n^2; every report's ciphertext has that "
                           "length: encrypt again with a fresh randomiser")


def check_report(ally: Alliance, report: e.ReportCommitted) -> None:
    """The cheap checks of a report against the alliance: category and ciphertext. Run by
    `apply` on every report (verified or not), and first by `verify_report_crypto`."""
    if report.category not in ally.genesis.categories:
        raise InvalidInput(
            f"category {report.category!r} is not in the registry; use one of {', '.join(ally.genesis.categories)}"
        )
    check_ciphertext(ally, report.ciphertext)


def verify_report_crypto(ally: Alliance, report: e.ReportCommitted) -> None:
    """The one report verification, shared by the ledger, intake (single and batch) and the
    audit: `check_report`, then the validity proof. Everything but the ring."""
    from core.proofs import ReportStatement, ValidityProof, verify_validity

    check_report(ally, report)
    stmt = ReportStatement(
        genesis_hash=ally.genesis_hash,
        report_id=report.report_id,
        subject_tag=report.subject_tag,
        category=report.category,
        event_date=report.incident_date,
        commitment=report.commitment,
    )
    verify_validity(ally.generators, stmt, ValidityProof.from_bytes(report.validity_proof))


HOUR_MS = 3600 * 1000
#: How far either side of the turn of an hour the previous or next hour is still accepted.
HOUR_SLACK_MS = 5 * 60 * 1000


def report_hour(ms: int) -> int:
    """A time rounded down to the whole UTC hour: the only timestamps a report may carry."""
    return ms - ms % HOUR_MS


def check_report_time(timestamp_ms: int, now_ms: int | None) -> None:
    """A report carries no member clock (docs/reports.md): its timestamp is a whole UTC hour
    and, at intake (`now_ms` = the operator's clock), the operator's current hour, or the
    neighbouring one within HOUR_SLACK_MS of the turn of the hour."""
    if timestamp_ms <= 0 or timestamp_ms % HOUR_MS:
        raise InvalidInput("a report's timestamp_ms must be a whole UTC hour (the current time rounded down to the "
                           "hour), never a finer clock")
    if now_ms is not None and timestamp_ms not in (report_hour(now_ms - HOUR_SLACK_MS),
                                                   report_hour(now_ms + HOUR_SLACK_MS)):
        raise InvalidInput(f"report timestamp names the hour starting {_hour_text(timestamp_ms)} but the ledger's "
                           f"clock is in the hour starting {_hour_text(report_hour(now_ms))}: set timestamp_ms to "
                           "the current UTC hour (check your clock)")


def _hour_text(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC).strftime("%Y-%m-%d %H:00Z")


def check_incident_date(incident_date: str, today: _dt.date) -> None:
    """A report's incident date: not after the day the entry is written, and within the
    retention period (docs/rules.md; 征信业管理条例 Art 16)."""
    incident = e.parse_date(incident_date, "incident date")
    if incident > today:
        raise InvalidInput(f"incident date {incident_date} is in the future (today is {today.isoformat()})")
    try:
        expiry = incident.replace(year=incident.year + RETENTION_YEARS_DEFAULT)
    except ValueError:  # 29 February
        expiry = incident.replace(year=incident.year + RETENTION_YEARS_DEFAULT, day=28)
    if expiry <= today:
        raise InvalidInput(
            f"incident date {incident_date} is older than the {RETENTION_YEARS_DEFAULT}-year retention period;"
            " such a report may no longer be recorded"
        )


def check_notice_date(notice_date: str, incident_date: str, today: _dt.date) -> None:
    """The notice duty (docs/reports.md, "Notice"; 征信业管理条例 Art 15): the member tells the
    subject before it reports negative information, so a report names the day it did, and
    that day lies between the incident and the day the report is written."""
    if not notice_date:
        raise InvalidInput("a report must carry notice_date, the day (YYYY-MM-DD) the subject was told of this "
                           "negative information; tell the subject first, then report")
    notice = e.parse_date(notice_date, "notice date")
    if notice > today:
        raise InvalidInput(f"notice date {notice_date} is after the day of the report ({today.isoformat()}): tell "
                           "the subject before reporting, and give the day you did")
    if notice < e.parse_date(incident_date, "incident date"):
        raise InvalidInput(f"notice date {notice_date} is before the incident date {incident_date}: the subject "
                           "can only be told of an incident on or after it happened")


def apply(view: StateView, ally: Alliance | None, index: int, signed: e.SignedEntry, *,
          now_ms: int | None = None, verify: bool = True) -> Updates:
    """Validate entry `index` against the state and return the updates it makes.

    Dates in a report are judged against the entry's own timestamp, so a replay years later
    reaches the same verdict; `now_ms` (the caller's clock, which the core does not have)
    is given at intake to refuse timestamps more than a day off. With `verify=False` the
    ring signature and validity proof are assumed checked already by `verify_crypto` (the
    server does that before the sequencer); everything else is always checked.
    Raises InvalidInput, VerificationError, PermissionDenied, Conflict or AlreadyExists;
    on any error the state is unchanged.
    """
    entry = signed.entry
    body = entry.body
    if index == 0 or ally is None:
        if index != 0 or not isinstance(body, e.Genesis):
            raise InvalidInput(f"entry 0 must be the genesis, and only entry 0; got {entry.kind} at {index}")
        from core.signing import VerifyKey

        if signed.signature is None or signed.signature.key_id != key_id(body.regulator_key):
            raise PermissionDenied("the genesis must be signed by the regulator key it names")
        VerifyKey.from_bytes(body.regulator_key).verify(signed.signed_message(), signed.signature.signature)
        from core.paillier import check_registry_fits

        check_registry_fits(body.paillier_n, len(body.categories))
        return {"head/genesis": dump({"index": 0})}
    if isinstance(body, e.Genesis):
        raise Conflict(f"the ledger already has its genesis; entry {index} cannot be another")

    up: Updates = {}
    if isinstance(body, e.MemberAdmitted):
        _require(author_of(view, ally, signed), ["regulator"], "MemberAdmitted")
        if view.get(f"member/{body.member_id}") is not None:
            raise AlreadyExists(f"member {body.member_id} is already admitted (or was revoked); choose another id")
        kid = key_id(body.signing_key)
        if view.get(f"memberkey/{kid}") is not None or kid in (key_id(ally.genesis.regulator_key),
                                                              key_id(ally.genesis.operator_key)):
            raise AlreadyExists("that signing key is already registered; generate a fresh key for the member")
        from core.group import default_group

        group = default_group()
        point = group.decode(body.reporting_key)  # canonical, on the curve, in the subgroup
        if group.is_identity(point):
            raise InvalidInput("the reporting key is the identity point, which every scalar matches; generate a "
                               "fresh key for the member")
        if view.get(f"reportingkey/{group.encode(point).hex()}") is not None:
            raise AlreadyExists("that reporting key is already registered; generate a fresh key for the member")
        ring, _ = current_ring(view)
        up[f"member/{body.member_id}"] = dump({
            "member_id": body.member_id, "display_name": body.display_name, "admitted_at": index,
            "revoked_at": None, "signing_key": body.signing_key.hex(), "reporting_key": body.reporting_key.hex(),
        })
        up[f"memberkey/{kid}"] = dump(body.member_id)
        up[f"reportingkey/{body.reporting_key.hex()}"] = dump(body.member_id)
        up["ring"] = dump({"keys": [k.hex() for k in ring] + [body.reporting_key.hex()], "changed_at": index})
    elif isinstance(body, e.MemberRevoked):
        _require(author_of(view, ally, signed), ["regulator"], "MemberRevoked")
        record = load(view, f"member/{body.member_id}")
        if record is None:
            raise NotFound(f"member {body.member_id} was never admitted")
        if record["revoked_at"] is not None:
            raise Conflict(f"member {body.member_id} is already revoked (entry {record['revoked_at']})")
        record["revoked_at"] = index
        up[f"member/{body.member_id}"] = dump(record)
        ring, _ = current_ring(view)
        keys = [k.hex() for k in ring if k.hex() != record["reporting_key"]]
        up["ring"] = dump({"keys": keys, "changed_at": index})
    elif isinstance(body, e.RuleSetPublished):
        _require(author_of(view, ally, signed), ["regulator"], "RuleSetPublished")
        from core.rules import check_canonical, check_rule_interval

        if view.get(f"rules/{body.version}") is not None:
            raise AlreadyExists(f"rule set version {body.version} is already published; pick a new version")
        rules = check_canonical(body.canonical_toml, ally.genesis.categories)
        if rules.version != body.version or rules.effective_from.isoformat() != body.effective_from:
            raise InvalidInput("the entry's version and effective date must match the rule set text")
        # Spacing (docs/rules.md): each rule set in force publishes one more combination of the
        # same counts. The publication day comes from the entry's timestamp, held to the
        # ledger's clock at intake so that a back-dated entry cannot pass as an old one. The
        # ceremony's first rule set is exempt (the operator may start days after the ceremony).
        dates = [e.parse_date(json.loads(raw)["effective_from"], "effective date") for _k, raw in view.scan("rules/")]
        if dates and now_ms is not None and abs(entry.timestamp_ms - now_ms) > CLOCK_SKEW_MS:
            raise InvalidInput("rule set timestamp is more than a day away from the ledger's clock; check your clock")
        check_rule_interval(rules.effective_from, previous=max(dates, default=None),
                            published_on=_day(entry.timestamp_ms),
                            interval_days=ally.genesis.min_rule_interval_days)
        up[f"rules/{body.version}"] = dump({"index": index, "effective_from": body.effective_from,
                                            "rules": rules.to_json()})
    elif isinstance(body, e.ReportCommitted):
        rid = body.report_id.hex()
        if view.get(f"report/{rid}") is not None:
            raise AlreadyExists(f"report {rid} is already on the ledger; a replay changes nothing")
        if signed.escrow is None:
            raise InvalidInput("a stored report carries the escrow the operator sealed at intake; this leaf has none")
        check_report_time(entry.timestamp_ms, now_ms)
        check_incident_date(body.incident_date, _day(entry.timestamp_ms))
        check_notice_date(body.notice_date, body.incident_date, _day(entry.timestamp_ms))
        if verify:
            verify_report_crypto(ally, body)
        else:
            check_report(ally, body)
        link = verify_ring_now(view, ally, signed, body.subject_tag, body.ring_change, index) if verify \
            else _ring_link_tag(view, signed, body.ring_change, index)
        up.update(spend_coupon(view, signed, index))
        up[f"report/{rid}"] = dump({
            "index": index, "subject": body.subject_tag.hex(), "category": body.category,
            "incident_date": body.incident_date, "link": link.hex(), "retracted_at": None, "fraud_at": None,
            "commitment": body.commitment.hex(),
        })
        up[f"subject/{body.subject_tag.hex()}/{index:012d}"] = dump(rid)
    elif isinstance(body, e.ReportRetracted):
        rid = body.report_id.hex()
        record = load(view, f"report/{rid}")
        if record is None:
            raise NotFound(f"report {rid} is not on the ledger")
        if record["retracted_at"] is not None:
            raise Conflict(f"report {rid} was already retracted at entry {record['retracted_at']}")
        check_report_time(entry.timestamp_ms, now_ms)  # a retraction is as anonymous as its report
        subject = bytes.fromhex(record["subject"])
        link = verify_ring_now(view, ally, signed, subject, body.ring_change, index) if verify \
            else _ring_link_tag(view, signed, body.ring_change, index)
        if link.hex() != record["link"]:
            raise PermissionDenied("only the original reporter can retract a report: the link tag does not match")
        up.update(spend_coupon(view, signed, index))
        record["retracted_at"] = index
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.DisputeFiled):
        up.update(check_dispute_filed(view, author_of(view, ally, signed), index, entry.timestamp_ms, body, now_ms))
    elif isinstance(body, e.DisputeResolved):
        _require(author_of(view, ally, signed), ["regulator"], "DisputeResolved")
        dispute = load(view, f"dispute/{body.dispute_id.hex()}")
        if dispute is None:
            raise NotFound(f"dispute {body.dispute_id.hex()} was never filed")
        if dispute["resolved_at"] is not None:
            raise Conflict(f"dispute {body.dispute_id.hex()} is already resolved")
        dispute["resolved_at"] = index
        dispute["outcome"] = body.outcome
        up[f"dispute/{body.dispute_id.hex()}"] = dump(dispute)
        record = load(view, f"report/{dispute['report']}")
        record["disputed"] = None
        if body.outcome == "retract" and record["retracted_at"] is None:
            record["retracted_at"] = index
        if body.outcome == "annotate":
            record["annotation"] = body.annotation
        up[f"report/{dispute['report']}"] = dump(record)
    elif isinstance(body, e.InvestigationAuthorised):
        _require(author_of(view, ally, signed), ["regulator"], "InvestigationAuthorised")
        up.update(check_investigation_authorised(view, index, body))
    elif isinstance(body, e.InvestigationStep):
        _require(author_of(view, ally, signed), ["operator"], "InvestigationStep")
        up.update(check_investigation_step(view, ally, index, body))
    elif isinstance(body, e.CombinerFaulted):
        _require(author_of(view, ally, signed), ["regulator"], "CombinerFaulted")
        up.update(check_combiner_faulted(view, index, body))
    elif isinstance(body, e.FraudFound):
        _require(author_of(view, ally, signed), ["regulator"], "FraudFound")
        rid = body.report_id.hex()
        record = load(view, f"report/{rid}")
        if record is None or record["subject"] != body.subject_tag.hex():
            raise NotFound(f"report {rid} about that subject is not on the ledger")
        if record["fraud_at"] is not None:
            raise Conflict(f"report {rid} was already found fraudulent at entry {record['fraud_at']}")
        up.update(consume_investigation(view, index, body.subject_tag, int(record["index"])))
        record["fraud_at"] = index
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.RatingRequested):
        _require(author_of(view, ally, signed), ["operator"], "RatingRequested")
        up.update(check_rating_request(view, index, entry.timestamp_ms, body))
    elif isinstance(body, (e.RatingPublished, e.RatingHeld, e.RatingWithdrawn)):
        _require(author_of(view, ally, signed), ["operator"], entry.kind)
        up.update(check_rating_answer(view, ally, index, body))
    elif isinstance(body, e.EscrowOpened):
        _require(author_of(view, ally, signed), ["regulator"], "EscrowOpened")
        rid = body.report_id.hex()
        record = load(view, f"report/{rid}")
        if record is None:
            raise NotFound(f"report {rid} is not on the ledger; an escrow is opened only for a recorded report")
        check_escrow_reason(view, rid, record, body.reason)
        opened = list(record.get("escrow_opened") or [])
        if any(o["reason"] == body.reason for o in opened):
            raise AlreadyExists(f"the escrow of report {rid} was already opened for {body.reason}")
        record["escrow_opened"] = opened + [{"index": index, "reason": body.reason}]
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.OperatorFaulted):
        _require(author_of(view, ally, signed), ["regulator"], "OperatorFaulted")
        rid = body.report_id.hex()
        record = load(view, f"report/{rid}")
        if record is None:
            raise NotFound(f"report {rid} is not on the ledger")
        if not record.get("escrow_opened"):
            raise Conflict(f"the escrow of report {rid} was never opened on the ledger: append EscrowOpened first")
        if record.get("operator_faulted") is not None:
            raise AlreadyExists(f"the operator's escrow of report {rid} was already faulted at entry "
                                f"{record['operator_faulted']}")
        record["operator_faulted"] = index
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.QueryLogCommitted):
        _require(author_of(view, ally, signed), ["operator"], "QueryLogCommitted")
        up.update(querylog_commit_updates(view, index, body))
    elif isinstance(body, (e.SubjectEnrolled, e.SubjectAccessAuthorised, e.SubjectRevoked)):
        _require(author_of(view, ally, signed), ["regulator"], entry.kind)
        up.update(subject_party_updates(view, ally, index, body))
    elif isinstance(body, e.SubjectAccessServed):
        _require(author_of(view, ally, signed), ["operator"], "SubjectAccessServed")
        up.update(check_access_served(view, ally, index, body))
    else:  # pragma: no cover - the Body union is closed
        raise InvalidInput(f"unknown entry type {entry.kind}")
    return up


def _ring_link_tag(view: StateView, signed: e.SignedEntry, ring_change: int, index: int) -> bytes:
    """For pre-verified entries: the cheap ring-currency checks and the link tag."""
    from core.ring import RingSignature

    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature")
    _, changed_at = current_ring(view)
    check_ring_named(ring_change, changed_at, index)
    return RingSignature.link_tag_of(signed.ring_signature)


def check_escrow_reason(view: StateView, rid: str, record: Mapping[str, Any], reason: str) -> None:
    """An escrow is opened only for an open dispute on that very report, or under a
    FraudFound naming it or an InvestigationAuthorised of its subject that covers it."""
    kind, ref = e.parse_escrow_reason(reason)
    if kind == "dispute":
        dispute = load(view, f"dispute/{ref}")
        if dispute is None or dispute["report"] != rid:
            raise NotFound(f"no dispute {ref} was filed against report {rid}; open the escrow for a dispute on it")
        if dispute["resolved_at"] is not None:
            raise Conflict(f"dispute {ref} was resolved at entry {dispute['resolved_at']}; an escrow is opened only "
                           "while its dispute is open")
        return
    at = int(ref)
    if record.get("fraud_at") == at:
        return
    investigation = load(view, f"investigation/{record['subject']}/{at:012d}")
    if investigation is not None and int(investigation.get("ledger_size", 0)) > int(record["index"]):
        return
    raise PermissionDenied(f"entry {at} is neither a FraudFound naming report {rid} nor an InvestigationAuthorised "
                           "of its subject covering it: the escrow stays closed")


def _day(ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).date()


# -- ratings (docs/ratings.md) -------------------------------------------------------------------


def rules_in_force(view: StateView, as_of: _dt.date, before: int | None = None) -> tuple[Any, int]:
    """The rule set in force on `as_of` (latest effective date not after it; the later entry
    wins a tie) and the index of its RuleSetPublished entry. With `before`, only rule sets
    published below that ledger size count (a rating at size L sees the ledger below L).
    NotFound if none is."""
    from core.rules import RuleSet

    best: tuple[str, int, Any] | None = None
    for _key, raw in view.scan("rules/"):
        record = json.loads(raw)
        if before is not None and int(record["index"]) >= before:
            continue
        if record["effective_from"] <= as_of.isoformat():
            candidate = (record["effective_from"], int(record["index"]), record["rules"])
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    if best is None:
        raise NotFound(f"no rule set is in force on {as_of.isoformat()}: the regulator must publish one")
    return RuleSet.from_json(best[2]), best[1]


def rules_named(view: StateView, version: str) -> Any:
    """The published rule set `version` (NotFound if it is not on the ledger)."""
    from core.rules import RuleSet

    record = load(view, f"rules/{version}")
    if record is None:
        raise NotFound(f"rule set {version} is not on the ledger")
    return RuleSet.from_json(record["rules"])


def subject_reports(view: StateView, subject_tag: bytes) -> list[Any]:
    """Every report ever recorded about the subject, as `core.rating.ReportInfo`."""
    from core.rating import ReportInfo

    out = []
    for _key, raw in view.scan(f"subject/{subject_tag.hex()}/"):
        record = load(view, f"report/{json.loads(raw)}")
        out.append(ReportInfo(
            index=int(record["index"]), category=record["category"],
            incident_date=_dt.date.fromisoformat(record["incident_date"]), link_tag=bytes.fromhex(record["link"]),
            commitment=bytes.fromhex(record["commitment"]), retracted_at=record["retracted_at"],
            fraud_at=record["fraud_at"],
        ))
    return out


def request_record(view: StateView, index: int) -> dict[str, Any] | None:
    """The RatingRequested at ledger index `index` as the ledger recorded it, with its
    answer (None while unanswered): {"kind": published | held | withdrawn, "index"}."""
    record: dict[str, Any] | None = load(view, f"request/{index:012d}")
    return record


def latest_request(view: StateView, subject_tag: bytes) -> dict[str, Any] | None:
    """The subject's newest RatingRequested record, or None."""
    pointer = load(view, f"ratingreq/{subject_tag.hex()}")
    return None if pointer is None else request_record(view, int(pointer))


def _previous_of(record: dict[str, Any] | None) -> Any:
    from core.rating import PreviousRequest

    if record is None:
        return None
    return PreviousRequest(index=int(record["index"]), ledger_size=int(record["ledger_size"]),
                           rule_version=record["rule_set_version"], as_of=_dt.date.fromisoformat(record["as_of"]),
                           active=tuple((int(i), int(w)) for i, w in record["active"]))


def request_plan(view: StateView, subject_tag: bytes, ledger_size: int, as_of: _dt.date,
                 previous: dict[str, Any] | None) -> Any:
    """`core.rating.plan_request` over the ledger's history: the rule set in force below L,
    every report of the subject, and the previous request (`previous`, a request record)."""
    from core.rating import plan_request

    rules, _ = rules_in_force(view, as_of, before=ledger_size)
    prev = _previous_of(previous)
    prev_rules = None if prev is None else rules_named(view, prev.rule_version)
    return plan_request(rules, subject_reports(view, subject_tag), prev, prev_rules, ledger_size, as_of)


def request_entry(record: dict[str, Any]) -> e.RatingRequested:
    """The RatingRequested body a request record was made from."""
    return e.RatingRequested(
        subject_tag=bytes.fromhex(record["subject"]), ledger_size=int(record["ledger_size"]),
        set_digest=bytes.fromhex(record["digest"]), active_set=tuple(int(i) for i, _ in record["active"]),
        weights=tuple(int(w) for _, w in record["active"]), as_of=record["as_of"],
        rule_set_version=record["rule_set_version"], kind=record["kind"])


def rating_inputs(view: StateView, subject_tag: bytes, ledger_size: int,
                  as_of: _dt.date) -> tuple[Any, Any, list[Any], tuple[tuple[int, int], ...]]:
    """(rules, previous request, reports, active set) for rating a subject at `ledger_size`."""
    from core.rating import active_set

    rules, _ = rules_in_force(view, as_of, before=ledger_size)
    reports = subject_reports(view, subject_tag)
    return rules, _previous_of(latest_request(view, subject_tag)), reports, \
        active_set(reports, rules, ledger_size, as_of)


def check_rating_request(view: StateView, index: int, timestamp_ms: int, body: e.RatingRequested) -> Updates:
    """A RatingRequested against the ledger's history (docs/ratings.md): L is a size of
    this ledger and not below the previous request's; every earlier request for the subject
    is answered; and the set, weights, date, rule set and kind are exactly what the update
    rule (`core.rating.plan_request`) derives at L against the previous request."""
    from core.rating import check_request

    if not 0 < body.ledger_size <= index:
        raise InvalidInput(f"request names ledger size {body.ledger_size}, outside 1..{index}")
    previous = latest_request(view, body.subject_tag)
    if previous is not None and previous["answer"] is None:
        raise Conflict(f"request {previous['index']} for this subject is not answered yet: append its "
                       "RatingPublished, RatingHeld or RatingWithdrawn before requesting again")
    as_of = e.parse_date(body.as_of, "rating date")
    plan = request_plan(view, body.subject_tag, body.ledger_size, as_of, previous)
    if plan.kind != "correction" and abs((as_of - _day(timestamp_ms)).days) > 1:
        raise InvalidInput(f"rating date {body.as_of} is more than a day from the entry's timestamp")
    check_request(body, plan)
    record = {"index": index, "subject": body.subject_tag.hex(), "ledger_size": body.ledger_size,
              "as_of": body.as_of, "rule_set_version": body.rule_set_version, "kind": body.kind,
              "active": [list(p) for p in plan.active], "digest": body.set_digest.hex(),
              "reporters": plan.reporters, "below_k": plan.below_k,
              "previous": None if previous is None else previous["index"], "answer": None}
    return {f"request/{index:012d}": dump(record), f"ratingreq/{body.subject_tag.hex()}": dump(index)}


def check_rating_answer(view: StateView, ally: Alliance, index: int,
                        body: e.RatingPublished | e.RatingHeld | e.RatingWithdrawn) -> Updates:
    """RatingPublished, RatingHeld or RatingWithdrawn answering the subject's newest, unanswered
    request. A publication is verified in full (`core.combination.check_publication`); a held
    verdict must carry a genesis trustee's signature; a withdrawal answers only a request
    whose set has fewer than k reporters (and such a request has no other answer)."""
    from core.combination import check_combiner_signature, check_designated, check_publication, held_message

    record = request_record(view, body.request_index)
    if record is None or record["subject"] != body.subject_tag.hex():
        raise NotFound(f"entry {body.request_index} is not a rating request for this subject")
    newest = latest_request(view, body.subject_tag)
    if newest is None or newest["index"] != record["index"]:
        raise Conflict(f"request {body.request_index} is not the subject's newest request")
    if record["answer"] is not None:
        raise Conflict(f"request {body.request_index} is already answered by entry {record['answer']['index']}")
    up: Updates = {}
    if isinstance(body, e.RatingWithdrawn):
        if not record["below_k"]:
            raise Conflict(f"request {body.request_index} has {record['reporters']} reporters: it is rated or held, "
                           "not withdrawn")
        kind = "withdrawn"
        up[f"rating/{body.subject_tag.hex()}"] = None
    elif record["below_k"]:
        raise Conflict(f"request {body.request_index} has fewer than k reporters: only RatingWithdrawn answers it")
    elif isinstance(body, e.RatingHeld):
        if body.ledger_size != record["ledger_size"]:
            raise VerificationError("the held verdict names another ledger size than its request")
        # Two designated combiners must both say "does not open" (docs/ratings.md).
        for combiner, signature in ((body.combiner, body.verdict_signature),
                                    (body.second_combiner, body.second_signature)):
            check_designated(ally.genesis, ally.genesis_hash, body.subject_tag, body.ledger_size, combiner)
            check_combiner_signature(ally.genesis, combiner, held_message(
                ally.genesis_hash, body.request_index, body.subject_tag, body.ledger_size,
                bytes.fromhex(record["digest"]), combiner), signature)
        kind = "held"
    else:
        rules = rules_named(view, record["rule_set_version"])
        check_publication(ally.generators, ally.genesis, ally.genesis_hash, rules, int(record["index"]),
                          request_entry(record), subject_reports(view, body.subject_tag), body)
        kind = "published"
        up[f"rating/{body.subject_tag.hex()}"] = dump({
            "index": index, "request": body.request_index, "ledger_size": body.ledger_size, "as_of": body.as_of,
            "rule_set_version": body.rule_set_version, "active": record["active"], "score": body.score,
            "grade": body.grade,
        })
    record["answer"] = {"kind": kind, "index": index}
    up[f"request/{int(record['index']):012d}"] = dump(record)
    return up


QUERYLOG_HEAD = "querylog/head"
QUERYLOG_COMMIT = "querylog/commit/"


def querylog_commit_key(last_id: int) -> str:
    """State key of the commitment whose last record is `last_id` (zero-padded: keys sort
    by id, so the commitment holding record r is the first key at or after r's)."""
    return f"{QUERYLOG_COMMIT}{last_id:020d}"


def querylog_commit_updates(view: StateView, index: int, body: e.QueryLogCommitted) -> Updates:
    """A QueryLogCommitted must continue the previous one exactly (no gap, no overlap), so
    every record id is committed once and the commitments tile the log (docs/queries.md)."""
    head = load(view, QUERYLOG_HEAD) or {"next_id": 1}
    if body.first_id != head["next_id"]:
        raise Conflict(f"query log commitment starts at record {body.first_id}; the next uncommitted "
                       f"record is {head['next_id']}")
    last = body.first_id + body.count - 1
    return {
        QUERYLOG_HEAD: dump({"next_id": last + 1, "index": index}),
        querylog_commit_key(last): dump({"index": index, "first_id": body.first_id, "count": body.count,
                                         "root": body.root.hex()}),
    }



# -- subjects as parties, disputes (docs/subjects.md) ------------------------------------


def subject_party(view: StateView, subject_tag: bytes) -> dict[str, Any] | None:
    """The subject's current enrolment record (None if never enrolled): index, keys,
    certificate digest, revoked_at, access (index of its SubjectAccessAuthorised or None)."""
    record: dict[str, Any] | None = load(view, f"subjectparty/{subject_tag.hex()}")
    return record


def subject_author(view: StateView, kid: str) -> tuple[str | None, bytes | None]:
    """("subject:<tag hex>", key) if `kid` names the signing key of a subject's current,
    unrevoked enrolment; (None, None) if it names no subject. A revoked enrolment's key
    raises PermissionDenied."""
    tag = load(view, f"subjectkey/{kid}")
    if tag is None:
        return None, None
    record = load(view, f"subjectparty/{tag}")
    if record is None or key_id(bytes.fromhex(record["signing_key"])) != kid or record["revoked_at"] is not None:
        raise PermissionDenied("this subject signing key belongs to a revoked enrolment; the subject must be "
                               "enrolled again (`candor subject enrol`) and sign with its new key")
    return f"subject:{tag}", bytes.fromhex(record["signing_key"])


def subject_party_updates(view: StateView, ally: Alliance, index: int,
                          body: e.SubjectEnrolled | e.SubjectAccessAuthorised | e.SubjectRevoked) -> Updates:
    """SubjectEnrolled, SubjectAccessAuthorised or SubjectRevoked (regulator-signed) against
    the subject's enrolment: one live enrolment per tag, keys never reused, access granted
    once per enrolment."""
    tag = body.subject_tag.hex()
    record = subject_party(view, body.subject_tag)
    if isinstance(body, e.SubjectEnrolled):
        if record is not None and record["revoked_at"] is None:
            raise AlreadyExists(f"this subject is already enrolled (entry {record['index']}); revoke that "
                                "enrolment first (`candor subject revoke`) to issue new keys")
        kid = key_id(body.signing_key)
        if view.get(f"subjectkey/{kid}") is not None or view.get(f"memberkey/{kid}") is not None \
                or kid in (key_id(ally.genesis.regulator_key), key_id(ally.genesis.operator_key)):
            raise AlreadyExists("that signing key is already registered; generate a fresh key for the subject")
        return {
            f"subjectparty/{tag}": dump({
                "index": index, "signing_key": body.signing_key.hex(), "encryption_key": body.encryption_key.hex(),
                "certificate_digest": body.certificate_digest.hex(), "revoked_at": None, "access": None}),
            f"subjectkey/{kid}": dump(tag),
        }
    if record is None:
        raise NotFound("this subject is not enrolled; enrol it first (`candor subject enrol`)")
    if record["revoked_at"] is not None:
        raise Conflict(f"this subject's enrolment was revoked at entry {record['revoked_at']}; "
                       "enrol it again first")
    if isinstance(body, e.SubjectRevoked):
        record["revoked_at"] = index
    else:
        if record["access"] is not None and record.get("access_consumed") is None:
            raise AlreadyExists(f"this subject already has access to its tiers (entry {record['access']}); it is "
                                "served at the next epoch (`candor epoch run`)")
        record["access"] = index
        # Nothing to serve (no report about it yet): consumed at once.
        record["access_consumed"] = None if access_reports(view, body.subject_tag, index) else index
    return {f"subjectparty/{tag}": dump(record)}


def access_reports(view: StateView, subject_tag: bytes, authorisation: int) -> list[int]:
    """Ledger indices of every report about the subject below its SubjectAccessAuthorised at
    `authorisation`, whatever their status: the reports whose tiers it covers."""
    prefix = f"subject/{subject_tag.hex()}/"
    return [int(key[len(prefix):]) for key, _ in view.scan(prefix) if int(key[len(prefix):]) < authorisation]


def access_served(view: StateView, subject_tag: bytes, authorisation: int, report: int) -> int | None:
    """The index of the SubjectAccessServed for that report under that authorisation, or None."""
    served = load(view, f"subjectaccess/{subject_tag.hex()}/{authorisation:012d}/{report:012d}")
    return None if served is None else int(served)


def open_access(view: StateView, subject_tag: bytes) -> tuple[int, list[int]] | None:
    """(authorisation, reports still to serve) of the subject's unconsumed access grant
    under a live enrolment, or None."""
    party = subject_party(view, subject_tag)
    if party is None or party["revoked_at"] is not None or party.get("access") is None \
            or party.get("access_consumed") is not None:
        return None
    at = int(party["access"])
    return at, [r for r in access_reports(view, subject_tag, at) if access_served(view, subject_tag, at, r) is None]


def check_access_served(view: StateView, ally: Alliance, index: int, body: e.SubjectAccessServed) -> Updates:
    """SubjectAccessServed (operator-signed, docs/subjects.md): it answers the subject's
    unconsumed SubjectAccessAuthorised, for a report about that subject below it not served
    yet, from the combiner designated for that report, whose signature covers the verdict and
    the sealed bytes. The grant is consumed when every covered report is served."""
    from core.access import check_served_signature

    tag = body.subject_tag
    grant = open_access(view, tag)
    if grant is None or grant[0] != body.authorisation:
        raise PermissionDenied(f"entry {body.authorisation} is not an unconsumed SubjectAccessAuthorised of this "
                               "subject's live enrolment: no tier is served without the regulator's authorisation")
    if body.report not in access_reports(view, tag, body.authorisation):
        raise PermissionDenied(f"entry {body.report} is not a report about this subject below its authorisation")
    served = access_served(view, tag, body.authorisation, body.report)
    if served is not None:
        raise AlreadyExists(f"report entry {body.report} was already served at entry {served}")
    check_served_signature(ally.genesis, ally.genesis_hash, body)
    up: Updates = {f"subjectaccess/{tag.hex()}/{body.authorisation:012d}/{body.report:012d}": dump(index)}
    if grant[1] == [body.report]:  # the last one: the authorisation is consumed
        party = subject_party(view, tag)
        assert party is not None
        party["access_consumed"] = index
        up[f"subjectparty/{tag.hex()}"] = dump(party)
    return up


def statement_digest(statement: str) -> str:
    return hashlib.sha256(statement.encode()).hexdigest()


def check_dispute_filed(view: StateView, author: str, index: int, timestamp_ms: int, body: e.DisputeFiled,
                        now_ms: int | None) -> Updates:
    """A dispute (征信业管理条例 Art 25) is filed by the regulator, a member on the subject's
    behalf, or the subject itself about a report on itself; on a report that still counts
    (not retracted, not found fraudulent), not already under dispute, and not a copy of an
    earlier dispute of that report. The report is flagged at once; the regulator answers
    within DISPUTE_DAYS of the filing day (the entry's timestamp, held to the ledger's clock
    at intake)."""
    _require(author, ["regulator", "member", "subject"], "DisputeFiled")
    rid = body.report_id.hex()
    did = body.dispute_id.hex()
    record = load(view, f"report/{rid}")
    if record is None:
        raise NotFound(f"report {rid} is not on the ledger; a dispute must name a recorded report")
    if author.startswith("subject:") and record["subject"] != author.split(":", 1)[1]:
        raise PermissionDenied(f"report {rid} is not about you: a subject disputes only reports about itself "
                               "(`candor subject record` lists them)")
    if view.get(f"dispute/{did}") is not None:
        raise AlreadyExists(f"dispute {did} is already filed")
    if record["retracted_at"] is not None:
        raise Conflict(f"report {rid} was retracted at entry {record['retracted_at']}; it no longer counts, so "
                       "there is nothing to dispute")
    if record["fraud_at"] is not None:
        raise Conflict(f"report {rid} was found fraudulent at entry {record['fraud_at']} and no longer counts; "
                       "there is nothing to dispute")
    if record.get("disputed"):
        raise Conflict(f"report {rid} is already under dispute {record['disputed']}; wait for its resolution")
    same = load(view, f"disputetext/{rid}/{statement_digest(body.statement)}")
    if same is not None:
        raise AlreadyExists(f"an identical dispute of report {rid} was filed at entry {same['index']} (dispute "
                            f"{same['dispute']}) and answered; add what is new to the statement")
    if now_ms is not None and abs(timestamp_ms - now_ms) > CLOCK_SKEW_MS:
        raise InvalidInput("dispute timestamp is more than a day away from the ledger's clock (its answer is due "
                           f"{DISPUTE_DAYS} days after it): check your clock")
    record["disputed"] = did  # flagged at once
    due = _day(timestamp_ms) + _dt.timedelta(days=DISPUTE_DAYS)
    return {
        f"report/{rid}": dump(record),
        f"dispute/{did}": dump({"index": index, "report": rid, "resolved_at": None, "deadline_days": DISPUTE_DAYS,
                               "due": due.isoformat(), "by": author}),
        f"reportdispute/{rid}/{index:012d}": dump(did),
        f"disputetext/{rid}/{statement_digest(body.statement)}": dump({"index": index, "dispute": did}),
    }


# -- investigations: logged, canonical bisection (docs/ratings.md, "Investigations") -----


def investigation_record(view: StateView, subject_tag: bytes, authorisation: int) -> dict[str, Any] | None:
    """The investigation an InvestigationAuthorised at `authorisation` opened for the subject:
    its held request and set, the logged verdicts, the step awaiting its verdict, and how it
    ended (culprit, cleared, consumed by FraudFound)."""
    record: dict[str, Any] | None = load(view, f"investigation/{subject_tag.hex()}/{authorisation:012d}")
    return record


def open_investigation(view: StateView, subject_tag: bytes) -> dict[str, Any] | None:
    """The subject's investigation that is not yet consumed nor cleared, or None."""
    pointer = load(view, f"investigationopen/{subject_tag.hex()}")
    return None if pointer is None else investigation_record(view, subject_tag, int(pointer))


def investigation_bisection(record: Mapping[str, Any]) -> Any:
    """`core.investigation.bisection` over an investigation's held set and logged verdicts."""
    from core.investigation import bisection

    return bisection([int(i) for i, _ in record["held"]], [bool(v) for v in record["verdicts"]])


def investigation_chosen(record: Mapping[str, Any], subset: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The (index, weight) pairs of `subset`, with the held request's weights."""
    weights = {int(i): int(w) for i, w in record["held"]}
    return tuple((int(i), weights[int(i)]) for i in subset)


def faulted_combiners(view: StateView) -> list[int]:
    """Trustees a CombinerFaulted names: never designated for a step again."""
    return [int(key.split("/")[1]) for key, _ in view.scan("combinerfault/")]


def step_combiners(view: StateView, ally: Alliance, record: Mapping[str, Any], step: int) -> tuple[int, int]:
    """The two designated combiners of a step (`core.investigation.investigation_combiners`)."""
    from core.investigation import investigation_combiners

    return investigation_combiners(ally.genesis_hash, bytes.fromhex(record["subject"]), int(record["ledger_size"]),
                                   step, [t.index for t in ally.genesis.trustees], faulted_combiners(view))


def check_investigation_authorised(view: StateView, index: int, body: e.InvestigationAuthorised) -> Updates:
    """The regulator may authorise a bisection only of a subject that is held at exactly
    the size named (the subject's newest request answered by RatingHeld at L), not resolved
    yet, and with no other investigation of it open."""
    tag = body.subject_tag
    if body.ledger_size > index:
        raise InvalidInput(f"investigation names ledger size {body.ledger_size}, beyond the current {index}")
    newest = latest_request(view, tag)
    if newest is None or newest["answer"] is None or newest["answer"]["kind"] != "held":
        raise Conflict("this subject is not held: an investigation needs the subject's newest rating request to be "
                       "answered by RatingHeld (an aggregate that did not open)")
    if int(newest["ledger_size"]) != body.ledger_size:
        raise Conflict(f"the subject is held at ledger size {newest['ledger_size']}, not {body.ledger_size}: name "
                       "the size of the held request")
    if newest.get("resolved") is not None:
        raise Conflict(f"the held request {newest['index']} was resolved by entry {newest['resolved']}")
    current = open_investigation(view, tag)
    if current is not None:
        raise AlreadyExists(f"investigation {current['index']} of this subject is still open")
    record = {"index": index, "subject": tag.hex(), "ledger_size": body.ledger_size, "request": newest["index"],
              "held": newest["active"], "verdicts": [], "judged": [], "open_step": None, "culprit": None,
              "found_at": None, "cleared": False, "consumed": None}
    return {f"investigation/{tag.hex()}/{index:012d}": dump(record), f"investigationopen/{tag.hex()}": dump(index),
            f"investigationindex/{index:012d}": dump(tag.hex())}


def check_investigation_step(view: StateView, ally: Alliance, index: int, body: e.InvestigationStep) -> Updates:
    """An InvestigationStep (docs/ratings.md): it names exactly the step the canonical
    bisection gives after the logged verdicts, of an open, unconsumed investigation, before
    any share is served; its verdict entry comes from the two designated combiners, each
    signature covering the verdict and the digest of the evidence sealed to the regulator.
    A disagreement stops the step until a CombinerFaulted changes the designation."""
    from core.combination import check_combiner_signature
    from core.investigation import max_steps, step_verdict_message
    from core.rating import set_digest

    tag = body.subject_tag
    record = investigation_record(view, tag, body.authorisation)
    if record is None:
        raise NotFound(f"entry {body.authorisation} is not an InvestigationAuthorised of this subject")
    if body.ledger_size != record["ledger_size"]:
        raise VerificationError(f"the investigation is of size {record['ledger_size']}, the step names "
                                f"{body.ledger_size}")
    if record["consumed"] is not None:
        raise Conflict(f"investigation {body.authorisation} was consumed by FraudFound at entry {record['consumed']}")
    progress = investigation_bisection(record)
    if progress.finished:
        raise Conflict(f"the bisection of investigation {body.authorisation} is finished: no further step")
    if body.step != progress.step or body.subset != progress.next_subset:
        raise PermissionDenied(f"not the canonical next step: step {progress.step} tests "
                               f"{list(progress.next_subset)} (the left half of the smallest set shown not to open)")
    if body.step > max_steps(len(record["held"])):  # pragma: no cover - bisection never goes further
        raise PermissionDenied("a bisection takes at most ⌈log2 m⌉ + 1 steps")
    if not body.verdict:
        if record["open_step"] is not None:
            raise Conflict(f"step {record['open_step']['step']} is named (entry {record['open_step']['index']}) and "
                           "awaits its verdict")
        record["open_step"] = {"index": index, "step": body.step, "stopped": []}
        return {f"investigation/{tag.hex()}/{body.authorisation:012d}": dump(record)}
    if record["open_step"] is None or record["open_step"]["step"] != body.step:
        raise Conflict(f"step {body.step} is not named yet: append the step before its verdict")
    combiners = step_combiners(view, ally, record, body.step)
    if body.combiners != combiners:
        raise PermissionDenied(f"the verdict of step {body.step} comes from trustees {list(combiners)}, the "
                               f"designated combiners, not {list(body.combiners)}")
    if list(combiners) in record["open_step"]["stopped"]:
        raise Conflict(f"combiners {list(combiners)} disagreed on step {body.step}: it stays stopped until the "
                       "regulator names the one whose evidence fails (CombinerFaulted)")
    digest = set_digest(investigation_chosen(record, body.subset))
    for combiner, claim, signature, evidence in zip(body.combiners, body.claims, body.signatures, body.evidence):
        check_combiner_signature(ally.genesis, combiner, step_verdict_message(
            ally.genesis_hash, body.authorisation, tag, body.ledger_size, body.step, digest, combiner, claim,
            evidence), signature)
    up: Updates = {}
    record["judged"].append({"index": index, "step": body.step, "combiners": list(combiners),
                             "verdict": body.verdict})
    if body.verdict == "disagree":
        record["open_step"]["stopped"].append(list(combiners))
    else:
        record["verdicts"].append(body.verdict == "opens")
        record["open_step"] = None
        after = investigation_bisection(record)
        if after.culprit is not None:
            record["culprit"], record["found_at"] = after.culprit, index
        if after.cleared:
            record["cleared"] = True
            up[f"investigationopen/{tag.hex()}"] = None
    up[f"investigation/{tag.hex()}/{body.authorisation:012d}"] = dump(record)
    return up


def consume_investigation(view: StateView, index: int, subject_tag: bytes, report_index: int) -> Updates:
    """FraudFound consumes the subject's open investigation, whose finished bisection must
    name exactly that report, and resolves the held request."""
    record = open_investigation(view, subject_tag)
    if record is None:
        raise PermissionDenied("no investigation of this subject is open: FraudFound follows a logged bisection "
                               "(InvestigationAuthorised, then InvestigationSteps naming the report)")
    if record["culprit"] != report_index:
        named = "no report yet" if record["culprit"] is None else f"entry {record['culprit']}"
        raise Conflict(f"the bisection of investigation {record['index']} names {named}, not entry {report_index}")
    record["consumed"] = index
    request = request_record(view, int(record["request"]))
    assert request is not None
    request["resolved"] = index
    return {f"investigation/{subject_tag.hex()}/{int(record['index']):012d}": dump(record),
            f"investigationopen/{subject_tag.hex()}": None, f"request/{int(request['index']):012d}": dump(request)}


def check_combiner_faulted(view: StateView, index: int, body: e.CombinerFaulted) -> Updates:
    """The regulator names a combiner whose evidence failed, for a step it judged."""
    tag = load(view, f"investigationindex/{body.authorisation:012d}")
    if tag is None:
        raise NotFound(f"entry {body.authorisation} is not an InvestigationAuthorised")
    record = investigation_record(view, bytes.fromhex(tag), body.authorisation)
    assert record is not None
    if not any(j["step"] == body.step and body.combiner in j["combiners"] for j in record["judged"]):
        raise NotFound(f"trustee {body.combiner} gave no verdict at step {body.step} of investigation "
                       f"{body.authorisation}")
    if view.get(f"combinerfault/{body.combiner}") is not None:
        raise AlreadyExists(f"trustee {body.combiner} is already named in a CombinerFaulted")
    return {f"combinerfault/{body.combiner}": dump({"index": index, "authorisation": body.authorisation,
                                                   "step": body.step})}
