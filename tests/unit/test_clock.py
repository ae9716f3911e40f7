"""The clocks every wait goes through: the fake ones tests drive, and the real one's event-or-timeout wait."""

from __future__ import annotations

import asyncio

import pytest

from veokit.resilience.clock import FakeClock, ManualClock, SystemClock


async def test_fake_clock_waits_return_at_once_and_move_time() -> None:
    clock = FakeClock(start=100.0)
    await clock.sleep(2.5)
    assert clock.monotonic() == 102.5
    never = asyncio.Event()
    assert await clock.wait(never, 4.0) is False  # nothing sets it: the timeout passes, no hang
    assert clock.monotonic() == 106.5
    done = asyncio.Event()
    done.set()
    assert await clock.wait(done, 60.0) is True
    assert clock.monotonic() == 106.5 and clock.sleeps == [2.5, 4.0]  # a set event costs no time


async def test_manual_clock_wakes_sleepers_only_when_time_passes_their_deadline() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 10)), asyncio.create_task(sleeper("early", 3))]
    await asyncio.sleep(0)
    assert clock.waiting == 2 and clock.next_deadline() == 3
    for _ in range(20):  # however long the loop runs, nobody wakes while time stands still
        await asyncio.sleep(0)
    assert woke == []
    clock.advance(5)
    await asyncio.sleep(0)
    assert woke == ["early"] and clock.waiting == 1
    clock.advance(5)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"] and clock.waiting == 0


async def test_manual_clock_wait_ends_on_the_event_or_the_deadline() -> None:
    clock = ManualClock()
    event = asyncio.Event()
    by_event = asyncio.create_task(clock.wait(event, 30))
    await asyncio.sleep(0)
    event.set()
    assert await by_event is True
    assert clock.waiting == 0  # the timer was withdrawn with it

    event.clear()
    by_time = asyncio.create_task(clock.wait(event, 30))
    await asyncio.sleep(0)
    clock.advance(29.9)
    await asyncio.sleep(0)
    assert not by_time.done()
    clock.advance(0.1)
    assert await by_time is False


async def test_manual_clock_cancelled_sleep_is_forgotten_and_time_never_goes_back() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.waiting == 0
    await clock.sleep(0)  # no wait, but still a suspension point
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


async def test_system_clock_wait_returns_when_the_event_is_set() -> None:
    clock = SystemClock()
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)
    assert await clock.wait(event, 600) is True  # did not sit out the timeout: the test would time out
    assert await clock.wait(asyncio.Event(), 0) is False
    assert await clock.wait(asyncio.Event(), -1) is False
