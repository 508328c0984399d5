"""The ring's state record: an admission appends one key to the record the previous one
wrote, and what it writes is byte for byte the canonical encoding of the whole ring, so a
ledger replays to the same state whichever way the record was built (docs/performance.md)."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from api.identity import Identity
from client.audit import replay
from core import entries as e
from core import state
from core.group import default_group
from core.pedersen import random_scalar
from server.ceremony import bootstrap_entries


def _canonical(keys: list[bytes], changed_at: int) -> bytes:
    return state.dump({"changed_at": changed_at, "keys": [k.hex() for k in keys]})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(min_size=48, max_size=48)), max_size=30))
def test_an_appended_ring_record_is_the_canonical_encoding(ops: list[tuple[bool, bytes]]) -> None:
    ring, keys = state._NO_RING, list[bytes]()
    for index, (admit, key) in enumerate(ops, start=1):
        if admit or not keys:
            ring, keys = ring.admitting(key, index), keys + [key]
        else:
            gone = keys[len(keys) // 2]
            ring, keys = ring.revoking(gone, index), [k for k in keys if k != gone]
        assert ring.record == _canonical(keys, index)
        assert ring.keys == tuple(keys)


def admission(regulator: Identity, member_id: str) -> bytes:
    """A regulator-signed MemberAdmitted of `member_id` with fresh keys (the leaf)."""
    group = default_group()
    signing = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    reporting = group.encode(group.mul(group.generator(), random_scalar()))
    return wire.sign_leaf(e.LedgerEntry(e.MemberAdmitted(member_id, signing, reporting),
                                        timestamp_ms=int(time.time() * 1000)), regulator.signing_key())


def test_a_replayed_ring_matches_one_decoded_from_its_stored_bytes(alliance_dir: Path) -> None:
    """Admissions and revocations through `state.apply` (the audit replay): the stored record
    equals the canonical encoding, and decoding it afresh, with nothing remembered, gives the
    ring the replay built."""
    regulator = Identity.load(alliance_dir / "regulator")
    leaves = bootstrap_entries(alliance_dir / "operator")
    leaves += [admission(regulator, f"ring-{i}") for i in range(12)]
    for gone in ("ring-3", "ring-11", "a"):
        revoked = e.LedgerEntry(e.MemberRevoked(gone, "test"), timestamp_ms=int(time.time() * 1000))
        leaves.append(wire.sign_leaf(revoked, regulator.signing_key()))
    leaves.append(admission(regulator, "ring-late"))

    view, _ = replay(leaves)
    keys, changed_at = state.current_ring(view)
    raw = view.get(state.RING_KEY)
    assert raw == _canonical(keys, changed_at)
    assert changed_at == len(leaves) - 1
    members = [state.member_record(view, m) for m in ("b", "c", *(f"ring-{i}" for i in range(12)), "ring-late")]
    expected = [m.reporting_key for m in members if m is not None and m.revoked_at is None]
    assert keys == expected

    state._RINGS.clear()
    state._written = state._NO_RING
    assert state.current_ring(view) == (keys, changed_at)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(), st.text(), st.text(alphabet=st.characters(max_codepoint=127)),
                 st.booleans(), st.none(), st.dictionaries(st.text(), st.integers())))
def test_a_state_value_is_encoded_as_the_canonical_json_whichever_way(value: object) -> None:
    """`state.dump` writes ints and plain ASCII strings itself; every value still gets
    the bytes of json.dumps with sorted keys and no spaces (what a replay compares)."""
    import json

    assert state.dump(value) == json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**53), st.binary(min_size=32, max_size=32), st.text(),
       st.text(), st.binary(min_size=48, max_size=48), st.binary(min_size=48, max_size=48))
def test_a_new_report_value_is_the_canonical_json_of_its_record(index: int, subject: bytes, category: str,
                                                                 incident_date: str, link: bytes,
                                                                 commitment: bytes) -> None:
    """The sequencer formats a new report's state value directly; it must be what `dump`
    gives for the record, whatever the strings hold, and `ReportRecord` must read it back."""
    value = state.new_report_value(index, subject.hex(), category, incident_date, link, commitment)
    record = {"index": index, "subject": subject.hex(), "category": category, "incident_date": incident_date,
              "link": link.hex(), "retracted_at": None, "fraud_at": None, "commitment": commitment.hex()}
    assert value == state.dump(record)
    import json

    assert state.ReportRecord.from_json(json.loads(value)).link == link
