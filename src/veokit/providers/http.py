"""One seam for every provider HTTP call: transport failures and error bodies are mapped here.

The distinction that protects money: a failure *before* the request could reach the server (DNS,
connect refused, connect timeout, no free connection) is safe to retry; any failure after the request
was sent (read timeout, reset, truncated answer) means a paid submit may have been accepted, and is
reported as :class:`SubmitOutcomeUnknown` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from veokit import __version__
from veokit import errors as E
from veokit.providers.google_errors import error_from_response
from veokit.providers.inline_json import InlineJsonError, SpooledBlob, read_inline_json

USER_AGENT = f"veokit/{__version__}"
# A write that failed left the body incomplete, and no server acts on half a request: safe to send again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.WriteError)
ERROR_BODY_LIMIT = 64 * 1024
# (provider, HTTP status, body text, headers, secrets=...) -> the veokit error. Google's google.rpc mapping is
# the default; task-based providers (Kie, fal, Replicate) pass their own.
ErrorMapper = Callable[..., E.VeokitError]


def new_client(*, timeout_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=15.0),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
    )


async def call_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    headers: dict[str, str],
    json: Any = None,
    spool_dir: Path | None = None,
    paid: bool = False,
    secrets: tuple[str | None, ...] = (),
    error_mapper: ErrorMapper = error_from_response,
) -> tuple[Any, list[SpooledBlob]]:
    """Send, stream the answer (inline videos go to ``spool_dir``) and map any failure to a veokit error."""
    where = url.split("?", 1)[0]
    try:
        async with client.stream(method, url, headers=headers, json=json) as resp:
            if resp.status_code >= 400:
                body = await _read_limited(resp)
                err = error_mapper(provider, resp.status_code, body, resp.headers, secrets=secrets)
                if paid and resp.status_code == 504:
                    # A gateway timeout means the backend may still be creating the operation.
                    raise E.SubmitOutcomeUnknown(
                        f"{err.message} (the provider may have accepted the request)",
                        provider=provider,
                        status_code=504,
                        status=err.status,
                    )
                raise err
            if resp.status_code >= 300:
                raise E.UnexpectedResponse(
                    f"{provider}: unexpected redirect {resp.status_code} from {where}",
                    provider=provider,
                    status_code=resp.status_code,
                )
            if spool_dir is None:
                raw = await resp.aread()
                import json as _json

                try:
                    return _json.loads(raw), []
                except ValueError:
                    raise E.UnexpectedResponse(
                        f"{provider}: response from {where} is not JSON",
                        provider=provider,
                        status_code=resp.status_code,
                    ) from None
            try:
                return await read_inline_json(resp.aiter_bytes(), spool_dir)
            except InlineJsonError as exc:
                # A body cut short is a transport accident: asking again is safe (this path is never paid).
                raise E.UnexpectedResponse(
                    f"{provider}: {exc}",
                    provider=provider,
                    status_code=resp.status_code,
                    retryable="truncated" in str(exc) or "cut short" in str(exc),
                ) from None
    except NOT_SENT as exc:
        raise E.NetworkError(f"{provider}: cannot reach {where}: {type(exc).__name__}", provider=provider) from None
    except httpx.TransportError as exc:
        if paid:
            raise E.SubmitOutcomeUnknown(
                f"{provider}: the connection failed after the request was sent ({type(exc).__name__}); "
                "the provider may have accepted it, so it was not sent again",
                provider=provider,
            ) from None
        raise E.NetworkError(f"{provider}: {type(exc).__name__} talking to {where}", provider=provider) from None


async def _read_limited(resp: httpx.Response) -> str:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > ERROR_BODY_LIMIT:
            break
    return bytes(buf[:ERROR_BODY_LIMIT]).decode("utf-8", "replace")
