"""Per-credential request quota, answered the way Google answers it: 429 RESOURCE_EXHAUSTED with a
QuotaFailure naming the limit and a RetryInfo saying when the window frees up."""

from __future__ import annotations

import math
import threading
from collections import defaultdict, deque

from veokit.emulator.errors import RpcError
from veokit.emulator.state import EmulatorState

_lock = threading.Lock()


def check_quota(state: EmulatorState, credential: str) -> None:
    limit = state.config.quota_requests
    if limit is None:
        return
    window = state.config.quota_window_s
    now = state.clock.now()
    with _lock:
        book: dict[str, deque[float]] = state.__dict__.setdefault("_quota_book", defaultdict(deque))
        stamps = book[credential]
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) < limit:
            stamps.append(now)
            return
        wait = max(0.001, stamps[0] + window - now)
    state.stats_counters.rate_limited()
    raise RpcError(
        "RESOURCE_EXHAUSTED",
        f"Quota exceeded for quota metric 'Generate requests' and limit '{limit} per {window:g} s'.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaId": "GenerateRequestsPerMinutePerProject",
                        "description": f"{limit} requests per {window:g} s",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": _duration(wait)},
        ],
    )


def _duration(seconds: float) -> str:
    # google.protobuf.Duration JSON: up to 9 fractional digits; round up so waiting that long is enough.
    return f"{math.ceil(seconds * 1000) / 1000:g}s"
