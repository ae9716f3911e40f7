"""Shared fixtures: the Veo emulator, served over real loopback HTTP.

``emulator`` is one session-wide server, reset before each test (operations, files, faults, counters,
latency); all emulators in a session share one render cache directory, so a video that several tests
ask for is encoded once. ``make_emulator(**overrides)`` starts a dedicated server when a test needs a
different configuration (token lifetime, ``as_of`` date, latency range).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets its own PostgreSQL database: the store tests delete every job in
    theirs. Runs in each worker before collection, where test modules read ``VEOKIT_TEST_PG_URL``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("VEOKIT_TEST_PG_URL")
    if not worker or not url:
        return
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from veokit.store import resolve_url

    server = sa.make_url(resolve_url(url))
    name = f"{server.database}_{worker}"

    async def create() -> None:
        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()

    asyncio.run(create())
    os.environ["VEOKIT_TEST_PG_URL"] = server.set(database=name).render_as_string(hide_password=False)


# Before the Gemini API's Veo shutdown (2026-10-22), after Vertex retired Veo 3.0 (2026-06-30), so both
# live and retired models exist on both protocols.
EMULATOR_AS_OF = dt.date(2026, 10, 1)
EMULATOR_LATENCY_S = 0.3


@pytest.fixture(autouse=True)
def _in_process_emulator_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--provider emulator`` keeps its operations under the data dir; a test's stay its own."""
    monkeypatch.setenv("VEOKIT_EMULATOR_STATE_DIR", str(tmp_path_factory.mktemp("emulator-state")))


@pytest.fixture(scope="session")
def emulator_config(tmp_path_factory: pytest.TempPathFactory) -> EmulatorConfig:
    return EmulatorConfig(
        api_keys=("test-key", "second-key"),
        bearer_tokens=("test-token",),
        latency_s=EMULATOR_LATENCY_S,
        as_of=EMULATOR_AS_OF,
        storage_dir=tmp_path_factory.mktemp("emulator-renders"),
    )


@pytest.fixture(scope="session")
def emulator_session(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_session: EmulatorServer) -> EmulatorServer:
    emulator_session.state.reset()
    emulator_session.state.set_latency(EMULATOR_LATENCY_S, None)
    return emulator_session


@pytest.fixture
def emu_http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=60) as client:
        yield client


@pytest.fixture
def make_emulator(emulator_config: EmulatorConfig) -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        emu = EmulatorServer(replace(emulator_config, **overrides)).start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()
