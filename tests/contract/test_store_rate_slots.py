"""The store contract for shared request slots (veokit.store.rate_slots): one provider quota paced across every
worker of a store, on memory, SQLite and PostgreSQL alike. Time is passed explicitly (``now``), except in the
one test of the store's own clock."""

# The backends' fixtures come from the main contract module; ruff reads the parameters naming them as
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from veokit.store import rate_slots
from veokit.store.base import JobStore

from .test_store_contract import Opener, opener, store  # noqa: F401


def key() -> str:
    # PostgreSQL's database outlives a test: each test paces a key of its own.
    return "vertex-" + uuid.uuid4().hex[:12]


async def test_slots_are_handed_out_gap_apart_from_the_takers_now(store: JobStore) -> None:
    k = key()
    assert (await store.take_rate_slot(k, gap_s=2.0, now=100.0)).wait_s == 0.0  # the first is free at once
    assert (await store.take_rate_slot(k, gap_s=2.0, now=100.0)).wait_s == 2.0
    assert (await store.take_rate_slot(k, gap_s=2.0, now=101.0)).wait_s == 3.0  # its slot is 104
    assert (await store.take_rate_slot(k, gap_s=2.0, now=105.5)).wait_s == 0.5  # 106: the one after 104
    assert (await store.take_rate_slot(k, gap_s=2.0, now=200.0)).wait_s == 0.0  # idle since: free at once
    other = key()
    assert (await store.take_rate_slot(other, gap_s=2.0, now=200.0)).wait_s == 0.0  # keys pace apart


async def test_each_taker_spaces_the_next_slot_by_its_own_gap(store: JobStore) -> None:
    k = key()
    assert (await store.take_rate_slot(k, gap_s=10.0, now=0.0)).wait_s == 0.0  # e.g. a worker slowed down by 429s
    assert (await store.take_rate_slot(k, gap_s=1.0, now=0.0)).wait_s == 10.0
    assert (await store.take_rate_slot(k, gap_s=1.0, now=0.0)).wait_s == 11.0


async def test_concurrent_takers_in_several_processes_never_share_a_slot(opener: Opener) -> None:
    stores = [await opener() for _ in range(3)]  # separate instances: as separate workers would have
    k = key()
    waits = await asyncio.gather(
        *(stores[i % 3].take_rate_slot(k, gap_s=0.5, now=1_000.0) for i in range(24)), return_exceptions=False
    )
    assert sorted(w for w, _ in waits) == [i * 0.5 for i in range(24)]
    assert sorted(seq for _, seq in waits) == list(range(24))  # each take has a number of its own


async def test_a_slot_beyond_the_horizon_is_taken_for_a_clock_step_and_starts_afresh(store: JobStore) -> None:
    k = key()
    await store.take_rate_slot(k, gap_s=1.0, now=1e9)  # e.g. the clock stepped back after this
    assert (await store.take_rate_slot(k, gap_s=1.0, now=0.0)).wait_s == 0.0
    assert (await store.take_rate_slot(k, gap_s=1.0, now=0.0)).wait_s == 1.0  # and paces on from there
    # Within the horizon (ten minutes at least) a slot ahead is a slot, however far another taker's gap set it.
    assert rate_slots.horizon_s(1.0) == 600.0 and rate_slots.horizon_s(10.0) == 2560.0
    assert (await store.take_rate_slot(k, gap_s=500.0, now=0.0)).wait_s == 2.0  # the next is free at 502
    assert (await store.take_rate_slot(k, gap_s=1.0, now=0.0)).wait_s == 502.0


async def test_without_now_slots_are_reckoned_on_the_stores_clock(store: JobStore) -> None:
    k = key()
    started = time.monotonic()
    first, _ = await store.take_rate_slot(k, gap_s=5.0)
    second, _ = await store.take_rate_slot(k, gap_s=5.0)
    elapsed = time.monotonic() - started
    assert first == 0.0
    # The store's clock moved on by at most what this process saw pass (plus rounding) between the two.
    assert 5.0 - elapsed - 0.01 <= second <= 5.0


# As ProviderGate paces a quota of 4 per 3.8 s: slots 1 s apart (4 gaps are the period and 0.2 s of margin), and
# a departure holds the take 4 after it to the period and half the margin (0.1 s kept for the transit) later.
COUNT, WINDOW, GAP = 4, 3.9, 1.0


async def sent(store: JobStore, k: str, seq: int, left_at: float, now: float) -> None:
    await store.rate_slot_sent(k, seq=seq, ago_s=now - left_at, count=COUNT, window_s=WINDOW, now=now)


async def test_a_late_departure_holds_the_take_a_window_of_requests_after_it(store: JobStore) -> None:
    k = key()
    assert [await store.take_rate_slot(k, gap_s=GAP, now=0.0) for _ in range(3)] == [(0.0, 0), (1.0, 1), (2.0, 2)]
    await sent(store, k, 0, left_at=3.0, now=3.0)  # take 0's request left 3 s after its slot
    assert await store.take_rate_slot(k, gap_s=GAP, now=3.0) == (0.0, 3)  # take 3 is not held: due at 3
    assert await store.take_rate_slot(k, gap_s=GAP, now=3.0) == (pytest.approx(3.9), 4)  # a window after take 0
    assert await store.take_rate_slot(k, gap_s=GAP, now=3.0) == (pytest.approx(4.9), 5)  # and a gap after that


async def test_lateness_every_request_has_holds_the_slots_once_not_once_per_request(store: JobStore) -> None:
    k = key()
    for _ in range(3):
        await store.take_rate_slot(k, gap_s=GAP, now=0.0)
    for seq in range(3):  # all three left 3 s late: each holds its own successor to the same schedule
        await sent(store, k, seq, left_at=seq + 3.0, now=5.0)
    waits = [(await store.take_rate_slot(k, gap_s=GAP, now=5.0)).wait_s for _ in range(4)]
    assert waits == pytest.approx([0.0, 1.9, 2.9, 3.9])  # take 4 a window after take 0 left, and so on
    # (The rule before 0008, each late request pushing every later slot by its lateness beyond 0.1 s, would
    # have put take 3 at 3 + 3 x 2.9 = 11.7.)


async def test_a_departure_within_the_margin_or_reported_again_moves_nothing(store: JobStore) -> None:
    k = key()
    for _ in range(3):
        await store.take_rate_slot(k, gap_s=GAP, now=0.0)
    await sent(store, k, 0, left_at=0.0, now=1.0)  # on time: take 4 at 4.0 is already a window after it (3.9)
    await sent(store, k, 1, left_at=1.05, now=1.1)  # 0.05 s late: the gaps' spare covers it
    await sent(store, k, 9, left_at=0.0, now=1.1)  # a number not yet taken: holds take 13, far ahead
    assert (await store.take_rate_slot(k, gap_s=GAP, now=1.1)).wait_s == pytest.approx(1.9)  # slot 3, as without
    await sent(store, k, 0, left_at=0.0, now=1.1)  # a report is a lower bound: repeating it changes nothing
    assert (await store.take_rate_slot(k, gap_s=GAP, now=1.1)).wait_s == pytest.approx(2.9)
    fresh = key()
    await sent(store, fresh, 0, left_at=0.0, now=0.0)  # nothing taken yet: nothing to hold
    assert (await store.take_rate_slot(fresh, gap_s=GAP, now=0.0)).wait_s == 0.0


async def test_a_report_after_its_successor_was_taken_holds_the_next_take(store: JobStore) -> None:
    k = key()
    for _ in range(6):
        await store.take_rate_slot(k, gap_s=GAP, now=0.0)  # slots 0..5: take 4 already handed out
    await sent(store, k, 0, left_at=10.0, now=10.0)  # take 0's request left 10 s late
    assert (await store.take_rate_slot(k, gap_s=GAP, now=10.0)).wait_s == pytest.approx(WINDOW)  # not 6 - 10


async def test_reports_and_takes_racing_in_several_processes_lose_no_hold(opener: Opener) -> None:
    stores = [await opener() for _ in range(3)]
    k = key()
    taken = await asyncio.gather(*(stores[i % 3].take_rate_slot(k, gap_s=GAP, now=0.0) for i in range(12)))
    assert sorted(seq for _, seq in taken) == list(range(12))
    # Every request left 5 s after its slot, reported from three processes at once in any order: takes 12-15 are
    # each held to a window after the departure four takes before (take 8's at 13: 16.9), the reports of takes
    # already handed out move the next one (take 7's at 12: 15.9, below the hold); none is lost to another.
    await asyncio.gather(*(sent(stores[seq % 3], k, seq, left_at=seq + 5.0, now=16.0) for seq in reversed(range(12))))
    assert await stores[0].take_rate_slot(k, gap_s=GAP, now=16.0) == (pytest.approx(0.9), 12)
    assert await stores[1].take_rate_slot(k, gap_s=GAP, now=16.0) == (pytest.approx(1.9), 13)


@pytest.mark.parametrize(
    ("seq", "ago", "count", "window", "match"),
    [
        (-1, 0.0, 4, 4.0, "seq must be"),
        (0, 0.0, 0, 4.0, "count >= 1"),
        (0, -1.0, 4, 4.0, "ago_s must be"),
        (0, float("nan"), 4, 4.0, "ago_s must be"),
        (0, 0.0, 4, 0.0, "window_s finite and > 0"),
    ],
)
async def test_bad_reports_are_refused(
    store: JobStore, seq: int, ago: float, count: int, window: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await store.rate_slot_sent("vertex", seq=seq, ago_s=ago, count=count, window_s=window, now=0.0)


@pytest.mark.parametrize(
    ("name", "gap", "now", "match"),
    [
        ("", 1.0, 0.0, "key must be"),
        ("x" * 129, 1.0, 0.0, "key must be"),
        ("vertex", 0.0, 0.0, "gap_s must be"),
        ("vertex", float("nan"), 0.0, "gap_s must be"),
        ("vertex", 1.0, float("inf"), "now must be finite"),
    ],
)
async def test_bad_arguments_are_refused(store: JobStore, name: str, gap: float, now: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        await store.take_rate_slot(name, gap_s=gap, now=now)
