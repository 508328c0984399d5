"""A verified local copy of the ledger (trustees, docs/ratings.md).

A trustee never takes the operator's word for what is on the ledger: it keeps its own
mirror, extended only up to checkpoints that carry the genesis witness quorum and are
consistent with the last one it accepted, with every new entry re-validated by
`core.state.apply` (signatures, ring signatures and proofs included), and each page of
entries shown to be in the checkpoint's tree before it is stored: the recomputed root
equals the checkpoint's, or an RFC 9162 consistency proof from the operator shows it is a
prefix of it. The mirror lives in a `LedgerStore` of its own, so a restart does not
re-verify history.

`follow` keeps the mirror close to the operator in the background (`candor trustee serve`):
when the operator is away it says so once, backs off, and says once that it is back; it
never gives up on a transient failure (docs/operations.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from api import wire
from api.identity import Identity
from client.batch import JobWire, Prechecks, check_publications, job_size, verify_reports
from client.connection import Connection, Outage
from client.cpu import CpuPool
from client.verifier import LogVerifier
from core import entries as e
from core import merkle, state
from core.alliance import Alliance
from core.combination import PublicationCrypto
from core.errors import CandorError, QuorumMissing, VerificationError
from server.staging import Staging
from server.storage import LedgerStore, StoreView

PAGE = 1000
log = logging.getLogger("candor.mirror")

#: The operator's consistency proof from one tree size to a larger one (`Connection.consistency`).
Prover = Callable[[int, int], Sequence[bytes]]


def _check_covered(staged: Staging, cp_size: int, cp_root: bytes, prove: Prover) -> None:
    """Raise VerificationError unless the tree with `staged` on top is the checkpoint's
    (`cp_size`, `cp_root`) or a prefix of it, proven by an RFC 9162 consistency proof.

    A page is committed before the pages after it are fetched, so without the proof a page
    that is not the checkpointed one (entries reordered, or another history that passes
    every state check) would be stored, and only the last page would be found out."""
    size = staged.next_index
    if size > cp_size:
        raise VerificationError(f"the operator served entries up to index {size - 1}, past its cosigned "
                                f"checkpoint of size {cp_size}")
    if size == cp_size:
        if staged.root() != cp_root:
            raise VerificationError("the operator served entries that do not hash to its cosigned checkpoint")
        return
    try:
        merkle.verify_consistency(size, cp_size, staged.root(), cp_root, prove(size, cp_size))
    except VerificationError as exc:
        raise VerificationError(f"the operator served entries [0, {size}) that are not a prefix of its cosigned "
                                f"checkpoint of size {cp_size}: {exc}") from None


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
        self._alliance: Alliance | None = None

    @property
    def alliance(self) -> Alliance:
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
            pages = (self.conn.entries(start, min(cp.size, start + PAGE))
                     for start in range(self.store.size(), cp.size, PAGE))
            self._extend(pages, cp.size, cp.root_hash, self.conn.consistency)
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

    def _extend(self, pages: Iterable[list[bytes]], cp_size: int, cp_root: bytes, prove: Prover) -> None:
        """Verify and store `pages`, consecutive runs of entries that end at the checkpoint
        (`cp_size`, `cp_root`); each page is committed only once it is verified, and shown
        to be in that checkpoint's tree (`_check_covered`, with `prove`'s consistency proofs).

        A page is staged the batched way (`_stage_batched`): every state check in this
        thread while the CPU pool checks its reports' crypto. Pages overlap: the next page
        is fetched, staged on top of this one and its jobs sent before this page's verdicts
        are awaited and it is committed, so the workers need not wait while the mirror
        commits or fetches. If anything of a page fails, that page is staged again entry by
        entry (`_stage`), which names the first bad entry: the batch only ever saves work,
        it never accepts what `state.apply` would not; the page staged on top of it is
        then staged again too. If fetching a page fails, the page before it is still
        stored, once the operator proves it in the checkpoint's tree."""
        pending: _Page | None = None
        page: _Page | None = None
        fetched = iter(pages)
        try:
            while True:
                try:
                    leaves = next(fetched)
                except StopIteration:
                    break
                except Exception:  # the operator went away mid-way: keep the page verified so far
                    if pending is not None:
                        self._settle(pending, cp_size, cp_root, prove)
                        pending = None
                    raise
                page = self._stage_batched(leaves, after=None if pending is None else pending.staged)
                if pending is not None:
                    if self._settle(pending, cp_size, cp_root, prove):
                        page.staged.rebase(self.view, self.store.node)
                    else:  # staged on what was replaced: again, on what was committed instead
                        page.cancel()
                        page = self._stage_batched(leaves)
                pending, page = page, None
            if pending is not None:
                self._settle(pending, cp_size, cp_root, prove)
            pending = None
        finally:  # a refusal leaves no job running for nothing
            for left in (pending, page):
                if left is not None:
                    left.cancel()

    def _settle(self, page: _Page, cp_size: int, cp_root: bytes, prove: Prover) -> bool:
        """Commit `page` once its jobs verify, or staged entry by entry if anything failed,
        and once it is in the checkpoint's tree; whether the batched staging held."""
        held = page.held()
        staged = page.staged if held else self._stage(page.leaves)
        _check_covered(staged, cp_size, cp_root, prove)
        batch = staged.batch()
        if batch is not None:
            self.store.commit(batch)
        return held

    def _stage(self, leaves: list[bytes]) -> Staging:
        """Every entry through `state.apply(verify=True)`; VerificationError names the first bad one."""
        staged = Staging(self.store, self.view)
        for leaf in leaves:
            index = staged.next_index
            try:
                signed = wire.signed_entry_from_bytes(leaf)
                ally = None if index == 0 else self.alliance
                updates = state.apply(staged.overlay, ally, index, signed, verify=True)
            except CandorError as exc:
                raise VerificationError(f"ledger entry {index} fails verification in the mirror: {exc}") from None
            staged.add(leaf, updates)
        return staged

    def _stage_batched(self, leaves: list[bytes], after: Staging | None = None) -> _Page:
        """The page staged with every state check (on top of `after`, if given), its
        reports' crypto sent to the CPU pool in batches.

        Runs of consecutive reports (no membership change between them, so one ring) go to
        `client.batch.verify_reports` on the CPU pool (gmpy2 and arkworks hold the GIL) in
        jobs of `client.batch.job_size`: the very batch verification intake runs (one multi-scalar
        multiplication per job). Meanwhile this thread applies each report with
        `verify=False, checked=True` (every state check, ring currency included, but not
        what the job checks: the proof, the ring signature and the category and ciphertext)
        and every other entry with `verify=True`, those signed with a genesis key with
        `prechecked=True` while the pool makes their `core.state.stateless_checks`
        (`client.batch.Prechecks`), and a RatingPublished with its crypto (C* and the
        publication proof, most of its check) sent to the pool (`client.batch.check_publications`).
        The page holds only if every job verifies (`_Page.held`)."""
        base = self.view if after is None else after.overlay
        try:  # canonical encodings checked below, or by the worker that decodes the leaf again
            entries = [wire.signed_entry_from_bytes(leaf, check_canonical=False) for leaf in leaves]
        except CandorError:  # staged again entry by entry, which names the entry
            return _Page(leaves, Staging(self.store, base) if after is None else Staging.after(after), failed=True)
        # The page's "is it new?" reads and its ring, in one round trip (as the sequencer).
        ahead = state.ReadAhead(base, base.values([key for signed in entries for key in state.lookups(signed)]))
        staged = Staging(self.store, ahead) if after is None else Staging.after(after, ahead)
        page = _Page(leaves, staged)
        genesis = self.identity.genesis_leaf()
        run: list[JobWire] = []
        size = job_size(len(leaves), self.cpu.workers)
        prechecks = Prechecks(self.cpu.submit, genesis, size, page.jobs)
        ring: tuple[tuple[bytes, ...], int] | None = None  # of the current run of reports

        def flush() -> None:
            if run:
                page.jobs.append(self.cpu.submit(verify_reports, genesis, list(run)))
                run.clear()

        def defer(crypto: PublicationCrypto) -> None:
            page.jobs.append(self.cpu.submit(check_publications, genesis, [crypto]))

        try:
            for leaf, signed in zip(leaves, entries):
                index = staged.next_index
                report = index > 0 and isinstance(signed.entry.body, e.ReportCommitted) \
                    and signed.ring_signature is not None
                if not report:
                    flush()
                    ring = None
                elif ring is None:
                    keys, changed_at = state.current_ring(staged.overlay)
                    ring = (tuple(keys), changed_at)
                ally = None if index == 0 else self.alliance
                prechecked = state.has_stateless_checks(ally, signed)
                if not (report or prechecked):
                    wire.require_canonical(leaf, signed)
                staged.add(leaf, state.apply(staged.overlay, ally, index, signed, verify=not report, checked=report,
                                             prechecked=prechecked, defer=defer))
                if ring is not None and report:
                    run.append((leaf, ring[0], ring[1], index, None))
                    if len(run) >= size:
                        flush()
                elif prechecked:
                    prechecks.add(leaf)
            flush()
            prechecks.flush()
        except CandorError:
            page.failed = True
            page.cancel()
        return page


@dataclass
class _Page:
    """A page of entries being staged the batched way: its staging and its jobs' verdicts."""

    leaves: list[bytes]
    staged: Staging
    jobs: list[Future[list[bool]]] = field(default_factory=list)
    failed: bool = False  # a state check failed while staging

    def held(self) -> bool:
        """Whether staging went through and every job verifies (waits for them)."""
        try:
            return not self.failed and all(all(job.result()) for job in self.jobs)
        except CandorError:
            return False

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel()
