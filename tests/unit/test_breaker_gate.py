"""Circuit breaker and rate gate on an injectable clock."""

from __future__ import annotations

import asyncio

import pytest

from veokit import errors as E
from veokit.engine.pacing import StoreSlots
from veokit.resilience.breaker import BreakerState, CircuitBreaker
from veokit.resilience.clock import FakeClock, ManualClock
from veokit.resilience.gate import PACING_MARGIN, ProviderGate, parse_rate
from veokit.store import MemoryJobStore


def test_breaker_opens_after_consecutive_transient_failures_only() -> None:
    clock = FakeClock()
    b = CircuitBreaker("vertex", clock, threshold=3, cooldown_s=30)
    for _ in range(5):
        b.allow()
        b.record(E.InvalidRequest("bad field"))  # the caller's fault, not the provider's
    assert b.state is BreakerState.CLOSED
    for _ in range(2):
        b.allow()
        b.record(E.ServerError("503"))
    b.allow()
    b.record(None)  # a success resets the count
    for _ in range(3):
        b.allow()
        b.record(E.NetworkError("reset"))
    assert b.state is BreakerState.OPEN
    with pytest.raises(E.CircuitOpen, match=r"next probe in 30 s \(last: reset\)"):  # says why it opened
        b.allow()


def test_half_open_lets_one_probe_through() -> None:
    clock = FakeClock()
    b = CircuitBreaker("vertex", clock, threshold=1, cooldown_s=10)
    b.allow()
    b.record(E.ServerError("500"))
    clock.advance(9.9)
    with pytest.raises(E.CircuitOpen):
        b.allow()
    clock.advance(0.2)
    b.allow()  # the probe
    assert b.state is BreakerState.HALF_OPEN
    with pytest.raises(E.CircuitOpen, match="probe is in flight"):
        b.allow()
    b.record(E.ServerError("still down"))
    assert b.state is BreakerState.OPEN
    clock.advance(10)
    b.allow()
    b.record(None)
    assert b.state is BreakerState.CLOSED and b.failures == 0


def test_rate_parsing() -> None:
    assert parse_rate("10/min") == (10, 60)
    assert parse_rate("5/2s") == (5, 2)
    assert parse_rate("1 / hour") == (1, 3600)
    with pytest.raises(E.ConfigError, match="COUNT/PERIOD"):
        parse_rate("ten per minute")


async def test_a_429_cools_down_the_whole_provider() -> None:
    clock = FakeClock()
    gate = ProviderGate(clock, rate=None, max_in_flight=None)
    gate.cool_down(7.5)
    await gate.before_request()
    assert clock.sleeps == [7.5]
    await gate.before_request()  # cool-down over: no more waiting
    assert clock.sleeps == [7.5]


async def test_429s_space_requests_out_and_successes_relax_it() -> None:
    clock = FakeClock()
    gate = ProviderGate(clock, rate=None, max_in_flight=None)
    gate.rate_limited(1.0, 0.0)
    gate.rate_limited(1.0, 0.0)  # same burst: counted once
    assert gate.spacing_s == 0.05
    clock.advance(1.0)
    gate.rate_limited(None, 0.0)  # a new 429 after the cool-down: slower again
    assert gate.spacing_s == 0.1
    for _ in range(3):
        await gate.before_request()
    assert clock.sleeps == pytest.approx([0.1, 0.1])  # one request per slot, not a stampede
    for _ in range(20):
        gate.succeeded()
    assert gate.spacing_s == 0.0


async def settle() -> None:
    """Let every task run until it waits on the clock (or on another task): a few loop turns, no real time."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_smooth_pacing_never_bursts_past_the_window() -> None:
    clock = ManualClock()
    gate = ProviderGate(clock, rate=(4, 1.0), max_in_flight=None)
    sent: list[float] = []

    async def request() -> None:
        await gate.before_request()
        sent.append(clock.monotonic())

    tasks = [asyncio.create_task(request()) for _ in range(10)]  # a burst: all at once
    while len(sent) < 10:
        await settle()
        # One request holds a slot and waits for it; the rest queue behind it in the process.
        assert clock.waiting == (len(sent) < 10)
        if clock.waiting:
            clock.advance(clock.next_deadline() - clock.monotonic())  # type: ignore[operator]
    await asyncio.gather(*tasks)
    gap = 0.25 * (1 + PACING_MARGIN)  # a little wider than 1 s / 4: a request a few ms late does not make 5
    assert sent == pytest.approx([i * gap for i in range(10)])  # evenly spaced, the first at once
    assert max(sum(t <= s < t + 1.0 for s in sent) for t in sent) == 4  # never more than 4 in any 1 s


async def test_a_429_while_waiting_for_a_slot_is_waited_out_too() -> None:
    clock = FakeClock()
    gate = ProviderGate(clock, rate=(1, 10.0), max_in_flight=None)
    await gate.before_request()  # slot at 0
    original_sleep = clock.sleep

    async def sleep_then_429(seconds: float) -> None:
        await original_sleep(seconds)
        if len(clock.sleeps) == 1:
            gate.cool_down(30)  # another job got a 429 while this one waited for its slot

    clock.sleep = sleep_then_429  # type: ignore[method-assign]
    await gate.before_request()
    assert clock.sleeps[:2] == pytest.approx([10.0 * (1 + PACING_MARGIN), 30.0]) and clock.monotonic() >= 40.0


def shared_gates(n: int, clock: ManualClock, store: MemoryJobStore) -> list[ProviderGate]:
    """``n`` workers' gates for one provider, pacing 1 request/s between them through one store."""
    return [
        ProviderGate(clock, rate=(1, 1.0), max_in_flight=None, slots=StoreSlots(store, clock), key="vertex")
        for _ in range(n)
    ]


async def test_workers_sharing_a_store_pace_one_quota_between_them() -> None:
    clock, store = ManualClock(), MemoryJobStore()
    a, b = shared_gates(2, clock, store)
    sent: list[tuple[str, float]] = []

    async def request(gate: ProviderGate, name: str) -> None:
        await gate.before_request()
        sent.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(request(g, f"{n}{i}")) for n, g in (("a", a), ("b", b)) for i in range(3)]
    while len(sent) < 6:
        await settle()
        assert clock.waiting <= 2  # each worker holds at most one slot ahead; its other jobs queue in it
        if clock.waiting:
            clock.advance(clock.next_deadline() - clock.monotonic())  # type: ignore[operator]
    await asyncio.gather(*tasks)
    gap = 1.0 * (1 + PACING_MARGIN)
    assert [t for _, t in sent] == pytest.approx([i * gap for i in range(6)])  # one a second in all, not one each
    assert {n for n, _ in sent[1:3]} == {"a1", "b0"}  # both workers got slots


async def test_a_stopping_worker_loses_at_most_one_slot_of_the_shared_quota() -> None:
    clock, store = ManualClock(), MemoryJobStore()
    a, b = shared_gates(2, clock, store)
    stopping = [asyncio.create_task(a.before_request()) for _ in range(5)]  # five jobs of A wait to submit
    await settle()
    other = asyncio.create_task(b.before_request())
    await settle()
    assert sum(t.done() for t in stopping) == 1  # A's first went at once; its second holds slot 1
    for t in stopping:
        t.cancel()  # A stops: its waiting jobs are cancelled
    await asyncio.gather(*stopping, return_exceptions=True)
    gap = 1.0 * (1 + PACING_MARGIN)
    clock.advance(2 * gap)
    await other  # B's slot was the third, taken before A stopped
    # The second slot was lost, nothing more: A's other three never took slots, so the next free is the fourth.
    assert (await store.take_rate_slot("vertex", gap_s=1.0, now=clock.monotonic())).wait_s == pytest.approx(gap)


async def test_a_request_sent_later_than_the_margin_holds_the_request_a_window_after_it() -> None:
    """A cold first submit that leaves seconds after its slot would otherwise share a window with the request
    one window later; within the margin (1% of the period) nothing moves."""
    clock, store = ManualClock(), MemoryJobStore()
    [gate] = shared_gates(1, clock, store)  # 1 a second: the window is 1 s and 1% (the transit's share)
    gap = 1.0 * (1 + PACING_MARGIN)
    first = await gate.before_request()
    assert (first.at, first.seq) == (0.0, 0)  # released at once: slot 0, the first taken
    gate.sent(first, 0.005)  # within the margin
    await settle()
    assert await store.take_rate_slot("vertex", gap_s=gap, now=0.0) == (pytest.approx(gap), 1)
    clock.advance(5.0)
    gate.sent(first, 5.0)  # five seconds late: slot 1 (taken) came too soon; the next comes a window after it
    await settle()
    assert (await store.take_rate_slot("vertex", gap_s=gap, now=5.0)).wait_s == pytest.approx(1.0 + PACING_MARGIN / 2)
