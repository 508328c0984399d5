from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignedEntry(_message.Message):
    __slots__ = ("entry", "signature", "ring_signature")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    RING_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    entry: bytes
    signature: Signature
    ring_signature: bytes
    def __init__(self, entry: _Optional[bytes] = ..., signature: _Optional[_Union[Signature, _Mapping]] = ..., ring_signature: _Optional[bytes] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("key_id", "signature")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    signature: bytes
    def __init__(self, key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("version", "timestamp_ms", "genesis", "member_admitted", "member_revoked", "rule_set_published", "report_committed", "report_retracted", "dispute_filed", "dispute_resolved", "investigation_authorised", "fraud_found", "rating_published")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    GENESIS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ADMITTED_FIELD_NUMBER: _ClassVar[int]
    MEMBER_REVOKED_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    REPORT_COMMITTED_FIELD_NUMBER: _ClassVar[int]
    REPORT_RETRACTED_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_FILED_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    INVESTIGATION_AUTHORISED_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FOUND_FIELD_NUMBER: _ClassVar[int]
    RATING_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    version: int
    timestamp_ms: int
    genesis: Genesis
    member_admitted: MemberAdmitted
    member_revoked: MemberRevoked
    rule_set_published: RuleSetPublished
    report_committed: ReportCommitted
    report_retracted: ReportRetracted
    dispute_filed: DisputeFiled
    dispute_resolved: DisputeResolved
    investigation_authorised: InvestigationAuthorised
    fraud_found: FraudFound
    rating_published: RatingPublished
    def __init__(self, version: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., genesis: _Optional[_Union[Genesis, _Mapping]] = ..., member_admitted: _Optional[_Union[MemberAdmitted, _Mapping]] = ..., member_revoked: _Optional[_Union[MemberRevoked, _Mapping]] = ..., rule_set_published: _Optional[_Union[RuleSetPublished, _Mapping]] = ..., report_committed: _Optional[_Union[ReportCommitted, _Mapping]] = ..., report_retracted: _Optional[_Union[ReportRetracted, _Mapping]] = ..., dispute_filed: _Optional[_Union[DisputeFiled, _Mapping]] = ..., dispute_resolved: _Optional[_Union[DisputeResolved, _Mapping]] = ..., investigation_authorised: _Optional[_Union[InvestigationAuthorised, _Mapping]] = ..., fraud_found: _Optional[_Union[FraudFound, _Mapping]] = ..., rating_published: _Optional[_Union[RatingPublished, _Mapping]] = ...) -> None: ...

class Trustee(_message.Message):
    __slots__ = ("index", "name", "signing_key", "verification_key")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_KEY_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    signing_key: bytes
    verification_key: bytes
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., signing_key: _Optional[bytes] = ..., verification_key: _Optional[bytes] = ...) -> None: ...

class Witness(_message.Message):
    __slots__ = ("name", "signing_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    signing_key: bytes
    def __init__(self, name: _Optional[str] = ..., signing_key: _Optional[bytes] = ...) -> None: ...

class Genesis(_message.Message):
    __slots__ = ("origin", "paillier_n", "paillier_v", "threshold", "trustees", "operator_key", "regulator_key", "regulator_escrow_key", "witnesses", "witness_quorum", "categories", "pedersen_dst", "link_dst", "operator_name")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    PAILLIER_N_FIELD_NUMBER: _ClassVar[int]
    PAILLIER_V_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TRUSTEES_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    REGULATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    REGULATOR_ESCROW_KEY_FIELD_NUMBER: _ClassVar[int]
    WITNESSES_FIELD_NUMBER: _ClassVar[int]
    WITNESS_QUORUM_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PEDERSEN_DST_FIELD_NUMBER: _ClassVar[int]
    LINK_DST_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_NAME_FIELD_NUMBER: _ClassVar[int]
    origin: str
    paillier_n: bytes
    paillier_v: bytes
    threshold: int
    trustees: _containers.RepeatedCompositeFieldContainer[Trustee]
    operator_key: bytes
    regulator_key: bytes
    regulator_escrow_key: bytes
    witnesses: _containers.RepeatedCompositeFieldContainer[Witness]
    witness_quorum: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    pedersen_dst: str
    link_dst: str
    operator_name: str
    def __init__(self, origin: _Optional[str] = ..., paillier_n: _Optional[bytes] = ..., paillier_v: _Optional[bytes] = ..., threshold: _Optional[int] = ..., trustees: _Optional[_Iterable[_Union[Trustee, _Mapping]]] = ..., operator_key: _Optional[bytes] = ..., regulator_key: _Optional[bytes] = ..., regulator_escrow_key: _Optional[bytes] = ..., witnesses: _Optional[_Iterable[_Union[Witness, _Mapping]]] = ..., witness_quorum: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., pedersen_dst: _Optional[str] = ..., link_dst: _Optional[str] = ..., operator_name: _Optional[str] = ...) -> None: ...

class MemberAdmitted(_message.Message):
    __slots__ = ("member_id", "signing_key", "reporting_key", "display_name")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    REPORTING_KEY_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    signing_key: bytes
    reporting_key: bytes
    display_name: str
    def __init__(self, member_id: _Optional[str] = ..., signing_key: _Optional[bytes] = ..., reporting_key: _Optional[bytes] = ..., display_name: _Optional[str] = ...) -> None: ...

class MemberRevoked(_message.Message):
    __slots__ = ("member_id", "reason")
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member_id: str
    reason: str
    def __init__(self, member_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RuleSetPublished(_message.Message):
    __slots__ = ("version", "effective_from", "canonical_toml")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_TOML_FIELD_NUMBER: _ClassVar[int]
    version: str
    effective_from: str
    canonical_toml: str
    def __init__(self, version: _Optional[str] = ..., effective_from: _Optional[str] = ..., canonical_toml: _Optional[str] = ...) -> None: ...

class ReportCommitted(_message.Message):
    __slots__ = ("report_id", "subject_tag", "category", "incident_date", "evidence_digest", "commitment", "validity_proof", "ciphertext", "escrow", "ring_size")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_DATE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_PROOF_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    ESCROW_FIELD_NUMBER: _ClassVar[int]
    RING_SIZE_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    subject_tag: bytes
    category: str
    incident_date: str
    evidence_digest: bytes
    commitment: bytes
    validity_proof: bytes
    ciphertext: bytes
    escrow: bytes
    ring_size: int
    def __init__(self, report_id: _Optional[bytes] = ..., subject_tag: _Optional[bytes] = ..., category: _Optional[str] = ..., incident_date: _Optional[str] = ..., evidence_digest: _Optional[bytes] = ..., commitment: _Optional[bytes] = ..., validity_proof: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ..., escrow: _Optional[bytes] = ..., ring_size: _Optional[int] = ...) -> None: ...

class ReportRetracted(_message.Message):
    __slots__ = ("report_id", "ring_size", "reason")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RING_SIZE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    ring_size: int
    reason: str
    def __init__(self, report_id: _Optional[bytes] = ..., ring_size: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DisputeFiled(_message.Message):
    __slots__ = ("dispute_id", "report_id", "statement")
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    dispute_id: bytes
    report_id: bytes
    statement: str
    def __init__(self, dispute_id: _Optional[bytes] = ..., report_id: _Optional[bytes] = ..., statement: _Optional[str] = ...) -> None: ...

class DisputeResolved(_message.Message):
    __slots__ = ("dispute_id", "outcome", "annotation")
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ANNOTATION_FIELD_NUMBER: _ClassVar[int]
    dispute_id: bytes
    outcome: str
    annotation: str
    def __init__(self, dispute_id: _Optional[bytes] = ..., outcome: _Optional[str] = ..., annotation: _Optional[str] = ...) -> None: ...

class InvestigationAuthorised(_message.Message):
    __slots__ = ("subject_tag", "reason", "ledger_size")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    reason: str
    ledger_size: int
    def __init__(self, subject_tag: _Optional[bytes] = ..., reason: _Optional[str] = ..., ledger_size: _Optional[int] = ...) -> None: ...

class FraudFound(_message.Message):
    __slots__ = ("report_id", "subject_tag", "evidence")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    subject_tag: bytes
    evidence: str
    def __init__(self, report_id: _Optional[bytes] = ..., subject_tag: _Optional[bytes] = ..., evidence: _Optional[str] = ...) -> None: ...

class RatingPublished(_message.Message):
    __slots__ = ("subject_tag", "rule_set_version", "ledger_size", "active_set", "weights", "counts", "r_sum", "score_milli", "grade", "as_of", "trustees")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SET_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    R_SUM_FIELD_NUMBER: _ClassVar[int]
    SCORE_MILLI_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    TRUSTEES_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    rule_set_version: str
    ledger_size: int
    active_set: _containers.RepeatedScalarFieldContainer[int]
    weights: _containers.RepeatedScalarFieldContainer[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    r_sum: bytes
    score_milli: int
    grade: str
    as_of: str
    trustees: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, subject_tag: _Optional[bytes] = ..., rule_set_version: _Optional[str] = ..., ledger_size: _Optional[int] = ..., active_set: _Optional[_Iterable[int]] = ..., weights: _Optional[_Iterable[int]] = ..., counts: _Optional[_Iterable[int]] = ..., r_sum: _Optional[bytes] = ..., score_milli: _Optional[int] = ..., grade: _Optional[str] = ..., as_of: _Optional[str] = ..., trustees: _Optional[_Iterable[int]] = ...) -> None: ...
