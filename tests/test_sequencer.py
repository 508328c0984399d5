"""The single-process sequencer (`server.sequencer.LocalSequencer`) answers a batch only
after its commit: a refusal that rests on an earlier entry of the same batch must not reach
a caller when that entry never reached the ledger."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ring_record import admission

from api import wire
from api.identity import Identity
from core.errors import AlreadyExists, Unavailable
from server.ledger import random_permutation


def test_a_refusal_resting_on_a_failed_commit_is_not_answered(alliance_dir: Path, operator: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The same admission twice in one batch, whose commit fails: the second copy was refused
    as a duplicate of the first, but the first was never appended, so both callers are told
    to retry (UNAVAILABLE), not that the member already exists; the retry appends it."""
    ledger = operator.ledger
    regulator = Identity.load(alliance_dir / "regulator")
    first, twice = admission(regulator, "seq-first"), admission(regulator, "seq-twice")
    entered, release = threading.Event(), threading.Event()
    real_commit = ledger.commit
    commits = 0

    def commit(batch: Any, decided: int) -> None:
        nonlocal commits
        commits += 1
        if commits == 1:  # hold the first batch until the duplicates are queued behind it
            entered.set()
            assert release.wait(10)
            real_commit(batch, decided)
        elif commits == 2:
            raise OSError("disk I/O error")
        else:
            real_commit(batch, decided)

    monkeypatch.setattr(ledger, "commit", commit)

    def submit(leaf: bytes) -> Future[int]:
        queued: Future[int] = ledger.submit(leaf, wire.signed_entry_from_bytes(leaf), verified=False)
        return queued

    held = submit(first)
    assert entered.wait(10)
    copies = [submit(twice), submit(twice)]
    release.set()
    assert held.result(10) >= 0
    for copy in copies:
        with pytest.raises(Unavailable, match="append failed"):
            copy.result(10)

    index = submit(twice).result(10)
    with pytest.raises(AlreadyExists):
        submit(twice).result(10)
    assert ledger.store.entry(index) == twice


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=600, unique=True))
def test_a_batch_order_is_a_permutation_of_its_reports(values: list[int]) -> None:
    shuffled = random_permutation(values)
    assert sorted(shuffled) == sorted(values)


def test_every_order_of_a_batch_is_about_equally_likely() -> None:
    """Three reports, 6,000 draws: each of the six orders comes up about 1,000 times. The
    bound (±200, about 6.9 standard deviations) fails a fair shuffle with probability under
    10^-10; a shuffle that gave one order probability 2/9 instead of 1/6 (1,333 expected)
    would pass it about twice in 100,000 runs."""
    counts = Counter(tuple(random_permutation([0, 1, 2])) for _ in range(6000))
    assert set(counts) == set(itertools.permutations([0, 1, 2]))
    assert all(800 <= n <= 1200 for n in counts.values()), counts


def test_a_commit_after_a_quiet_spell_is_signed_at_once_and_later_ones_gather(alliance_dir: Path,
                                                                              tmp_path: Path) -> None:
    """The checkpointer signs at most one checkpoint an interval and adds no delay of its
    own. With an interval of an hour, the first commit after the genesis, made after an idle
    wake of the checkpointer, gets its checkpoint (and so its receipt) at once; a second
    commit within the hour gets none until the ledger stops, which signs the last one, and
    stopping does not wait for the hour either."""
    from server.ceremony import bootstrap_entries
    from server.database import open_store
    from server.ledger import Ledger

    store = open_store(str(tmp_path / "quiet.db"))
    ledger = Ledger(store, Identity.load(alliance_dir / "operator").note_signer(), checkpoint_interval=3600)
    ledger.append_now(bootstrap_entries(alliance_dir / "operator"))
    ledger.start()
    threads = list(ledger._threads)
    regulator = Identity.load(alliance_dir / "regulator")
    try:
        time.sleep(1.2)  # past the checkpointer's idle wake (every second), which signs nothing
        first = ledger.append(admission(regulator, "quiet-first"))
        assert ledger.wait_checkpoint(first + 1, timeout=30)[0] == first + 1
        second = ledger.append(admission(regulator, "quiet-second"))
        assert not ledger._wait_change(ledger._changes(), 0.5)  # no checkpoint within the hour
        assert store.latest_checkpoint()[0] == first + 1  # type: ignore[index]
    finally:
        ledger.stop()
    assert not any(t.is_alive() for t in threads)
    assert store.latest_checkpoint()[0] == second + 1  # type: ignore[index]
    store.close()
