"""When to poll a running operation: pure functions, so the schedule can be tested without waiting.

Veo takes 11 s at best and up to 6 minutes at peak. Polling before the model's minimum latency only
burns quota, so the first poll waits for it; after that the interval grows geometrically from
``interval_s`` to ``max_interval_s`` (an operation still running after a minute will likely run a while
longer), except that one poll is placed at the model's typical latency so a job finishing on time is
noticed at once. No delay ever runs past the job's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PollPolicy:
    first_delay_s: float = 11.0
    interval_s: float = 5.0
    max_interval_s: float = 20.0
    growth: float = 1.5
    expected_s: float = 60.0
    deadline_s: float = 1200.0

    @classmethod
    def for_latency(
        cls, latency_s: tuple[float, float, float], *, deadline_s: float | None = None, scale: float = 1.0
    ) -> PollPolicy:
        """Schedule from a catalog row's [min, typical, max] latency; ``scale`` shrinks it for emulators."""
        lo, typical, hi = (x * scale for x in latency_s)
        return cls(
            first_delay_s=lo,
            interval_s=max(0.05, 5.0 * scale),
            max_interval_s=max(0.1, 20.0 * scale),
            expected_s=typical,
            deadline_s=deadline_s if deadline_s is not None else max(hi * 3, 60.0 * scale),
        )


def next_poll_delay(policy: PollPolicy, *, polls_done: int, elapsed_s: float) -> float:
    """Seconds to wait before the next poll, given how many polls were made and time since submit."""
    if polls_done == 0:
        return max(0.0, policy.first_delay_s - elapsed_s)
    delay = min(policy.max_interval_s, policy.interval_s * policy.growth ** (polls_done - 1))
    until_expected = policy.expected_s - elapsed_s
    if 0 < until_expected < delay:
        delay = max(policy.interval_s, until_expected)
    return min(delay, max(0.0, policy.deadline_s - elapsed_s))


def expected_remaining(policy: PollPolicy, elapsed_s: float) -> float:
    return max(0.0, policy.expected_s - elapsed_s)


def until_next_poll(policy: PollPolicy, elapsed_s: float) -> float:
    """Seconds from ``elapsed_s`` (since submit) to the next poll the schedule makes: when news of the operation
    can come next (an HTTP client polling veokit is told to come back then)."""
    at, polls = 0.0, 0
    while True:
        at += next_poll_delay(policy, polls_done=polls, elapsed_s=at)
        polls += 1
        if at > elapsed_s or at >= policy.deadline_s or polls > 10_000:
            return max(0.0, at - elapsed_s)
