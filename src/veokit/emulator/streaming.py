"""Responses that stream files with flat memory: byte ranges, and JSON with inline base64 videos.

A Vertex operation without ``storageUri`` carries each video as a base64 string inside the JSON. The
body is assembled as prefix text + base64 of the file read in chunks + suffix text, so a 500 MB video
costs one chunk of memory, and Content-Length is exact because base64 of n bytes is 4*ceil(n/3) long.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from veokit.emulator.faults import Fault
from veokit.emulator.reset import drop_connection

log = logging.getLogger("veokit.emulator")

CHUNK = 1 << 20
B64_CHUNK = 3 * (1 << 18)  # a multiple of 3: no padding except after the file's last chunk
_PLACEHOLDER = re.compile(r"@@veokit-b64-(\d+)@@")


@dataclass(frozen=True)
class Base64File:
    """Stands in a JSON document for the base64 text of a file."""

    path: Path
    size: int

    @property
    def encoded_len(self) -> int:
        return 4 * ((self.size + 2) // 3)


class BodyStream(StreamingResponse):
    """A streamed body with a Content-Length that a fault may cut short (``truncate``).

    When the body ends before the length it promised, the connection is dropped instead of finishing the
    response: that is what a client sees on a cut download, and it keeps uvicorn from logging the short body as
    an application error with a traceback. One line in the emulator's log says what happened instead."""

    def __init__(self, content: Iterator[bytes], *, length: int, **kw: Any) -> None:
        super().__init__(content, **kw)
        self._length = length
        self._receive: Receive | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._receive = receive
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        sent = 0
        async for chunk in self.body_iterator:
            data = chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk)
            sent += len(data)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if sent < self._length and self._receive is not None:
            log.debug("cut the body after %d of %d bytes; closing the connection", sent, self._length)
            if await drop_connection(self._receive):
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def json_with_files(
    doc: Any, *, status: int = 200, fault: Fault | None = None, headers: dict[str, str] | None = None
) -> Response:
    files: list[Base64File] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Base64File):
            files.append(node)
            return f"@@veokit-b64-{len(files) - 1}@@"
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [swap(v) for v in node]
        return node

    text = json.dumps(swap(doc), indent=2)
    pieces = _PLACEHOLDER.split(text)
    # split() alternates literal text and captured placeholder indexes.
    parts: list[bytes | Base64File] = []
    for i, piece in enumerate(pieces):
        parts.append(files[int(piece)] if i % 2 else piece.encode())
    length = sum(p.encoded_len if isinstance(p, Base64File) else len(p) for p in parts)

    def body() -> Iterator[bytes]:
        for p in parts:
            if isinstance(p, Base64File):
                yield from _b64_chunks(p.path)
            elif p:
                yield p

    chunks = fault.wrap_body(body()) if fault else body()
    hdrs = {"content-length": str(length), **(headers or {})}
    return BodyStream(
        chunks, length=length, status_code=status, headers=hdrs, media_type="application/json; charset=UTF-8"
    )


def _b64_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while True:
            chunk = f.read(B64_CHUNK)
            if not chunk:
                return
            yield base64.b64encode(chunk)


def file_response(
    request: Request,
    path: Path,
    size: int,
    content_type: str,
    *,
    fault: Fault | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serve ``path`` with single-range support (``bytes=N-``, ``N-M``, ``-N``)."""
    hdrs = {"accept-ranges": "bytes", "content-type": content_type, **(headers or {})}
    span = parse_range(request.headers.get("range"), size)
    if isinstance(span, str):
        return PlainTextResponse(
            "Requested range not satisfiable", status_code=416, headers={"content-range": f"bytes */{size}"}
        )
    status = 200
    start, end = 0, size - 1
    if span is not None:
        start, end = span
        status = 206
        hdrs["content-range"] = f"bytes {start}-{end}/{size}"
    hdrs["content-length"] = str(end - start + 1)
    if request.method == "HEAD":
        return Response(b"", status_code=status, headers=hdrs)
    chunks = _file_chunks(path, start, end + 1)
    if fault is not None:
        chunks = fault.wrap_body(chunks)
    return BodyStream(chunks, length=end - start + 1, status_code=status, headers=hdrs)


def _file_chunks(path: Path, start: int, stop: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = stop - start
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """(start, end inclusive), "unsatisfiable", or None for no/unsupported Range (serve everything)."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if m is None or not (m.group(1) or m.group(2)):
        return None  # multi-range or malformed: RFC 9110 lets a server ignore Range
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
        if start >= size or start > end:
            return "unsatisfiable"
        return start, end
    suffix = int(m.group(2))
    if suffix == 0 or size == 0:
        return "unsatisfiable"
    return max(0, size - suffix), size - 1
