"""Attack: the operator's own key, listed as a witness under another name, meets the quorum.

A witness key must differ from the operator's (docs/ledger.md). The genesis refuses
such a witness set, and checkpoint verification refuses to count a cosignature by the
operator's key whatever name it is listed under.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import wire
from api.identity import Identity
from api.v1 import entries_pb2 as pb
from client.issuing import raw_public
from client.verifier import LogVerifier
from core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from core.entries import ENTRY_SIGNATURE_CONTEXT
from core.errors import InvalidInput
from core.note import CosignatureSigner, NoteSigner, append_signatures
from core.signing import key_id
from server.app import Settings, create_server
from server.database import open_store


def _genesis_with_operator_as_witness(alliance_dir: Path) -> bytes:
    """The alliance's genesis, re-signed by the regulator with the operator's key added as
    witness "witness-evil" and a quorum of one."""
    leaf = Identity.load(alliance_dir / "operator").genesis_leaf()
    signed = pb.SignedEntry.FromString(leaf)
    entry = pb.LedgerEntry.FromString(signed.entry)
    operator_key = raw_public(Identity.load(alliance_dir / "operator").signing_key())
    del entry.genesis.witnesses[:]
    entry.genesis.witnesses.add(name="witness-evil", signing_key=operator_key)
    entry.genesis.witness_quorum = 1
    entry_bytes = entry.SerializeToString(deterministic=True)
    key = Identity.load(alliance_dir / "regulator").signing_key()
    msg = pb.SignedEntry(entry=entry_bytes)
    msg.signature.key_id = key_id(raw_public(key))
    msg.signature.signature = key.sign(ENTRY_SIGNATURE_CONTEXT + entry_bytes)
    data: bytes = msg.SerializeToString(deterministic=True)
    return data


def test_genesis_with_the_operator_key_as_a_witness_is_refused(alliance_dir: Path) -> None:
    forged = _genesis_with_operator_as_witness(alliance_dir)
    with pytest.raises(InvalidInput, match="operator's key"):
        wire.signed_entry_from_bytes(forged)


def test_operator_cannot_start_a_ledger_whose_genesis_lists_its_own_key(alliance_dir: Path, tmp_path: Path) -> None:
    forged = _genesis_with_operator_as_witness(alliance_dir)
    store = open_store(str(tmp_path / "ledger.db"))
    op = create_server(Settings(identity=Identity.load(alliance_dir / "operator")), store)
    try:
        with pytest.raises(InvalidInput, match="operator's key"):
            op.ledger.append_now([forged])
        assert store.size() == 0
    finally:
        op.stop(grace=1)
        store.close()


def test_client_refuses_to_pin_such_a_genesis(alliance_dir: Path) -> None:
    with pytest.raises(InvalidInput, match="operator's key"):
        LogVerifier(_genesis_with_operator_as_witness(alliance_dir))


def test_operator_cosignature_under_another_name_never_counts() -> None:
    """Checkpoint verification itself (the one function every client path calls) compares raw
    keys: the operator's key named "witness-evil" has a different C2SP key id, yet is refused."""
    key = Ed25519PrivateKey.generate()
    signer = NoteSigner("operator.example", key)
    evil = CosignatureSigner("witness-evil", key)
    honest = CosignatureSigner("witness-1", Ed25519PrivateKey.generate())
    cp = Checkpoint("example.org/log", 5, b"\x01" * 32)
    note = sign_checkpoint(cp, signer)
    cosigned = append_signatures(note, [evil.cosign(cp.body(), 1_700_000_000)])
    assert raw_public(key) == evil.verifier().public_bytes
    with pytest.raises(InvalidInput, match="operator's key"):
        open_checkpoint(cosigned, "example.org/log", signer.verifier(), [evil.verifier(), honest.verifier()], 1)
