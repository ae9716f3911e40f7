"""Read a JSON body whose video arrives inline as base64, decoding the video straight to disk.

Vertex returns finished videos inside the poll response as ``bytesBase64Encoded`` (Gemini may use
``encodedVideo``, the Interactions API ``data``): a 500 MB video is a 667 MB JSON document, and
``json.loads`` would hold all of it, twice.
Here the body streams through once: the value of each such key is base64-decoded chunk by chunk into a
file, and the remaining skeleton (a few hundred bytes) is parsed normally, with each value replaced by a
placeholder ``"@inline:N"`` that maps to the written file.

This relies on one property of JSON: a quote inside a string is always escaped, so the exact byte
sequence ``"bytesBase64Encoded"`` followed by a colon can only be an object key. Only string values are
spooled; callers pick the keys (``keys``), and must only name keys whose string values are base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from veokit import errors as E

# Re-exported: the error lives in veokit.errors with the rest of the tree.
from veokit.errors import InlineJsonError as InlineJsonError

INLINE_KEYS = (b'"bytesBase64Encoded"', b'"encodedVideo"')
PLACEHOLDER = "@inline:"
MAX_SKELETON_BYTES = 8 * 1024 * 1024
DECODE_BYTES = 1024 * 1024  # base64 characters per decode call (a multiple of 4)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask can only be read by setting it


@dataclass(frozen=True)
class SpooledBlob:
    path: Path
    size: int
    sha256: str


class _Base64Sink:
    """Decodes a base64 stream into a file; JSON escapes (\\/, \\n) are dropped. Network chunks are small (often
    a few KB): they are gathered and decoded ``DECODE_BYTES`` at a time, so the per-call cost of decoding,
    hashing and writing is paid a few times per megabyte instead of hundreds (memory stays bounded by it)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.pending = bytearray()
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        if b"\\" in chunk:
            chunk = chunk.replace(b"\\/", b"/").replace(b"\\n", b"").replace(b"\\r", b"")
        self.pending += chunk
        if len(self.pending) >= DECODE_BYTES:
            cut = len(self.pending) - len(self.pending) % 4
            self._emit(self.pending[:cut])
            del self.pending[:cut]

    def close(self) -> None:
        cut = len(self.pending) - len(self.pending) % 4
        if self.pending[cut:].strip(b"="):
            # The value's closing quote arrived, so the body was not cut: the provider sent bad base64.
            raise InlineJsonError("inline base64 value ends with an incomplete group")
        if self.pending:
            self._emit(self.pending)
            self.pending.clear()

    def _emit(self, data: bytes | bytearray) -> None:
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise InlineJsonError(f"inline value is not valid base64: {exc}") from None
        self.fh.write(raw)
        self.size += len(raw)
        self.digest.update(raw)


class InlineJsonReader:
    """Feed body chunks in order; call :meth:`finish` for the parsed skeleton and the spooled files."""

    def __init__(
        self, spool_dir: Path, *, prefix: str = ".veokit-inline-", keys: tuple[bytes, ...] = INLINE_KEYS
    ) -> None:
        self.spool_dir = spool_dir
        self.prefix = prefix
        self.keys = keys
        self.skeleton = bytearray()
        self.pending = b""  # bytes not yet classified (could start a key split across chunks)
        self.sink: _Base64Sink | None = None
        self.sink_file: BinaryIO | None = None
        self.sink_path: Path | None = None
        self.escape_carry = b""
        self.blobs: list[SpooledBlob] = []
        self._tail = max(len(k) for k in keys) + 64  # key + whitespace + colon + quote

    def feed(self, chunk: bytes) -> None:
        data = self.pending + chunk
        self.pending = b""
        while data:
            if self.sink is not None:
                data = self._feed_value(data)
                continue
            hit = self._find_key(data)
            if hit is None:
                keep = min(len(data), self._tail)
                self._append_skeleton(data[: len(data) - keep])
                self.pending = data[len(data) - keep :]
                return
            start, value_start = hit
            if value_start < 0:  # key found but its opening quote has not arrived yet
                self._append_skeleton(data[:start])
                self.pending = data[start:]
                return
            self._append_skeleton(data[:value_start])  # through the opening quote
            self._open_sink()
            data = data[value_start:]

    def _find_key(self, data: bytes) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for key in self.keys:
            at = data.find(key)
            while at >= 0:
                i = at + len(key)
                while i < len(data) and data[i] in b" \t\r\n":
                    i += 1
                if i >= len(data):
                    cand = (at, -1)
                elif data[i] != ord(":"):
                    at = data.find(key, at + 1)
                    continue
                else:
                    i += 1
                    while i < len(data) and data[i] in b" \t\r\n":
                        i += 1
                    if i >= len(data):
                        cand = (at, -1)
                    elif data[i] != ord('"'):
                        at = data.find(key, at + 1)
                        continue
                    else:
                        cand = (at, i + 1)
                if best is None or cand[0] < best[0]:
                    best = cand
                break
        return best

    def _feed_value(self, data: bytes) -> bytes:
        assert self.sink is not None
        data = self.escape_carry + data
        self.escape_carry = b""
        i = 0
        while True:
            q = data.find(b'"', i)
            if q < 0:
                if data.endswith(b"\\"):
                    self.escape_carry = b"\\"
                    data = data[:-1]
                self.sink.write(data)
                return b""
            backslashes = 0
            j = q - 1
            while j >= 0 and data[j] == ord("\\"):
                backslashes += 1
                j -= 1
            if backslashes % 2 == 1:
                i = q + 1
                continue
            self.sink.write(data[:q])
            self._close_sink()
            return data[q:]  # the closing quote goes back to the skeleton

    def _open_sink(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=self.prefix, suffix=".part", dir=self.spool_dir)
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the saved video should follow the user's umask
        self.sink_path = Path(name)
        self.sink_file = open(fd, "wb")  # noqa: SIM115 - closed in _close_sink or discard
        self.sink = _Base64Sink(self.sink_file)
        self._append_skeleton(f"{PLACEHOLDER}{len(self.blobs)}".encode())

    def _close_sink(self) -> None:
        assert self.sink is not None and self.sink_file is not None and self.sink_path is not None
        self.sink.close()
        self.sink_file.close()
        self.blobs.append(SpooledBlob(self.sink_path, self.sink.size, self.sink.digest.hexdigest()))
        self.sink = None
        self.sink_file = None
        self.sink_path = None

    def _append_skeleton(self, data: bytes) -> None:
        self.skeleton += data
        if len(self.skeleton) > MAX_SKELETON_BYTES:
            raise InlineJsonError("response body is unexpectedly large outside inline video values")

    def finish(self) -> tuple[Any, list[SpooledBlob]]:
        if self.sink is not None:
            raise E.ResponseTruncated("response body ended inside an inline video value")
        self._append_skeleton(self.pending)
        self.pending = b""
        return parse_json(bytes(self.skeleton), error=InlineJsonError), self.blobs

    def discard(self) -> None:
        """Remove partial and finished spool files (after an error)."""
        if self.sink_file is not None:
            self.sink_file.close()
        for path in [b.path for b in self.blobs] + ([self.sink_path] if self.sink_path else []):
            path.unlink(missing_ok=True)


def parse_json(text: bytes, *, error: type[E.VeokitError] = E.UnexpectedResponse) -> Any:
    """``json.loads``, telling a document cut short (:class:`~veokit.errors.ResponseTruncated`: asking again may
    work) from a malformed one (``error``). A body can end early without any transport error: a server that
    closes a connection with no length given, or a proxy that ends a chunked body."""
    try:
        return json.loads(text)
    except ValueError as exc:
        if cut_short(text):
            raise E.ResponseTruncated("the response body ended mid-document") from None
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise error(f"response body is not valid JSON: {reason}") from None


def cut_short(text: bytes) -> bool:
    """Whether ``text`` stops inside a JSON value: nothing at all, an open string, or an open object or array."""
    depth = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
        elif byte in b"]}":
            depth -= 1
    return in_string or depth > 0 or not text.strip()


async def read_inline_json(
    chunks: AsyncIterator[bytes], spool_dir: Path, *, keys: tuple[bytes, ...] = INLINE_KEYS
) -> tuple[Any, list[SpooledBlob]]:
    reader = InlineJsonReader(spool_dir, keys=keys)
    try:
        async for chunk in chunks:
            reader.feed(chunk)
        return reader.finish()
    except BaseException:
        reader.discard()
        raise


def resolve_placeholder(value: Any, blobs: list[SpooledBlob]) -> SpooledBlob | None:
    if isinstance(value, str) and value.startswith(PLACEHOLDER):
        return blobs[int(value[len(PLACEHOLDER) :])]
    return None
