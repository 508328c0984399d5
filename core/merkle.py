"""Merkle tree hashing and proofs, RFC 9162 §2.1 (SHA-256).

The tree over leaves d[0..n) is the one of RFC 9162 §2.1.1:

    MTH({})      = SHA-256()
    MTH({d0})    = SHA-256(0x00 || d0)                       (leaf_hash)
    MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  (node_hash)
                   with k the largest power of two smaller than n

Storage model. A store keeps only *complete aligned subtrees*: node (level, index) is the
hash of the 2^level leaves [index·2^level, (index+1)·2^level). Such a node never changes
once its last leaf is appended, so a store can write it once (`new_nodes` says which nodes
appear on each append) and never rewrite it. Every hash a proof needs is either such a node
or the hash of a right-edge range, which `subtree_hash` rebuilds from at most ⌈log2 n⌉
complete nodes. Hence `root_at`, `inclusion_proof` and `consistency_proof` each cost
O(log n) reads through the caller's `NodeReader`, whatever the tree size (10^7 entries
means at most ~2·24 reads).

Proofs are the PATH (§2.1.3.1) and PROOF/SUBPROOF (§2.1.4.1) lists; verification follows
§2.1.3.2 and §2.1.4.2. Like transparency-dev/merkle, a consistency proof from size 0 is
rejected (there is nothing to be consistent with; a client that has never seen a checkpoint
simply trusts its first one, then verifies consistency from there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from core.errors import InvalidInput, NotFound, VerificationError

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string."""

NodeReader = Callable[[int, int], bytes]
"""`get(level, index)` returns the 32-byte hash of complete node (level, index).

Level 0 nodes are leaf hashes. The reader is only ever asked for nodes that are complete in
the tree being proven, i.e. (index + 1)·2^level <= size. It should raise `NotFound` if the
node is missing from storage.
"""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf whose entry bytes are `data`: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidInput(f"{what} is {len(value)} bytes, expected {HASH_SIZE} (a SHA-256 hash)")


def _check_size(value: int, what: str) -> None:
    if value < 0:
        raise InvalidInput(f"{what} is {value}, expected a non-negative integer")


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes (not entry bytes), computed in memory.

    Works level by level, so it takes O(n) time and O(n) memory; for a stored tree use
    `root_at`.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")
    # Pairing left to right and carrying an odd last node up unchanged gives exactly RFC
    # 9162's largest-power-of-two split.
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def new_nodes(index: int, leaf: bytes, get: NodeReader) -> list[tuple[int, int, bytes]]:
    """Complete nodes that come into existence when leaf hash `leaf` is appended at `index`.

    Returns [(0, index, leaf), (1, index//2, h1), (2, index//4, h2), ...]: the leaf itself,
    then each parent completed by it (while the index at the current level is odd). `get`
    must return the already-stored left siblings. A store that saves every tuple returned
    for every append holds every complete node of the tree, which is all the other functions
    here need.
    """
    _check_size(index, "leaf index")
    _check_hash(leaf, "leaf hash")
    out = [(0, index, leaf)]
    level, i, h = 0, index, leaf
    while i & 1:
        h = node_hash(get(level, i - 1), h)
        level, i = level + 1, i >> 1
        out.append((level, i, h))
    return out


def subtree_hash(start: int, end: int, get: NodeReader) -> bytes:
    """MTH(D[start:end]) from at most ⌈log2(end - start)⌉ + 1 complete nodes.

    The range must be one that appears in RFC 9162's recursion (every range a root, PATH or
    PROOF needs is one): non-empty, and `start` a multiple of k, the largest power of two
    smaller than end - start (any `start` works for a single leaf; for a power-of-two size n,
    `start` must be a multiple of n/2). Then the left part is one complete node and the right
    part is again such a range.
    """
    _check_size(start, "range start")
    if end <= start:
        raise InvalidInput(f"range [{start}, {end}) is empty; a subtree needs at least one leaf")
    n = end - start
    if n > 1 and start % _split(n):
        raise InvalidInput(
            f"range [{start}, {end}) is not a subtree of the RFC 9162 tree: start must be a "
            f"multiple of {_split(n)}"
        )
    # Walk right-edge ranges left to right, collecting complete nodes, then fold from the
    # right: MTH(D[a:b]) = node_hash(complete left, MTH(rest)).
    parts: list[bytes] = []
    while True:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            level = n.bit_length() - 1
            parts.append(get(level, start >> level))
            break
        k = _split(n)
        level = k.bit_length() - 1
        parts.append(get(level, start >> level))
        start += k
    h = parts.pop()
    while parts:
        h = node_hash(parts.pop(), h)
    return h


def root_at(size: int, get: NodeReader) -> bytes:
    """MTH of the first `size` leaves of a stored tree (EMPTY_ROOT for size 0)."""
    _check_size(size, "tree size")
    if size == 0:
        return EMPTY_ROOT
    return subtree_hash(0, size, get)


def inclusion_proof(index: int, size: int, get: NodeReader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first.

    Raises InvalidInput unless 0 <= index < size.
    """
    _check_size(index, "leaf index")
    _check_size(size, "tree size")
    if index >= size:
        raise InvalidInput(f"leaf index {index} is beyond tree size {size}; need index < size")
    # PATH recursion unrolled top-down; the list is built root-side first, then reversed.
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(start + k, end, get))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, get))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, get: NodeReader) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1.

    Raises InvalidInput unless 0 < old_size <= new_size (the proof for equal sizes is empty).
    """
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size == 0:
        raise InvalidInput("old tree size is 0: no consistency proof exists from the empty tree")
    if old_size > new_size:
        raise InvalidInput(
            f"old tree size {old_size} is larger than new tree size {new_size}; a log only grows"
        )
    # SUBPROOF(m, D[start:end], b) unrolled top-down; node hashes are collected root-side
    # first, then reversed, and the leading MTH(D[start:end]) (when b is false) comes first.
    proof: list[bytes] = []
    start, end, complete = 0, new_size, True
    m = old_size
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree_hash(start, end, get))
            break
        k = _split(n)
        if m <= k:
            proof.append(subtree_hash(start + k, end, get))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, get))
            start += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`.

    RFC 9162 §2.1.3.2. Raises VerificationError saying what did not hold.
    """
    if index < 0 or size < 0:
        raise VerificationError(f"leaf index {index} or tree size {size} is negative")
    if index >= size:
        raise VerificationError(f"leaf index {index} is beyond tree size {size}")
    want = _inclusion_proof_length(index, size)
    if len(proof) != want:
        raise VerificationError(
            f"inclusion proof has {len(proof)} hashes, expected {want} for leaf {index} "
            f"of a tree of size {size}"
        )
    for i, h in enumerate([leaf_hash, root, *proof]):
        if len(h) != HASH_SIZE:
            what = "leaf hash" if i == 0 else "root" if i == 1 else f"proof hash {i - 2}"
            raise VerificationError(f"{what} is {len(h)} bytes, expected {HASH_SIZE}")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if r != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} computes root {r.hex()}, "
            f"but the tree of size {size} has root {root.hex()}"
        )


def verify_inclusions(
    items: Sequence[tuple[bytes, int, Sequence[bytes]]], size: int, root: bytes
) -> None:
    """`verify_inclusion(leaf_hash, index, size, proof, root)` for every (leaf_hash, index,
    proof) of `items`: the same answer, with the work on shared nodes done once.

    After each step of RFC 9162's loop the running hash r is the claimed hash of the node
    (level, fn), the subtree over leaves [fn·2^level, min((fn + 1)·2^level, size)), and
    what is left to compute depends only on (fn, level), r and the rest of the proof.
    Every node met by a proof that reached the root is remembered with that rest. When a
    later proof meets a remembered node with the same hash and the same rest, its
    remaining steps are exactly those already done and it reaches the same root: it is
    accepted without repeating them. Anything else is finished, or refused, the ordinary
    way, so each item is accepted iff it would be on its own. Leaves of one subject close
    together in the ledger share all but their lowest nodes. Raises VerificationError for
    the first item that fails, with `verify_inclusion`'s message.
    """
    known: dict[tuple[int, int], tuple[bytes, tuple[bytes, ...], int]] = {}
    for leaf, index, proof in items:
        path = tuple(proof)
        if index < 0 or size < 0 or index >= size or len(path) != _inclusion_proof_length(index, size) or \
                len(leaf) != HASH_SIZE or len(root) != HASH_SIZE or (path and set(map(len, path)) != {HASH_SIZE}):
            verify_inclusion(leaf, index, size, path, root)  # raises, naming what is wrong
        fn, sn, r, level = index, size - 1, leaf, 0
        seen: list[tuple[tuple[int, int], bytes, int]] = []
        for k, p in enumerate(path):
            if fn & 1 or fn == sn:
                r = node_hash(p, r)
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
                    level += 1
            else:
                r = node_hash(r, p)
            fn >>= 1
            sn >>= 1
            level += 1
            hit = known.get((level, fn))
            if hit is not None and hit[0] == r and hit[1][hit[2]:] == path[k + 1:]:
                break  # the rest is the remembered node's verified way to the root
            seen.append(((level, fn), r, k + 1))
        else:
            if r != root:
                verify_inclusion(leaf, index, size, path, root)  # raises with the message
        for key, value, rest in seen:
            known[key] = (value, path, rest)


def _inclusion_proof_length(index: int, size: int) -> int:
    # Levels below the point where the index and the last leaf diverge contribute one hash
    # each; above it, one hash per left-complete subtree of the right border.
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends the tree (old_size, old_root).

    RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots. A proof from size 0
    is rejected, as transparency-dev/merkle does. Raises VerificationError saying what did
    not hold.
    """
    if old_size < 0 or new_size < 0:
        raise VerificationError(f"tree sizes {old_size} and {new_size} must be non-negative")
    if new_size < old_size:
        raise VerificationError(
            f"new tree size {new_size} is smaller than old tree size {old_size}: "
            "a log never shrinks (rollback)"
        )
    if old_size == 0:
        raise VerificationError(
            "consistency proof from tree size 0 is meaningless; trust the first checkpoint "
            "instead of proving consistency with the empty tree"
        )
    if old_size == new_size:
        # As in transparency-dev/merkle, equal sizes only compare the roots as given.
        if proof:
            raise VerificationError(
                f"consistency proof between equal sizes must be empty, got {len(proof)} hashes"
            )
        if old_root != new_root:
            raise VerificationError(
                f"roots differ at the same tree size {old_size}: {old_root.hex()} vs "
                f"{new_root.hex()} (the log forked)"
            )
        return
    for what, h in (("old root", old_root), ("new root", new_root)):
        if len(h) != HASH_SIZE:
            raise VerificationError(f"{what} is {len(h)} bytes, expected {HASH_SIZE}")
    want = _consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        raise VerificationError(
            f"consistency proof has {len(proof)} hashes, expected {want} "
            f"from size {old_size} to {new_size}"
        )
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise VerificationError(f"proof hash {i} is {len(h)} bytes, expected {HASH_SIZE}")
    # When old_size is a power of two the old root is itself the first node of the path.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if fr != old_root:
        raise VerificationError(
            f"consistency proof computes old root {fr.hex()}, but the tree of size "
            f"{old_size} has root {old_root.hex()}"
        )
    if sr != new_root:
        raise VerificationError(
            f"consistency proof computes new root {sr.hex()}, but the tree of size "
            f"{new_size} has root {new_root.hex()}"
        )


def _consistency_proof_length(old_size: int, new_size: int) -> int:
    # The proof is the inclusion path of the old tree's last leaf (index old_size - 1) in
    # the new tree, minus the lowest levels inside the largest complete subtree ending at
    # old_size (one hash per trailing zero bit of old_size), plus that subtree's hash
    # itself unless it is the whole old tree (old_size a power of two).
    last = old_size - 1
    inner = (last ^ (new_size - 1)).bit_length()
    border = bin(last >> inner).count("1")
    shift = (old_size & -old_size).bit_length() - 1
    length = inner - shift + border
    if old_size & last:
        length += 1
    return length


class CompactRange:
    """Roots of the perfect subtrees covering leaves [0, size) (RFC 9162 §2.1.1 tree).

    Appending costs O(1) amortised and the root O(log size), in O(log size) memory: what a
    client or auditor needs to check a replayed ledger against a checkpoint without keeping
    every node (use `MemoryTree` when proofs are needed too).
    """

    def __init__(self) -> None:
        self.size = 0
        self.peaks: list[bytes] = []  # left to right, sizes strictly decreasing powers of two

    def append(self, leaf_hash: bytes) -> None:
        self.peaks.append(leaf_hash)
        self.size += 1
        merged = self.size
        while merged & 1 == 0:  # each trailing zero bit of the new size closes one subtree
            right = self.peaks.pop()
            left = self.peaks.pop()
            self.peaks.append(node_hash(left, right))
            merged >>= 1

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        acc = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            acc = node_hash(peak, acc)
        return acc


class MemoryTree:
    """An in-memory append-only tree keeping every complete node in a dict.

    For tests and clients; the server stores the same nodes (from `new_nodes`) in a table.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def get(self, level: int, index: int) -> bytes:
        """The `NodeReader` of this tree; raises NotFound for an incomplete or absent node."""
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise NotFound(f"no complete node at level {level}, index {index}") from None

    def append(self, data: bytes) -> int:
        """Append a leaf with entry bytes `data`; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, leaf: bytes) -> int:
        """Append an already-hashed leaf; returns its index."""
        index = self._size
        for level, i, h in new_nodes(index, leaf, self.get):
            self._nodes[(level, i)] = h
        self._size += 1
        return index

    def leaf_hash(self, index: int) -> bytes:
        """Leaf hash at `index`."""
        return self.get(0, index)

    def root(self, size: int | None = None) -> bytes:
        """Root at `size` leaves (default: the current size)."""
        return root_at(self._size if size is None else self._check(size), self.get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH for leaf `index` in the tree of `size` leaves (default: current size)."""
        return inclusion_proof(index, self._size if size is None else self._check(size), self.get)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF from `old_size` to `new_size` leaves (default: current size)."""
        new = self._size if new_size is None else self._check(new_size)
        return consistency_proof(old_size, new, self.get)

    def _check(self, size: int) -> int:
        if size > self._size:
            raise InvalidInput(f"tree size {size} is beyond the {self._size} leaves appended")
        return size
