"""What the genesis fixes for the life of a ledger (docs/ledger.md), decoded once.

Below `core.state` and `core.report_check`, which both judge entries against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core import entries as e
from core.errors import InvalidInput
from core.group import default_group
from core.pedersen import Generators


@dataclass(frozen=True)
class Alliance:
    """What genesis fixes forever, decoded once and cached by callers."""

    genesis: e.Genesis
    genesis_hash: bytes

    @cached_property
    def generators(self) -> Generators:
        return Generators(default_group(), self.genesis.categories)

    @cached_property
    def nsquare(self) -> int:
        return self.genesis.paillier_n**2


def alliance_of(signed: e.SignedEntry, leaf_hash: bytes) -> Alliance:
    body = signed.entry.body
    if not isinstance(body, e.Genesis):
        raise InvalidInput(f"entry 0 must be the genesis, found {signed.entry.kind}")
    return Alliance(genesis=body, genesis_hash=leaf_hash)
