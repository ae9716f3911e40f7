"""The retry policy: pure functions, no clock, no network; then the call loop that runs it on a fake clock."""

from __future__ import annotations

import random

import pytest

from veokit import errors as E
from veokit.resilience.calls import RetryNote, call_with_retries
from veokit.resilience.clock import FakeClock
from veokit.resilience.retry import GiveUp, Retry, RetryPolicy, backoff, decide, full_jitter

P = RetryPolicy(max_attempts=5, base_s=1.0, cap_s=8.0, max_server_delay_s=60.0, deadline_s=100.0)


def d(err: Exception, attempt: int = 1, elapsed: float = 0.0) -> Retry | GiveUp:
    return decide(err, attempt=attempt, elapsed_s=elapsed, policy=P, rng=random.Random(1))


@pytest.mark.parametrize(
    "err",
    [
        E.AuthenticationError("x"),
        E.InvalidRequest("x"),
        E.ContentFiltered("x"),
        E.PermissionDenied("x"),
        E.ModelRetired("x"),
        E.BillingError("x"),
        E.QuotaExhausted("x"),
        E.DownloadExpired("x"),
    ],
)
def test_final_errors_are_not_retried(err: E.VeokitError) -> None:
    assert isinstance(d(err), GiveUp)


def test_a_submit_that_may_have_been_accepted_is_never_retried() -> None:
    err = E.SubmitOutcomeUnknown("reset after send")
    assert isinstance(d(err), GiveUp)
    assert isinstance(E.SubmitOutcomeUnknown("x"), E.NetworkError)  # ... though it is a network error


@pytest.mark.parametrize("err", [E.ServerError("503"), E.NetworkError("refused"), E.DownloadError("cut")])
def test_transient_errors_get_full_jitter_within_the_cap(err: E.VeokitError) -> None:
    for attempt in range(1, 5):
        decision = d(err, attempt)
        assert isinstance(decision, Retry)
        assert 0 <= decision.delay_s <= min(P.cap_s, P.base_s * 2 ** (attempt - 1))


def test_full_jitter_spreads_and_caps() -> None:
    rng = random.Random(3)
    samples = [full_jitter(10, P, rng) for _ in range(500)]
    assert max(samples) <= P.cap_s and min(samples) >= 0
    assert max(samples) > 0.8 * P.cap_s and min(samples) < 0.2 * P.cap_s  # really spread, not fixed


def test_server_hint_is_honoured_exactly() -> None:
    decision = d(E.RateLimited("429", retry_after_s=58.0))
    assert isinstance(decision, Retry) and decision.delay_s == 58.0 and "server asked" in decision.reason


def test_server_hint_past_the_cap_fails_clearly() -> None:
    decision = d(E.RateLimited("quota", retry_after_s=3600.0))
    assert isinstance(decision, GiveUp)
    assert not decision.error.retryable and "3600" in decision.error.message and "longer than" in decision.error.message


def test_attempt_cap_and_deadline() -> None:
    assert isinstance(d(E.ServerError("x"), attempt=5), GiveUp)
    late = d(E.RateLimited("x", retry_after_s=10.0), attempt=1, elapsed=95.0)
    assert isinstance(late, GiveUp) and "deadline" in late.reason


def test_backoff_for_loops_that_try_until_their_deadline() -> None:
    rng = random.Random(7)
    for failures in range(1, 12):
        wait = backoff(failures, base_s=1.0, cap_s=8.0, rng=rng)
        assert 0 <= wait <= min(8.0, 2 ** (failures - 1))
    assert backoff(10_000, base_s=1.0, cap_s=8.0, rng=rng) <= 8.0  # no overflow however long it fails
    # The server's hint is waited exactly, whatever the jitter would have said; nothing runs past the deadline.
    assert backoff(1, base_s=1.0, cap_s=8.0, rng=rng, hint_s=42.0) == 42.0
    assert backoff(3, base_s=1.0, cap_s=8.0, rng=rng, hint_s=42.0, remaining_s=5.0) == 5.0
    assert backoff(3, base_s=1.0, cap_s=8.0, rng=rng, remaining_s=-1.0) == 0.0
    # Full jitter: a burst of failures spreads out instead of coming back together.
    spread = [backoff(4, base_s=1.0, cap_s=8.0, rng=rng) for _ in range(200)]
    assert min(spread) < 1.0 and max(spread) > 7.0


def test_the_call_policy_and_the_loop_policy_draw_the_same_waits() -> None:
    assert full_jitter(3, P, random.Random(5)) == backoff(3, base_s=P.base_s, cap_s=P.cap_s, rng=random.Random(5))


async def test_call_with_retries_waits_on_the_clock_and_reports_each_retry() -> None:
    clock = FakeClock()
    answers: list[Exception | str] = [
        E.ServerError("503"),
        E.RateLimited("429", retry_after_s=2.5),
        "done",
    ]
    heard: list[RetryNote] = []

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def on_retry(note: RetryNote) -> None:
        heard.append(note)

    result = await call_with_retries(call, policy=P, clock=clock, rng=random.Random(1), on_retry=on_retry)
    assert result == "done"
    assert [n.attempt for n in heard] == [1, 2]
    assert clock.sleeps == [heard[0].delay_s, 2.5]  # exactly what the policy decided, through the clock
    assert 0 <= heard[0].delay_s <= P.base_s and "server asked for 2.5 s" in heard[1].reason


async def test_call_with_retries_gives_up_as_the_policy_says() -> None:
    clock = FakeClock()
    calls = 0

    async def always_503() -> None:
        nonlocal calls
        calls += 1
        raise E.ServerError("503")

    with pytest.raises(E.ServerError):
        await call_with_retries(always_503, policy=P, clock=clock, rng=random.Random(1))
    assert calls == P.max_attempts and len(clock.sleeps) == P.max_attempts - 1

    async def too_long() -> None:
        raise E.RateLimited("quota", retry_after_s=3600.0)

    with pytest.raises(E.RateLimited, match="longer than"):
        await call_with_retries(too_long, policy=P, clock=clock, rng=random.Random(1))

    async def unsent() -> None:
        raise E.SubmitOutcomeUnknown("reset after send")

    sleeps = len(clock.sleeps)
    with pytest.raises(E.SubmitOutcomeUnknown):
        await call_with_retries(unsent, policy=P, clock=clock, rng=random.Random(1))
    assert len(clock.sleeps) == sleeps  # never retried, never waited

    async def bug() -> None:
        raise KeyError("a bug, not a fault")

    with pytest.raises(KeyError):
        await call_with_retries(bug, policy=P, clock=clock, rng=random.Random(1))
