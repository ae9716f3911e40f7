"""The HTTP job service as one FastAPI app: thin routes over the service layer, on the durable job store.

    videos.py    /v1/videos (OpenAI's Videos API) and its cancel    events.py   its Server-Sent Events
    bridge.py    the design's /api/veo3 routes                      veokit_api.py  /v1/veokit: spend, estimate, rerun
    films.py     /v1/veokit/films: storyboards planned, rendered in the background, takes picked
    auth.py      Bearer keys            errors.py  OpenAI-style errors     webhooks.py  the outbox's deliverer
    requests.py  create bodies          fetch.py   image URLs, SSRF-guarded  links.py  signed file links
    metrics.py   /metrics               shapes.py  the Video object        state.py  what routes reach
    studio.py    the web studio at /    (static page in studio_assets/) and /v1/veokit/models

Beside the routes, the app's lifespan runs, in this process: a worker on the same store (unless ``run_jobs``
is off: then separate ``veokit worker`` processes run the jobs) and the webhook deliverer. Every request is
measured and logged as one structured line naming the key's *name* (never the key); request bodies are
limited to ``VEOKIT_SERVER_UPLOAD_MAX_BYTES`` while they are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veokit.config import Settings, load_settings
from veokit.server import bridge, errors, events, films, studio, veokit_api, videos
from veokit.server.errors import ApiError
from veokit.server.fetch import ImageFetcher
from veokit.server.metrics import CONTENT_TYPE
from veokit.server.state import Service, service
from veokit.server.webhooks import WebhookSender
from veokit.service import InstanceSlot, KeyFilms, VeoClient

access_log = logging.getLogger("veokit.server.access")
BODY_OVERHEAD = 256 * 1024  # form fields and multipart framing around the uploads themselves


def create_app(
    settings: Settings | None = None,
    *,
    client: VeoClient | None = None,
    run_jobs: bool = True,
    concurrency: int | None = None,
    deliver_webhooks: bool = True,
) -> FastAPI:
    """The app; its lifespan starts the client (and, with ``run_jobs``, a worker of ``concurrency`` jobs)."""
    settings = settings or (client.settings if client is not None else load_settings())
    client = client or VeoClient(settings)
    svc = Service(
        client,
        settings,
        ImageFetcher(
            allow_private=settings.server_fetch_private,
            timeout_s=settings.server_fetch_timeout_s,
            max_bytes=settings.server_upload_max_bytes,
        ),
        KeyFilms(client),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await client.start()
        svc.ready = True
        stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        sender = WebhookSender(client, settings, svc.metrics)
        slot: InstanceSlot | None = None
        if run_jobs:
            # This server's previous process, if it died, held jobs: continue them now (veokit.service.instance).
            slot = await asyncio.to_thread(InstanceSlot.acquire, settings.data_dir, "serve")
            previous = slot.previous if slot is not None else None
            config = client.worker_config("serve", concurrency=concurrency, take_over=previous)
            if slot is not None:
                await asyncio.to_thread(slot.record, config.owner)
            svc.worker = client.worker(config)
            tasks.append(asyncio.create_task(svc.worker.run(), name="veokit-serve-worker"))
        if deliver_webhooks:
            tasks.append(asyncio.create_task(sender.run(stop), name="veokit-serve-webhooks"))
        try:
            yield
        finally:
            svc.ready = False
            if svc.worker is not None:
                svc.worker.stop()  # graceful: paid submits in flight record their operation first
            stop.set()
            sender.wake()
            await asyncio.gather(*tasks, return_exceptions=True)
            await svc.films.aclose()
            if slot is not None:
                slot.release()  # after the worker gave its leases back
            await sender.aclose()
            await svc.fetcher.aclose()
            await client.aclose()

    app = FastAPI(
        title="veokit",
        summary="Google Veo video jobs over HTTP: OpenAI's Videos API, the design's bridge routes, SSE and webhooks",
        version=_version(),
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.veokit = svc
    errors.install(app)
    for router in (videos.router, events.router, bridge.router, films.router, veokit_api.router):
        app.include_router(router)
    studio.install(app)
    _operations(app)
    app.add_middleware(Measured, service=svc, max_body=settings.server_upload_max_bytes + BODY_OVERHEAD)
    return app


def _operations(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is up")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz", tags=["operations"], summary="The store is reachable and its schema current")
    async def readyz(request: Request) -> JSONResponse:
        svc = service(request)
        problem = await svc.client.store_problem() if svc.ready else "starting or stopping"
        body = {"ready": problem is None, "problem": problem, "runs_jobs": svc.worker is not None}
        return JSONResponse(body, status_code=200 if problem is None else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (veokit_*)", response_class=Response)
    async def metrics(request: Request) -> Response:
        svc = service(request)
        return Response(svc.metrics.render(await svc.client.meters()), media_type=CONTENT_TYPE)


class Measured:
    """Pure ASGI (no per-request task or body copy): latency and count per route template, one structured
    access-log line per request, and the body limit enforced while the body is read."""

    def __init__(self, app: ASGIApp, *, service: Service, max_body: int) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            response = ApiError(413, self._too_big(), code="request_too_large").response()
            await response(scope, receive, send)
            self._done(scope, 413, started)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise ApiError(413, self._too_big(), code="request_too_large")
            return message

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, counted, noted)
        finally:
            self._done(scope, status, started)

    def _too_big(self) -> str:
        return f"the request body is over {self.max_body // 2**20} MiB (VEOKIT_SERVER_UPLOAD_MAX_BYTES)"

    def _done(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.service.metrics.observe(scope["method"], template, status, seconds)
        state = scope.get("state") or {}
        access_log.info(
            "%s",
            json.dumps(
                {
                    "method": scope["method"],
                    "path": scope["path"],  # never the query: a signed link's signature is in it
                    "route": template,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "key": state.get("key_name"),
                    "client": (scope.get("client") or ("?",))[0],
                },
                separators=(",", ":"),
            ),
        )


def _version() -> str:
    try:
        return metadata.version("veokit")
    except metadata.PackageNotFoundError:
        return "0"
