from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShareRequest(_message.Message):
    __slots__ = ("request_index", "combiner", "subset", "cosigned_size", "step_index", "access_index", "report_index")
    REQUEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCESS_INDEX_FIELD_NUMBER: _ClassVar[int]
    REPORT_INDEX_FIELD_NUMBER: _ClassVar[int]
    request_index: int
    combiner: int
    subset: _containers.RepeatedScalarFieldContainer[int]
    cosigned_size: int
    step_index: int
    access_index: int
    report_index: int
    def __init__(self, request_index: _Optional[int] = ..., combiner: _Optional[int] = ..., subset: _Optional[_Iterable[int]] = ..., cosigned_size: _Optional[int] = ..., step_index: _Optional[int] = ..., access_index: _Optional[int] = ..., report_index: _Optional[int] = ...) -> None: ...

class ShareResponse(_message.Message):
    __slots__ = ("trustee", "combiner", "sealed_share")
    TRUSTEE_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    SEALED_SHARE_FIELD_NUMBER: _ClassVar[int]
    trustee: int
    combiner: int
    sealed_share: bytes
    def __init__(self, trustee: _Optional[int] = ..., combiner: _Optional[int] = ..., sealed_share: _Optional[bytes] = ...) -> None: ...

class SealedShare(_message.Message):
    __slots__ = ("trustee", "sealed")
    TRUSTEE_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    trustee: int
    sealed: bytes
    def __init__(self, trustee: _Optional[int] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class CombineRequest(_message.Message):
    __slots__ = ("request_index", "subset", "shares", "cosigned_size", "step_index", "access_index", "report_index")
    REQUEST_INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBSET_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCESS_INDEX_FIELD_NUMBER: _ClassVar[int]
    REPORT_INDEX_FIELD_NUMBER: _ClassVar[int]
    request_index: int
    subset: _containers.RepeatedScalarFieldContainer[int]
    shares: _containers.RepeatedCompositeFieldContainer[SealedShare]
    cosigned_size: int
    step_index: int
    access_index: int
    report_index: int
    def __init__(self, request_index: _Optional[int] = ..., subset: _Optional[_Iterable[int]] = ..., shares: _Optional[_Iterable[_Union[SealedShare, _Mapping]]] = ..., cosigned_size: _Optional[int] = ..., step_index: _Optional[int] = ..., access_index: _Optional[int] = ..., report_index: _Optional[int] = ...) -> None: ...

class CombineResponse(_message.Message):
    __slots__ = ("opens", "combiner", "score", "grade", "reporters", "proof", "signature", "bad_trustees", "evidence", "sealed_tier")
    OPENS_FIELD_NUMBER: _ClassVar[int]
    COMBINER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    REPORTERS_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    BAD_TRUSTEES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    SEALED_TIER_FIELD_NUMBER: _ClassVar[int]
    opens: bool
    combiner: int
    score: int
    grade: str
    reporters: int
    proof: bytes
    signature: bytes
    bad_trustees: _containers.RepeatedScalarFieldContainer[int]
    evidence: bytes
    sealed_tier: bytes
    def __init__(self, opens: _Optional[bool] = ..., combiner: _Optional[int] = ..., score: _Optional[int] = ..., grade: _Optional[str] = ..., reporters: _Optional[int] = ..., proof: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., bad_trustees: _Optional[_Iterable[int]] = ..., evidence: _Optional[bytes] = ..., sealed_tier: _Optional[bytes] = ...) -> None: ...
