"""Contract fixtures: the emulator behind its TLS listener, for real clients that only accept ``https://``.

One session-wide HTTPS emulator (same configuration and render cache as ``emulator``), reset before each test.
Clients trust its self-signed certificate through configuration alone: ``SSL_CERT_FILE`` (set by
``tls_emulator`` for the test) or the file at ``tls_emulator.ca_file``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="session")
def tls_emulator_session(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config, tls=True) as emu:
        yield emu


@pytest.fixture
def tls_emulator(
    tls_emulator_session: EmulatorServer, emulator_config: EmulatorConfig, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    tls_emulator_session.state.reset()
    tls_emulator_session.state.set_latency(emulator_config.latency_s, None)
    assert tls_emulator_session.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_emulator_session.ca_file))
    return tls_emulator_session
