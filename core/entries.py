"""Ledger entries as domain objects (DESIGN §3).

These frozen dataclasses mirror `proto/candor/v1/entries.proto` field for field; the wire
conversion lives in `candor/wire.py` and nothing here knows about protobuf. Every object
validates on construction, so an entry that exists is well-formed: lengths, encodings,
ranges and dates are checked here, while signatures, proofs and the entry's fit with the
ledger state are checked by `core.state`.

A leaf of the log is the exact serialised `SignedEntry`; `entry_bytes` inside it is the
exact serialised `LedgerEntry` that the author signed. Both are kept as bytes and never
re-serialised: `SignedEntry.entry` is decoded from `entry_bytes`, not the other way round.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Union

from core.errors import InvalidInput

ENTRY_VERSION = 1
ENTRY_SIGNATURE_CONTEXT = b"candor/v1/entry\n"
"""Prefix of every Ed25519 entry signature: domain separation from checkpoints and notes."""

MAX_TEXT = 4096
_MEMBER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
OUTCOMES = ("uphold", "retract", "annotate")


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


def parse_date(value: str, what: str) -> _dt.date:
    """Strict ISO date YYYY-MM-DD (no other forms accepted)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
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

    def __post_init__(self) -> None:
        if not 1 <= self.index <= 64:
            raise InvalidInput(f"trustee index {self.index} is outside 1..64")
        check_text(self.name, "trustee name", required=True, limit=64)
        check_len(self.signing_key, 32, f"signing key of trustee {self.name}")
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

    def __post_init__(self) -> None:
        check_text(self.origin, "origin", required=True, limit=256)
        if "\n" in self.origin or "\n" in self.operator_name:
            raise InvalidInput("origin and operator name must be single lines")
        check_text(self.operator_name, "operator name", required=True, limit=128)
        if self.paillier_n.bit_length() < 1024:
            raise InvalidInput(f"Paillier modulus is {self.paillier_n.bit_length()} bits, at least 1024 required")
        if not 1 <= self.threshold <= len(self.trustees):
            raise InvalidInput(f"threshold {self.threshold} must be between 1 and the {len(self.trustees)} trustees")
        if sorted(t.index for t in self.trustees) != list(range(1, len(self.trustees) + 1)):
            raise InvalidInput("trustee indices must be 1..n, each once")
        check_len(self.operator_key, 32, "operator key")
        check_len(self.regulator_key, 32, "regulator key")
        check_len(self.regulator_escrow_key, 32, "regulator escrow key")
        if len({w.name for w in self.witnesses}) != len(self.witnesses):
            raise InvalidInput("witness names must be distinct")
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


@dataclass(frozen=True)
class ReportCommitted:
    report_id: bytes
    subject_tag: bytes
    category: str
    incident_date: str
    evidence_digest: bytes
    commitment: bytes
    validity_proof: bytes
    ciphertext: int
    escrow: bytes
    ring_size: int

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        check_len(self.subject_tag, 32, "subject tag")
        check_text(self.category, "category", required=True, limit=64)
        parse_date(self.incident_date, "incident date")
        check_len(self.evidence_digest, 32, "evidence digest (SHA-256)")
        check_len(self.commitment, 48, "commitment")
        if self.ciphertext <= 0:
            raise InvalidInput("ciphertext is empty or zero")
        if not 32 < len(self.escrow) <= 1024:
            raise InvalidInput(f"escrow is {len(self.escrow)} bytes, expected 33..1024 (HPKE enc + ciphertext)")
        if self.ring_size < 1:
            raise InvalidInput("ring size must name a ledger size of at least 1")


@dataclass(frozen=True)
class ReportRetracted:
    report_id: bytes
    ring_size: int
    reason: str = ""

    def __post_init__(self) -> None:
        check_len(self.report_id, 16, "report id")
        if self.ring_size < 1:
            raise InvalidInput("ring size must name a ledger size of at least 1")
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


@dataclass(frozen=True)
class RatingPublished:
    subject_tag: bytes
    rule_set_version: str
    ledger_size: int
    active_set: tuple[int, ...]
    weights: tuple[int, ...]
    counts: tuple[int, ...]
    r_sum: int
    score_milli: int
    grade: str
    as_of: str
    trustees: tuple[int, ...]

    def __post_init__(self) -> None:
        check_len(self.subject_tag, 32, "subject tag")
        parse_date(self.as_of, "rating date")
        if len(self.weights) != len(self.active_set):
            raise InvalidInput("rating has a weight for each report of its active set, no more, no fewer")
        check_text(self.grade, "grade", required=True, limit=4)


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
        if not re.fullmatch(r"[0-9a-f]{16}", self.key_id):
            raise InvalidInput("signature key id must be 16 lowercase hex digits")
        check_len(self.signature, 64, "Ed25519 signature")


@dataclass(frozen=True)
class SignedEntry:
    """A leaf: `entry_bytes` exactly as signed, the decoded `entry`, and its authentication."""

    entry_bytes: bytes
    entry: LedgerEntry
    signature: Signature | None = None
    ring_signature: bytes | None = None

    def __post_init__(self) -> None:
        if (self.signature is None) == (self.ring_signature is None):
            raise InvalidInput("an entry carries exactly one of an Ed25519 signature or a ring signature")

    def signed_message(self) -> bytes:
        return ENTRY_SIGNATURE_CONTEXT + self.entry_bytes
