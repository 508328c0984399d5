"""`candor audit`: rebuild everything from genesis and compare (DESIGN §3).

The auditor downloads the whole ledger, recomputes every leaf hash and the root, checks
the root against a checkpoint the operator signed (and the witnesses cosigned), and replays
every entry through the same `core.state.apply` the operator ran, with every signature,
ring signature and proof re-verified. The first entry that fails is named; nothing is
trusted because the operator said so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from candor import wire
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


def replay(leaves: Sequence[bytes], progress: Progress | None = None) -> tuple[state.MemoryState, AuditReport]:
    """Re-validate every entry from genesis; raise AuditFailure naming the first bad one."""
    view = state.MemoryState()
    tree = merkle.MemoryTree()
    ally: state.Alliance | None = None
    report = AuditReport(size=len(leaves), root=b"")
    for index, leaf in enumerate(leaves):
        try:
            signed = wire.signed_entry_from_bytes(leaf)
            updates = state.apply(view, ally, index, signed, verify=True)
            if index == 0:
                ally = state.alliance_of(signed, merkle.leaf_hash(leaf))
        except CandorError as exc:
            raise AuditFailure(index, str(exc)) from None
        view.update(updates)
        tree.append(leaf)
        report.kinds[signed.entry.kind] = report.kinds.get(signed.entry.kind, 0) + 1
        if progress is not None and (index % 256 == 0 or index + 1 == len(leaves)):
            progress(index + 1, len(leaves))
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
