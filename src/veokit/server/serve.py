"""``veokit serve``: the app under uvicorn, stopped gracefully on SIGINT/SIGTERM (its worker records what a
paid submit in flight returns, then gives its leases back; the rest of each job is the store's)."""

from __future__ import annotations

import logging

import uvicorn

from veokit.config import Settings
from veokit.logstream import StderrHandler
from veokit.server.app import create_app


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    run_jobs: bool,
    concurrency: int | None,
    log_level: str = "info",
) -> None:
    """Run until SIGINT/SIGTERM. ``log_level`` is uvicorn's own (its start and stop lines are at info)."""
    _log_to_stderr()
    app = create_app(settings, run_jobs=run_jobs, concurrency=concurrency)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # veokit.server.access logs each request with the key's name instead
        log_level=log_level,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    uvicorn.Server(config).run()


def _log_to_stderr() -> None:
    """A service's log is its record: veokit's INFO lines (the access log, the worker's job events, webhook
    deliveries) go to stderr with their time, whatever the CLI set for its one-shot commands."""
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    ours = logging.getLogger("veokit")
    ours.handlers = [handler]
    ours.setLevel(min(ours.getEffectiveLevel(), logging.INFO))
    ours.propagate = False
    # The in-process emulator (VEOKIT_PROVIDER=emulator) logs each request it answers: the provider's side of
    # every poll, not the service's record.
    emulator = logging.getLogger("veokit.emulator")
    if emulator.level == logging.NOTSET:
        emulator.setLevel(logging.WARNING)
