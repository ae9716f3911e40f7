"""Fixtures for end-to-end tests: a real emulator on loopback and a VeoClient pointed at it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.service.client import VeoClient

BEFORE_GEMINI_SHUTDOWN = dt.date(2026, 10, 1)
AFTER_GEMINI_SHUTDOWN = dt.date(2026, 11, 1)
# Emulated jobs poll on a 1/100 time scale, which makes their default deadline ~11 s: a loaded machine can
# take that long. Tests that are not about deadlines give jobs all the time they need.
DEADLINE_NOT_UNDER_TEST_S = 600.0
# A two-shot storyboard (the second continues from the first's last frame): the film tests' shared subject.
KITES = """\
title: Kites
defaults: {provider: vertex, model: veo-3.1-fast-generate-001, duration: 4, seed: 7}
shots:
  - id: rise
    prompt: A red kite rises over an empty beach.
    takes: 2
  - id: dive
    continuity: last_frame
    prompt: The kite dives towards the sand.
"""


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(latency_s=0.3, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as server:
        yield server


def settings_for(emu: EmulatorServer, tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "provider": "vertex",
        "vertex_base_url": emu.base_url,
        "vertex_project": "proj-1",
        "vertex_access_token": "test-token",
        "gemini_base_url": emu.base_url,
        "database_url": f"sqlite:///{tmp_path / 'jobs.db'}",
        "data_dir": tmp_path / "data",
        "out_dir": tmp_path / "videos",
        "poll_scale": 0.01,
        "job_deadline_s": DEADLINE_NOT_UNDER_TEST_S,
        "allow_retired": True,
        # Tests pace and back off on a fast clock; the fault tests set what they measure explicitly.
        "rate_limit": "off",
        "retry_base_s": 0.02,
        "retry_cap_s": 0.2,
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture
async def client(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[VeoClient]:
    async with VeoClient(settings_for(emu, tmp_path)) as c:
        yield c


def stats(emu: EmulatorServer) -> dict[str, Any]:
    return httpx.get(f"{emu.base_url}/_emulator/stats").json()


async def eventually(check: Callable[[], Any], timeout_s: float = 60.0) -> None:
    """Wait for a condition outside our control (the emulator's counters, another task's progress). The bound
    only turns a hang into a failure: nothing depends on how soon the condition comes."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def until(check: Callable[[], Any], timeout_s: float = 60.0, every_s: float = 0.02) -> Any:
    """:func:`eventually` for tests without an event loop (subprocesses, a server in another thread): returns
    the check's first truthy result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every_s)


def expire_leases(db: Path) -> int:
    """Move the expiry of every job lease in a SQLite store into the past, as waiting out a killed process's
    leases would (they are wall-clock time); returns how many jobs were leased."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        cursor = conn.execute(
            "update jobs set lease_expires_at = '2000-01-01 00:00:00.000000' where lease_owner is not null"
        )
        return cursor.rowcount


def add_faults(emu: EmulatorServer, *rules: dict[str, Any]) -> None:
    r = httpx.post(f"{emu.base_url}/_emulator/faults", json=list(rules))
    assert r.status_code == 200, r.text


class ConnectionCounter:
    """A TCP listener that counts connections and answers nothing: proof that no request was made."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.count = 0
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._t.join()
        self.sock.close()


@pytest.fixture
def counter() -> Iterator[ConnectionCounter]:
    c = ConnectionCounter()
    yield c
    c.close()
