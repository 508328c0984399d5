"""gRPC servicers of the operator: thin adapters from protobuf to the ledger (docs/architecture.md).

Each method converts its request, checks the caller's role (from the mTLS certificate and
the ledger), calls the ledger, and converts back. Errors go through the one status table in
`api/status.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from api import wire
from api.status import grpc_errors
from api.v1 import governance_pb2 as gov
from api.v1 import governance_pb2_grpc as gov_grpc
from api.v1 import ledger_pb2 as lg
from api.v1 import ledger_pb2_grpc as lg_grpc
from api.v1 import rating_pb2 as rt
from api.v1 import rating_pb2_grpc as rt_grpc
from core import entries as e
from core import state
from core.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated, Unavailable
from server.epoch import EpochRunner
from server.intake import Verifier
from server.ledger import Ledger
from server.pki import peer_certificate_digest, peer_identity
from server.querylog import QueryLog
from server.ratings import read_rating
from server.reporting import StreamSlots, admit_entry, answer, append_later, serve_stream, wait_appended, wait_report

MAX_PAGE = 1000


def caller(context: grpc.ServicerContext, ledger: Ledger, *roles: str) -> tuple[str, str]:
    """(name, role) of the authenticated caller; PermissionDenied unless its role is allowed.

    A member must also be admitted and not revoked on the ledger right now.
    """
    name, role = peer_identity(context.auth_context())
    if roles and role not in roles:
        raise PermissionDenied(f"this call is for the {' or '.join(roles)}; your certificate says {role}")
    if role == "member":
        record = state.member_record(ledger.view, name)
        if record is None:
            raise Unauthenticated(f"member {name} is not admitted on this ledger")
        if record.revoked_at is not None:
            raise PermissionDenied(f"member {name} was revoked at entry {record.revoked_at}")
    if role == "subject":
        check_subject_caller(context, ledger, name)
    return name, role


def check_subject_caller(context: grpc.ServicerContext, ledger: Ledger, name: str) -> bytes:
    """A subject is served only over the certificate its current, unrevoked SubjectEnrolled
    names (docs/subjects.md); returns its tag."""
    try:
        tag = bytes.fromhex(name)
    except ValueError:
        tag = b""
    record = state.subject_party(ledger.view, tag) if len(tag) == 32 else None
    if record is None:
        raise Unauthenticated("this subject certificate names no enrolled subject on this ledger")
    if record.revoked_at is not None or peer_certificate_digest(context.auth_context()) \
            != record.certificate_digest:
        raise PermissionDenied("this subject certificate belongs to a revoked enrolment; ask the regulator to "
                               "enrol you again (`candor subject enrol`)")
    return tag


class LedgerServicer(lg_grpc.LedgerServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def GetCheckpoint(self, request: lg.GetCheckpointRequest, context: grpc.ServicerContext) -> lg.CheckpointResponse:
        with grpc_errors(context):
            caller(context, self.ledger)
            size, note = self.ledger.checkpoint_with_cosignatures(request.size)
            return lg.CheckpointResponse(note=note, size=size)

    def GetEntries(self, request: lg.GetEntriesRequest, context: grpc.ServicerContext) -> lg.GetEntriesResponse:
        with grpc_errors(context):
            caller(context, self.ledger)
            size = self.ledger.store.size()
            if request.start >= size or request.end <= request.start:
                raise InvalidInput(f"entries [{request.start}, {request.end}) are outside the ledger of size {size}")
            end = min(request.end, size, request.start + MAX_PAGE)
            return lg.GetEntriesResponse(entries=self.ledger.store.entries(request.start, end), start=request.start)

    def GetInclusionProof(self, request: lg.GetInclusionProofRequest,
                          context: grpc.ServicerContext) -> lg.InclusionProofResponse:
        with grpc_errors(context):
            caller(context, self.ledger)
            hashes = self.ledger.inclusion_proof(request.index, request.tree_size)
            return lg.InclusionProofResponse(index=request.index, tree_size=request.tree_size, hashes=hashes)

    def GetConsistencyProof(self, request: lg.GetConsistencyProofRequest,
                            context: grpc.ServicerContext) -> lg.ConsistencyProofResponse:
        with grpc_errors(context):
            caller(context, self.ledger)
            hashes = self.ledger.consistency_proof(request.old_size, request.new_size)
            return lg.ConsistencyProofResponse(old_size=request.old_size, new_size=request.new_size, hashes=hashes)

    def AddCosignature(self, request: lg.AddCosignatureRequest,
                       context: grpc.ServicerContext) -> lg.AddCosignatureResponse:
        with grpc_errors(context):
            caller(context, self.ledger, "witness")  # only genesis witnesses cosign (docs/operations.md)
            count = self.ledger.add_cosignature(request.size, request.cosignature)
            return lg.AddCosignatureResponse(cosignatures=count)


class GovernanceServicer(gov_grpc.GovernanceServiceServicer):
    """Signed governance entries; the ledger checks the signature is the regulator's (or, for
    a dispute, a member's or a subject's) and that the entry fits the state. The checks of a
    regulator's entry that need no state (its Ed25519 signature, an admitted reporting key:
    `core.state.stateless_checks`) run in the verification workers, beside reports, so the
    sequencer, which every entry waits for, makes only those that need the state."""

    def __init__(self, ledger: Ledger, verifier: Verifier) -> None:
        self.ledger = ledger
        self.verifier = verifier

    def _submit(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext, kind: type,
                *roles: str) -> gov.Receipt:
        with grpc_errors(context):
            caller(context, self.ledger, *roles)
            signed = wire.signed_entry_from_bytes(request.signed_entry)
            if not isinstance(signed.entry.body, kind):
                raise InvalidInput(f"this call takes a {kind.__name__} entry, not {signed.entry.kind}")
            leaf = request.signed_entry
            if state.has_stateless_checks(self.ledger.alliance, signed):
                return wait_report(self.ledger, append_later(self.ledger, self.verifier, leaf, signed))
            return wait_appended(self.ledger, self.ledger.submit(leaf, signed, verified=False), leaf)

    def AdmitMember(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.MemberAdmitted, "regulator")

    def RevokeMember(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.MemberRevoked, "regulator")

    def PublishRules(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.RuleSetPublished, "regulator")

    def AuthoriseInvestigation(self, request: gov.SubmitEntryRequest,
                               context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.InvestigationAuthorised, "regulator")

    def RecordFraud(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.FraudFound, "regulator")

    def RecordCombinerFault(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.CombinerFaulted, "regulator")

    def FileDispute(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.DisputeFiled, "regulator", "member", "subject")

    def ResolveDispute(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.DisputeResolved, "regulator")

    def OpenEscrow(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.EscrowOpened, "regulator")

    def RecordOperatorFault(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.OperatorFaulted, "regulator")

    def EnrolSubject(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.SubjectEnrolled, "regulator")

    def RevokeSubject(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.SubjectRevoked, "regulator")

    def AuthoriseSubjectAccess(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.SubjectAccessAuthorised, "regulator")


class ReportingServicer(gov_grpc.ReportingServiceServicer):
    """Reports and retractions. Their crypto is checked by `verifier` (server/intake.py: in
    worker processes, batched, or in this thread with workers=0)."""

    def __init__(self, ledger: Ledger, verifier: Verifier, max_streams: int = 8) -> None:
        self.ledger = ledger
        self.verifier = verifier
        self.streams = StreamSlots(max_streams)

    def _report(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext,
                kind: type[e.ReportCommitted] | type[e.ReportRetracted]) -> gov.Receipt:
        member, _ = caller(context, self.ledger, "member")
        # Verified (and a report's escrow sealed), then queued for the sequencer by the
        # verifier's own callback: this thread wakes once, for the receipt (as a streamed
        # report's answer does).
        return wait_report(self.ledger, append_later(self.ledger, self.verifier,
                                                     *admit_entry(self.ledger, member, request, kind)))

    def SubmitReport(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            return self._report(request, context, e.ReportCommitted)

    def SubmitReports(self, request_iterator: Iterator[gov.SubmitReportsRequest],
                      context: grpc.ServicerContext) -> Iterator[gov.SubmitReportsResponse]:
        """Reports on one stream, each answered in order (server/reporting.py)."""
        with grpc_errors(context):
            member, _ = caller(context, self.ledger, "member")
            with self.streams:
                yield from serve_stream(self.ledger, self.verifier, member, request_iterator, self.streams.readers)

    def RetractReport(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            return self._report(request, context, e.ReportRetracted)

    def GetReceipt(self, request: gov.GetReceiptRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            caller(context, self.ledger)
            record = state.report_record(self.ledger.view, request.report_id.hex())
            if record is None:
                raise NotFound(f"report {request.report_id.hex()} is not on the ledger")
            return answer(self.ledger, record.index)


class RatingServicer(rt_grpc.RatingServiceServicer):
    def __init__(self, ledger: Ledger, epochs: EpochRunner | None, queries: QueryLog | None = None) -> None:
        self.ledger = ledger
        self.queries = queries or QueryLog(ledger)
        self.epochs = epochs

    def GetRating(self, request: rt.GetRatingRequest, context: grpc.ServicerContext) -> rt.RatingResponse:
        with grpc_errors(context):
            name, role = caller(context, self.ledger, "member", "regulator", "subject")
            return wire.rating_to_proto(read_rating(self.ledger, self.queries, name, role, request.subject_tag,
                                                    request.purpose))

    def ListQueries(self, request: rt.ListQueriesRequest, context: grpc.ServicerContext) -> rt.ListQueriesResponse:
        """A page of the caller's view of the query log (docs/queries.md), each committed record
        with its inclusion proof and the proven QueryLogCommitted entries they lead to."""
        with grpc_errors(context):
            name, role = caller(context, self.ledger, "member", "regulator", "subject")
            return wire.query_page_to_proto(self.queries.page(role, name, request.subject_tag, request.commitment,
                                                              request.after, request.limit))

    def RunEpoch(self, request: rt.RunEpochRequest, context: grpc.ServicerContext) -> rt.RunEpochResponse:
        with grpc_errors(context):
            caller(context, self.ledger, "operator")
            if self.epochs is None:
                raise Unavailable("this server runs no epochs (no trustees configured)")
            result = self.epochs.run()
            self.ledger.wait_checkpoint(self.ledger.store.size())  # what it appended is checkpointed on return
            return rt.RunEpochResponse(published=len(result.published), pending=len(result.pending),
                                       held=len(result.held), fraud_found=len(result.fraud),
                                       messages=result.messages, blocked=result.blocked)
