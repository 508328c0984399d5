"""The worker pool computes in spawned processes and carries Candor errors back intact."""

from __future__ import annotations

import subprocess
import sys
import time
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


@pytest.mark.slow  # starts an interpreter that starts two more
@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "a zombie"])
def test_workers_end_when_their_owner_is_killed(reaped: bool) -> None:
    """A trustee or an operator killed with SIGKILL never shuts its pool down; each worker
    watches its owner and ends, instead of waiting for ever on the pool's queue. Also while
    the dead owner is not reaped yet (a zombie, whose pid still answers a signal)."""
    owner = subprocess.Popen([sys.executable, "-c", (
        "import time\n"
        "from client.cpu import CpuPool\n"
        "pool = CpuPool(2)\n"
        "jobs = [pool.submit(time.sleep, 0.5) for _ in range(2)]\n"  # both workers at once
        "[j.result() for j in jobs]\n"
        "print(*pool._executor._processes, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        assert owner.stdout is not None
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(workers) == 2 and all(running(pid) for pid in workers)
        owner.kill()
        if reaped:
            owner.wait()
        deadline = time.monotonic() + 60
        while any(running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(running(pid) for pid in workers)
    finally:
        owner.kill()
        owner.wait()


def running(pid: int) -> bool:
    """Whether `pid` runs: one that ended unreaped (a zombie) does not."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
