"""gRPC servicers of the operator: thin adapters from protobuf to the ledger (DESIGN §8).

Each method converts its request, checks the caller's role (from the mTLS certificate and
the ledger), calls the ledger, and converts back. Errors go through the one status table in
`candor/status.py`.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from concurrent.futures import TimeoutError as FutureTimeout

import grpc

from candor import wire
from candor.v1 import governance_pb2 as gov
from candor.v1 import governance_pb2_grpc as gov_grpc
from candor.v1 import ledger_pb2 as lg
from candor.v1 import ledger_pb2_grpc as lg_grpc
from candor.v1 import rating_pb2 as rt
from candor.v1 import rating_pb2_grpc as rt_grpc
from core import entries as e
from core import state
from core.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated, Unavailable
from server.epoch import EpochRunner
from candor.status import grpc_errors
from server.intake import Verifier
from server.ledger import Ledger, Receipt
from server.pki import peer_identity

MAX_PAGE = 1000
APPEND_TIMEOUT = 30.0


def caller(context: grpc.ServicerContext, ledger: Ledger, *roles: str) -> tuple[str, str]:
    """(name, role) of the authenticated caller; PermissionDenied unless its role is allowed.

    A member must also be admitted and not revoked on the ledger right now.
    """
    name, role = peer_identity(context.auth_context())
    if roles and role not in roles:
        raise PermissionDenied(f"this call is for the {' or '.join(roles)}; your certificate says {role}")
    if role == "member":
        record = state.load(ledger.view, f"member/{name}")
        if record is None:
            raise Unauthenticated(f"member {name} is not admitted on this ledger")
        if record["revoked_at"] is not None:
            raise PermissionDenied(f"member {name} was revoked at entry {record['revoked_at']}")
    return name, role


def receipt_to_proto(r: Receipt) -> gov.Receipt:
    return gov.Receipt(
        index=r.index,
        checkpoint=lg.CheckpointResponse(note=r.checkpoint_note, size=r.checkpoint_size),
        inclusion_proof=list(r.inclusion_proof),
        leaf_hash=r.leaf_hash,
    )


def _wait(ledger: Ledger, leaf: bytes, signed: e.SignedEntry, verified: bool) -> gov.Receipt:
    try:
        index = ledger.submit(leaf, signed, verified=verified).result(timeout=APPEND_TIMEOUT)
    except FutureTimeout:
        raise Unavailable("the ledger did not append in time; retry with the same report id") from None
    return receipt_to_proto(ledger.receipt(index))


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
            caller(context, self.ledger, "witness", "member", "regulator")
            count = self.ledger.add_cosignature(request.size, request.cosignature)
            return lg.AddCosignatureResponse(cosignatures=count)


class GovernanceServicer(gov_grpc.GovernanceServiceServicer):
    """Signed governance entries; the ledger checks the signature is the regulator's (or, for
    a dispute, a member's) and that the entry fits the state."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def _submit(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext, kind: type,
                *roles: str) -> gov.Receipt:
        with grpc_errors(context):
            caller(context, self.ledger, *roles)
            signed = wire.signed_entry_from_bytes(request.signed_entry)
            if not isinstance(signed.entry.body, kind):
                raise InvalidInput(f"this call takes a {kind.__name__} entry, not {signed.entry.kind}")
            return _wait(self.ledger, request.signed_entry, signed, verified=False)

    def AdmitMember(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.MemberAdmitted, "regulator")

    def RevokeMember(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.MemberRevoked, "regulator")

    def PublishRules(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.RuleSetPublished, "regulator")

    def AuthoriseInvestigation(self, request: gov.SubmitEntryRequest,
                               context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.InvestigationAuthorised, "regulator")

    def FileDispute(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.DisputeFiled, "regulator", "member")

    def ResolveDispute(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        return self._submit(request, context, e.DisputeResolved, "regulator")


class ReportingServicer(gov_grpc.ReportingServiceServicer):
    """Reports and retractions. Their crypto is checked by `verifier` (server/intake.py: in
    worker processes, batched); without one, by `Ledger.verify_entry` in this thread."""

    def __init__(self, ledger: Ledger, verifier: Verifier | None = None) -> None:
        self.ledger = ledger
        self.verifier = verifier

    def _report(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext, kind: type) -> gov.Receipt:
        caller(context, self.ledger, "member")
        verify = self.ledger.verify_entry if self.verifier is None else self.verifier.verify_entry
        signed = verify(request.signed_entry)
        if not isinstance(signed.entry.body, kind):
            raise InvalidInput(f"this call takes a {kind.__name__} entry, not {signed.entry.kind}")
        return _wait(self.ledger, request.signed_entry, signed, verified=True)

    def SubmitReport(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            return self._report(request, context, e.ReportCommitted)

    def RetractReport(self, request: gov.SubmitEntryRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            return self._report(request, context, e.ReportRetracted)

    def GetReceipt(self, request: gov.GetReceiptRequest, context: grpc.ServicerContext) -> gov.Receipt:
        with grpc_errors(context):
            caller(context, self.ledger)
            record = state.load(self.ledger.view, f"report/{request.report_id.hex()}")
            if record is None:
                raise NotFound(f"report {request.report_id.hex()} is not on the ledger")
            return receipt_to_proto(self.ledger.receipt(int(record["index"])))


PURPOSES = ("pre-contract", "monitoring", "dispute", "regulator", "self")
QUERY_RETENTION_DAYS = 3 * 365  # kept; 2 years are shown (DOMAIN.md: PBOC query records)
QUERY_SHOWN_DAYS = 2 * 365


class RatingServicer(rt_grpc.RatingServiceServicer):
    def __init__(self, ledger: Ledger, epochs: EpochRunner | None) -> None:
        self.ledger = ledger
        self.epochs = epochs

    def _proven(self, index: int, size: int) -> rt.ProvenEntry:
        return rt.ProvenEntry(index=index, entry=self.ledger.store.entry(index),
                              inclusion_proof=self.ledger.inclusion_proof(index, size))

    def GetRating(self, request: rt.GetRatingRequest, context: grpc.ServicerContext) -> rt.RatingResponse:
        with grpc_errors(context):
            name, role = caller(context, self.ledger, "member", "regulator")
            if request.purpose not in PURPOSES:
                raise InvalidInput(f"purpose {request.purpose!r} is not one of {', '.join(PURPOSES)}")
            if request.purpose == "regulator" and role != "regulator":
                raise PermissionDenied("only the regulator queries with purpose 'regulator'")
            if len(request.subject_tag) != 32:
                raise InvalidInput("subject tag must be 32 bytes (HMAC-SHA256 of the normalised subject id)")
            subject = request.subject_tag.hex()
            self.ledger.store.append_log(f"queries/{subject}", json.dumps(
                {"member": name, "purpose": request.purpose, "time_ms": int(time.time() * 1000)}).encode())
            record = state.load(self.ledger.view, f"rating/{subject}")
            size = self.ledger.cosigned_size()
            if record is not None and int(record["index"]) >= size:
                size = self.ledger.wait_cosigned(int(record["index"]) + 1, timeout=10.0)
            if size == 0:
                raise Unavailable("no witness-cosigned checkpoint yet; retry shortly")
            _, note = self.ledger.checkpoint_with_cosignatures(size)
            resp = rt.RatingResponse(checkpoint=lg.CheckpointResponse(note=note, size=size))
            tag = request.subject_tag
            today = _dt.datetime.now(_dt.timezone.utc).date()
            try:
                _rules, _prev, _reports, active_now = state.rating_inputs(
                    self.ledger.view, tag, self.ledger.store.size(), today)
            except NotFound:
                active_now = ()
            covered = set()
            if record is not None:
                resp.rated = True
                resp.rating.CopyFrom(self._proven(int(record["index"]), size))
                rules_record = state.load(self.ledger.view, f"rules/{record['rule_set_version']}")
                resp.rule_set.CopyFrom(self._proven(int(rules_record["index"]), size))
                for index, _w in record["active"]:
                    resp.reports.append(self._proven(int(index), size))
                    covered.add(int(index))
            resp.pending_reports = len({i for i, _ in active_now} - covered)
            return resp

    def ListQueries(self, request: rt.ListQueriesRequest, context: grpc.ServicerContext) -> rt.ListQueriesResponse:
        with grpc_errors(context):
            caller(context, self.ledger, "member", "regulator")
            if len(request.subject_tag) != 32:
                raise InvalidInput("subject tag must be 32 bytes")
            shown_from = int((time.time() - QUERY_SHOWN_DAYS * 86400) * 1000)
            resp = rt.ListQueriesResponse()
            after = 0
            while True:
                page = self.ledger.store.read_log(f"queries/{request.subject_tag.hex()}", after, 1000)
                for rid, raw in page:
                    q = json.loads(raw)
                    if q["time_ms"] >= shown_from:
                        resp.queries.append(rt.QueryRecord(member=q["member"], purpose=q["purpose"],
                                                           time_ms=q["time_ms"]))
                    after = rid
                if len(page) < 1000:
                    return resp

    def RunEpoch(self, request: rt.RunEpochRequest, context: grpc.ServicerContext) -> rt.RunEpochResponse:
        with grpc_errors(context):
            caller(context, self.ledger, "operator")
            if self.epochs is None:
                raise Unavailable("this server runs no epochs (no trustees configured)")
            result = self.epochs.run()
            self.ledger.wait_checkpoint(self.ledger.store.size())  # what it appended is checkpointed on return
            return rt.RunEpochResponse(published=len(result.published), pending=len(result.pending),
                                       held=len(result.held), fraud_found=len(result.fraud),
                                       messages=result.messages)
