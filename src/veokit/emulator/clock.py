"""The emulator's clock: real time plus an offset that tests (or the admin API) can advance, and can freeze.

Starting from real time keeps latencies real by default; advancing jumps every deadline (operation
ready time, file retention, token expiry, signed-URL expiry, quota windows) forward at once, without sleeping.
Frozen, it stands still until advanced: then nothing in the emulator depends on how fast the machine is (a
quota window never passes during a burst, an operation is never ready "by itself"). Resuming continues from
where it stood, so emulated time never goes back.
"""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None  # the real time at which it was frozen
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulator sees it."""
        with self._lock:
            return (time.time() if self._frozen_at is None else self._frozen_at) + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def freeze(self) -> None:
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time()

    def resume(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset -= time.time() - self._frozen_at  # continue from the time it showed
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    @property
    def offset_s(self) -> float:
        return self._offset


def rfc3339(epoch_s: float) -> str:
    """Google's timestamp format: UTC, microseconds, 'Z'."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
