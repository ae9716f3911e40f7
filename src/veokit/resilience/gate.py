"""Pacing per provider and credential: a requests-per-period limiter, a cap on jobs in flight, and a
shared cool-down so that one 429 slows every job of that provider, not only the one that got it.

Requests go out in slots: each takes the next free one, at least ``gap`` after the previous, where the gap is
the configured rate's ``period / count`` (evenly spaced: a bucket of ``count`` would allow a burst of ``count``
and keep dripping, i.e. up to twice the quota in one window) or the spacing learned from 429s, whichever is
longer. Every wait is on the injected clock.

The configured gap is stretched by :data:`PACING_MARGIN`: slots exactly ``period / count`` apart put request
``k + count`` at exactly one window after request ``k``, so a request that reaches the provider a few ms later
than the one a window after it (a busy event loop, a slower connection) makes ``count + 1`` in one window: a 429.
The margin (2%: 1.2 s a minute) is split in two. Half is the *slack*, how late a request may leave after its
slot (the writes between slot and send); the other half is kept, whatever happens, for the *transit*: a request
that left on time may still reach the provider's counter later than the one a window after it (its first
connection, a stalled event loop on either side). A request that leaves later than the slack (a process's first
submit runs cold: its first statements, its first connection; measured 1-14 s on a loaded machine) reports how
late it was (:meth:`ProviderGate.sent`), and every later slot moves back by the lateness beyond the slack.

Measured (docs/benchmarks.md, target 5, 120/min from 1-4 workers): a margin of 1% with every late request
moving later slots back by its whole lateness made a 120 s run 8-11 s longer at load 20; moving them back by
the lateness beyond a 1% slack, with nothing kept for the transit, met a 429 mid-run at load 6 (the likeliest
cause: a request that left within the slack but reached the provider later than the one a window after it).

Why that is enough, with ``m`` the margin's half in seconds (``gap = period / count * (1 + margin)``, so
``count`` gaps are ``period + 2m``): request ``k + count`` takes its slot after ``count`` takes and after every
push made meanwhile, so ``slot[k + count] >= slot[k] + period + 2m + max(0, late[k] - m)
>= sent[k] + period + m``, as long as request ``k``'s push lands before slot ``k + count`` is handed out (within a
window minus the slots held ahead, one per process). So request ``k + count`` leaves at least a window and ``m``
after request ``k`` left, however late that was: two requests a window apart may differ by ``m`` in transit.
What it costs: pushes add up, so lateness beyond the slack that *every* request has (a slow path between slot
and send) slows every request, where it would only need to slow one per window (the exact rule would keep the
last ``count`` departures and give request ``k + count`` the slot ``sent[k] + period``).

Where slots come from is a seam (:class:`Slots`): this process alone (:class:`LocalSlots`), or the job store, so
that every worker sharing it paces one quota (the engine's ``StoreSlots``, :mod:`veokit.store.rate_slots`). Only
one request of a process holds a slot at a time (the rest queue in the process, first come first served): a job
cancelled or a worker stopped while waiting then loses at most that one slot for everyone sharing the quota.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Protocol

from veokit.errors import ConfigError
from veokit.resilience.clock import Clock

log = logging.getLogger("veokit.pacing")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|second|m|min|minute|h|hour)\s*$")
PACING_MARGIN = 0.02
MIN_SPACING_S = 0.05
MAX_SPACING_S = 60.0
_UNIT = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[float, float]:
    """ "10/min", "5/2s", "1/s" → (count, period seconds)."""
    m = _RATE.match(text)
    if not m:
        raise ConfigError(f"rate limit {text!r}: write it as COUNT/PERIOD, e.g. 10/min, 5/2s")
    count, mult, unit = float(m.group(1)), float(m.group(2) or 1), m.group(3)
    if count <= 0 or mult <= 0:
        raise ConfigError(f"rate limit {text!r}: count and period must be positive")
    return count, mult * _UNIT[unit]


class Slots(Protocol):
    async def take(self, key: str, gap_s: float) -> float:
        """Take ``key``'s next free slot, at least ``gap_s`` after the one before it; the seconds until it."""
        ...


class LocalSlots:
    """Slots of this process alone, on its clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}

    async def take(self, key: str, gap_s: float) -> float:
        now = self.clock.monotonic()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + gap_s
        return slot - now


class ProviderGate:
    def __init__(
        self,
        clock: Clock,
        *,
        rate: tuple[float, float] | None,
        max_in_flight: int | None,
        slots: Slots | None = None,
        key: str = "provider",
    ) -> None:
        self.clock = clock
        # The configured rate as a gap between requests, with the margin above.
        self.interval_s = rate[1] / rate[0] * (1 + PACING_MARGIN) if rate else 0.0
        # How late a request may leave after its slot: half what the margin buys (the other half is the transit's).
        self.slack_s = rate[1] * PACING_MARGIN / 2 if rate else 0.0
        self.in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.cooldown_until = 0.0
        # Learned spacing between requests: doubled by each 429, shrunk by successes (AIMD). Without it,
        # every job waiting out a cool-down would wake at the same instant and trip the quota again.
        self.spacing_s = 0.0
        self.slots: Slots = slots or LocalSlots(clock)
        self.key = key
        self._turn = asyncio.Lock()  # one waiter of this process holds a slot at a time (see the module's doc)
        self._pushes: set[asyncio.Task[float]] = set()  # slots moved back after a late request (see sent())

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, self.clock.monotonic() + seconds)

    def rate_limited(self, retry_after_s: float | None, fallback_s: float) -> None:
        # 429s from one burst arrive together: only the first of them (outside a cool-down) widens the spacing.
        if self.clock.monotonic() >= self.cooldown_until:
            self.spacing_s = min(max(self.spacing_s * 2, MIN_SPACING_S), MAX_SPACING_S)
        self.cool_down(retry_after_s if retry_after_s is not None else fallback_s)

    def succeeded(self) -> None:
        self.spacing_s = 0.0 if self.spacing_s * 0.8 < MIN_SPACING_S / 2 else self.spacing_s * 0.8

    async def before_request(self) -> float:
        """Wait out a provider-wide cool-down, then for this request's slot; return when that was (this clock)."""
        while True:
            while (left := self.cooldown_until - self.clock.monotonic()) > 0:
                await self.clock.sleep(left)
            gap = max(self.interval_s, self.spacing_s)
            if gap <= 0:
                return self.clock.monotonic()
            async with self._turn:
                wait = await self.slots.take(self.key, gap)
                if wait > 0:
                    await self.clock.sleep(wait)
            # Else a 429 arrived while this request waited for its slot: wait that out first.
            if self.clock.monotonic() >= self.cooldown_until:
                return self.clock.monotonic()

    def sent(self, late_s: float) -> None:
        """The request released by :meth:`before_request` went out ``late_s`` after its slot. Later than the
        margin allows, every later slot moves back by the lateness beyond it (see the module's doc).

        In the background, and a failure is only logged: this follows a paid call, whose outcome the caller
        must record whatever the store says about pacing."""
        log.debug("%s: a request left %.3f s after its slot", self.key, late_s)
        if self.slack_s > 0 and late_s > self.slack_s:
            moved = late_s - self.slack_s
            log.debug("%s: a request left %.3f s after its slot; later slots move back %.3f s", self.key, late_s, moved)
            push = asyncio.get_running_loop().create_task(self.slots.take(self.key, moved))
            self._pushes.add(push)
            push.add_done_callback(self._pushed)

    def _pushed(self, push: asyncio.Task[float]) -> None:
        self._pushes.discard(push)
        if not push.cancelled() and (exc := push.exception()) is not None:
            log.warning("could not move %s's later request slots back: %s", self.key, exc)
