"""What the genesis fixes for the life of a ledger (docs/ledger.md), decoded once.

Below `core.state` and `core.report_check`, which both judge entries against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core import entries as e
from core import threshold
from core.errors import InvalidInput
from core.group import default_group
from core.pedersen import Generators
from core.signing import key_id


@dataclass(frozen=True)
class Alliance:
    """What genesis fixes forever, decoded once and cached by callers."""

    genesis: e.Genesis
    genesis_hash: bytes

    @cached_property
    def generators(self) -> Generators:
        return Generators(default_group(), self.genesis.categories)

    @cached_property
    def genesis_signers(self) -> dict[str, tuple[str, bytes]]:
        """Key id -> ("regulator" or "operator", Ed25519 key): the two signers the genesis names,
        whose keys no later entry changes."""
        g = self.genesis
        return {key_id(g.regulator_key): ("regulator", g.regulator_key),
                key_id(g.operator_key): ("operator", g.operator_key)}

    @cached_property
    def nsquare(self) -> int:
        return self.genesis.paillier_n**2


def alliance_of(signed: e.SignedEntry, leaf_hash: bytes) -> Alliance:
    body = signed.entry.body
    if not isinstance(body, e.Genesis):
        raise InvalidInput(f"entry 0 must be the genesis, found {signed.entry.kind}")
    return Alliance(genesis=body, genesis_hash=leaf_hash)


def public_key_of(genesis: e.Genesis) -> threshold.ThresholdPublicKey:
    """The threshold Paillier public key the genesis fixes: its modulus, threshold and the
    trustees' verification keys in trustee order."""
    trustees = sorted(genesis.trustees, key=lambda t: t.index)
    return threshold.ThresholdPublicKey(n=genesis.paillier_n, threshold=genesis.threshold, parties=len(trustees),
                                        v=genesis.paillier_v,
                                        verification_keys=tuple(t.verification_key for t in trustees))
