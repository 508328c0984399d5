"""A pool of values computed ahead of time, each handed out once.

A client precomputes what a report needs but does not depend on it (the r^n of a Paillier
encryption, `core.paillier.RnPool`; the nonces of a validity proof, `core.proofs`) so that
the online step is cheap. Each value is used at most once: `take` removes it, and computes
one on the spot if the pool is empty, so a pool only ever changes speed, never correctness.
`start_background(target_size)` keeps the pool topped up from a daemon thread; gmpy2 and
arkworks hold the GIL while they compute, so that thread competes with the caller for CPU.
The values are secret randomness: never log or serialise them.

Some values are good only under a setting that can change: a ring-signature coupon names
the ring it was made for (`core.coupons.CouponPool`). A subclass then calls `_void()` when
the setting changes: every value computed so far is dropped, and one being computed while
the setting changed is dropped when it is done, so no value made under an old setting is
ever handed out.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Self, TypeVar

from core.errors import InvalidInput

T = TypeVar("T")


class Pool(Generic[T]):
    """Values of `compute()` (or of a subclass's `_compute`), computed ahead and handed out
    once each (thread-safe)."""

    def __init__(self, compute: Callable[[], T] | None, name: str, size: int = 0) -> None:
        self._factory = compute
        self._name = name
        self._values: deque[T] = deque()
        self._cond = threading.Condition()
        self._target = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._generation = 0  # bumped by _void(): values of an older generation are dropped
        if size:
            self.refill(size)

    def _compute(self) -> T:
        """One value under the current setting. InvalidInput means none can be made until
        the setting changes (the background thread then waits for `_void`)."""
        if self._factory is None:
            raise NotImplementedError("a Pool needs a compute function or a _compute method")
        return self._factory()

    def _void(self) -> None:
        """Drop every value, ready or being computed: the setting they were made under has
        changed. Call with `_cond` held, together with the change (so `_compute` never sees
        the new setting under the old generation)."""
        self._generation += 1
        self._values.clear()
        self._cond.notify_all()

    def _keep(self, value: T, generation: int) -> None:
        """Add `value`, computed under `generation`, unless it is void or the pool closed
        (call with `_cond` held)."""
        if not self._closed and generation == self._generation:
            self._values.append(value)

    def take(self) -> T:
        """Remove and return one value; compute one now if the pool is empty."""
        with self._cond:
            if self._values:
                value = self._values.popleft()
                self._cond.notify_all()
                return value
        return self._compute()

    def take_ready(self) -> T | None:
        """Remove and return one value already computed, or None if there is none (for a
        caller with a cheaper way of its own when nothing was computed ahead)."""
        with self._cond:
            if not self._values:
                return None
            value = self._values.popleft()
            self._cond.notify_all()
            return value

    def refill(self, count: int) -> None:
        """Compute `count` more values in the calling thread and add them to the pool."""
        if count < 0:
            raise InvalidInput(f"cannot refill a negative number ({count}) of values")
        for _ in range(count):
            with self._cond:
                generation = self._generation
            value = self._compute()
            with self._cond:
                self._keep(value, generation)

    def start_background(self, target_size: int) -> None:
        """Keep the pool at `target_size` values from a daemon thread until `close()`."""
        if target_size < 1:
            raise InvalidInput(f"target size {target_size} must be at least 1")
        with self._cond:
            if self._closed:
                raise InvalidInput("this pool is closed: create a new one")
            self._target = target_size
            if self._thread is not None:
                self._cond.notify_all()
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and len(self._values) >= self._target:
                    self._cond.wait()
                if self._closed:
                    return
                generation = self._generation
            try:
                value = self._compute()
            except InvalidInput:  # nothing can be made under this setting: wait for the next
                with self._cond:
                    while not self._closed and generation == self._generation:
                        self._cond.wait()
                continue
            with self._cond:
                if self._closed:
                    return
                self._keep(value, generation)

    def close(self) -> None:
        """Stop the background thread (if any) and drop every precomputed value."""
        with self._cond:
            self._closed = True
            self._values.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        with self._cond:
            return len(self._values)
