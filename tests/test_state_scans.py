"""Prefix scans of the in-memory state (`core.state.MemoryState`, `core.state.Overlay`, the
SDK's `client.ledger_view.PersistedState`) read only the keys under their prefix
(`core.state.KeysByPrefix`); they must return exactly what reading every key returns,
whatever keys, deletions and prefixes come."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from client.ledger_view import PersistedState
from core import state

SEGMENT = st.sampled_from(["a", "b", "ab", "subject", "rules", "x1"])
KEY = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join) | st.lists(SEGMENT, min_size=1, max_size=3).map(
    lambda parts: "/".join(parts) + "/")
PREFIX = KEY | st.sampled_from(["", "a", "a/", "subject/", "subject/a", "rules/", "a/b/", "/"])
UPDATES = st.lists(st.tuples(KEY, st.none() | st.binary(min_size=1, max_size=3)), max_size=40)


def _every_key(data: dict[str, bytes], prefix: str) -> list[tuple[str, bytes]]:
    return sorted((k, v) for k, v in data.items() if k.startswith(prefix))


@settings(max_examples=300, deadline=None)
@given(st.lists(UPDATES, min_size=1, max_size=4), st.lists(PREFIX, min_size=1, max_size=6))
def test_memory_state_scans_as_reading_every_key(batches: list[list[tuple[str, bytes | None]]],
                                                 prefixes: list[str]) -> None:
    views, plain = (state.MemoryState(), PersistedState()), dict[str, bytes]()
    for batch in batches:
        for view in views:
            view.update(dict(batch))
        for key, value in dict(batch).items():
            if value is None:
                plain.pop(key, None)
            else:
                plain[key] = value
        for prefix in prefixes:
            assert all(view.scan(prefix) == _every_key(plain, prefix) for view in views)


@settings(max_examples=300, deadline=None)
@given(UPDATES, st.lists(UPDATES, min_size=1, max_size=4), st.lists(PREFIX, min_size=1, max_size=6))
def test_overlay_scans_as_reading_every_pending_update(base_updates: list[tuple[str, bytes | None]],
                                                        batches: list[list[tuple[str, bytes | None]]],
                                                        prefixes: list[str]) -> None:
    """Pending updates added between scans, a deletion of a stored key among them, and the
    dict replaced once: each scan is the stored pairs with every pending update on top."""
    base = state.MemoryState()
    base.update(dict(base_updates))
    overlay = state.Overlay(base)
    for n, batch in enumerate(batches):
        if n == 2:
            overlay.updates = dict(overlay.updates)  # replaced: the index starts afresh
        overlay.updates.update(batch)
        for prefix in prefixes:
            merged = dict(base.data)
            for key, value in overlay.updates.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            assert overlay.scan(prefix) == _every_key(merged, prefix)
