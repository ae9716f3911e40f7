"""Stream a result to disk: temp file beside the target, SHA-256 on the way, atomic rename at the end.

- Memory stays flat: 1 MiB chunks, never the whole video.
- Credentials ride in headers only, and are dropped when a redirect leaves the original origin (Google
  answers a Gemini file download with a 302 to a signed URL on another host, which needs no key).
- A connection cut mid-body resumes with ``Range: bytes=N-`` when the server honours ranges, so the
  bytes already fetched are not fetched again; a short body is never taken for a whole one.
- Requests go through the providers' HTTP seam (:func:`veokit.providers.http.exchange`), which maps every
  ``httpx`` failure; an answer that broke off is :class:`~veokit.errors.ResponseTruncated`, and resumes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from veokit import errors as E
from veokit.providers.base import DownloadTarget
from veokit.providers.google_errors import error_from_response
from veokit.providers.http import exchange

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    resumes: int = 0


class _Sink:
    """The part file and its running hash, restartable when a server ignores Range."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.fh.write(chunk)
        self.digest.update(chunk)

    def restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        self.digest = hashlib.sha256()


def part_path(dest: Path) -> Path:
    # Unique per download: a worker whose lease lapsed unnoticed may still be fetching the same result while
    # its successor does; with one shared name their bytes interleaved in one file.
    return dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")


def _origin(url: str) -> tuple[str, str]:
    try:
        u = urlsplit(url)
    except ValueError:  # a malformed URL: httpx refuses it when it is sent, and the seam says so
        return "", url
    return u.scheme, u.netloc


async def download(
    client: httpx.AsyncClient, target: DownloadTarget, dest: Path, *, provider: str, max_resumes: int = 3
) -> Downloaded:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    try:
        got = await _download_into(client, target, part, provider=provider, max_resumes=max_resumes)
    except BaseException:
        part.unlink(missing_ok=True)  # the next attempt starts a new part file: this one is only litter
        raise
    os.replace(part, dest)
    return Downloaded(dest, *got)


async def _download_into(
    client: httpx.AsyncClient, target: DownloadTarget, part: Path, *, provider: str, max_resumes: int
) -> tuple[str, int, int]:
    received = 0
    resumes = 0
    with open(part, "wb") as fh:  # noqa: ASYNC230 - local 1 MiB writes; a thread hop per chunk costs more
        sink = _Sink(fh)
        while True:
            try:
                total = await _fetch_into(client, target, sink, offset=received, provider=provider)
                received = fh.tell()
                if total is not None and received != total:
                    raise E.ResponseTruncated(f"{provider}: got {received} of {total} bytes", provider=provider)
                break
            except E.ResponseTruncated as exc:
                fh.flush()
                received = fh.tell()
                if resumes >= max_resumes:
                    raise E.DownloadError(
                        f"{provider}: download interrupted after {received} bytes "
                        f"({exc.message}); gave up after {resumes} resumes",
                        provider=provider,
                    ) from None
                resumes += 1
            except E.DownloadError:
                raise
            except E.VeokitError as exc:  # nothing was sent, or cannot be: the caller decides whether to ask again
                raise E.DownloadError(
                    f"download failed: {exc.message}", provider=provider, retryable=exc.retryable
                ) from None
        fh.flush()
        os.fsync(fh.fileno())
    return sink.digest.hexdigest(), received, resumes


async def _fetch_into(
    client: httpx.AsyncClient, target: DownloadTarget, sink: _Sink, *, offset: int, provider: str
) -> int | None:
    """GET (following redirects by hand), append the body to ``fh``; return the expected total size."""
    url = target.url
    origin = _origin(url)
    headers = dict(target.headers)
    if offset:
        headers["Range"] = f"bytes={offset}-"
    for _ in range(MAX_REDIRECTS + 1):
        async with exchange(client, "GET", url, provider=provider, headers=headers) as resp:
            if resp.status_code in (301, 302, 303, 307, 308):
                url = urljoin(url, resp.headers.get("location", ""))
                if _origin(url) != origin:
                    headers = {k: v for k, v in headers.items() if k.lower() not in target.credential_headers}
                continue
            if resp.status_code in (404, 410):
                raise E.DownloadExpired(
                    f"{provider}: the result is gone ({resp.status_code}); providers keep videos for a "
                    "limited time (2 days on Google), so it must be generated again",
                    provider=provider,
                    status_code=resp.status_code,
                )
            if resp.status_code >= 400:
                text = (await resp.aread())[:4096].decode("utf-8", "replace")
                err = error_from_response(provider, resp.status_code, text, resp.headers)
                raise E.DownloadError(
                    f"download failed: {err.message}",
                    provider=provider,
                    status_code=resp.status_code,
                    status=err.status,
                    reason=err.reason,
                    retryable=err.retryable,
                ) from None
            total: int | None = None
            if offset and resp.status_code == 206:
                crange = resp.headers.get("content-range", "")
                if not crange.startswith(f"bytes {offset}-"):
                    raise E.DownloadError(
                        f"{provider}: server resumed at the wrong offset ({crange})", provider=provider
                    )
                total = int(crange.rsplit("/", 1)[1]) if "/" in crange and not crange.endswith("*") else None
            elif offset:
                # The server ignored Range: start over rather than append a second copy.
                sink.restart()
                offset = 0
            if total is None and resp.headers.get("content-length") and "content-encoding" not in resp.headers:
                total = offset + int(resp.headers["content-length"])
            async for chunk in resp.aiter_raw(CHUNK):
                sink.write(chunk)
            return total
    raise E.DownloadError(f"{provider}: too many redirects", provider=provider)
