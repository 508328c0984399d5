"""`LogVerifier.accept`: the one place a client decides to believe a checkpoint.

Every rule (quorum, pinned genesis, fork, rollback, when the head advances) is tested
here once, against an in-memory log signed with the test alliance's real operator and
witness keys. The SDK, rating, subject, regulator, witness and mirror clients all call
`accept`; test_audit.py shows the same rules over real gRPC.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from api.identity import Identity
from client.receipt import Receipt
from client.verifier import LogVerifier
from core import merkle
from core.checkpoint import Checkpoint, sign_checkpoint
from core.errors import InvalidInput, QuorumMissing, VerificationError
from core.note import append_signatures


class Log:
    """An operator's log in memory: leaves, signed checkpoints, proofs."""

    def __init__(self, alliance_dir: Path, leaves: list[bytes]) -> None:
        self.operator = Identity.load(alliance_dir / "operator")
        self.witness = Identity.load(alliance_dir / "witness-1")
        self.origin = LogVerifier(leaves[0]).alliance.genesis.origin
        self.leaves = list(leaves)
        self.proofs_served = 0

    def tree(self, size: int) -> merkle.MemoryTree:
        t = merkle.MemoryTree()
        for leaf in self.leaves[:size]:
            t.append(leaf)
        return t

    def note(self, size: int, *, cosigned: bool = False) -> bytes:
        cp = Checkpoint(self.origin, size, self.tree(size).root())
        note = sign_checkpoint(cp, self.operator.note_signer())
        if cosigned:
            note = append_signatures(note, [self.witness.cosignature_signer().cosign(cp.body(), 1_700_000_000)])
        return note

    # LogProofs
    def consistency(self, old: int, new: int) -> list[bytes]:
        self.proofs_served += 1
        return self.tree(new).consistency_proof(old, new)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self.proofs_served += 1
        return self.tree(size).inclusion_proof(index, size)


@pytest.fixture()
def log(alliance_dir: Path) -> Log:
    genesis = Identity.load(alliance_dir / "member-a").genesis_leaf()
    return Log(alliance_dir, [genesis, *(os.urandom(40) for _ in range(9))])


def fork_of(log: Log, at: int) -> Log:
    """The same log up to `at`, then other entries: what a forking operator shows someone else."""
    other = Log.__new__(Log)
    other.__dict__.update(log.__dict__)
    other.leaves = log.leaves[:at] + [os.urandom(40) for _ in log.leaves[at:]]
    return other


def reader(log: Log, tmp_path: Path) -> LogVerifier:
    return LogVerifier(log.leaves[0], tmp_path / "verifier.state")


def test_quorum_is_required_unless_waived(log: Log, tmp_path: Path) -> None:
    v = reader(log, tmp_path)
    with pytest.raises(QuorumMissing, match="quorum is 1"):
        v.accept(log.note(4), log)
    assert v.accept(log.note(4), log, quorum=0).size == 4
    assert v.accept(log.note(5, cosigned=True), log).size == 5


def test_first_checkpoint_must_hold_the_pinned_genesis(log: Log, tmp_path: Path) -> None:
    substituted = fork_of(log, 0)  # same keys and origin, another genesis at index 0
    with pytest.raises(VerificationError, match="pinned genesis at index 0"):
        reader(log, tmp_path).accept(substituted.note(3, cosigned=True), substituted)


def test_same_size_other_root_is_a_fork(log: Log, tmp_path: Path) -> None:
    v = reader(log, tmp_path)
    v.accept(log.note(6, cosigned=True), log)
    other = fork_of(log, 4)
    with pytest.raises(VerificationError, match="fork: two different roots for size 6"):
        v.accept(other.note(6), other, quorum=0)


@pytest.mark.parametrize("size", [8, 5])
def test_inconsistent_larger_or_smaller_checkpoint_is_a_fork(log: Log, tmp_path: Path, size: int) -> None:
    v = reader(log, tmp_path)
    v.accept(log.note(7, cosigned=True), log)
    other = fork_of(log, 3)
    with pytest.raises(VerificationError, match=f"fork: the checkpoint of size {size} is not consistent"):
        v.accept(other.note(size), other, quorum=0)


def test_reader_accepts_an_older_prefix_but_its_head_never_moves_back(log: Log, tmp_path: Path) -> None:
    v = reader(log, tmp_path)
    v.accept(log.note(7, cosigned=True), log)
    assert v.accept(log.note(4, cosigned=True), log).size == 4  # a lagging server: a proven prefix
    assert v.head is not None and v.head.size == 7
    assert reader(log, tmp_path).head == v.head  # persisted


def test_witness_refuses_to_go_back(log: Log, tmp_path: Path) -> None:
    w = LogVerifier(log.leaves[0], tmp_path / "witness.state", witness=True)
    w.accept(log.note(7), log)  # a witness checks before cosigning: quorum 0, and it becomes its head
    assert w.head is not None and w.head.size == 7
    with pytest.raises(VerificationError, match="rollback: .* size 4, but this witness already cosigned size 7"):
        w.accept(log.note(4), log)


def test_only_a_cosigned_checkpoint_becomes_the_head(log: Log, tmp_path: Path) -> None:
    v = reader(log, tmp_path)
    v.accept(log.note(6), log, quorum=0)
    assert v.head is None and not (tmp_path / "verifier.state").exists()
    v.accept(log.note(5, cosigned=True), log)
    assert v.head is not None and v.head.size == 5
    # the operator-signed size 6 is still what the next checkpoint must be consistent with
    other = fork_of(log, 5)
    with pytest.raises(VerificationError, match="fork"):
        v.accept(other.note(6, cosigned=True), other)
    # a new session starts from the persisted, cosigned head (not from the uncosigned 6)
    again = reader(log, tmp_path)
    assert again.latest is not None and again.latest.size == 5
    earlier = fork_of(log, 3)
    with pytest.raises(VerificationError, match="fork"):
        again.accept(earlier.note(6, cosigned=True), earlier)


def test_receipt_is_evidence_that_verifies_offline(log: Log, tmp_path: Path) -> None:
    v = reader(log, tmp_path)
    receipt = Receipt(log.leaves[3], 3, log.note(6), tuple(log.inclusion(3, 6)))
    assert receipt.checkpoint_size == 6 and receipt.leaf_hash == merkle.leaf_hash(log.leaves[3])
    assert receipt.verify(v).size == 6
    with pytest.raises(QuorumMissing):
        receipt.verify(v, quorum=1)
    moved = Receipt(log.leaves[3], 4, log.note(6), tuple(log.inclusion(4, 6)))
    with pytest.raises(VerificationError, match="not at index 4 of the checkpoint of size 6"):
        moved.verify(v)
    with pytest.raises(InvalidInput, match="index 6 is not inside checkpoint size 6"):
        Receipt(log.leaves[3], 6, log.note(6), ())


def test_a_remembered_receipt_checkpoint_is_accepted_by_the_same_rules(log: Log, tmp_path: Path) -> None:
    """client/receipt_log.py hands each remembered receipt checkpoint to `accept`: a ledger
    rolled back below it and grown again is a fork, named by the report; an honest one
    passes, and the record is dropped once the cosigned head covers it."""
    from client.receipt_log import ReceiptLog

    report = bytes(range(16))
    receipted = ReceiptLog(tmp_path / "receipts.state")
    receipted.add(report, 6, reader(log, tmp_path).open(log.note(7), 0).checkpoint, log.note(7))

    forked = fork_of(log, 5)  # restored from a backup of size 5, then other entries
    v = reader(forked, tmp_path / "forked")
    v.accept(forked.note(9), forked, quorum=0)
    with pytest.raises(VerificationError, match=f"rollback or fork.*{report.hex()}"):
        ReceiptLog(tmp_path / "receipts.state").check(v, forked)

    v = reader(log, tmp_path / "honest")
    v.accept(log.note(9, cosigned=True), log)
    again = ReceiptLog(tmp_path / "receipts.state")
    again.check(v, log)
    assert v.latest is not None and v.latest.size == 9
    assert json.loads((tmp_path / "receipts.state").read_text()) == {"receipts": []}
