"""A witness: cosign the operator's checkpoints after checking consistency (C2SP
tlog-witness behaviour, docs/ledger.md).

The witness keeps the last checkpoint it cosigned (through a `LogVerifier` state file).
For each new checkpoint it verifies the operator's signature and a consistency proof from
that last one; only then does it cosign and hand the cosignature to the operator. If the
operator shows an inconsistent view, the witness refuses to cosign and writes the evidence
(both checkpoints and the failed proof) to a file and to stderr: that is a fork, and the
evidence is what the regulator needs.

`run` never exits because the operator is away or restarting: it says once that it waits
(naming the operator's address), backs off up to 30 s, and says once that the operator is
back (docs/operations.md). It stops only on fork evidence, or on an error no retry can fix
(a certificate the operator refuses).
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from api.identity import Identity
from api.v1 import ledger_pb2
from client.connection import Connection, Outage
from client.verifier import LogVerifier
from core.errors import (
    CandorError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
    VerificationError,
)

log = logging.getLogger("candor.witness")


@dataclass
class _Recorded:
    """The operator's proofs, keeping the last consistency proof as fork evidence."""

    conn: Connection
    proof: list[bytes] = field(default_factory=list)

    def consistency(self, old: int, new: int) -> list[bytes]:
        self.proof = self.conn.consistency(old, new)
        return self.proof

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return self.conn.inclusion(index, size)


@dataclass
class Witness:
    identity: Identity
    conn: Connection
    state_path: Path
    evidence_path: Path

    @classmethod
    def open(cls, identity: Identity, address: str | None = None, state_dir: Path | None = None) -> Witness:
        folder = state_dir or identity.path
        return cls(identity, Connection(identity, address), folder / "witness.state", folder / "fork-evidence.json")

    def verifier(self) -> LogVerifier:
        return LogVerifier(self.identity.genesis_leaf(), self.state_path, witness=True)

    def step(self) -> int | None:
        """Check and cosign the operator's latest checkpoint; return its size (None if
        there was nothing new). Raises VerificationError after recording fork evidence."""
        start = time.perf_counter()
        verifier = self.verifier()
        resp = self.conn.checkpoint()
        old = verifier.head
        if old is not None and resp.size == old.size and resp.note.startswith(old.note.split(b"\n\n")[0]):
            return None
        proofs = _Recorded(self.conn)
        try:
            cp = verifier.accept(resp.note, proofs)
        except VerificationError as exc:
            self._record(old.note if old else b"", resp.note, proofs.proof, str(exc))
            raise
        line = self.identity.cosignature_signer().cosign(cp.body(), int(time.time()))
        self.conn.call(self.conn.ledger.AddCosignature,
                       ledger_pb2.AddCosignatureRequest(size=cp.size, cosignature=line.encode()))
        ms = (time.perf_counter() - start) * 1000
        log.info("witness %s cosigned checkpoint size %d: OK %.1f ms", self.identity.name, cp.size, ms,
                 extra={"party": f"witness {self.identity.name}", "action": "cosign", "role": "witness",
                        "status": "OK", "size": cp.size, "duration_ms": round(ms, 3)})
        return cp.size

    def _record(self, old_note: bytes, new_note: bytes, proof: list[bytes], reason: str) -> None:
        evidence = {
            "reason": reason,
            "verified_checkpoint": old_note.decode(errors="replace"),
            "presented_checkpoint": new_note.decode(errors="replace"),
            "consistency_proof": [base64.b64encode(h).decode() for h in proof],
            "time": int(time.time()),
        }
        self.evidence_path.write_text(json.dumps(evidence, indent=2))
        print(f"witness {self.identity.name}: REFUSING to cosign: {reason}\n"
              f"evidence written to {self.evidence_path}", file=sys.stderr)

    def run(self, interval: float = 1.0, stop_after: float | None = None,
            say: Callable[[str], None] | None = None, ceiling: float = 30.0) -> None:
        """Poll and cosign every `interval` seconds until fork evidence (or `stop_after`)."""
        deadline = None if stop_after is None else time.monotonic() + stop_after
        outage = Outage(f"witness {self.identity.name}", "operator", self.conn.address, "candor serve", say=say,
                        initial=interval, ceiling=ceiling)
        while deadline is None or time.monotonic() < deadline:
            try:
                self.step()
            except VerificationError:
                return
            except (PermissionDenied, Unauthenticated, InvalidInput):
                raise  # a certificate or folder problem: waiting will not fix it
            except CandorError as exc:  # operator away, restarting, or not yet bootstrapped
                time.sleep(outage.failed(exc))
                continue
            outage.recovered()
            time.sleep(interval)
