from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ShareRequest(_message.Message):
    __slots__ = ("subject_tag", "ledger_size", "as_of", "subset")
    SUBJECT_TAG_FIELD_NUMBER: _ClassVar[int]
    LEDGER_SIZE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    subject_tag: bytes
    ledger_size: int
    as_of: str
    subset: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, subject_tag: _Optional[bytes] = ..., ledger_size: _Optional[int] = ..., as_of: _Optional[str] = ..., subset: _Optional[_Iterable[int]] = ...) -> None: ...

class ShareResponse(_message.Message):
    __slots__ = ("trustee", "ciphertext", "share", "proof", "active_set", "weights", "rule_set_version")
    TRUSTEE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SET_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    trustee: int
    ciphertext: bytes
    share: bytes
    proof: bytes
    active_set: _containers.RepeatedScalarFieldContainer[int]
    weights: _containers.RepeatedScalarFieldContainer[int]
    rule_set_version: str
    def __init__(self, trustee: _Optional[int] = ..., ciphertext: _Optional[bytes] = ..., share: _Optional[bytes] = ..., proof: _Optional[bytes] = ..., active_set: _Optional[_Iterable[int]] = ..., weights: _Optional[_Iterable[int]] = ..., rule_set_version: _Optional[str] = ...) -> None: ...
