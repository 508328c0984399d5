from api.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitEntryRequest(_message.Message):
    __slots__ = ("signed_entry", "escrow_signature")
    SIGNED_ENTRY_FIELD_NUMBER: _ClassVar[int]
    ESCROW_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signed_entry: bytes
    escrow_signature: bytes
    def __init__(self, signed_entry: _Optional[bytes] = ..., escrow_signature: _Optional[bytes] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("index", "checkpoint", "inclusion_proof", "leaf_hash", "leaf")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PROOF_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    LEAF_FIELD_NUMBER: _ClassVar[int]
    index: int
    checkpoint: _ledger_pb2.CheckpointResponse
    inclusion_proof: _containers.RepeatedScalarFieldContainer[bytes]
    leaf_hash: bytes
    leaf: bytes
    def __init__(self, index: _Optional[int] = ..., checkpoint: _Optional[_Union[_ledger_pb2.CheckpointResponse, _Mapping]] = ..., inclusion_proof: _Optional[_Iterable[bytes]] = ..., leaf_hash: _Optional[bytes] = ..., leaf: _Optional[bytes] = ...) -> None: ...

class SubmitResult(_message.Message):
    __slots__ = ("position", "receipt", "refusal")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    position: int
    receipt: Receipt
    refusal: Refusal
    def __init__(self, position: _Optional[int] = ..., receipt: _Optional[_Union[Receipt, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class SubmitReportsRequest(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, reports: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubmitReportsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitResult, _Mapping]]] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("report_id",)
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    report_id: bytes
    def __init__(self, report_id: _Optional[bytes] = ...) -> None: ...
