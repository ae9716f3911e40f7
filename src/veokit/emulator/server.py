"""Running the emulator: in a background thread for tests (:class:`EmulatorServer`), or blocking for the
CLI (:func:`serve`).

uvicorn gets a socket we bound ourselves, so ``port=0`` resolves to a real free port before the server
thread even starts and ``base_url`` is known immediately, with no race on "pick a port, then bind it".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn

from veokit.emulator.app import create_app
from veokit.emulator.config import EmulatorConfig
from veokit.emulator.state import EmulatorState

log = logging.getLogger("veokit.emulator")


class EmulatorServer:
    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.state = EmulatorState(self.config)
        self.app = create_app(state=self.state)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._used = False

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """The same document as ``GET /_emulator/stats``."""
        return self.state.stats()

    def start(self, timeout_s: float = 15.0) -> Self:
        if self._used:
            # Shutdown closes the render pool and removes a temporary storage dir: start a new server instead.
            raise RuntimeError("an EmulatorServer runs once; create a new one to start again")
        self._used = True
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        # log_config=None: an embedded server must not reconfigure the host process's logging.
        cfg = uvicorn.Config(
            self.app,
            access_log=False,
            log_config=None,
            log_level=self._log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(cfg)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"veokit-emulator:{self.port}"
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator failed to start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout_s)
        if thread.is_alive():
            server.force_exit = True  # a client still streaming a huge body: stop waiting for it
            thread.join(timeout_s)
        if not server.started:
            self.state.close()  # lifespan shutdown never ran, so nothing else will

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "info") -> None:
    """Run in the foreground until Ctrl-C / SIGTERM (uvicorn shuts down gracefully, then renders stop)."""
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    state = EmulatorState(config)
    app = create_app(state=state)
    cfg = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_level=log_level, lifespan="on", timeout_graceful_shutdown=3
    )
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the captured signal; by then all is clean.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(cfg).run()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
