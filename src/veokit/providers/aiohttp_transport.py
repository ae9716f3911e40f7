"""The aiohttp pool that carries polls and downloads: spoken to directly by the seam's unpaid small requests
(``open``), and as an httpx transport by everything that needs httpx's types (downloads, large bodies).

Why: at 100 requests in flight httpcore's pool walks every connection on every request and every response, and
polls each idle socket (O(connections) system calls, O(connections²) idle counts per request): ~5 ms of CPU per
poll against ~0.35 ms for aiohttp's pool (docs/benchmarks.md, issue 11, target 6). Callers through httpx keep its
client and response surface (``status_code``, ``headers``, ``aiter_bytes``, ``aread``) and the seam's error table;
only the transport below ``httpx.AsyncClient`` changes.

Why not the ``httpx-aiohttp`` package: it maps every ``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``,
and ``ServerDisconnectedError`` (the server closed the connection after reading the request) is one. The seam reads
a connect timeout as "nothing was sent", so a paid request would be sent twice. Here only a failure to open the
connection becomes a connect error; everything else is a read-side error, which the seam treats as "it may have
been sent".

Direct: an unpaid small request (a poll, a status GET, a lookup, a cancel) skips httpx altogether. httpx's
client builds a Request, merges headers and cookies, runs auth and event hooks and wraps the answer in a Response
on every poll; that was more than half of the seam's CPU per poll over the same aiohttp pool (``bench/http_stack.py``).
``open`` sends on the same session and hands back an :class:`Answer` with the part of httpx's response the seam
reads; its failures leave as the same httpx exceptions (``_mapped``), so the seam's one error table decides.

Paid requests never use this pool: they go through ``providers.http.FreshConnections``, a twin that keeps no
connection (directly too, through ``open(paid=True)``, which never sends one again). aiohttp has no write
timeout: a large body a server stops reading would hang. So a request whose body is larger than ``SMALL_BODY``
(an image upload; polls and downloads carry a few hundred bytes at most) is handed to httpx's own transport,
which times the write out.

Proxies: the environment's (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are honoured as httpx honours them.
They are read once and looked up per host here: aiohttp's ``trust_env`` reads them, and ``~/.netrc``, in a thread
on every request (two thread hand-offs per poll).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import httpx
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

# Bodies up to this size are written to the socket's buffer whole, so they cannot stall half-written.
SMALL_BODY = 32 * 1024
# aiohttp sends a request of these methods again by itself when a kept-alive connection turns out closed.
_RESENT_BY_AIOHTTP = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@contextmanager
def _mapped(request: httpx.Request | None) -> Iterator[None]:
    """aiohttp's exceptions as the httpx ones that say the same about whether the request left."""
    try:
        yield
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:  # the provider never asked
        raise httpx.ProxyError(str(exc)) from exc
    except aiohttp.ClientConnectorError as exc:  # DNS, refused, TLS handshake: the connection never opened
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.ConnectionTimeoutError as exc:  # no connection within the connect timeout
        raise httpx.ConnectTimeout(str(exc), request=request) from exc
    except aiohttp.NonHttpUrlClientError as exc:
        raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.InvalidURL(str(exc)) from exc
    except aiohttp.ClientPayloadError as exc:
        if isinstance(exc.__cause__, ContentEncodingError):  # a body that says gzip and is not
            raise httpx.DecodingError(str(exc), request=request) from exc
        # The body stopped short of what the headers announced: the request may have been acted on.
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ServerDisconnectedError as exc:  # closed after the request was written: it may have been acted on
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ClientResponseError as exc:  # a malformed status line or headers
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except TimeoutError as exc:  # aiohttp's read timeout (``SocketTimeoutError``) is a TimeoutError too
        raise httpx.ReadTimeout(str(exc) or type(exc).__name__, request=request) from exc
    except (aiohttp.ClientError, OSError) as exc:  # resets and the rest: the request may have been sent
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # Chunks of what the socket has: copying them into fixed-size pieces costs CPU, and the inline-video
        # reader batches its base64 decode itself.
        with _mapped(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # aiohttp returns the connection to the pool only if the body was read to its end (its protocol's
        # ``should_close``), and closes it otherwise.
        self._response.release()


class Answer:
    """An answer read straight from aiohttp: the part of ``httpx.Response`` the seam reads. The headers become
    ``httpx.Headers`` only when asked for (an error status, whose mapper reads Retry-After), not on every poll."""

    __slots__ = ("_headers", "_response", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._headers: httpx.Headers | None = None
        self.status_code = response.status

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self._response.raw_headers)
        return self._headers

    async def aread(self) -> bytes:
        with _mapped(None):
            return await self._response.read()

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        with _mapped(None):
            async for chunk in self._response.content.iter_any():
                yield chunk


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (created on first use, inside the running loop) holding ``connections`` connections,
    idle ones kept ``keepalive_s``. Redirects are not followed. As an httpx transport bodies are not decompressed
    (httpx does that for the caller, as with its own transport); through ``open`` aiohttp decompresses them."""

    def __init__(self, *, tls: ssl.SSLContext, connections: int, keepalive_s: float) -> None:
        self._tls = tls
        self._connections = connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._env_proxies = urllib.request.getproxies_environment()
        self._proxy_for: dict[tuple[str, str | None], str | None] = {}
        self._large: dict[str | None, httpx.AsyncHTTPTransport] = {}  # large bodies, per proxy
        self._timeout: tuple[httpx.Timeout | None, aiohttp.ClientTimeout] = (None, aiohttp.ClientTimeout())

    def _open(self) -> aiohttp.ClientSession:
        # keepalive_s 0: no connection is kept, so none is reused nor a request sent again on another
        # (aiohttp refuses a keep-alive timeout beside force_close).
        keep = {"keepalive_timeout": self._keepalive_s} if self._keepalive_s > 0 else {"force_close": True}
        connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._tls, ttl_dns_cache=60, **keep)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    def _proxy(self, scheme: str, host: str | None) -> str | None:
        key = (scheme, host)
        if key not in self._proxy_for:
            bypass = host is None or urllib.request.proxy_bypass(host)
            proxy = self._env_proxies.get(scheme) or self._env_proxies.get("all")  # ALL_PROXY: any scheme
            self._proxy_for[key] = None if bypass else proxy
        return self._proxy_for[key]

    def _client_timeout(self, timeout: httpx.Timeout) -> aiohttp.ClientTimeout:
        # httpx's pool timeout bounds the wait for a connection; aiohttp's ``connect`` is that wait plus the
        # connect. One built per client timeout, not per request.
        seen, built = self._timeout
        if timeout is not seen:
            built = aiohttp.ClientTimeout(
                total=None, connect=timeout.pool, sock_connect=timeout.connect, sock_read=timeout.read
            )
            self._timeout = (timeout, built)
        return built

    def _large_body_transport(self, proxy: str | None) -> httpx.AsyncHTTPTransport:
        if proxy not in self._large:
            kept = None if self._keepalive_s > 0 else 0  # None: up to max_connections
            limits = httpx.Limits(
                max_connections=self._connections, max_keepalive_connections=kept, keepalive_expiry=self._keepalive_s
            )
            self._large[proxy] = httpx.AsyncHTTPTransport(verify=self._tls, limits=limits, proxy=proxy)
        return self._large[proxy]

    @asynccontextmanager
    async def open(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeouts: httpx.Timeout,
        paid: bool = False,
    ) -> AsyncIterator[Answer]:
        """Send one request with a small body (at most ``SMALL_BODY`` bytes: aiohttp cannot time a write out) or
        none, and stream its answer. Failures leave as httpx exceptions (the seam maps them); the connection goes
        back to the pool when the block has read the body to its end, and is closed otherwise.

        An UNPAID request that meets a kept-alive connection the server has just closed (the connection fails
        before any answer) is sent once more at once, on another connection: aiohttp does that itself for
        idempotent methods, and an unpaid request (a poll, a cancel) is safe to repeat whatever its method.
        A ``paid`` one is sent once, and only by a transport that keeps no connection (``FreshConnections``)
        with a method aiohttp never sends again by itself (a POST): it goes out on a connection opened for it."""
        if paid and (self._keepalive_s > 0 or method in _RESENT_BY_AIOHTTP):
            raise ValueError(f"a paid {method} on a transport that keeps connections: it could be sent twice")
        with _mapped(None):
            try:
                target = URL(url)
            except (ValueError, TypeError) as exc:
                raise aiohttp.InvalidURL(url) from exc
            if self._session is None:
                self._session = self._open()
            options: dict[str, Any] = {
                "headers": headers,
                "data": body,
                "proxy": self._proxy(target.scheme, target.host),
                "allow_redirects": False,
                "auto_decompress": True,
                "timeout": self._client_timeout(timeouts),
            }
            try:
                response = await self._session.request(method, target, **options)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if paid or isinstance(exc, aiohttp.ClientConnectorError) or method in _RESENT_BY_AIOHTTP:
                    raise  # paid: never sent again; it never connected; or aiohttp has sent it again already
                response = await self._session.request(method, target, **options)
        try:
            yield Answer(response)
        finally:
            response.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self._proxy(request.url.scheme, request.url.host)
        body = await request.aread() if request.method not in ("GET", "HEAD") else b""
        if len(body) > SMALL_BODY:
            return await self._large_body_transport(proxy).handle_async_request(request)
        if self._session is None:
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        with _mapped(request):
            response = await self._session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                proxy=proxy,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        for transport in self._large.values():
            await transport.aclose()
        if self._session is not None:
            await self._session.close()
