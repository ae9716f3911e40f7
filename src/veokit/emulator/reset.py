"""Cut a client's connection, as a crashed or overloaded front end (or a dropped network) does.

Starlette gives handlers no socket, but under uvicorn the ASGI ``receive`` callable is a bound method of
the connection's request-response cycle, which holds the asyncio transport.

- :func:`reset_connection`: SO_LINGER 0 turns the close into an RST instead of an orderly FIN, so the client
  sees "connection reset by peer".
- :func:`drop_connection`: an orderly close in the middle of a body (what is buffered is still sent), so the
  client sees a body shorter than its Content-Length. The server then treats the exchange as a disconnect,
  not as an application error, so a scripted truncation costs one log line instead of a traceback.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

from starlette.requests import Request
from starlette.types import Receive

_DROP_WAIT_S = 2.0


def _cycle_transport(receive: Receive) -> tuple[Any, Any]:
    cycle = getattr(receive, "__self__", None)
    return cycle, getattr(cycle, "transport", None)


def reset_connection(request: Request) -> None:
    _, transport = _cycle_transport(request.receive)
    if transport is None:
        raise RuntimeError("connection resets need the emulator to run under uvicorn")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def drop_connection(receive: Receive) -> bool:
    """Close the connection after what was already written; False when not under uvicorn (nothing done).

    Returns once the server has seen the connection go, so the ASGI app can return without completing its
    response and the server logs no error for it."""
    cycle, transport = _cycle_transport(receive)
    if transport is None:
        return False
    transport.close()
    deadline = time.monotonic() + _DROP_WAIT_S
    # connection_lost runs on a later loop iteration (later still with TLS) and sets uvicorn's flag; there is
    # no event of ours to wait on.
    while not getattr(cycle, "disconnected", True) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return True
