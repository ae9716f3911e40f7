"""Time as a dependency: real in production, controllable in tests (no patching of ``asyncio.sleep``).

Every wait in veokit goes through a :class:`Clock`: the engine's poll schedule and retry waits, the rate gate,
a worker's heartbeat, idle and shutdown waits, the service's watch interval, the agent runtime's waits. Three
kinds of wait cover them all: ``monotonic()`` to measure, ``sleep(s)`` to wait, and ``wait(event, s)`` for
"this happens or this much time passes", which is what a loop that can be woken early needs (a worker that
sleeps until a job ends or ``idle_s`` passes).

- :class:`SystemClock`: real time (``time.monotonic``, ``asyncio.sleep``).
- :class:`FakeClock`: for one task alone; every wait returns at once and moves time forward by its length,
  and ``sleeps`` records what was asked for. Never hangs, even when nothing sets the event.
- :class:`ManualClock`: for several tasks sharing time; waits end only when the test calls ``advance()``,
  so a test decides exactly which deadline passes when (a heartbeat beats, an idle wait ends).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Any, Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a negative wait is no wait)."""
        ...

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        """Wait until ``event`` is set (True) or ``timeout_s`` has passed (False, unless it was set meanwhile)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        if event.is_set():
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()
        except TimeoutError:
            pass
        return event.is_set()


class FakeClock:
    """Every wait returns at once and advances time by its full length; ``sleeps`` records each wait asked for
    (``wait`` too, when its event was not already set). For code under test that runs as one task."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        if event.is_set():
            return True
        await self.sleep(timeout_s)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ManualClock:
    """Time stands still until :meth:`advance`; then every wait whose deadline has come ends, in deadline order.

    For tests with several tasks on one clock (a worker's claim loop, heartbeat and jobs): a task waiting on it
    stays blocked, however long the machine takes, until the test moves time past its deadline. ``waiting``
    says how many waits are pending, so a test can advance once the code has reached its wait instead of
    guessing when it will have. Use it from the event loop's thread.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    @property
    def waiting(self) -> int:
        return sum(not f.done() for _, _, f in self._timers)

    def next_deadline(self) -> float | None:
        """When the earliest pending wait ends, if any wait is pending."""
        live = [at for at, _, f in self._timers if not f.done()]
        return min(live) if live else None

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds
        while self._timers and self._timers[0][0] <= self.now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.done():
                timer.set_result(None)

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            timer.set_result(None)
        else:
            heapq.heappush(self._timers, (self.now + seconds, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a suspension point, as a real zero sleep is
            return
        timer = self._timer(seconds)
        try:
            await timer
        finally:
            timer.cancel()  # a cancelled sleeper must not count as waiting

    async def wait(self, event: asyncio.Event, timeout_s: float) -> bool:
        if event.is_set():
            return True
        timer = self._timer(timeout_s)
        waiter = asyncio.ensure_future(event.wait())
        either: list[asyncio.Future[Any]] = [timer, waiter]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            waiter.cancel()
        return event.is_set()
