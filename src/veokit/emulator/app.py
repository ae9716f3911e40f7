"""``create_app(config)``: the emulator as one Starlette ASGI application.

Routes (``{v}`` is ``v1`` or ``v1beta1``)::

    Vertex AI       POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning   bearer
                    POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:fetchPredictOperation bearer|key
                    POST /{v}/publishers/google/models/{m}:predictLongRunning|fetchPredictOperation   key|bearer
    Cloud Storage   GET|HEAD /storage/v1/b/{bucket}/o/{object}[?alt=media]     bearer (metadata, or bytes + Range)
                    GET|HEAD /download/storage/v1/b/{bucket}/o/{object}?alt=media
    Gemini API      POST /v1beta/models/{m}:predictLongRunning                 key (x-goog-api-key or ?key=)
                    GET  /v1beta/models/{m}/operations/{id}                    key
                    GET  /{v1beta,v1}/files/{id}                               key (metadata)
                    GET  /{v1beta,v1}/files/{id}:download?alt=media            key -> 302 to a signed URL
                    GET  /download/v1beta/files/{id}:download?alt=media        key -> 302
                    GET|HEAD /_emulator/content/{signed}                       none (bytes + Range)
    OAuth           POST /token  (also /oauth2/v4/token)                       jwt-bearer | refresh_token grants
    GCE metadata    GET  /  and  /computeMetadata/v1/...                       Metadata-Flavor: Google
    Kie.ai          POST /api/v1/veo/{generate,extend}, GET /api/v1/veo/{record-info,get-1080p-video},
                    GET /api/v1/chat/credit, POST /api/file-base64-upload        Bearer key, errors in body `code`
    fal.ai          POST /fal-ai/veo3.1[/fast][/mode], GET|PUT /fal-ai/veo3.1/requests/{id}[/status|/cancel]   Key
    Replicate       POST /v1/models/google/{m}/predictions, GET /v1/predictions/{id}[, POST .../cancel]   Bearer
                    GET /v1/models/{owner}/{name} (models.get); a create honours Prefer: wait
    Gemini Omni     POST /{v1|v1beta|v1beta1}/interactions, GET .../interactions/{id}, POST .../{id}/cancel   key
                    POST /{v1|v1beta1}/projects/{p}/locations/{l}/interactions[/{id}[/cancel]]   bearer|key
    Results         GET|HEAD /_emulator/tmp/{token}.mp4 (expires), /_emulator/uploads/{token}/{name}   none
    Admin           /_emulator/{stats,operations,tasks,reset,clock,config,faults,holds,health}  (see admin.py)

Each provider's protocol is its own module with a ``routes`` list, named by the provider's spec
(``ProviderSpec.emulator``): a new provider's emulator module is mounted without editing this file. The
shared parts (admin, Google's OAuth, metadata server and Cloud Storage, temporary result URLs) are here.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veokit.emulator import admin, gcs, metadata, oauth, task_media
from veokit.emulator.config import EmulatorConfig
from veokit.emulator.errors import RpcError, handle_rpc_error, status_for_http
from veokit.emulator.keepalive import MarkReusedConnections
from veokit.emulator.state import EmulatorState
from veokit.providers import registry

log = logging.getLogger("veokit.emulator")
_CAPABILITY_PATH = re.compile(r"(/_emulator/(?:content|tmp|uploads)/)[^/]+")


def create_app(config: EmulatorConfig | None = None, *, state: EmulatorState | None = None) -> Starlette:
    state = state or EmulatorState(config or EmulatorConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.close()

    app = Starlette(
        routes=[
            *admin.routes,
            *metadata.routes,
            *oauth.routes,
            *gcs.routes,
            *task_media.routes,
            *provider_routes(),
        ],
        exception_handlers={RpcError: handle_rpc_error, HTTPException: _handle_http_exception},
        lifespan=lifespan,
    )
    app.state.emulator = state
    app.add_middleware(MarkReusedConnections)
    app.add_middleware(AccessLog)
    return app


def provider_routes() -> list[BaseRoute]:
    """The routes of every provider's emulator module, in the registry's order."""
    routes: list[BaseRoute] = []
    for name in registry.emulator_modules():
        routes.extend(importlib.import_module(name).routes)
    return routes


async def _handle_http_exception(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in google.rpc shape too, so clients parse every error alike."""
    assert isinstance(exc, HTTPException)
    message = {404: "Method not found.", 405: "Method not allowed."}.get(exc.status_code, str(exc.detail))
    return RpcError(status_for_http(exc.status_code), message, http_status=exc.status_code).response()


class AccessLog:
    """One log line per request, from the path alone: query strings (``?key=``) are never logged, and
    signed content URLs are masked, so credentials stay out of logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = _CAPABILITY_PATH.sub(r"\1***", scope.get("path", ""))
            log.info(
                "%s %s -> %s (%.0f ms)",
                scope.get("method"),
                path,
                status or "aborted",
                (time.perf_counter() - started) * 1000,
            )
