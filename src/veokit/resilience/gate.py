"""Pacing per provider and credential: a requests-per-period limiter, a cap on jobs in flight, and a
shared cool-down so that one 429 slows every job of that provider, not only the one that got it."""

from __future__ import annotations

import asyncio
import re

from aiolimiter import AsyncLimiter

from veokit.errors import ConfigError
from veokit.resilience.clock import Clock

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_UNIT = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[float, float]:
    """"10/min", "5/2s", "1/s" → (count, period seconds)."""
    m = _RATE.match(text)
    if not m:
        raise ConfigError(f"rate limit {text!r}: write it as COUNT/PERIOD, e.g. 10/min, 5/2s")
    count, mult, unit = float(m.group(1)), float(m.group(2) or 1), m.group(3)
    if count <= 0 or mult <= 0:
        raise ConfigError(f"rate limit {text!r}: count and period must be positive")
    return count, mult * _UNIT[unit]


class ProviderGate:
    def __init__(self, clock: Clock, *, rate: tuple[float, float] | None, max_in_flight: int | None) -> None:
        self.clock = clock
        self.limiter = AsyncLimiter(rate[0], rate[1]) if rate else None
        self.in_flight = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.cooldown_until = 0.0

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, self.clock.monotonic() + seconds)

    async def before_request(self) -> None:
        """Wait out a provider-wide cool-down, then take a token from the rate limiter."""
        while (left := self.cooldown_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(left)
        if self.limiter is not None:
            await self.limiter.acquire()
