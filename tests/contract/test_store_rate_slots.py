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
    assert await store.take_rate_slot(k, gap_s=2.0, now=100.0) == 0.0  # the first is free at once
    assert await store.take_rate_slot(k, gap_s=2.0, now=100.0) == 2.0
    assert await store.take_rate_slot(k, gap_s=2.0, now=101.0) == 3.0  # its slot is 104
    assert await store.take_rate_slot(k, gap_s=2.0, now=105.5) == 0.5  # 106: the one after 104
    assert await store.take_rate_slot(k, gap_s=2.0, now=200.0) == 0.0  # idle since: free at once
    other = key()
    assert await store.take_rate_slot(other, gap_s=2.0, now=200.0) == 0.0  # keys pace apart


async def test_each_taker_spaces_the_next_slot_by_its_own_gap(store: JobStore) -> None:
    k = key()
    assert await store.take_rate_slot(k, gap_s=10.0, now=0.0) == 0.0  # e.g. a worker slowed down by 429s
    assert await store.take_rate_slot(k, gap_s=1.0, now=0.0) == 10.0
    assert await store.take_rate_slot(k, gap_s=1.0, now=0.0) == 11.0


async def test_concurrent_takers_in_several_processes_never_share_a_slot(opener: Opener) -> None:
    stores = [await opener() for _ in range(3)]  # separate instances: as separate workers would have
    k = key()
    waits = await asyncio.gather(
        *(stores[i % 3].take_rate_slot(k, gap_s=0.5, now=1_000.0) for i in range(24)), return_exceptions=False
    )
    assert sorted(waits) == [i * 0.5 for i in range(24)]


async def test_a_slot_beyond_the_horizon_is_taken_for_a_clock_step_and_starts_afresh(store: JobStore) -> None:
    k = key()
    await store.take_rate_slot(k, gap_s=1.0, now=1e9)  # e.g. the clock stepped back after this
    assert await store.take_rate_slot(k, gap_s=1.0, now=0.0) == 0.0
    assert await store.take_rate_slot(k, gap_s=1.0, now=0.0) == 1.0  # and paces on from there
    # Within the horizon (ten minutes at least) a slot ahead is a slot, however far another taker's gap set it.
    assert rate_slots.horizon_s(1.0) == 600.0 and rate_slots.horizon_s(10.0) == 2560.0
    assert await store.take_rate_slot(k, gap_s=500.0, now=0.0) == 2.0  # the next is free at 502
    assert await store.take_rate_slot(k, gap_s=1.0, now=0.0) == 502.0


async def test_without_now_slots_are_reckoned_on_the_stores_clock(store: JobStore) -> None:
    k = key()
    started = time.monotonic()
    first = await store.take_rate_slot(k, gap_s=5.0)
    second = await store.take_rate_slot(k, gap_s=5.0)
    elapsed = time.monotonic() - started
    assert first == 0.0
    # The store's clock moved on by at most what this process saw pass (plus rounding) between the two.
    assert 5.0 - elapsed - 0.01 <= second <= 5.0


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
