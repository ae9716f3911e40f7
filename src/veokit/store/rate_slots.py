"""Request slots shared by every process of one store: one provider quota, however many workers pace against it.

A provider's quota is per project or key, not per process. Each worker used to pace itself, so N workers sent N
times the configured rate. Here the next free slot of each key (a provider's name) lives in the store: a taker
gets ``slot = max(next_free, now)`` and moves ``next_free`` to ``slot + gap``, atomically, so slots handed to
all processes together are at least ``gap`` apart, whoever asks and however many ask. The caller then sleeps
until its slot on its own clock; only the *wait* crosses the process boundary, never a timestamp.

Whose ``now``: the store's clock (:meth:`~veokit.store.base.JobStore.take_rate_slot` with ``now=None``):
PostgreSQL's ``clock_timestamp()``, read after the row is locked, so workers on machines whose clocks disagree
still share one time axis; for SQLite (processes on one machine, one file) and the memory store, this
machine's wall clock. Tests pass ``now`` from a clock they drive instead, the same for every process sharing
the store.

What a slot taken and never used costs (a job cancelled or a worker stopped or killed while waiting for it):
the slot is lost, so others wait one ``gap`` longer than needed. The engine keeps that to one slot per process
(:class:`veokit.resilience.gate.ProviderGate` lets one waiter at a time hold a slot; the rest queue in the
process), so a stopping worker with a thousand jobs waiting delays the others by one gap, not a thousand.

A request that leaves late (after its slot) must not share a window with the request ``count`` takes after it.
Each take is numbered (``seq``, per key, from 0: :class:`RateSlot`), and the taker reports when its request
left (:func:`hold`): take ``seq + count`` is then held to no earlier than that departure plus the window, a
*hold* kept for that take alone (a row of ``rate_holds``, 0008) until it is taken. That is a sliding window over
actual departures: take ``j`` comes no earlier than ``count`` takes' departure before it plus the window, and
since slots never go back, no earlier than any departure before that plus the window either. So a late
departure delays only the request a window after it (and those after that one by their gaps), once per window,
where the rule before 0008 pushed every later slot by each late request's lateness, once per request.
A report arriving after take ``seq + count`` was handed out holds the next take instead (the best left to do).

A ``next_free`` further ahead than :func:`horizon_s` (the store's clock stepped back, or a test's clock met the
database's) is taken for a value from another time axis and starts afresh at ``now``: a clock step costs at
most one horizon of waiting, never an hour's. The horizon is far beyond anything real: 256 gaps (256 processes
each holding a slot) and at least ten minutes (a worker slowed to one request a minute by 429s still holds a
slot a minute ahead, which a faster worker must not take for a clock step).
"""

from __future__ import annotations

import math
from typing import NamedTuple

# More than this many processes each holding a slot of one provider is not a deployment veokit expects.
HORIZON_GAPS = 256
HORIZON_MIN_S = 600.0
MAX_KEY_LEN = 128


class RateSlot(NamedTuple):
    wait_s: float  # from the taker's ``now`` until the slot (0: free now)
    seq: int  # this take's number for its key: what a report of its departure names (:func:`hold`)


def check(key: str, gap_s: float, now: float | None) -> None:
    if not key or len(key) > MAX_KEY_LEN:
        raise ValueError(f"rate slot key must be 1 to {MAX_KEY_LEN} characters, got {key!r}")
    if not (math.isfinite(gap_s) and gap_s > 0):
        raise ValueError(f"gap_s must be a finite number > 0, got {gap_s}")
    if now is not None and not math.isfinite(now):
        raise ValueError(f"now must be finite, got {now}")


def horizon_s(gap_s: float) -> float:
    return max(gap_s * HORIZON_GAPS, HORIZON_MIN_S)


def check_sent(seq: int, ago_s: float, count: int, window_s: float, now: float | None) -> None:
    if now is not None and not math.isfinite(now):
        raise ValueError(f"now must be finite, got {now}")
    if seq < 0 or count < 1:
        raise ValueError(f"seq must be >= 0 and count >= 1, got {seq} and {count}")
    if not (math.isfinite(ago_s) and ago_s >= 0 and math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"ago_s must be finite and >= 0, window_s finite and > 0, got {ago_s} and {window_s}")


def take(next_free: float | None, held: float | None, now: float, gap_s: float) -> tuple[float, float]:
    """``(slot, new next_free)`` for a taker at ``now``, whose take is held to ``held`` (or not held: None); the
    SQL store computes the same in one ``UPDATE``. A hold beyond the horizon is from another time axis too."""
    fresh = next_free is None or next_free > now + horizon_s(gap_s)
    base = now if fresh or next_free is None else max(next_free, now)
    if held is not None and held <= now + horizon_s(gap_s):
        base = max(base, held)
    return base, base + gap_s


def hold(seq: int, left_at: float, count: int, window_s: float) -> tuple[int, float]:
    """Take ``seq``'s request left at ``left_at``: which take that holds, and to what."""
    return seq + count, left_at + window_s
