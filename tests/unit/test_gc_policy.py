"""The worker's collector settings (engine/gc_policy.py): a higher young threshold, and the start-up heap
frozen once, after a collection, so that no garbage is frozen with it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from veokit.engine import gc_policy


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_raises_the_young_threshold_and_freezes_the_heap_once_without_its_garbage(
    thresholds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc_policy, "_frozen", False)
    # Counted, not compared by gc.get_freeze_count(): frozen objects freed by reference counting meanwhile (another
    # test's thread ending) lower that count, so it proves nothing about a second freeze.
    freezes: list[int] = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (freezes.append(1), real_freeze())[1])
    gc.set_threshold(700, 10, 10)
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage  # unreachable now, kept alive by its own cycle until a collection
    assert gone() is not None
    gc_policy.for_many_jobs()
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, 10, 10)
    assert freezes == [1] and gc.get_freeze_count() > 0
    # Collected before the freeze: a frozen cycle would never be.
    assert gone() is None
    gc_policy.for_many_jobs()  # a second worker in the process: nothing frozen again
    assert freezes == [1]


def test_keeps_a_higher_threshold_the_process_set(thresholds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_policy, "_frozen", True)
    gc.set_threshold(50_000, 20, 30)
    gc_policy.for_many_jobs()
    assert gc.get_threshold() == (50_000, 20, 30)
