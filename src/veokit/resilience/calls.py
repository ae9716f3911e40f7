"""Run one call with retries: :mod:`veokit.resilience.retry` decides, this loop executes.

The loop is ours rather than a retry library's so that every wait goes through the injected
:class:`~veokit.resilience.clock.Clock` (tests run the whole schedule on a fake clock, no patching) and every
delay is the pure policy's: a 429's RetryInfo is waited exactly, other errors get full jitter.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from veokit import errors as E
from veokit.resilience.clock import Clock
from veokit.resilience.retry import GiveUp, RetryPolicy, decide

T = TypeVar("T")


@dataclass(frozen=True)
class RetryNote:
    """One retry, as recorded on a job: which attempt failed, with what, and how long we waited."""

    attempt: int
    error: E.VeokitError
    delay_s: float
    reason: str

    def describe(self, what: str) -> str:
        return (
            f"{what} attempt {self.attempt} failed: {self.error.message[:160]}; retrying in {self.delay_s:.2f} s "
            f"({self.reason})"
        )


OnRetry = Callable[[RetryNote], Awaitable[None]]


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    on_retry: OnRetry | None = None,
) -> T:
    """``fn()`` until it succeeds or the policy gives up; ``on_retry`` hears of each retry before its wait.
    Errors that are not :class:`~veokit.errors.VeokitError` are bugs, not faults: they propagate at once."""
    start = clock.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except E.VeokitError as exc:
            decision = decide(exc, attempt=attempt, elapsed_s=clock.monotonic() - start, policy=policy, rng=rng)
            if isinstance(decision, GiveUp):
                if decision.error is not exc:
                    raise decision.error from None  # e.g. "server asked to wait longer than we will"
                raise
            note = RetryNote(attempt, exc, decision.delay_s, decision.reason)
        if on_retry is not None:
            await on_retry(note)
        await clock.sleep(note.delay_s)
