from api.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetRatingRequest(_message.Message):
    __slots__ = ("subject_tag", "purpose")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    purpose: str
    def __init__(self, subject_tag: _Optional[bytes] = ..., purpose: _Optional[str] = ...) -> None: ...

class ProvenEntry(_message.Message):
    __slots__ = ("index", "entry", "inclusion_proof")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    index: int
    entry: bytes
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, index: _Optional[int] = ..., entry: _Optional[bytes] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RatingResponse(_message.Message):
    __slots__ = ("rated", "rating", "rule_set", "reports", "checkpoint", "pending_reports", "request", "state", "reporters", "k", "waiting_since", "held", "commitments_xy")
    RATED_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_FIELD_NUMBER: _ClassVar[int]
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    PENDING_REPORTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REPORTERS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WAITING_SINCE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    COMMITMENTS_XY_FIELD_NUMBER: _ClassVar[int]
    rated: bool
    rating: ProvenEntry
    rule_set: ProvenEntry
    reports: _containers.RepeatedCompositeFieldContainer[ProvenEntry]
    checkpoint: _ledger_pb2.CheckpointResponse
    pending_reports: int
    request: ProvenEntry
    state: str
    reporters: int
    k: int
    waiting_since: str
    held: ProvenEntry
    commitments_xy: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, rated: _Optional[bool] = ..., rating: _Optional[_Union[ProvenEntry, _Mapping]] = ..., rule_set: _Optional[_Union[ProvenEntry, _Mapping]] = ..., reports: _Optional[_Iterable[_Union[ProvenEntry, _Mapping]]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.CheckpointResponse, _Mapping]] = ..., pending_reports: _Optional[int] = ..., request: _Optional[_Union[ProvenEntry, _Mapping]] = ..., state: _Optional[str] = ..., reporters: _Optional[int] = ..., k: _Optional[int] = ..., waiting_since: _Optional[str] = ..., held: _Optional[_Union[ProvenEntry, _Mapping]] = ..., commitments_xy: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ListQueriesRequest(_message.Message):
    __slots__ = ("subject_tag", "after", "limit", "commitment")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    after: int
    limit: int
    commitment: int
    def __init__(self, subject_tag: _Optional[bytes] = ..., after: _Optional[int] = ..., limit: _Optional[int] = ..., commitment: _Optional[int] = ...) -> None: ...

class QueryRecord(_message.Message):
    __slots__ = ("id", "record", "commitment", "inclusion_proof")
    ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    id: int
    record: bytes
    commitment: int
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, id: _Optional[int] = ..., record: _Optional[bytes] = ..., commitment: _Optional[int] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ListQueriesResponse(_message.Message):
    __slots__ = ("queries", "commitments", "checkpoint", "next_after")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    COMMITMENTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[QueryRecord]
    commitments: _containers.RepeatedCompositeFieldContainer[ProvenEntry]
    checkpoint: _ledger_pb2.CheckpointResponse
    next_after: int
    def __init__(self, queries: _Optional[_Iterable[_Union[QueryRecord, _Mapping]]] = ..., commitments: _Optional[_Iterable[_Union[ProvenEntry, _Mapping]]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.CheckpointResponse, _Mapping]] = ..., next_after: _Optional[int] = ...) -> None: ...

class RunEpochRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunEpochResponse(_message.Message):
    __slots__ = ("published", "pending", "held", "fraud_found", "messages", "blocked")
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    FRAUD_FOUND_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    published: int
    pending: int
    held: int
    fraud_found: int
    messages: _containers.RepeatedScalarFieldContainer[str]
    blocked: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, published: _Optional[int] = ..., pending: _Optional[int] = ..., held: _Optional[int] = ..., fraud_found: _Optional[int] = ..., messages: _Optional[_Iterable[str]] = ..., blocked: _Optional[_Iterable[str]] = ...) -> None: ...
