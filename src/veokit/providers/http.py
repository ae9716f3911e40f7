"""One seam for every HTTP exchange veokit has with a provider (API calls and video downloads alike): every
``httpx`` failure is mapped to a veokit error here, and only here.

The distinction that protects money: a failure *before* the request could reach the server (DNS, connect
refused, connect timeout, no free connection, a proxy that refused the tunnel, a body that could not be
written) is safe to send again; any failure after the request was sent (read timeout, reset, an answer cut
short) means a paid submit may have been accepted, and is reported as :class:`SubmitOutcomeUnknown` instead.

    httpx failure                                        not paid                     paid
    ConnectError ConnectTimeout PoolTimeout ProxyError   NetworkError (retryable)     the same: nothing was sent
      WriteError WriteTimeout
    InvalidURL UnsupportedProtocol LocalProtocolError    NetworkError (final)         the same: it cannot be sent
    ReadError ReadTimeout RemoteProtocolError CloseError ResponseTruncated            SubmitOutcomeUnknown
      (and any other transport error)
    DecodingError                                        UnexpectedResponse (retry)   SubmitOutcomeUnknown
    TooManyRedirects, HTTPStatusError                    UnexpectedResponse           UnexpectedResponse
    StreamError (our misuse of a stream: a bug)          VeokitError                  SubmitOutcomeUnknown

The table is written in httpx's exceptions because every path speaks them: httpx's own transport (paid requests,
large bodies), the aiohttp pool as an httpx transport (downloads), and the pool spoken to directly (unpaid small
requests: polls, status GETs, lookups, cancels; ``call_json``), whose aiohttp failures become the httpx exception
that says the same about whether the request left (``aiohttp_transport._mapped``).

A paid request also goes out on a connection opened for it (:class:`ProviderClient`): a kept-alive connection
can be closed by the server at the moment it is reused (its idle timeout ran out while the request was on the
wire), and then the request fails after it was sent, which for a submit means an outcome nobody knows. A
connection opened for the request has no such moment; a failure to open it sent nothing and may be retried.
Those connections are aiohttp's too (:class:`FreshConnections`: a pool that keeps none), not httpcore's: a submit
through httpcore's pool cost ~3 ms of CPU, through aiohttp ~1.5 ms (docs/benchmarks.md, issue 11, target 2).
A paid request with a small body is spoken to that transport directly, as polls are to the pool (``_send``): httpx's
client was a third of the submit path's CPU in a 3,000-job ramp (bench/in_flight.py under py-spy).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from veokit import __version__
from veokit import errors as E
from veokit.providers.aiohttp_transport import SMALL_BODY, AiohttpTransport, Answer
from veokit.providers.google_errors import error_from_response
from veokit.providers.inline_json import INLINE_KEYS, SpooledBlob, parse_json, read_inline_json
from veokit.providers.proxy_env import check_proxy_variables, proxy_note

USER_AGENT = f"veokit/{__version__}"
# Nothing reached the server. A write that failed left the body incomplete, and no server acts on half a
# request; a proxy that refused the tunnel never forwarded it.
NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.WriteError,
    httpx.WriteTimeout,
)
# The request cannot be sent as written (a malformed URL, a scheme httpx does not speak, a header h11
# refuses): nothing was sent, and sending it again would fail the same way.
UNSENDABLE: tuple[type[Exception], ...] = (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# Every exception httpx raises.
HTTPX_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
ERROR_BODY_LIMIT = 64 * 1024
# (provider, HTTP status, body text, headers, secrets=...) -> the veokit error. Google's google.rpc mapping is
# the default; task-based providers (Kie, fal, Replicate) pass their own.
ErrorMapper = Callable[..., E.VeokitError]
R = TypeVar("R")


# Connections per client, and requests let into its pool at once. A request queued inside httpcore's pool
# costs a scan of every queued request each time a connection frees up (O(queued) per request: at 10,000 jobs
# in flight that scan was nearly all of a worker's CPU); queued here, on a semaphore, it costs O(1). Not fewer:
# httpcore's per-request walk of its connections is cheaper with 8-16 of them, but they would cap a client at
# ~100-300 polls/s over a real network, less than 10,000 jobs in flight need (docs/benchmarks.md, issue 11,
# target 6).
POOL_CONNECTIONS = 100
# Idle connections are closed by us after this, before a server's idle timeout (uvicorn: 5 s; Google: longer)
# can close one under a request.
KEEPALIVE_S = 4.0
_pool_gates: weakref.WeakKeyDictionary[httpx.AsyncClient, asyncio.Semaphore] = weakref.WeakKeyDictionary()


class FreshConnections(AiohttpTransport):
    """The transport of paid requests: each goes out on a connection opened for it and closed after its answer
    (``force_close``: aiohttp keeps no connection, so it never reuses one, nor sends a request again on another).

    What a failure says is the pool's table (``aiohttp_transport._mapped``): only a connection that never opened
    (DNS, refused, TLS handshake, connect timeout, a proxy's refusal) is "not sent". A small body is written whole
    into a new connection's empty socket buffer, so it cannot stall half-written; a reset there surfaces as a
    read-side error, which for a paid request means "outcome unknown", never a resend. A body larger than
    ``SMALL_BODY`` (an image upload) goes through httpx's own transport, which times its write out, with no
    connection kept either."""

    def __init__(self, *, tls: ssl.SSLContext, connections: int) -> None:
        super().__init__(tls=tls, connections=connections, keepalive_s=0.0)


class ProviderClient(httpx.AsyncClient):
    """A provider's HTTP client: polls and downloads share its keep-alive pool; paid requests go through
    ``fresh``, a twin with the same settings whose pool keeps no idle connection, so each one is sent on a
    connection opened for it and closed after its answer (one TCP/TLS handshake per submit, which is rare next
    to the polls). ``direct`` is the pool itself, which ``call_json`` speaks to without httpx for unpaid small
    requests. With a ``transport`` of the caller's (tests), that transport decides everything: ``direct`` and
    ``fresh`` are None and every request goes through httpx.
    """

    def __init__(self, *, timeout_s: float, transport: httpx.AsyncBaseTransport | None) -> None:
        check_proxy_variables()
        # One TLS context for both (loading the CA bundle is most of a client's construction cost).
        tls = httpx.create_ssl_context(trust_env=True)
        self.direct = (
            None if transport else AiohttpTransport(tls=tls, connections=POOL_CONNECTIONS, keepalive_s=KEEPALIVE_S)
        )
        pool = transport or self.direct
        super().__init__(**_client_options(timeout_s, keep_alive=POOL_CONNECTIONS), verify=tls, transport=pool)
        # ``fresh_direct``: the paid requests' transport, spoken to directly for small bodies as ``direct`` is
        # for unpaid ones; ``fresh`` wraps the same one for httpx's callers (large bodies).
        self.fresh_direct = None if transport else FreshConnections(tls=tls, connections=POOL_CONNECTIONS)
        self.fresh = (
            None
            if self.fresh_direct is None
            else httpx.AsyncClient(**_client_options(timeout_s, keep_alive=0), verify=tls, transport=self.fresh_direct)
        )

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.fresh is not None:
                await self.fresh.aclose()


def _client_options(timeout_s: float, *, keep_alive: int) -> dict[str, Any]:
    return {
        "timeout": httpx.Timeout(timeout_s, connect=15.0),
        "headers": {"User-Agent": USER_AGENT},
        "follow_redirects": False,
        "limits": httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=keep_alive),
    }


def new_client(*, timeout_s: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    return ProviderClient(timeout_s=timeout_s, transport=transport)


def _sender(client: httpx.AsyncClient, paid: bool) -> httpx.AsyncClient:
    """Who sends: a paid request goes on a connection of its own where the client has one to give."""
    fresh = client.fresh if paid and isinstance(client, ProviderClient) else None
    return fresh or client


def _pool_gate(client: httpx.AsyncClient) -> asyncio.Semaphore:
    gate = _pool_gates.get(client)
    if gate is None:
        gate = _pool_gates[client] = asyncio.Semaphore(POOL_CONNECTIONS)
    return gate


def where(url: str) -> str:
    """A URL fit for a message: no query string (signed URLs and ``?key=`` carry secrets there)."""
    return url.split("?", 1)[0]


@asynccontextmanager
async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    headers: dict[str, str] | None = None,
    json: Any = None,
    paid: bool = False,
) -> AsyncIterator[httpx.Response]:
    """Send one request and stream its answer. Any ``httpx`` failure, while sending or while the block reads
    the body, leaves as the veokit error the module docstring's table names; so does a
    :class:`~veokit.errors.ResponseTruncated` the block raises itself when ``paid``."""
    # The pooled client's timeout rules both (a caller may have changed it after construction).
    sent = _sender(client, paid).stream(method, url, headers=headers, json=json, timeout=client.timeout)
    async with _mapped_exchange(client, sent, provider=provider, url=url, paid=paid) as resp:
        yield resp


@asynccontextmanager
async def _mapped_exchange(
    client: httpx.AsyncClient, sent: AbstractAsyncContextManager[R], *, provider: str, url: str, paid: bool
) -> AsyncIterator[R]:
    """``sent`` (not yet entered) through the pool gate, its failures mapped as ``exchange`` says."""
    answered = False
    try:
        # Waiting here sends nothing: a request cancelled while it waits was never sent. Paid requests have their
        # own gate, as they have their own connections: a submit does not queue behind thousands of polls (at
        # 10,000 jobs in flight the polls of the jobs already started kept the ramp's submits waiting).
        async with _pool_gate(_sender(client, paid)), sent as resp:
            answered = True
            yield resp
    except HTTPX_ERRORS as exc:
        raise map_httpx_error(exc, provider=provider, url=url, paid=paid, answered=answered) from None
    except E.ResponseTruncated as exc:
        if paid:
            raise _outcome_unknown(provider, exc.message) from None
        raise


def map_httpx_error(exc: Exception, *, provider: str, url: str, paid: bool, answered: bool) -> E.VeokitError:
    """The veokit error for one ``httpx`` exception (see the module docstring); ``answered``: the response's
    status line and headers had arrived."""
    name, at = type(exc).__name__, where(url)
    if isinstance(exc, NOT_SENT):
        return E.NetworkError(f"{provider}: cannot reach {at}{proxy_note(url)}: {name}", provider=provider)
    if isinstance(exc, UNSENDABLE):
        return E.NetworkError(f"{provider}: cannot send a request to {at}: {name}", provider=provider, retryable=False)
    if isinstance(exc, httpx.TooManyRedirects | httpx.HTTPStatusError):
        status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
        return E.UnexpectedResponse(f"{provider}: {name} from {at}", provider=provider, status_code=status)
    if paid:
        return _outcome_unknown(provider, f"{name} after the request to {at} was sent")
    if isinstance(exc, httpx.DecodingError):
        return E.UnexpectedResponse(
            f"{provider}: the answer from {at} could not be decoded ({name})", provider=provider, retryable=True
        )
    if isinstance(exc, httpx.StreamError):
        return E.VeokitError(f"{provider}: HTTP client misuse talking to {at} ({name}); please report it")
    how = "was cut short" if answered else "never came"
    return E.ResponseTruncated(f"{provider}: the answer from {at} {how} ({name})", provider=provider)


def _outcome_unknown(provider: str, what: str) -> E.SubmitOutcomeUnknown:
    return E.SubmitOutcomeUnknown(
        f"{provider}: the connection failed after the request was sent ({what}); "
        "the provider may have accepted it, so it was not sent again",
        provider=provider,
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
    inline_keys: tuple[bytes, ...] = INLINE_KEYS,
) -> tuple[Any, list[SpooledBlob]]:
    """Send, stream the answer (inline videos, the string values of ``inline_keys``, go to ``spool_dir``) and
    map any failure to a veokit error."""
    at = where(url)
    async with _send(client, method, url, provider=provider, headers=headers, json=json, paid=paid) as resp:
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
                f"{provider}: unexpected redirect {resp.status_code} from {at}",
                provider=provider,
                status_code=resp.status_code,
            )
        try:
            if spool_dir is None:
                return parse_json(await resp.aread()), []
            return await read_inline_json(resp.aiter_bytes(), spool_dir, keys=inline_keys)
        except E.ResponseTruncated as exc:
            raise E.ResponseTruncated(
                f"{provider}: {exc.message} ({at})", provider=provider, status_code=resp.status_code
            ) from None
        except E.UnexpectedResponse as exc:
            if paid:  # a success status: the provider took the request, we just cannot read its answer
                raise E.SubmitOutcomeUnknown(
                    f"{provider}: {exc.message} ({at}); the provider accepted the request, so it was not sent again",
                    provider=provider,
                    status_code=resp.status_code,
                ) from None
            raise type(exc)(
                f"{provider}: {exc.message} ({at})", provider=provider, status_code=resp.status_code
            ) from None


def _send(
    client: httpx.AsyncClient, method: str, url: str, *, provider: str, headers: dict[str, str], json: Any, paid: bool
) -> AbstractAsyncContextManager[httpx.Response | Answer]:
    """A request with a small body goes straight to aiohttp, without httpx's Request and Response (most of the
    seam's CPU per poll, ~a third of a paid submit's): an unpaid one to the client's pool, a paid one to its
    transport of fresh connections (``FreshConnections``: one opened for it, never resent). The rest through
    ``exchange``. Same gate, same error table (``paid`` decides it as on httpx's path)."""
    pool: AiohttpTransport | None = None
    if isinstance(client, ProviderClient):
        pool = client.fresh_direct if paid else client.direct
    body = None if json is None or pool is None else _encode_json(json)
    if pool is None or (body is not None and len(body) > SMALL_BODY):
        return exchange(client, method, url, provider=provider, headers=headers, json=json, paid=paid)
    sent = {"User-Agent": USER_AGENT, **headers}
    if body is not None:
        sent["Content-Type"] = "application/json"
    opened = pool.open(method, url, headers=sent, body=body, timeouts=client.timeout, paid=paid)
    return _mapped_exchange(client, opened, provider=provider, url=url, paid=paid)


def _encode_json(doc: Any) -> bytes:
    """A JSON body as httpx encodes one (compact, UTF-8, no NaN)."""
    return jsonlib.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def _read_limited(resp: httpx.Response | Answer) -> str:
    """An error body, at most ``ERROR_BODY_LIMIT`` of it. The status already says what happened: a body cut
    short is read as far as it came rather than turning a clear 4xx into a transport failure."""
    buf = bytearray()
    try:
        async for chunk in resp.aiter_bytes():
            buf += chunk
            if len(buf) > ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    return bytes(buf[:ERROR_BODY_LIMIT]).decode("utf-8", "replace")
