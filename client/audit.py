"""`candor audit`: rebuild everything from genesis and compare (DESIGN §3).

The auditor downloads the whole ledger, recomputes every leaf hash and the root, checks
the root against a checkpoint the operator signed (and the witnesses cosigned), and replays
every entry through the same `core.state.apply` the operator ran, with every signature,
ring signature and proof re-verified — every RatingRequested against the update rule and
every RatingPublished through the same `core.rating.check_publication` (publication proof,
combiner signature, grade) that the ledger and the member SDK run (docs/ratings.md). The
first entry that fails is named; nothing is trusted because the operator said so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from candor import wire
from core import entries as e
from core import merkle, state
from core.errors import CandorError, VerificationError

Progress = Callable[[int, int], None]


class AuditFailure(VerificationError):
    """The ledger does not replay: `index` is the first entry that fails (-1: the tree)."""

    def __init__(self, index: int, reason: str) -> None:
        where = f"entry {index}" if index >= 0 else "the tree"
        super().__init__(f"audit failed at {where}: {reason}")
        self.index = index
        self.reason = reason


@dataclass
class AuditReport:
    size: int
    root: bytes
    kinds: dict[str, int] = field(default_factory=dict)
    members: int = 0
    reports: int = 0
    retracted: int = 0


BATCH = 256


def _batch_verify(ally: state.Alliance, view: state.StateView, batch: list[tuple[int, e.SignedEntry]]) -> bool:
    """Verify the ring signatures and validity proofs of consecutive reports in two MSMs.

    No membership change lies between them (the caller flushes before any other entry), so
    they share the current ring. True if all verify; False sends the caller back to
    entry-by-entry replay, which names the first failing entry precisely.
    """
    from core.group import default_group
    from core.proofs import ReportStatement, ValidityProof, batch_verify_validity
    from core.ring import RingSignature, batch_ring_verify

    ring, _ = state.current_ring(view)
    proofs = []
    rings = []
    try:
        for _index, signed in batch:
            body = signed.entry.body
            assert isinstance(body, e.ReportCommitted) and signed.ring_signature is not None
            state.check_report(ally, body)  # the core's own checks; a refusal falls back to replay
            proofs.append((ReportStatement(ally.genesis_hash, body.report_id, body.subject_tag, body.category,
                                           body.incident_date, body.commitment),
                           ValidityProof.from_bytes(body.validity_proof)))
            rings.append((ring, body.subject_tag, signed.signed_message(), RingSignature.from_bytes(signed.ring_signature)))
        batch_verify_validity(ally.generators, proofs)
        batch_ring_verify(default_group(), rings)
    except CandorError:
        return False
    return True


def replay(leaves: Sequence[bytes], progress: Progress | None = None) -> tuple[state.MemoryState, AuditReport]:
    """Re-validate every entry from genesis; raise AuditFailure naming the first bad one.

    Runs of consecutive reports have their ring signatures and proofs verified in batches
    (one multi-scalar multiplication each); every other check runs entry by entry through
    `core.state.apply`, the very code the operator ran before appending.
    """
    view = state.MemoryState()
    tree = merkle.CompactRange()
    ally: state.Alliance | None = None
    report = AuditReport(size=len(leaves), root=b"")
    pending: list[tuple[int, e.SignedEntry]] = []

    def apply(index: int, signed: e.SignedEntry, verify: bool) -> None:
        try:
            updates = state.apply(view, ally, index, signed, verify=verify)
        except CandorError as exc:
            raise AuditFailure(index, str(exc)) from None
        view.update(updates)
        report.kinds[signed.entry.kind] = report.kinds.get(signed.entry.kind, 0) + 1

    def flush() -> None:
        verified = ally is not None and _batch_verify(ally, view, pending)
        for index, signed in pending:
            apply(index, signed, verify=not verified)
        pending.clear()

    for index, leaf in enumerate(leaves):
        try:
            signed = wire.signed_entry_from_bytes(leaf)
        except CandorError as exc:
            flush()
            raise AuditFailure(index, str(exc)) from None
        tree.append(merkle.leaf_hash(leaf))
        if index > 0 and isinstance(signed.entry.body, e.ReportCommitted) and signed.ring_signature is not None:
            pending.append((index, signed))
            if len(pending) >= BATCH:
                flush()
        else:
            flush()
            apply(index, signed, verify=True)
            if index == 0:
                ally = state.alliance_of(signed, merkle.leaf_hash(leaf))
        if progress is not None and (index % 256 == 0 or index + 1 == len(leaves)):
            progress(index + 1, len(leaves))
    flush()
    report.root = tree.root()
    for _key, raw in view.scan("member/"):
        report.members += 1
    for _key, raw in view.scan("report/"):
        report.reports += 1
        report.retracted += b'"retracted_at":null' not in raw
    return view, report


def check_root(report: AuditReport, checkpoint_size: int, checkpoint_root: bytes) -> None:
    if report.size != checkpoint_size:
        raise AuditFailure(-1, f"downloaded {report.size} entries but the checkpoint says {checkpoint_size}")
    if report.root != checkpoint_root:
        raise AuditFailure(-1, "the entries hash to a different root than the signed checkpoint: "
                               "the stored entries were altered after they were checkpointed")
