"""Pacing per provider and credential: a requests-per-period limiter, a cap on jobs in flight, and a
shared cool-down so that one 429 slows every job of that provider, not only the one that got it.

Requests go out in slots: each takes the next free one, at least ``gap`` after the previous, where the gap is
the configured rate's ``period / count`` (evenly spaced: a bucket of ``count`` would allow a burst of ``count``
and keep dripping, i.e. up to twice the quota in one window) or the spacing learned from 429s, whichever is
longer. Every wait is on the injected clock.

The configured gap is stretched by :data:`PACING_MARGIN`: slots exactly ``period / count`` apart put request
``k + count`` at exactly one window after request ``k``, so a request that reaches the provider a few ms later
than the one a window after it (a busy event loop, a slower connection) makes ``count + 1`` in one window: a 429.
The margin (2%: 1.2 s a minute) is split in two, ``m`` each: half is how late a request may leave after its slot
for free, the other half is kept, whatever happens, for the *transit* (a request may reach the provider's counter
later than the one a window after it: its first connection, a stalled event loop on either side).

A request that leaves late (a process's first submit runs cold, measured 1-14 s on a loaded machine; a starved
event loop) reports when it left (:meth:`ProviderGate.sent`), and the slot ``count`` takes after its own is held
to no earlier than its departure plus the window plus ``m`` (:meth:`Slots.sent`; the store's rule is in
:mod:`veokit.store.rate_slots`). That is a sliding window over actual departures, so request ``k + count``
leaves at least a window and ``m`` after request ``k`` however late that was, and since slots never go back,
after every request before ``k`` too: never more than ``count`` in a window, with ``m`` to spare for the transit.
What it costs: a late request holds back the request a window after it, and the ones after that by the gaps
between them, so lateness costs once per window (the latest departure of the window), not once per request. A
departure within ``m`` of its slot is not reported at all: the gaps already put the slot ``count`` later far
enough after it (lateness counted from when the slot was due, so a loop that woke late counts too).

Measured (docs/benchmarks.md, target 5, 120/min from 1-4 workers): the rule before this one moved every later
slot back by each late request's lateness beyond ``m``. Correct, but pushes added up: at load 9-17, 63 late
submits pushed a 120 s run 32 s later, where lateness that every request has needed no push at all (request
``k + count`` is late too). Moving slots back by the whole lateness, with a 1% margin, made a 120 s run 8-11 s
longer at load 20; a 1% margin with nothing kept for the transit met 429s at load 6.

Where slots come from is a seam (:class:`Slots`): this process alone (:class:`LocalSlots`), or the job store, so
that every worker sharing it paces one quota (the engine's ``StoreSlots``, :mod:`veokit.store.rate_slots`). Only
one request of a process holds a slot at a time (the rest queue in the process, first come first served): a job
cancelled or a worker stopped while waiting then loses at most that one slot for everyone sharing the quota.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from typing import NamedTuple, Protocol

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


class Release(NamedTuple):
    """A request let go by :meth:`ProviderGate.before_request`: when (the gate's clock), and which slot it had."""

    at: float
    seq: int | None = None  # the slot's number for its key (None: not paced), for ProviderGate.sent
    due: float = 0.0  # when the slot was due, this clock, no later than the store's slot (asked + wait)


class Slots(Protocol):
    async def take(self, key: str, gap_s: float) -> tuple[float, int]:
        """Take ``key``'s next free slot, at least ``gap_s`` after the one before it: the seconds until it,
        and its number (0, 1, 2... per key)."""
        ...

    async def sent(self, key: str, *, seq: int, left_at: float, count: int, window_s: float) -> None:
        """Slot ``seq``'s request left at ``left_at`` (this clock): hold slot ``seq + count`` to no earlier than
        ``window_s`` after that (the next slot taken, if that one was taken already)."""
        ...


class LocalSlots:
    """Slots of this process alone, on its clock (the same rules as the store's, :mod:`veokit.store.rate_slots`)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._next: dict[str, float] = {}
        self._taken: dict[str, int] = {}
        self._holds: dict[tuple[str, int], float] = {}

    async def take(self, key: str, gap_s: float) -> tuple[float, int]:
        now = self.clock.monotonic()
        seq = self._taken.get(key, 0)
        slot = max(now, self._next.get(key, now), self._holds.pop((key, seq), now))
        self._next[key] = slot + gap_s
        self._taken[key] = seq + 1
        return slot - now, seq

    async def sent(self, key: str, *, seq: int, left_at: float, count: int, window_s: float) -> None:
        index, not_before = seq + count, left_at + window_s
        if index < self._taken.get(key, 0):
            self._next[key] = max(self._next.get(key, not_before), not_before)
        else:
            self._holds[key, index] = max(self._holds.get((key, index), not_before), not_before)


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
        # The sliding window a departure holds its successors to: at most `count` requests in a period, and half
        # the margin kept for the transit (see the module's doc). A fractional count allows as many slots in a
        # period as the gaps do.
        self.count = math.ceil(rate[0]) if rate else 0
        self.window_s = rate[1] * (1 + PACING_MARGIN / 2) if rate else 0.0
        # How late a request may leave after its slot with nothing to hold (the gaps' share of the margin): such a
        # departure is not reported, saving a write per request on a machine that keeps up.
        self.slack_s = rate[1] * PACING_MARGIN / 2 if rate else 0.0
        self.in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.cooldown_until = 0.0
        # Learned spacing between requests: doubled by each 429, shrunk by successes (AIMD). Without it,
        # every job waiting out a cool-down would wake at the same instant and trip the quota again.
        self.spacing_s = 0.0
        self.slots: Slots = slots or LocalSlots(clock)
        self.key = key
        self._turn = asyncio.Lock()  # one waiter of this process holds a slot at a time (see the module's doc)
        self._reports: set[asyncio.Task[None]] = set()  # departures on their way to the slots (see sent())

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, self.clock.monotonic() + seconds)

    def rate_limited(self, retry_after_s: float | None, fallback_s: float) -> None:
        # 429s from one burst arrive together: only the first of them (outside a cool-down) widens the spacing.
        if self.clock.monotonic() >= self.cooldown_until:
            self.spacing_s = min(max(self.spacing_s * 2, MIN_SPACING_S), MAX_SPACING_S)
        self.cool_down(retry_after_s if retry_after_s is not None else fallback_s)

    def succeeded(self) -> None:
        self.spacing_s = 0.0 if self.spacing_s * 0.8 < MIN_SPACING_S / 2 else self.spacing_s * 0.8

    async def before_request(self) -> Release:
        """Wait out a provider-wide cool-down, then for this request's slot; return when that was (this clock)
        and which slot it was, for :meth:`sent`."""
        while True:
            while (left := self.cooldown_until - self.clock.monotonic()) > 0:
                await self.clock.sleep(left)
            gap = max(self.interval_s, self.spacing_s)
            if gap <= 0:
                return Release(self.clock.monotonic())
            async with self._turn:
                asked = self.clock.monotonic()
                wait, seq = await self.slots.take(self.key, gap)
                log.debug("%s: slot %d released after waiting %.3f s", self.key, seq, wait)
                if wait > 0:
                    await self.clock.sleep(wait)
            # Else a 429 arrived while this request waited for its slot: wait that out first.
            if self.clock.monotonic() >= self.cooldown_until:
                return Release(self.clock.monotonic(), seq, asked + wait)

    def sent(self, release: Release, late_s: float) -> None:
        """The request let go by :meth:`before_request` as ``release`` went out ``late_s`` after it: the slot a
        window of requests later is held to a window after it left (see the module's doc).

        In the background, and a failure is only logged: this follows a paid call, whose outcome the caller
        must record whatever the store says about pacing."""
        if release.seq is None or not self.count:
            return
        log.debug("%s: a request left %.3f s after its slot", self.key, late_s)
        # Counted from when the slot was due, not from the release: a loop that woke late is lateness too.
        if release.at + late_s - release.due <= self.slack_s:
            return  # the slot `count` after it is a window and the transit's share after this departure anyway
        report = self.slots.sent(
            self.key,
            seq=release.seq,
            left_at=release.at + late_s,
            count=self.count,
            window_s=self.window_s,
        )
        task = asyncio.get_running_loop().create_task(report)
        self._reports.add(task)
        task.add_done_callback(self._reported)

    def _reported(self, task: asyncio.Task[None]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("could not hold %s's later request slots after a departure: %s", self.key, exc)
