"""A pool of precomputed ring-signature coupons, each spent once (docs/reports.md, "Ring signature").

A coupon (`core.ring.make_coupon`) is the offline half of a ring signature: Cx = x·G + ρ·H
and the 1-of-n proof that Cx − P_j = ρ·H for some ring member j, bound to the ledger, the
ring and the membership change that defines it. It is independent of the subject and of
the report, so it can be computed ahead of time (about n scalar multiplications: 14 ms for
a ring of 20), leaving one hash to curve and four multiplications for the online half.

Why a coupon is never used twice:
- its Cx would appear on two reports, and since Cx is the same bytes in both, anyone
  could link them (two reports about different subjects would be known to come from one
  member, which the unlinkable link tags are there to prevent); the ledger therefore
  refuses a Cx it has already recorded, so the second report would be lost anyway;
- the online proof answers a challenge e with z1 = a + e·x. Its nonce a is hedged (a hash
  of x, ρ, the message and fresh randomness), so two messages never share one; but were a
  coupon and its nonce reused (a restored snapshot replaying the same random bytes for a
  different report), two answers z1, z1' to e ≠ e' would give x = (z1 − z1')/(e − e'),
  the member's reporting key.
So `take` removes the coupon from the pool and calls `spend(commitment)` *before*
returning it: a caller that keeps coupons beyond one process (the SDK decides) records the
spend durably there, and the signature is made only after that returned.

A coupon is void when the ring changes: it names the ring and the membership change, and
the ledger accepts only signatures naming the latest one. `take` drops every coupon made
for another context, and the background thread works for the newest context asked for.

Core stays pure: no file I/O here; persistence is the `spend` callback's business.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InvalidInput
from core.group import Group
from core.pool import Pool
from core.ring import Coupon, RingContext, make_coupon, public_key

__all__ = ["CouponPool"]


class CouponPool(Pool[Coupon]):
    """Thread-safe coupons for one reporting key, made for the latest ring asked for.

    `take(context)` returns a fresh coupon for `context`, computing one on the spot if
    none is ready (so the pool only changes speed, never correctness), after calling
    `spend(Cx)`. `refill(context, count)` computes coupons in the calling thread;
    `start_background(context, target_size)` keeps `target_size` of them ready from a
    daemon thread until `close()` (arkworks holds the GIL while multiplying, so that thread
    competes with the caller: start it only in long-lived clients, never in a one-shot
    command). A new context voids every coupon made for the old one (`core.pool.Pool._void`),
    including one being made at that moment. The coupons hold the member's secrets: never
    log or serialise them.
    """

    def __init__(self, group: Group, x: int, spend: Callable[[bytes], None] | None = None) -> None:
        super().__init__(None, "coupon-pool")
        self._group = group
        self._x = x
        self._public_key = public_key(x, group)
        self._spend = spend
        self._context: RingContext | None = None

    def __repr__(self) -> str:
        return f"<CouponPool {len(self)} ready>"

    def _compute(self) -> Coupon:
        context = self._context
        if context is None:
            raise InvalidInput("no ring to make a coupon for yet: take, refill or start_background with one")
        return make_coupon(self._group, context, self._x)  # InvalidInput if this key left the ring

    def _switch(self, context: RingContext) -> None:
        """Make `context` current; coupons of any other context are void (called locked)."""
        if self._context != context:
            self._context = context
            self._void()

    def take(self, context: RingContext) -> Coupon:  # type: ignore[override]
        """Remove and return one coupon for `context` (made now if none is ready), after
        `spend` has recorded its commitment. If `spend` raises, the coupon is dropped and
        the error propagates: no signature may use a coupon whose spend was not recorded."""
        if not isinstance(context, RingContext):
            raise InvalidInput("take needs the RingContext to sign for")
        with self._cond:
            if self._closed:
                raise InvalidInput("this coupon pool is closed: create a new one")
            self._switch(context)
            coupon = self.take_ready()  # a coupon for `context`: the switch voided the rest
        if coupon is None:
            coupon = make_coupon(self._group, context, self._x)
        if self._spend is not None:
            self._spend(coupon.commitment)
        return coupon

    def refill(self, context: RingContext, count: int) -> None:  # type: ignore[override]
        """Compute `count` more coupons for `context` in the calling thread."""
        with self._cond:
            self._switch(context)
        super().refill(count)

    def start_background(self, context: RingContext, target_size: int) -> None:  # type: ignore[override]
        """Keep `target_size` coupons for `context` ready from a daemon thread until
        `close()`; a later `take` or `start_background` for another context redirects it."""
        if target_size < 1:
            raise InvalidInput(f"target size {target_size} must be at least 1")
        if self._public_key not in context.ring:  # fail here, not in the thread
            raise InvalidInput("your reporting public key is not in the ring: only admitted, unrevoked "
                               "members can sign")
        with self._cond:
            if self._closed:
                raise InvalidInput("this coupon pool is closed: create a new one")
            self._switch(context)
            super().start_background(target_size)
