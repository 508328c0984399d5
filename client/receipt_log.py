"""The checkpoints a member's receipts rest on, kept across runs (docs/operations.md,
"Receipts survive the session").

A receipt's checkpoint is signed by the operator but often not yet cosigned, so the
verifier's persisted head (which needs the witness quorum) may lag behind it. If the
operator then rolls its ledger back (a restore from backup) to before a receipted report,
a client that only remembers its head would not notice. So every receipt's checkpoint is
written to `receipts.state` beside `verifier.state`, and on each later run the member SDK
checks every remembered checkpoint against the operator's current one: the log must still
be at least that large and prove it consistent (RFC 9162 consistency proof). A failure is
a VerificationError naming the report whose receipt the ledger no longer honours.

Each remembered checkpoint is checked once per session (the verifier then keeps every later
checkpoint consistent with the one it was checked against). It is dropped once the
verifier's persisted (cosigned) head covers it and it was proven consistent with a
checkpoint at least as large: from then on the head's own rollback check protects it.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from core import merkle
from core.checkpoint import Checkpoint
from core.errors import InvalidInput, NotFound, VerificationError


class ConsistencyProofs(Protocol):
    def consistency(self, old: int, new: int) -> Sequence[bytes]: ...


@dataclass(frozen=True)
class Receipted:
    report_id: bytes
    index: int
    size: int
    root: bytes
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
            return [Receipted(bytes.fromhex(r["report_id"]), int(r["index"]), int(r["size"]), bytes.fromhex(r["root"]),
                              base64.b64decode(r["note"])) for r in data["receipts"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{self.path} is damaged ({exc}); it records the checkpoints your receipts rest on: "
                               "restore it from a backup of this folder") from None

    def _save(self, records: list[Receipted]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"receipts": [{"report_id": r.report_id.hex(), "index": r.index, "size": r.size,
                                     "root": r.root.hex(), "note": base64.b64encode(r.note).decode()}
                                    for r in records]}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, report_id: bytes, index: int, cp: Checkpoint, note: bytes) -> None:
        """Remember that the receipt for `report_id` rests on `cp` (durably, before returning)."""
        with self._lock:
            records = self._load()
            if any(r.report_id == report_id and r.size == cp.size for r in records):
                return
            records.append(Receipted(report_id, index, cp.size, cp.root_hash, note))
            self._save(records)
            self._checked.add((report_id, cp.size))

    def check(self, current: Checkpoint, log: ConsistencyProofs, head_size: int) -> None:
        """Raise VerificationError naming a report whose receipted checkpoint `current` (the
        operator's checkpoint this run verified) does not extend; forget the ones the
        persisted head (`head_size`) covers."""
        with self._lock:
            records = self._load()
            if not records:
                return
            for r in sorted(records, key=lambda r: r.size):
                if (r.report_id, r.size) not in self._checked:
                    self._check_one(r, current, log)
                    self._checked.add((r.report_id, r.size))
            keep = [r for r in records if r.size > head_size]
            if len(keep) != len(records):
                self._save(keep)

    @staticmethod
    def _check_one(r: Receipted, current: Checkpoint, log: ConsistencyProofs) -> None:
        what = (f"your report {r.report_id.hex()} (receipted at entry {r.index} under the operator's checkpoint of "
                f"size {r.size})")
        if current.size < r.size:
            raise VerificationError(f"rollback: the ledger now claims size {current.size}, smaller than the checkpoint "
                                    f"of {what}; keep the receipt and receipts.state as evidence")
        if current.size == r.size:
            if current.root_hash != r.root:
                raise VerificationError(f"fork: the ledger's root at size {r.size} differs from the one of {what}")
            return
        try:
            proof = list(log.consistency(r.size, current.size))
            merkle.verify_consistency(r.size, current.size, r.root, current.root_hash, proof)
        except (VerificationError, InvalidInput, NotFound) as exc:
            raise VerificationError(f"rollback or fork: the ledger of size {current.size} is not an extension of the "
                                    f"checkpoint of {what} ({exc}); keep the receipt and receipts.state as "
                                    "evidence") from None
