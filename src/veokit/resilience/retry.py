"""Retry policy as pure functions: what to retry, how long to wait, when to stop. No I/O, no sleeping.

Rules
- Only errors marked ``retryable`` are retried: 429, 5xx answers, connection failures *before* the request
  was sent, cut downloads. Authentication, invalid requests, content filtering are final.
- The paid submit is special: a failure after the request may have reached the server
  (:class:`SubmitOutcomeUnknown`) is never retried, whatever the policy says.
- The wait is the server's hint when it gave one (google.rpc.RetryInfo ``retryDelay`` or ``Retry-After``),
  otherwise full-jitter exponential backoff: ``uniform(0, min(cap, base * 2**attempt))`` (AWS's
  "Exponential Backoff and Jitter"; spreads a burst of clients instead of synchronising them).
- A hint longer than ``max_server_delay_s`` is not waited out: the call fails with a clear error, because
  blocking a worker for an hour on one request is worse than reporting it.
- Attempts and total time are capped; the last wait never runs past the deadline.

Two kinds of loop use these rules. A *call* (the paid submit, a provider's check) gives up after
``max_attempts`` or ``deadline_s``: :func:`decide`. A loop that keeps trying until a deadline of its own (polling
an operation, fetching a result again, a worker giving a job back to the queue) never gives up on a retryable
error; it only needs the wait: :func:`backoff`, the same full jitter and server hints, never past its deadline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from veokit import errors as E


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # including the first
    base_s: float = 1.0
    cap_s: float = 30.0
    max_server_delay_s: float = 120.0
    deadline_s: float = 600.0


@dataclass(frozen=True)
class Retry:
    delay_s: float
    reason: str


@dataclass(frozen=True)
class GiveUp:
    error: E.VeokitError
    reason: str


def is_retryable(err: BaseException) -> bool:
    return isinstance(err, E.VeokitError) and err.retryable and not isinstance(err, E.SubmitOutcomeUnknown)


def server_hint(err: BaseException) -> float | None:
    return err.retry_after_s if isinstance(err, E.RateLimited) else None


MAX_DOUBLINGS = 60  # 2**60 times any base is past every cap; more would only risk a float overflow


def backoff(
    failures: int,
    *,
    base_s: float,
    cap_s: float,
    rng: random.Random,
    hint_s: float | None = None,
    remaining_s: float | None = None,
) -> float:
    """The wait after ``failures`` consecutive failures (1 = the first) of something that will be tried again.

    The server's hint when it gave one (waited exactly), else full jitter over ``min(cap, base * 2**(n-1))``;
    never longer than ``remaining_s`` (what is left before the caller's own deadline).
    """
    if hint_s is not None:
        delay = max(0.0, hint_s)
    else:
        delay = rng.uniform(0.0, min(cap_s, base_s * 2.0 ** min(max(failures - 1, 0), MAX_DOUBLINGS)))
    return delay if remaining_s is None else max(0.0, min(delay, remaining_s))


def full_jitter(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1 = first retry)."""
    return backoff(attempt, base_s=policy.base_s, cap_s=policy.cap_s, rng=rng)


def decide(
    err: BaseException, *, attempt: int, elapsed_s: float, policy: RetryPolicy, rng: random.Random
) -> Retry | GiveUp:
    """After failed attempt number ``attempt`` (1-based), ``elapsed_s`` into the call: retry or stop?"""
    if not isinstance(err, E.VeokitError):
        raise err
    if not is_retryable(err):
        return GiveUp(err, "not retryable")
    if attempt >= policy.max_attempts:
        return GiveUp(err, f"gave up after {attempt} attempts")
    hint = server_hint(err)
    if hint is not None and hint > policy.max_server_delay_s:
        return GiveUp(
            E.RateLimited(
                f"{err.message} — the server asked to wait {hint:.0f} s, longer than the "
                f"{policy.max_server_delay_s:.0f} s veokit will wait; try again later",
                provider=err.provider,
                status_code=err.status_code,
                status=err.status,
                reason=err.reason,
                retry_after_s=hint,
                retryable=False,
            ),
            "server delay too long",
        )
    delay = hint if hint is not None else full_jitter(attempt, policy, rng)
    if elapsed_s + delay > policy.deadline_s:
        return GiveUp(err, f"retry deadline of {policy.deadline_s:.0f} s reached")
    what = f"server asked for {hint:g} s" if hint is not None else "backoff"
    return Retry(delay, f"{type(err).__name__} ({err.status or err.status_code or 'network'}); {what}")
