"""A trustee: `candor trustee serve` (DESIGN §5 step 3).

A trustee holds one share of the threshold Paillier key and answers one question: "rate
subject S as of ledger size L". It never decrypts what the operator hands it. It rebuilds
the active set itself from its own verified mirror (`server.mirror`), checks k distinct
reporters and the update rule, computes the aggregate ciphertext c* = Π c_i^{w_i} itself,
and only then returns its decryption share with a proof of correct decryption. It refuses a
size it has not verified, a set below k, and any sub-aggregate (a single report, or part of
an active set) unless the regulator's InvestigationAuthorised entry for the subject is on
the ledger. Every share it issues is logged in its own store.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from collections.abc import Callable
from concurrent import futures
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import grpc

from candor import wire
from candor.identity import Identity
from candor.status import grpc_errors
from candor.v1 import trustee_pb2, trustee_pb2_grpc
from client.connection import Connection
from core import entries as e
from core import paillier, state, threshold
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unavailable
from core.rating import check_publishable
from server.cpu import CpuPool
from server.mirror import Mirror
from server.pki import peer_identity
from server.storage import LedgerStore

log = logging.getLogger("candor.trustee")
SHARE_LOG = "shares"


def public_key_of(genesis: e.Genesis) -> threshold.ThresholdPublicKey:
    trustees = sorted(genesis.trustees, key=lambda t: t.index)
    return threshold.ThresholdPublicKey(n=genesis.paillier_n, threshold=genesis.threshold, parties=len(trustees),
                                        v=genesis.paillier_v, verification_keys=tuple(t.verification_key for t in trustees))


def aggregate_ciphertext(mirror_store: LedgerStore, pub: threshold.ThresholdPublicKey,
                         active: tuple[tuple[int, int], ...]) -> int:
    ciphertexts = []
    for index, _w in active:
        body = wire.signed_entry_from_bytes(mirror_store.entry(index)).entry.body
        assert isinstance(body, e.ReportCommitted)
        ciphertexts.append(body.ciphertext)
    return paillier.aggregate(pub.phe(), ciphertexts, [w for _, w in active])


@dataclass
class Trustee:
    identity: Identity
    mirror: Mirror
    share: threshold.KeyShare
    clock: Callable[[], float] = time.time
    cpu: CpuPool = dataclasses.field(default_factory=lambda: CpuPool(0))

    def __post_init__(self) -> None:
        self.public_key = public_key_of(self.mirror.alliance.genesis)
        threshold.check_key_share(self.public_key, self.share)

    def _investigation_covers(self, subject_tag: bytes, ledger_size: int) -> bool:
        """Is there an InvestigationAuthorised for the subject covering `ledger_size`? Looks
        at the newest cosigned ledger, since the authorisation comes after the held size."""
        for attempt in range(2):
            for _key, raw in self.mirror.view.scan(f"investigation/{subject_tag.hex()}/"):
                if json.loads(raw)["ledger_size"] >= ledger_size:
                    return True
            if attempt == 0:
                self.mirror.sync()
        return False

    def request_share(self, subject_tag: bytes, ledger_size: int, as_of: str,
                      subset: tuple[int, ...] = ()) -> trustee_pb2.ShareResponse:
        if len(subject_tag) != 32:
            raise InvalidInput("subject tag must be 32 bytes")
        day = e.parse_date(as_of, "rating date")
        today = _dt.datetime.fromtimestamp(self.clock(), tz=_dt.timezone.utc).date()
        if abs((day - today).days) > 1:
            raise InvalidInput(f"rating date {as_of} is not today ({today.isoformat()}) on the trustee's clock")
        if ledger_size > self.mirror.size():
            try:
                self.mirror.sync(ledger_size)
            except (NotFound, Unavailable) as exc:  # no cosigned checkpoint of that size: refuse below
                log.info("cannot verify ledger size %d: %s", ledger_size, exc)
        if ledger_size > self.mirror.size():
            raise Conflict(f"trustee has verified the ledger only up to size {self.mirror.size()} (witness-cosigned); "
                           f"it will not decrypt for size {ledger_size}")
        view = self.mirror.view
        rules, previous, reports, active = state.rating_inputs(view, subject_tag, ledger_size, day)
        if subset:
            if not self._investigation_covers(subject_tag, ledger_size):
                raise PermissionDenied("decrypting part of an active set reveals individual reports: it needs the "
                                       "regulator's InvestigationAuthorised entry for this subject")
            members = dict(active)
            missing = [i for i in subset if i not in members]
            if missing or len(set(subset)) != len(subset):
                raise InvalidInput(f"subset names entries {missing} outside the subject's active set")
            active = tuple((i, members[i]) for i in sorted(subset))
        else:
            if not active:
                raise Conflict("the subject has no active report at that size")
            check_publishable(rules, reports, active, previous, day)
        c = aggregate_ciphertext(self.mirror.store, self.public_key, active)
        share = self.cpu.submit(threshold.decryption_share, self.public_key, self.share, c).result()
        record = {"time_ms": int(self.clock() * 1000), "subject": subject_tag.hex(),
                  "ledger_size": ledger_size, "as_of": as_of, "entries": [i for i, _ in active],
                  "investigation": bool(subset)}
        self.mirror.store.append_log(SHARE_LOG, json.dumps(record, sort_keys=True).encode())
        log.info("issued share for subject %s… at size %d over %d reports", subject_tag.hex()[:12], ledger_size,
                 len(active))
        return trustee_pb2.ShareResponse(
            trustee=self.share.index, ciphertext=wire.int_to_bytes(c), share=wire.int_to_bytes(share.c_i),
            proof=json.dumps({"challenge": share.challenge, "response": share.response}).encode(),
            active_set=[i for i, _ in active], weights=[w for _, w in active], rule_set_version=rules.version)


class TrusteeServicer(trustee_pb2_grpc.TrusteeServiceServicer):
    def __init__(self, trustee: Trustee) -> None:
        self.trustee = trustee

    def RequestShare(self, request: trustee_pb2.ShareRequest,
                     context: grpc.ServicerContext) -> trustee_pb2.ShareResponse:
        with grpc_errors(context):
            _name, role = peer_identity(context.auth_context())
            if role != "operator":
                raise PermissionDenied(f"only the operator asks trustees for shares; your certificate says {role}")
            return self.trustee.request_share(request.subject_tag, request.ledger_size, request.as_of,
                                              tuple(request.subset))


def share_from_proto(resp: trustee_pb2.ShareResponse) -> threshold.DecryptionShare:
    try:
        proof = json.loads(resp.proof)
        return threshold.DecryptionShare(index=resp.trustee, c_i=wire.int_from_bytes(resp.share, "share"),
                                         challenge=int(proof["challenge"]), response=int(proof["response"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"trustee {resp.trustee} sent a malformed share proof") from None


def create_trustee_server(identity: Identity, store: LedgerStore, listen: str | None = None,
                          operator_address: str | None = None, state_dir: Path | None = None,
                          workers: int | None = 0) -> tuple[grpc.Server, int, Trustee]:
    """A started trustee server; `workers` processes compute shares (None: one per core)."""
    from server.app import MAX_MESSAGE_BYTES, server_credentials

    conn = Connection(identity, operator_address)
    mirror = Mirror(identity, conn, store, (state_dir or identity.path) / "mirror.state")
    trustee = Trustee(identity, mirror, threshold.KeyShare.from_dict(identity.json_file("share.json")),
                      cpu=CpuPool(workers))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    trustee_pb2_grpc.add_TrusteeServiceServicer_to_server(TrusteeServicer(trustee), server)
    port = server.add_secure_port(listen or str(identity.info["listen"]), server_credentials(identity))
    server.start()
    return server, port, trustee
