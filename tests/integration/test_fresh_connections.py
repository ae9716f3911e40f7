"""Paid submits go out on a connection opened for them; polls keep the pool (providers/http.py).

The emulator's ``stale`` fault replays the keep-alive race on demand: a request that arrives on a connection
which already carried one is dropped unread, as when the server's idle timeout closes the connection just as
the client reuses it. A submit after a poll on a pooled client met that connection and ended outcome-unknown;
on its own connection the rule never matches and the submit is accepted once.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest
from veokit.providers.base import Provider
from veokit.providers.http import new_client
from veokit.service.providers import build_provider

from .conftest import DEADLINE_NOT_UNDER_TEST_S, add_faults, stats

PROVIDERS = ("vertex", "gemini", "kie", "fal", "replicate", "omni", "omni-vertex")


def every_provider(emu: EmulatorServer, tmp_path: Path) -> Settings:
    return Settings(
        vertex_base_url=emu.base_url,
        vertex_project="proj-1",
        vertex_access_token="test-token",
        gemini_base_url=emu.base_url,
        gemini_api_key="test-key",
        omni_base_url=emu.base_url,
        kie_base_url=emu.base_url,
        kie_api_key="test-kie-key",
        fal_base_url=emu.base_url,
        fal_key="test-fal-key",
        replicate_base_url=emu.base_url,
        replicate_api_token="test-replicate-token",
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
        data_dir=tmp_path,
        out_dir=tmp_path / "videos",
        job_deadline_s=DEADLINE_NOT_UNDER_TEST_S,
    )


def request_for(name: str) -> GenerateRequest:
    model = default_catalog().default_model(name)
    return GenerateRequest(prompt="a lighthouse at dusk", model=model, duration_seconds=4, resolution="720p")


def pending_rules(emu: EmulatorServer) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = httpx.get(f"{emu.base_url}/_emulator/faults").json()["rules"]
    return rules


STALE_SUBMIT = {"route": "submit", "fault": {"kind": "stale"}}
STALE_POLL = {"route": "poll", "fault": {"kind": "stale"}}


# Reuse needs the kept-alive connection still open: client and server drop an idle one after 5 s. A stall that
# long between two requests (a loaded machine) opens a new one instead, so the steps that need reuse try again.
ATTEMPTS = 5


async def poll_until_stale_fires(provider: Provider, op: str, spool_dir: Path, emu: EmulatorServer) -> bool:
    """Poll until a poll meets the dropped kept-alive connection. The poll that meets it is sent again at once on
    a new connection, so it is answered: a GET by aiohttp itself (it resends an idempotent request when a reused
    connection turns out closed), a POST poll (Vertex) by the seam (an unpaid request is safe to repeat)."""
    for _ in range(ATTEMPTS):
        await provider.poll(op, spool_dir=spool_dir)
        if not pending_rules(emu):
            return True
    return False


@pytest.mark.parametrize("name", PROVIDERS)
async def test_a_submit_after_a_poll_is_accepted_once_and_polls_still_reuse_connections(
    name: str, emulator: EmulatorServer, tmp_path: Path
) -> None:
    provider = build_provider(name, every_provider(emulator, tmp_path), default_catalog())
    try:
        first = await provider.submit(request_for(name))
        # Polls keep the pool: a poll after a poll goes out on the connection the first one left open.
        add_faults(emulator, STALE_POLL)
        assert await poll_until_stale_fires(provider, first, tmp_path, emulator), "no poll reused a connection"
        await provider.poll(first, spool_dir=tmp_path)  # leaves a kept-alive connection in the pool
        add_faults(emulator, STALE_SUBMIT)
        second = await provider.submit(request_for(name))
        assert second != first
        assert stats(emulator)["submits_total"] == 2
        assert [r["fault"]["kind"] for r in pending_rules(emulator)] == ["stale"]  # no submit reused a connection
    finally:
        await provider.aclose()


async def test_on_a_pooled_connection_the_same_submit_ends_outcome_unknown(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The race the fresh connection removes, shown with the client veokit had before: one keep-alive pool."""
    provider: Any = build_provider("vertex", every_provider(emulator, tmp_path), default_catalog())
    await provider.aclose()
    # A transport of the caller's: new_client then has no twin for paid requests, which is the old behaviour.
    provider.client = new_client(transport=httpx.AsyncHTTPTransport())
    try:
        first = await provider.submit(request_for("vertex"))
        add_faults(emulator, STALE_SUBMIT)
        accepted = 0
        for _ in range(ATTEMPTS):
            await provider.poll(first, spool_dir=tmp_path)
            try:
                await provider.submit(request_for("vertex"))
            except E.SubmitOutcomeUnknown as exc:
                assert "not sent again" in exc.message
                break
            accepted += 1  # the poll's connection had gone idle too long and was replaced
        else:
            pytest.fail("no submit reused the poll's connection")
        # Dropped unread: the provider accepted nothing, yet the client cannot tell.
        assert stats(emulator)["submits_total"] == 1 + accepted
        assert pending_rules(emulator) == []
    finally:
        await provider.aclose()


async def test_a_paid_request_that_cannot_connect_sent_nothing_and_may_be_retried(tmp_path: Path) -> None:
    with socket.socket() as s:  # bound, then closed: nothing listens there, so a connect is refused
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings = Settings(
        vertex_base_url=url,
        vertex_project="proj-1",
        vertex_access_token="test-token",
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
        data_dir=tmp_path,
    )
    provider = build_provider("vertex", settings, default_catalog())
    try:
        with pytest.raises(E.NetworkError) as info:
            await provider.submit(request_for("vertex"))
    finally:
        await provider.aclose()
    assert info.value.retryable and "ConnectError" in info.value.message


async def test_both_connections_trust_what_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The twin that sends paid requests is configured like the pool: over TLS, SSL_CERT_FILE is trusted by both."""
    with EmulatorServer(EmulatorConfig(storage_dir=tmp_path / "emu", latency_s=0.1), tls=True) as emu:
        assert emu.ca_file is not None and emu.base_url.startswith("https://")
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        provider = build_provider("vertex", every_provider(emu, tmp_path), default_catalog())
        try:
            op = await provider.submit(request_for("vertex"))  # paid: its own connection
            await provider.poll(op, spool_dir=tmp_path)  # the pool
        finally:
            await provider.aclose()
        assert emu.stats()["submits_total"] == 1
