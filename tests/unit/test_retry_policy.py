"""The retry policy alone: pure functions, no clock, no network."""

from __future__ import annotations

import random

import pytest

from veokit import errors as E
from veokit.resilience.retry import GiveUp, Retry, RetryPolicy, decide, full_jitter

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
