"""RFC 9162 Merkle tree: published vectors, transparency-dev probes, properties, read cost."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput, NotFound, VerificationError
from core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    new_nodes,
    node_hash,
    root,
    root_at,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
)

SHARED = Path(__file__).parent / "vectors" / "published"
VECTORS: dict[str, Any] = json.loads((SHARED / "rfc6962_merkle.json").read_text())
PROBES: dict[str, Any] = json.loads((SHARED / "rfc6962_merkle_probes.json").read_text())

LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]


def _tree(n: int) -> MemoryTree:
    t = MemoryTree()
    for i in range(n):
        t.append(i.to_bytes(4, "big"))
    return t


def _standard_tree() -> MemoryTree:
    t = MemoryTree()
    for leaf in LEAVES:
        t.append(leaf)
    return t


# --- reference RFC 9162 recursion, written straight from the text --------------------


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) <= 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


# --- published vectors ---------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["hasher"], ids=lambda c: c["desc"])
def test_hasher_vectors(case: dict[str, Any]) -> None:
    if case["op"] == "empty_root":
        got = EMPTY_ROOT
    elif case["op"] == "hash_leaf":
        got = leaf_hash(bytes.fromhex(case["input_hex"]))
    else:
        got = node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
    assert got.hex() == case["want"]


def test_node_hashes_are_the_stored_complete_nodes() -> None:
    t = _standard_tree()
    for level, row in enumerate(VECTORS["node_hashes"]):
        for i, h in enumerate(row):
            assert t.get(level, i).hex() == h


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    want = VECTORS["roots"][str(size)]
    t = _standard_tree()
    assert t.root(size).hex() == want
    assert root([leaf_hash(x) for x in LEAVES[:size]]).hex() == want


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['leaf_index']}@{c['tree_size']}")
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    t = _standard_tree()
    proof = t.inclusion_proof(case["leaf_index"], case["tree_size"])
    assert [p.hex() for p in proof] == case["proof"]
    verify_inclusion(
        bytes.fromhex(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        proof,
        bytes.fromhex(case["root"]),
    )


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['size1']}-{c['size2']}")
def test_consistency_vectors(case: dict[str, Any]) -> None:
    t = _standard_tree()
    proof = t.consistency_proof(case["size1"], case["size2"])
    assert [p.hex() for p in proof] == case["proof"]
    verify_consistency(
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1"]),
        bytes.fromhex(case["root2"]),
        proof,
    )


def test_probe_counts() -> None:
    assert len(PROBES["inclusion"]) == 86
    assert len(PROBES["consistency"]) == 98


@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe: dict[str, Any]) -> None:
    args = (
        bytes.fromhex(probe["leaf_hash"]),
        probe["leaf_index"],
        probe["tree_size"],
        [bytes.fromhex(p) for p in probe["proof"]],
        bytes.fromhex(probe["root"]),
    )
    if probe["want_error"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe: dict[str, Any]) -> None:
    args = (
        probe["size1"],
        probe["size2"],
        bytes.fromhex(probe["root1"]),
        bytes.fromhex(probe["root2"]),
        [bytes.fromhex(p) for p in probe["proof"]],
    )
    if probe["want_error"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# --- generation agrees with the RFC recursion ----------------------------------------


def test_proofs_match_rfc_recursion_for_all_small_trees() -> None:
    t = _tree(40)
    leaves = [t.leaf_hash(i) for i in range(40)]
    for n in range(1, 41):
        assert t.root(n) == _mth(leaves[:n])
        for m in range(n):
            assert t.inclusion_proof(m, n) == _path(m, leaves[:n])
        for m in range(1, n + 1):
            assert t.consistency_proof(m, n) == _subproof(m, leaves[:n], True)


def test_new_nodes_stores_exactly_the_complete_nodes() -> None:
    t = _tree(37)
    want = {(lv, i) for lv in range(7) for i in range(37 >> lv)}
    assert set(t._nodes) == want


def test_new_nodes_for_odd_index_builds_parents() -> None:
    t = _tree(3)
    got = new_nodes(3, leaf_hash(b"x"), t.get)
    assert [(lv, i) for lv, i, _ in got] == [(0, 3), (1, 1), (2, 0)]
    assert got[2][2] == node_hash(t.get(1, 0), node_hash(t.get(0, 2), leaf_hash(b"x")))


# --- O(log n) reads at ledger scale --------------------------------------------------


class _CountingReader:
    """A fake store of a huge tree: any complete node answers a deterministic hash."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reads = 0

    def __call__(self, level: int, index: int) -> bytes:
        assert (index + 1) << level <= self.size, f"asked for incomplete node ({level}, {index})"
        self.reads += 1
        return hashlib.sha256(f"{level}/{index}".encode()).digest()


@pytest.mark.parametrize("size", [10**7, 2**23, 2**23 + 1, 10**7 - 1])
def test_proofs_cost_logarithmic_reads(size: int) -> None:
    bound = 2 * size.bit_length()
    for fn in (
        lambda g: root_at(size, g),
        lambda g: inclusion_proof(size // 3, size, g),
        lambda g: inclusion_proof(size - 1, size, g),
        lambda g: consistency_proof(size // 2 + 1, size, g),
        lambda g: consistency_proof(1234567, size, g),
    ):
        reader = _CountingReader(size)
        fn(reader)
        assert 0 < reader.reads <= bound


# --- errors --------------------------------------------------------------------------


def test_generation_rejects_bad_ranges() -> None:
    t = _tree(8)
    with pytest.raises(InvalidInput, match="beyond tree size 8"):
        inclusion_proof(8, 8, t.get)
    with pytest.raises(InvalidInput, match="old tree size is 0"):
        consistency_proof(0, 8, t.get)
    with pytest.raises(InvalidInput, match="larger than new tree size"):
        consistency_proof(5, 4, t.get)
    with pytest.raises(InvalidInput, match="not a subtree"):
        subtree_hash(1, 4, t.get)
    with pytest.raises(InvalidInput, match="empty"):
        subtree_hash(3, 3, t.get)
    with pytest.raises(InvalidInput, match="beyond the 8 leaves"):
        t.root(9)
    with pytest.raises(NotFound, match="level 3, index 1"):
        t.get(3, 1)
    with pytest.raises(InvalidInput, match="leaf hash is 3 bytes"):
        new_nodes(8, b"abc", t.get)


def test_verification_messages() -> None:
    t = _tree(8)
    r = t.root()
    p = t.inclusion_proof(5)
    with pytest.raises(VerificationError, match="leaf index 8 is beyond tree size 8"):
        verify_inclusion(t.leaf_hash(5), 8, 8, p, r)
    with pytest.raises(VerificationError, match="has 2 hashes, expected 3"):
        verify_inclusion(t.leaf_hash(5), 5, 8, p[:2], r)
    with pytest.raises(VerificationError, match="computes root"):
        verify_inclusion(t.leaf_hash(4), 5, 8, p, r)
    c = t.consistency_proof(3)
    with pytest.raises(VerificationError, match="rollback"):
        verify_consistency(8, 3, r, t.root(3), c)
    with pytest.raises(VerificationError, match="size 0"):
        verify_consistency(0, 8, EMPTY_ROOT, r, [])
    with pytest.raises(VerificationError, match="forked"):
        verify_consistency(8, 8, r, t.root(7), [])
    with pytest.raises(VerificationError, match=r"has 5 hashes, expected 4"):
        verify_consistency(3, 8, t.root(3), r, [*c, c[0]])
    with pytest.raises(VerificationError, match="computes old root"):
        verify_consistency(3, 8, t.root(2), r, c)
    with pytest.raises(VerificationError, match="computes new root"):
        verify_consistency(3, 8, t.root(3), t.root(7), c)


# --- properties ----------------------------------------------------------------------


def _flip(b: bytes, bit: int) -> bytes:
    i = (bit // 8) % len(b)
    return b[:i] + bytes([b[i] ^ (1 << (bit % 8))]) + b[i + 1 :]


@st.composite
def _inclusion_case(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, 300))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _consistency_case(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, 300))
    return draw(st.integers(1, new)), new


_BIG = _tree(300)


@settings(max_examples=50, deadline=None)
@given(_inclusion_case(), st.integers(0, 10**6))
def test_inclusion_verifies_and_any_bit_flip_fails(case: tuple[int, int], bit: int) -> None:
    index, size = case
    proof = _BIG.inclusion_proof(index, size)
    r, leaf = _BIG.root(size), _BIG.leaf_hash(index)
    verify_inclusion(leaf, index, size, proof, r)
    with pytest.raises(VerificationError):
        verify_inclusion(_flip(leaf, bit), index, size, proof, r)
    with pytest.raises(VerificationError):
        verify_inclusion(leaf, index, size, proof, _flip(r, bit))
    if proof:
        k = bit % len(proof)
        bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
        with pytest.raises(VerificationError):
            verify_inclusion(leaf, index, size, bad, r)


@settings(max_examples=50, deadline=None)
@given(_consistency_case(), st.integers(0, 10**6))
def test_consistency_verifies_and_any_bit_flip_fails(case: tuple[int, int], bit: int) -> None:
    old, new = case
    proof = _BIG.consistency_proof(old, new)
    r1, r2 = _BIG.root(old), _BIG.root(new)
    verify_consistency(old, new, r1, r2, proof)
    with pytest.raises(VerificationError):
        verify_consistency(old, new, _flip(r1, bit), r2, proof)
    with pytest.raises(VerificationError):
        verify_consistency(old, new, r1, _flip(r2, bit), proof)
    if proof:
        k = bit % len(proof)
        bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r1, r2, bad)
        with pytest.raises(VerificationError):
            verify_consistency(old, new, r1, r2, proof[:-1])
    with pytest.raises(VerificationError):
        verify_consistency(old, new, r1, r2, [*proof, r1])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_stored_root_equals_in_memory_root(leaves: list[bytes]) -> None:
    t = MemoryTree()
    for x in leaves:
        t.append(x)
    assert t.root() == root([leaf_hash(x) for x in leaves]) == _mth([leaf_hash(x) for x in leaves])



@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_compact_range_root_matches_the_full_tree(leaves: list[bytes]) -> None:
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf_hash(leaf))
    assert compact.size == len(leaves)
    assert len(compact.peaks) == bin(len(leaves)).count("1")  # O(log n) memory
    assert compact.root() == root([leaf_hash(x) for x in leaves])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.data())
def test_verify_inclusions_agrees_with_one_by_one(size: int, data: st.DataObject) -> None:
    """The shared-node batch accepts a list iff every item verifies on its own: honest
    proofs of any subset, and the same with one hash swapped, a leaf changed, a hash
    appended or an index moved."""
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    tree = MemoryTree()
    for leaf in leaves:
        tree.append(leaf)
    root = tree.root()
    picked = sorted(data.draw(st.sets(st.integers(0, size - 1), min_size=1)))
    items: list[tuple[bytes, int, list[bytes]]] = [
        (leaf_hash(leaves[i]), i, list(tree.inclusion_proof(i, size))) for i in picked]
    how = data.draw(st.sampled_from(["honest", "hash", "leaf", "extra", "index"]))
    if how != "honest":
        j = data.draw(st.integers(0, len(items) - 1))
        leaf, index, proof = items[j]
        if how == "hash" and proof:
            k = data.draw(st.integers(0, len(proof) - 1))
            proof = proof[:k] + [bytes(32)] + proof[k + 1:]
        elif how == "leaf":
            leaf = leaf_hash(b"other")
        elif how == "extra":
            proof = [*proof, bytes(32)]
        elif how == "index":
            index = (index + 1) % size
        items[j] = (leaf, index, proof)
    alone = True
    for leaf, index, proof in items:
        try:
            verify_inclusion(leaf, index, size, proof, root)
        except VerificationError:
            alone = False
    if alone:
        verify_inclusions(items, size, root)
    else:
        with pytest.raises(VerificationError):
            verify_inclusions(items, size, root)
