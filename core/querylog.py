"""The query log: one record per rating query, committed to the ledger (docs/queries.md).

Every `GetRating` leaves a `QueryRecord`: who asked (role and name), about which subject,
why (a purpose code), when. Records are numbered 1, 2, 3... by the operator. At least hourly
the operator appends a `QueryLogCommitted` entry holding the RFC 9162 Merkle root (core.merkle)
of the records since the previous commitment, leaf i being record `first_id + i`; a reader
checks each record it is shown against that root with an inclusion proof, so a committed
record the operator edits afterwards no longer verifies.

Privacy of the proofs: an inclusion proof hands the reader sibling hashes of other people's
records. Without blinding, a member could hash every (member, purpose, millisecond) guess
for a subject it knows and recognise who else looked that subject up. Each record therefore
carries 16 random bytes (`salt`) chosen by the operator, so a leaf hash reveals nothing about
the record behind it.

This module is the one place that knows the record's canonical encoding, the purpose codes
and the retention periods.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from core import merkle
from core.errors import InvalidInput, PermissionDenied, VerificationError

PURPOSES = ("pre-contract", "monitoring", "dispute", "regulator", "self")
"""Why a rating was queried; the only codes a query may carry."""

KEPT_DAYS = 3 * 365
"""Records are purged once older than this (3 years)."""

SHOWN_DAYS = 2 * 365
"""Readers are shown records up to this age (2 years); older ones are hidden until purged."""

DAY_MS = 86_400_000

COMMIT_INTERVAL_S = 3600
"""The operator commits new records at least this often (seconds)."""

UNCOMMITTED_MAX_MS = 2 * COMMIT_INTERVAL_S * 1000
"""A record still uncommitted after this long means the operator is withholding its commitment."""

ROLES = ("member", "regulator", "subject")
"""Who can have asked: the role named in the asker's certificate."""

SALT_BYTES = 16
_VERSION = 1
_HEAD = struct.Struct(">B32s16sqB")  # version, subject tag, salt, time_ms, role code
_MAX_NAME = 128


_RESERVED = {"regulator": "regulator", "self": "subject"}
"""Purposes only one role may state: the regulator's supervision, a subject's own look."""


def check_purpose(purpose: str, role: str | None = None) -> str:
    """`purpose` if it is a known code (and, given the asker's `role`, one that role may state)."""
    if purpose not in PURPOSES:
        raise InvalidInput(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    reserved = _RESERVED.get(purpose)
    if role is not None and reserved is not None and role != reserved:
        raise PermissionDenied(f"only the {reserved} queries with purpose {purpose!r}")
    return purpose


@dataclass(frozen=True)
class QueryRecord:
    """One query: `role`/`name` asked about `subject_tag` for `purpose` at `time_ms`."""

    subject_tag: bytes
    role: str
    name: str
    purpose: str
    time_ms: int
    salt: bytes

    def __post_init__(self) -> None:
        if len(self.subject_tag) != 32:
            raise InvalidInput(f"subject tag is {len(self.subject_tag)} bytes, expected 32")
        if self.role not in ROLES:
            raise InvalidInput(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if not self.name or len(self.name.encode()) > _MAX_NAME:
            raise InvalidInput(f"asker name must be 1..{_MAX_NAME} bytes of UTF-8")
        check_purpose(self.purpose)
        if not 0 <= self.time_ms < 2**63:
            raise InvalidInput(f"time {self.time_ms} ms is outside 0..2^63-1")
        if len(self.salt) != SALT_BYTES:
            raise InvalidInput(f"salt is {len(self.salt)} bytes, expected {SALT_BYTES}")

    def encode(self) -> bytes:
        """The canonical bytes: the Merkle leaf data, and what the store keeps.

        version(1) ‖ subject tag(32) ‖ salt(16) ‖ time_ms(8, big-endian) ‖ role code(1) ‖
        len(purpose)(1) ‖ purpose ‖ len(name)(1) ‖ name, strings in UTF-8.
        """
        purpose, name = self.purpose.encode(), self.name.encode()
        return (_HEAD.pack(_VERSION, self.subject_tag, self.salt, self.time_ms, ROLES.index(self.role))
                + bytes([len(purpose)]) + purpose + bytes([len(name)]) + name)

    @classmethod
    def decode(cls, data: bytes) -> QueryRecord:
        """Strict inverse of `encode`: any other byte string raises InvalidInput."""
        try:
            version, tag, salt, time_ms, role = _HEAD.unpack_from(data)
            at = _HEAD.size
            plen = data[at]
            purpose = data[at + 1:at + 1 + plen].decode()
            at += 1 + plen
            nlen = data[at]
            name = data[at + 1:at + 1 + nlen].decode()
        except (struct.error, IndexError, UnicodeDecodeError):
            raise InvalidInput("query record is truncated or not UTF-8") from None
        if version != _VERSION or role >= len(ROLES):
            raise InvalidInput(f"query record has version {version}, role code {role}; expected version 1")
        record = cls(tag, ROLES[role], name, purpose, time_ms, salt)
        if record.encode() != data:
            raise InvalidInput("query record is not in canonical encoding")
        return record

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.encode())


def commitment_root(records: Sequence[bytes]) -> bytes:
    """The root a QueryLogCommitted names for these encoded records, in id order."""
    return merkle.root([merkle.leaf_hash(r) for r in records])


def verify_committed(record: bytes, record_id: int, first_id: int, count: int, root: bytes,
                     proof: Sequence[bytes]) -> QueryRecord:
    """Check that `record` is record `record_id` of the commitment (first_id, count, root);
    return it decoded. Raises VerificationError if the proof does not lead to `root` (the
    record was edited, or is not the one committed under that id)."""
    if not first_id <= record_id < first_id + count:
        raise VerificationError(f"query record {record_id} is outside the commitment of ids "
                                f"{first_id}..{first_id + count - 1}")
    if not record:
        raise VerificationError(f"query record {record_id} was committed but the operator no longer has it")
    try:
        decoded = QueryRecord.decode(record)
    except InvalidInput as exc:
        raise VerificationError(f"query record {record_id} was committed but is now malformed: {exc}") from None
    try:
        merkle.verify_inclusion(decoded.leaf_hash(), record_id - first_id, count, list(proof), root)
    except VerificationError as exc:
        raise VerificationError(f"query record {record_id} does not match what the operator committed "
                                f"(ids {first_id}..{first_id + count - 1}): {exc}") from None
    return decoded


def shown(record: QueryRecord, now_ms: int) -> bool:
    """Whether a reader is shown `record` at `now_ms` (younger than SHOWN_DAYS)."""
    return record.time_ms >= now_ms - SHOWN_DAYS * DAY_MS


def expired(time_ms: int, now_ms: int) -> bool:
    """Whether a record made at `time_ms` is past KEPT_DAYS and must be purged."""
    return time_ms < now_ms - KEPT_DAYS * DAY_MS
