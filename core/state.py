"""The ledger's state as a projection of its entries (docs/ledger.md).

Members, rule sets, reports, disputes and ratings are never written directly: they are what
`apply` derives from each entry, in order, starting at genesis. The server runs `apply`
before appending (an entry that does not fit the state is refused and nothing changes) and
the auditor runs the very same function while replaying the whole ledger, so the two can
only disagree if the stored bytes were tampered with.

State is a flat key/value map (values are canonical JSON) read through `StateView`, so the
same code runs over a database transaction, a server's pending batch or an auditor's dict.
`apply` returns the updates an entry makes; the caller commits them together with the entry,
in one transaction. The JSON is this module's own: readers get frozen record types
(`MemberRecord`, `ReportRecord`, `SubjectParty`, `RequestRecord`, …) from its accessors.

Checks that need the ledger state live here; checks of the bytes alone live in
`core.entries`. A report's or retraction's validity proof and ring signature are checked by
`core.report_check` against state passed as data, so a server can run them before the
sequencer, in parallel, and the sequencer only re-checks the cheap state conditions.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core import entries as e
from core.access import check_served_signature
from core.alliance import Alliance
from core.combination import (
    PublicationCrypto,
    check_combiner_signature,
    check_designated,
    check_publication,
    held_message,
)
from core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied, VerificationError
from core.group import default_group
from core.investigation import Bisection, bisection, investigation_combiners, max_steps, step_verdict_message
from core.paillier import check_registry_fits
from core.rating import (
    Active,
    PreviousRequest,
    ReportInfo,
    RequestPlan,
    active_set,
    check_request,
    plan_request,
    set_digest,
)
from core.report_check import check_report, check_ring_named, verify_report
from core.ring import RingSignature
from core.rules import RuleSet, check_canonical, check_rule_interval
from core.signing import VerifyKey, key_id

RETENTION_YEARS_DEFAULT = 5
DISPUTE_DAYS = 20  # the regulator answers a dispute within 20 days (征信业管理条例 Art 25)
CLOCK_SKEW_MS = 24 * 3600 * 1000

Updates = dict[str, "bytes | None"]


class StateView(Protocol):
    """What the state machine reads. A view over a store may also offer `values(keys)`:
    {key: value or None} in one round trip, which `read_many` then uses."""

    def get(self, key: str) -> bytes | None:
        """The value at `key`, or None."""

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """All (key, value) pairs whose key starts with `prefix`, ordered by key."""


def read_many(view: StateView, keys: Sequence[str]) -> dict[str, bytes | None]:
    """{key: value or None} for each of `keys`: at once where `view` reads in bulk (a store:
    one query per chunk instead of one per key), else key by key."""
    bulk = getattr(view, "values", None)
    if callable(bulk):
        found: dict[str, bytes | None] = bulk(keys)
        return found
    return {key: view.get(key) for key in keys}


def _read_many_over(held: Mapping[str, bytes | None], base: StateView,
                    keys: Sequence[str]) -> dict[str, bytes | None]:
    """`read_many` for a view that answers the keys of `held` itself and asks `base` for the
    rest (in one bulk read)."""
    out = {key: held[key] for key in keys if key in held}
    return out | read_many(base, [key for key in keys if key not in out])


class ReadAhead:
    """A view of `base` that answers the keys of `values` (None: known to be absent) without
    asking `base`: a batch's checks, read ahead in one round trip (`lookups`). Valid only while
    `base` cannot change underneath, i.e. within one sequencer step of the ledger's one writer."""

    def __init__(self, base: StateView, values: Mapping[str, bytes | None]) -> None:
        self.base = base
        self.known = values

    def get(self, key: str) -> bytes | None:
        if key in self.known:
            return self.known[key]
        return self.base.get(key)

    def values(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        return _read_many_over(self.known, self.base, keys)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return self.base.scan(prefix)


class Overlay:
    """A view of `base` with pending `updates` on top (for a batch not yet committed).

    Callers add to `updates` directly and never remove a key from it; a scan indexes the
    keys added since the last one (`KeysByPrefix`), so that a page of a few thousand
    pending updates is not read whole at every scan."""

    def __init__(self, base: StateView) -> None:
        self.base = base
        self.updates: Updates = {}
        self._index = KeysByPrefix()
        self._indexed: tuple[Updates, int] = (self.updates, 0)  # the dict, and how many of its first keys _index holds

    def get(self, key: str) -> bytes | None:
        if key in self.updates:
            return self.updates[key]
        return self.base.get(key)

    def values(self, keys: Sequence[str]) -> dict[str, bytes | None]:
        return _read_many_over(self.updates, self.base, keys)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        held, count = self._indexed
        if held is not self.updates or len(self.updates) < count:  # replaced, or a key removed: afresh
            self._index, count = KeysByPrefix(), 0
        for key in itertools.islice(self.updates, count, None):
            self._index.add(key)
        self._indexed = (self.updates, len(self.updates))
        return overlaid(self.base.scan(prefix), self._index.within(self.updates, prefix), prefix)


def overlaid(base: Iterable[tuple[str, bytes]], updates: Updates, prefix: str) -> list[tuple[str, bytes]]:
    """`base`'s pairs under `prefix` with `updates` on top (None deletes), ordered by key."""
    merged = dict(base)
    for k, v in updates.items():
        if k.startswith(prefix):
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
    return sorted(merged.items())


class KeysByPrefix:
    """State keys grouped by parent (a key's text up to and including its last "/"), each
    parent also listed under its ancestors, so that the keys under a prefix ending in "/"
    ("subject/<tag>/", "rules/": every scan the state makes) are found without reading the
    rest. A scan of a ledger's state used to read every key: an audit replay spent more than
    half its time there over 1,405 entries with 200 ratings, and the cost grows with the
    ledger (docs/performance.md, "Prefix scans that read only their keys")."""

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}  # parent -> keys
        self._below: dict[str, set[str]] = {}  # prefix ending in "/" -> the parents strictly below it

    def add(self, key: str) -> None:
        parent = key[:key.rfind("/") + 1]
        keys = self._keys.get(parent)
        if keys is None:
            self._keys[parent] = keys = set()
            cut = parent.find("/") + 1
            while 0 < cut < len(parent):
                self._below.setdefault(parent[:cut], set()).add(parent)
                cut = parent.find("/", cut) + 1
        keys.add(key)

    def discard(self, key: str) -> None:
        keys = self._keys.get(key[:key.rfind("/") + 1])
        if keys is not None:
            keys.discard(key)

    def under(self, prefix: str) -> list[str] | None:
        """The keys that start with `prefix`, in no order; None if `prefix` does not end in
        "/" (then the caller reads every key)."""
        if not prefix.endswith("/"):
            return None
        out = list(self._keys.get(prefix, ()))
        for parent in self._below.get(prefix, ()):
            out.extend(self._keys[parent])
        return out

    def within(self, updates: Updates, prefix: str) -> Updates:
        """The pending `updates` (whose keys this holds) under `prefix`: all of them when
        `under` cannot tell, for `overlaid` to pick from."""
        under = self.under(prefix)
        return updates if under is None else {k: updates[k] for k in under}


class MemoryState:
    """A dict-backed `StateView` for auditors and tests; its scans read only the keys under
    their prefix (`KeysByPrefix`)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self._index = KeysByPrefix()

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        under = self._index.under(prefix)
        if under is None:
            return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))
        return sorted((k, self.data[k]) for k in under)

    def update(self, updates: Mapping[str, bytes | None]) -> None:
        for k, v in updates.items():
            if v is None:
                if self.data.pop(k, None) is not None:
                    self._index.discard(k)
            else:
                if k not in self.data:
                    self._index.add(k)
                self.data[k] = v


_STATE_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""The encoding of every state value: what `json.dumps(value, sort_keys=True,
separators=(",", ":"))` gives, from one encoder made once (`json.dumps` with arguments
builds a new encoder per call, half the cost of a report record's encoding)."""


def dump(value: Any) -> bytes:
    # An int, or a string of printable ASCII without a quote or a backslash (a hex id, a
    # category, a date), encodes as itself or in quotes, byte for byte what the encoder
    # gives (it escapes only those and characters outside ' '..'~'): most values an entry
    # writes are those.
    kind = type(value)
    if kind is int:
        return b"%d" % value
    if kind is str and value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return b'"%s"' % value.encode()
    return _STATE_JSON.encode(value).encode()


def _load(view: StateView, key: str) -> Any:
    raw = view.get(key)
    return None if raw is None else json.loads(raw)


def _patched(view: StateView, key: str, **fields: Any) -> bytes:
    """The stored record at `key` with `fields` set: how an entry changes a record."""
    data = _load(view, key)
    data.update(fields)
    return dump(data)


RING_KEY = "ring"
"""The state key of the current ring (`current_ring`)."""


def report_key(report_id: str) -> str:
    """The state key of the report with id `report_id` (hex)."""
    return f"report/{report_id}"


def coupon_key(ring_signature: bytes) -> str:
    """The state key recording that the coupon of `ring_signature` is spent (raises
    InvalidInput for a signature whose framing is wrong)."""
    return _coupon_key(RingSignature.commitment_of(ring_signature))


def _coupon_key(commitment: bytes) -> str:
    return f"coupon/{commitment.hex()}"


def lookups(signed: e.SignedEntry) -> tuple[str, ...]:
    """State keys that `apply` will look up to check `signed` and that can be named from the
    entry alone: the "is it new?" reads of reports, retractions and admissions, which no
    cache can answer, and the ring they are checked against or change. A hint for reading a
    batch's keys in one round trip (`ReadAhead`; a key named by several entries is read
    once); `apply` still reads through its view, so a key left out here costs a read, never
    a wrong verdict."""
    body = signed.entry.body
    if isinstance(body, e.MemberAdmitted):
        return (f"member/{body.member_id}", f"memberkey/{key_id(body.signing_key)}",
                f"reportingkey/{body.reporting_key.hex()}", RING_KEY)
    if not isinstance(body, (e.ReportCommitted, e.ReportRetracted)) or signed.ring_signature is None:
        return ()
    try:
        coupon = coupon_key(signed.ring_signature)
    except InvalidInput:
        return ()  # apply refuses it
    return report_key(body.report_id.hex()), coupon, RING_KEY


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class MemberRecord:
    """An admitted member as the ledger records it (state key member/<id>); `revoked_at` is
    the MemberRevoked entry, None while the member may write."""

    member_id: str
    display_name: str
    admitted_at: int
    revoked_at: int | None
    signing_key: bytes
    reporting_key: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MemberRecord:
        return cls(member_id=data["member_id"], display_name=data["display_name"],
                   admitted_at=int(data["admitted_at"]), revoked_at=_opt_int(data["revoked_at"]),
                   signing_key=bytes.fromhex(data["signing_key"]), reporting_key=bytes.fromhex(data["reporting_key"]))


def member_of_key(view: StateView, kid: str) -> str | None:
    """The id of the member whose signing key has key id `kid`, or None."""
    member = _load(view, f"memberkey/{kid}")
    return None if member is None else str(member)


def subject_of_key(view: StateView, kid: str) -> str | None:
    """The tag (hex) of the subject an enrolment gave the signing key `kid`, or None."""
    tag = _load(view, f"subjectkey/{kid}")
    return None if tag is None else str(tag)


def member_record(view: StateView, member_id: str) -> MemberRecord | None:
    """The member `member_id` as admitted (and perhaps revoked), or None if never admitted."""
    data = _load(view, f"member/{member_id}")
    return None if data is None else MemberRecord.from_json(data)


def current_ring(view: StateView) -> tuple[list[bytes], int]:
    """Reporting keys of every admitted, unrevoked member in admission order, and the index
    of the last entry that changed that set (a ring named at a size after it is current)."""
    ring = _ring(view)
    return list(ring.keys), ring.changed_at


@dataclass(frozen=True)
class _Ring:
    """A ring record decoded: its keys, the entry that last changed them, and the record
    itself, byte for byte what `dump` gives for {"changed_at": ..., "keys": [hex, ...]}
    (sorted keys, no spaces). An admission writes the next record by copying this one once
    with one key more, instead of encoding every key again."""

    keys: tuple[bytes, ...]
    changed_at: int
    record: bytes

    @staticmethod
    def _record(changed_at: int, *listed: bytes | memoryview) -> bytes:
        """The record around `listed`, the keys quoted and separated by commas."""
        return b"".join((b'{"changed_at":%d,"keys":[' % changed_at, *listed, b"]}"))

    @classmethod
    def of(cls, keys: tuple[bytes, ...], changed_at: int) -> _Ring:
        return cls(keys, changed_at, cls._record(changed_at, b",".join(b'"%s"' % k.hex().encode() for k in keys)))

    def admitting(self, key: bytes, index: int) -> _Ring:
        listed = memoryview(self.record)[self.record.index(b"[") + 1:-2]  # the keys, quoted, with commas
        record = self._record(index, listed, b"," if self.keys else b"", b'"%s"' % key.hex().encode())
        return _Ring(self.keys + (key,), index, record)

    def revoking(self, key: bytes, index: int) -> _Ring:
        return _Ring.of(tuple(k for k in self.keys if k != key), index)


_NO_RING = _Ring.of((), 0)
_written = _NO_RING
"""The ring this process wrote last (an admission reads the record the one before it wrote,
or the store gives back the same bytes once committed): compared byte for byte, which
costs less than hashing a record of thousands of keys to look it up in `_RINGS`."""
_RINGS: dict[bytes, _Ring] = {}
"""Ring records decoded lately, by their stored bytes (every report reads the ring). At most
`_RINGS_KEPT`."""
_RINGS_KEPT = 8


def _ring(view: StateView) -> _Ring:
    raw = view.get(RING_KEY)
    if raw is None:
        return _NO_RING
    if type(raw) is not bytes:
        raw = bytes(raw)
    written = _written
    if raw is written.record or raw == written.record:
        return written
    ring = _RINGS.get(raw)
    if ring is None:
        data = json.loads(raw)
        ring = _Ring.of(tuple(bytes.fromhex(k) for k in data["keys"]), int(data["changed_at"]))
        _RINGS[raw] = ring  # several threads may do this at once: a lost entry only costs a decode
        while len(_RINGS) > _RINGS_KEPT:
            try:
                del _RINGS[next(iter(_RINGS))]
            except (KeyError, RuntimeError, StopIteration):
                break
    return ring


def _ring_update(ring: _Ring) -> bytes:
    """The state value of `ring`, remembered (`_written`) so that the next read does not decode it."""
    global _written
    _written = ring
    return ring.record


def genesis_signer(ally: Alliance, signed: e.SignedEntry) -> tuple[str, bytes] | None:
    """("regulator" or "operator", its key) if `signed` carries an Ed25519 signature whose
    key id names that genesis key; None otherwise."""
    sig = signed.signature
    return None if sig is None else ally.genesis_signers.get(sig.key_id)


def _verify_signature(signed: e.SignedEntry, author: str, key: bytes) -> None:
    assert signed.signature is not None
    try:
        VerifyKey.from_bytes(key).verify(signed.signed_message(), signed.signature.signature)
    except VerificationError:
        raise VerificationError(f"the {author} signature on this {signed.entry.kind} entry does not verify") from None


def check_reporting_key(reporting_key: bytes) -> None:
    """An admitted member's reporting key: the canonical encoding of a G1 point other than
    the identity (InvalidInput otherwise)."""
    group = default_group()
    if group.is_identity(group.decode(reporting_key)):  # canonical, on the curve, in the subgroup
        raise InvalidInput("the reporting key is the identity point, which every scalar matches; generate a "
                           "fresh key for the member")


def has_stateless_checks(ally: Alliance | None, signed: e.SignedEntry) -> bool:
    """Whether `stateless_checks` has checks to make for `signed` (`ally` None: the genesis,
    which has none): whether a caller whose workers make them may apply `signed` with
    `prechecked=True` (`client.batch.Prechecks`, `server.intake.verify_jobs`). Never for a
    report or retraction: those are ring-signed and verified as reports (`apply` refuses
    one that carries an Ed25519 signature instead)."""
    return ally is not None and not isinstance(signed.entry.body, (e.ReportCommitted, e.ReportRetracted)) \
        and genesis_signer(ally, signed) is not None


def stateless_checks(ally: Alliance, signed: e.SignedEntry) -> bool:
    """Make the checks of entry `signed` that need no state and that `apply(prechecked=True)`
    then leaves out; whether there were any. They are the costly ones of governance entries:
    the Ed25519 signature of an entry whose key id names the regulator's or the operator's
    genesis key (which no later entry changes, so whoever verifies it needs no state), and
    an admission's reporting key (`check_reporting_key`). The operator's verification
    workers make them before the sequencer (`server.intake.verify_jobs`), and an auditor's
    or a trustee mirror's in parallel while `apply` makes every other check in order
    (`client.batch.Prechecks`). Raises what `apply` would raise for the same fault
    (VerificationError, InvalidInput)."""
    if not has_stateless_checks(ally, signed):
        return False
    signer = genesis_signer(ally, signed)
    assert signer is not None
    _verify_signature(signed, *signer)
    if isinstance(signed.entry.body, e.MemberAdmitted):
        check_reporting_key(signed.entry.body.reporting_key)
    return True


def author_of(view: StateView, ally: Alliance, signed: e.SignedEntry, prechecked: bool = False) -> str:
    """Verify the Ed25519 signature and name its author: "regulator", "operator" or
    "member:<id>". Raises VerificationError / PermissionDenied. `prechecked`: the entry
    passed `stateless_checks`, so a regulator's or operator's signature is not verified again."""
    sig = signed.signature
    if sig is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry an Ed25519 signature, not a ring signature")
    author: str | None = None
    key: bytes | None = None
    signer = genesis_signer(ally, signed)
    if signer is not None:
        author, key = signer
        if prechecked:
            return author
    else:
        member = member_of_key(view, sig.key_id)
        if member is not None:
            record = member_record(view, member)
            assert record is not None  # memberkey/ is written with member/
            if record.revoked_at is not None:
                raise PermissionDenied(f"member {member} was revoked at entry {record.revoked_at} and may not write")
            author, key = f"member:{member}", record.signing_key
    if author is None:
        author, key = subject_author(view, sig.key_id)
    if author is None or key is None:
        raise PermissionDenied(f"signing key {sig.key_id} belongs to no regulator, operator, admitted member "
                               "or enrolled subject")
    _verify_signature(signed, author, key)
    return author


def _require(author: str, allowed: Sequence[str], kind: str) -> None:
    role = author.split(":", 1)[0]
    if role not in allowed:
        raise PermissionDenied(f"only the {' or '.join(allowed)} may write {kind}; this entry is signed by the {role}")


def spend_coupon(view: StateView, commitment: bytes, index: int) -> dict[str, bytes | None]:
    """Record the coupon a ring signature spends (its commitment Cx, compressed), refusing one
    the ledger has seen: a coupon signs once (two signatures sharing its Cx are linkable, and
    a repeated nonce would reveal the key; docs/reports.md, "Ring signature")."""
    key = _coupon_key(commitment)
    spent = _load(view, key)
    if spent is not None:
        raise Conflict(f"this ring signature spends a coupon already spent by entry {spent}; a coupon signs once: "
                       "sign again with a fresh coupon")
    return {key: dump(index)}


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


@dataclass(frozen=True)
class EscrowOpening:
    """An EscrowOpened of a report: its entry and reason ("dispute:<id>" or "entry:<index>")."""

    index: int
    reason: str


def new_report_value(index: int, subject: str, category: str, incident_date: str, link: bytes,
                     commitment: bytes) -> bytes:
    """The state value of a report just recorded (`subject` in hex), byte for byte `dump` of
    its record, formatted directly: the sequencer writes one for every report."""
    return (b'{"category":%s,"commitment":"%s","fraud_at":null,"incident_date":%s,"index":%d,"link":"%s",'
            b'"retracted_at":null,"subject":"%s"}') % (dump(category), commitment.hex().encode(), dump(incident_date),
                                                      index, link.hex().encode(), subject.encode())


@dataclass(frozen=True)
class ReportRecord:
    """A report as the ledger records it (state key report/<id>): its ReportCommitted `index`,
    subject, category, incident date, link tag and commitment; the entries that retracted it
    or found it fraudulent; the dispute it is under (`disputed`, None when none is open), the
    annotation a resolution added, the openings of its escrow and the OperatorFaulted naming
    it."""

    index: int
    subject: bytes
    category: str
    incident_date: str
    link: bytes
    commitment: bytes
    retracted_at: int | None
    fraud_at: int | None
    disputed: str | None
    annotation: str | None
    escrow_opened: tuple[EscrowOpening, ...]
    operator_faulted: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportRecord:
        return cls(
            index=int(data["index"]), subject=bytes.fromhex(data["subject"]), category=data["category"],
            incident_date=data["incident_date"], link=bytes.fromhex(data["link"]),
            commitment=bytes.fromhex(data["commitment"]), retracted_at=_opt_int(data["retracted_at"]),
            fraud_at=_opt_int(data["fraud_at"]), disputed=data.get("disputed") or None,
            annotation=data.get("annotation"),
            escrow_opened=tuple(EscrowOpening(index=int(o["index"]), reason=o["reason"])
                                for o in data.get("escrow_opened") or ()),
            operator_faulted=_opt_int(data.get("operator_faulted")))


def report_id_at(view: StateView, subject_tag: bytes, index: int) -> str | None:
    """The id (hex) of the report about the subject recorded at ledger `index`, or None."""
    rid = _load(view, f"subject/{subject_tag.hex()}/{index:012d}")
    return None if rid is None else str(rid)


def report_record(view: StateView, report_id: str) -> ReportRecord | None:
    """The report with id `report_id` (hex), or None if it is not on the ledger."""
    data = _load(view, report_key(report_id))
    return None if data is None else ReportRecord.from_json(data)


def report_at(view: StateView, subject_tag: bytes, index: int) -> ReportRecord | None:
    """The report about the subject recorded at ledger `index`, or None."""
    rid = report_id_at(view, subject_tag, index)
    return None if rid is None else report_record(view, rid)


@dataclass(frozen=True)
class DisputeRecord:
    """A dispute as the ledger records it (state key dispute/<id>): its DisputeFiled `index`,
    the report (id hex) it disputes, its author ("regulator", "member:<id>", "subject:<tag>"),
    the day its answer is due, and the DisputeResolved with its outcome."""

    index: int
    report: str
    by: str
    due: str
    deadline_days: int
    resolved_at: int | None
    outcome: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DisputeRecord:
        return cls(index=int(data["index"]), report=data["report"], by=data["by"], due=data["due"],
                   deadline_days=int(data["deadline_days"]), resolved_at=_opt_int(data["resolved_at"]),
                   outcome=data.get("outcome"))


def dispute_record(view: StateView, dispute_id: str) -> DisputeRecord | None:
    """The dispute with id `dispute_id` (hex), or None if it was never filed."""
    data = _load(view, f"dispute/{dispute_id}")
    return None if data is None else DisputeRecord.from_json(data)


def apply(view: StateView, ally: Alliance | None, index: int, signed: e.SignedEntry, *,
          now_ms: int | None = None, verify: bool = True, checked: bool = False,
          prechecked: bool = False, defer: Callable[[PublicationCrypto], None] | None = None) -> Updates:
    """Validate entry `index` against the state and return the updates it makes.

    Dates in a report are judged against the entry's own timestamp, so a replay years later
    reaches the same verdict; `now_ms` (the caller's clock, which the core does not have)
    is given at intake to refuse timestamps more than a day off. With `verify=False` the
    ring signature and validity proof are assumed checked already by
    `core.report_check.verify_report` (the server does that before the sequencer), which
    `verify=True` calls itself; everything else is always checked. `checked=True` (with
    `verify=False`) says more: the entry passed `core.report_check.report_items` (intake's,
    a mirror's or an auditor's batch verification), whose cheap checks of a report
    (`check_report`: category, ciphertext) are then not made again. `prechecked=True`: the
    entry passed `stateless_checks` (the operator's verification workers, or an auditor's
    or a mirror's, made them), which are not made again; whatever else signed the entry
    (a member, a subject) is verified. `defer`: a RatingPublished's crypto is handed to it
    instead of checked here (`core.combination.check_publication`, whose caveat binds the
    caller).
    Raises InvalidInput, VerificationError, PermissionDenied, Conflict or AlreadyExists;
    on any error the state is unchanged.
    """
    entry = signed.entry
    body = entry.body
    if index == 0 or ally is None:
        if index != 0 or not isinstance(body, e.Genesis):
            raise InvalidInput(f"entry 0 must be the genesis, and only entry 0; got {entry.kind} at {index}")
        if signed.signature is None or signed.signature.key_id != key_id(body.regulator_key):
            raise PermissionDenied("the genesis must be signed by the regulator key it names")
        VerifyKey.from_bytes(body.regulator_key).verify(signed.signed_message(), signed.signature.signature)
        check_registry_fits(body.paillier_n, len(body.categories))
        return {"head/genesis": dump({"index": 0})}
    if isinstance(body, e.Genesis):
        raise Conflict(f"the ledger already has its genesis; entry {index} cannot be another")

    up: Updates = {}
    if isinstance(body, e.MemberAdmitted):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "MemberAdmitted")
        if view.get(f"member/{body.member_id}") is not None:
            raise AlreadyExists(f"member {body.member_id} is already admitted (or was revoked); choose another id")
        kid = key_id(body.signing_key)
        if view.get(f"memberkey/{kid}") is not None or kid in ally.genesis_signers:
            raise AlreadyExists("that signing key is already registered; generate a fresh key for the member")
        if not prechecked:
            check_reporting_key(body.reporting_key)
        if view.get(f"reportingkey/{body.reporting_key.hex()}") is not None:  # canonical: one encoding a key
            raise AlreadyExists("that reporting key is already registered; generate a fresh key for the member")
        up[f"member/{body.member_id}"] = dump({
            "member_id": body.member_id, "display_name": body.display_name, "admitted_at": index,
            "revoked_at": None, "signing_key": body.signing_key.hex(), "reporting_key": body.reporting_key.hex(),
        })
        up[f"memberkey/{kid}"] = dump(body.member_id)
        up[f"reportingkey/{body.reporting_key.hex()}"] = dump(body.member_id)
        up[RING_KEY] = _ring_update(_ring(view).admitting(body.reporting_key, index))
    elif isinstance(body, e.MemberRevoked):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "MemberRevoked")
        member = member_record(view, body.member_id)
        if member is None:
            raise NotFound(f"member {body.member_id} was never admitted")
        if member.revoked_at is not None:
            raise Conflict(f"member {body.member_id} is already revoked (entry {member.revoked_at})")
        up[f"member/{body.member_id}"] = _patched(view, f"member/{body.member_id}", revoked_at=index)
        up[RING_KEY] = _ring_update(_ring(view).revoking(member.reporting_key, index))
    elif isinstance(body, e.RuleSetPublished):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "RuleSetPublished")
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
        if view.get(report_key(rid)) is not None:
            raise AlreadyExists(f"report {rid} is already on the ledger; a replay changes nothing")
        if signed.escrow is None:
            raise InvalidInput("a stored report carries the escrow the operator sealed at intake; this leaf has none")
        check_report_time(entry.timestamp_ms, now_ms)
        today = _day(entry.timestamp_ms)
        check_incident_date(body.incident_date, today)
        check_notice_date(body.notice_date, body.incident_date, today)
        if not verify and not checked:
            check_report(ally, body)
        link, commitment = _ring_tags(view, ally, signed, body.ring_change, index, verify)
        up.update(spend_coupon(view, commitment, index))
        subject = body.subject_tag.hex()
        up[report_key(rid)] = new_report_value(index, subject, body.category, body.incident_date, link,
                                               body.commitment)
        up[f"subject/{subject}/{index:012d}"] = dump(rid)
    elif isinstance(body, e.ReportRetracted):
        rid = body.report_id.hex()
        report = report_record(view, rid)
        if report is None:
            raise NotFound(f"report {rid} is not on the ledger")
        if report.retracted_at is not None:
            raise Conflict(f"report {rid} was already retracted at entry {report.retracted_at}")
        check_report_time(entry.timestamp_ms, now_ms)  # a retraction is as anonymous as its report
        link, commitment = _ring_tags(view, ally, signed, body.ring_change, index, verify, report.subject)
        if link != report.link:
            raise PermissionDenied("only the original reporter can retract a report: the link tag does not match")
        up.update(spend_coupon(view, commitment, index))
        up[report_key(rid)] = _patched(view, report_key(rid), retracted_at=index)
    elif isinstance(body, e.DisputeFiled):
        author = author_of(view, ally, signed, prechecked)
        up.update(check_dispute_filed(view, author, index, entry.timestamp_ms, body, now_ms))
    elif isinstance(body, e.DisputeResolved):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "DisputeResolved")
        did = body.dispute_id.hex()
        dispute = dispute_record(view, did)
        if dispute is None:
            raise NotFound(f"dispute {did} was never filed")
        if dispute.resolved_at is not None:
            raise Conflict(f"dispute {did} is already resolved")
        up[f"dispute/{did}"] = _patched(view, f"dispute/{did}", resolved_at=index, outcome=body.outcome)
        report = report_record(view, dispute.report)
        assert report is not None  # a dispute names a recorded report
        changes: dict[str, Any] = {"disputed": None}
        if body.outcome == "retract" and report.retracted_at is None:
            changes["retracted_at"] = index
        if body.outcome == "annotate":
            changes["annotation"] = body.annotation
        up[report_key(dispute.report)] = _patched(view, report_key(dispute.report), **changes)
    elif isinstance(body, e.InvestigationAuthorised):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "InvestigationAuthorised")
        up.update(check_investigation_authorised(view, index, body))
    elif isinstance(body, e.InvestigationStep):
        _require(author_of(view, ally, signed, prechecked), ["operator"], "InvestigationStep")
        up.update(check_investigation_step(view, ally, index, body))
    elif isinstance(body, e.CombinerFaulted):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "CombinerFaulted")
        up.update(check_combiner_faulted(view, index, body))
    elif isinstance(body, e.FraudFound):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "FraudFound")
        rid = body.report_id.hex()
        report = report_record(view, rid)
        if report is None or report.subject != body.subject_tag:
            raise NotFound(f"report {rid} about that subject is not on the ledger")
        if report.fraud_at is not None:
            raise Conflict(f"report {rid} was already found fraudulent at entry {report.fraud_at}")
        up.update(consume_investigation(view, index, body.subject_tag, report.index))
        up[report_key(rid)] = _patched(view, report_key(rid), fraud_at=index)
    elif isinstance(body, e.RatingRequested):
        _require(author_of(view, ally, signed, prechecked), ["operator"], "RatingRequested")
        up.update(check_rating_request(view, index, entry.timestamp_ms, body))
    elif isinstance(body, (e.RatingPublished, e.RatingHeld, e.RatingWithdrawn)):
        _require(author_of(view, ally, signed, prechecked), ["operator"], entry.kind)
        up.update(check_rating_answer(view, ally, index, body, defer))
    elif isinstance(body, e.EscrowOpened):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "EscrowOpened")
        rid = body.report_id.hex()
        report = report_record(view, rid)
        if report is None:
            raise NotFound(f"report {rid} is not on the ledger; an escrow is opened only for a recorded report")
        check_escrow_reason(view, rid, report, body.reason)
        if any(o.reason == body.reason for o in report.escrow_opened):
            raise AlreadyExists(f"the escrow of report {rid} was already opened for {body.reason}")
        opened = [{"index": o.index, "reason": o.reason} for o in report.escrow_opened]
        up[report_key(rid)] = _patched(view, report_key(rid),
                                       escrow_opened=opened + [{"index": index, "reason": body.reason}])
    elif isinstance(body, e.OperatorFaulted):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], "OperatorFaulted")
        rid = body.report_id.hex()
        report = report_record(view, rid)
        if report is None:
            raise NotFound(f"report {rid} is not on the ledger")
        if not report.escrow_opened:
            raise Conflict(f"the escrow of report {rid} was never opened on the ledger: append EscrowOpened first")
        if report.operator_faulted is not None:
            raise AlreadyExists(f"the operator's escrow of report {rid} was already faulted at entry "
                                f"{report.operator_faulted}")
        up[report_key(rid)] = _patched(view, report_key(rid), operator_faulted=index)
    elif isinstance(body, e.QueryLogCommitted):
        _require(author_of(view, ally, signed, prechecked), ["operator"], "QueryLogCommitted")
        up.update(querylog_commit_updates(view, index, body))
    elif isinstance(body, (e.SubjectEnrolled, e.SubjectAccessAuthorised, e.SubjectRevoked)):
        _require(author_of(view, ally, signed, prechecked), ["regulator"], entry.kind)
        up.update(subject_party_updates(view, ally, index, body))
    elif isinstance(body, e.SubjectAccessServed):
        _require(author_of(view, ally, signed, prechecked), ["operator"], "SubjectAccessServed")
        up.update(check_access_served(view, ally, index, body))
    else:  # pragma: no cover - the Body union is closed
        raise InvalidInput(f"unknown entry type {entry.kind}")
    return up


def _ring_tags(view: StateView, ally: Alliance, signed: e.SignedEntry, ring_change: int, index: int, verify: bool,
               retracted_subject: bytes | None = None) -> tuple[bytes, bytes]:
    """A report's or retraction's ring signature: its link tag and the commitment of the
    coupon it spends. `verify`: verified here (`verify_report`); otherwise verified already,
    and only the ring it names is checked to be the current one."""
    if verify:
        ring, changed_at = current_ring(view)
        link = verify_report(ally, signed, ring, changed_at, index, retracted_subject)
        assert signed.ring_signature is not None  # verify_report refuses an entry without one
        return link, RingSignature.commitment_of(signed.ring_signature)
    if signed.ring_signature is None:
        raise PermissionDenied(f"{signed.entry.kind} must carry a ring signature")
    check_ring_named(ring_change, _ring(view).changed_at, index)
    return RingSignature.tags_of(signed.ring_signature)


def check_escrow_reason(view: StateView, rid: str, record: ReportRecord, reason: str) -> None:
    """An escrow is opened only for an open dispute on that very report, or under a
    FraudFound naming it or an InvestigationAuthorised of its subject that covers it."""
    kind, ref = e.parse_escrow_reason(reason)
    if kind == "dispute":
        dispute = dispute_record(view, ref)
        if dispute is None or dispute.report != rid:
            raise NotFound(f"no dispute {ref} was filed against report {rid}; open the escrow for a dispute on it")
        if dispute.resolved_at is not None:
            raise Conflict(f"dispute {ref} was resolved at entry {dispute.resolved_at}; an escrow is opened only "
                           "while its dispute is open")
        return
    at = int(ref)
    if record.fraud_at == at:
        return
    investigation = investigation_record(view, record.subject, at)
    if investigation is not None and investigation.ledger_size > record.index:
        return
    raise PermissionDenied(f"entry {at} is neither a FraudFound naming report {rid} nor an InvestigationAuthorised "
                           "of its subject covering it: the escrow stays closed")


@functools.lru_cache(maxsize=256)  # reports carry whole hours: a batch has one or two
def _day(ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).date()


# -- ratings (docs/ratings.md) -------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSetRecord:
    """A published rule set (state key rules/<version>): its RuleSetPublished `index`, its
    effective date and the rule set itself."""

    index: int
    effective_from: str
    rules: RuleSet

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleSetRecord:
        return cls(index=int(data["index"]), effective_from=data["effective_from"],
                   rules=RuleSet.from_json(data["rules"]))


def rule_set_record(view: StateView, version: str) -> RuleSetRecord | None:
    """The published rule set `version`, or None if it is not on the ledger."""
    raw = view.get(f"rules/{version}")
    return None if raw is None else _rule_set_record(bytes(raw))


def rule_set_records(view: StateView) -> list[RuleSetRecord]:
    """Every published rule set, in ledger order."""
    return sorted((_rule_set_record(bytes(raw)) for _key, raw in view.scan("rules/")), key=lambda r: r.index)


@functools.lru_cache(maxsize=64)
def _rule_set_record(raw: bytes) -> RuleSetRecord:
    """A stored rule set record, parsed and checked (`RuleSet.from_json`) once per process for
    the same bytes: every rating request and answer reads the rule sets, and a ledger holds
    a few (checked again each time, they cost a request at 3 reports 0.60 ms instead of 0.50)."""
    return RuleSetRecord.from_json(json.loads(raw))


def rules_in_force(view: StateView, as_of: _dt.date, before: int | None = None) -> tuple[RuleSet, int]:
    """The rule set in force on `as_of` (latest effective date not after it; the later entry
    wins a tie) and the index of its RuleSetPublished entry. With `before`, only rule sets
    published below that ledger size count (a rating at size L sees the ledger below L).
    NotFound if none is."""
    best: RuleSetRecord | None = None
    for record in rule_set_records(view):
        if before is not None and record.index >= before:
            continue
        if record.effective_from <= as_of.isoformat() and (
                best is None or (record.effective_from, record.index) > (best.effective_from, best.index)):
            best = record
    if best is None:
        raise NotFound(f"no rule set is in force on {as_of.isoformat()}: the regulator must publish one")
    return best.rules, best.index


def rules_named(view: StateView, version: str) -> RuleSet:
    """The published rule set `version` (NotFound if it is not on the ledger)."""
    record = rule_set_record(view, version)
    if record is None:
        raise NotFound(f"rule set {version} is not on the ledger")
    return record.rules


def subject_reports(view: StateView, subject_tag: bytes) -> list[ReportInfo]:
    """Every report ever recorded about the subject, as `core.rating.ReportInfo`."""
    out = []
    keys = [report_key(json.loads(raw)) for _key, raw in view.scan(f"subject/{subject_tag.hex()}/")]
    records = read_many(view, keys)  # hundreds of reports: one read, not one each
    for key in keys:
        raw = records[key]
        assert raw is not None  # subject/ is written with report/
        out.append(report_info(raw if type(raw) is bytes else bytes(raw)))
    return out


@functools.lru_cache(maxsize=4096)
def report_info(raw: bytes) -> ReportInfo:
    """A stored report record as a `ReportInfo`: a function of the record's bytes alone,
    remembered, since a rating's request and its answer each read every report of the
    subject (and an answer's record differs from the request's only for a report retracted
    or found fraudulent in between, whose bytes then differ)."""
    record = ReportRecord.from_json(json.loads(raw))
    return ReportInfo(
        index=record.index, category=record.category, incident_date=_dt.date.fromisoformat(record.incident_date),
        link_tag=record.link, commitment=record.commitment, retracted_at=record.retracted_at,
        fraud_at=record.fraud_at,
    )


@dataclass(frozen=True)
class RequestAnswer:
    """The entry answering a rating request: `kind` is "published", "held" or "withdrawn"."""

    kind: str
    index: int


@dataclass(frozen=True)
class RequestRecord:
    """A RatingRequested at ledger index `index` as the ledger recorded it (state key
    request/<index>): its set with weights, `reporters` and `below_k`, the `previous` request,
    its `answer` (None while unanswered) and the FraudFound that `resolved` a held one."""

    index: int
    subject: bytes
    ledger_size: int
    as_of: str
    rule_set_version: str
    kind: str
    active: tuple[tuple[int, int], ...]
    digest: bytes
    reporters: int
    below_k: bool
    previous: int | None
    answer: RequestAnswer | None
    resolved: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestRecord:
        answer = data["answer"]
        return cls(
            index=int(data["index"]), subject=bytes.fromhex(data["subject"]), ledger_size=int(data["ledger_size"]),
            as_of=data["as_of"], rule_set_version=data["rule_set_version"], kind=data["kind"],
            active=tuple((int(i), int(w)) for i, w in data["active"]), digest=bytes.fromhex(data["digest"]),
            reporters=int(data["reporters"]), below_k=bool(data["below_k"]), previous=_opt_int(data["previous"]),
            answer=None if answer is None else RequestAnswer(kind=answer["kind"], index=int(answer["index"])),
            resolved=_opt_int(data.get("resolved")))

    def entry(self) -> e.RatingRequested:
        """The RatingRequested body this record was made from."""
        return e.RatingRequested(
            subject_tag=self.subject, ledger_size=self.ledger_size, set_digest=self.digest,
            active_set=tuple(i for i, _ in self.active), weights=tuple(w for _, w in self.active), as_of=self.as_of,
            rule_set_version=self.rule_set_version, kind=self.kind)


def _request_key(index: int) -> str:
    return f"request/{index:012d}"


def request_record(view: StateView, index: int) -> RequestRecord | None:
    """The RatingRequested at ledger index `index` as the ledger recorded it, with its answer."""
    data = _load(view, _request_key(index))
    return None if data is None else RequestRecord.from_json(data)


def latest_request(view: StateView, subject_tag: bytes) -> RequestRecord | None:
    """The subject's newest RatingRequested record, or None."""
    pointer = _load(view, f"ratingreq/{subject_tag.hex()}")
    return None if pointer is None else request_record(view, int(pointer))


def _previous_of(record: RequestRecord | None) -> PreviousRequest | None:
    if record is None:
        return None
    return PreviousRequest(index=record.index, ledger_size=record.ledger_size, rule_version=record.rule_set_version,
                           as_of=_dt.date.fromisoformat(record.as_of), active=record.active)


def request_plan(view: StateView, subject_tag: bytes, ledger_size: int, as_of: _dt.date,
                 previous: RequestRecord | None) -> RequestPlan:
    """`core.rating.plan_request` over the ledger's history: the rule set in force below L,
    every report of the subject, and the previous request (`previous`, a request record)."""
    rules, _ = rules_in_force(view, as_of, before=ledger_size)
    prev = _previous_of(previous)
    prev_rules = None if prev is None else rules_named(view, prev.rule_version)
    return plan_request(rules, subject_reports(view, subject_tag), prev, prev_rules, ledger_size, as_of)


@dataclass(frozen=True)
class RatingRecord:
    """A subject's published rating (state key rating/<tag>; removed by a withdrawal): the
    RatingPublished `index`, the `request` it answers, and what it published."""

    index: int
    request: int
    ledger_size: int
    as_of: str
    rule_set_version: str
    active: tuple[tuple[int, int], ...]
    score: int
    grade: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RatingRecord:
        return cls(index=int(data["index"]), request=int(data["request"]), ledger_size=int(data["ledger_size"]),
                   as_of=data["as_of"], rule_set_version=data["rule_set_version"],
                   active=tuple((int(i), int(w)) for i, w in data["active"]), score=int(data["score"]),
                   grade=data["grade"])


def rating_record(view: StateView, subject_tag: bytes) -> RatingRecord | None:
    """The subject's published rating in force, or None (never rated, or withdrawn)."""
    data = _load(view, f"rating/{subject_tag.hex()}")
    return None if data is None else RatingRecord.from_json(data)


def rating_inputs(view: StateView, subject_tag: bytes, ledger_size: int,
                  as_of: _dt.date) -> tuple[RuleSet, PreviousRequest | None, list[ReportInfo], Active]:
    """(rules, previous request, reports, active set) for rating a subject at `ledger_size`."""
    rules, _ = rules_in_force(view, as_of, before=ledger_size)
    reports = subject_reports(view, subject_tag)
    return rules, _previous_of(latest_request(view, subject_tag)), reports, \
        active_set(reports, rules, ledger_size, as_of)


def check_rating_request(view: StateView, index: int, timestamp_ms: int, body: e.RatingRequested) -> Updates:
    """A RatingRequested against the ledger's history (docs/ratings.md): L is a size of
    this ledger and not below the previous request's; every earlier request for the subject
    is answered; and the set, weights, date, rule set and kind are exactly what the update
    rule (`core.rating.plan_request`) derives at L against the previous request."""
    if not 0 < body.ledger_size <= index:
        raise InvalidInput(f"request names ledger size {body.ledger_size}, outside 1..{index}")
    previous = latest_request(view, body.subject_tag)
    if previous is not None and previous.answer is None:
        raise Conflict(f"request {previous.index} for this subject is not answered yet: append its "
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
              "previous": None if previous is None else previous.index, "answer": None}
    return {_request_key(index): dump(record), f"ratingreq/{body.subject_tag.hex()}": dump(index)}


def check_rating_answer(view: StateView, ally: Alliance, index: int,
                        body: e.RatingPublished | e.RatingHeld | e.RatingWithdrawn,
                        defer: Callable[[PublicationCrypto], None] | None = None) -> Updates:
    """RatingPublished, RatingHeld or RatingWithdrawn answering the subject's newest, unanswered
    request. A publication is verified in full (`core.combination.check_publication`; its
    crypto handed to `defer` if given); a held verdict must carry a genesis trustee's
    signature; a withdrawal answers only a request whose set has fewer than k reporters
    (and such a request has no other answer)."""
    record = request_record(view, body.request_index)
    if record is None or record.subject != body.subject_tag:
        raise NotFound(f"entry {body.request_index} is not a rating request for this subject")
    newest = latest_request(view, body.subject_tag)
    if newest is None or newest.index != record.index:
        raise Conflict(f"request {body.request_index} is not the subject's newest request")
    if record.answer is not None:
        raise Conflict(f"request {body.request_index} is already answered by entry {record.answer.index}")
    up: Updates = {}
    if isinstance(body, e.RatingWithdrawn):
        if not record.below_k:
            raise Conflict(f"request {body.request_index} has {record.reporters} reporters: it is rated or held, "
                           "not withdrawn")
        kind = "withdrawn"
        up[f"rating/{body.subject_tag.hex()}"] = None
    elif record.below_k:
        raise Conflict(f"request {body.request_index} has fewer than k reporters: only RatingWithdrawn answers it")
    elif isinstance(body, e.RatingHeld):
        if body.ledger_size != record.ledger_size:
            raise VerificationError("the held verdict names another ledger size than its request")
        # Two designated combiners must both say "does not open" (docs/ratings.md).
        for combiner, signature in ((body.combiner, body.verdict_signature),
                                    (body.second_combiner, body.second_signature)):
            check_designated(ally.genesis, ally.genesis_hash, body.subject_tag, body.ledger_size, combiner)
            check_combiner_signature(ally.genesis, combiner, held_message(
                ally.genesis_hash, body.request_index, body.subject_tag, body.ledger_size,
                record.digest, combiner), signature)
        kind = "held"
    else:
        rules = rules_named(view, record.rule_set_version)
        check_publication(ally.generators, ally.genesis, ally.genesis_hash, rules, record.index,
                          record.entry(), subject_reports(view, body.subject_tag), body, defer=defer)
        kind = "published"
        up[f"rating/{body.subject_tag.hex()}"] = dump({
            "index": index, "request": body.request_index, "ledger_size": body.ledger_size, "as_of": body.as_of,
            "rule_set_version": body.rule_set_version, "active": [list(p) for p in record.active],
            "score": body.score, "grade": body.grade,
        })
    up[_request_key(record.index)] = _patched(view, _request_key(record.index), answer={"kind": kind, "index": index})
    return up


QUERYLOG_HEAD = "querylog/head"
QUERYLOG_COMMIT = "querylog/commit/"


def querylog_commit_key(last_id: int) -> str:
    """State key of the commitment whose last record is `last_id` (zero-padded: keys sort
    by id, so the commitment holding record r is the first key at or after r's)."""
    return f"{QUERYLOG_COMMIT}{last_id:020d}"


@dataclass(frozen=True)
class QueryLogHead:
    """The latest QueryLogCommitted (`index`) and the first record id it left uncommitted."""

    next_id: int
    index: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueryLogHead:
        return cls(next_id=int(data["next_id"]), index=int(data["index"]))


@dataclass(frozen=True)
class QueryLogCommitment:
    """One QueryLogCommitted (`index`): records first_id .. first_id + count - 1 under `root`."""

    index: int
    first_id: int
    count: int
    root: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QueryLogCommitment:
        return cls(index=int(data["index"]), first_id=int(data["first_id"]), count=int(data["count"]),
                   root=bytes.fromhex(data["root"]))


def querylog_head(view: StateView) -> QueryLogHead | None:
    """The query log's commitment head, or None before the first QueryLogCommitted."""
    data = _load(view, QUERYLOG_HEAD)
    return None if data is None else QueryLogHead.from_json(data)


def querylog_commitment(view: StateView, key: str) -> QueryLogCommitment | None:
    """The commitment stored at `key` (a `querylog_commit_key`), or None."""
    data = _load(view, key)
    return None if data is None else QueryLogCommitment.from_json(data)


def querylog_commit_updates(view: StateView, index: int, body: e.QueryLogCommitted) -> Updates:
    """A QueryLogCommitted must continue the previous one exactly (no gap, no overlap), so
    every record id is committed once and the commitments tile the log (docs/queries.md)."""
    head = querylog_head(view)
    next_id = 1 if head is None else head.next_id
    if body.first_id != next_id:
        raise Conflict(f"query log commitment starts at record {body.first_id}; the next uncommitted "
                       f"record is {next_id}")
    last = body.first_id + body.count - 1
    return {
        QUERYLOG_HEAD: dump({"next_id": last + 1, "index": index}),
        querylog_commit_key(last): dump({"index": index, "first_id": body.first_id, "count": body.count,
                                         "root": body.root.hex()}),
    }



# -- subjects as parties, disputes (docs/subjects.md) ------------------------------------


@dataclass(frozen=True)
class SubjectParty:
    """A subject's current enrolment (state key subjectparty/<tag>): the SubjectEnrolled
    `index`, its keys and certificate digest, `revoked_at`, `access` (its
    SubjectAccessAuthorised, or None) and `access_consumed` (the entry that served the last
    covered report, or None while the grant is open)."""

    index: int
    signing_key: bytes
    encryption_key: bytes
    certificate_digest: bytes
    revoked_at: int | None
    access: int | None
    access_consumed: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectParty:
        return cls(index=int(data["index"]), signing_key=bytes.fromhex(data["signing_key"]),
                   encryption_key=bytes.fromhex(data["encryption_key"]),
                   certificate_digest=bytes.fromhex(data["certificate_digest"]),
                   revoked_at=_opt_int(data["revoked_at"]), access=_opt_int(data["access"]),
                   access_consumed=_opt_int(data.get("access_consumed")))


def subject_party(view: StateView, subject_tag: bytes) -> SubjectParty | None:
    """The subject's current enrolment (None if never enrolled)."""
    data = _load(view, f"subjectparty/{subject_tag.hex()}")
    return None if data is None else SubjectParty.from_json(data)


def subject_author(view: StateView, kid: str) -> tuple[str | None, bytes | None]:
    """("subject:<tag hex>", key) if `kid` names the signing key of a subject's current,
    unrevoked enrolment; (None, None) if it names no subject. A revoked enrolment's key
    raises PermissionDenied."""
    tag = subject_of_key(view, kid)
    if tag is None:
        return None, None
    record = subject_party(view, bytes.fromhex(tag))
    if record is None or key_id(record.signing_key) != kid or record.revoked_at is not None:
        raise PermissionDenied("this subject signing key belongs to a revoked enrolment; the subject must be "
                               "enrolled again (`candor subject enrol`) and sign with its new key")
    return f"subject:{tag}", record.signing_key


def subject_party_updates(view: StateView, ally: Alliance, index: int,
                          body: e.SubjectEnrolled | e.SubjectAccessAuthorised | e.SubjectRevoked) -> Updates:
    """SubjectEnrolled, SubjectAccessAuthorised or SubjectRevoked (regulator-signed) against
    the subject's enrolment: one live enrolment per tag, keys never reused, access granted
    once per enrolment."""
    tag = body.subject_tag.hex()
    key = f"subjectparty/{tag}"
    record = subject_party(view, body.subject_tag)
    if isinstance(body, e.SubjectEnrolled):
        if record is not None and record.revoked_at is None:
            raise AlreadyExists(f"this subject is already enrolled (entry {record.index}); revoke that "
                                "enrolment first (`candor subject revoke`) to issue new keys")
        kid = key_id(body.signing_key)
        if view.get(f"subjectkey/{kid}") is not None or view.get(f"memberkey/{kid}") is not None \
                or kid in ally.genesis_signers:
            raise AlreadyExists("that signing key is already registered; generate a fresh key for the subject")
        return {
            key: dump({
                "index": index, "signing_key": body.signing_key.hex(), "encryption_key": body.encryption_key.hex(),
                "certificate_digest": body.certificate_digest.hex(), "revoked_at": None, "access": None}),
            f"subjectkey/{kid}": dump(tag),
        }
    if record is None:
        raise NotFound("this subject is not enrolled; enrol it first (`candor subject enrol`)")
    if record.revoked_at is not None:
        raise Conflict(f"this subject's enrolment was revoked at entry {record.revoked_at}; "
                       "enrol it again first")
    if isinstance(body, e.SubjectRevoked):
        return {key: _patched(view, key, revoked_at=index)}
    if record.access is not None and record.access_consumed is None:
        raise AlreadyExists(f"this subject already has access to its tiers (entry {record.access}); it is "
                            "served at the next epoch (`candor epoch run`)")
    # Nothing to serve (no report about it yet): consumed at once.
    consumed = None if access_reports(view, body.subject_tag, index) else index
    return {key: _patched(view, key, access=index, access_consumed=consumed)}


def access_reports(view: StateView, subject_tag: bytes, authorisation: int) -> list[int]:
    """Ledger indices of every report about the subject below its SubjectAccessAuthorised at
    `authorisation`, whatever their status: the reports whose tiers it covers."""
    prefix = f"subject/{subject_tag.hex()}/"
    return [int(key[len(prefix):]) for key, _ in view.scan(prefix) if int(key[len(prefix):]) < authorisation]


def access_served(view: StateView, subject_tag: bytes, authorisation: int, report: int) -> int | None:
    """The index of the SubjectAccessServed for that report under that authorisation, or None."""
    served = _load(view, f"subjectaccess/{subject_tag.hex()}/{authorisation:012d}/{report:012d}")
    return None if served is None else int(served)


def open_access(view: StateView, subject_tag: bytes) -> tuple[int, list[int]] | None:
    """(authorisation, reports still to serve) of the subject's unconsumed access grant
    under a live enrolment, or None."""
    party = subject_party(view, subject_tag)
    if party is None or party.revoked_at is not None or party.access is None or party.access_consumed is not None:
        return None
    at = party.access
    return at, [r for r in access_reports(view, subject_tag, at) if access_served(view, subject_tag, at, r) is None]


def check_access_served(view: StateView, ally: Alliance, index: int, body: e.SubjectAccessServed) -> Updates:
    """SubjectAccessServed (operator-signed, docs/subjects.md): it answers the subject's
    unconsumed SubjectAccessAuthorised, for a report about that subject below it not served
    yet, from the combiner designated for that report, whose signature covers the verdict and
    the sealed bytes. The grant is consumed when every covered report is served."""
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
        up[f"subjectparty/{tag.hex()}"] = _patched(view, f"subjectparty/{tag.hex()}", access_consumed=index)
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
    record = report_record(view, rid)
    if record is None:
        raise NotFound(f"report {rid} is not on the ledger; a dispute must name a recorded report")
    if author.startswith("subject:") and record.subject.hex() != author.split(":", 1)[1]:
        raise PermissionDenied(f"report {rid} is not about you: a subject disputes only reports about itself "
                               "(`candor subject record` lists them)")
    if view.get(f"dispute/{did}") is not None:
        raise AlreadyExists(f"dispute {did} is already filed")
    if record.retracted_at is not None:
        raise Conflict(f"report {rid} was retracted at entry {record.retracted_at}; it no longer counts, so "
                       "there is nothing to dispute")
    if record.fraud_at is not None:
        raise Conflict(f"report {rid} was found fraudulent at entry {record.fraud_at} and no longer counts; "
                       "there is nothing to dispute")
    if record.disputed:
        raise Conflict(f"report {rid} is already under dispute {record.disputed}; wait for its resolution")
    same = _load(view, f"disputetext/{rid}/{statement_digest(body.statement)}")
    if same is not None:
        raise AlreadyExists(f"an identical dispute of report {rid} was filed at entry {same['index']} (dispute "
                            f"{same['dispute']}) and answered; add what is new to the statement")
    if now_ms is not None and abs(timestamp_ms - now_ms) > CLOCK_SKEW_MS:
        raise InvalidInput("dispute timestamp is more than a day away from the ledger's clock (its answer is due "
                           f"{DISPUTE_DAYS} days after it): check your clock")
    due = _day(timestamp_ms) + _dt.timedelta(days=DISPUTE_DAYS)
    return {
        report_key(rid): _patched(view, report_key(rid), disputed=did),  # flagged at once
        f"dispute/{did}": dump({"index": index, "report": rid, "resolved_at": None, "deadline_days": DISPUTE_DAYS,
                               "due": due.isoformat(), "by": author}),
        f"reportdispute/{rid}/{index:012d}": dump(did),
        f"disputetext/{rid}/{statement_digest(body.statement)}": dump({"index": index, "dispute": did}),
    }


# -- investigations: logged, canonical bisection (docs/ratings.md, "Investigations") -----


@dataclass(frozen=True)
class Judgement:
    """One logged verdict entry of an investigation step: `verdict` is "opens",
    "does_not_open" or "disagree"."""

    index: int
    step: int
    combiners: tuple[int, ...]
    verdict: str


@dataclass(frozen=True)
class OpenStep:
    """The step named and awaiting its verdict, with the combiner pairs that disagreed on it."""

    index: int
    step: int
    stopped: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class InvestigationRecord:
    """The investigation an InvestigationAuthorised at `index` opened for `subject` (state key
    investigation/<tag>/<index>): its held request and set, the logged verdicts, the step
    awaiting its verdict, and how it ended (culprit found at `found_at`, cleared, consumed
    by FraudFound)."""

    index: int
    subject: bytes
    ledger_size: int
    request: int
    held: tuple[tuple[int, int], ...]
    verdicts: tuple[bool, ...]
    judged: tuple[Judgement, ...]
    open_step: OpenStep | None
    culprit: int | None
    found_at: int | None
    cleared: bool
    consumed: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvestigationRecord:
        step = data["open_step"]
        return cls(
            index=int(data["index"]), subject=bytes.fromhex(data["subject"]), ledger_size=int(data["ledger_size"]),
            request=int(data["request"]), held=tuple((int(i), int(w)) for i, w in data["held"]),
            verdicts=tuple(bool(v) for v in data["verdicts"]),
            judged=tuple(Judgement(index=int(j["index"]), step=int(j["step"]),
                                   combiners=tuple(int(c) for c in j["combiners"]), verdict=j["verdict"])
                         for j in data["judged"]),
            open_step=None if step is None else OpenStep(
                index=int(step["index"]), step=int(step["step"]),
                stopped=tuple(tuple(int(c) for c in pair) for pair in step["stopped"])),
            culprit=_opt_int(data["culprit"]), found_at=_opt_int(data["found_at"]), cleared=bool(data["cleared"]),
            consumed=_opt_int(data["consumed"]))


def _investigation_key(subject_tag: bytes, authorisation: int) -> str:
    return f"investigation/{subject_tag.hex()}/{authorisation:012d}"


def investigation_record(view: StateView, subject_tag: bytes, authorisation: int) -> InvestigationRecord | None:
    """The investigation an InvestigationAuthorised at `authorisation` opened for the subject."""
    data = _load(view, _investigation_key(subject_tag, authorisation))
    return None if data is None else InvestigationRecord.from_json(data)


def open_investigation(view: StateView, subject_tag: bytes) -> InvestigationRecord | None:
    """The subject's investigation that is not yet consumed nor cleared, or None."""
    pointer = _load(view, f"investigationopen/{subject_tag.hex()}")
    return None if pointer is None else investigation_record(view, subject_tag, int(pointer))


def investigation_bisection(record: InvestigationRecord) -> Bisection:
    """`core.investigation.bisection` over an investigation's held set and logged verdicts."""
    return bisection([i for i, _ in record.held], record.verdicts)


def investigation_chosen(record: InvestigationRecord, subset: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The (index, weight) pairs of `subset`, with the held request's weights."""
    weights = dict(record.held)
    return tuple((int(i), weights[int(i)]) for i in subset)


def faulted_combiners(view: StateView) -> list[int]:
    """Trustees a CombinerFaulted names: never designated for a step again."""
    return [int(key.split("/")[1]) for key, _ in view.scan("combinerfault/")]


def step_combiners(view: StateView, ally: Alliance, record: InvestigationRecord, step: int) -> tuple[int, int]:
    """The two designated combiners of a step (`core.investigation.investigation_combiners`)."""
    return investigation_combiners(ally.genesis_hash, record.subject, record.ledger_size, step,
                                   [t.index for t in ally.genesis.trustees], faulted_combiners(view))


def check_investigation_authorised(view: StateView, index: int, body: e.InvestigationAuthorised) -> Updates:
    """The regulator may authorise a bisection only of a subject that is held at exactly
    the size named (the subject's newest request answered by RatingHeld at L), not resolved
    yet, and with no other investigation of it open."""
    tag = body.subject_tag
    if body.ledger_size > index:
        raise InvalidInput(f"investigation names ledger size {body.ledger_size}, beyond the current {index}")
    newest = latest_request(view, tag)
    if newest is None or newest.answer is None or newest.answer.kind != "held":
        raise Conflict("this subject is not held: an investigation needs the subject's newest rating request to be "
                       "answered by RatingHeld (an aggregate that did not open)")
    if newest.ledger_size != body.ledger_size:
        raise Conflict(f"the subject is held at ledger size {newest.ledger_size}, not {body.ledger_size}: name "
                       "the size of the held request")
    if newest.resolved is not None:
        raise Conflict(f"the held request {newest.index} was resolved by entry {newest.resolved}")
    current = open_investigation(view, tag)
    if current is not None:
        raise AlreadyExists(f"investigation {current.index} of this subject is still open")
    record = {"index": index, "subject": tag.hex(), "ledger_size": body.ledger_size, "request": newest.index,
              "held": [list(p) for p in newest.active], "verdicts": [], "judged": [], "open_step": None,
              "culprit": None, "found_at": None, "cleared": False, "consumed": None}
    return {f"investigation/{tag.hex()}/{index:012d}": dump(record), f"investigationopen/{tag.hex()}": dump(index),
            f"investigationindex/{index:012d}": dump(tag.hex())}


def check_investigation_step(view: StateView, ally: Alliance, index: int, body: e.InvestigationStep) -> Updates:
    """An InvestigationStep (docs/ratings.md): it names exactly the step the canonical
    bisection gives after the logged verdicts, of an open, unconsumed investigation, before
    any share is served; its verdict entry comes from the two designated combiners, each
    signature covering the verdict and the digest of the evidence sealed to the regulator.
    A disagreement stops the step until a CombinerFaulted changes the designation."""
    tag = body.subject_tag
    key = _investigation_key(tag, body.authorisation)
    record = investigation_record(view, tag, body.authorisation)
    if record is None:
        raise NotFound(f"entry {body.authorisation} is not an InvestigationAuthorised of this subject")
    if body.ledger_size != record.ledger_size:
        raise VerificationError(f"the investigation is of size {record.ledger_size}, the step names "
                                f"{body.ledger_size}")
    if record.consumed is not None:
        raise Conflict(f"investigation {body.authorisation} was consumed by FraudFound at entry {record.consumed}")
    progress = investigation_bisection(record)
    if progress.next_subset is None:
        raise Conflict(f"the bisection of investigation {body.authorisation} is finished: no further step")
    if body.step != progress.step or body.subset != progress.next_subset:
        raise PermissionDenied(f"not the canonical next step: step {progress.step} tests "
                               f"{list(progress.next_subset)} (the left half of the smallest set shown not to open)")
    if body.step > max_steps(len(record.held)):  # pragma: no cover - bisection never goes further
        raise PermissionDenied("a bisection takes at most ⌈log2 m⌉ + 1 steps")
    if not body.verdict:
        if record.open_step is not None:
            raise Conflict(f"step {record.open_step.step} is named (entry {record.open_step.index}) and "
                           "awaits its verdict")
        return {key: _patched(view, key, open_step={"index": index, "step": body.step, "stopped": []})}
    if record.open_step is None or record.open_step.step != body.step:
        raise Conflict(f"step {body.step} is not named yet: append the step before its verdict")
    combiners = step_combiners(view, ally, record, body.step)
    if body.combiners != combiners:
        raise PermissionDenied(f"the verdict of step {body.step} comes from trustees {list(combiners)}, the "
                               f"designated combiners, not {list(body.combiners)}")
    if combiners in record.open_step.stopped:
        raise Conflict(f"combiners {list(combiners)} disagreed on step {body.step}: it stays stopped until the "
                       "regulator names the one whose evidence fails (CombinerFaulted)")
    digest = set_digest(investigation_chosen(record, body.subset))
    for combiner, claim, signature, evidence in zip(body.combiners, body.claims, body.signatures, body.evidence):
        check_combiner_signature(ally.genesis, combiner, step_verdict_message(
            ally.genesis_hash, body.authorisation, tag, body.ledger_size, body.step, digest, combiner, claim,
            evidence), signature)
    up: Updates = {}
    data = _load(view, key)  # the stored form: the verdict appends to its lists
    data["judged"].append({"index": index, "step": body.step, "combiners": list(combiners),
                           "verdict": body.verdict})
    if body.verdict == "disagree":
        data["open_step"]["stopped"].append(list(combiners))
    else:
        data["verdicts"].append(body.verdict == "opens")
        data["open_step"] = None
        after = investigation_bisection(InvestigationRecord.from_json(data))
        if after.culprit is not None:
            data["culprit"], data["found_at"] = after.culprit, index
        if after.cleared:
            data["cleared"] = True
            up[f"investigationopen/{tag.hex()}"] = None
    up[key] = dump(data)
    return up


def consume_investigation(view: StateView, index: int, subject_tag: bytes, report_index: int) -> Updates:
    """FraudFound consumes the subject's open investigation, whose finished bisection must
    name exactly that report, and resolves the held request."""
    record = open_investigation(view, subject_tag)
    if record is None:
        raise PermissionDenied("no investigation of this subject is open: FraudFound follows a logged bisection "
                               "(InvestigationAuthorised, then InvestigationSteps naming the report)")
    if record.culprit != report_index:
        named = "no report yet" if record.culprit is None else f"entry {record.culprit}"
        raise Conflict(f"the bisection of investigation {record.index} names {named}, not entry {report_index}")
    key = _investigation_key(subject_tag, record.index)
    return {key: _patched(view, key, consumed=index), f"investigationopen/{subject_tag.hex()}": None,
            _request_key(record.request): _patched(view, _request_key(record.request), resolved=index)}


def check_combiner_faulted(view: StateView, index: int, body: e.CombinerFaulted) -> Updates:
    """The regulator names a combiner whose evidence failed, for a step it judged."""
    tag = _load(view, f"investigationindex/{body.authorisation:012d}")
    if tag is None:
        raise NotFound(f"entry {body.authorisation} is not an InvestigationAuthorised")
    record = investigation_record(view, bytes.fromhex(tag), body.authorisation)
    assert record is not None
    if not any(j.step == body.step and body.combiner in j.combiners for j in record.judged):
        raise NotFound(f"trustee {body.combiner} gave no verdict at step {body.step} of investigation "
                       f"{body.authorisation}")
    if view.get(f"combinerfault/{body.combiner}") is not None:
        raise AlreadyExists(f"trustee {body.combiner} is already named in a CombinerFaulted")
    return {f"combinerfault/{body.combiner}": dump({"index": index, "authorisation": body.authorisation,
                                                   "step": body.step})}
