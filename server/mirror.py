"""A verified local copy of the ledger (trustees, DESIGN §5).

A trustee never takes the operator's word for what is on the ledger: it keeps its own
mirror, extended only up to checkpoints that carry the genesis witness quorum and are
consistent with the last one it accepted, with every new entry re-validated by
`core.state.apply` (signatures, ring signatures and proofs included) and the recomputed
root compared with the checkpoint before anything is stored. The mirror lives in a
`LedgerStore` of its own, so a restart does not re-verify history.

`follow` keeps the mirror close to the operator in the background (`candor trustee serve`):
when the operator is away it says so once, backs off, and says once that it is back; it
never gives up on a transient failure (docs/operations.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from candor import wire
from candor.identity import Identity
from client.connection import Connection, Outage
from client.verifier import LogVerifier
from core import entries as e
from core import state
from core.errors import CandorError, QuorumMissing, VerificationError
from server.cpu import CpuPool
from server.intake import JobWire, verify_reports
from server.staging import Staging
from server.storage import LedgerStore, StoreView

PAGE = 1000
MIN_CHUNK = 32
"""Fewest reports worth sending to a worker process: below that, one batch in one process."""
log = logging.getLogger("candor.mirror")


class Mirror:
    def __init__(self, identity: Identity, conn: Connection, store: LedgerStore, state_path: Path | None = None,
                 cpu: CpuPool | None = None) -> None:
        self.identity = identity
        self.cpu = cpu or CpuPool(0)
        self.conn = conn
        self.store = store
        self.verifier = LogVerifier(identity.genesis_leaf(), state_path or identity.path / "mirror.state")
        self.view = StoreView(store)
        self._lock = threading.Lock()
        self._alliance: state.Alliance | None = None

    @property
    def alliance(self) -> state.Alliance:
        if self._alliance is None:
            self._alliance = self.verifier.alliance
        return self._alliance

    def size(self) -> int:
        return self.store.size()

    def sync(self, size: int = 0) -> int:
        """Extend the mirror to the operator's cosigned checkpoint of `size` (0: the latest);
        return the verified size."""
        with self._lock:
            if 0 < size <= self.store.size():
                return self.store.size()
            resp = self.conn.checkpoint(size)
            cp = self.verifier.accept(resp.note, self.conn)
            start = self.store.size()
            while start < cp.size:
                end = min(cp.size, start + PAGE)
                self._extend(self.conn.entries(start, end), cp.size, cp.root_hash)
                start = end
            return self.store.size()

    def follow(self, stop: threading.Event, interval: float = 2.0, say: Callable[[str], None] | None = None,
               ceiling: float = 30.0) -> None:
        """Sync every `interval` seconds until `stop`; wait out an absent operator with backoff.
        A mirror that finds the operator's ledger failing verification keeps its verified
        prefix and says so (it will not decrypt beyond it)."""
        outage = Outage(f"trustee {self.identity.name} mirror", "operator", self.conn.address, "candor serve",
                        say=say, initial=interval, ceiling=ceiling)
        reported: str | None = None
        while not stop.is_set():
            try:
                self.sync()
            except QuorumMissing:  # the witnesses have not cosigned the newest checkpoint yet
                outage.recovered()
                stop.wait(interval)
                continue
            except VerificationError as exc:
                if str(exc) != reported:
                    reported = str(exc)
                    (say or log.error)(f"trustee {self.identity.name} mirror: REFUSING the operator's ledger: {exc}")
                stop.wait(outage.ceiling)
                continue
            except CandorError as exc:  # operator away, restarting, or no cosigned checkpoint yet
                stop.wait(outage.failed(exc))
                continue
            outage.recovered()
            stop.wait(interval)

    def _extend(self, leaves: list[bytes], cp_size: int, cp_root: bytes) -> None:
        """Verify and stage `leaves` in order; store them if they hash to the checkpoint.

        Runs of consecutive reports (no membership change between them, so one ring) have
        their validity proofs and ring signatures checked together by
        `server.intake.verify_batch`, the very function intake runs (one multi-scalar
        multiplication per kind for the run); each is then applied with `verify=False`,
        which still makes every state check. A report the batch refuses, and every other
        entry, goes through `state.apply(verify=True)`, which names the first bad entry as
        before: the batch only ever saves work, it never accepts what `apply` would not."""
        staged = Staging(self.store, self.view)
        run: list[tuple[bytes, e.SignedEntry]] = []

        def add(leaf: bytes, signed: e.SignedEntry, verify: bool) -> None:
            index = staged.next_index
            try:
                ally = None if index == 0 else self.alliance
                updates = state.apply(staged.overlay, ally, index, signed, verify=verify)
            except CandorError as exc:
                raise VerificationError(f"ledger entry {index} fails verification in the mirror: {exc}") from None
            staged.add(leaf, updates)

        def flush() -> None:
            verified = self._verify_run(staged.overlay, staged.next_index, [leaf for leaf, _ in run])
            for (leaf, signed), ok in zip(run, verified):
                add(leaf, signed, verify=not ok)
            run.clear()

        for leaf in leaves:
            index = staged.next_index + len(run)
            try:
                signed = wire.signed_entry_from_bytes(leaf)
            except CandorError as exc:
                flush()
                raise VerificationError(f"ledger entry {index} fails verification in the mirror: {exc}") from None
            if index > 0 and isinstance(signed.entry.body, e.ReportCommitted) and signed.ring_signature is not None:
                run.append((leaf, signed))
            else:
                flush()
                add(leaf, signed, verify=True)
        flush()
        if staged.next_index == cp_size and staged.root() != cp_root:
            raise VerificationError("the operator served entries that do not hash to its cosigned checkpoint")
        batch = staged.batch()
        if batch is not None:
            self.store.commit(batch)

    def _verify_run(self, view: state.StateView, first: int, leaves: list[bytes]) -> list[bool]:
        """Whether each of the consecutive reports at `first`, `first + 1`, ... passes intake's
        batch verification against the current ring of `view`: split evenly over the CPU
        pool's workers (gmpy2 and arkworks hold the GIL), inline without workers."""
        if not leaves:
            return []
        keys, changed_at = state.current_ring(view)
        ring = tuple(keys)
        jobs: list[JobWire] = [(leaf, ring, changed_at, first + k, None) for k, leaf in enumerate(leaves)]
        parts = max(1, min(self.cpu.workers, len(jobs) // MIN_CHUNK))
        size = -(-len(jobs) // parts)
        genesis = self.identity.genesis_leaf()
        futures = [self.cpu.submit(verify_reports, genesis, jobs[at:at + size]) for at in range(0, len(jobs), size)]
        return [ok for future in futures for ok in future.result()]
