"""`veokit serve` for tests: the real app under uvicorn on a real loopback port (in a thread of this process, or
as a `veokit serve` subprocess), keys made through the service layer, and the emulator behind it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from veokit.config import Settings
from veokit.server.app import create_app
from veokit.service import NewKey, VeoClient

from .conftest import until


class InProcessService:
    """The app under uvicorn on a free port, in a thread with its own event loop."""

    def __init__(self, settings: Settings, **app_kw: Any) -> None:
        self.app = create_app(settings, **app_kw)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="veokit-serve-test", daemon=True)

    def start(self) -> InProcessService:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive(), "the service failed to start"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def make_key(settings: Settings, name: str, **kw: Any) -> NewKey:
    async def go() -> NewKey:
        async with VeoClient(settings) as client:
            return await client.tenants.create_key(name, **kw)

    return asyncio.run(go())


VEOKIT = [sys.executable, "-m", "veokit.cli.main"]


def serve_process(env: dict[str, str], port: int, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`veokit serve` as a user starts it; returns once /healthz answers."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_", "VEOKIT_"))}
    full.update(env)
    log = (tmp_path / f"serve-{port}.log").open("a")
    proc = subprocess.Popen(
        [*VEOKIT, "serve", "--port", str(port), *args],
        env=full,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        until(up, timeout_s=180, every_s=0.1)  # an import-heavy start on a loaded machine
    except BaseException:  # the caller never gets the process to stop: stop it here
        proc.kill()
        proc.wait(30)
        raise
    return proc
