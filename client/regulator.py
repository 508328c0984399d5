"""The regulator's SDK: every governance entry, signed here and receipted (docs/architecture.md),
and opening a report's escrow, in public (docs/reports.md).

`Regulator` builds and signs each entry the regulator appends (admissions and revocations of
members, rule sets, dispute decisions, subject enrolments and access grants, investigations,
escrow openings, faults) and returns the receipt only once it verified it against a
checkpoint `LogVerifier.accept` believed. A new member's or subject's identity folder
(client/issuing.py) appears under its name only once the ledger accepted its entry.

Every report's leaf carries an escrow that the operator sealed to the regulator's X25519
key: the id of the member that submitted it and that member's Ed25519 signature over the
entry. `Regulator.open_escrow` is the only way this code base opens one, and it keeps the
order that makes every opening visible:

1. append EscrowOpened (report id, the reason) signed by the regulator, and verify its
   receipt. The ledger refuses it unless the reason is an open dispute on that report, or
   a FraudFound naming it, or an InvestigationAuthorised of its subject covering it; then
   nothing is decrypted;
2. only then fetch the report's leaf (inclusion-checked against an operator-signed
   checkpoint) and open the escrow under the genesis hash and the exact entry bytes;
3. check the member signature inside against the key the regulator itself admitted that
   member with (its own signature on the MemberAdmitted entry). If the escrow does not
   open, holds no member id, or the signature does not verify, the operator sealed
   something it must not have: append OperatorFaulted (report id, what failed).

The operator cannot frame a member (it never holds a member's escrow signature for
another entry), and a member cannot escrow garbage (the operator checks the signature
against the member it authenticated before sealing). The regulator key and the escrow
key never leave this process; no plaintext is logged.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from api import wire
from api.identity import Identity
from api.v1 import governance_pb2 as gov
from client import issuing
from client.connection import Connection
from client.receipt import Receipt
from client.verifier import LogVerifier
from core import entries as e
from core import escrow, state
from core.alliance import public_key_of
from core.errors import InvalidInput, NotFound, VerificationError
from core.rules import RuleSet, canonical_toml
from core.signing import VerifyKey, key_id
from core.subject import subject_tag

PAGE = 1000


def regulator_leaf(regulator: Identity | Path, body: e.Body) -> bytes:
    """A leaf holding `body`, timestamped now and signed with the regulator's Ed25519 key."""
    identity = regulator if isinstance(regulator, Identity) else Identity.load(regulator)
    return wire.sign_leaf(e.LedgerEntry(body, timestamp_ms=int(time.time() * 1000)), identity.signing_key())


@dataclass(frozen=True)
class EscrowOpening:
    """What opening a report's escrow showed, and the ledger entries that record it."""

    report_id: str
    reason: str
    opened_index: int
    """Index of the EscrowOpened entry (appended before anything was decrypted)."""
    member_id: str | None
    """The member that submitted the report, if the escrow opened and held a member id."""
    signature_valid: bool
    """The member's escrow signature over this entry verifies under its admitted key."""
    failure: str | None = None
    """What did not hold, if anything (then `fault_index` names the OperatorFaulted entry)."""
    fault_index: int | None = None


class Regulator:
    """The regulator's client: signs its own entries, verifies receipts, opens escrows.

    `Regulator(identity, address=None)`: `identity` is the regulator's folder from `candor
    alliance init` (mTLS certificate, Ed25519 key, X25519 escrow key, pinned genesis).
    """

    def __init__(self, identity: Identity, address: str | None = None, *, timeout: float = 60.0) -> None:
        if identity.role != "regulator":
            raise InvalidInput(f"the Regulator SDK needs the regulator's identity folder; {identity.path} is a "
                               f"{identity.role}")
        self.identity = identity
        self.verifier = LogVerifier(identity.genesis_leaf())
        self.alliance = self.verifier.alliance
        self.conn = Connection(identity, address, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Regulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- appending -------------------------------------------------------------------------

    def append(self, rpc: str, body: e.Body, *, accepted: Callable[[], None] | None = None) -> Receipt:
        """Sign `body`, send it with GovernanceService `rpc`, return the verified receipt.
        `accepted` runs as soon as the operator has appended the entry (before the receipt is
        checked)."""
        leaf = regulator_leaf(self.identity, body)
        resp = self.conn.call(getattr(self.conn.governance, rpc), gov.SubmitEntryRequest(signed_entry=leaf))
        if accepted is not None:
            accepted()
        self.verifier.accept(resp.checkpoint.note, self.conn, quorum=0)
        receipt = Receipt(leaf, resp.index, bytes(resp.checkpoint.note), tuple(resp.inclusion_proof))
        receipt.verify(self.verifier)
        return receipt

    def _issue(self, rpc: str, target: Path, write: Callable[[Path], e.Body]) -> Receipt:
        """Write a new party's folder in staging (`write` returns the entry that admits it),
        append that entry, and move the folder to `target` only once the ledger accepted it:
        nothing CA-signed stays behind a refused entry (client/issuing.py)."""
        staging = issuing.staging_folder(target)
        try:
            return self.append(rpc, write(staging), accepted=lambda: os.replace(staging, target))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- members, rules, disputes ------------------------------------------------------------

    def admit_member(self, name: str, folder: Path | None = None) -> tuple[Path, Receipt]:
        """Create member `name`'s identity folder (default: `member-<name>` beside the
        regulator's) and append MemberAdmitted; return (the folder to hand over, the receipt)."""
        e.check_member_id(name)
        target = folder or self.identity.path.parent / f"member-{name}"
        receipt = self._issue("AdmitMember", target, partial(issuing.member_folder, self.identity, name))
        return target, receipt

    def revoke_member(self, member_id: str, reason: str) -> Receipt:
        """Append MemberRevoked: the member can no longer report, from the next entry on."""
        return self.append("RevokeMember", e.MemberRevoked(member_id, reason))

    def publish_rules(self, rules: RuleSet) -> Receipt:
        """Append RuleSetPublished with the canonical text of `rules` (docs/rules.md)."""
        return self.append("PublishRules", e.RuleSetPublished(rules.version, rules.effective_from.isoformat(),
                                                              canonical_toml(rules)))

    def resolve_dispute(self, dispute_id: str | bytes, outcome: str, annotation: str = "") -> Receipt:
        """Append DisputeResolved: `outcome` is uphold, retract or annotate."""
        return self.append("ResolveDispute", e.DisputeResolved(_id16(dispute_id, "dispute id"), outcome, annotation))

    # -- subjects (docs/subjects.md) ----------------------------------------------------------

    def subject_tag(self, subject: str | bytes) -> bytes:
        """A subject's tag: the anchor's id under the alliance subject key, or the tag itself."""
        return subject if isinstance(subject, bytes) else subject_tag(self.identity.hex_file("subject.key"), subject)

    def enrol_subject(self, subject_id: str, folder: Path) -> tuple[bytes, Receipt]:
        """Create the anchor's identity folder at `folder` (bound to its subject tag, never its
        raw id) and append SubjectEnrolled; return (its subject tag, the receipt)."""
        receipt = self._issue("EnrolSubject", folder, partial(issuing.subject_folder, self.identity, subject_id))
        return self.subject_tag(subject_id), receipt

    def revoke_subject(self, subject: str | bytes, reason: str) -> Receipt:
        """Append SubjectRevoked: the subject's enrolment ends (it can be enrolled again)."""
        return self.append("RevokeSubject", e.SubjectRevoked(self.subject_tag(subject), reason))

    def authorise_subject_access(self, subject: str | bytes, reason: str) -> Receipt:
        """Append SubjectAccessAuthorised: at the next rating epoch each report's designated
        combiner seals its tier to the subject if the report opens its own commitment."""
        return self.append("AuthoriseSubjectAccess", e.SubjectAccessAuthorised(self.subject_tag(subject), reason))

    # -- reading ---------------------------------------------------------------------------

    def _report_leaf(self, report_id: bytes) -> tuple[int, e.SignedEntry]:
        """The stored leaf of a report, inclusion-checked against an operator-signed checkpoint."""
        resp = self.conn.call(self.conn.reporting.GetReceipt, gov.GetReceiptRequest(report_id=report_id))
        (leaf,) = self.conn.entries(resp.index, resp.index + 1) or [b""]
        cp = self.verifier.accept(resp.checkpoint.note, self.conn, quorum=0)
        self.verifier.verify_inclusion(leaf, resp.index, resp.inclusion_proof, cp)
        signed = wire.signed_entry_from_bytes(leaf)
        body = signed.entry.body
        if not isinstance(body, e.ReportCommitted) or body.report_id != report_id:
            raise VerificationError(f"entry {resp.index} is not report {report_id.hex()}; the operator's receipt "
                                    "points elsewhere")
        return resp.index, signed

    def member_key(self, member_id: str, before: int) -> bytes:
        """The Ed25519 key this regulator admitted `member_id` with, from the first `before`
        entries: the MemberAdmitted entry must carry the regulator's own signature."""
        regulator_key = self.alliance.genesis.regulator_key
        for start in range(1, before, PAGE):
            for leaf in self.conn.entries(start, min(before, start + PAGE)):
                signed = wire.signed_entry_from_bytes(leaf)
                body = signed.entry.body
                if not isinstance(body, e.MemberAdmitted) or body.member_id != member_id:
                    continue
                sig = signed.signature
                if sig is None or sig.key_id != key_id(regulator_key):
                    raise VerificationError(f"the admission of member {member_id} is not signed by this regulator")
                VerifyKey.from_bytes(regulator_key).verify(signed.signed_message(), sig.signature)
                return body.signing_key
        raise NotFound(f"no member {member_id} was admitted before entry {before}")

    # -- escrow ----------------------------------------------------------------------------

    def open_escrow(self, report_id: str | bytes, reason: str) -> EscrowOpening:
        """Open a report's escrow for `reason` ("dispute:<dispute id hex>" or
        "investigation:<index of the FraudFound or InvestigationAuthorised entry>").

        EscrowOpened is appended first (the ledger refuses an unjustified reason: NotFound,
        Conflict or PermissionDenied, and nothing is decrypted); then the escrow is opened
        and checked, and OperatorFaulted is appended if it does not hold.
        """
        rid = _id16(report_id, "report id")
        opened = self.append("OpenEscrow", e.EscrowOpened(rid, reason))
        index, signed = self._report_leaf(rid)
        genesis_hash = self.alliance.genesis_hash
        member_id: str | None = None
        failure: str | None = None
        if signed.escrow is None:
            failure = "the report's leaf carries no escrow"
        else:
            try:
                member_id, signature = escrow.open_report_escrow(
                    self.identity.hex_file("escrow.key"), genesis_hash, signed.entry_bytes, signed.escrow)
                VerifyKey.from_bytes(self.member_key(member_id, index)).verify(
                    escrow.escrow_message(genesis_hash, signed.entry_bytes), signature)
            except (VerificationError, NotFound) as exc:
                failure = f"escrow of report {rid.hex()} does not hold: {exc}"
        if failure is None:
            return EscrowOpening(rid.hex(), reason, opened.index, member_id, True)
        fault = self.append("RecordOperatorFault", e.OperatorFaulted(rid, failure[:1024]))
        return EscrowOpening(rid.hex(), reason, opened.index, member_id, False, failure, fault.index)

    # -- investigations --------------------------------------------------------------------

    def authorise_investigation(self, subject: str | bytes, reason: str) -> Receipt:
        """Append InvestigationAuthorised for the subject at the size L of its newest
        RatingHeld (the ledger refuses it unless that held request is the subject's newest
        and unresolved). `subject`: the anchor's id, or its tag."""
        tag = self.subject_tag(subject)
        end = self.conn.checkpoint().size
        while end > 1:
            start = max(1, end - PAGE)
            for leaf in reversed(self.conn.entries(start, end)):
                body = wire.signed_entry_from_bytes(leaf).entry.body
                if isinstance(body, e.RatingHeld) and body.subject_tag == tag:
                    return self.append("AuthoriseInvestigation", e.InvestigationAuthorised(tag, reason,
                                                                                         body.ledger_size))
            end = start
        raise NotFound("this subject's rating was never held: only a held subject (RatingHeld) is investigated")

    def conclude_investigation(self, subject: str | bytes) -> Conclusion:
        """Conclude the subject's open investigation from its last judged step
        (docs/ratings.md, "Investigations"). After re-verifying the whole ledger, open both
        combiners' evidence (sealed to this regulator's escrow key), re-check each: t shares
        that verify, their combination is the plaintext given, and the plaintext does or does
        not open the step's commitments as the combiner signed. A combiner whose evidence
        fails is named in CombinerFaulted (never designated again). If the bisection names a
        single report and valid evidence shows it does not open its commitment, append
        FraudFound (which consumes the authorisation). `subject`: the anchor's id, or its tag.
        Nothing decrypted is logged or returned."""
        return _conclude(self, subject)

    def withheld_tiers(self, subject: str | bytes) -> list[Withheld]:
        """Every report of the subject whose tier was withheld under subject access because it
        did not open its own commitment: after re-verifying the whole ledger, open each
        combiner's evidence (sealed to this regulator's escrow key) and re-check it
        (`core.access.check_evidence`). Nothing decrypted is logged or returned."""
        return _withheld(self, subject)


@dataclass(frozen=True)
class Withheld:
    """A report whose tier was withheld from its subject (docs/subjects.md, "Your tiers"):
    the combiner's sealed evidence, re-checked by the regulator (`checked`), or why it fails."""

    report_id: str
    index: int
    served_at: int
    combiner: int
    checked: bool
    failure: str = ""


@dataclass(frozen=True)
class Conclusion:
    """What the regulator concluded from the last judged step of an investigation."""

    authorisation: int
    step: int
    verdict: str
    report_id: str | None = None
    """The report found fraudulent (then `fraud_index` names the FraudFound entry)."""
    fraud_index: int | None = None
    faulted: tuple[tuple[int, str, int], ...] = ()
    """(combiner, what failed, CombinerFaulted entry index) for each combiner whose evidence failed."""


def _replayed(regulator: Regulator) -> tuple[state.StateView, list[bytes]]:
    """The whole ledger up to the newest accepted checkpoint, every entry re-verified and
    the root checked, with its leaves: what the regulator acts on before it judges evidence."""
    from client.audit import check_root, replay

    cp = regulator.verifier.accept(regulator.conn.checkpoint().note, regulator.conn, quorum=0)
    leaves: list[bytes] = []
    while len(leaves) < cp.size:
        leaves += regulator.conn.entries(len(leaves), min(cp.size, len(leaves) + PAGE))
    view, report = replay(leaves)
    check_root(report, cp.size, cp.root_hash)
    return view, leaves


def _conclude(regulator: Regulator, subject: str | bytes) -> Conclusion:
    """`Regulator.conclude_investigation` (docs/ratings.md, "Investigations")."""
    from core import investigation, paillier, rating
    from core.errors import Conflict

    tag = regulator.subject_tag(subject)
    view, leaves = _replayed(regulator)
    record = state.open_investigation(view, tag)
    if record is None:
        raise NotFound("no investigation of this subject is open: authorise one first (`candor investigate`)")
    if not record.judged:
        raise Conflict(f"investigation {record.index} has no judged step yet: run an epoch first")
    last = record.judged[-1]
    step = wire.signed_entry_from_bytes(leaves[last.index]).entry.body
    assert isinstance(step, e.InvestigationStep)
    ally = regulator.alliance
    pub = public_key_of(ally.genesis)
    chosen = state.investigation_chosen(record, step.subset)
    reports: list[e.ReportCommitted] = []
    for index, _w in chosen:
        body = wire.signed_entry_from_bytes(leaves[index]).entry.body
        assert isinstance(body, e.ReportCommitted)
        reports.append(body)
    weights = [w for _, w in chosen]
    ciphertext = paillier.aggregate(pub.phe(), [r.ciphertext for r in reports], weights)
    digest = rating.set_digest(chosen)
    key = regulator.identity.hex_file("escrow.key")
    opens: dict[int, bool] = {}
    failures: dict[int, str] = {}
    for combiner, claim, sealed in zip(step.combiners, step.claims, step.evidence):
        aad = investigation.evidence_aad(ally.genesis_hash, step.authorisation, tag, step.ledger_size, step.step,
                                         digest, combiner)
        try:
            evidence = investigation.open_evidence(key, aad, sealed)
            if evidence.opens != claim:
                raise VerificationError(f"combiner {combiner}'s evidence contradicts its signed verdict")
            opens[combiner] = investigation.check_evidence(ally.generators, pub, ciphertext,
                                                           [r.commitment for r in reports], weights, evidence,
                                                           combiner)
        except VerificationError as exc:
            failures[combiner] = str(exc)
    faulted = []
    for combiner, failure in sorted(failures.items()):
        entry = regulator.append("RecordCombinerFault",
                                 e.CombinerFaulted(combiner, step.authorisation, step.step, failure[:1024]))
        faulted.append((combiner, failure, entry.index))
    conclusion = Conclusion(step.authorisation, step.step, step.verdict, faulted=tuple(faulted))
    culprit = record.culprit
    if culprit is None or step.subset != (culprit,) or not any(not v for v in opens.values()):
        return conclusion
    fraud = regulator.append("RecordFraud", e.FraudFound(
        reports[0].report_id, tag, f"entry {culprit}: its ciphertext does not decrypt to what its commitment opens "
        f"to (investigation {step.authorisation}, step {step.step}; evidence of trustees "
        f"{sorted(c for c, v in opens.items() if not v)} re-checked by the regulator)"))
    return dataclasses.replace(conclusion, report_id=reports[0].report_id.hex(), fraud_index=fraud.index)


def _withheld(regulator: Regulator, subject: str | bytes) -> list[Withheld]:
    """`Regulator.withheld_tiers`."""
    from core import access

    tag = regulator.subject_tag(subject)
    _view, leaves = _replayed(regulator)
    ally = regulator.alliance
    pub = public_key_of(ally.genesis)
    key = regulator.identity.hex_file("escrow.key")
    out = []
    for at, leaf in enumerate(leaves):
        body = wire.signed_entry_from_bytes(leaf, check_canonical=False).entry.body
        if not isinstance(body, e.SubjectAccessServed) or body.subject_tag != tag or body.opens:
            continue
        reported = wire.signed_entry_from_bytes(leaves[body.report], check_canonical=False).entry.body
        assert isinstance(reported, e.ReportCommitted)  # the ledger admitted the entry only so
        try:
            evidence = access.open_evidence(key, access.evidence_aad(ally.genesis_hash, body.authorisation, tag,
                                                                     body.report, body.combiner), body.sealed)
            access.check_evidence(ally.generators, pub, reported.ciphertext, reported.category, reported.commitment,
                                  evidence, body.combiner)
            out.append(Withheld(reported.report_id.hex(), body.report, at, body.combiner, True))
        except VerificationError as exc:
            out.append(Withheld(reported.report_id.hex(), body.report, at, body.combiner, False, str(exc)))
    return out


def _id16(value: str | bytes, what: str) -> bytes:
    """A report or dispute id as 16 bytes, from 32 hex digits (or the bytes themselves)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise InvalidInput(f"{what} {value!r} must be 32 hex digits (16 bytes)")
        value = bytes.fromhex(value)
    e.check_len(value, 16, what)
    return value
