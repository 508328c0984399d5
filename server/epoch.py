"""The operator's rating epochs (docs/ratings.md).

The operator coordinates and never holds a plaintext. For each subject, on its own:

1. It asks the update rule (`core.state.request_plan`, the function the ledger and the
   trustees run) whether a rating may be requested now, and if so appends RatingRequested
   (subject, a witness-cosigned size L, the set and its digest, as-of date, rule set,
   kind) BEFORE asking any trustee. A request left unanswered by a crashed epoch is
   retried as it is (the identical request is always served again).
2. Once a cosigned checkpoint covers the request, it asks every trustee for its share
   sealed to the designated combiner (`core.combination.combiner_order`: the first trustee in
   Hash(genesis ‖ subject ‖ L) order that answers), forwards the sealed bytes to that
   combiner (TrusteeService.Combine) and appends what comes back: RatingPublished (score,
   grade, proof, combiner signature) when the aggregate opens, RatingHeld (the signed
   verdict) when it does not. A request whose set has fewer than k reporters (a correction
   or expiry) is answered by RatingWithdrawn without asking anyone.
3. Every step is isolated per subject: a trustee error, a verdict, a refusal or a bug in
   one subject is a message for that subject and never stops the others.

Investigations (`investigate`, docs/ratings.md): once the regulator's InvestigationAuthorised
names a held subject, each step of the canonical bisection is appended as InvestigationStep
before any share, judged by the step's two designated combiners (verdicts signed, evidence
sealed to the regulator) and its verdict appended before the next step. The regulator
concludes with FraudFound (`client.regulator.Regulator.conclude_investigation`); the next
epoch then requests the correction.

Subject access (`serve_access`, docs/subjects.md): after the regulator's
SubjectAccessAuthorised, each report about the subject below it is decrypted alone by its
designated combiner, which seals the tier to the subject only if the report opens its own
commitment (otherwise its evidence to the regulator); the operator appends one
SubjectAccessServed per report, with the sealed bytes, and never sees a tier.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc

from api import wire
from api.identity import Identity
from api.status import unreachable
from api.v1 import trustee_pb2, trustee_pb2_grpc
from client.connection import secure_channel
from client.cpu import CpuPool
from core import access, combination, state
from core import entries as e
from core.errors import CandorError, Conflict, NotFound, Unavailable, VerificationError
from server.ledger import Ledger

log = logging.getLogger("candor.epoch")

#: A party that answers a call with one of these did not answer it: the epoch waits for it.
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class EpochResult:
    published: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    fraud: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    access: list[str] = field(default_factory=list)
    """Subjects whose authorised tier access was served this epoch (docs/subjects.md)."""
    messages: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    """The messages (each also in `messages`) saying that a party the epoch needs did not answer:
    no witness-cosigned checkpoint, trustees or combiners unreachable or timing out, the database
    away: a step that ended in `Unavailable`. Subjects below k, unchanged or held are not blocked."""

    def block(self, message: str) -> None:
        """Record a blocked outcome: in `messages`, and in `blocked`."""
        self.messages.append(message)
        self.blocked.append(message)


class EpochRunner:
    def __init__(self, ledger: Ledger, identity: Identity, trustees: dict[int, str], *, timeout: float = 60.0,
                 clock: Callable[[], float] = time.time, cpu: CpuPool | None = None,
                 cosign_timeout: float = 10.0) -> None:
        self.ledger = ledger
        self.cosign_timeout = cosign_timeout  # how long an epoch waits for witnesses to cosign its requests
        self.cpu = cpu or CpuPool(0)
        self.identity = identity
        self.timeout = timeout
        self.clock = clock
        self.last_run: float | None = None  # when the last epoch completed (the epoch-lag gauge)
        self.trustees = {i: trustee_pb2_grpc.TrusteeServiceStub(secure_channel(identity, a, f"trustee-{i}"))
                         for i, a in sorted(trustees.items())}
        self.addresses = dict(trustees)
        self._pool = futures.ThreadPoolExecutor(max_workers=max(1, len(self.trustees)))

    @property
    def today(self) -> _dt.date:
        return _dt.datetime.fromtimestamp(self.clock(), tz=_dt.UTC).date()

    def subjects(self) -> list[bytes]:
        seen: dict[str, None] = {}
        for key, _ in self.ledger.view.scan("subject/"):
            seen[key.split("/")[1]] = None
        return [bytes.fromhex(s) for s in seen]

    def run(self) -> EpochResult:
        """One epoch over every subject; what happened to each goes in the result."""
        result = EpochResult()
        size = self.ledger.cosigned_size()
        if size == 0:
            result.block("no witness-cosigned checkpoint yet (trustees only decrypt over a cosigned ledger); "
                         + self.ledger.quorum_gap())
            return result
        waiting: list[tuple[bytes, int]] = []
        for tag in self.subjects():
            index = self._isolated(result, tag, partial(self.request, tag, size, result))
            if index is not None:
                waiting.append((tag, index))
        if waiting:
            try:
                self.ledger.wait_cosigned(max(i for _, i in waiting) + 1, timeout=self.cosign_timeout)
            except Unavailable as exc:
                for tag, index in waiting:
                    result.pending.append(tag.hex())
                    result.block(f"{_name(tag)}: request {index} is on the ledger; it is answered once "
                                 f"witnesses cosign it ({exc})")
                waiting = []
        for tag, index in waiting:
            self._isolated(result, tag, partial(self.answer, tag, index, result))
        self.serve_access(result)
        self.last_run = self.clock()
        return result

    def _isolated(self, result: EpochResult, tag: bytes, step: Callable[[], Any]) -> Any:
        """Run one subject's step; whatever fails is a message for that subject alone."""
        try:
            return step()
        except Unavailable as exc:  # a trustee, combiner, the witnesses or the database did not answer
            result.pending.append(tag.hex())
            result.block(f"{_name(tag)}: pending: {exc}")
        except Conflict as exc:
            result.pending.append(tag.hex())
            result.messages.append(f"{_name(tag)}: pending: {exc}")
        except CandorError as exc:
            result.pending.append(tag.hex())
            result.messages.append(f"{_name(tag)}: skipped this epoch: {exc}")
        except Exception as exc:
            log.exception("rating epoch failed for one subject")
            result.pending.append(tag.hex())
            result.messages.append(f"{_name(tag)}: skipped this epoch after an internal error "
                                   f"({type(exc).__name__}); the others were rated")
        return None

    def request(self, tag: bytes, size: int, result: EpochResult) -> int | None:
        """Append the subject's next RatingRequested if the update rule admits one; return
        the request to answer (None: nothing to do, or the subject is held)."""
        view = self.ledger.view
        newest = state.latest_request(view, tag)
        if newest is not None and newest.answer is None:
            return newest.index  # a crashed epoch's request: retried as it is
        held = newest is not None and newest.answer is not None and newest.answer.kind == "held"
        try:
            plan = state.request_plan(view, tag, size, self.today, newest)
        except Conflict:
            if held:
                plan = None
            elif newest is not None and newest.answer is not None and newest.answer.kind == "published":
                _rules, _prev, _reports, now = state.rating_inputs(view, tag, size, self.today)
                if now == newest.active:
                    return None  # rated, and nothing changed since
                raise  # changes the update rule holds back: pending, with the reason
            else:
                raise
        if held and (plan is None or plan.kind != "correction"):
            # A held set is rated again only through a correction (FraudFound, retraction).
            assert newest is not None
            investigation = state.open_investigation(view, tag)
            if investigation is not None and investigation.request == newest.index:
                self.investigate(tag, investigation.index, result)
            else:
                result.held.append(tag.hex())
                result.messages.append(f"{_name(tag)}: held (awaiting the regulator's investigation)")
            return None
        assert plan is not None
        body = e.RatingRequested(
            subject_tag=tag, ledger_size=size, set_digest=plan.digest, active_set=tuple(i for i, _ in plan.active),
            weights=tuple(w for _, w in plan.active), as_of=plan.as_of.isoformat(),
            rule_set_version=plan.rule_version, kind=plan.kind)
        return int(self.ledger.append(self._sign(body)))

    def answer(self, tag: bytes, index: int, result: EpochResult) -> None:
        """Answer request `index`: withdraw it (below k), or have it combined and append the
        combiner's publication or held verdict."""
        record = state.request_record(self.ledger.view, index)
        assert record is not None
        if record.below_k:
            self.ledger.append(self._sign(e.RatingWithdrawn(
                request_index=index, subject_tag=tag,
                reason=f"the set has reports from {record.reporters} distinct reporter(s), fewer than k "
                       f"({record.kind}): no rating is published")))
            result.withdrawn.append(tag.hex())
            result.messages.append(f"{_name(tag)}: rating withdrawn (fewer than k reporters remain)")
            return
        verdict = self.combine(tag, record, ())
        second = None
        if not verdict.opens:
            # "Does not open" proves nothing by itself: a second designated combiner must say
            # it too (docs/ratings.md). If it publishes instead, its proof settles it.
            second = self.combine(tag, record, (), skip=(verdict.combiner,))
            if second.opens:
                verdict, second = second, None
        if verdict.opens:
            body: e.Body = e.RatingPublished(
                request_index=index, subject_tag=tag, rule_set_version=record.rule_set_version,
                ledger_size=record.ledger_size, set_digest=record.digest,
                active_set=tuple(i for i, _ in record.active),
                weights=tuple(w for _, w in record.active), as_of=record.as_of, score=verdict.score,
                grade=verdict.grade, reporters=verdict.reporters, proof=verdict.proof, combiner=verdict.combiner,
                combiner_signature=verdict.signature)
            self.ledger.append(self._sign(body))
            result.published.append(tag.hex())
        else:
            assert second is not None
            self.ledger.append(self._sign(e.RatingHeld(
                request_index=index, subject_tag=tag, ledger_size=record.ledger_size,
                combiner=verdict.combiner, verdict_signature=verdict.signature,
                second_combiner=second.combiner, second_signature=second.signature)))
            result.held.append(tag.hex())
            result.messages.append(f"{_name(tag)}: HELD: two combiners say {combination.DOES_NOT_OPEN}; awaiting the "
                                   "regulator's investigation")

    def combine(self, tag: bytes, record: state.RequestRecord, subset: Sequence[int],
                skip: Sequence[int] = ()) -> trustee_pb2.CombineResponse:
        """Ask every trustee for its share sealed to the first reachable combiner in the
        order Hash(genesis ‖ subject ‖ L) gives (other than those in `skip`), then forward
        the sealed shares to it."""
        ally = self.ledger.alliance
        index = record.index
        cosigned = self.ledger.cosigned_size()
        order = combination.combiner_order(ally.genesis_hash, tag, record.ledger_size,
                                           [t.index for t in ally.genesis.trustees])
        problems: list[str] = []
        # The ledger accepts the first n − t + 1 of the order (later ones: fewer than t left).
        for combiner in order[: len(order) - ally.genesis.threshold + 1]:
            if combiner in skip:
                continue
            if combiner not in self.trustees:
                problems.append(f"trustee {combiner}: no address configured")
                continue
            request = trustee_pb2.ShareRequest(request_index=index, combiner=combiner, subset=list(subset),
                                               cosigned_size=cosigned)
            sealed, refused, down, silent = self._sealed_shares(request, combiner)
            problems += refused
            if combiner in down:
                continue  # the designated combiner is away: the next one in the order combines
            verdict = self._combine(combiner, trustee_pb2.CombineRequest(
                request_index=index, subset=list(subset), shares=sealed, cosigned_size=cosigned), problems, silent)
            if verdict is not None:
                return verdict
        raise Unavailable("no combiner is reachable: " + "; ".join(problems))

    def investigate(self, tag: bytes, authorisation: int, result: EpochResult) -> None:
        """Run the logged bisection of an authorised investigation (docs/ratings.md,
        "Investigations") as far as it goes: for each step, append the InvestigationStep the
        canonical bisection names (before any share), have both designated combiners judge
        it from shares sealed to each, and append their signed verdicts with their evidence
        sealed to the regulator. Ends when a single report is shown not to open (the
        regulator concludes with FraudFound), when nothing is found, or when the combiners
        disagree (the step stops until the regulator's CombinerFaulted)."""
        ally = self.ledger.alliance
        while True:
            view = self.ledger.view
            record = state.investigation_record(view, tag, authorisation)
            assert record is not None
            progress = state.investigation_bisection(record)
            if progress.culprit is not None:
                rid = state.report_id_at(view, tag, progress.culprit)
                if rid is None:
                    raise NotFound(f"entry {progress.culprit} is not a report about this subject")
                result.fraud.append(rid)
                result.messages.append(f"{_name(tag)}: the bisection names report {rid[:12]}… (entry "
                                       f"{progress.culprit}); the regulator concludes with FraudFound "
                                       "(`candor investigate conclude`), then the correction is requested")
                return
            if progress.cleared:
                result.held.append(tag.hex())
                result.messages.append(f"{_name(tag)}: the investigation found no report that does not open")
                return
            open_step = record.open_step
            if open_step is None:
                assert progress.next_subset is not None  # neither a culprit nor cleared: not finished
                step = e.InvestigationStep(authorisation, tag, record.ledger_size, progress.step,
                                           progress.next_subset)
                step_index = int(self.ledger.append(self._sign(step)))
            else:
                step_index = open_step.index
                body = wire.signed_entry_from_bytes(self.ledger.store.entry(step_index)).entry.body
                assert isinstance(body, e.InvestigationStep)
                step = body
            combiners = state.step_combiners(view, ally, record, step.step)
            if open_step is not None and combiners in open_step.stopped:
                result.held.append(tag.hex())
                result.messages.append(f"{_name(tag)}: investigation step {step.step} stopped: combiners "
                                       f"{list(combiners)} disagreed; their evidence is sealed to the regulator")
                return
            self.ledger.wait_cosigned(step_index + 1, timeout=self.cosign_timeout)
            verdicts = [self._judge(record.request, step_index, combiner) for combiner in combiners]
            claims = tuple(bool(v.opens) for v in verdicts)
            verdict = ("opens" if claims[0] else "does_not_open") if claims[0] == claims[1] else "disagree"
            self.ledger.append(self._sign(dataclasses.replace(
                step, verdict=verdict, combiners=combiners, claims=claims,
                signatures=tuple(v.signature for v in verdicts), evidence=tuple(v.evidence for v in verdicts))))
            if verdict == "disagree":
                result.held.append(tag.hex())
                result.messages.append(f"{_name(tag)}: investigation step {step.step}: combiners {list(combiners)} "
                                       "disagree; the step stops and their evidence goes to the regulator")
                return

    def _judge(self, request_index: int, step_index: int, combiner: int) -> trustee_pb2.CombineResponse:
        """One combiner's verdict on an investigation step: every trustee's share sealed to
        it, forwarded unopened; it answers opens / does not open, signed, and its evidence
        sealed to the regulator. No plaintext reaches the operator."""
        if combiner not in self.trustees:
            raise Unavailable(f"trustee {combiner}, a designated combiner of this step, has no address configured")
        cosigned = self.ledger.cosigned_size()
        request = trustee_pb2.ShareRequest(request_index=request_index, combiner=combiner, cosigned_size=cosigned,
                                           step_index=step_index)
        sealed, problems, _down, _silent = self._sealed_shares(request, combiner)
        try:
            verdict: trustee_pb2.CombineResponse = self.trustees[combiner].Combine(
                trustee_pb2.CombineRequest(request_index=request_index, shares=sealed, cosigned_size=cosigned,
                                           step_index=step_index), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise Unavailable(f"combiner {combiner}: {exc.details()}" +
                              (f" ({'; '.join(problems)})" if problems else "")) from None
        if verdict.combiner != combiner:
            raise VerificationError(f"combiner {combiner} answered as trustee {verdict.combiner}")
        return verdict

    def serve_access(self, result: EpochResult) -> None:
        """Serve every unconsumed SubjectAccessAuthorised (docs/subjects.md, "Your tiers"),
        each subject on its own."""
        cosigned = self.ledger.cosigned_size()
        for key, _raw in self.ledger.view.scan("subjectparty/"):
            tag = bytes.fromhex(key.split("/")[1])
            self._isolated(result, tag, partial(self.access, tag, cosigned, result))

    def access(self, tag: bytes, cosigned: int, result: EpochResult) -> None:
        """For each report the subject's access grant covers and the ledger has not served,
        have the report's designated combiner decrypt it alone and append SubjectAccessServed
        with what it sealed: the tier to the subject when the report opens its own
        commitment, the evidence to the regulator when it does not. The operator forwards
        and appends sealed bytes only."""
        grant = state.open_access(self.ledger.view, tag)
        if grant is None:
            return
        authorisation, reports = grant
        if authorisation >= cosigned:
            result.messages.append(f"{_name(tag)}: tier access {authorisation} is served once witnesses cosign it")
            return
        withheld = 0
        for report in reports:
            verdict = self._access_one(tag, authorisation, report, cosigned)
            self.ledger.append(self._sign(e.SubjectAccessServed(
                authorisation=authorisation, subject_tag=tag, report=report, combiner=verdict.combiner,
                opens=verdict.opens, sealed=verdict.sealed_tier if verdict.opens else verdict.evidence,
                signature=verdict.signature)))
            withheld += not verdict.opens
        result.access.append(tag.hex())
        result.messages.append(f"{_name(tag)}: tiers of {len(reports) - withheld} report(s) sealed to the subject"
                               + (f"; {withheld} did not open their own commitment: evidence sealed to the "
                                  "regulator, no tier released" if withheld else ""))

    def _access_one(self, tag: bytes, authorisation: int, report: int,
                    cosigned: int) -> trustee_pb2.CombineResponse:
        """Every trustee's share of one report sealed to the first reachable combiner the
        report's order designates (`core.access.access_combiners`), forwarded unopened."""
        ally = self.ledger.alliance
        order = access.access_combiners(ally.genesis_hash, tag, authorisation, report,
                                        [t.index for t in ally.genesis.trustees])
        problems: list[str] = []
        for combiner in order[: len(order) - ally.genesis.threshold + 1]:
            if combiner not in self.trustees:
                problems.append(f"trustee {combiner}: no address configured")
                continue
            request = trustee_pb2.ShareRequest(access_index=authorisation, report_index=report, combiner=combiner,
                                               cosigned_size=cosigned)
            sealed, refused, _down, silent = self._sealed_shares(request, combiner)
            problems += refused
            verdict = self._combine(combiner, trustee_pb2.CombineRequest(
                access_index=authorisation, report_index=report, shares=sealed, cosigned_size=cosigned), problems,
                silent)
            if verdict is not None:
                return verdict
        raise Unavailable("no access combiner is reachable: " + "; ".join(problems))

    def _combine(self, combiner: int, request: trustee_pb2.CombineRequest, problems: list[str],
                 silent: set[int]) -> trustee_pb2.CombineResponse | None:
        """Forward the sealed shares to `combiner`; its answer, or None when it is unreachable
        (noted in `problems`: the next combiner in the order may answer instead). A refusal is
        Unavailable when the combiner itself is unavailable or trustees in `silent` sent no
        share (the subject waits for them), Conflict otherwise."""
        try:
            verdict: trustee_pb2.CombineResponse = self.trustees[combiner].Combine(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            away = unreachable(exc, f"trustee {combiner}", self.addresses.get(combiner, "?"), "candor trustee serve")
            if away is not None:
                problems.append(str(away))
                return None
            error = Unavailable if silent or exc.code() in _NO_ANSWER else Conflict
            raise error(f"combiner {combiner}: {exc.details()}" +
                        (f" ({'; '.join(problems)})" if problems else "")) from None
        if verdict.combiner != combiner:
            raise VerificationError(f"combiner {combiner} answered as trustee {verdict.combiner}")
        return verdict

    def _sealed_shares(self, request: trustee_pb2.ShareRequest,
                       combiner: int) -> tuple[list[trustee_pb2.SealedShare], list[str], set[int], set[int]]:
        """Ask every trustee for its share sealed to `combiner`, side by side: the sealed
        shares that came back for the right slot and combiner, what each other trustee said,
        which trustees were unreachable, and which did not answer (unreachable, unavailable or
        timed out). The operator never sees a share itself."""
        calls = {i: self._pool.submit(stub.RequestShare, request, timeout=self.timeout)
                 for i, stub in self.trustees.items()}
        sealed: list[trustee_pb2.SealedShare] = []
        problems: list[str] = []
        down: set[int] = set()
        silent: set[int] = set()
        for i, call in calls.items():
            try:
                resp = call.result()
                if resp.trustee != i or resp.combiner != combiner:
                    raise VerificationError(f"trustee {i} answered for another slot or combiner")
                sealed.append(trustee_pb2.SealedShare(trustee=i, sealed=resp.sealed_share))
            except grpc.RpcError as exc:
                away = unreachable(exc, f"trustee {i}", self.addresses.get(i, "?"), "candor trustee serve")
                problems.append(str(away) if away else f"trustee {i}: {exc.code().name}: {exc.details()}")
                if away is not None:
                    down.add(i)
                if away is not None or exc.code() in _NO_ANSWER:
                    silent.add(i)
            except CandorError as exc:
                problems.append(f"trustee {i}: {exc}")
        return sealed, problems, down, silent

    def _sign(self, body: e.Body) -> bytes:
        return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(self.clock() * 1000)), self.identity.signing_key())

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.cpu.close()


def _name(tag: bytes) -> str:
    return tag.hex()[:12] + "…"


