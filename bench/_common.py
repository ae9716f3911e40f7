"""What every benchmark here needs: RSS sampling, a free loopback port, waiting for the emulator."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler:
    """Samples RSS every ``interval_s`` from a baseline taken at construction (ru_maxrss would include
    start-up peaks from imports). ``stop()`` returns the peak growth over the baseline, in bytes."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.baseline = rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(self.interval_s)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss())
        return self.peak - self.baseline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, *, tries: int = 400) -> None:
    import httpx

    for _ in range(tries):
        try:
            httpx.get(f"{base}/_emulator/health", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("emulator did not start")


class LoadSampler:
    """The 1-minute load average every second while a side runs: how busy the shared machine was."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> list[float]:
        self._stop.set()
        self._t.join()
        return self.samples or [os.getloadavg()[0]]


def emulated_vertex(base: str, out: Path, **fields: Any) -> Any:
    """veokit's settings for Vertex served by the emulator at ``base``, a SQLite store in ``out`` unless
    ``fields`` names another; ``fields`` adds the bench's own (poll scale, rate limit, deadline)."""
    from veokit.config import Settings

    defaults: dict[str, Any] = {
        "provider": "vertex",
        "vertex_base_url": base,
        "vertex_project": "bench",
        "vertex_access_token": "test-token",
        "out_dir": out,
        "database_url": f"sqlite:///{out / 'jobs.db'}",
    }
    return Settings(**(defaults | fields))
