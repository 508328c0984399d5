"""The ledger's state as a projection of its entries (DESIGN §3).

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

from core import entries as e
from core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied, VerificationError

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

    @property
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
    if author is None or key is None:
        raise PermissionDenied(f"signing key {sig.key_id} belongs to no regulator, operator or admitted member")
    try:
        VerifyKey.from_bytes(key).verify(signed.signed_message(), sig.signature)
    except VerificationError:
        raise VerificationError(f"the {author} signature on this {signed.entry.kind} entry does not verify") from None
    return author


def _require(author: str, allowed: Sequence[str], kind: str) -> None:
    role = author.split(":", 1)[0]
    if role not in allowed:
        raise PermissionDenied(f"only the {' or '.join(allowed)} may write {kind}; this entry is signed by the {role}")


def verify_ring_now(view: StateView, ally: Alliance, signed: e.SignedEntry, subject_tag: bytes, ring_size: int,
                 index: int) -> bytes:
    """Check the ring is current and the ring signature verifies; return the link tag."""
    from core.group import default_group
    from core.ring import RingSignature, ring_verify

    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature so its author stays anonymous")
    ring, changed_at = current_ring(view)
    if ring_size > index:
        raise InvalidInput(f"ring size {ring_size} names a ledger size beyond the current {index}")
    if ring_size <= changed_at:
        raise Conflict(
            f"the member set changed at entry {changed_at}; rebuild the ring signature for ledger size > {changed_at}"
        )
    if not ring:
        raise Conflict("no member is admitted: there is no ring to sign with")
    sig = RingSignature.from_bytes(signed.ring_signature)
    ring_verify(default_group(), ring, subject_tag, signed.signed_message(), sig)
    return sig.link_tag


def verify_report_crypto(ally: Alliance, report: e.ReportCommitted) -> None:
    """The validity proof and the ciphertext's range: everything but the ring."""
    from core.proofs import ReportStatement, ValidityProof, verify_validity

    if report.category not in ally.genesis.categories:
        raise InvalidInput(
            f"category {report.category!r} is not in the registry; use one of {', '.join(ally.genesis.categories)}"
        )
    if not 0 < report.ciphertext < ally.nsquare:
        raise InvalidInput("ciphertext is outside Z*_{n^2} of the alliance key: encrypt under the genesis key")
    stmt = ReportStatement(
        genesis_hash=ally.genesis_hash,
        report_id=report.report_id,
        subject_tag=report.subject_tag,
        category=report.category,
        event_date=report.incident_date,
        commitment=report.commitment,
    )
    verify_validity(ally.generators, stmt, ValidityProof.from_bytes(report.validity_proof))


def check_incident_date(incident_date: str, today: _dt.date) -> None:
    """A report's incident date: not after the day the entry is written, and within the
    retention period (DESIGN §4; 征信业管理条例 Art 16)."""
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
        if view.get(f"reportingkey/{body.reporting_key.hex()}") is not None:
            raise AlreadyExists("that reporting key is already registered; generate a fresh key for the member")
        from core.group import default_group

        default_group().decode(body.reporting_key)  # a point on the curve, in the subgroup
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
        from core.rules import check_canonical

        if view.get(f"rules/{body.version}") is not None:
            raise AlreadyExists(f"rule set version {body.version} is already published; pick a new version")
        rules = check_canonical(body.canonical_toml, ally.genesis.categories)
        if rules.version != body.version or rules.effective_from.isoformat() != body.effective_from:
            raise InvalidInput("the entry's version and effective date must match the rule set text")
        up[f"rules/{body.version}"] = dump({"index": index, "effective_from": body.effective_from,
                                            "rules": rules.to_json()})
    elif isinstance(body, e.ReportCommitted):
        rid = body.report_id.hex()
        if view.get(f"report/{rid}") is not None:
            raise AlreadyExists(f"report {rid} is already on the ledger; a replay changes nothing")
        if entry.timestamp_ms <= 0:
            raise InvalidInput("a report must carry its creation time in timestamp_ms")
        if now_ms is not None and abs(entry.timestamp_ms - now_ms) > CLOCK_SKEW_MS:
            raise InvalidInput("report timestamp is more than a day away from the ledger's clock; check your clock")
        check_incident_date(body.incident_date, _day(entry.timestamp_ms))
        if verify:
            verify_report_crypto(ally, body)
        link = verify_ring_now(view, ally, signed, body.subject_tag, body.ring_size, index) if verify \
            else _ring_link_tag(view, signed, body.ring_size, index)
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
        subject = bytes.fromhex(record["subject"])
        link = verify_ring_now(view, ally, signed, subject, body.ring_size, index) if verify \
            else _ring_link_tag(view, signed, body.ring_size, index)
        if link.hex() != record["link"]:
            raise PermissionDenied("only the original reporter can retract a report: the link tag does not match")
        record["retracted_at"] = index
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.DisputeFiled):
        _require(author_of(view, ally, signed), ["regulator", "member"], "DisputeFiled")
        rid = body.report_id.hex()
        if view.get(f"report/{rid}") is None:
            raise NotFound(f"report {rid} is not on the ledger; a dispute must name a recorded report")
        if view.get(f"dispute/{body.dispute_id.hex()}") is not None:
            raise AlreadyExists(f"dispute {body.dispute_id.hex()} is already filed")
        record = load(view, f"report/{rid}")
        if record.get("disputed"):
            raise Conflict(f"report {rid} is already under dispute {record['disputed']}; wait for its resolution")
        record["disputed"] = body.dispute_id.hex()  # flagged at once (征信业管理条例 Art 25)
        up[f"report/{rid}"] = dump(record)
        up[f"dispute/{body.dispute_id.hex()}"] = dump({"index": index, "report": rid, "resolved_at": None,
                                                       "deadline_days": DISPUTE_DAYS})
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
        if body.ledger_size > index:
            raise InvalidInput(f"investigation names ledger size {body.ledger_size}, beyond the current {index}")
        up[f"investigation/{body.subject_tag.hex()}/{index:012d}"] = dump({"ledger_size": body.ledger_size})
    elif isinstance(body, e.FraudFound):
        _require(author_of(view, ally, signed), ["operator"], "FraudFound")
        rid = body.report_id.hex()
        record = load(view, f"report/{rid}")
        if record is None or record["subject"] != body.subject_tag.hex():
            raise NotFound(f"report {rid} about that subject is not on the ledger")
        if record["fraud_at"] is not None:
            raise Conflict(f"report {rid} was already found fraudulent at entry {record['fraud_at']}")
        record["fraud_at"] = index
        up[f"report/{rid}"] = dump(record)
    elif isinstance(body, e.RatingPublished):
        _require(author_of(view, ally, signed), ["operator"], "RatingPublished")
        check_rating(view, ally, index, entry.timestamp_ms, body)
        up[f"rating/{body.subject_tag.hex()}"] = dump({
            "index": index, "ledger_size": body.ledger_size, "as_of": body.as_of,
            "rule_set_version": body.rule_set_version, "active": [list(p) for p in zip(body.active_set, body.weights)],
        })
    else:  # pragma: no cover - the Body union is closed
        raise InvalidInput(f"unknown entry type {entry.kind}")
    return up


def _ring_link_tag(view: StateView, signed: e.SignedEntry, ring_size: int, index: int) -> bytes:
    """For pre-verified entries: the cheap ring-currency checks and the link tag."""
    from core.ring import RingSignature

    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature")
    _, changed_at = current_ring(view)
    if ring_size > index or ring_size <= changed_at:
        raise Conflict(
            f"the member set changed at entry {changed_at}; rebuild the ring signature for ledger size > {changed_at}"
        )
    return RingSignature.link_tag_of(signed.ring_signature)


def _day(ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).date()


# -- ratings (DESIGN §5) -------------------------------------------------------------------


def rules_in_force(view: StateView, as_of: _dt.date) -> tuple[Any, int]:
    """The rule set in force on `as_of` (latest effective date not after it; the later entry
    wins a tie) and the index of its RuleSetPublished entry. NotFound if none is."""
    from core.rules import RuleSet

    best: tuple[str, int, Any] | None = None
    for _key, raw in view.scan("rules/"):
        record = json.loads(raw)
        if record["effective_from"] <= as_of.isoformat():
            candidate = (record["effective_from"], int(record["index"]), record["rules"])
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    if best is None:
        raise NotFound(f"no rule set is in force on {as_of.isoformat()}: the regulator must publish one")
    return RuleSet.from_json(best[2]), best[1]


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


def previous_rating(view: StateView, subject_tag: bytes) -> Any:
    from core.rating import PreviousRating

    record = load(view, f"rating/{subject_tag.hex()}")
    if record is None:
        return None
    return PreviousRating(rule_version=record["rule_set_version"], as_of=_dt.date.fromisoformat(record["as_of"]),
                          active=tuple((int(i), int(w)) for i, w in record["active"]))


def rating_inputs(view: StateView, subject_tag: bytes, ledger_size: int, as_of: _dt.date) -> tuple[Any, Any, list[Any],
                                                                                              tuple[tuple[int, int], ...]]:
    """(rules, previous rating, reports, active set) for rating a subject at `ledger_size`."""
    from core.rating import active_set

    rules, _ = rules_in_force(view, as_of)
    reports = subject_reports(view, subject_tag)
    return rules, previous_rating(view, subject_tag), reports, active_set(reports, rules, ledger_size, as_of)


def check_rating(view: StateView, ally: Alliance, index: int, timestamp_ms: int, body: e.RatingPublished) -> None:
    """Everything a RatingPublished claims, re-derived from the ledger (DESIGN §5 steps 1, 5, 6):
    the rule set in force, the active set and weights, k and the update rule, the opening of
    the commitments by the decrypted counts and R, and the score and grade."""
    from core.rating import check_opening, check_publishable
    from core.rules import score

    as_of = e.parse_date(body.as_of, "rating date")
    if abs((as_of - _day(timestamp_ms)).days) > 1:
        raise InvalidInput(f"rating date {body.as_of} is more than a day from the entry's timestamp")
    if not 0 < body.ledger_size <= index:
        raise InvalidInput(f"rating covers ledger size {body.ledger_size}, outside 1..{index}")
    trustees = set(body.trustees)
    if len(trustees) != len(body.trustees) or len(trustees) < ally.genesis.threshold or \
            not trustees <= {t.index for t in ally.genesis.trustees}:
        raise InvalidInput(f"a rating names at least {ally.genesis.threshold} distinct genesis trustees")
    rules, previous, reports, active = rating_inputs(view, body.subject_tag, body.ledger_size, as_of)
    if previous is not None:
        record = load(view, f"rating/{body.subject_tag.hex()}")
        if body.ledger_size <= int(record["ledger_size"]):
            raise Conflict(f"a rating of this subject already covers ledger size {record['ledger_size']}")
    if rules.version != body.rule_set_version:
        raise VerificationError(
            f"rating names rule set {body.rule_set_version} but {rules.version} is in force on {body.as_of}")
    claimed = tuple(zip(body.active_set, body.weights))
    if claimed != active:
        raise VerificationError("rating's active set or weights differ from the ledger's: "
                                f"claimed {list(claimed)}, the ledger gives {list(active)}")
    check_publishable(rules, reports, active, previous, as_of)
    by_index = {r.index: r for r in reports}
    check_opening(ally.generators, [by_index[i].commitment for i, _ in active], [w for _, w in active],
                  body.counts, body.r_sum)
    score_milli, grade = score(rules, ally.genesis.categories, body.counts)
    if (score_milli, grade) != (body.score_milli, body.grade):
        raise VerificationError(f"rating claims score {body.score_milli / 1000:g} grade {body.grade}; the counts "
                                f"give {score_milli / 1000:g} grade {grade}")
