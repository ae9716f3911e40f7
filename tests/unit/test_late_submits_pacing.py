"""Late submits and the shared rate limit, simulated on one clock: workers sharing a store take slots, leave
some of them late (a cold first submit, a slow path between slot and send), reach the provider some time after
leaving (the transit), and the provider's rule is checked on the arrivals: never more than ``count`` in any
window (the emulator's sliding window, which forgets a request exactly one window after it: ``(t - period, t]``).

The rule as shipped (a departure holds the slot ``count`` takes after it to a window after it left) is compared,
on the same departures, with the rule before it (each late request pushed every later slot by its lateness beyond
the slack: as safe, but pushes add up), with a margin that keeps nothing for the transit, and with no hold at all.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from veokit.engine.pacing import StoreSlots
from veokit.resilience.clock import ManualClock
from veokit.resilience.gate import PACING_MARGIN, ProviderGate, Release
from veokit.store import MemoryJobStore

COUNT, PERIOD = 10, 10.0  # 10 requests per 10 s: gap 1.02 s, a window of 10.1 s (0.1 s kept for the transit)
GAP = PERIOD / COUNT * (1 + PACING_MARGIN)
SLACK = PERIOD * PACING_MARGIN / 2  # how late a request may leave for free; as much again is kept for the transit
RESPONSE_S = 0.3  # the provider's answer comes this long after the send; the report is made only then


class PushGate(ProviderGate):
    """The rule before this one: a request later than the slack pushed every later slot back by the lateness
    beyond it (a take of that length: nothing else takes a slot in between)."""

    def sent(self, release: Release, late_s: float) -> None:
        if late_s > SLACK:
            asyncio.get_running_loop().create_task(self.slots.take(self.key, late_s - SLACK))


class NoTransitGate(ProviderGate):
    """A 1% margin, all of it lateness for free: a departure holds its successor only a period after it."""

    def __init__(self, clock: ManualClock, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.interval_s = PERIOD / COUNT * 1.01
        self.window_s = PERIOD


class NoHoldGate(ProviderGate):
    """The margin alone."""

    def sent(self, release: Release, late_s: float) -> None:
        pass


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def simulate(lateness: list[float], *, workers: int, gate_type: type[ProviderGate] = ProviderGate) -> list[float]:
    """Send ``len(lateness)`` requests through ``workers`` gates sharing one store; the n-th request released
    (in any worker) leaves ``lateness[n]`` after its slot. Returns the departures, in release order."""
    clock, store = ManualClock(), MemoryJobStore()
    gates = [
        gate_type(clock, rate=(COUNT, PERIOD), max_in_flight=None, slots=StoreSlots(store, clock), key="vertex")
        for _ in range(workers)
    ]
    departures: list[float] = []

    async def request(gate: ProviderGate) -> None:
        released = await gate.before_request()
        late = lateness[len(departures)]
        departures.append(released.at + late)
        await clock.sleep(late + RESPONSE_S)  # the slow path, the send, the answer
        gate.sent(released, late)

    tasks = [asyncio.create_task(request(gates[n % workers])) for n in range(len(lateness))]
    while not all(t.done() for t in tasks):
        await settle()
        deadline = clock.next_deadline()
        if deadline is not None:
            clock.advance(deadline - clock.monotonic())
    await asyncio.gather(*tasks)
    return departures


def most_in_a_window(arrivals: list[float]) -> int:
    # (t - period, t]: a request exactly one window later is allowed (1e-9: float sums of gaps).
    return max(sum(t - PERIOD + 1e-9 < s <= t for s in arrivals) for t in arrivals)


def schedule(n: int, seed: int) -> tuple[list[float], list[float]]:
    """Lateness: mostly within the slack, some a little beyond it, a few seconds now and then, the first cold.
    Transit: anything up to what the margin keeps for it."""
    rng = random.Random(seed)
    late = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.75:
            late.append(rng.uniform(0, SLACK))
        elif roll < 0.95:
            late.append(rng.uniform(SLACK, 4 * SLACK))
        else:
            late.append(rng.uniform(1.0, 4.0))
    late[0] = 3.0
    return late, [rng.uniform(0, SLACK) for _ in range(n)]


async def test_a_late_submit_holds_the_request_a_window_after_it() -> None:
    """Request 0 leaves 2 s late: request 10 (a window of slots later) leaves a window and the transit's share
    of the margin after it, no later; with no hold it would be the 11th request in that window."""
    late = [2.0] + [0.0] * 10
    departures = await simulate(late, workers=1)
    assert departures[10] == pytest.approx(2.0 + PERIOD + SLACK)
    assert most_in_a_window(departures) <= COUNT
    pushed = await simulate(late, workers=1, gate_type=PushGate)
    assert pushed[10] == pytest.approx(2.0 + PERIOD + SLACK)  # one late request: both rules agree
    none = await simulate(late, workers=1, gate_type=NoHoldGate)
    assert none[10] == pytest.approx(10 * GAP)
    assert most_in_a_window(none) == COUNT + 1  # what the emulator refuses with a 429


async def test_a_request_within_the_slack_but_slow_in_transit_stays_out_of_the_next_window() -> None:
    """Request 0 leaves just within the slack and reaches the provider 0.1 s later still; request 10 leaves on
    time and arrives at once. With half the margin kept for the transit, request 10 is a window after it; with
    the whole 1% margin as free lateness (nothing kept), request 10 is the 11th in request 0's window: a 429."""
    late = [SLACK] + [0.0] * 10
    transit = [SLACK] + [0.0] * 10
    for gate_type, most in ((ProviderGate, COUNT), (NoTransitGate, COUNT + 1)):
        departures = await simulate(late, workers=1, gate_type=gate_type)
        assert most_in_a_window([d + t for d, t in zip(departures, transit, strict=True)]) == most


@pytest.mark.parametrize("workers", [1, 3])
async def test_lateness_every_request_has_costs_once_per_window_not_once_per_request(workers: int) -> None:
    """Every request leaves 1 s after its slot (a slow path between slot and send on a busy machine): each window
    of requests starts 0.9 s later than the gaps alone would put it (1 s less the 0.1 s slack), so 40 requests
    take 3 such steps. Pushing every later slot by each request's lateness made it 40 steps."""
    late = [1.0] * 40
    departures = await simulate(late, workers=workers)
    assert most_in_a_window(departures) <= COUNT
    assert max(departures) == pytest.approx(39 * GAP + 1.0 + 3 * (1.0 - SLACK))
    pushed = await simulate(late, workers=workers, gate_type=PushGate)
    assert most_in_a_window(pushed) <= COUNT
    assert max(pushed) > 39 * GAP + 1.0 + 20 * (1.0 - SLACK)


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_late_submits_never_put_more_than_the_quota_in_a_window(workers: int, seed: int) -> None:
    late, transit = schedule(80, seed)
    departures = await simulate(late, workers=workers)
    assert most_in_a_window([d + t for d, t in zip(departures, transit, strict=True)]) <= COUNT
    # Without holds the departures alone overrun the window (so this check can fail).
    none = await simulate(late, workers=workers, gate_type=NoHoldGate)
    assert most_in_a_window(none) > COUNT
    # The rule before (each late request pushing every later slot) stays within it too, but ends later: late
    # requests within one window each pushed, where only the latest of them needs to hold anything.
    pushed = await simulate(late, workers=workers, gate_type=PushGate)
    assert most_in_a_window(pushed) <= COUNT
    assert max(departures) < max(pushed) - 1.0
