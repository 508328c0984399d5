from api.v1 import ledger_pb2 as _ledger_pb2
from api.v1 import rating_pb2 as _rating_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSubjectRecordRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubjectRecordResponse(_message.Message):
    __slots__ = ("enrolment", "entries", "rule_sets", "checkpoint")
    ENROLMENT_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    RULE_SETS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    enrolment: _rating_pb2.ProvenEntry
    entries: _containers.RepeatedCompositeFieldContainer[_rating_pb2.ProvenEntry]
    rule_sets: _containers.RepeatedCompositeFieldContainer[_rating_pb2.ProvenEntry]
    checkpoint: _ledger_pb2.CheckpointResponse
    def __init__(self, enrolment: _Optional[_Union[_rating_pb2.ProvenEntry, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[_rating_pb2.ProvenEntry, _Mapping]]] = ..., rule_sets: _Optional[_Iterable[_Union[_rating_pb2.ProvenEntry, _Mapping]]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.CheckpointResponse, _Mapping]] = ...) -> None: ...

class ListDisputesRequest(_message.Message):
    __slots__ = ("open_only",)
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    open_only: bool
    def __init__(self, open_only: _Optional[bool] = ...) -> None: ...

class ListDisputesResponse(_message.Message):
    __slots__ = ("entries", "checkpoint")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_rating_pb2.ProvenEntry]
    checkpoint: _ledger_pb2.CheckpointResponse
    def __init__(self, entries: _Optional[_Iterable[_Union[_rating_pb2.ProvenEntry, _Mapping]]] = ..., checkpoint: _Optional[_Union[_ledger_pb2.CheckpointResponse, _Mapping]] = ...) -> None: ...
