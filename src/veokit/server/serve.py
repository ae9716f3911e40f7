"""``veokit serve``: the app under uvicorn, stopped gracefully on SIGINT/SIGTERM (its worker records what a
paid submit in flight returns, then gives its leases back; the rest of each job is the store's)."""

from __future__ import annotations

import logging

import uvicorn

from veokit.config import Settings
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
