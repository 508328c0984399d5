"""The ledger over real gRPC with mTLS: checkpoints, proofs, cosignatures, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from candor.identity import Identity
from client.connection import Connection
from client.verifier import LogVerifier
from core import errors


def connect(alliance_dir: Path, who: str, operator: Any) -> Connection:
    return Connection(Identity.load(alliance_dir / who), f"127.0.0.1:{operator.port}")


def test_genesis_checkpoint_verifies(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    with connect(alliance_dir, "member-a", operator) as conn:
        cp = conn.checkpoint()
        assert cp.size == 5  # genesis, three admissions, the default rule set
        verifier = LogVerifier(Identity.load(alliance_dir / "member-a").genesis_leaf(), tmp_path / "v.state")
        with pytest.raises(errors.VerificationError, match="quorum"):
            verifier.update(cp.note, conn.consistency, lambda size: conn.inclusion(0, size))


def witness_step(alliance_dir: Path, name: str, operator: Any, state_dir: Path) -> int | None:
    from client.witness import Witness

    w = Witness.open(Identity.load(alliance_dir / name), f"127.0.0.1:{operator.port}", state_dir)
    try:
        return w.step()
    finally:
        w.conn.close()


def test_witness_cosigns_and_client_accepts_quorum(alliance_dir: Path, operator: Any, tmp_path: Path) -> None:
    assert witness_step(alliance_dir, "witness-1", operator, tmp_path) == 5
    with connect(alliance_dir, "member-b", operator) as conn:
        cp = conn.checkpoint()
        verifier = LogVerifier(Identity.load(alliance_dir / "member-b").genesis_leaf(), tmp_path / "v.state")
        accepted = verifier.update(cp.note, conn.consistency, lambda size: conn.inclusion(0, size))
        assert accepted.size == 5
        assert (tmp_path / "v.state").exists()
