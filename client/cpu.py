"""A pool of worker processes for the hot big-integer work (docs/architecture.md).

gmpy2 holds the GIL, so decryption shares, share verifications and aggregates computed on
gRPC threads would run one at a time whatever the core count. The pool runs them in
separate processes (spawned, never forked: a forked copy of a process running gRPC threads
is not safe). Arguments and results are plain dataclasses and ints, pickled across.
`workers=0` runs everything inline, for tests that want determinism.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

T = TypeVar("T")

YOUNG_COLLECTION_THRESHOLD = 20_000
"""Container allocations between two young-generation collections in a long-running
process (CPython's default is 700)."""


def settle_gc() -> None:
    """Tune the cyclic garbage collector for a long-running service process, once it has
    started (docs/performance.md, "Less work per report in every verifier").

    Everything alive now (modules, the alliance, caches, gRPC's objects) is moved out of the
    collector's view with `gc.freeze`, and young collections run after 20,000 container
    allocations instead of 700. Each report allocates hundreds of containers (decoded
    entries, futures, protobuf wrappers), so with the defaults perf put about 8 % of the
    operator's main process in the collector, most of it traversing objects that live as
    long as the process. Reference cycles are still collected, only in larger, rarer
    sweeps; nothing is disabled. Memory cost: at most the young objects of one sweep.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


def start_worker(owner_pid: int) -> None:
    """Set up a pool worker of the service process `owner_pid` (this pool's and the report
    verifier's, `server.intake`): Ctrl-C is the owner's to handle, it shuts the pool down,
    so a worker must not die of it first and print a traceback; the collector is settled
    as the owner's (`settle_gc`); and the worker ends once its owner is gone.

    A pool worker blocks on the pool's call queue, whose pipes it holds both ends of, and
    an owner killed without a shutdown (SIGKILL, the OOM killer) never closes it: without
    the watch its workers, and a fork server's, would wait there for ever.

    The watch ends the worker once its parent is no longer the one it started with (the
    kernel hands the children of a process that dies to another at once, even while the
    dead one waits to be reaped, so neither a zombie owner nor a reused pid can hide it;
    a fork server's workers see their fork server end, which it does when the owner
    does; a fork server killed alone ends its workers too, and the report verifier starts a
    new pool, as for any worker that dies), or once no process has the owner's pid.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settle_gc()
    threading.Thread(target=_exit_with, args=(owner_pid, os.getppid()), name="candor-owner-watch",
                     daemon=True).start()


def _exit_with(owner_pid: int, parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(0)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass  # the pid exists (owned by another user)


class CpuPool:
    def __init__(self, workers: int | None = None) -> None:
        count = os.cpu_count() or 1 if workers is None else workers
        self.workers = max(count, 0)
        """Worker processes (0: everything runs inline in the caller)."""
        spawn = multiprocessing.get_context("spawn")
        self._executor = (futures.ProcessPoolExecutor(max_workers=count, mp_context=spawn, initializer=start_worker,
                                                      initargs=(os.getpid(),))
                          if count > 0 else None)

    def submit(self, fn: Callable[..., T], *args: Any) -> futures.Future[T]:
        if self._executor is None:
            done: futures.Future[T] = futures.Future()
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - delivered through the future, like the pool does
                done.set_exception(exc)
            return done
        return self._executor.submit(fn, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
