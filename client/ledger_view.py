"""The member SDK's verified view of the ledger, kept across runs (docs/ledger.md, "The member's
view of the ledger").

The SDK replays the ledger through `core.state.apply` to know the current ring (client/sdk.py).
Replaying 10^5 entries from genesis on every `candor report submit` costs seconds, so the
replayed state is written to `view.state` beside `verifier.state`, and the next run replays
only the entries after it.

What the file holds: the genesis hash it belongs to; the size, the compact range (the peaks
of the Merkle tree over those entries, merkle.CompactRange) and its root; the operator-signed
checkpoint note the view was verified against (its size and root); and the replayed state
(what `core.state.MemoryState` holds: key → canonical JSON value).

Why a file is believed, and when not. The state is not covered by any Merkle root, so a
changed state entry could not be noticed from the ledger. The file is therefore
authenticated with HMAC-SHA256 under a key only this member has (derived from its reporting
key, which never leaves the identity folder, and the genesis hash); `ViewFile.load` returns
None, and the SDK replays from genesis, unless all of these hold: the format version is this
one, the MAC verifies, the genesis hash is this alliance's, the peaks hash to the recorded root
at the recorded size, and the recorded checkpoint note carries this alliance's operator
signature for exactly that size and root. Beyond the file, the SDK holds the view to the same
rules as one replayed in this session: the entries fetched after it must hash, together with
its peaks, to the root of the operator's newest accepted checkpoint; against a ledger served
at the view's size or smaller, the view's checkpoint goes through `LogVerifier.accept` (the
fork and rollback rules of client/verifier.py: the same root at the same size, or a
consistency proof that the log still holds it), or the run fails.

Encoding (version 1), so that a run reads only the keys it needs (the state of 10^5 reports
is ~3·10^5 keys, ~70 MB; parsing all of it would cost more than the replay it saves): MAGIC;
one line of JSON (genesis, size, root, peaks, note, the number of keys and the byte lengths of
the blocks); the keys in ascending byte order, concatenated; the values, concatenated; the
start offsets of each key and of each value (n + 1 little-endian uint64 each); then the
32-byte MAC over everything before it. `PersistedState` maps the file and finds a key by
binary search; the updates of later entries stay in memory on top of it. The MAC is checked
over the whole file once, when it is loaded (about 45 ms at 70 MB).

Rewriting the whole file costs about as much as loading it eagerly, so the SDK writes it after
the first sync and then only once the view is `SAVE_AFTER` entries ahead of the file; until
then a run replays those few entries again. The file is a cache: it is written to a temporary
file and renamed over the old one, without fsync, since a file torn by a crash fails its MAC
and is rebuilt.
"""

from __future__ import annotations

import array
import base64
import bisect
import hashlib
import hmac
import itertools
import json
import mmap
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from api.identity import write_private
from core import merkle, state
from core.alliance import Alliance
from core.checkpoint import VerifiedCheckpoint
from core.errors import CandorError

MAGIC = b"candor-member-view/1\n"
SAVE_AFTER = 256
"""The view is written again once it is this many entries ahead of the file."""

_MAC_BYTES = 32
_KEY_CONTEXT = b"candor/v1/member-view-key\n"
_OFFSET: Literal["Q"] = "Q"  # uint64, little-endian on every platform this runs on (checked below)
assert sys.byteorder == "little"


class _Keys:
    """The sorted keys of a mapped file as a sequence of bytes, for `bisect`."""

    def __init__(self, block: memoryview, offsets: memoryview) -> None:
        self._block, self._offsets = block, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return bytes(self._block[self._offsets[i]:self._offsets[i + 1]])


class PersistedState:
    """A `core.state.StateView` over a mapped view file (read-only, by binary search) with
    the updates of later entries on top, in memory; `update` takes them as MemoryState's does,
    and a scan reads only the updates under its prefix (`core.state.KeysByPrefix`)."""

    def __init__(self, keys: _Keys | None = None, values: memoryview | None = None,
                 value_offsets: memoryview | None = None) -> None:
        self._keys, self._values, self._value_offsets = keys, values, value_offsets
        self.updates: state.Updates = {}
        self._updated = state.KeysByPrefix()

    def _base_get(self, i: int) -> bytes:
        assert self._values is not None and self._value_offsets is not None
        return bytes(self._values[self._value_offsets[i]:self._value_offsets[i + 1]])

    def get(self, key: str) -> bytes | None:
        if key in self.updates:
            return self.updates[key]
        if self._keys is None:
            return None
        raw = key.encode()
        i = bisect.bisect_left(self._keys, raw)
        if i < len(self._keys) and self._keys[i] == raw:
            return self._base_get(i)
        return None

    def _base_items(self, prefix: bytes = b"") -> Iterator[tuple[str, bytes]]:
        if self._keys is None:
            return
        i = bisect.bisect_left(self._keys, prefix) if prefix else 0
        while i < len(self._keys):
            key = self._keys[i]
            if not key.startswith(prefix):
                return
            yield key.decode(), self._base_get(i)
            i += 1

    def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        return state.overlaid(self._base_items(prefix.encode()), self._updated.within(self.updates, prefix), prefix)

    def update(self, updates: state.Updates) -> None:
        for key in updates:
            if key not in self.updates:
                self._updated.add(key)
        self.updates.update(updates)

    def items(self) -> list[tuple[str, bytes]]:
        """Every (key, value), in ascending byte order of the key."""
        return self.scan("")


@dataclass
class LedgerView:
    """The ledger as replayed and verified by this client, up to `size`; `note` is the
    operator-signed checkpoint it was verified against (empty before the first sync), and
    `saved` the size of the view in the file (0: none)."""

    kv: PersistedState
    tree: merkle.CompactRange
    alliance: Alliance | None = None
    note: bytes = b""
    saved: int = 0

    @property
    def size(self) -> int:
        return self.tree.size


def view_key(secret: bytes, genesis_hash: bytes) -> bytes:
    """The MAC key of a member's view file: SHA-256 of a context, the genesis hash and a
    secret of the member's (its reporting key)."""
    return hashlib.sha256(_KEY_CONTEXT + genesis_hash + secret).digest()


def encode(view: LedgerView, genesis_hash: bytes, key: bytes) -> bytes:
    """The file bytes of `view`."""
    items = [(k.encode(), v) for k, v in view.kv.items()]
    keys = b"".join(k for k, _ in items)
    values = b"".join(v for _, v in items)
    key_offsets = array.array(_OFFSET, _running([len(k) for k, _ in items])).tobytes()
    value_offsets = array.array(_OFFSET, _running([len(v) for _, v in items])).tobytes()
    header = json.dumps({
        "genesis": genesis_hash.hex(), "size": view.size, "root": view.tree.root().hex(),
        "peaks": [p.hex() for p in view.tree.peaks], "note": base64.b64encode(view.note).decode(),
        "entries": len(items), "keys_bytes": len(keys), "values_bytes": len(values),
    }, separators=(",", ":")).encode()
    body = b"".join((MAGIC, header, b"\n", keys, values, key_offsets, value_offsets))
    return body + hmac.new(key, body, hashlib.sha256).digest()


def _running(lengths: list[int]) -> list[int]:
    return [0, *itertools.accumulate(lengths)]


def decode(raw: memoryview, genesis_hash: bytes, key: bytes,
           open_note: Callable[[bytes], VerifiedCheckpoint]) -> LedgerView | None:
    """The view in `raw` (the file's bytes, typically mapped) if it passes every check of the
    module docstring, else None. `open_note` checks a checkpoint note's operator signature
    (`LogVerifier.open`)."""
    if len(raw) < len(MAGIC) + _MAC_BYTES or bytes(raw[:len(MAGIC)]) != MAGIC:
        return None
    body, mac = raw[:-_MAC_BYTES], bytes(raw[-_MAC_BYTES:])
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    try:
        head = bytes(body[:min(len(body), len(MAGIC) + 65536)])
        end = head.index(b"\n", len(MAGIC))
        header = json.loads(head[len(MAGIC):end])
        if bytes.fromhex(header["genesis"]) != genesis_hash:
            return None
        tree = merkle.CompactRange()
        tree.size = int(header["size"])
        tree.peaks = [bytes.fromhex(p) for p in header["peaks"]]
        if tree.size < 1 or len(tree.peaks) != tree.size.bit_count() or \
                any(len(p) != merkle.HASH_SIZE for p in tree.peaks) or \
                tree.root() != bytes.fromhex(header["root"]):
            return None
        note = base64.b64decode(header["note"], validate=True)
        cp = open_note(note).checkpoint
        if (cp.size, cp.root_hash) != (tree.size, tree.root()):
            return None
        n, keys_len, values_len = int(header["entries"]), int(header["keys_bytes"]), int(header["values_bytes"])
        start = end + 1
        if n < 0 or len(body) != start + keys_len + values_len + 2 * 8 * (n + 1):
            return None
        keys_block = body[start:start + keys_len]
        values_block = body[start + keys_len:start + keys_len + values_len]
        at = start + keys_len + values_len
        key_offsets = body[at:at + 8 * (n + 1)].cast(_OFFSET)
        value_offsets = body[at + 8 * (n + 1):].cast(_OFFSET)
        if key_offsets[0] != 0 or key_offsets[n] != keys_len or value_offsets[0] != 0 or \
                value_offsets[n] != values_len:
            return None
    except (CandorError, ValueError, KeyError, TypeError):
        return None
    # Offsets are covered by the MAC, which only this member's SDK can compute, and it writes
    # them ascending, keys in ascending order: the binary search relies on that.
    kv = PersistedState(_Keys(keys_block, key_offsets), values_block, value_offsets)
    return LedgerView(kv, tree, note=note, saved=tree.size)


class ViewFile:
    """`ViewFile(path, genesis_hash, secret)`: load and save one member's view (module docstring)."""

    def __init__(self, path: Path, genesis_hash: bytes, secret: bytes) -> None:
        self.path = path
        self.genesis_hash = genesis_hash
        self._key = view_key(secret, genesis_hash)

    def load(self, open_note: Callable[[bytes], VerifiedCheckpoint]) -> LedgerView | None:
        """The persisted view, or None if there is none or it fails a check."""
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size == 0:
                    return None
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            return None
        return decode(memoryview(mapped), self.genesis_hash, self._key, open_note)

    def save(self, view: LedgerView) -> None:
        """Replace the persisted view by `view` (atomically: a temporary file, then a rename)."""
        write_private(self.path, encode(view, self.genesis_hash, self._key), sync=False)  # torn: fails its MAC
        view.saved = view.size
