from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignedEntry(_message.Message):
    __slots__ = ("entry", "signature", "ring_signature", "escrow")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    RING_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ESCROW_FIELD_NUMBER: _ClassVar[int]
    entry: bytes
    signature: Signature
    ring_signature: bytes
    escrow: bytes
    def __init__(self, entry: _Optional[bytes] = ..., signature: _Optional[_Union[Signature, _Mapping]] = ..., ring_signature: _Optional[bytes] = ..., escrow: _Optional[bytes] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("key_id", "signature")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    signature: bytes
    def __init__(self, key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class LedgerEntry(_message.Message):
    __slots__ = ("version", "timestamp_ms", "genesis", "member_admitted", "member_revoked", "rule_set_published", "report_committed", "report_retracted", "dispute_filed", "dispute_resolved", "investigation_authorised", "fraud_found", "rating_published", "rating_requested", "rating_held", "rating_withdrawn", "investigation_step", "combiner_faulted", "escrow_opened", "operator_faulted", "query_log_committed", "subject_enrolled", "subject_access_authorised", "subject_revoked", "subject_access_served")
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
    RATING_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    RATING_HELD_FIELD_NUMBER: _ClassVar[int]
    RATING_WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    INVESTIGATION_STEP_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FAULTED_FIELD_NUMBER: _ClassVar[int]
    ESCROW_OPENED_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FAULTED_FIELD_NUMBER: _ClassVar[int]
    QUERY_LOG_COMMITTED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ACCESS_AUTHORISED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_REVOKED_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ACCESS_SERVED_FIELD_NUMBER: _ClassVar[int]
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
    rating_requested: RatingRequested
    rating_held: RatingHeld
    rating_withdrawn: RatingWithdrawn
    investigation_step: InvestigationStep
    combiner_faulted: CombinerFaulted
    escrow_opened: EscrowOpened
    operator_faulted: OperatorFaulted
    query_log_committed: QueryLogCommitted
    subject_enrolled: SubjectEnrolled
    subject_access_authorised: SubjectAccessAuthorised
    subject_revoked: SubjectRevoked
    subject_access_served: SubjectAccessServed
    def __init__(self, version: _Optional[int] = ..., timestamp_ms: _Optional[int] = ..., genesis: _Optional[_Union[Genesis, _Mapping]] = ..., member_admitted: _Optional[_Union[MemberAdmitted, _Mapping]] = ..., member_revoked: _Optional[_Union[MemberRevoked, _Mapping]] = ..., rule_set_published: _Optional[_Union[RuleSetPublished, _Mapping]] = ..., report_committed: _Optional[_Union[ReportCommitted, _Mapping]] = ..., report_retracted: _Optional[_Union[ReportRetracted, _Mapping]] = ..., dispute_filed: _Optional[_Union[DisputeFiled, _Mapping]] = ..., dispute_resolved: _Optional[_Union[DisputeResolved, _Mapping]] = ..., investigation_authorised: _Optional[_Union[InvestigationAuthorised, _Mapping]] = ..., fraud_found: _Optional[_Union[FraudFound, _Mapping]] = ..., rating_published: _Optional[_Union[RatingPublished, _Mapping]] = ..., rating_requested: _Optional[_Union[RatingRequested, _Mapping]] = ..., rating_held: _Optional[_Union[RatingHeld, _Mapping]] = ..., rating_withdrawn: _Optional[_Union[RatingWithdrawn, _Mapping]] = ..., investigation_step: _Optional[_Union[InvestigationStep, _Mapping]] = ..., combiner_faulted: _Optional[_Union[CombinerFaulted, _Mapping]] = ..., escrow_opened: _Optional[_Union[EscrowOpened, _Mapping]] = ..., operator_faulted: _Optional[_Union[OperatorFaulted, _Mapping]] = ..., query_log_committed: _Optional[_Union[QueryLogCommitted, _Mapping]] = ..., subject_enrolled: _Optional[_Union[SubjectEnrolled, _Mapping]] = ..., subject_access_authorised: _Optional[_Union[SubjectAccessAuthorised, _Mapping]] = ..., subject_revoked: _Optional[_Union[SubjectRevoked, _Mapping]] = ..., subject_access_served: _Optional[_Union[SubjectAccessServed, _Mapping]] = ...) -> None: ...

class Trustee(_message.Message):
    __slots__ = ("index", "name", "signing_key", "verification_key", "encryption_key")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_KEY_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    signing_key: bytes
    verification_key: bytes
    encryption_key: bytes
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., signing_key: _Optional[bytes] = ..., verification_key: _Optional[bytes] = ..., encryption_key: _Optional[bytes] = ...) -> None: ...

class Witness(_message.Message):
    __slots__ = ("name", "signing_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    signing_key: bytes
    def __init__(self, name: _Optional[str] = ..., signing_key: _Optional[bytes] = ...) -> None: ...

class Genesis(_message.Message):
    __slots__ = ("origin", "paillier_n", "paillier_v", "threshold", "trustees", "operator_key", "regulator_key", "regulator_escrow_key", "witnesses", "witness_quorum", "categories", "pedersen_dst", "link_dst", "operator_name", "min_rule_interval_days")
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
    MIN_RULE_INTERVAL_DAYS_FIELD_NUMBER: _ClassVar[int]
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
    min_rule_interval_days: int
    def __init__(self, origin: _Optional[str] = ..., paillier_n: _Optional[bytes] = ..., paillier_v: _Optional[bytes] = ..., threshold: _Optional[int] = ..., trustees: _Optional[_Iterable[_Union[Trustee, _Mapping]]] = ..., operator_key: _Optional[bytes] = ..., regulator_key: _Optional[bytes] = ..., regulator_escrow_key: _Optional[bytes] = ..., witnesses: _Optional[_Iterable[_Union[Witness, _Mapping]]] = ..., witness_quorum: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., pedersen_dst: _Optional[str] = ..., link_dst: _Optional[str] = ..., operator_name: _Optional[str] = ..., min_rule_interval_days: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("report_id", "subject_tag", "category", "incident_date", "evidence_digest", "commitment", "validity_proof", "ciphertext", "ring_change", "notice_date")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_DATE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_PROOF_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    RING_CHANGE_FIELD_NUMBER: _ClassVar[int]
    NOTICE_DATE_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    subject_tag: bytes
    category: str
    incident_date: str
    evidence_digest: bytes
    commitment: bytes
    validity_proof: bytes
    ciphertext: bytes
    ring_change: int
    notice_date: str
    def __init__(self, report_id: _Optional[bytes] = ..., subject_tag: _Optional[bytes] = ..., category: _Optional[str] = ..., incident_date: _Optional[str] = ..., evidence_digest: _Optional[bytes] = ..., commitment: _Optional[bytes] = ..., validity_proof: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ..., ring_change: _Optional[int] = ..., notice_date: _Optional[str] = ...) -> None: ...

class ReportRetracted(_message.Message):
    __slots__ = ("report_id", "ring_change", "reason")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    RING_CHANGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    ring_change: int
    reason: str
    def __init__(self, report_id: _Optional[bytes] = ..., ring_change: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

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

class InvestigationStep(_message.Message):
    __slots__ = ("authorisation", "subject_tag", "ledger_size", "step", "subset", "verdict", "combiners", "claims", "signatures", "evidence")
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    COMBINERS_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    authorisation: int
    subject_tag: bytes
    ledger_size: int
    step: int
    subset: _containers.RepeatedScalarFieldContainer[int]
    verdict: str
    combiners: _containers.RepeatedScalarFieldContainer[int]
    claims: _containers.RepeatedScalarFieldContainer[bool]
    signatures: _containers.RepeatedScalarFieldContainer[bytes]
    evidence: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, authorisation: _Optional[int] = ..., subject_tag: _Optional[bytes] = ..., ledger_size: _Optional[int] = ..., step: _Optional[int] = ..., subset: _Optional[_Iterable[int]] = ..., verdict: _Optional[str] = ..., combiners: _Optional[_Iterable[int]] = ..., claims: _Optional[_Iterable[bool]] = ..., signatures: _Optional[_Iterable[bytes]] = ..., evidence: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CombinerFaulted(_message.Message):
    __slots__ = ("combiner", "authorisation", "step", "failure")
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    combiner: int
    authorisation: int
    step: int
    failure: str
    def __init__(self, combiner: _Optional[int] = ..., authorisation: _Optional[int] = ..., step: _Optional[int] = ..., failure: _Optional[str] = ...) -> None: ...

class RatingRequested(_message.Message):
    __slots__ = ("subject_tag", "ledger_size", "set_digest", "active_set", "weights", "as_of", "rule_set_version", "kind")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    SET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SET_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    ledger_size: int
    set_digest: bytes
    active_set: _containers.RepeatedScalarFieldContainer[int]
    weights: _containers.RepeatedScalarFieldContainer[int]
    as_of: str
    rule_set_version: str
    kind: str
    def __init__(self, subject_tag: _Optional[bytes] = ..., ledger_size: _Optional[int] = ..., set_digest: _Optional[bytes] = ..., active_set: _Optional[_Iterable[int]] = ..., weights: _Optional[_Iterable[int]] = ..., as_of: _Optional[str] = ..., rule_set_version: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class RatingPublished(_message.Message):
    __slots__ = ("request_index", "subject_tag", "rule_set_version", "ledger_size", "set_digest", "active_set", "weights", "as_of", "score", "grade", "reporters", "proof", "combiner", "combiner_signature")
    REQUEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    SET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SET_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    REPORTERS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    COMBINER_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request_index: int
    subject_tag: bytes
    rule_set_version: str
    ledger_size: int
    set_digest: bytes
    active_set: _containers.RepeatedScalarFieldContainer[int]
    weights: _containers.RepeatedScalarFieldContainer[int]
    as_of: str
    score: int
    grade: str
    reporters: int
    proof: bytes
    combiner: int
    combiner_signature: bytes
    def __init__(self, request_index: _Optional[int] = ..., subject_tag: _Optional[bytes] = ..., rule_set_version: _Optional[str] = ..., ledger_size: _Optional[int] = ..., set_digest: _Optional[bytes] = ..., active_set: _Optional[_Iterable[int]] = ..., weights: _Optional[_Iterable[int]] = ..., as_of: _Optional[str] = ..., score: _Optional[int] = ..., grade: _Optional[str] = ..., reporters: _Optional[int] = ..., proof: _Optional[bytes] = ..., combiner: _Optional[int] = ..., combiner_signature: _Optional[bytes] = ...) -> None: ...

class RatingHeld(_message.Message):
    __slots__ = ("request_index", "subject_tag", "ledger_size", "combiner", "verdict_signature", "second_combiner", "second_signature")
    REQUEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    VERDICT_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    SECOND_COMBINER_FIELD_NUMBER: _ClassVar[int]
    SECOND_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    request_index: int
    subject_tag: bytes
    ledger_size: int
    combiner: int
    verdict_signature: bytes
    second_combiner: int
    second_signature: bytes
    def __init__(self, request_index: _Optional[int] = ..., subject_tag: _Optional[bytes] = ..., ledger_size: _Optional[int] = ..., combiner: _Optional[int] = ..., verdict_signature: _Optional[bytes] = ..., second_combiner: _Optional[int] = ..., second_signature: _Optional[bytes] = ...) -> None: ...

class RatingWithdrawn(_message.Message):
    __slots__ = ("request_index", "subject_tag", "reason")
    REQUEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_index: int
    subject_tag: bytes
    reason: str
    def __init__(self, request_index: _Optional[int] = ..., subject_tag: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class EscrowOpened(_message.Message):
    __slots__ = ("report_id", "reason")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    reason: str
    def __init__(self, report_id: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class OperatorFaulted(_message.Message):
    __slots__ = ("report_id", "failure")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    failure: str
    def __init__(self, report_id: _Optional[bytes] = ..., failure: _Optional[str] = ...) -> None: ...

class QueryLogCommitted(_message.Message):
    __slots__ = ("first_id", "count", "root")
    FIRST_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    first_id: int
    count: int
    root: bytes
    def __init__(self, first_id: _Optional[int] = ..., count: _Optional[int] = ..., root: _Optional[bytes] = ...) -> None: ...

class SubjectEnrolled(_message.Message):
    __slots__ = ("subject_tag", "signing_key", "encryption_key", "certificate_digest")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_KEY_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    signing_key: bytes
    encryption_key: bytes
    certificate_digest: bytes
    def __init__(self, subject_tag: _Optional[bytes] = ..., signing_key: _Optional[bytes] = ..., encryption_key: _Optional[bytes] = ..., certificate_digest: _Optional[bytes] = ...) -> None: ...

class SubjectAccessAuthorised(_message.Message):
    __slots__ = ("subject_tag", "reason")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    reason: str
    def __init__(self, subject_tag: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...

class SubjectAccessServed(_message.Message):
    __slots__ = ("authorisation", "subject_tag", "report", "combiner", "opens", "sealed", "signature")
    AUTHORISATION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    OPENS_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    authorisation: int
    subject_tag: bytes
    report: int
    combiner: int
    opens: bool
    sealed: bytes
    signature: bytes
    def __init__(self, authorisation: _Optional[int] = ..., subject_tag: _Optional[bytes] = ..., report: _Optional[int] = ..., combiner: _Optional[int] = ..., opens: _Optional[bool] = ..., sealed: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SubjectRevoked(_message.Message):
    __slots__ = ("subject_tag", "reason")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    reason: str
    def __init__(self, subject_tag: _Optional[bytes] = ..., reason: _Optional[str] = ...) -> None: ...
