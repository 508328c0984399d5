"""Ledger entries as domain objects (docs/ledger.md).

These frozen dataclasses mirror `proto/candor/v1/entries.proto` field for field; the wire
conversion lives in `api/wire.py` and nothing here knows about protobuf. Every object
validates on construction, so an entry that exists is well-formed: lengths, encodings,
ranges and dates are checked here, while signatures, proofs and the entry's fit with the
ledger state are checked by `core.state`.

A leaf of the log is the exact serialised `SignedEntry`; `entry_bytes` inside it is the
exact serialised `LedgerEntry` that the author signed. Both are kept as bytes and never
re-serialised: `SignedEntry.entry` is decoded from `entry_bytes`, not the other way round.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Union

from core.errors import InvalidInput
from core.escrow import ESCROW_BYTES

ENTRY_VERSION = 1
ENTRY_SIGNATURE_CONTEXT = b"candor/v1/entry\n"
"""Prefix of every Ed25519 entry signature: domain separation from checkpoints and notes."""

MAX_TEXT = 4096
_MEMBER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
OUTCOMES = ("uphold", "retract", "annotate")
#: Records one QueryLogCommitted may cover (the operator commits more often if needed).
MAX_QUERY_COMMIT = 1_000_000
#: Days between two rule sets' effective dates unless the genesis says otherwise
#: (docs/rules.md: each rule set publishes one more combination of the same counts).
DEFAULT_MIN_RULE_INTERVAL_DAYS = 90
MAX_MIN_RULE_INTERVAL_DAYS = 3650


def check_len(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise InvalidInput(f"{what} is {len(value)} bytes, expected {size}")


def check_text(value: str, what: str, *, required: bool = False, limit: int = MAX_TEXT) -> None:
    if required and not value:
        raise InvalidInput(f"{what} is empty; it is required")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters, at most {limit} allowed")


def check_member_id(value: str) -> None:
    if not _MEMBER_ID.match(value):
        raise InvalidInput(
            f"member id {value!r} is not valid: use 1-63 lowercase letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )


@functools.lru_cache(maxsize=1024)  # a batch of reports names few days, each checked several times
def parse_date(value: str, what: str) -> _dt.date:
    """Strict ISO date YYYY-MM-DD (no other forms accepted)."""
    if not _ISO_DATE.fullmatch(value):
        raise InvalidInput(f"{what} {value!r} is not a date in the form YYYY-MM-DD")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a calendar date") from None


@dataclass(frozen=True)
class Trustee:
    index: int
    name: str
    signing_key: bytes
    verification_key: int
    encryption_key: bytes = bytes(32)
    """X25519 public key: decryption shares are sealed to it when this trustee combines
    (docs/ratings.md). Required by the genesis; the default exists only so that a Trustee
    can be built field by field."""

    def __post_init__(self) -> None:
        if not 1 <= self.index <= 64:
            raise InvalidInput(f"trustee index {self.index} is outside 1..64")
        check_text(self.name, "trustee name", required=True, limit=64)
        check_len(self.signing_key, 32, f"signing key of trustee {self.name}")
        check_len(self.encryption_key, 32, f"encryption key (X25519) of trustee {self.name}")
        if self.verification_key <= 1:
            raise InvalidInput(f"verification key of trustee {self.name} must be > 1")


@dataclass(frozen=True)
class Witness:
    name: str
    signing_key: bytes

    def __post_init__(self) -> None:
        check_text(self.name, "witness name", required=True, limit=128)
        check_len(self.signing_key, 32, f"signing key of witness {self.name}")


@dataclass(frozen=True)
class Genesis:
    origin: str
    paillier_n: int
    paillier_v: int
    threshold: int
    trustees: tuple[Trustee, ...]
    operator_key: bytes
    operator_name: str
    regulator_key: bytes
    regulator_escrow_key: bytes
    witnesses: tuple[Witness, ...]
    witness_quorum: int
    categories: tuple[str, ...]
    pedersen_dst: str
    link_dst: str
    min_rule_interval_days: int = DEFAULT_MIN_RULE_INTERVAL_DAYS

    def __post_init__(self) -> None:
        check_text(self.origin, "origin", required=True, limit=256)
        if isinstance(self.min_rule_interval_days, bool) or not isinstance(self.min_rule_interval_days, int) \
                or not 1 <= self.min_rule_interval_days <= MAX_MIN_RULE_INTERVAL_DAYS:
            raise InvalidInput(f"min_rule_interval_days is {self.min_rule_interval_days!r}, expected 1.."
                               f"{MAX_MIN_RULE_INTERVAL_DAYS} days between two rule sets' effective dates "
                               f"(default {DEFAULT_MIN_RULE_INTERVAL_DAYS})")
        if "\n" in self.origin or "\n" in self.operator_name:
            raise InvalidInput("origin and operator name must be single lines")
        check_text(self.operator_name, "operator name", required=True, limit=128)
        if self.paillier_n.bit_length() < 1024:
            raise InvalidInput(f"Paillier modulus is {self.paillier_n.bit_length()} bits, at least 1024 required")
        if not 1 <= self.threshold <= len(self.trustees):
            raise InvalidInput(f"threshold {self.threshold} must be between 1 and the {len(self.trustees)} trustees")
        if sorted(t.index for t in self.trustees) != list(range(1, len(self.trustees) + 1)):
            raise InvalidInput("trustee indices must be 1..n, each once")
        for t in self.trustees:
            if t.encryption_key == bytes(32):
                raise InvalidInput(f"trustee {t.name} has no encryption key (X25519, 32 bytes, not all zero): "
                                   "the key ceremony generates one per trustee")
        if len({t.encryption_key for t in self.trustees}) != len(self.trustees):
            raise InvalidInput("two trustees share an encryption key; each trustee needs its own X25519 key")
        check_len(self.operator_key, 32, "operator key")
        check_len(self.regulator_key, 32, "regulator key")
        check_len(self.regulator_escrow_key, 32, "regulator escrow key")
        if len({w.name for w in self.witnesses}) != len(self.witnesses):
            raise InvalidInput("witness names must be distinct")
        if len({w.signing_key for w in self.witnesses}) != len(self.witnesses):
            raise InvalidInput("two witnesses share a signing key; each witness needs its own key")
        for w in self.witnesses:
            if w.signing_key == self.operator_key:
                # The operator must never count towards its own quorum, whatever name it uses
                # (docs/ledger.md).
                raise InvalidInput(f"witness {w.name} has the operator's key; a witness key must "
                                   "differ from the operator's")
        if not 0 <= self.witness_quorum <= len(self.witnesses):
            raise InvalidInput(f"witness quorum {self.witness_quorum} exceeds the {len(self.witnesses)} witnesses")
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise InvalidInput("the category registry must be non-empty with distinct codes")
        for code in self.categories:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", code):
                raise InvalidInput(f"category code {code!r} must be lowercase snake_case")


@dataclass(frozen=True)
class MemberAdmitted:
    member_id: str
    signing_key: bytes
    reporting_key: bytes
    display_name: str = ""

    def __post_init__(self) -> None:
        check_member_id(self.member_id)
        check_len(self.signing_key, 32, "member signing key")
        check_len(self.reporting_key, 48, "member reporting key")
        check_text(self.display_name, "display name", limit=256)


@dataclass(frozen=True)
class MemberRevoked:
    member_id: str
    reason: str = ""

    def __post_init__(self) -> None:
        check_member_id(self.member_id)
        check_text(self.reason, "revocation reason")


@dataclass(frozen=True)
class RuleSetPublished:
    version: str
    effective_from: str
    canonical_toml: str

    def __post_init__(self) -> None:
        check_text(self.version, "rule set version", required=True, limit=64)
        parse_date(self.effective_from, "effective date")
        check_text(self.canonical_toml, "rule set text", required=True, limit=65536)


REPORT_ID_CONTEXT = b"candor/v1/rid"


def derive_report_id(commitment: bytes) -> bytes:
    """A report's id: SHA-256("candor/v1/rid" ‖ C)[:16]. Derived, never chosen, so it
    carries nothing of the member (no clock, no counter) and one commitment is one report."""
    return hashlib.sha256(REPORT_ID_CONTEXT + commitment).digest()[:16]


@dataclass(frozen=True)
class ReportCommitted:
    """A report (docs/reports.md). Every field the member fills has a fixed length; the
    ring is named by the membership change that defines it (`ring_change`, an entry
    index), never by the ledger size the member happened to see."""

    report_id: bytes
    subject_tag: bytes
    category: str
    incident_date: str
    evidence_digest: bytes
    commitment: bytes
    validity_proof: bytes
    ciphertext: int
    ring_change: int
    notice_date: str = ""
    """The day the member told the subject of this negative information (docs/reports.md,
    "Notice"). Empty only in entries built before it existed; the ledger refuses a report
    without it."""

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.category, "category", required=True, limit=64)
        parse_date(self.incident_date, "incident date")
        if self.notice_date:
            parse_date(self.notice_date, "notice date")
        check_len(self.evidence_digest, 32, "evidence digest (SHA-256)")
        check_len(self.commitment, 48, "commitment")
        if self.report_id != derive_report_id(self.commitment):
            raise InvalidInput("report id is not SHA-256(\"candor/v1/rid\" || commitment)[:16]: derive it from the "
                               "commitment, never choose it")
        if self.ciphertext <= 0:
            raise InvalidInput("ciphertext is empty or zero")
        if self.ring_change < 1:
            raise InvalidInput("ring_change must name the membership-change entry that defines the ring (index >= 1)")


@dataclass(frozen=True)
class ReportRetracted:
    report_id: bytes
    ring_change: int
    reason: str = ""

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        if self.ring_change < 1:
            raise InvalidInput("ring_change must name the membership-change entry that defines the ring (index >= 1)")
        check_text(self.reason, "retraction reason")


@dataclass(frozen=True)
class DisputeFiled:
    dispute_id: bytes
    report_id: bytes
    statement: str

    def __post_init__(self) -> None:
        check_len(self.dispute_id, 16, "dispute id")
        check_len(self.report_id, 16, "report id")
        check_text(self.statement, "dispute statement", required=True)


@dataclass(frozen=True)
class DisputeResolved:
    dispute_id: bytes
    outcome: str
    annotation: str = ""

    def __post_init__(self) -> None:
        check_len(self.dispute_id, 16, "dispute id")
        if self.outcome not in OUTCOMES:
            raise InvalidInput(f"dispute outcome {self.outcome!r} must be one of {', '.join(OUTCOMES)}")
        check_text(self.annotation, "annotation")


@dataclass(frozen=True)
class InvestigationAuthorised:
    subject_tag: bytes
    reason: str
    ledger_size: int

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.reason, "investigation reason", required=True)


@dataclass(frozen=True)
class FraudFound:
    report_id: bytes
    subject_tag: bytes
    evidence: str

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.evidence, "fraud evidence", required=True)


VERDICTS = ("opens", "does_not_open", "disagree")
"""What an InvestigationStep's verdict entry says (docs/ratings.md, "Investigations")."""
MAX_EVIDENCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class InvestigationStep:
    """One step of a logged bisection (docs/ratings.md, "Investigations"). With `verdict`
    empty it names the step (before any share is served); otherwise it records the two
    designated combiners' signed verdicts (`claims`: True = opens) and their evidence
    sealed to the regulator. No plaintext is ever in it."""

    authorisation: int
    subject_tag: bytes
    ledger_size: int
    step: int
    subset: tuple[int, ...]
    verdict: str = ""
    combiners: tuple[int, ...] = ()
    claims: tuple[bool, ...] = ()
    signatures: tuple[bytes, ...] = ()
    evidence: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        if self.authorisation < 1 or self.ledger_size < 1:
            raise InvalidInput("an investigation step names its authorisation entry and the held size L")
        if not 1 <= self.step <= 64:
            raise InvalidInput(f"investigation step {self.step} is outside 1..64")
        if not self.subset or list(self.subset) != sorted(set(self.subset)):
            raise InvalidInput("an investigation step's subset is non-empty, sorted by ledger index, without repeats")
        if not self.verdict:
            if self.combiners or self.claims or self.signatures or self.evidence:
                raise InvalidInput("an entry naming a step carries no verdict, combiner, signature or evidence")
            return
        if self.verdict not in VERDICTS:
            raise InvalidInput(f"verdict {self.verdict!r} must be one of {', '.join(VERDICTS)} (or empty)")
        if not (len(self.combiners) == len(self.claims) == len(self.signatures) == len(self.evidence) == 2):
            raise InvalidInput("a step's verdict carries two combiners, with a claim, a signature and sealed "
                               "evidence from each")
        if self.combiners[0] == self.combiners[1] or not all(1 <= c <= 64 for c in self.combiners):
            raise InvalidInput("a step's verdict comes from two distinct trustees (indices 1..64)")
        for sig in self.signatures:
            check_len(sig, 64, "combiner verdict signature (Ed25519)")
        for blob in self.evidence:
            if not 0 < len(blob) <= MAX_EVIDENCE_BYTES:
                raise InvalidInput(f"sealed evidence is {len(blob)} bytes, expected 1..{MAX_EVIDENCE_BYTES}")
        agree = self.claims[0] == self.claims[1]
        expected = ("opens" if self.claims[0] else "does_not_open") if agree else "disagree"
        if self.verdict != expected:
            raise InvalidInput(f"the verdict {self.verdict!r} does not follow from the claims: expected {expected!r}")


@dataclass(frozen=True)
class CombinerFaulted:
    """The regulator found a combiner's evidence false; it is never designated again."""

    combiner: int
    authorisation: int
    step: int
    failure: str

    def __post_init__(self) -> None:
        if not 1 <= self.combiner <= 64:
            raise InvalidInput(f"combiner {self.combiner} is not a trustee index (1..64)")
        if self.authorisation < 1 or not 1 <= self.step <= 64:
            raise InvalidInput("a combiner fault names the investigation (authorisation index) and the step")
        check_text(self.failure, "combiner fault", required=True, limit=1024)


REQUEST_KINDS = ("first", "correction", "changes", "rules", "staleness", "withdrawal")
"""Why a RatingRequested may be made (docs/ratings.md, "The update rule")."""


def _check_set(active_set: tuple[int, ...], weights: tuple[int, ...], what: str) -> None:
    if len(weights) != len(active_set):
        raise InvalidInput(f"{what} has a weight for each report of its active set, no more, no fewer")
    if list(active_set) != sorted(set(active_set)):
        raise InvalidInput(f"{what}'s active set must be sorted by ledger index without repeats")


@dataclass(frozen=True)
class RatingRequested:
    """The operator's request for a rating, appended before any trustee is asked."""

    subject_tag: bytes
    ledger_size: int
    set_digest: bytes
    active_set: tuple[int, ...]
    weights: tuple[int, ...]
    as_of: str
    rule_set_version: str
    kind: str

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_len(self.set_digest, 32, "set digest (SHA-256)")
        parse_date(self.as_of, "rating date")
        _check_set(self.active_set, self.weights, "rating request")
        check_text(self.rule_set_version, "rule set version", required=True, limit=64)
        if self.kind not in REQUEST_KINDS:
            raise InvalidInput(f"request kind {self.kind!r} must be one of {', '.join(REQUEST_KINDS)}")
        if self.ledger_size < 1:
            raise InvalidInput("a rating request names a ledger size of at least 1")


@dataclass(frozen=True)
class RatingPublished:
    """A proven score answering a RatingRequested: no counts, no R, no D (docs/ratings.md)."""

    request_index: int
    subject_tag: bytes
    rule_set_version: str
    ledger_size: int
    set_digest: bytes
    active_set: tuple[int, ...]
    weights: tuple[int, ...]
    as_of: str
    score: int
    grade: str
    reporters: int
    proof: bytes
    combiner: int
    combiner_signature: bytes

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_len(self.set_digest, 32, "set digest (SHA-256)")
        parse_date(self.as_of, "rating date")
        _check_set(self.active_set, self.weights, "rating")
        check_text(self.grade, "grade", required=True, limit=4)
        check_text(self.rule_set_version, "rule set version", required=True, limit=64)
        check_len(self.combiner_signature, 64, "combiner signature (Ed25519)")
        if not 1 <= self.combiner <= 64:
            raise InvalidInput(f"combiner {self.combiner} is not a trustee index (1..64)")
        if not self.proof or len(self.proof) > 65536:
            raise InvalidInput(f"publication proof is {len(self.proof)} bytes, expected 1..65536")


@dataclass(frozen=True)
class RatingHeld:
    """The combiner's signed verdict that a requested aggregate does not open."""

    request_index: int
    subject_tag: bytes
    ledger_size: int
    combiner: int
    verdict_signature: bytes
    second_combiner: int = 0
    second_signature: bytes = b""
    """A held verdict comes from two distinct combiners (docs/ratings.md); both are required."""

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_len(self.verdict_signature, 64, "verdict signature (Ed25519)")
        check_len(self.second_signature, 64, "second combiner's verdict signature (Ed25519)")
        for combiner in (self.combiner, self.second_combiner):
            if not 1 <= combiner <= 64:
                raise InvalidInput(f"combiner {combiner} is not a trustee index (1..64)")
        if self.combiner == self.second_combiner:
            raise InvalidInput("a held verdict comes from two distinct combiners")


@dataclass(frozen=True)
class RatingWithdrawn:
    """Answers a request whose set has fewer than k reporters: nothing is published."""

    request_index: int
    subject_tag: bytes
    reason: str

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.reason, "withdrawal reason", required=True)


@dataclass(frozen=True)
class QueryLogCommitted:
    """The operator commits query records first_id .. first_id + count - 1 (core.querylog):
    `root` is the RFC 9162 root over their canonical encodings, in id order."""

    first_id: int
    count: int
    root: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.first_id < 2**63:
            raise InvalidInput(f"first query record id {self.first_id} is outside 1..2^63-1")
        if not 1 <= self.count <= MAX_QUERY_COMMIT:
            raise InvalidInput(f"a query log commitment covers 1..{MAX_QUERY_COMMIT} records, not {self.count}")
        check_len(self.root, 32, "query log root")


@dataclass(frozen=True)
class SubjectEnrolled:
    """The regulator enrols a rated anchor as a party (docs/subjects.md): its tag, its own
    keys, and the digest of the mTLS certificate issued with this enrolment."""

    subject_tag: bytes
    signing_key: bytes
    encryption_key: bytes
    certificate_digest: bytes

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_len(self.signing_key, 32, "subject signing key (Ed25519)")
        check_len(self.encryption_key, 32, "subject encryption key (X25519)")
        if self.encryption_key == bytes(32):
            raise InvalidInput("subject encryption key is all zero; generate a fresh X25519 key")
        check_len(self.certificate_digest, 32, "certificate digest (SHA-256)")


@dataclass(frozen=True)
class SubjectAccessAuthorised:
    """The regulator grants an enrolled subject access to the tiers of its reports."""

    subject_tag: bytes
    reason: str

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.reason, "access reason", required=True, limit=1024)


@dataclass(frozen=True)
class SubjectAccessServed:
    """One report's tier served to its subject (docs/subjects.md): sealed to the subject's
    X25519 key when the report opens its own commitment (`opens`), otherwise the designated
    combiner's evidence sealed to the regulator. No plaintext is ever in it."""

    authorisation: int
    subject_tag: bytes
    report: int
    combiner: int
    opens: bool
    sealed: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        if self.authorisation < 1 or self.report < 1 or self.report >= self.authorisation:
            raise InvalidInput("subject access names its SubjectAccessAuthorised entry and a report below it")
        if not 1 <= self.combiner <= 64:
            raise InvalidInput(f"combiner {self.combiner} is outside the trustee indices 1..64")
        if not 0 < len(self.sealed) <= MAX_EVIDENCE_BYTES:
            raise InvalidInput(f"sealed bytes are {len(self.sealed)} long, expected 1..{MAX_EVIDENCE_BYTES}")
        check_len(self.signature, 64, "combiner signature (Ed25519)")


@dataclass(frozen=True)
class SubjectRevoked:
    """The regulator ends a subject's enrolment; it may be enrolled again with fresh keys."""

    subject_tag: bytes
    reason: str = ""

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.reason, "revocation reason", limit=1024)


def parse_escrow_reason(reason: str) -> tuple[str, str]:
    """("dispute", dispute id hex) or ("investigation", entry index) from an EscrowOpened reason."""
    kind, _, ref = reason.partition(":")
    if kind == "dispute" and re.fullmatch(r"[0-9a-f]{32}", ref):
        return kind, ref
    if kind == "investigation" and re.fullmatch(r"[1-9][0-9]{0,17}", ref):
        return kind, ref
    raise InvalidInput(f"escrow reason {reason!r} must be dispute:<32 hex digits of an open dispute> or "
                       "investigation:<index of the FraudFound or InvestigationAuthorised entry>")


@dataclass(frozen=True)
class EscrowOpened:
    """The regulator opens one report's escrow, for a reason on the ledger (docs/reports.md)."""

    report_id: bytes
    reason: str

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        parse_escrow_reason(self.reason)


@dataclass(frozen=True)
class OperatorFaulted:
    """The regulator found a report's escrow wrong: the operator sealed something it must not."""

    report_id: bytes
    failure: str

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        check_text(self.failure, "operator fault", required=True, limit=1024)


Body = Union[
    Genesis,
    MemberAdmitted,
    MemberRevoked,
    RuleSetPublished,
    ReportCommitted,
    ReportRetracted,
    DisputeFiled,
    DisputeResolved,
    InvestigationAuthorised,
    FraudFound,
    RatingPublished,
    EscrowOpened,
    OperatorFaulted,
    RatingRequested,
    RatingHeld,
    RatingWithdrawn,
    QueryLogCommitted,
    SubjectEnrolled,
    SubjectAccessAuthorised,
    SubjectRevoked,
    InvestigationStep,
    CombinerFaulted,
    SubjectAccessServed,
]


@dataclass(frozen=True)
class LedgerEntry:
    body: Body
    timestamp_ms: int = 0
    version: int = ENTRY_VERSION

    def __post_init__(self) -> None:
        if self.version != ENTRY_VERSION:
            raise InvalidInput(f"entry version {self.version} is not supported; this ledger speaks version 1")

    @property
    def kind(self) -> str:
        return type(self.body).__name__


@dataclass(frozen=True)
class Signature:
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise InvalidInput("signature key id must be 16 lowercase hex digits")
        check_len(self.signature, 64, "Ed25519 signature")


@dataclass(frozen=True)
class SignedEntry:
    """A leaf: `entry_bytes` exactly as signed, the decoded `entry`, and its authentication."""

    entry_bytes: bytes
    entry: LedgerEntry
    signature: Signature | None = None
    ring_signature: bytes | None = None
    escrow: bytes | None = None
    """A report's sealed escrow, added by the operator outside the ring-signed bytes."""

    def __post_init__(self) -> None:
        if (self.signature is None) == (self.ring_signature is None):
            raise InvalidInput("an entry carries exactly one of an Ed25519 signature or a ring signature")
        if self.escrow is not None:
            if not isinstance(self.entry.body, ReportCommitted):
                raise InvalidInput(f"only a ReportCommitted leaf carries an escrow, not {self.entry.kind}")
            check_len(self.escrow, ESCROW_BYTES, "sealed escrow")

    def signed_message(self) -> bytes:
        return ENTRY_SIGNATURE_CONTEXT + self.entry_bytes
