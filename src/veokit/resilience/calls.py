"""Run one call with retries: :mod:`veokit.resilience.retry` decides, stamina executes.

stamina owns the loop, the attempt cap and the timeout; every wait comes from our pure policy through
stamina's backoff hook (a float return is used as-is), so a 429's RetryInfo is waited exactly and other
errors get full jitter. ``stamina.set_testing`` still works for callers that want no waiting at all.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina

from veokit import errors as E
from veokit.resilience.clock import Clock
from veokit.resilience.retry import GiveUp, Retry, RetryPolicy, decide

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
    attempt = 0
    start = clock.monotonic()
    pending: list[RetryNote] = []
    gave_up: list[GiveUp] = []

    def hook(exc: Exception) -> bool | float:
        decision = decide(exc, attempt=attempt, elapsed_s=clock.monotonic() - start, policy=policy, rng=rng)
        if isinstance(decision, GiveUp):
            gave_up.append(decision)
            return False
        assert isinstance(decision, Retry) and isinstance(exc, E.VeokitError)
        pending.append(RetryNote(attempt, exc, decision.delay_s, decision.reason))
        return decision.delay_s

    try:
        async for trial in stamina.retry_context(
            on=hook, attempts=policy.max_attempts, timeout=None, wait_initial=policy.base_s, wait_max=policy.cap_s
        ):
            with trial:
                if pending and on_retry is not None:
                    await on_retry(pending.pop())
                attempt += 1
                return await fn()
    except E.VeokitError as exc:
        if gave_up and gave_up[-1].error is not exc:
            raise gave_up[-1].error from None  # e.g. "server asked to wait longer than we will"
        raise
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover
