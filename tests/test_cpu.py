"""The worker pool computes in spawned processes and carries Candor errors back intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.identity import load_key_file
from client.cpu import YOUNG_COLLECTION_THRESHOLD, CpuPool
from core import threshold
from core.errors import VerificationError

KEY = Path(__file__).parent / "keys" / "test_only_threshold_1024_t2_n3.json"


@pytest.mark.parametrize("workers", [0, 1])
def test_share_and_verification_through_the_pool(workers: int) -> None:
    pub, shares = load_key_file(KEY)
    c = pub.phe().encrypt(42).ciphertext(be_secure=False)
    pool = CpuPool(workers)
    try:
        made = [pool.submit(threshold.decryption_share, pub, s, c).result(timeout=60) for s in shares[:2]]
        assert threshold.combine(pub, c, made) == 42
        forged = threshold.DecryptionShare(made[0].index, made[1].c_i, made[0].challenge, made[0].response)
        with pytest.raises(VerificationError, match="trustee 1"):
            pool.submit(threshold.verify_share, pub, c, forged).result(timeout=60)
    finally:
        pool.close()


def _collector_state() -> tuple[int, int, bool]:
    """In a pool worker: the young threshold, the frozen count, and whether a cycle made
    now is still collected."""
    import gc
    import weakref

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    return gc.get_threshold()[0], gc.get_freeze_count(), alive() is None


def test_service_processes_settle_the_collector_without_disabling_it() -> None:
    # A pool worker runs settle_gc at start-up: the state it found then is frozen and young
    # collections are rarer, but a reference cycle made afterwards is still collected.
    pool = CpuPool(1)
    try:
        threshold_0, frozen, collected = pool.submit(_collector_state).result(timeout=60)
    finally:
        pool.close()
    assert threshold_0 == YOUNG_COLLECTION_THRESHOLD
    assert frozen > 0
    assert collected
