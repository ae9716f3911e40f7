"""Request slots from the job store: every worker sharing the store paces one quota per provider.

The rules are :mod:`veokit.store.rate_slots`'; this is the seam :class:`veokit.resilience.gate.ProviderGate`
asks. Whose clock the slots are reckoned on: the store's (the database's), for an engine on the real clock,
since a process's monotonic clock means nothing to another process; an engine on an injected clock (tests, a
simulation) reckons them on that clock instead, which every process sharing the store must then share.
"""

from __future__ import annotations

from collections.abc import Callable

from veokit.resilience.clock import Clock, SystemClock
from veokit.store.base import JobStore


class StoreSlots:
    def __init__(self, store: JobStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock
        self._now: Callable[[], float] | None = None if isinstance(clock, SystemClock) else clock.monotonic

    async def take(self, key: str, gap_s: float) -> tuple[float, int]:
        if self._now is None:
            # Counted from the database's answer: the time the answer took to come back makes the wait that much
            # longer than needed, never shorter.
            return await self.store.take_rate_slot(key, gap_s=gap_s)
        asked = self._now()
        wait, seq = await self.store.take_rate_slot(key, gap_s=gap_s, now=asked)
        return wait - (self._now() - asked), seq  # on a shared clock the slot is exact, however long the store took

    async def sent(self, key: str, *, seq: int, left_at: float, count: int, window_s: float) -> None:
        # The departure goes to the store as "this long ago": the store reckons it back from its own clock when the
        # statement runs, later than now, so the departure it holds others to comes out later, never earlier.
        now = self._now() if self._now is not None else None
        ago_s = max(0.0, (now if now is not None else self._clock.monotonic()) - left_at)
        await self.store.rate_slot_sent(key, seq=seq, ago_s=ago_s, count=count, window_s=window_s, now=now)
