"""A trustee: `candor trustee serve` (docs/ratings.md).

A trustee holds one share of the threshold Paillier key and answers two questions, both
about a RatingRequested entry the operator has already appended to the ledger:

- RequestShare(request, combiner): the trustee reads the request from its own verified
  mirror (`server.mirror`; a size it has not verified is refused), checks that it is the
  subject's newest request, rebuilds the set with the update rule itself
  (`core.rating.plan_request`, the very function the ledger ran, against the previous
  request on the ledger — so every trustee quorum judges the same public history) and
  refuses unless the request names exactly that set with k reporters. It computes
  c* = Π c_i^{w_i} itself and returns its decryption share and Chaum–Pedersen proof
  sealed (HPKE) to the combiner's X25519 key, bound to subject, L, set digest, combiner
  and trustee: the operator only ever holds sealed bytes. Serving the identical request
  again is allowed (it reveals nothing new). A subset of a set is decrypted only for the
  InvestigationStep the ledger names next, to that step's two designated combiners, and
  never after the authorisation is consumed (docs/ratings.md, "Investigations").
- Combine(request, sealed shares): the designated combiner (`core.combination.combiner_order`)
  recomputes c* and C* = Σ w_i·C_i from its own mirror, opens and verifies every share
  (naming a bad trustee), combines t of them and checks the plaintext strictly
  (`core.combination.open_aggregate`). If it opens, it proves and signs the score
  (`core.publication`); if not, it signs a verdict that says only "does not open". For an
  investigation step it signs "opens" or "does not open" and seals its evidence (shares,
  proofs, plaintext) to the regulator. It never logs nor returns the counts, R or D.
- Subject access (`access_share`, `access_combine`; docs/subjects.md, "Your tiers"): one
  report decrypted alone, only under the subject's unconsumed SubjectAccessAuthorised and
  for a covered report the ledger has not served, by the combiner drawn for that report;
  the combiner seals the tier to the subject only if the plaintext opens the report's own
  commitment (`core.access.open_report`), its evidence to the regulator otherwise.

Every share issued is logged in the trustee's own store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from api import wire
from api.identity import Identity
from api.status import grpc_errors
from api.v1 import trustee_pb2, trustee_pb2_grpc
from client.connection import Connection
from client.cpu import CpuPool
from core import access, combination, investigation, paillier, rating, state, threshold
from core import entries as e
from core.alliance import public_key_of
from core.errors import (
    CandorError,
    Conflict,
    InvalidInput,
    NotFound,
    OpeningFailed,
    PermissionDenied,
    Unavailable,
    VerificationError,
)
from server.ceremony import TRUSTEE_ENCRYPTION_KEY
from server.logging_setup import RpcObserver
from server.mirror import Mirror
from server.pki import peer_identity, server_credentials
from server.serving import SERVER_OPTIONS, RejectMalformed, listen_on
from server.storage import LedgerStore

log = logging.getLogger("candor.trustee")
SHARE_LOG = "shares"
ENCRYPTION_KEY_FILE = TRUSTEE_ENCRYPTION_KEY


def aggregate_ciphertext(mirror_store: LedgerStore, pub: threshold.ThresholdPublicKey,
                         active: Sequence[tuple[int, int]]) -> int:
    ciphertexts = []
    for index, _w in active:
        body = wire.signed_entry_from_bytes(mirror_store.entry(index)).entry.body
        if not isinstance(body, e.ReportCommitted):
            raise InvalidInput(f"entry {index} is not a report")
        ciphertexts.append(body.ciphertext)
    return paillier.aggregate(pub.phe(), ciphertexts, [w for _, w in active])


@dataclass(frozen=True)
class Target:
    """What a share or a combination is for: a request and the (sub)set it decrypts."""

    request: state.RequestRecord
    chosen: tuple[tuple[int, int], ...]
    step: e.InvestigationStep | None = None
    """The investigation step this decrypts a subset for, if any."""

    @property
    def index(self) -> int:
        return self.request.index

    @property
    def subject(self) -> bytes:
        return self.request.subject

    @property
    def ledger_size(self) -> int:
        return self.request.ledger_size

    @property
    def digest(self) -> bytes:
        return rating.set_digest(self.chosen)

    @property
    def investigation(self) -> bool:
        return self.step is not None


@dataclass
class Trustee:
    identity: Identity
    mirror: Mirror
    share: threshold.KeyShare
    encryption_key: bytes = b""
    clock: Callable[[], float] = time.time
    cpu: CpuPool = dataclasses.field(default_factory=lambda: CpuPool(0))

    def __post_init__(self) -> None:
        self.public_key = public_key_of(self.mirror.alliance.genesis)
        threshold.check_key_share(self.public_key, self.share)
        if len(self.encryption_key) != 32 or \
                X25519PrivateKey.from_private_bytes(self.encryption_key).public_key().public_bytes_raw() \
                != self._combiner_key(self.share.index):
            raise InvalidInput(f"{ENCRYPTION_KEY_FILE} of trustee {self.share.index} is not the X25519 key the "
                               "genesis names for it: copy the identity folder again from the ceremony")

    @property
    def index(self) -> int:
        return self.share.index

    def _sync_newest(self, cosigned_size: int) -> None:
        """Bring the mirror to the newest cosigned size it can verify (the operator's claimed
        `cosigned_size` is tried only if the newest one fails), so a decision is never taken
        on stale state; `_verified` then refuses what the mirror could not reach."""
        for size in (0, cosigned_size):
            try:
                self.mirror.sync(size)
                break
            except CandorError as exc:
                log.info("cannot verify the newest ledger size: %s", exc)

    def _verified(self, index: int, cosigned_size: int, what: str) -> None:
        """Entry `index` is on this trustee's verified (witness-cosigned) mirror."""
        if index + 1 > self.mirror.size():
            try:
                self.mirror.sync(max(cosigned_size, index + 1))
            except (NotFound, Unavailable) as exc:  # no cosigned checkpoint covers it yet: refuse below
                log.info("cannot verify ledger size %d: %s", index + 1, exc)
        if index + 1 > self.mirror.size():
            raise Conflict(f"trustee has verified the ledger only up to size {self.mirror.size()} (witness-cosigned); "
                           f"{what} {index} is beyond it")

    def _target(self, request_index: int, subset: Sequence[int], cosigned_size: int = 0) -> Target:
        """The request at `request_index` on this trustee's verified mirror, judged by the
        trustee itself: the subject's newest request, naming exactly the set the update
        rule gives against the previous request, with k reporters. A subset is decrypted
        only for an investigation step the ledger names (`_step_target`)."""
        if subset:
            raise PermissionDenied("decrypting part of an active set reveals individual reports: a trustee serves a "
                                   "subset only for the InvestigationStep the ledger names next (give step_index), "
                                   "under the regulator's InvestigationAuthorised")
        self._verified(request_index, cosigned_size, "request")
        view = self.mirror.view
        record = state.request_record(view, request_index)
        if record is None:
            raise NotFound(f"entry {request_index} is not a RatingRequested: append the request before asking")
        subject = record.subject
        newest = state.latest_request(view, subject)
        if newest is None or newest.index != request_index:
            raise PermissionDenied(f"request {request_index} is not the subject's newest request "
                                   f"({None if newest is None else newest.index}): a trustee serves only that")
        previous = None if record.previous is None else state.request_record(view, record.previous)
        as_of = e.parse_date(record.as_of, "rating date")
        plan = state.request_plan(view, subject, record.ledger_size, as_of, previous)
        rating.check_request(record.entry(), plan)
        if plan.below_k:
            raise Conflict(f"the requested set has reports from {plan.reporters} distinct reporter(s); k = {plan.k}: "
                           "no share is served (the answer is RatingWithdrawn)")
        return Target(record, plan.active)

    def _step_target(self, request_index: int, step_index: int, subset: Sequence[int], combiner: int,
                     cosigned_size: int = 0) -> Target:
        """An investigation step (docs/ratings.md, "Investigations"), judged on this trustee's
        verified mirror: entry `step_index` names a step of the subject's open investigation
        and is the step awaiting its verdict (the one the canonical bisection gives after the
        logged verdicts: the ledger admitted it only so), the authorisation is not consumed,
        and `combiner` is one of the step's two designated combiners. The subset is the
        ledger's, never the operator's."""
        # Judge on the newest cosigned state, not a stale mirror: a step already judged, or an
        # authorisation consumed, must be seen as such.
        self._sync_newest(cosigned_size)
        self._verified(step_index, cosigned_size, "investigation step")
        body = wire.signed_entry_from_bytes(self.mirror.store.entry(step_index)).entry.body
        if not isinstance(body, e.InvestigationStep) or body.verdict:
            raise NotFound(f"entry {step_index} is not an InvestigationStep naming a step: append the step before "
                           "asking for shares")
        view = self.mirror.view
        record = state.open_investigation(view, body.subject_tag)
        if record is None or record.index != body.authorisation:
            raise PermissionDenied(f"investigation {body.authorisation} is consumed or closed: no more shares")
        step = record.open_step
        if step is None or step.index != step_index:
            raise PermissionDenied(f"entry {step_index} is not the step the ledger names next (the step awaiting its "
                                   "verdict): a trustee serves only that one")
        if subset and tuple(subset) != body.subset:
            raise PermissionDenied(f"subset {list(subset)} is not the one step {body.step} names on the ledger "
                                   f"({list(body.subset)}): a trustee decrypts no other")
        if record.request != request_index:
            raise InvalidInput(f"the investigation is of request {record.request}, not {request_index}")
        designated = state.step_combiners(view, self.mirror.alliance, record, body.step)
        if combiner not in designated:
            raise PermissionDenied(f"trustee {combiner} is not a designated combiner of step {body.step} "
                                   f"({list(designated)})")
        if designated in step.stopped:
            raise Conflict(f"combiners {list(designated)} disagreed on step {body.step}: it is stopped until the "
                           "regulator's CombinerFaulted")
        request = state.request_record(view, request_index)
        assert request is not None
        return Target(request, state.investigation_chosen(record, body.subset), step=body)

    def _designated(self, target: Target, combiner: int) -> None:
        """Shares go only to a combiner the ledger would accept for (subject, L): the
        operator cannot spread one set's plaintext over every trustee it likes."""
        try:
            combination.check_designated(self.mirror.alliance.genesis, self.mirror.alliance.genesis_hash,
                                         target.subject, target.ledger_size, combiner)
        except VerificationError as exc:
            raise PermissionDenied(str(exc)) from None

    def _combiner_key(self, combiner: int) -> bytes:
        for t in self.mirror.alliance.genesis.trustees:
            if t.index == combiner:
                return t.encryption_key
        raise InvalidInput(f"combiner {combiner} is not a trustee of the genesis")

    def compute_share(self, c: int) -> threshold.DecryptionShare:
        """This trustee's decryption share of c* with its proof (in the process pool)."""
        return self.cpu.submit(threshold.decryption_share, self.public_key, self.share, c).result()

    def request_share(self, request_index: int, combiner: int, subset: Sequence[int] = (),
                      cosigned_size: int = 0, step_index: int = 0) -> trustee_pb2.ShareResponse:
        if step_index:
            target = self._step_target(request_index, step_index, tuple(subset), combiner, cosigned_size)
        else:
            target = self._target(request_index, tuple(subset), cosigned_size)
            self._designated(target, combiner)
        recipient = self._combiner_key(combiner)
        c = aggregate_ciphertext(self.mirror.store, self.public_key, target.chosen)
        share = self.compute_share(c)
        aad = combination.share_aad(self.mirror.alliance.genesis_hash, target.index, target.subject, target.ledger_size,
                                    target.digest, combiner, self.index)
        sealed = combination.seal_share(recipient, aad, share)
        record = {"time_ms": int(self.clock() * 1000), "request": target.index, "subject": target.subject.hex(),
                  "ledger_size": target.ledger_size, "digest": target.digest.hex(), "combiner": combiner,
                  "entries": [i for i, _ in target.chosen], "investigation": target.investigation,
                  "step_index": step_index or None}
        self.mirror.store.append_log(SHARE_LOG, json.dumps(record, sort_keys=True).encode())
        log.info("issued a sealed share for request %d (%d reports) to combiner %d", target.index,
                 len(target.chosen), combiner)
        return trustee_pb2.ShareResponse(trustee=self.index, combiner=combiner, sealed_share=sealed)

    def combine(self, request_index: int, subset: Sequence[int], sealed: Mapping[int, bytes],
                cosigned_size: int = 0, step_index: int = 0) -> trustee_pb2.CombineResponse:
        """Open, verify and combine the sealed shares of a request; prove and sign the score,
        or sign "does not open" (for an investigation step: sign the verdict and seal the
        evidence to the regulator). Raises Conflict (naming the bad trustees) with fewer than
        t valid shares."""
        if step_index:
            target = self._step_target(request_index, step_index, tuple(subset), self.index, cosigned_size)
        else:
            target = self._target(request_index, tuple(subset), cosigned_size)
            self._designated(target, self.index)
        ally = self.mirror.alliance
        pub = self.public_key
        c = aggregate_ciphertext(self.mirror.store, pub, target.chosen)
        bad: list[int] = []
        problems: list[str] = []
        checks: dict[futures.Future[None], threshold.DecryptionShare] = {}
        for trustee, data in sorted(sealed.items()):
            aad = combination.share_aad(ally.genesis_hash, target.index, target.subject, target.ledger_size,
                                        target.digest, self.index, trustee)
            try:
                share = combination.open_share(self.encryption_key, aad, data, trustee)
            except CandorError as exc:
                bad.append(trustee)
                problems.append(str(exc))
                continue
            checks[self.cpu.submit(threshold.verify_share, pub, c, share)] = share
        valid: list[threshold.DecryptionShare] = []
        for check in futures.as_completed(checks):
            share = checks[check]
            try:
                check.result()
                valid.append(share)
            except CandorError as exc:
                bad.append(share.index)
                problems.append(f"trustee {share.index}: {exc}")
        if len(valid) < pub.threshold:
            raise Conflict(f"only {len(valid)} of the {pub.threshold} valid decryption shares needed: "
                           + "; ".join(problems or ["too few shares forwarded"]))
        valid.sort(key=lambda s: s.index)
        plaintext = threshold.combine(pub, c, valid[: pub.threshold], verify=False)
        reports = {r.index: r for r in state.subject_reports(self.mirror.view, target.subject)}
        commitments = [reports[i].commitment for i, _ in target.chosen]
        weights = [w for _, w in target.chosen]
        key = self.identity.signing_key()
        if target.step is not None:
            return self._step_verdict(target, target.step, commitments, weights, plaintext,
                                      tuple(valid[: pub.threshold]), sorted(bad))
        try:
            opening = combination.open_aggregate(ally.generators, commitments, weights, plaintext)
        except OpeningFailed:
            message = combination.held_message(ally.genesis_hash, target.index, target.subject, target.ledger_size,
                                               target.digest, self.index)
            log.info("request %d: %s", target.index, combination.DOES_NOT_OPEN)
            return trustee_pb2.CombineResponse(opens=False, combiner=self.index, signature=key.sign(message),
                                               bad_trustees=sorted(bad))
        body = self._publication(target, reports, opening)
        signature = key.sign(combination.publication_message(ally.genesis_hash, body))
        log.info("request %d opens; published score signed", target.index)
        return trustee_pb2.CombineResponse(opens=True, combiner=self.index, score=body.score, grade=body.grade,
                                           reporters=body.reporters, proof=body.proof, signature=signature,
                                           bad_trustees=sorted(bad))

    def _step_verdict(self, target: Target, step: e.InvestigationStep, commitments: Sequence[bytes],
                      weights: Sequence[int], plaintext: int, shares: tuple[threshold.DecryptionShare, ...],
                      bad: list[int]) -> trustee_pb2.CombineResponse:
        """An investigation step's verdict: "opens" or "does not open", signed, with this
        combiner's evidence (its t shares with their proofs and the plaintext) sealed to the
        regulator's escrow key; the operator gets no plaintext."""
        ally = self.mirror.alliance
        try:
            combination.open_aggregate(ally.generators, commitments, weights, plaintext)
            opens = True
        except OpeningFailed:
            opens = False
        aad = investigation.evidence_aad(ally.genesis_hash, step.authorisation, step.subject_tag, step.ledger_size,
                                         step.step, target.digest, self.index)
        evidence = investigation.seal_evidence(ally.genesis.regulator_escrow_key, aad,
                                               investigation.Evidence(self.index, opens, plaintext, shares))
        message = investigation.step_verdict_message(ally.genesis_hash, step.authorisation, step.subject_tag,
                                                     step.ledger_size, step.step, target.digest, self.index, opens,
                                                     evidence)
        log.info("investigation %d step %d judged (%d reports)", step.authorisation, step.step, len(target.chosen))
        return trustee_pb2.CombineResponse(opens=opens, combiner=self.index,
                                           signature=self.identity.signing_key().sign(message), evidence=evidence,
                                           bad_trustees=bad)

    # -- subject access (docs/subjects.md, "Your tiers") ------------------------------------

    def _access_target(self, authorisation: int, report: int, combiner: int,
                       cosigned_size: int = 0) -> tuple[e.SubjectAccessAuthorised, e.ReportCommitted]:
        """One report's decryption for its subject, judged on this trustee's verified mirror
        at its newest cosigned size: entry `authorisation` is the subject's unconsumed
        SubjectAccessAuthorised, `report` is a report about it below that entry not served
        yet, and `combiner` is designated for that report (`core.access`)."""
        self._sync_newest(cosigned_size)  # a served report must be seen as such
        self._verified(authorisation, cosigned_size, "access authorisation")
        grant = wire.signed_entry_from_bytes(self.mirror.store.entry(authorisation)).entry.body
        if not isinstance(grant, e.SubjectAccessAuthorised):
            raise PermissionDenied(f"entry {authorisation} is not a SubjectAccessAuthorised: a single report is "
                                   "decrypted for its subject only under the regulator's authorisation")
        open_grant = state.open_access(self.mirror.view, grant.subject_tag)
        if open_grant is None or open_grant[0] != authorisation:
            raise PermissionDenied(f"access authorisation {authorisation} is consumed, superseded or its enrolment "
                                   "revoked: no more shares")
        if report not in open_grant[1]:
            served = state.access_served(self.mirror.view, grant.subject_tag, authorisation, report)
            raise PermissionDenied(f"entry {report} is not a report about this subject awaiting access under "
                                   f"authorisation {authorisation}" + ("" if served is None else
                                                                       f" (served at entry {served})"))
        body = wire.signed_entry_from_bytes(self.mirror.store.entry(report)).entry.body
        assert isinstance(body, e.ReportCommitted)
        try:
            access.check_access_combiner(self.mirror.alliance.genesis, self.mirror.alliance.genesis_hash,
                                         grant.subject_tag, authorisation, report, combiner)
        except VerificationError as exc:
            raise PermissionDenied(str(exc)) from None
        return grant, body

    def access_share(self, authorisation: int, report: int, combiner: int,
                     cosigned_size: int = 0) -> trustee_pb2.ShareResponse:
        """This trustee's share of one report's ciphertext, sealed to its designated combiner."""
        grant, body = self._access_target(authorisation, report, combiner, cosigned_size)
        share = self.compute_share(body.ciphertext)
        aad = access.share_aad(self.mirror.alliance.genesis_hash, authorisation, grant.subject_tag, report, combiner,
                               self.index)
        sealed = combination.seal_share(self._combiner_key(combiner), aad, share)
        record = {"time_ms": int(self.clock() * 1000), "access": authorisation, "subject": grant.subject_tag.hex(),
                  "combiner": combiner, "entries": [report]}
        self.mirror.store.append_log(SHARE_LOG, json.dumps(record, sort_keys=True).encode())
        log.info("issued a sealed share of one report for access authorisation %d to combiner %d", authorisation,
                 combiner)
        return trustee_pb2.ShareResponse(trustee=self.index, combiner=combiner, sealed_share=sealed)

    def access_combine(self, authorisation: int, report: int, sealed: Mapping[int, bytes],
                       cosigned_size: int = 0) -> trustee_pb2.CombineResponse:
        """Decrypt one report for its subject and check it opens the report's OWN commitment
        (`core.access.open_report`). Opens: its tier sealed to the subject's X25519 key (from
        SubjectEnrolled). Does not open: the evidence sealed to the regulator, nothing to the
        subject. Either way signed; the operator gets sealed bytes only."""
        grant, body = self._access_target(authorisation, report, self.index, cosigned_size)
        ally = self.mirror.alliance
        pub = self.public_key
        valid: list[threshold.DecryptionShare] = []
        bad: list[int] = []
        problems: list[str] = []
        for trustee, data in sorted(sealed.items()):
            aad = access.share_aad(ally.genesis_hash, authorisation, grant.subject_tag, report, self.index, trustee)
            try:
                share = combination.open_share(self.encryption_key, aad, data, trustee)
                self.cpu.submit(threshold.verify_share, pub, body.ciphertext, share).result()
                valid.append(share)
            except CandorError as exc:
                bad.append(trustee)
                problems.append(str(exc))
        if len(valid) < pub.threshold:
            raise Conflict(f"only {len(valid)} of the {pub.threshold} valid decryption shares needed: "
                           + "; ".join(problems or ["too few shares forwarded"]))
        shares = tuple(valid[: pub.threshold])
        plaintext = threshold.combine(pub, body.ciphertext, list(shares), verify=False)
        try:
            tier = access.open_report(ally.generators, body.category, body.commitment, plaintext)
        except OpeningFailed:
            tier = None
        party = state.subject_party(self.mirror.view, grant.subject_tag)
        assert party is not None  # open_access found its live enrolment
        if tier is not None:
            opens = True
            out = access.seal_tier(party.encryption_key,
                                   access.tier_aad(ally.genesis_hash, grant.subject_tag, body.report_id,
                                                   authorisation), tier)
            log.info("access authorisation %d: a report opens; its tier is sealed to the subject", authorisation)
        else:
            opens = False
            out = access.seal_evidence(ally.genesis.regulator_escrow_key,
                                       access.evidence_aad(ally.genesis_hash, authorisation, grant.subject_tag,
                                                           report, self.index), self.index, plaintext, shares)
            log.info("access authorisation %d: %s; evidence sealed to the regulator", authorisation,
                     access.DOES_NOT_OPEN)
        signature = self.identity.signing_key().sign(access.served_message(
            ally.genesis_hash, authorisation, grant.subject_tag, report, self.index, opens, out))
        return trustee_pb2.CombineResponse(opens=opens, combiner=self.index, signature=signature,
                                           sealed_tier=out if opens else b"", evidence=b"" if opens else out,
                                           bad_trustees=sorted(bad))

    def _publication(self, target: Target, reports: Mapping[int, rating.ReportInfo],
                     opening: paillier.Opening) -> e.RatingPublished:
        from core.publication import PublicationStatement, prove
        from core.rules import rule_set_hash
        from core.score import grade_of, points_vector, rating_score

        ally = self.mirror.alliance
        record = target.request
        rules = state.rules_named(self.mirror.view, record.rule_set_version)
        categories = ally.genesis.categories
        score = rating_score(rules, categories, opening.counts)
        aggregate = combination.aggregate_commitment(ally.generators.group,
                                                     [reports[i].commitment for i, _ in target.chosen],
                                                     [w for _, w in target.chosen])
        statement = PublicationStatement(ally.genesis_hash, target.subject, target.ledger_size, target.digest,
                                         rule_set_hash(rules), ally.generators.group.encode(aggregate),
                                         points_vector(rules, categories), rules.base_score, score)
        # In this thread: the generators (group points) do not cross a process boundary.
        proof = prove(ally.generators, statement, opening.counts, opening.r_sum)
        return e.RatingPublished(
            request_index=target.index, subject_tag=target.subject, rule_set_version=rules.version,
            ledger_size=target.ledger_size, set_digest=target.digest, active_set=tuple(i for i, _ in target.chosen),
            weights=tuple(w for _, w in target.chosen), as_of=record.as_of, score=score,
            grade=grade_of(rules, score), reporters=record.reporters, proof=proof.to_bytes(),
            combiner=self.index, combiner_signature=bytes(64))


class TrusteeServicer(trustee_pb2_grpc.TrusteeServiceServicer):
    def __init__(self, trustee: Trustee) -> None:
        self.trustee = trustee

    @staticmethod
    def _operator_only(context: grpc.ServicerContext) -> None:
        _name, role = peer_identity(context.auth_context())
        if role != "operator":
            raise PermissionDenied(f"only the operator asks trustees; your certificate says {role}")

    def RequestShare(self, request: trustee_pb2.ShareRequest,
                     context: grpc.ServicerContext) -> trustee_pb2.ShareResponse:
        with grpc_errors(context):
            self._operator_only(context)
            if request.access_index:
                return self.trustee.access_share(request.access_index, request.report_index, request.combiner,
                                                 request.cosigned_size)
            return self.trustee.request_share(request.request_index, request.combiner, tuple(request.subset),
                                              request.cosigned_size, request.step_index)

    def Combine(self, request: trustee_pb2.CombineRequest,
                context: grpc.ServicerContext) -> trustee_pb2.CombineResponse:
        with grpc_errors(context):
            self._operator_only(context)
            sealed: dict[int, bytes] = {}
            for item in request.shares:
                if item.trustee in sealed:
                    raise InvalidInput(f"two sealed shares from trustee {item.trustee}: forward each once")
                sealed[item.trustee] = item.sealed
            if request.access_index:
                return self.trustee.access_combine(request.access_index, request.report_index, sealed,
                                                   request.cosigned_size)
            return self.trustee.combine(request.request_index, tuple(request.subset), sealed, request.cosigned_size,
                                        request.step_index)


def create_trustee_server(identity: Identity, store: LedgerStore, listen: str | None = None,
                          operator_address: str | None = None, state_dir: Path | None = None,
                          workers: int | None = 0) -> tuple[grpc.Server, int, Trustee]:
    """A started trustee server; `workers` processes compute shares (None: one per core)."""

    conn = Connection(identity, operator_address)
    cpu = CpuPool(workers)  # shares and the mirror's batch verification
    mirror = Mirror(identity, conn, store, (state_dir or identity.path) / "mirror.state", cpu=cpu)
    trustee = Trustee(identity, mirror, threshold.KeyShare.from_dict(identity.json_file("share.json")),
                      encryption_key=identity.hex_file(ENCRYPTION_KEY_FILE), cpu=cpu)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         interceptors=[RpcObserver(party=f"trustee {trustee.share.index}"), RejectMalformed()],
                         options=[("grpc.max_receive_message_length", wire.MAX_REQUEST_BYTES), *SERVER_OPTIONS])
    trustee_pb2_grpc.add_TrusteeServiceServicer_to_server(TrusteeServicer(trustee), server)
    port = listen_on(server, listen or str(identity.info["listen"]), server_credentials(identity), "trustee")
    server.start()
    return server, port, trustee
