"""Cut a client's connection with a TCP reset, as a crashed or overloaded front end does.

Starlette gives handlers no socket, but under uvicorn the ASGI ``receive`` callable is a bound method of
the connection's request-response cycle, which holds the asyncio transport. SO_LINGER 0 turns the close
into an RST instead of an orderly FIN, so the client sees "connection reset by peer".
"""

from __future__ import annotations

import socket
import struct

from starlette.requests import Request


def reset_connection(request: Request) -> None:
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("connection resets need the emulator to run under uvicorn")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
