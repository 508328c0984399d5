"""The checkpoints a member's receipts rest on, kept across runs (docs/operations.md,
"Receipts survive the session").

A receipt's checkpoint is signed by the operator but often not yet cosigned, so the
verifier's persisted head (which needs the witness quorum) may lag behind it. If the
operator then rolls its ledger back (a restore from backup) to before a receipted report,
a client that only remembers its head would not notice. So every receipt's checkpoint is
written to `receipts.state` beside `verifier.state`, and on each later run the member SDK
hands every remembered checkpoint to its `LogVerifier.accept` (client/verifier.py), after
the operator's current one: the log must prove it consistent with what this run verified
(RFC 9162), by the same fork and rollback rules as any checkpoint. A failure is a
VerificationError naming the report whose receipt the ledger no longer honours.

Each remembered checkpoint is checked once per session (the verifier then keeps every later
checkpoint consistent with it, or with a larger one). It is dropped once the verifier's
persisted (cosigned) head covers it: from then on the head's own rollback check protects it.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from api.identity import write_private
from client.verifier import LogProofs, LogVerifier
from core.checkpoint import Checkpoint
from core.errors import InvalidInput, NotFound, VerificationError


@dataclass(frozen=True)
class Receipted:
    report_id: bytes
    index: int
    size: int
    note: bytes


class ReceiptLog:
    """`ReceiptLog(path)`: remember receipted checkpoints (`add`), check them (`check`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Checked this session (or added by it): the verifier's own consistency chain covers them from now on.
        self._checked: set[tuple[bytes, int]] = set()

    def _load(self) -> list[Receipted]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            return [Receipted(bytes.fromhex(r["report_id"]), int(r["index"]), int(r["size"]),
                              base64.b64decode(r["note"])) for r in data["receipts"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{self.path} is damaged ({exc}); it records the checkpoints your receipts rest on: "
                               "restore it from a backup of this folder") from None

    def _save(self, records: list[Receipted]) -> None:
        write_private(self.path, json.dumps(
            {"receipts": [{"report_id": r.report_id.hex(), "index": r.index, "size": r.size,
                           "note": base64.b64encode(r.note).decode()} for r in records]}).encode())

    def add(self, report_id: bytes, index: int, cp: Checkpoint, note: bytes) -> None:
        """Remember that the receipt for `report_id` rests on `cp` (durably, before returning)."""
        with self._lock:
            records = self._load()
            if any(r.report_id == report_id and r.size == cp.size for r in records):
                return
            records.append(Receipted(report_id, index, cp.size, note))
            self._save(records)
            self._checked.add((report_id, cp.size))

    def check(self, verifier: LogVerifier, log: LogProofs) -> None:
        """Accept every remembered checkpoint not yet checked this session with `verifier`
        (which has accepted the operator's current checkpoint): raise VerificationError naming
        a report whose receipted checkpoint the log no longer extends; forget the ones the
        verifier's persisted head covers."""
        with self._lock:
            records = self._load()
            if not records:
                return
            for r in sorted(records, key=lambda r: r.size):
                if (r.report_id, r.size) not in self._checked:
                    self._check_one(r, verifier, log)
                    self._checked.add((r.report_id, r.size))
            head_size = verifier.head.size if verifier.head else 0
            keep = [r for r in records if r.size > head_size]
            if len(keep) != len(records):
                self._save(keep)

    @staticmethod
    def _check_one(r: Receipted, verifier: LogVerifier, log: LogProofs) -> None:
        try:
            verifier.accept(r.note, log, quorum=0)
        except (VerificationError, InvalidInput, NotFound) as exc:
            raise VerificationError(f"rollback or fork: the ledger is not an extension of the checkpoint of your "
                                    f"report {r.report_id.hex()} (receipted at entry {r.index} under the operator's "
                                    f"checkpoint of size {r.size}): {exc}; keep the receipt and receipts.state as "
                                    "evidence") from None
