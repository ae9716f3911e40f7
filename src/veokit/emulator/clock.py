"""The emulator's clock: real time plus an offset that tests (or the admin API) can advance.

Starting from real time keeps latencies real by default; advancing jumps every deadline (operation
ready time, file retention, token expiry, signed-URL expiry) forward at once, without sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def offset_s(self) -> float:
        return self._offset


def rfc3339(epoch_s: float) -> str:
    """Google's timestamp format: UTC, microseconds, 'Z'."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
