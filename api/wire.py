"""The one conversion layer between protobuf messages and the core's domain objects.

`x_to_proto` / `x_from_proto` pairs; nothing past this module sees a protobuf type. Decoding
is where hostile bytes first meet the code: every failure here is an `InvalidInput` naming
what to fix, and domain objects validate themselves on construction.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator
from typing import Any

from google.protobuf.message import DecodeError

from api.v1 import entries_pb2 as pb
from api.v1 import ledger_pb2, rating_pb2
from core import entries as e
from core import served
from core.errors import InvalidInput

MAX_ENTRY_BYTES = 256 * 1024
"""Largest leaf accepted: a report with a ring of a few hundred members fits with room."""

MAX_REQUEST_BYTES = 512 * 1024
"""Largest gRPC request a Candor server (operator, trustee) accepts: one entry and its escrow."""

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest gRPC response a server sends and a client accepts: a page of entries or proofs."""

REPORTS_PER_MESSAGE = 64
"""Most reports in one message of a SubmitReports stream (and outcomes in one answer)."""


def message_room(count: int, size: int, request: int) -> bool:
    """Whether a SubmitReports message holding `count` reports of `size` packed bytes has
    room for one more of `request` bytes: at most REPORTS_PER_MESSAGE, and under
    MAX_REQUEST_BYTES with room for the framing. `size` adds `packed_size` of each report."""
    return count < REPORTS_PER_MESSAGE and size + packed_size(request) <= MAX_REQUEST_BYTES - 4096


def packed_size(request: int) -> int:
    """What a report of `request` bytes adds to a message: itself, its field tag and length."""
    return request + 8


def report_messages(requests: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Serialized SubmitEntryRequests grouped, in order, into the `reports` of SubmitReports
    messages (`message_room`; a report alone always fits: an entry is at most
    MAX_ENTRY_BYTES)."""
    chunk: list[bytes] = []
    size = 0
    for request in requests:
        if chunk and not message_room(len(chunk), size, len(request)):
            yield chunk
            chunk, size = [], 0
        chunk.append(request)
        size += packed_size(len(request))
    if chunk:
        yield chunk


def int_to_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def int_from_bytes(data: bytes, what: str) -> int:
    if len(data) > 1 and data[0] == 0:
        raise InvalidInput(f"{what} has a leading zero byte: use the minimal big-endian encoding")
    return int.from_bytes(data, "big")


_BODY_FIELDS: dict[type, str] = {
    e.Genesis: "genesis",
    e.MemberAdmitted: "member_admitted",
    e.MemberRevoked: "member_revoked",
    e.RuleSetPublished: "rule_set_published",
    e.ReportCommitted: "report_committed",
    e.ReportRetracted: "report_retracted",
    e.DisputeFiled: "dispute_filed",
    e.DisputeResolved: "dispute_resolved",
    e.InvestigationAuthorised: "investigation_authorised",
    e.FraudFound: "fraud_found",
    e.RatingPublished: "rating_published",
    e.EscrowOpened: "escrow_opened",
    e.OperatorFaulted: "operator_faulted",
    e.RatingRequested: "rating_requested",
    e.RatingHeld: "rating_held",
    e.RatingWithdrawn: "rating_withdrawn",
    e.QueryLogCommitted: "query_log_committed",
    e.SubjectEnrolled: "subject_enrolled",
    e.SubjectAccessAuthorised: "subject_access_authorised",
    e.SubjectRevoked: "subject_revoked",
    e.InvestigationStep: "investigation_step",
    e.CombinerFaulted: "combiner_faulted",
    e.SubjectAccessServed: "subject_access_served",
}

# Fields that hold integers on the domain side and big-endian bytes on the wire.
_INT_FIELDS = {"paillier_n", "paillier_v", "verification_key", "ciphertext", "r_sum"}


def _fill(msg: Any, obj: Any) -> None:
    for name, value in vars(obj).items():
        if name in _INT_FIELDS:
            setattr(msg, name, int_to_bytes(value))
        elif isinstance(value, tuple):
            field = getattr(msg, name)
            for item in value:
                if isinstance(item, (e.Trustee, e.Witness)):
                    _fill(field.add(), item)
                else:
                    field.append(item)
        else:
            setattr(msg, name, value)


def entry_to_proto(entry: e.LedgerEntry) -> pb.LedgerEntry:
    msg = pb.LedgerEntry(version=entry.version, timestamp_ms=entry.timestamp_ms)
    _fill(getattr(msg, _BODY_FIELDS[type(entry.body)]), entry.body)
    return msg


def entry_to_bytes(entry: e.LedgerEntry) -> bytes:
    """Serialise once, deterministically; these are the bytes that get signed and stored."""
    data: bytes = entry_to_proto(entry).SerializeToString(deterministic=True)
    return data


def _trustee_from_proto(msg: pb.Trustee) -> e.Trustee:
    return e.Trustee(
        index=msg.index,
        name=msg.name,
        signing_key=msg.signing_key,
        verification_key=int_from_bytes(msg.verification_key, f"verification key of trustee {msg.name}"),
        encryption_key=msg.encryption_key,
    )


def _body_from_proto(msg: pb.LedgerEntry) -> e.Body:
    which = msg.WhichOneof("body")
    if which is None:
        raise InvalidInput("ledger entry has no body: set exactly one entry type")
    m = getattr(msg, which)
    if which == "genesis":
        return e.Genesis(
            origin=m.origin,
            paillier_n=int_from_bytes(m.paillier_n, "Paillier modulus"),
            paillier_v=int_from_bytes(m.paillier_v, "Paillier verification base"),
            threshold=m.threshold,
            trustees=tuple(_trustee_from_proto(t) for t in m.trustees),
            operator_key=m.operator_key,
            operator_name=m.operator_name,
            regulator_key=m.regulator_key,
            regulator_escrow_key=m.regulator_escrow_key,
            witnesses=tuple(e.Witness(name=w.name, signing_key=w.signing_key) for w in m.witnesses),
            witness_quorum=m.witness_quorum,
            categories=tuple(m.categories),
            pedersen_dst=m.pedersen_dst,
            link_dst=m.link_dst,
            min_rule_interval_days=m.min_rule_interval_days,
        )
    cls, plain, ints, repeated = _body_layout(which)
    kwargs: dict[str, Any] = {name: getattr(m, name) for name in plain}
    for name, what in ints:
        kwargs[name] = int_from_bytes(getattr(m, name), what)
    for name in repeated:
        kwargs[name] = tuple(getattr(m, name))
    body: e.Body = cls(**kwargs)
    return body


@functools.cache
def _body_layout(which: str) -> tuple[type, tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The dataclass of oneof field `which` and its fields by how they are read from the
    message: as is, as big-endian integers (with the name for messages), repeated -> tuple.
    Worked out once per type."""
    cls = next(c for c, f in _BODY_FIELDS.items() if f == which)
    empty = getattr(pb.LedgerEntry(), which)
    plain: list[str] = []
    ints: list[tuple[str, str]] = []
    repeated: list[str] = []
    for f in dataclasses.fields(cls):
        value = getattr(empty, f.name)
        if f.name in _INT_FIELDS:
            ints.append((f.name, f.name.replace("_", " ")))
        elif hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
            repeated.append(f.name)
        else:
            plain.append(f.name)
    return cls, tuple(plain), tuple(ints), tuple(repeated)


def entry_from_bytes(data: bytes, *, check_canonical: bool = True) -> e.LedgerEntry:
    msg = pb.LedgerEntry()
    try:
        msg.ParseFromString(data)
    except DecodeError:
        raise InvalidInput("ledger entry bytes are not a valid candor.v1.LedgerEntry message") from None
    entry = e.LedgerEntry(body=_body_from_proto(msg), timestamp_ms=msg.timestamp_ms, version=msg.version)
    if check_canonical:
        _require_canonical_entry(data, entry)
    return entry


def _require_canonical_entry(data: bytes, entry: e.LedgerEntry) -> None:
    if entry_to_bytes(entry) != data:
        raise InvalidInput(
            "ledger entry is not in canonical encoding (unknown fields, defaults written, or fields "
            "out of order): serialise it deterministically with the candor.v1 schema"
        )


def signed_entry_to_bytes(signed: e.SignedEntry) -> bytes:
    msg = pb.SignedEntry(entry=signed.entry_bytes)
    if signed.signature is not None:
        msg.signature.key_id = signed.signature.key_id
        msg.signature.signature = signed.signature.signature
    else:
        assert signed.ring_signature is not None
        msg.ring_signature = signed.ring_signature
    if signed.escrow is not None:
        msg.escrow = signed.escrow
    data: bytes = msg.SerializeToString(deterministic=True)
    return data


def signed_entry_from_bytes(data: bytes, *, check_canonical: bool = True) -> e.SignedEntry:
    """Decode a leaf. Rejects oversized, malformed and non-canonical encodings.

    `check_canonical=False` skips re-encoding to compare, for leaves already proven to be
    in a cosigned tree (they were checked when appended), or decoded again with the check
    before anything is stored or trusted (the intake's first reading,
    `server.reporting.admit_entry`; an audit's or a mirror's, whose workers decode the
    leaves they verify, the rest going through `require_canonical`); nothing else is
    relaxed."""
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput(f"entry is {len(data)} bytes, at most {MAX_ENTRY_BYTES} allowed")
    msg = pb.SignedEntry()
    try:
        msg.ParseFromString(data)
    except DecodeError:
        raise InvalidInput("entry bytes are not a valid candor.v1.SignedEntry message") from None
    auth = msg.WhichOneof("auth")
    if auth is None:
        raise InvalidInput("entry is unsigned: add an Ed25519 signature or a ring signature")
    signed = e.SignedEntry(
        entry_bytes=msg.entry,
        entry=entry_from_bytes(msg.entry, check_canonical=False),
        signature=e.Signature(msg.signature.key_id, msg.signature.signature) if auth == "signature" else None,
        ring_signature=msg.ring_signature if auth == "ring_signature" else None,
        escrow=msg.escrow or None,
    )
    if check_canonical:
        require_canonical(data, signed)
    return signed


def require_canonical(data: bytes, signed: e.SignedEntry) -> None:
    """Raise InvalidInput unless `data`, which decoded to `signed`, is its canonical encoding,
    its entry's included: the check `signed_entry_from_bytes` makes unless told not to, for a
    caller that decoded without it and learnt only then that no worker decodes the leaf
    again with the check (an auditor's replay, `client.audit`; a mirror's page,
    `server.mirror`)."""
    _require_canonical_entry(signed.entry_bytes, signed.entry)
    if signed_entry_to_bytes(signed) != data:
        raise InvalidInput("signed entry is not in canonical encoding: serialise it deterministically")


def sign_leaf(entry: e.LedgerEntry, key: Any) -> bytes:
    """Serialise `entry` once, sign those bytes with an Ed25519 private key, return the leaf."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from core.signing import key_id

    entry_bytes = entry_to_bytes(entry)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = e.Signature(key_id(public), key.sign(e.ENTRY_SIGNATURE_CONTEXT + entry_bytes))
    return signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, signature=signature))


# -- what the operator serves (core.served) -----------------------------------------------


def proven_to_proto(p: served.ProvenEntry) -> rating_pb2.ProvenEntry:
    return rating_pb2.ProvenEntry(index=p.index, entry=p.entry, inclusion_proof=list(p.inclusion_proof))


def checkpoint_to_proto(cp: served.CosignedCheckpoint) -> ledger_pb2.CheckpointResponse:
    return ledger_pb2.CheckpointResponse(note=cp.note, size=cp.size)


def rating_to_proto(r: served.RatingState) -> rating_pb2.RatingResponse:
    """RatingService.GetRating's answer; an absent proven entry stays an unset field."""
    resp = rating_pb2.RatingResponse(
        rated=r.rated, state=r.state, k=r.k, reporters=r.reporters, pending_reports=r.pending_reports,
        waiting_since=r.waiting_since, checkpoint=checkpoint_to_proto(r.checkpoint),
        reports=[proven_to_proto(p) for p in r.reports], commitments_xy=list(r.commitments_xy))
    for name in ("rating", "request", "rule_set", "held"):
        proven = getattr(r, name)
        if proven is not None:
            getattr(resp, name).CopyFrom(proven_to_proto(proven))
    return resp


def query_page_to_proto(page: served.QueryPage) -> rating_pb2.ListQueriesResponse:
    resp = rating_pb2.ListQueriesResponse(
        next_after=page.next_after,
        queries=[rating_pb2.QueryRecord(id=s.id, record=s.record, commitment=s.commitment or 0,
                                        inclusion_proof=list(s.proof)) for s in page.records],
        commitments=[proven_to_proto(p) for p in page.commitments])
    if page.checkpoint is not None:
        resp.checkpoint.CopyFrom(checkpoint_to_proto(page.checkpoint))
    return resp
