"""The ledger over real gRPC with mTLS: checkpoints, proofs, cosignatures, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.identity import Identity
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
        with pytest.raises(errors.QuorumMissing, match="quorum"):
            verifier.accept(cp.note, conn)


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
        accepted = verifier.accept(cp.note, conn)
        assert accepted.size == 5
        assert (tmp_path / "v.state").exists()


def _status(call: Any) -> tuple[Any, str]:
    import grpc

    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_ledger_bad_input_gets_clear_status(alliance_dir: Path, operator: Any) -> None:
    import time

    import grpc

    from api import wire
    from api.v1 import governance_pb2, ledger_pb2
    from client.regulator import regulator_leaf
    from core import entries as e

    size = operator.ledger.store.size()
    with connect(alliance_dir, "regulator", operator) as conn:
        code, msg = _status(lambda: conn.ledger.GetInclusionProof(
            ledger_pb2.GetInclusionProofRequest(index=2, tree_size=size + 10)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "beyond the ledger's size" in msg
        code, msg = _status(lambda: conn.ledger.GetConsistencyProof(
            ledger_pb2.GetConsistencyProofRequest(old_size=3, new_size=size + 1)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "beyond" in msg
        code, msg = _status(lambda: conn.ledger.GetConsistencyProof(
            ledger_pb2.GetConsistencyProofRequest(old_size=0, new_size=size)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "0 < old size" in msg

        # A malformed entry, and a governance entry with a forged signature.
        code, msg = _status(lambda: conn.governance.RevokeMember(
            governance_pb2.SubmitEntryRequest(signed_entry=b"\x0a\x05junk")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        leaf = bytearray(regulator_leaf(alliance_dir / "regulator", e.MemberRevoked("b", "test")))
        leaf[-5] ^= 0x40  # inside the signature
        code, msg = _status(lambda: conn.governance.RevokeMember(
            governance_pb2.SubmitEntryRequest(signed_entry=bytes(leaf))))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "does not verify" in msg
        # A governance entry signed by a member's key instead of the regulator's.
        member_key = Identity.load(alliance_dir / "member-a").signing_key()
        forged = wire.sign_leaf(e.LedgerEntry(e.MemberRevoked("b", "x"), timestamp_ms=int(time.time() * 1000)),
                                member_key)
        forged_request = governance_pb2.SubmitEntryRequest(signed_entry=forged)
        code, msg = _status(lambda: conn.governance.RevokeMember(forged_request))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "only the regulator" in msg
        # An oversized message.
        code, _msg = _status(lambda: conn.governance.RevokeMember(
            governance_pb2.SubmitEntryRequest(signed_entry=b"x" * (600 * 1024))))
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED

        # A cosignature from a witness the genesis does not name.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from core.checkpoint import Checkpoint
        from core.note import CosignatureSigner, parse_note

        body = parse_note(conn.checkpoint().note).text
    with connect(alliance_dir, "witness-1", operator) as conn:  # only witnesses may call AddCosignature
        line = CosignatureSigner("witness-9", Ed25519PrivateKey.generate()).cosign(Checkpoint.parse(body).body(), 1)
        code, msg = _status(lambda: conn.ledger.AddCosignature(
            ledger_pb2.AddCosignatureRequest(size=size, cosignature=line.encode())))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "not a witness named in the genesis" in msg
        # A real witness's key over another checkpoint: the signature does not verify.
        witness = Identity.load(alliance_dir / "witness-1").cosignature_signer()
        wrong = witness.cosign(Checkpoint(Checkpoint.parse(body).origin, size, b"\x00" * 32).body(), 1)
        code, msg = _status(lambda: conn.ledger.AddCosignature(
            ledger_pb2.AddCosignatureRequest(size=size, cosignature=wrong.encode())))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "invalid cosignature" in msg
    assert operator.ledger.store.size() == size
    assert operator.ledger.store.cosignatures(size) == {}


def test_unknown_exception_becomes_internal_without_details() -> None:
    import grpc

    from api.status import INTERNAL_MESSAGE, STATUS, status_for
    from core import errors

    assert status_for(RuntimeError("secret path /etc/x")) == (grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
    expected = {
        errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS, errors.StaleRing: grpc.StatusCode.ABORTED,
        errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
        errors.VerificationError: grpc.StatusCode.INVALID_ARGUMENT, errors.NotFound: grpc.StatusCode.NOT_FOUND,
        errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
        errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
        errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
        errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED, errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    }
    assert {cls for cls, _ in STATUS} == set(expected)
    for cls, code in expected.items():
        assert status_for(cls("what to fix")) == (code, "what to fix")


def test_client_gets_back_the_typed_error_of_each_status() -> None:
    """`from_rpc_error` inverts the table: a client can catch StaleRing, not match a message."""
    import grpc

    from api.status import STATUS, from_rpc_error, status_for
    from core import errors

    class Failed(grpc.RpcError):  # type: ignore[misc]  # grpc ships no types
        def __init__(self, code: grpc.StatusCode, details: str) -> None:
            self._code, self._details = code, details

        def code(self) -> grpc.StatusCode:
            return self._code

        def details(self) -> str:
            return self._details

    for cls, _ in STATUS:
        back = from_rpc_error(Failed(*status_for(cls("what to fix"))))
        # INVALID_ARGUMENT is shared by InvalidInput and VerificationError; it comes back as InvalidInput
        assert type(back) is (errors.InvalidInput if cls is errors.VerificationError else cls)
        assert str(back) == "what to fix"
