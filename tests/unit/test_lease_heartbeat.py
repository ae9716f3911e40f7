"""Heartbeats a slow database write cannot push past the lease: counted from the last renewal that succeeded
(issue 10)."""

from __future__ import annotations

import asyncio

import pytest

from veokit.engine.worker import Beats
from veokit.resilience.clock import ManualClock


async def due_at(clock: ManualClock, beats: Beats) -> float:
    """Move the clock to when the beat is due (the wait's own deadline); return that time."""
    due = asyncio.create_task(beats.until_due())
    await asyncio.sleep(0)
    deadline = clock.next_deadline()
    if deadline is not None:
        clock.advance(deadline - clock.monotonic())
    await due
    return clock.monotonic()


async def test_a_slow_renewal_does_not_push_the_next_one_past_the_lease() -> None:
    clock = ManualClock()
    beats = Beats(clock, lease_s=30.0)
    assert await due_at(clock, beats) == pytest.approx(10.0)
    started = clock.monotonic()
    clock.advance(8.0)  # the renewal waited 8 s for a database lock, then succeeded (extended from `started`)
    beats.renewed(started)
    # Due a third of the lease after that renewal began (t=20), not a third after it ended (t=28): the lease
    # it extended to t=40 is renewed with two beats to spare.
    assert await due_at(clock, beats) == pytest.approx(20.0)


async def test_a_failed_renewal_is_tried_again_soon_from_the_same_deadline() -> None:
    clock = ManualClock()
    beats = Beats(clock, lease_s=30.0)
    assert await due_at(clock, beats) == pytest.approx(10.0)
    clock.advance(5.0)  # the renewal failed after waiting 5 s
    failed = asyncio.create_task(beats.failed())
    await asyncio.sleep(0)
    clock.advance(2.5)
    await failed
    assert await due_at(clock, beats) == pytest.approx(17.5)  # at once: the deadline is still the last success
