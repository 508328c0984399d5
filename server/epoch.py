"""The operator's rating epochs (DESIGN §5).

For every subject whose inputs changed, the runner computes the active set and weights
from the ledger, checks k and the update rule itself (so it does not bother trustees with a
request they must refuse), asks every trustee for its decryption share, verifies each share
against its proof (a bad one is named and dropped), combines t of them, unpacks the counts
N_{c,t} and R, and checks the opening C* = Σ N·G + R·H against the commitments. Only then
does it score, grade and append RatingPublished — which the ledger re-checks in full.

If the opening fails, some member encrypted something other than what it committed. The
subject is held: nothing is published for it until the regulator appends
InvestigationAuthorised; then the runner bisects the active set with sub-aggregate shares
(which trustees release only under that authorisation), appends FraudFound for the
culprit, and rates the subject again without it.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from candor import wire
from candor.identity import Identity
from candor.v1 import trustee_pb2, trustee_pb2_grpc
from client.connection import secure_channel
from core import entries as e
from core import paillier, state, threshold
from core.errors import CandorError, Conflict, NotFound, Unavailable, VerificationError
from core.rating import check_opening, check_publishable, find_inconsistent
from core.rules import score
from server.cpu import CpuPool
from server.ledger import Ledger
from server.trustee import aggregate_ciphertext, public_key_of, share_from_proto

log = logging.getLogger("candor.epoch")
HELD_LOG = "held"


@dataclass
class EpochResult:
    published: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    fraud: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


class EpochRunner:
    def __init__(self, ledger: Ledger, identity: Identity, trustees: dict[int, str], *, timeout: float = 60.0,
                 clock: Callable[[], float] = time.time, cpu: CpuPool | None = None) -> None:
        self.ledger = ledger
        self.cpu = cpu or CpuPool(0)
        self.identity = identity
        self.timeout = timeout
        self.clock = clock
        self.last_run: float | None = None  # when the last epoch completed (the epoch-lag gauge)
        self.trustees = {i: trustee_pb2_grpc.TrusteeServiceStub(secure_channel(identity, a))
                         for i, a in sorted(trustees.items())}
        self._pool = futures.ThreadPoolExecutor(max_workers=max(1, len(self.trustees)))

    @property
    def today(self) -> _dt.date:
        return _dt.datetime.fromtimestamp(self.clock(), tz=_dt.timezone.utc).date()

    def subjects(self) -> list[bytes]:
        seen: dict[str, None] = {}
        for key, _ in self.ledger.view.scan("subject/"):
            seen[key.split("/")[1]] = None
        return [bytes.fromhex(s) for s in seen]

    def held(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _id, raw in self.ledger.store.read_log(HELD_LOG, 0, 100_000):
            record = json.loads(raw)
            if record.get("released"):
                out.pop(record["subject"], None)
            else:
                out[record["subject"]] = int(record["ledger_size"])
        return out

    def run(self) -> EpochResult:
        """One epoch over every subject; what happened to each goes in the result."""
        result = EpochResult()
        size = self.ledger.cosigned_size()
        if size == 0:
            result.messages.append("no witness-cosigned checkpoint yet: trustees only decrypt over a cosigned ledger")
            return result
        held = self.held()
        for tag in self.subjects():
            name = tag.hex()[:12] + "…"
            try:
                if tag.hex() in held:
                    if not self.ledger.view.scan(f"investigation/{tag.hex()}/"):
                        result.held.append(tag.hex())
                        continue
                    culprit = self.investigate(tag, held[tag.hex()])
                    result.fraud.append(culprit)
                    result.messages.append(f"{name}: report {culprit[:12]}… found inconsistent and excluded; "
                                           "the subject is rated without it once the witnesses cosign the finding")
                    continue
                outcome = self.rate(tag, size)
            except Conflict as exc:
                result.pending.append(tag.hex())
                result.messages.append(f"{name}: pending: {exc}")
                continue
            except VerificationError as exc:
                if "does not open" in str(exc):
                    self._hold(tag, size)
                    result.held.append(tag.hex())
                    result.messages.append(f"{name}: HELD: {exc}; awaiting the regulator's investigation")
                    continue
                raise
            if outcome == "published":
                result.published.append(tag.hex())
        self.last_run = self.clock()
        return result

    def rate(self, tag: bytes, size: int) -> str:
        """Publish a rating for `tag` at ledger size `size` if its inputs changed."""
        view = self.ledger.view
        as_of = self.today
        rules, previous, reports, active = state.rating_inputs(view, tag, size, as_of)
        unsealed = [r.fraud_at for r in reports if r.fraud_at is not None and r.fraud_at >= size]
        if unsealed:
            raise Conflict(f"the fraud finding at entry {unsealed[0]} is not yet witness-cosigned; "
                           "the subject is rated at the next epoch")
        if not active:
            return "nothing"
        if previous is not None and previous.active == active and previous.rule_version == rules.version \
                and (as_of - previous.as_of).days < rules.max_staleness_days:
            return "unchanged"
        check_publishable(rules, reports, active, previous, as_of)
        counts, r_sum, trustees = self.decrypt(tag, size, as_of, active, ())
        by_index = {r.index: r for r in reports}
        check_opening(self.ledger.alliance.generators, [by_index[i].commitment for i, _ in active],
                      [w for _, w in active], counts, r_sum)
        score_milli, grade = score(rules, self.ledger.alliance.genesis.categories, counts)
        body = e.RatingPublished(
            subject_tag=tag, rule_set_version=rules.version, ledger_size=size,
            active_set=tuple(i for i, _ in active), weights=tuple(w for _, w in active), counts=tuple(counts),
            r_sum=r_sum, score_milli=score_milli, grade=grade, as_of=as_of.isoformat(), trustees=tuple(trustees),
        )
        self.ledger.append(self._sign(body))
        return "published"

    def decrypt(self, tag: bytes, size: int, as_of: _dt.date, active: tuple[tuple[int, int], ...],
                subset: tuple[int, ...]) -> tuple[list[int], int, list[int]]:
        """Ask every trustee, keep the first t shares that verify; (counts, R, trustee indices)."""
        pub = public_key_of(self.ledger.alliance.genesis)
        chosen = active if not subset else tuple(p for p in active if p[0] in subset)
        c = aggregate_ciphertext(self.ledger.store, pub, chosen)
        request = trustee_pb2.ShareRequest(subject_tag=tag, ledger_size=size, as_of=as_of.isoformat(),
                                           subset=list(subset))
        calls = {i: self._pool.submit(stub.RequestShare, request, timeout=self.timeout)
                 for i, stub in self.trustees.items()}
        received: dict[int, tuple[threshold.DecryptionShare, futures.Future[None]]] = {}
        problems: list[str] = []
        for i, call in calls.items():
            try:
                resp = call.result()
                if wire.int_from_bytes(resp.ciphertext, "aggregate") != c:
                    raise VerificationError(f"trustee {i} computed another aggregate: our ledgers disagree")
                share = share_from_proto(resp)
                if share.index != i:
                    raise VerificationError(f"trustee at slot {i} answered as trustee {share.index}")
                # The proof checks are the expensive part: run them side by side in the pool.
                received[i] = (share, self.cpu.submit(threshold.verify_share, pub, c, share))
            except grpc.RpcError as exc:
                problems.append(f"trustee {i}: {exc.code().name}: {exc.details()}")
            except CandorError as exc:
                problems.append(f"trustee {i}: {exc}")
                log.warning("rejected share: %s", exc)
        # Keep the first t shares whose proofs verify; checking more costs a share's worth of powmods each.
        shares: list[threshold.DecryptionShare] = []
        by_check = {check: (i, share) for i, (share, check) in received.items()}
        for check in futures.as_completed(by_check):
            i, share = by_check[check]
            try:
                check.result()
                shares.append(share)
            except CandorError as exc:
                problems.append(f"trustee {i}: {exc}")
                log.warning("rejected share: %s", exc)
            if len(shares) >= pub.threshold:
                for other in by_check:
                    other.cancel()
                break
        shares.sort(key=lambda share: share.index)
        if len(shares) < pub.threshold:
            raise Conflict(f"only {len(shares)} of the {pub.threshold} trustee shares needed: " + "; ".join(problems))
        used = shares[: pub.threshold]
        plaintext = threshold.combine(pub, c, used, verify=False)
        opening = paillier.unpack(plaintext, 4 * len(self.ledger.alliance.genesis.categories))
        return list(opening.counts), opening.r_sum, [s.index for s in used]

    def investigate(self, tag: bytes, size: int) -> str:
        """Bisect the held subject's active set; append FraudFound for the culprit."""
        view = self.ledger.view
        as_of = self.today
        _rules, _prev, reports, active = state.rating_inputs(view, tag, size, as_of)
        by_index = {r.index: r for r in reports}
        gens = self.ledger.alliance.generators

        def opens(subset: Sequence[int]) -> bool:
            indices = tuple(sorted(subset))
            counts, r_sum, _ = self.decrypt(tag, size, as_of, active, indices)
            weights = dict(active)
            try:
                check_opening(gens, [by_index[i].commitment for i in indices], [weights[i] for i in indices],
                              counts, r_sum)
            except VerificationError:
                return False
            return True

        try:
            culprit = find_inconsistent([i for i, _ in active], opens)
        except NotFound:
            self._release(tag)
            raise Unavailable("every part of the held aggregate opens now; released the subject") from None
        rid = _report_id(view, tag, culprit)
        body = e.FraudFound(report_id=bytes.fromhex(rid), subject_tag=tag,
                            evidence=f"entry {culprit}: its ciphertext does not decrypt to what its commitment "
                                     f"opens to (bisection of {len(active)} reports under investigation)")
        self.ledger.append(self._sign(body))
        self._release(tag)
        return rid

    def _sign(self, body: e.Body) -> bytes:
        return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(self.clock() * 1000)), self.identity.signing_key())

    def _hold(self, tag: bytes, size: int) -> None:
        if tag.hex() not in self.held():
            self.ledger.store.append_log(HELD_LOG, json.dumps({"subject": tag.hex(), "ledger_size": size}).encode())

    def _release(self, tag: bytes) -> None:
        self.ledger.store.append_log(HELD_LOG, json.dumps({"subject": tag.hex(), "released": True}).encode())

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.cpu.close()


def _report_id(view: state.StateView, tag: bytes, index: int) -> str:
    raw = view.get(f"subject/{tag.hex()}/{index:012d}")
    if raw is None:
        raise NotFound(f"entry {index} is not a report about this subject")
    rid: str = json.loads(raw)
    return rid
