"""A pool of worker processes for the hot big-integer work (docs/architecture.md).

gmpy2 holds the GIL, so decryption shares, share verifications and aggregates computed on
gRPC threads would run one at a time whatever the core count. The pool runs them in
separate processes (spawned, never forked: a forked copy of a process running gRPC threads
is not safe). Arguments and results are plain dataclasses and ints, pickled across.
`workers=0` runs everything inline, for tests that want determinism.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

T = TypeVar("T")


class CpuPool:
    def __init__(self, workers: int | None = None) -> None:
        count = os.cpu_count() or 1 if workers is None else workers
        self.workers = max(count, 0)
        """Worker processes (0: everything runs inline in the caller)."""
        spawn = multiprocessing.get_context("spawn")
        self._executor = futures.ProcessPoolExecutor(max_workers=count, mp_context=spawn) if count > 0 else None

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
