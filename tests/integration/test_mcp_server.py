"""`veokit mcp` as an MCP client sees it: the official SDK's stdio client against a spawned server process."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import BlobResourceContents, CallToolResult, ResourceLink, TextResourceContents

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import BEFORE_GEMINI_SHUTDOWN, DEADLINE_NOT_UNDER_TEST_S, stats


@pytest.fixture
def slow_emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as server:
        yield server


@asynccontextmanager
async def mcp_session(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[ClientSession]:
    env = {
        "VEOKIT_PROVIDER": "vertex",
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "p",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "VEOKIT_DATA_DIR": str(tmp_path / "data"),
        "VEOKIT_OUT_DIR": str(tmp_path / "videos"),
        "VEOKIT_POLL_SCALE": "0.01",
        "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),
        "VEOKIT_CONFIG": "/nonexistent",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "veokit.cli.main", "mcp"], env=env, cwd=tmp_path)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def timed_call(
    session: ClientSession, name: str, args: dict[str, Any], **kw: Any
) -> tuple[CallToolResult, float]:
    start = time.monotonic()
    result = await session.call_tool(name, args, **kw)
    return result, time.monotonic() - start


async def test_mcp_stdio_generate_wait_download_with_progress_and_resources(
    slow_emu: EmulatorServer, tmp_path: Path
) -> None:
    async with mcp_session(slow_emu, tmp_path) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert set(listed) >= {
            "generate_video",
            "wait_for_video",
            "video_status",
            "list_videos",
            "extend_video",
            "estimate_cost",
            "download_video",
            "resume_video",
        }
        gen_schema = listed["generate_video"].input_schema
        assert "9:16" in gen_schema["properties"]["aspect_ratio"]["description"]
        assert listed["estimate_cost"].annotations is not None and listed["estimate_cost"].annotations.read_only_hint

        # Bad input never reaches the provider and names the field and what is allowed.
        for args, field, allowed in [
            ({"aspect_ratio": "1:1"}, "aspect_ratio", "16:9, 9:16"),
            ({"resolution": "4k", "duration_seconds": 4}, "duration_seconds", "8"),
        ]:
            bad, _ = await timed_call(session, "generate_video", {"prompt": "a fox", **args})
            assert bad.is_error and text(bad).startswith(f"{field}:") and allowed in text(bad), text(bad)
            assert "Traceback" not in text(bad)
        assert stats(slow_emu)["submits_total"] == 0

        empty, _ = await timed_call(session, "list_videos", {})  # also opens the job store (migrations)
        assert not empty.is_error and empty.structured_content["jobs"] == []

        # The operation runs until the test releases it: a tool that waited for the video could not return.
        running = slow_emu.state.holds.add()
        started, _ = await timed_call(
            session, "generate_video", {"prompt": "a lighthouse at dusk, waves", "duration_seconds": 4}
        )
        assert not started.is_error, text(started)
        job_id = started.structured_content["job_id"]
        assert started.structured_content["state"] in ("running", "submitting")  # returned at once

        # A bounded wait returns "still running" when its timeout hits.
        early, took = await timed_call(session, "wait_for_video", {"job_id": job_id, "timeout_s": 1})
        assert not early.is_error and early.structured_content["finished"] is False, text(early)
        assert early.structured_content["state"] == "running" and "still running" in text(early)
        assert took >= 0.9  # it did wait (how much longer the machine took is not the tool's doing)

        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))
            slow_emu.state.holds.release(running.id)  # reported running: now let it finish

        done, _ = await timed_call(
            session, "wait_for_video", {"job_id": job_id, "timeout_s": 600}, progress_callback=on_progress
        )
        assert not done.is_error and done.structured_content["state"] == "succeeded", text(done)
        values = [p[0] for p in progress]
        assert len(values) >= 2 and values == sorted(set(values)), progress  # strictly increasing
        assert values[-1] == 100.0 and all(p[1] == 100.0 and p[2] for p in progress)
        links = [c for c in done.content if isinstance(c, ResourceLink)]
        assert [str(link.uri) for link in links] == [f"veokit://jobs/{job_id}/videos/0"]

        copied, _ = await timed_call(
            session, "download_video", {"job_id": job_id, "destination": str(tmp_path / "deliver")}
        )
        assert not copied.is_error, text(copied)
        path = Path(copied.structured_content["path"])
        assert path.parent == tmp_path / "deliver"
        verify_mp4(path, Expectation(width=1280, height=720, duration_s=4.0, audio=True))

        # Resources: the job as JSON and the MP4 itself.
        templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
        assert {"veokit://jobs/{job_id}", "veokit://jobs/{job_id}/videos/{index}"} <= templates
        (job_doc,) = (await session.read_resource(f"veokit://jobs/{job_id}")).contents
        assert isinstance(job_doc, TextResourceContents)
        assert json.loads(job_doc.text)["state"] == "succeeded"
        (blob,) = (await session.read_resource(f"veokit://jobs/{job_id}/videos/0")).contents
        assert isinstance(blob, BlobResourceContents) and blob.mime_type == "video/mp4"
        assert hashlib.sha256(base64.b64decode(blob.blob)).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()

        status, _ = await timed_call(session, "list_videos", {})
        assert [j["job_id"] for j in status.structured_content["jobs"]] == [job_id]
    assert stats(slow_emu)["submits_total"] == 1


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """`veokit mcp --http` on a free loopback port; stopped with Ctrl-C (SIGINT), which must exit cleanly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "VEOKIT_PROVIDER": "emulator",
            "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            "VEOKIT_DATA_DIR": str(tmp_path),
            "VEOKIT_CONFIG": "/nonexistent",
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "veokit.cli.main", "mcp", "--http", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "the HTTP server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
    assert server.returncode == 0, err
    assert "Traceback" not in err


async def test_mcp_streamable_http_serves_the_same_tools(http_server: str) -> None:
    async with streamable_http_client(http_server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"generate_video", "wait_for_video", "download_video"} <= names
        priced = await session.call_tool(
            "estimate_cost", {"prompt": "a fox", "resolution": "1080p", "model": "veo-3.1-generate-001", "samples": 2}
        )
        assert not priced.is_error and priced.structured_content["total_usd"] == pytest.approx(6.4)
        bad = await session.call_tool("estimate_cost", {"prompt": "a fox", "aspect_ratio": "1:1"})
        assert bad.is_error and text(bad).startswith("aspect_ratio:")
