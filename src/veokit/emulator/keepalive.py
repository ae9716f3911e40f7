"""Which requests arrive on a kept-alive connection: one that already carried an earlier request.

A server closes an idle keep-alive connection when its idle timeout runs out; a client that reuses the
connection at that moment has its request lost after sending it. The ``stale`` fault (``faults.py``) replays
that moment on demand, and needs to know which requests came on a reused connection: this middleware marks
them in the ASGI scope. Under uvicorn the connection is the asyncio transport behind ``receive`` (see
``reset.py``); elsewhere (an in-process ASGI client) nothing is marked and the fault never fires.
"""

from __future__ import annotations

import weakref
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

_REUSED = "veokit.emulator.reused_connection"


class MarkReusedConnections:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Transports seen so far; a closed connection's transport is collected, and with it its entry.
        self._served: weakref.WeakSet[Any] = weakref.WeakSet()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            transport = getattr(getattr(receive, "__self__", None), "transport", None)
            if transport is not None:
                scope[_REUSED] = transport in self._served
                self._served.add(transport)
        await self.app(scope, receive, send)


def on_reused_connection(request: Request) -> bool:
    return bool(request.scope.get(_REUSED))
