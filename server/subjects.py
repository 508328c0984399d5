"""The subject's side of the operator (docs/subjects.md): its own record, and the regulator's
dispute docket.

`record_indices` and `docket_indices` are the use cases: which ledger entries make up a
subject's record (its enrolment, every report about it and every entry touching one,
its access grant and the tiers sealed to it, its rating requests and their answers, the
rule sets), and which make up the dispute docket. They read the ledger's state projection only to find indices; the
answer is the entries themselves, each with an inclusion proof in one cosigned checkpoint,
and the client derives every status from those bytes (`core.record`). `SubjectServicer` is
the thin gRPC adapter: a subject is named by its certificate (never by a request field), so
no subject can ask for another's record.
"""

from __future__ import annotations

import json

import grpc

from api import wire
from api.status import grpc_errors
from api.v1 import ledger_pb2 as lg
from api.v1 import rating_pb2 as rt
from api.v1 import subject_pb2 as sj
from api.v1 import subject_pb2_grpc as sj_grpc
from core import state
from core.errors import NotFound, Unavailable
from server.ledger import Ledger
from server.service import caller, check_subject_caller

COSIGN_WAIT_S = 10.0


def record_indices(view: state.StateView, subject_tag: bytes) -> tuple[int, list[int], list[int]]:
    """(SubjectEnrolled index, every entry about the subject ascending, every RuleSetPublished)."""
    party = state.subject_party(view, subject_tag)
    if party is None:
        raise NotFound("this subject is not enrolled on this ledger")
    found: set[int] = set()
    if party.access is not None:
        found.add(party.access)
    for _key, raw in view.scan(f"subjectaccess/{subject_tag.hex()}/"):  # its tiers, sealed to it
        found.add(int(json.loads(raw)))
    for _key, raw in view.scan(f"subject/{subject_tag.hex()}/"):
        rid = json.loads(raw)
        report = state.report_record(view, rid)
        assert report is not None  # subject/ is written with report/
        found.add(report.index)
        for at in (report.retracted_at, report.fraud_at):
            if at is not None:
                found.add(at)
        dispute_ids = [json.loads(v) for _k, v in view.scan(f"reportdispute/{rid}/")]
        if report.disputed:
            dispute_ids.append(report.disputed)
        for did in dispute_ids:
            dispute = state.dispute_record(view, did)
            assert dispute is not None
            found.add(dispute.index)
            if dispute.resolved_at is not None:
                found.add(dispute.resolved_at)
    request = state.latest_request(view, subject_tag)
    while request is not None:
        found.add(request.index)
        if request.answer is not None:
            found.add(request.answer.index)
        request = None if request.previous is None else state.request_record(view, request.previous)
    rules = [r.index for r in state.rule_set_records(view)]
    return party.index, sorted(found), rules


def docket_indices(view: state.StateView, open_only: bool) -> list[int]:
    """Every DisputeFiled (only unresolved ones if `open_only`), its DisputeResolved, the
    report it names and the entry that registered its signer's key, ascending."""
    found: set[int] = set()
    for _key, raw in view.scan("dispute/"):
        dispute = state.DisputeRecord.from_json(json.loads(raw))
        if open_only and dispute.resolved_at is not None:
            continue
        found.add(dispute.index)
        if dispute.resolved_at is not None:
            found.add(dispute.resolved_at)
        report = state.report_record(view, dispute.report)
        assert report is not None  # a dispute names a recorded report
        found.add(report.index)
        found.update(_signer_entry(view, dispute.by))
    return sorted(found)


def _signer_entry(view: state.StateView, author: str) -> list[int]:
    """The MemberAdmitted or current SubjectEnrolled naming a dispute's signer ("member:<id>",
    "subject:<tag hex>"), so the regulator's client can name and check who filed it."""
    role, _, who = author.partition(":")
    if role == "member":
        member = state.member_record(view, who)
        return [] if member is None else [member.admitted_at]
    if role == "subject":
        party = state.subject_party(view, bytes.fromhex(who))
        return [] if party is None else [party.index]
    return []


class SubjectServicer(sj_grpc.SubjectServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def _checkpoint(self, last: int) -> tuple[int, lg.CheckpointResponse]:
        """A cosigned checkpoint covering entry `last` (waiting briefly for the witnesses)."""
        size = self.ledger.cosigned_size()
        if last >= size:
            size = self.ledger.wait_cosigned(last + 1, timeout=COSIGN_WAIT_S)
        if size <= last:
            raise Unavailable(f"no witness-cosigned checkpoint covers entry {last} yet; "
                              f"{self.ledger.quorum_gap()}; retry shortly")
        _, note = self.ledger.checkpoint_with_cosignatures(size)
        return size, lg.CheckpointResponse(note=note, size=size)

    def _proven(self, index: int, size: int) -> rt.ProvenEntry:
        return wire.proven_to_proto(self.ledger.proven(index, size))

    def GetSubjectRecord(self, request: sj.GetSubjectRecordRequest,
                         context: grpc.ServicerContext) -> sj.SubjectRecordResponse:
        with grpc_errors(context):
            name, _role = caller(context, self.ledger, "subject")
            tag = check_subject_caller(context, self.ledger, name)
            enrolment, entries, rules = record_indices(self.ledger.view, tag)
            size, checkpoint = self._checkpoint(max([enrolment, *entries, *rules]))
            return sj.SubjectRecordResponse(
                enrolment=self._proven(enrolment, size), entries=[self._proven(i, size) for i in entries],
                rule_sets=[self._proven(i, size) for i in rules], checkpoint=checkpoint)

    def ListDisputes(self, request: sj.ListDisputesRequest, context: grpc.ServicerContext) -> sj.ListDisputesResponse:
        with grpc_errors(context):
            caller(context, self.ledger, "regulator")
            indices = docket_indices(self.ledger.view, request.open_only)
            if not indices:
                return sj.ListDisputesResponse()
            size, checkpoint = self._checkpoint(indices[-1])
            return sj.ListDisputesResponse(entries=[self._proven(i, size) for i in indices], checkpoint=checkpoint)
