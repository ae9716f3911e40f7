from __future__ import annotations

from veokit.resilience.polling import PollPolicy, expected_remaining, next_poll_delay


def test_first_poll_waits_for_minimum_latency() -> None:
    p = PollPolicy.for_latency((11, 60, 360))
    assert next_poll_delay(p, polls_done=0, elapsed_s=0) == 11
    assert next_poll_delay(p, polls_done=0, elapsed_s=4) == 7  # resumed job: time already spent counts


def test_interval_grows_then_caps() -> None:
    p = PollPolicy(first_delay_s=11, interval_s=5, max_interval_s=20, growth=1.5, expected_s=1000, deadline_s=5000)
    delays = [next_poll_delay(p, polls_done=n, elapsed_s=100) for n in range(1, 7)]
    assert delays == [5, 7.5, 11.25, 16.875, 20, 20]


def test_a_poll_lands_on_the_expected_time() -> None:
    p = PollPolicy(first_delay_s=11, interval_s=5, max_interval_s=20, growth=1.5, expected_s=60, deadline_s=5000)
    assert next_poll_delay(p, polls_done=5, elapsed_s=52) == 8  # would be 20; expected completion is in 8 s


def test_never_sleeps_past_deadline() -> None:
    p = PollPolicy(first_delay_s=11, interval_s=5, max_interval_s=20, expected_s=60, deadline_s=100)
    assert next_poll_delay(p, polls_done=9, elapsed_s=95) == 5
    assert next_poll_delay(p, polls_done=9, elapsed_s=100) == 0
    assert expected_remaining(p, 70) == 0 and expected_remaining(p, 10) == 50


def test_scaled_policy_for_emulators() -> None:
    p = PollPolicy.for_latency((11, 60, 360), scale=0.05)
    assert p.first_delay_s == 11 * 0.05 and p.expected_s == 3.0
