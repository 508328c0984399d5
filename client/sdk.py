"""The member SDK: one typed class a platform embeds to report and retract (docs/reports.md,
docs/ledger.md, docs/architecture.md).

`Member` turns "subject S did category c at tier t on date D" into a ReportCommitted leaf
and sends it over mTLS:

- subject tag = HMAC-SHA256(alliance subject key, normalise(subject id))  (core.subject);
- C = G_{c,t} + r·H with r uniform in Z_q, and a 1-of-4 CDS validity proof binding the
  genesis hash, report id, subject tag, category, date and C  (core.pedersen, core.proofs),
  from nonces precomputed by a background thread when the pool has one (`ValidityNonces`:
  the online proof is then additions only);
- one Paillier ciphertext of m = r + 2^320·2^(48·slot(c,t)) under the alliance key, with a
  precomputed r^n from a pool kept full by a background thread  (core.paillier);
- report id = SHA-256("candor/v1/rid" ‖ C)[:16], derived, never chosen; the entry's
  timestamp is the current whole UTC hour; every field has a fixed length, so nothing in
  the entry narrows the ring (docs/reports.md);
- a linkable ring signature over b"candor/v1/entry\\n" ‖ entry bytes by the member's
  reporting key, the ring being every admitted, unrevoked member as of the membership
  change named by `ring_change`, in admission order: an offline coupon (precomputed by a
  background thread in a long-lived client, recorded in `coupons.spent` before it signs,
  never used twice) and an online half per report  (core.ring, core.coupons);
- beside the entry, not in it: the member's Ed25519 escrow signature over
  "CANDOR-V1-ESCROW" ‖ genesis hash ‖ SHA-256(entry bytes). The operator, which knows who
  is calling, checks it, seals it with the member id to the regulator and stores it in the
  leaf next to the entry (core.escrow). A receipt is accepted only for a leaf holding the
  very entry bytes and ring signature sent.

Retries resend identical bytes: a report's signed leaf is kept in `pending/` of the state
folder until a verified receipt comes back, an Unavailable answer resends the same bytes,
and a replay (ALREADY_EXISTS) is answered with the receipt of the report already stored.

The ring comes from the ledger itself, never from the operator's say-so: the SDK fetches
every entry (once: the verified view is kept across runs in `view.state`,
client/ledger_view.py), checks that they hash to the root of an operator-signed checkpoint, and
replays them through `core.state.apply` (the very function the server and the auditor run;
`verify=False` skips only the per-report proofs, not the regulator signatures that admit
and revoke members). Its ring is therefore the one the server will check against.

Which checkpoints are trusted: those `LogVerifier.accept` accepts (client/verifier.py).
Witnesses cosign asynchronously, so the newest checkpoint usually has no cosignature yet;
yet a report must name the current ring and a receipt's checkpoint is by construction
brand new. Both are therefore accepted with the operator's signature alone (quorum 0),
but only if consistent with everything this client has verified, and only a cosigned
checkpoint becomes the persisted head.

Every method returns only verified results: a receipt (client/receipt.py) is returned
after its checkpoint is accepted, the stored leaf is checked against the bytes sent and
`ReportReceipt.verify` passes. Failures raise `core.errors` types; gRPC statuses are mapped back by
`api.status.from_rpc_error` (through `client.connection.Connection`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import functools
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import phe

from api import wire
from api.identity import Identity
from api.status import error_for
from api.v1 import governance_pb2 as gov
from client.connection import Connection
from client.ledger_view import SAVE_AFTER, LedgerView, PersistedState, ViewFile
from client.receipt import Receipt
from client.receipt_log import ReceiptLog
from client.verifier import LogVerifier
from core import entries as e
from core import merkle, paillier, ring, state
from core.coupons import CouponPool
from core.errors import (
    AlreadyExists,
    CandorError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StaleRing,
    Unavailable,
    VerificationError,
)
from core.escrow import escrow_message
from core.group import default_group
from core.pedersen import TIERS, Generators, Tier, commit, random_scalar, slot
from core.pool import Pool
from core.proofs import ReportStatement, prove_validity, validity_nonces
from core.subject import subject_tag as _subject_tag

REPORT_ID_BYTES = 16
SUBMIT_ATTEMPTS = 3
"""A report is re-signed at most this often when the member set changed under it."""

_RETRY_PAUSE = 0.25
STREAM_SECONDS_PER_REPORT = 1.0
"""A stream's deadline grows by this per report (beyond the connection's own timeout)."""

RingBody = Union[e.ReportCommitted, e.ReportRetracted]


@dataclass(frozen=True)
class ReportSpec:
    """One report to send with `Member.submit_reports`: `submit_report`'s arguments."""

    subject_id: str
    category: str
    tier: str | int
    incident_date: str | _dt.date
    evidence: bytes = b""
    notice_date: str | _dt.date | None = None


@dataclass(frozen=True)
class ReportReceipt(Receipt):
    """The receipt (client/receipt.py) of a report or retraction; `report_id` is the report's."""

    report_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        body = wire.signed_entry_from_bytes(self.leaf, check_canonical=False).entry.body
        if not isinstance(body, (e.ReportCommitted, e.ReportRetracted)):
            raise InvalidInput(f"a ReportReceipt is for a report or retraction, not a {type(body).__name__}")
        object.__setattr__(self, "report_id", body.report_id)


def parse_report_id(report_id: str | bytes) -> bytes:
    """A report id as 16 bytes, from 32 hex digits (or the bytes themselves)."""
    if isinstance(report_id, bytes):
        raw = report_id
    elif isinstance(report_id, str) and re.fullmatch(r"[0-9a-fA-F]{32}", report_id):
        raw = bytes.fromhex(report_id)
    else:
        raise InvalidInput(f"report id {report_id!r} must be 32 hex digits (16 bytes)")
    e.check_len(raw, REPORT_ID_BYTES, "report id")
    return raw


def parse_tier(tier: str | int) -> int:
    """A tier from its name ("minor".."critical") or its index 0..3."""
    if isinstance(tier, str):
        return int(Tier.parse(tier))
    if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier < TIERS:
        raise InvalidInput(
            f"tier {tier!r} is not one of the {TIERS} tiers: give minor, general, serious, critical or 0..{TIERS - 1}"
        )
    return int(tier)


def parse_incident_date(value: str | _dt.date, what: str = "incident date") -> str:
    """The incident date (or another report date, named by `what`) as YYYY-MM-DD."""
    if isinstance(value, _dt.datetime):
        raise InvalidInput(f"{what} must be a date, not a datetime: pass value.date()")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        e.parse_date(value, what)
        return value
    raise InvalidInput(f"{what} must be a date or a YYYY-MM-DD string, got {type(value).__name__}")


def encrypt_report(public_key: phe.PaillierPublicKey, plaintext: int, pool: paillier.RnPool | None) -> int:
    """A report ciphertext of exactly the bytes of n² (the ledger refuses a shorter one, so
    that every report has the same length): about one in 256 draws is re-drawn."""
    width = (public_key.nsquare.bit_length() + 7) // 8
    while True:
        c = paillier.encrypt(public_key, plaintext, pool)
        if c.bit_length() > 8 * (width - 1):
            return c


class Member:
    """A member platform's client: prepare, submit and retract reports; verify receipts.

    `Member(identity, address=None, state_dir=None)`: `identity` is the member's folder from
    `candor alliance init` (mTLS certificate, Ed25519 signing key, BLS12-381 reporting key,
    alliance subject key, pinned genesis); `address` overrides the operator address it
    names; `state_dir` is where the verifier keeps its last verified checkpoint
    (`verifier.state`, default: the identity folder) and the SDK its verified view of the
    ledger (`view.state`). `pool_size` precomputed r^n values
    are kept by a background thread (0: none, every report then pays one exponentiation),
    and `coupon_pool_size` ring-signature coupons by another, started with the first
    signature (0: none, every signature then makes its coupon on the spot, about n scalar
    multiplications). A one-shot command passes 0 for both.
    Thread-safe. Close it (or use it as a context manager) to stop the pool thread and the
    channel.
    """

    def __init__(self, identity: Identity, address: str | None = None, state_dir: Path | None = None, *,
                 pool_size: int = 32, coupon_pool_size: int = 8, timeout: float = 60.0) -> None:
        if identity.role != "member":
            raise InvalidInput(f"the Member SDK needs a member identity folder; {identity.path} belongs to the "
                               f"{identity.role} {identity.name}")
        self.identity = identity
        self.member_id = identity.name
        folder = Path(state_dir) if state_dir is not None else identity.path
        self.pending_dir = folder / "pending"
        self.verifier = LogVerifier(identity.genesis_leaf(), folder / "verifier.state")
        self.receipted = ReceiptLog(folder / "receipts.state")  # checkpoints receipts rest on (client/receipt_log.py)
        self.alliance = self.verifier.alliance
        genesis = self.alliance.genesis
        self.genesis_hash = self.alliance.genesis_hash
        self.categories: tuple[str, ...] = genesis.categories
        self.public_key = phe.PaillierPublicKey(genesis.paillier_n)
        paillier.check_registry_fits(genesis.paillier_n, len(self.categories))
        self._group = default_group()
        self._signing_key = identity.signing_key()
        self._reporting_key = int(identity.read("reporting.key").decode().strip(), 16)
        self.reporting_public_key = ring.public_key(self._reporting_key, self._group)
        self._subject_key = identity.hex_file("subject.key")
        self.conn = Connection(identity, address, timeout=timeout)
        self._lock = threading.RLock()
        # The replayed ledger, kept in view.state across runs (client/ledger_view.py). Its MAC
        # is checked in a thread (hashing releases the GIL) while the first refresh talks to
        # the operator; `_view` waits for it.
        self.view_file = ViewFile(folder / "view.state", self.genesis_hash, self._reporting_key.to_bytes(32, "big"))
        loader = ThreadPoolExecutor(1, thread_name_prefix="candor-view")
        self._view_loading = loader.submit(self.view_file.load, lambda note: self.verifier.open(note, quorum=0))
        loader.shutdown(wait=False)  # the thread ends with the load
        self._loaded_view: LedgerView | None = None
        self.pool = paillier.RnPool(self.public_key)
        self.nonces = Pool(functools.partial(validity_nonces, self.alliance.generators), "validity-nonces")
        if pool_size:
            self.pool.start_background(pool_size)
            self.nonces.start_background(pool_size)
        self.coupon_log = folder / "coupons.spent"
        self.coupons = CouponPool(self._group, self._reporting_key, self._record_spent_coupon)
        self._coupon_pool_size = coupon_pool_size

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        self.coupons.close()
        self.nonces.close()
        self.pool.close()
        self.conn.close()

    def __enter__(self) -> Member:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the verified view of the ledger ----------------------------------------------------

    @property
    def _view(self) -> LedgerView:
        """The view of the last refresh, first the one persisted by an earlier run (if it
        passes the checks of client/ledger_view.py and agrees with the verifier's head)."""
        with self._lock:
            if self._loaded_view is None:
                loaded = self._view_loading.result()
                head = self.verifier.head
                if loaded is not None and head is not None and head.size == loaded.size and \
                        head.root != loaded.tree.root():
                    loaded = None  # not the log this verifier holds: rebuilt from genesis, never trusted
                if loaded is not None:
                    loaded.alliance = self.alliance
                self._loaded_view = loaded or LedgerView(PersistedState(), merkle.CompactRange())
            return self._loaded_view

    def refresh(self) -> int:
        """Bring the replayed ledger up to the operator's newest checkpoint; return its size.

        Every new entry is fetched, hashed into the tree and replayed through
        `core.state.apply`; the result must hash to the checkpoint's root, or nothing is kept
        and VerificationError is raised. The view starts from the one a previous run
        persisted (client/ledger_view.py), which is written again after the first sync and
        whenever it is SAVE_AFTER entries behind.
        """
        with self._lock:
            note = bytes(self.conn.checkpoint().note)
            cp = self.verifier.accept(note, self.conn, quorum=0)
            self.receipted.check(self.verifier, self.conn)
            view = self._view
            if view.size and cp.size <= view.size:
                self._hold_to_view(view, cp.size)
                return view.size  # a lagging server; what we replayed is consistent and newer
            tree = copy.deepcopy(view.tree)
            overlay = state.Overlay(view.kv)
            ally = view.alliance
            index = view.size
            for leaf in self.conn.entries(index, cp.size):
                if index == 0 and leaf != self.verifier.genesis_leaf:
                    raise VerificationError("entry 0 of this ledger is not the genesis pinned in the identity folder")
                try:
                    signed = wire.signed_entry_from_bytes(leaf)
                    overlay.updates.update(state.apply(overlay, ally, index, signed, verify=False))
                except CandorError as exc:
                    raise VerificationError(f"ledger entry {index} does not replay from genesis: {exc}") from None
                if index == 0:
                    ally = self.alliance
                tree.append(merkle.leaf_hash(leaf))
                index += 1
            if tree.size != cp.size or tree.root() != cp.root_hash:
                raise VerificationError(
                    f"the entries served for [0, {cp.size}) do not hash to the root of the operator's checkpoint"
                )
            view.kv.update(overlay.updates)
            view.tree = tree
            view.alliance = ally
            view.note = note
            if not view.saved or view.size - view.saved >= SAVE_AFTER:
                self.view_file.save(view)
            return view.size

    def _hold_to_view(self, view: LedgerView, served: int) -> None:
        """The operator serves `served` entries, no more than the view this client verified
        (perhaps in an earlier run): the verifier's fork and rollback rules apply to the view's
        checkpoint, so the log must have the same root at that size or prove, by a consistency
        proof, that it still holds it. (A larger checkpoint needs no such step: the entries
        after the view must then hash, with its peaks, to that checkpoint's root.)"""
        try:
            self.verifier.accept(view.note, self.conn, quorum=0)
        except (InvalidInput, NotFound) as exc:
            raise VerificationError(
                f"rollback: the log now claims size {served} and cannot prove it still holds the size {view.size} "
                f"this client verified ({exc}); keep {self.view_file.path} and the checkpoint as evidence"
            ) from None

    def ring(self) -> tuple[tuple[bytes, ...], int]:
        """(reporting keys of the current ring in admission order, the index of the
        membership change that defines it: what a report names as `ring_change`)."""
        with self._lock:
            keys, changed_at = state.current_ring(self._view.kv)
            return tuple(keys), changed_at

    def _check_membership(self) -> None:
        record = state.member_record(self._view.kv, self.member_id)
        if record is None:
            raise PermissionDenied(f"member {self.member_id} is not admitted on this ledger")
        if record.revoked_at is not None:
            raise PermissionDenied(
                f"member {self.member_id} was revoked at entry {record.revoked_at} and may not report")
        if record.reporting_key != self.reporting_public_key:
            raise InvalidInput(
                f"the reporting key in {self.identity.path} is not the one admitted for {self.member_id}; "
                "use the identity folder issued at admission"
            )

    # -- building entries -------------------------------------------------------------------

    def subject_tag(self, subject_id: str) -> bytes:
        """The alliance pseudonym of a subject identifier (what the operator sees)."""
        return _subject_tag(self._subject_key, subject_id)

    def sign_entry(self, body: RingBody, subject_tag: bytes, *, timestamp_ms: int | None = None,
                   refresh: bool = True) -> bytes:
        """Ring-sign a report or retraction with the current ring; return the leaf bytes.

        `ring_change` is set to the membership change that defines the ring in the ledger
        this client verified (after a refresh); the timestamp is the current whole UTC hour
        (no finer clock is ever recorded); the link tag is tied to `subject_tag` (for a
        retraction: the original report's). Raises PermissionDenied if this member is not
        in the ring (revoked or not admitted).
        """
        with self._lock:
            if refresh:
                self.refresh()
            self._check_membership()
            keys, changed_at = self.ring()
        body = dataclasses.replace(body, ring_change=changed_at)
        ts = state.report_hour(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
        entry = e.LedgerEntry(body, timestamp_ms=ts)
        entry_bytes = wire.entry_to_bytes(entry)
        context = ring.RingContext(self.genesis_hash, changed_at, keys)
        coupon = self.coupons.take(context)  # recorded as spent before it signs
        if self._coupon_pool_size:
            self.coupons.start_background(context, self._coupon_pool_size)
        sig = ring.ring_sign(self._group, coupon, subject_tag, e.ENTRY_SIGNATURE_CONTEXT + entry_bytes)
        return wire.signed_entry_to_bytes(e.SignedEntry(entry_bytes, entry, ring_signature=sig.to_bytes()))

    def _record_spent_coupon(self, commitment: bytes) -> None:
        """Note a coupon as spent, durably, before it signs anything (`core.coupons` says why
        a coupon never signs twice): a line of hex per coupon, flushed and fsynced."""
        self.coupon_log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.coupon_log, "ab") as log:
            log.write(commitment.hex().encode() + b"\n")
            log.flush()
            os.fsync(log.fileno())

    def _generators(self, category: str) -> tuple[Generators, int]:
        gens: Generators = self.alliance.generators
        if category in self.categories:
            return gens, gens.category_index(category)
        # Only reachable with check=False: a registry extended by this one code, so that a
        # conformance test can send a well-formed report the ledger must refuse.
        extended = Generators(self._group, (*self.categories, category))
        return extended, extended.category_index(category)

    def check_report_input(self, category: str, tier: str | int, incident_date: str | _dt.date,
                           notice_date: str | _dt.date | None, today: _dt.date, *,
                           check: bool = True) -> tuple[int, str, str]:
        """(tier, incident date, notice date) of a report's input, parsed; with `check`, also
        the category against the registry and the ledger's own date rules, so that a caller
        hears them before any crypto runs (and `candor report import` before anything is sent)."""
        t = parse_tier(tier)
        date = parse_incident_date(incident_date)
        notice = today.isoformat() if notice_date is None else parse_incident_date(notice_date, "notice date")
        if not isinstance(category, str):
            raise InvalidInput(f"category must be a string, got {type(category).__name__}")
        if check:
            if category not in self.categories:
                raise InvalidInput(
                    f"category {category!r} is not in the registry; use one of {', '.join(self.categories)}")
            state.check_incident_date(date, today)
            state.check_notice_date(notice, date, today)
        return t, date, notice

    def _report_body(self, subject_id: str, category: str, tier: str | int, incident_date: str | _dt.date,
                     evidence: bytes, check: bool, now_ms: int,
                     notice_date: str | _dt.date | None = None) -> tuple[e.ReportCommitted, bytes]:
        today = _dt.datetime.fromtimestamp(now_ms / 1000, tz=_dt.timezone.utc).date()
        t, date, notice = self.check_report_input(category, tier, incident_date, notice_date, today, check=check)
        if not isinstance(evidence, bytes):
            raise InvalidInput("evidence must be bytes (only its SHA-256 digest leaves this machine)")
        tag = self.subject_tag(subject_id)
        gens, cat_index = self._generators(category)
        # Precomputed if the pool has some (no scalar multiplication left to do), else fresh:
        # drawing a set now would cost a dozen times what the plain proof does.
        nonces = self.nonces.take_ready() if gens is self.alliance.generators else None
        if nonces is None:
            r = random_scalar()
            c_point = commit(gens, category, t, r)
        else:
            r, c_point = nonces.r, nonces.commitment(gens, category, t)
        commitment = self._group.encode(c_point)
        rid = e.derive_report_id(commitment)
        stmt = ReportStatement(self.genesis_hash, rid, tag, category, date, commitment)
        proof = prove_validity(gens, stmt, t, r, commitment_point=c_point, nonces=nonces)
        ciphertext = encrypt_report(self.public_key, paillier.pack(r, slot(cat_index, t)), self.pool)
        body = e.ReportCommitted(
            report_id=rid, subject_tag=tag, category=category, incident_date=date,
            evidence_digest=hashlib.sha256(evidence).digest(), commitment=commitment,
            validity_proof=proof.to_bytes(), ciphertext=ciphertext,
            ring_change=1,  # set by sign_entry to the ring's membership change
            notice_date=notice,
        )
        return body, tag

    def prepare_report(self, subject_id: str, category: str, tier: str | int, incident_date: str | _dt.date,
                       evidence: bytes = b"", *, notice_date: str | _dt.date | None = None, check: bool = True,
                       refresh: bool = True) -> bytes:
        """Build and sign a ReportCommitted leaf without sending it.

        `tier` is a name (minor, general, serious, critical) or 0..3; `incident_date` a date
        or YYYY-MM-DD; `notice_date` the day the subject was told (docs/reports.md, "Notice";
        default today, UTC); `evidence` stays here, only its SHA-256 is recorded. The report id
        is derived from the commitment (to re-send a report, re-send its leaf).
        `check=False` skips the SDK's own checks that the ledger repeats (category
        registered, incident and notice dates in range) so conformance tests can exercise the server's
        refusals. `refresh=False` reuses the ledger view of the last refresh (benchmarks).
        Raises InvalidInput for bad input, PermissionDenied if this member cannot report.
        """
        now_ms = int(time.time() * 1000)
        body, tag = self._report_body(subject_id, category, tier, incident_date, evidence, check, now_ms,
                                      notice_date)
        return self.sign_entry(body, tag, timestamp_ms=now_ms, refresh=refresh)

    # -- sending and verifying --------------------------------------------------------------

    def _verify_receipt(self, resp: gov.Receipt, leaf: bytes) -> ReportReceipt:
        cp = self.verifier.accept(resp.checkpoint.note, self.conn, quorum=0)
        if resp.checkpoint.size != cp.size:
            raise VerificationError(
                f"receipt says checkpoint size {resp.checkpoint.size} but its signed note says {cp.size}"
            )
        digest = merkle.leaf_hash(leaf)
        if resp.leaf_hash != digest:
            raise VerificationError(
                f"receipt names leaf hash {resp.leaf_hash.hex()[:16]}…, but the entry hashes to "
                f"{digest.hex()[:16]}…: the operator stored something else"
            )
        receipt = ReportReceipt(leaf, resp.index, bytes(resp.checkpoint.note), tuple(resp.inclusion_proof))
        receipt.verify(self.verifier)
        self.receipted.add(receipt.report_id, receipt.index, cp, receipt.checkpoint)
        return receipt

    def escrow_signature(self, leaf: bytes) -> bytes:
        """This member's Ed25519 signature over "CANDOR-V1-ESCROW" ‖ genesis hash ‖
        SHA-256(entry bytes) of a report leaf: sent beside the entry, sealed by the operator."""
        signed = wire.signed_entry_from_bytes(leaf)
        return bytes(self._signing_key.sign(escrow_message(self.genesis_hash, signed.entry_bytes)))

    def _stored_leaf(self, resp: gov.Receipt, sent: bytes) -> bytes:
        """The leaf the operator stored for `sent`. For a report it must hold the very entry
        bytes and ring signature sent, with the operator's escrow beside them."""
        mine = wire.signed_entry_from_bytes(sent)
        if not isinstance(mine.entry.body, e.ReportCommitted):
            return sent
        try:
            stored = wire.signed_entry_from_bytes(resp.leaf)
        except InvalidInput as exc:
            raise VerificationError(f"the operator's receipt carries no valid leaf: {exc}") from None
        if (stored.entry_bytes, stored.ring_signature) != (mine.entry_bytes, mine.ring_signature) or \
                stored.escrow is None:
            raise VerificationError("the operator stored another entry than the report sent, or no escrow beside it")
        return bytes(resp.leaf)

    def submit_prepared(self, leaf: bytes) -> ReportReceipt:
        """Send a prepared report or retraction leaf once; return its verified receipt.

        A report goes with this member's escrow signature. Errors are raised as they come
        (a replay: AlreadyExists); `submit_report` adds the retries.
        """
        signed = wire.signed_entry_from_bytes(leaf)
        body = signed.entry.body
        if isinstance(body, e.ReportCommitted):
            request = gov.SubmitEntryRequest(signed_entry=leaf, escrow_signature=self.escrow_signature(leaf))
            resp = self.conn.call(self.conn.reporting.SubmitReport, request)
        elif isinstance(body, e.ReportRetracted):
            resp = self.conn.call(self.conn.reporting.RetractReport, gov.SubmitEntryRequest(signed_entry=leaf))
        else:
            raise InvalidInput(f"a member submits reports and retractions, not {signed.entry.kind}")
        return self._verify_receipt(resp, self._stored_leaf(resp, leaf))

    def _send_identical(self, leaf: bytes) -> ReportReceipt:
        """Send `leaf`, resending the identical bytes while the operator is unavailable; a
        replay of a report already stored is answered with that report's verified receipt."""
        body = wire.signed_entry_from_bytes(leaf).entry.body
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                return self.submit_prepared(leaf)
            except AlreadyExists:
                if not isinstance(body, e.ReportCommitted):
                    raise
                return self._fetch_report(body.report_id)[0]  # its id is derived from our commitment
            except Unavailable:
                if attempt + 1 == SUBMIT_ATTEMPTS:
                    raise
                time.sleep(_RETRY_PAUSE * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _pending_path(self, leaf: bytes) -> Path | None:
        body = wire.signed_entry_from_bytes(leaf).entry.body
        return self.pending_dir / f"{body.report_id.hex()}.leaf" if isinstance(body, e.ReportCommitted) else None

    def _submit_with_resign(self, leaf: bytes, resign: Callable[[], bytes]) -> ReportReceipt:
        """Submit, keeping a report's signed bytes in `pending/` until its receipt verifies;
        if the member set changed after our checkpoint, re-sign (same report id) and retry."""
        for attempt in range(SUBMIT_ATTEMPTS):
            path = self._pending_path(leaf)
            if path is not None:
                self.pending_dir.mkdir(parents=True, exist_ok=True)
                path.write_bytes(leaf)
            try:
                receipt = self._send_identical(leaf)
            except Unavailable:
                raise  # the bytes stay pending: `resend_pending` sends them again
            except StaleRing:
                if attempt + 1 == SUBMIT_ATTEMPTS:
                    self._forget(path)
                    raise
                time.sleep(_RETRY_PAUSE)  # the checkpoint covering the change is on its way
                leaf = resign()
                continue
            except CandorError:
                self._forget(path)
                raise
            self._forget(path)
            return receipt
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _forget(path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)

    def resend_pending(self) -> list[ReportReceipt]:
        """Send again, byte for byte, every report whose receipt never came back (after a
        crash or an Unavailable); return the verified receipts. A report the ledger already
        holds returns its receipt (the operator cannot turn one report into two)."""
        receipts = []
        for path in sorted(self.pending_dir.glob("*.leaf")) if self.pending_dir.is_dir() else []:
            receipts.append(self._submit_report_leaf(path.read_bytes(), str(path)))
        return receipts

    def _submit_report_leaf(self, leaf: bytes, source: str = "the leaf") -> ReportReceipt:
        """`_submit_with_resign` for a report leaf: if its ring changed, it is re-signed (same
        report id) from its own body."""
        body = wire.signed_entry_from_bytes(leaf).entry.body
        if not isinstance(body, e.ReportCommitted):
            raise InvalidInput(f"{source} holds a {type(body).__name__}, not a report; remove it")
        return self._submit_with_resign(leaf, functools.partial(self.sign_entry, body, body.subject_tag))

    def submit_report(self, subject_id: str, category: str, tier: str | int, incident_date: str | _dt.date,
                      evidence: bytes = b"", *, notice_date: str | _dt.date | None = None) -> ReportReceipt:
        """Report subject `subject_id` for `category` at `tier`, incident ended `incident_date`,
        subject told on `notice_date` (default today, UTC; the ledger refuses a day after the
        report's or before the incident).

        Returns the verified receipt. Raises InvalidInput (bad input, or refused by the
        ledger), PermissionDenied (not an admitted, unrevoked member), AlreadyExists,
        ResourceExhausted, Unavailable, or VerificationError if the operator's receipt does
        not verify (the report may then be on the ledger: check with `receipt`).
        """
        return self._submit_report_leaf(
            self.prepare_report(subject_id, category, tier, incident_date, evidence, notice_date=notice_date))

    def submit_reports(self, reports: Sequence[ReportSpec]) -> list[ReportReceipt | CandorError]:
        """Report many subjects on one `SubmitReports` stream; for each, in order, its verified
        receipt or why it was refused (nothing is raised for one report).

        Each report is prepared, kept in `pending/` and answered exactly as `submit_report`
        would be: a replay of a report already stored gets that report's receipt, a report
        signed before a membership change is re-signed and sent again alone, and a report
        whose answer never came (Unavailable, a broken stream) stays pending for
        `resend_pending`. Raises only before sending (bad input, PermissionDenied)."""
        leaves = [self.prepare_report(r.subject_id, r.category, r.tier, r.incident_date, r.evidence,
                                      notice_date=r.notice_date) for r in reports]
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        paths = [self._pending_path(leaf) for leaf in leaves]
        for path, leaf in zip(paths, leaves):
            assert path is not None
            path.write_bytes(leaf)
        outcomes: list[ReportReceipt | CandorError] = [
            Unavailable("the stream ended before this report was answered; it stays pending: "
                        "`candor report resend` sends it again")] * len(leaves)
        requests = (gov.SubmitEntryRequest(signed_entry=leaf, escrow_signature=self.escrow_signature(leaf))
                    .SerializeToString() for leaf in leaves)
        messages = (gov.SubmitReportsRequest(reports=chunk) for chunk in wire.report_messages(requests))
        answered: set[int] = set()
        try:
            for message in self.conn.stream(self.conn.reporting.SubmitReports, messages,
                                            timeout=self.conn.timeout + STREAM_SECONDS_PER_REPORT * len(leaves)):
                for result in message.results:
                    if result.position >= len(leaves) or result.position in answered:
                        raise VerificationError(f"the operator answered report position {result.position} of a "
                                                f"stream of {len(leaves)}, which it was not sent or already answered")
                    answered.add(result.position)
                    outcomes[result.position] = self._stream_outcome(result, leaves[result.position])
        except Unavailable:
            pass  # what was not answered stays pending, as after a lost unary answer
        for path, outcome in zip(paths, outcomes):
            if not isinstance(outcome, Unavailable):
                self._forget(path)
        return outcomes

    def _stream_outcome(self, result: gov.SubmitResult, leaf: bytes) -> ReportReceipt | CandorError:
        """What `_submit_with_resign` would have made of this report's answer."""
        try:
            if result.HasField("receipt"):
                return self._verify_receipt(result.receipt, self._stored_leaf(result.receipt, leaf))
            error = error_for(result.refusal.code, result.refusal.message)
            body = wire.signed_entry_from_bytes(leaf).entry.body
            assert isinstance(body, e.ReportCommitted)  # submit_reports prepared it
            if isinstance(error, AlreadyExists):
                return self._fetch_report(body.report_id)[0]
            if isinstance(error, StaleRing):
                return self._submit_report_leaf(self.sign_entry(body, body.subject_tag))  # re-signed at once
            return error
        except CandorError as exc:
            return exc

    def _fetch_report(self, report_id: bytes) -> tuple[ReportReceipt, e.SignedEntry, e.ReportCommitted]:
        resp = self.conn.call(self.conn.reporting.GetReceipt, gov.GetReceiptRequest(report_id=report_id))
        leaves = self.conn.entries(resp.index, resp.index + 1)
        receipt = self._verify_receipt(resp, leaves[0])
        signed = wire.signed_entry_from_bytes(leaves[0])
        body = signed.entry.body
        if not isinstance(body, e.ReportCommitted) or body.report_id != report_id:
            raise VerificationError(
                f"the operator's receipt for report {report_id.hex()} points at entry {resp.index}, "
                f"which is a {signed.entry.kind} of another report"
            )
        return receipt, signed, body

    def receipt(self, report_id: str | bytes) -> ReportReceipt:
        """The verified receipt of a report already on the ledger (any member's)."""
        return self._fetch_report(parse_report_id(report_id))[0]

    def prepare_retraction(self, report_id: str | bytes, reason: str = "") -> bytes:
        """A ReportRetracted leaf for one of this member's reports, ring-signed with the
        current ring and the original report's link tag. PermissionDenied if the report's
        link tag is not this member's (only the original reporter can retract)."""
        rid = parse_report_id(report_id)
        _, signed, body = self._fetch_report(rid)
        assert signed.ring_signature is not None  # a decoded report always carries one
        original = ring.RingSignature.from_bytes(signed.ring_signature).link_tag
        if ring.link_tag(self._reporting_key, body.subject_tag, self._group) != original:
            raise PermissionDenied(
                f"report {rid.hex()} was not made by member {self.member_id} (its link tag is another "
                "member's); only the original reporter can retract it"
            )
        return self.sign_entry(e.ReportRetracted(rid, ring_change=1, reason=reason), body.subject_tag)

    def retract_report(self, report_id: str | bytes, reason: str = "") -> ReportReceipt:
        """Retract one of this member's reports; return the retraction's verified receipt."""
        rid = parse_report_id(report_id)
        leaf = self.prepare_retraction(report_id, reason)

        def resign() -> bytes:
            return self.prepare_retraction(rid, reason)

        return self._submit_with_resign(leaf, resign)
