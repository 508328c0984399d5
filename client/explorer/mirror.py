"""The explorer's verified copy of the ledger (docs/explorer.md).

`Mirror` is what every page reads, and nothing else: it accepts a checkpoint only through
the client's own `LogVerifier` (operator signature, the genesis quorum of witness
cosignatures, consistency with the last checkpoint this client verified, the pinned genesis
at index 0), downloads the entries up to that checkpoint, checks that they hash to its root
and replays them from genesis through `core.state.apply`, the function the ledger ran before
appending them, as the member SDK does (`verify=False`: ring signatures and validity proofs
are checked by the ledger on append and by `candor audit`; every Ed25519 signature, rule
set and publication proof is checked here; `verify_all=True` re-checks those too). Leaves
are kept in a local SQLite file, each under the leaf hash the tree was built from, so a
page reads verified bytes only.

If anything fails to verify the mirror keeps the error and stops serving data: every page
then shows the error state, never what it held before.
"""

from __future__ import annotations

import copy
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from api import wire
from api.identity import Identity
from client.connection import Connection
from client.verifier import LogVerifier
from core import entries as e
from core import merkle, state
from core.alliance import Alliance
from core.checkpoint import Checkpoint, VerifiedCheckpoint
from core.errors import CandorError, VerificationError

log = logging.getLogger("candor.explorer")

PAGE = 1000
"""Entries fetched per GetEntries call while syncing."""
HISTORY = 200
"""Consistency steps kept for the health page."""


@dataclass(frozen=True)
class Row:
    """One entry as the list shows it: kind, time, who signed, and the subject it concerns."""

    index: int
    kind: str
    timestamp_ms: int
    author: str
    subject: str  # tag hex, or ""


@dataclass(frozen=True)
class WitnessSeen:
    """The newest verified cosignature of one witness this explorer has seen."""

    name: str
    size: int
    timestamp: int


@dataclass(frozen=True)
class Step:
    """One accepted checkpoint: from which verified size, to which, and when."""

    old_size: int
    new_size: int
    root: str
    at: float
    witnesses: tuple[str, ...]


@dataclass
class Snapshot:
    """What the pages read; replaced whole after each sync, never mutated in place."""

    checkpoint: VerifiedCheckpoint
    state: state.MemoryState
    rows: list[Row]
    by_kind: dict[str, list[int]]
    by_subject: dict[str, list[int]]
    leaf_hashes: list[bytes]
    latest_operator_size: int = 0
    synced_at: float = 0.0

    @property
    def size(self) -> int:
        return self.checkpoint.checkpoint.size


class LeafStore:
    """The verified leaves, in a SQLite file of the explorer's state folder."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # rebuilt from the ledger at every start: nothing is trusted from disk
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE leaves (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        self.lock = threading.Lock()

    def put(self, start: int, leaves: list[bytes]) -> None:
        with self.lock:
            self.db.executemany("INSERT INTO leaves (idx, data) VALUES (?, ?)",
                                [(start + i, leaf) for i, leaf in enumerate(leaves)])
            self.db.commit()

    def get(self, index: int) -> bytes:
        with self.lock:
            row = self.db.execute("SELECT data FROM leaves WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise VerificationError(f"entry {index} is not in the verified copy")
        return bytes(row[0])

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _subject_of(view: state.StateView, body: e.Body) -> str:
    """The subject tag (hex) an entry concerns, through the report or dispute it names."""
    tag = getattr(body, "subject_tag", None)
    if isinstance(tag, bytes):
        return tag.hex()
    rid: bytes | None = getattr(body, "report_id", None)
    if isinstance(body, e.DisputeResolved):
        dispute = state.dispute_record(view, body.dispute_id.hex())
        rid = None if dispute is None else bytes.fromhex(dispute.report)
    if rid is not None:
        report = state.report_record(view, rid.hex())
        if report is not None:
            return report.subject.hex()
    return ""


def _author(view: state.StateView, ally: Alliance | None, signed: e.SignedEntry) -> str:
    """Who signed an entry that `state.apply` accepted (so the signature verified)."""
    if signed.ring_signature is not None:
        return "a member (ring signature)"
    sig = signed.signature
    if sig is None or ally is None:
        return "regulator"  # the genesis, checked against the key it names
    signer = ally.genesis_signers.get(sig.key_id)
    if signer is not None:
        return signer[0]
    member = state.member_of_key(view, sig.key_id)
    if member is not None:
        return f"member {member}"
    if state.subject_of_key(view, sig.key_id) is not None:
        return "subject"
    return "unknown"


class Mirror:
    """A verified, replayed copy of the ledger, kept up to date by `sync` (module docstring)."""

    def __init__(self, identity: Identity, address: str | None = None, state_dir: Path | None = None, *,
                 verify_all: bool = False) -> None:
        self.identity = identity
        self.verify_all = verify_all
        """Also re-verify every ring signature and validity proof on replay (as `candor audit`)."""
        folder = state_dir or identity.path / "explorer"
        self.conn = Connection(identity, address, timeout=30.0)
        self.verifier = LogVerifier(identity.genesis_leaf(), folder / "verifier.state")
        self.alliance = self.verifier.alliance
        self.leaves = LeafStore(folder / "explorer-leaves.db")
        self.snapshot: Snapshot | None = None
        self.error: str | None = None
        self.waiting: str | None = None
        self.witnesses: dict[str, WitnessSeen] = {}
        self.history: list[Step] = []
        self._lock = threading.Lock()
        self.data_lock = threading.Lock()
        """Held by a page while it reads the state, and by a sync while it commits to it."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # replay state, carried from one sync to the next
        self._state = state.MemoryState()
        self._tree = merkle.CompactRange()
        self._rows: list[Row] = []
        self._by_kind: dict[str, list[int]] = {}
        self._by_subject: dict[str, list[int]] = {}
        self._hashes: list[bytes] = []

    # -- checkpoints and witnesses -----------------------------------------------------------

    def _observe_witnesses(self, opened: VerifiedCheckpoint) -> None:
        size = opened.checkpoint.size
        for sig in opened.cosignatures:
            seen = self.witnesses.get(sig.name)
            if seen is None or size > seen.size or (size == seen.size and (sig.timestamp or 0) > seen.timestamp):
                self.witnesses[sig.name] = WitnessSeen(sig.name, size, sig.timestamp or 0)

    def _accept_latest(self) -> tuple[VerifiedCheckpoint | None, int]:
        """The newest checkpoint carrying the witness quorum that this client accepted, and
        the size of the operator's latest (possibly not yet cosigned) checkpoint. The latest
        goes through the client's `LogVerifier.accept` either way (genesis, fork and
        rollback rules), so a checkpoint still waiting for cosignatures is checked too."""
        note = self.conn.checkpoint().note
        latest = self.verifier.open(note, 0)  # operator signature and any cosignatures that verify
        self._observe_witnesses(latest)
        old = self.verifier.head
        self.verifier.accept(note, self.conn, quorum=0)
        head = self.verifier.head
        quorum = self.alliance.genesis.witness_quorum
        size = latest.checkpoint.size
        if head is None:
            self.waiting = (f"no checkpoint carrying the witness quorum ({quorum}) has been seen yet; "
                            f"the operator's latest (size {size}) carries {len(latest.cosignatures)}")
            return None, size
        shown = latest if head.size == size and head.root == latest.checkpoint.root_hash \
            else self.verifier.open(head.note, quorum)
        self._observe_witnesses(shown)
        if old is None or head.size > old.size or not self.history:
            self.history.append(Step(0 if old is None else old.size, head.size, head.root.hex(), time.time(),
                                     shown.witnesses))
            del self.history[:-HISTORY]
        if shown is not latest and size > head.size:
            self.waiting = (f"the operator's latest checkpoint (size {size}) carries {len(latest.cosignatures)} of the "
                            f"{quorum} cosignatures required; shown: the last cosigned checkpoint (size {head.size})")
        return shown, size

    # -- replay ------------------------------------------------------------------------------

    def _replay(self, cp: Checkpoint) -> None:
        """Fetch, hash and replay the entries up to `cp`; commit them only if they hash to
        its root (pages read the state under `data_lock`, with the snapshot of that commit)."""
        start = self._tree.size
        if cp.size <= start:
            return
        view = state.Overlay(self._state)  # scans read only their keys (state.KeysByPrefix)
        tree = copy.deepcopy(self._tree)
        ally = self.alliance if start > 0 else None
        rows: list[Row] = []
        hashes: list[bytes] = []
        index = start
        while index < cp.size:
            batch = self.conn.entries(index, min(cp.size, index + PAGE))
            for leaf in batch:
                if index == 0 and leaf != self.verifier.genesis_leaf:
                    raise VerificationError("entry 0 of this ledger is not the genesis pinned in the identity folder")
                try:
                    signed = wire.signed_entry_from_bytes(leaf)
                    author = _author(view, ally, signed)
                    view.updates.update(state.apply(view, ally, index, signed, verify=self.verify_all))
                except CandorError as exc:
                    raise VerificationError(f"ledger entry {index} does not replay from genesis: {exc}") from None
                if index == 0:
                    ally = self.alliance
                digest = merkle.leaf_hash(leaf)
                tree.append(digest)
                hashes.append(digest)
                rows.append(Row(index, signed.entry.kind, signed.entry.timestamp_ms, author,
                                _subject_of(view, signed.entry.body)))
                index += 1
            self.leaves.put(index - len(batch), batch)
        if tree.root() != cp.root_hash:
            raise VerificationError(f"the entries served for [0, {cp.size}) do not hash to the root of the cosigned "
                                    "checkpoint: the stored entries were altered after they were checkpointed")
        with self.data_lock:
            self._state.update(view.updates)
            self._tree = tree
            self._hashes.extend(hashes)
            for row in rows:
                self._rows.append(row)
                self._by_kind.setdefault(row.kind, []).append(row.index)
                if row.subject:
                    self._by_subject.setdefault(row.subject, []).append(row.index)

    def sync(self) -> Snapshot | None:
        """Accept the newest cosigned checkpoint and replay up to it; on any verification
        failure keep the error (the pages then show it) and raise it."""
        with self._lock:
            if self.error is not None:
                raise VerificationError(self.error)
            try:
                self.waiting = None
                opened, latest = self._accept_latest()
                if opened is None:
                    return self.snapshot
                self._replay(opened.checkpoint)
            except VerificationError as exc:
                with self.data_lock:
                    self.error = str(exc)
                    self.snapshot = None
                log.error("explorer: the ledger does not verify: %s", exc)
                raise
            with self.data_lock:
                # Lists are shared, not copied: entries are only ever appended, and a page
                # reads no further than its snapshot's size.
                self.snapshot = Snapshot(opened, self._state, self._rows, self._by_kind, self._by_subject,
                                         self._hashes, latest, time.time())
            return self.snapshot

    def leaf(self, snap: Snapshot, index: int) -> e.SignedEntry:
        """A verified leaf: read from the local copy and checked against the tree's leaf hash."""
        if not 0 <= index < snap.size:
            raise VerificationError(f"entry {index} is outside the verified ledger of size {snap.size}")
        raw = self.leaves.get(index)
        if merkle.leaf_hash(raw) != snap.leaf_hashes[index]:
            raise VerificationError(f"the local copy of entry {index} changed since it was verified")
        return wire.signed_entry_from_bytes(raw, check_canonical=False)

    def inclusion(self, snap: Snapshot, index: int) -> list[bytes]:
        """The operator's inclusion proof of entry `index`, verified against the snapshot."""
        cp = snap.checkpoint.checkpoint
        proof = self.conn.inclusion(index, cp.size)
        merkle.verify_inclusion(snap.leaf_hashes[index], index, cp.size, proof, cp.root_hash)
        return proof

    # -- background refresh ------------------------------------------------------------------

    def start(self, interval: float = 5.0) -> None:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except VerificationError:
                    return
                except CandorError as exc:
                    log.warning("explorer: refreshing from the operator failed: %s", exc)

        self._thread = threading.Thread(target=loop, name="explorer-sync", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.conn.close()
        self.leaves.close()


@dataclass
class Verified:
    """What a page says was verified, in words (each view adds its own lines)."""

    lines: list[str] = field(default_factory=list)
