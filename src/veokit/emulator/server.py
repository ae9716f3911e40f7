"""Running the emulator: in a background thread for tests (:class:`EmulatorServer`), or blocking for the
CLI (:func:`serve`).

uvicorn gets a socket we bound ourselves, so ``port=0`` resolves to a real free port before the server
thread even starts and ``base_url`` is known immediately, with no race on "pick a port, then bind it"; and a
busy port fails at once (:class:`ListenError`) before anything claims the server is running.

``tls=True`` serves HTTPS with a self-signed certificate made for the loopback names (see :mod:`.tls`);
clients trust it with ``SSL_CERT_FILE=<ca_file>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from veokit.emulator.app import create_app
from veokit.emulator.config import EmulatorConfig
from veokit.emulator.state import EmulatorState
from veokit.emulator.tls import TlsFiles, ensure_certificate

log = logging.getLogger("veokit.emulator")


class ListenError(OSError):
    """The emulator cannot listen where it was asked to (port in use, address not available, no permission)."""


class _Uvicorn(uvicorn.Server):
    async def _wait_tasks_to_complete(self) -> None:
        # shutdown() has closed idle keep-alive connections. Over TLS, asyncio then waits for the client's
        # close_notify (up to 30 s) before the connection counts as gone, so a client that keeps its pool open
        # would stall shutdown past the grace period. Nothing is in flight on them: abort those now.
        for conn in list(self.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None and transport.is_closing() and transport.get_extra_info("sslcontext"):
                transport.abort()
        await super()._wait_tasks_to_complete()


class EmulatorServer:
    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        tls: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.port = port
        self.state = EmulatorState(self.config)
        self.app = create_app(state=self.state)
        self._log_level = log_level
        self._tls: TlsFiles | None = ensure_certificate(self.state.storage_dir / "tls", host) if tls else None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._used = False

    @property
    def base_url(self) -> str:
        return _base_url(self.host, self.port, tls=self._tls is not None)

    @property
    def ca_file(self) -> Path | None:
        """With ``tls=True``: the PEM file clients must trust (``SSL_CERT_FILE``, ``verify=``); else None."""
        return self._tls.cert if self._tls else None

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
            **_ssl_options(self._tls),
        )
        server = _Uvicorn(cfg)
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
        self.state.holds.release()  # a request parked by a hold would hold up the server's graceful shutdown
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


def serve(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    log_level: str = "info",
    tls: bool = False,
    announce: Callable[[str, Path | None], None] | None = None,
) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM (uvicorn shuts down gracefully, then renders stop).

    The port is bound first: a busy port raises :class:`ListenError` before anything else happens. Then
    ``announce(base_url, ca_file)`` runs (the CLI prints where the emulator listens), then the server."""
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sock = _bind(host, port)
    try:
        state = EmulatorState(config)
    except BaseException:
        sock.close()
        raise
    files = ensure_certificate(state.storage_dir / "tls", host) if tls else None
    app = create_app(state=state)
    cfg = uvicorn.Config(
        app,
        access_log=False,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=3,
        **_ssl_options(files),
    )
    if announce is not None:
        announce(_base_url(host, sock.getsockname()[1], tls=files is not None), files.cert if files else None)
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the captured signal; by then all is clean.
    with contextlib.suppress(KeyboardInterrupt):
        _Uvicorn(cfg).run(sockets=[sock])


def _base_url(host: str, port: int, *, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def _ssl_options(files: TlsFiles | None) -> dict[str, Any]:
    return {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)} if files else {}


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ListenError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ListenError(exc.errno, f"cannot listen on {host}:{port}: {why}") from None
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
