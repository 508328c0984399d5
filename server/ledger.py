"""The operator's ledger: one sequencer, group commit, checkpoints, proofs (docs/ledger.md).

Entries reach the ledger already decoded and, for reports and the regulator's governance
entries, already verified (`verified=True`: signatures, proofs and an admitted reporting
key are checked by the intake's verification workers, in parallel). The sequencer thread
takes whatever is queued, re-checks each entry against the state as it stands after the
entries before it (`core.state.apply`, the cheap state conditions), and commits the batch —
leaves, new Merkle nodes and state updates — in one transaction. One transaction per batch is what makes a
durable append cheap (group commit); the store's compare-and-set on the ledger size is what
makes a second sequencer unable to fork the log.

A checkpointer signs a C2SP checkpoint for the newest size at most every
`checkpoint_interval` seconds, and at once for a commit after a quiet spell; a submitter
waits for the first checkpoint that covers its entry and gets a receipt (checkpoint +
inclusion proof) it can verify itself.

Entries reach the store through a `server.sequencer.Sequencer`: the in-process queue and
thread of `LocalSequencer` by default, or, over a store shared by several servers
(PostgreSQL), `server.shared_sequencer.SharedSequencer`, which hands them to whichever
server holds the sequencer lease; only that server commits and signs checkpoints.
`prepare` (the state checks and Merkle nodes of a batch) is the same code for both.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from api import wire
from core import entries as e
from core import merkle, state
from core.alliance import Alliance, alliance_of
from core.checkpoint import Checkpoint, sign_checkpoint
from core.errors import CandorError, InvalidInput, NotFound, PermissionDenied, Unavailable
from core.note import NoteSigner
from core.served import ProvenEntry
from server.metrics import OperatorMetrics
from server.nodecache import NodeCache
from server.sequencer import LocalSequencer, Prepared, Sequenced, Sequencer
from server.staging import Staging
from server.storage import AppendBatch, LedgerStore, RecentView, StoreView

log = logging.getLogger("candor.ledger")


@dataclass(frozen=True)
class Receipt:
    index: int
    leaf_hash: bytes
    checkpoint_size: int
    checkpoint_note: bytes
    inclusion_proof: tuple[bytes, ...]
    leaf: bytes = b""


def append_order(items: Sequence[tuple[bytes, e.SignedEntry, bool]]) -> list[int]:
    """The order in which a batch's items are appended: the reports among them in a fresh
    random order (each keeps to the places reports held), everything else where it was.

    Arrival order is what the operator saw of who sent what; shuffling within a batch keeps
    a report's position on the ledger from telling the members who sent it (docs/reports.md).
    """
    order = list(range(len(items)))
    reports = [pos for pos, (_, signed, _) in enumerate(items) if isinstance(signed.entry.body, e.ReportCommitted)]
    for place, pos in zip(reports, random_permutation(reports)):
        order[place] = pos
    return order


def random_permutation(values: Sequence[int]) -> list[int]:
    """`values` in a uniformly random order, from one read of the operating system's CSPRNG:
    each value draws a 64-bit key and the values are sorted by key. Two keys are equal with
    probability below n²/2^65 (under 10^-14 for a batch of MAX_BATCH), and only then does
    the order lean toward the original one. `random.SystemRandom().shuffle` asked the
    kernel for randomness once or twice a value, a system call each (docs/performance.md)."""
    keys = memoryview(os.urandom(8 * len(values))).cast("Q")
    return [value for _key, value in sorted(zip(keys, values))]


class Ledger:
    """The operator's append-only log over a `LedgerStore`."""

    def __init__(self, store: LedgerStore, signer: NoteSigner, *, checkpoint_interval: float = 0.05,
                 clock: Callable[[], float] = time.time, metrics: OperatorMetrics | None = None,
                 sequencer: Callable[[Sequenced], Sequencer] = LocalSequencer) -> None:
        self.store = store
        self.signer = signer
        self.view = StoreView(store)
        self.nodes = NodeCache(store)
        self._receipt_note: tuple[int, int, bytes] | None = None  # (_changes(), size, cosigned note)
        self._receipt_note_lock = threading.Lock()
        self.checkpoint_interval = checkpoint_interval
        self.clock = clock
        self._cp_cond = threading.Condition()
        self._cp_changes = 0  # bumped under _cp_cond by every notification: no wake-up is lost
        self._sign_cond = threading.Condition()  # the checkpointer's: entries were committed
        self._sign_changes = 0
        self._stopping = threading.Event()
        self._alliance: Alliance | None = None
        self._threads: list[threading.Thread] = []
        self._cosigned = -1  # largest checkpoint size with the genesis quorum of cosignatures
        self.batches = 0  # commits so far, and the entries they appended: the group-commit factor
        self.appended = 0
        self.metrics = metrics if metrics is not None else OperatorMetrics()
        self.sequencer = sequencer(self)  # LocalSequencer, or SharedSequencer (server.app.create_server)
        # What reports read on the way in (the sender's member record, the ring, the size),
        # kept until the next commit. A shared store's other servers commit without telling
        # this process first: their sequencer's notification makes it forget
        # (`appended_elsewhere`), and a report checked against a record kept a moment too long
        # still meets the sequencer's own state checks, which read the store itself
        # (`_append_view`; docs/architecture.md, "Intake over a shared store").
        self.intake_view = RecentView(store)
        self._append_view: StoreView = self.intake_view if isinstance(self.sequencer, LocalSequencer) else self.view

    # -- genesis and identity ---------------------------------------------------------------

    @property
    def alliance(self) -> Alliance:
        if self._alliance is None:
            if self.store.size() == 0:
                raise Unavailable("the ledger has no genesis yet: run `candor alliance init` first")
            leaf = self.store.entry(0)
            self._alliance = alliance_of(wire.signed_entry_from_bytes(leaf), merkle.leaf_hash(leaf))
        return self._alliance

    @property
    def origin(self) -> str:
        return self.alliance.genesis.origin

    # -- threads ----------------------------------------------------------------------------

    @property
    def sequencing(self) -> bool:
        """Whether this process appends and signs checkpoints (always, unless the store is shared
        and another server holds the sequencer lease)."""
        return self.sequencer.sequencing

    @property
    def threads(self) -> tuple[threading.Thread, ...]:
        """The background threads `start` began (empty once stopped)."""
        return (*self.sequencer.threads, *self._threads)

    def start(self) -> None:
        self.sequencer.start()
        t = threading.Thread(target=self._checkpoint_loop, name="candor-checkpointer", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Finish what is queued, sign a last checkpoint, stop the threads.

        Shared store: a lease holder drains the intake queue, signs, and releases the lease
        (another server takes over at once); waiting calls get their outcome.
        """
        self._stopping.set()
        self.sequencer.stop()
        with self._cp_cond:
            self._cp_cond.notify_all()
        self.entries_changed()
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    def checkpoint_changed(self) -> None:
        """Wake whoever waits for a checkpoint or a cosignature (receipts, witness quorum)."""
        with self._cp_cond:
            self._cp_changes += 1
            self._cp_cond.notify_all()

    def appended_elsewhere(self) -> None:
        """Another server's sequencer committed, or may have (a notification can be lost):
        what intake kept may be stale."""
        self.intake_view.forget()

    def entries_changed(self) -> None:
        """Wake the checkpointer: there may be entries to sign. Receipt waiters sleep on: a
        commit alone gives them nothing to read."""
        with self._sign_cond:
            self._sign_changes += 1
            self._sign_cond.notify()

    def _entries(self) -> int:
        with self._sign_cond:
            return self._sign_changes

    def _wait_entries(self, seen: int, timeout: float) -> None:
        """Wait until `entries_changed` is called after `_entries()` returned `seen` (or
        `timeout` passes)."""
        with self._sign_cond:
            if self._sign_changes == seen:
                self._sign_cond.wait(timeout=timeout)

    def _changes(self) -> int:
        with self._cp_cond:
            return self._cp_changes

    def _wait_change(self, seen: int, timeout: float) -> bool:
        """Wait until `checkpoint_changed` is called after `_changes()` returned `seen`; False
        if `timeout` passed first. The timeout is only a fallback (a shared store's other
        servers notify over LISTEN/NOTIFY, and a notification can be lost)."""
        with self._cp_cond:
            if self._cp_changes == seen:
                self._cp_cond.wait(timeout=timeout)
            return self._cp_changes != seen

    def commit(self, batch: AppendBatch, decided: int) -> None:
        """Commit `batch` (which decided `decided` entries) to this process's own store."""
        try:
            self.store.commit(batch)
        except BaseException:
            self.intake_view.forget()  # a commit that failed late may still have written
            raise
        self.committed(batch, decided)

    def committed(self, batch: AppendBatch, decided: int) -> None:
        """Bookkeeping after a sequencer commit of `batch`, which decided `decided` entries."""
        self.intake_view.forget()
        self.nodes.keep(batch.nodes)
        appended = len(batch.entries)
        if appended:
            self.batches += 1
            self.appended += appended
        self.metrics.batches.inc()
        self.metrics.batch_size.observe(decided)
        self.entries_changed()

    # -- appending --------------------------------------------------------------------------

    def submit(self, leaf: bytes, signed: e.SignedEntry, *, verified: bool) -> Future[int]:
        """Queue a decoded entry; the future resolves to its index or to the refusal.
        `verified`: a `server.intake.Verifier` passed it (a report's or retraction's proofs, or
        a governance entry's `core.state.stateless_checks`), so the sequencer does not make
        those checks again; it makes every check that needs the state."""
        if self._stopping.is_set():
            raise Unavailable("the operator is shutting down; retry against another server")
        return self.sequencer.submit(leaf, signed, verified=verified)

    def append(self, leaf: bytes, *, verified: bool = False, timeout: float = 30.0) -> int:
        """Decode, queue and wait: the index of the committed entry (raises on refusal)."""
        signed = wire.signed_entry_from_bytes(leaf)
        return self.submit(leaf, signed, verified=verified).result(timeout=timeout)

    def append_now(self, leaves: Sequence[bytes]) -> int:
        """Append directly, without the sequencer (used to write genesis at set-up): the
        accepted leaves are committed, then the first refusal, if any, is raised."""
        prepared = self.prepare([(leaf, wire.signed_entry_from_bytes(leaf), False) for leaf in leaves])
        if prepared.batch is not None:
            self.commit(prepared.batch, len(leaves))
        for result in prepared.results:
            if isinstance(result, CandorError):
                raise result
        self.sign_checkpoint()
        return self.store.size()

    def prepare(self, items: Sequence[tuple[bytes, e.SignedEntry, bool]]) -> Prepared:
        """Check (leaf, signed, verified) items in order against the state after the ones
        before them; compute the batch appending the accepted ones at the current size.

        Writes nothing: the caller commits `batch`, whose compare-and-set on the size makes
        a stale preparation fail with Conflict.
        """
        view = self._append_view
        ahead = view.values([key for _leaf, signed, _verified in items for key in state.lookups(signed)])
        staged = Staging(self.store, state.ReadAhead(view, ahead), self.nodes.node)
        results: list[int | CandorError | None] = [None] * len(items)
        now_ms = int(self.clock() * 1000)
        for pos in append_order(items):
            leaf, signed, verified = items[pos]
            index = staged.next_index
            try:
                ally = None if index == 0 else self.alliance
                updates = state.apply(staged.overlay, ally, index, signed, now_ms=now_ms, verify=not verified,
                                      checked=verified, prechecked=verified)
            except CandorError as exc:
                results[pos] = exc
                continue
            if index == 0:
                self._alliance = alliance_of(signed, merkle.leaf_hash(leaf))
            results[pos] = staged.add(leaf, updates)
        first, batch = staged.first, staged.batch()
        return Prepared(first, batch, tuple(r for r in results if r is not None))

    # -- checkpoints ------------------------------------------------------------------------

    def sign_checkpoint(self) -> tuple[int, bytes] | None:
        """Sign a checkpoint for the current size unless one exists; return the latest."""
        size = self.store.size()
        latest = self.store.latest_checkpoint()
        if size == 0 or (latest is not None and latest[0] >= size):
            return latest
        cp = Checkpoint(origin=self.origin, size=size, root_hash=merkle.root_at(size, self.nodes.node))
        note = sign_checkpoint(cp, self.signer)
        self.store.put_checkpoint(size, note)
        self.checkpoint_changed()
        self.sequencer.announce_checkpoint()  # receipts wait for it on every server
        return size, note

    def _checkpoint_loop(self) -> None:
        seen = self._entries()
        signed_at = -math.inf  # time.monotonic() of the last signing
        while not self._stopping.is_set():
            self._wait_entries(seen, 1.0)  # a commit made while we were signing is not missed
            if self._stopping.is_set():
                break
            # At most one checkpoint an interval, with no delay of its own: a commit after a
            # quiet spell is signed at once; commits within an interval of the last signing
            # gather until the interval is up, and one checkpoint covers them all.
            pause = signed_at + self.checkpoint_interval - time.monotonic()
            if pause > 0 and self._stopping.wait(pause):
                break
            current = self._entries()  # what was committed up to here, the signing below covers
            if not self.sequencing:
                seen = current
                continue  # checkpoints are signed by whoever sequences
            if current != seen:  # only a wake with commits to sign counts against the interval
                signed_at = time.monotonic()
            seen = current
            try:
                self.sign_checkpoint()
            except Exception:
                log.exception("signing a checkpoint failed; will retry")
        # The sequencer signs the last checkpoint when it stops (and still sequences).

    def wait_checkpoint(self, min_size: int, timeout: float = 30.0) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        while True:
            seen = self._changes()
            latest = self.store.latest_checkpoint()
            if latest is not None and latest[0] >= min_size:
                return latest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"no checkpoint covers size {min_size} yet; retry GetReceipt shortly")
            self._wait_change(seen, min(remaining, 0.2))

    def checkpoint_with_cosignatures(self, size: int = 0) -> tuple[int, bytes]:
        """The operator-signed note for `size` (0 = latest) with every cosignature appended."""
        if size == 0:
            latest = self.store.latest_checkpoint()
            if latest is None:
                raise NotFound("no checkpoint has been signed yet")
            size, note = latest
        else:
            note = self.store.checkpoint(size)
        cosigs = self.store.cosignatures(size)
        return size, note + b"".join(cosigs[name] for name in sorted(cosigs))

    def add_cosignature(self, size: int, line: bytes) -> int:
        """Verify a witness's tlog-cosignature of checkpoint `size` and keep it.

        Only the genesis witness set may cosign (PermissionDenied otherwise); the signature
        must verify over that exact checkpoint (VerificationError). Returns how many
        distinct witnesses have now cosigned this size.
        """
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from core.note import CosignatureVerifier, Signature, parse_note

        if len(line) > 512:
            raise InvalidInput(f"cosignature line is {len(line)} bytes; a tlog-cosignature line is under 200")
        try:
            sig = Signature.from_line(line.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput("cosignature line is not UTF-8") from None
        witnesses = [CosignatureVerifier(w.name, Ed25519PublicKey.from_public_bytes(w.signing_key))
                     for w in self.alliance.genesis.witnesses]
        witness = next((w for w in witnesses if (w.name, w.key_id) == (sig.name, sig.key_id)), None)
        if witness is None:
            raise PermissionDenied(f"{sig.name}+{sig.key_id.hex()} is not a witness named in the genesis")
        text = parse_note(self.store.checkpoint(size)).text
        witness.verify(text.encode(), sig.signature)
        self.store.add_cosignature(size, witness.name, sig.line().encode())
        count = len(self.store.cosignatures(size))
        if count >= self.alliance.genesis.witness_quorum and size > self._cosigned:
            self._cosigned = size
            self.sequencer.publish_cosigned(size)  # other servers learn of it (see cosigned_size)
            self.checkpoint_changed()
        return count

    def cosigned_size(self) -> int:
        """The largest ledger size whose checkpoint carries the genesis quorum of cosignatures
        (0 if none): what trustees and clients will accept."""
        self._cosigned = max(self._cosigned, self.sequencer.cosigned_elsewhere())
        if self._cosigned < 0:
            latest = self.store.latest_checkpoint()
            quorum = self.alliance.genesis.witness_quorum
            self._cosigned = latest[0] if latest and len(self.store.cosignatures(latest[0])) >= quorum else 0
        return self._cosigned

    def quorum_gap(self) -> str:
        """In words, which genesis witnesses have not cosigned the latest checkpoint and how to
        start them (for "no cosigned checkpoint" errors)."""
        genesis = self.alliance.genesis
        latest = self.store.latest_checkpoint()
        signed = set(self.store.cosignatures(latest[0])) if latest else set()
        missing = [w.name for w in genesis.witnesses if w.name not in signed]
        if not missing:
            return f"all {len(genesis.witnesses)} witnesses have cosigned the latest checkpoint"
        return (f"the quorum is {genesis.witness_quorum} of {len(genesis.witnesses)} witnesses and "
                f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} not cosigned the latest checkpoint: "
                f"is `candor witness --identity <alliance>/{missing[0]}` running?")

    def wait_cosigned(self, min_size: int, timeout: float = 30.0) -> int:
        """Wait until the witnesses have cosigned a checkpoint of at least `min_size`."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self._changes()
            if self.cosigned_size() >= min_size:
                return self._cosigned
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"no witness-cosigned checkpoint covers size {min_size} yet; {self.quorum_gap()}")
            self._wait_change(seen, min(remaining, 0.2))

    # -- proofs -----------------------------------------------------------------------------

    def _check_size(self, size: int) -> None:
        current = self.store.size()
        if size > current:
            raise InvalidInput(f"tree size {size} is beyond the ledger's size {current}")

    def _prefetched(self, proof: Callable[[merkle.NodeReader], list[bytes]]) -> list[bytes]:
        """Run a proof generator with every node it needs read in at most ONE store query.

        Which nodes a proof reads depends only on the sizes and index, never on the hashes,
        so a first pass over the node cache, with zeros for the nodes it lacks, learns which
        are missing. If none is (a receipt's path was mostly written moments ago), that pass
        is the proof; otherwise the store returns the missing ones at once and a second pass
        builds the proof.
        """
        found: dict[tuple[int, int], bytes] = {}  # what the first pass read, kept: the cache may drop it
        missing: list[tuple[int, int]] = []

        def cached(level: int, index: int) -> bytes:
            node = self.nodes.held(level, index)
            if node is None:
                missing.append((level, index))
                return bytes(merkle.HASH_SIZE)
            found[(level, index)] = node
            return node

        first = proof(cached)
        if not missing:
            return first
        found.update(self.nodes.nodes(missing))

        def read(level: int, index: int) -> bytes:
            node = found.get((level, index))
            if node is None:
                raise NotFound(f"Merkle node (level {level}, index {index}) is missing from the store")
            return node

        return proof(read)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        if index >= size:
            raise InvalidInput(f"index {index} is not in a tree of size {size}; ask for a size above {index}")
        return self._prefetched(lambda get: merkle.inclusion_proof(index, size, get))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        self._check_size(new)
        if not 0 < old <= new:
            raise InvalidInput(f"consistency needs 0 < old size <= new size, got {old} and {new}")
        return self._prefetched(lambda get: merkle.consistency_proof(old, new, get))

    def proven(self, index: int, size: int) -> ProvenEntry:
        """Entry `index` with its inclusion proof in the tree of `size`."""
        return ProvenEntry(index, self.store.entry(index), tuple(self.inclusion_proof(index, size)))

    def _latest_note(self, seen: int, reread: bool) -> tuple[int, bytes] | None:
        """(size, cosigned note) of the latest checkpoint, read once per `seen` value of
        `_changes()` (or again if `reread`); None before the first checkpoint."""
        with self._receipt_note_lock:
            kept = self._receipt_note
            if kept is not None and kept[0] == seen and not reread:
                return kept[1], kept[2]
            try:
                size, note = self.checkpoint_with_cosignatures()
            except NotFound:
                return None
            # Tagged with the count read before the store: a change in between re-reads.
            self._receipt_note = (seen, size, note)
        self.nodes.follow(size)  # another server's appends: their nodes in one read
        return size, note

    def receipt(self, index: int, timeout: float = 30.0, *, leaf: bytes | None = None) -> Receipt:
        """The receipt of entry `index` once a checkpoint covers it. `leaf`: the bytes appended
        at `index`, if the caller has them.

        Any signed checkpoint covering `index` makes a valid receipt, and a later one is no
        better for it: the latest one's cosigned note is kept until a checkpoint or a
        cosignature changes (`_changes`), so the receipts of a batch, which all wait for the
        same next checkpoint, read it once between them. After a wait that heard of no change
        it is read from the store again (a notification from another server can be lost)."""
        deadline = time.monotonic() + timeout
        reread = False
        while True:
            seen = self._changes()
            kept = self._latest_note(seen, reread)
            if kept is not None and kept[0] > index:
                size, note = kept
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(f"no checkpoint covers size {index + 1} yet; retry GetReceipt shortly")
            reread = not self._wait_change(seen, min(remaining, 0.2))
        if leaf is None:
            leaf = self.store.entry(index)
        # `size` is a stored checkpoint's: no need to check it against the ledger's size.
        proof = self._prefetched(lambda get: merkle.inclusion_proof(index, size, get))
        return Receipt(index, merkle.leaf_hash(leaf), size, note, tuple(proof), leaf)
