"""The HTTP seam (providers/http.py): every httpx failure, provoked for real on loopback where a server can
produce it, leaves as the veokit error that says whether the request may have been acted on."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit import errors as E
from veokit.engine.download import download
from veokit.providers.aiohttp_transport import AiohttpTransport
from veokit.providers.base import DownloadTarget
from veokit.providers.http import NOT_SENT, POOL_CONNECTIONS, UNSENDABLE, call_json, exchange, new_client

from .conftest import eventually

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, asyncio.Event], Awaitable[None]]


class Loopback:
    """A TCP server on 127.0.0.1 that does exactly what the test scripts, per connection."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.release = asyncio.Event()  # a server told to hang waits for this (set when the test ends)
        self.connections = 0

    async def __aenter__(self) -> Loopback:
        sock = socket.socket()
        # Accepted connections inherit a small receive buffer: a server that never reads then stalls a large
        # body within a few MB, whatever the system's buffer autotuning would allow.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.bind(("127.0.0.1", 0))
        self.server = await asyncio.start_server(self._handle, sock=sock)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/models/m:predictLongRunning?key=AIzaSySECRETSECRETSECRETSECRET12"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.behave(reader, writer, self.release)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if length:
        await reader.readexactly(int(length[1]))
    return head


def answer(status: str, body: bytes, **headers: str) -> Behaviour:
    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, release: asyncio.Event) -> None:
        await read_request(reader)
        lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()), "", ""]
        writer.write("\r\n".join(lines).encode() + body)
        await writer.drain()

    return behave


async def hang_after_reading(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    await read_request(reader)
    await release.wait()


async def close_after_reading(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, release: asyncio.Event
) -> None:
    await read_request(reader)


async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, release: asyncio.Event) -> None:
    await release.wait()


SHORT_BODY = answer("200 OK", b'{"name": "op', Content_Length="100")  # 12 of 100 bytes, then the close
CUT_WITHOUT_LENGTH = answer("200 OK", b'{"name": "operations/1", "done": fa', Connection="close")
GZIP_GARBAGE = answer("200 OK", b"this is not gzip at all", Content_Encoding="gzip", Content_Length="23")
NOT_JSON = answer("200 OK", b"<html>hello</html>", Content_Length="18")
OK = answer("200 OK", b'{"name": "operations/1"}', Content_Length="24")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = new_client()
    client.timeout = httpx.Timeout(2.0, read=0.3, write=0.3)
    yield client
    await client.aclose()


async def call(client: httpx.AsyncClient, url: str, *, paid: bool, body: Any = None) -> Any:
    return await call_json(client, "POST", url, provider="vertex", headers={}, json=body or {"a": 1}, paid=paid)


async def mapped(client: httpx.AsyncClient, url: str, *, paid: bool, body: Any = None) -> E.VeokitError:
    with pytest.raises(E.VeokitError) as info:
        await call(client, url, paid=paid, body=body)
    assert "AIza" not in info.value.message  # the URL's key never reaches a message
    return info.value


# -- before the request could reach the server: safe to send again, even when paid --------------------------------
@pytest.mark.parametrize("paid", [False, True])
async def test_connection_refused_is_not_sent(http: httpx.AsyncClient, paid: bool) -> None:
    async with Loopback(close_after_reading) as srv:
        url = srv.url
    err = await mapped(http, url, paid=paid)  # the port is closed now
    assert type(err) is E.NetworkError and err.retryable and "ConnectError" in err.message


@pytest.mark.parametrize("paid", [False, True])
async def test_a_body_the_server_never_reads_is_a_write_timeout_not_sent(http: httpx.AsyncClient, paid: bool) -> None:
    async with Loopback(never_read) as srv:
        err = await mapped(http, srv.url, paid=paid, body={"blob": "x" * (32 * 1024 * 1024)})
    assert type(err) is E.NetworkError and err.retryable and "WriteTimeout" in err.message


@pytest.mark.parametrize("paid", [False, True])
async def test_a_proxy_that_refuses_the_tunnel_is_not_sent(paid: bool) -> None:
    async with Loopback(answer("403 Forbidden", b"", Content_Length="0")) as proxy:
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{proxy.port}", timeout=2.0) as client:
            err = await mapped(client, "https://veo.example.invalid/v1/op", paid=paid)
        assert proxy.connections == 1  # the proxy was asked, the provider never was
    assert type(err) is E.NetworkError and err.retryable and "ProxyError" in err.message


@pytest.mark.parametrize("paid", [False, True])
async def test_the_environments_proxy_refusing_the_tunnel_is_not_sent_by_the_providers_client(
    monkeypatch: pytest.MonkeyPatch, paid: bool
) -> None:
    """Both of a provider client's paths: the pool spoken to directly (unpaid) and httpx's own (paid)."""
    async with Loopback(answer("403 Forbidden", b"", Content_Length="0")) as proxy:
        for name in ("https_proxy", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        client = new_client()
        try:
            err = await mapped(client, "https://veo.example.invalid/v1/op", paid=paid)
        finally:
            await client.aclose()
        assert proxy.connections == 1
    assert type(err) is E.NetworkError and err.retryable and "ProxyError" in err.message


@pytest.mark.parametrize(
    ("url", "cause"),
    [("ftp://127.0.0.1/video.mp4", "UnsupportedProtocol"), ("http://[::1/v1/op", "InvalidURL")],
)
@pytest.mark.parametrize("paid", [False, True])
async def test_a_request_that_cannot_be_sent_is_final(
    http: httpx.AsyncClient, url: str, cause: str, paid: bool
) -> None:
    err = await mapped(http, url, paid=paid)
    assert type(err) is E.NetworkError and not err.retryable and cause in err.message


# -- after the request was sent: an unpaid call may ask again; a paid one must never be resent ---------------------
@pytest.mark.parametrize(
    ("behave", "cause"),
    [
        (hang_after_reading, "ReadTimeout"),
        (close_after_reading, "RemoteProtocolError"),
        (SHORT_BODY, "RemoteProtocolError"),
    ],
    ids=["read-timeout", "closed-without-answer", "fewer-bytes-than-announced"],
)
async def test_a_lost_answer_is_truncated_unpaid_and_outcome_unknown_paid(
    http: httpx.AsyncClient, behave: Behaviour, cause: str
) -> None:
    async with Loopback(behave) as srv:
        unpaid = await mapped(http, srv.url, paid=False)
        paid = await mapped(http, srv.url, paid=True)
    assert type(unpaid) is E.ResponseTruncated and unpaid.retryable and cause in unpaid.message
    assert type(paid) is E.SubmitOutcomeUnknown and not paid.retryable and cause in paid.message
    assert paid.exit_code == 6


async def test_a_json_body_cut_short_without_a_transport_error_is_truncated(http: httpx.AsyncClient) -> None:
    async with Loopback(CUT_WITHOUT_LENGTH) as srv:
        unpaid = await mapped(http, srv.url, paid=False)
        paid = await mapped(http, srv.url, paid=True)
    assert type(unpaid) is E.ResponseTruncated and unpaid.retryable
    assert type(paid) is E.SubmitOutcomeUnknown


async def test_an_inline_video_body_cut_short_is_truncated_and_leaves_no_files(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = b'{"response": {"videos": [{"bytesBase64Encoded": "AAAA'
    async with Loopback(answer("200 OK", body, Connection="close")) as srv:
        with pytest.raises(E.ResponseTruncated, match="inside an inline video value"):
            await call_json(http, "POST", srv.url, provider="vertex", headers={}, spool_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_an_undecodable_body_is_unexpected_and_retryable_unpaid(http: httpx.AsyncClient) -> None:
    async with Loopback(GZIP_GARBAGE) as srv:
        unpaid = await mapped(http, srv.url, paid=False)
        paid = await mapped(http, srv.url, paid=True)
    assert type(unpaid) is E.UnexpectedResponse and unpaid.retryable and "DecodingError" in unpaid.message
    assert type(paid) is E.SubmitOutcomeUnknown


async def test_a_success_whose_body_is_not_json(http: httpx.AsyncClient) -> None:
    async with Loopback(NOT_JSON) as srv:
        unpaid = await mapped(http, srv.url, paid=False)
        paid = await mapped(http, srv.url, paid=True)
    assert type(unpaid) is E.UnexpectedResponse and not unpaid.retryable and "not valid JSON" in unpaid.message
    # The provider said 200 to a paid submit: it took the request, even though we cannot read the answer.
    assert type(paid) is E.SubmitOutcomeUnknown


async def test_an_error_status_with_its_body_cut_short_is_still_the_status(http: httpx.AsyncClient) -> None:
    async with Loopback(answer("429 Too Many Requests", b'{"error": {"code": 429', Content_Length="500")) as srv:
        err = await mapped(http, srv.url, paid=True)
    assert isinstance(err, E.RateLimited) and err.status_code == 429  # refused, so never "may have been accepted"


async def test_a_whole_answer_passes(http: httpx.AsyncClient) -> None:
    async with Loopback(OK) as srv:
        doc, blobs = await call(http, srv.url, paid=True)
    assert doc == {"name": "operations/1"} and blobs == []


# -- downloads go through the same seam ------------------------------------------------------------------------------
def target(url: str) -> DownloadTarget:
    return DownloadTarget(url=url, headers={})


async def test_a_download_resumes_a_cut_body_then_gives_up_typed(http: httpx.AsyncClient, tmp_path: Path) -> None:
    async with Loopback(answer("200 OK", b"x" * 10, Content_Length="1000")) as srv:
        with pytest.raises(
            E.DownloadError, match=r"interrupted after \d+ bytes .*cut short.*gave up after 2 resumes"
        ) as info:
            await download(http, target(srv.url), tmp_path / "v.mp4", provider="vertex", max_resumes=2)
        assert srv.connections == 3  # the first try and two resumes
    assert info.value.retryable and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [("refused", True), ("no-answer", True), ("ftp://127.0.0.1/v.mp4", False), ("http://[::1/v.mp4", False)],
)
async def test_download_failures_are_download_errors(
    http: httpx.AsyncClient, tmp_path: Path, kind: str, retryable: bool
) -> None:
    async with Loopback(hang_after_reading) as srv:
        url = srv.url
    async with Loopback(hang_after_reading) as srv:
        where = {"refused": url, "no-answer": srv.url}.get(kind, kind)  # "refused": the first server is gone
        with pytest.raises(E.DownloadError) as info:
            await download(http, target(where), tmp_path / "v.mp4", provider="vertex", max_resumes=1)
    assert type(info.value) is E.DownloadError and info.value.retryable is retryable
    assert not list(tmp_path.iterdir())


# -- every exception httpx has, at the seam ----------------------------------------------------------------------------
def _all_httpx_errors() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    todo: list[type[Exception]] = [httpx.HTTPError, httpx.InvalidURL, httpx.StreamError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("httpx"):
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


def test_the_seam_knows_every_exception_httpx_raises() -> None:
    public = {getattr(httpx, n) for n in httpx.__all__}
    exceptions = {c for c in public if isinstance(c, type) and issubclass(c, Exception)}
    uncovered = exceptions - set(_all_httpx_errors()) - {httpx.CookieConflict}  # cookies: never used
    assert uncovered == set()
    assert len(_all_httpx_errors()) >= 26


def _instance(cls: type[Exception]) -> Exception:
    request = httpx.Request("POST", "http://provider.test/")
    if cls is httpx.HTTPStatusError:
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    try:
        return cls("boom")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", _all_httpx_errors(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("paid", [False, True])
async def test_every_httpx_exception_is_mapped_once_with_paid_and_not_sent_apart(
    cls: type[Exception], paid: bool
) -> None:
    """Raised by a transport at the seam (most cannot be provoked on demand by a real server)."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise _instance(cls)

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(E.VeokitError) as info:
            async with exchange(client, "POST", "http://provider.test/v1?key=secret-key-1234", provider="p", paid=paid):
                pass
    err = info.value
    assert "secret-key" not in err.message
    if issubclass(cls, NOT_SENT):
        assert type(err) is E.NetworkError and err.retryable  # nothing reached the server
    elif issubclass(cls, UNSENDABLE):
        assert type(err) is E.NetworkError and not err.retryable
    elif issubclass(cls, httpx.TooManyRedirects | httpx.HTTPStatusError):
        assert type(err) is E.UnexpectedResponse  # an answer, and not an acceptance
    elif paid:
        assert type(err) is E.SubmitOutcomeUnknown  # it may have been sent: never resend a paid request
    else:
        assert not isinstance(err, E.SubmitOutcomeUnknown)


async def test_a_paid_exchange_reports_a_truncation_raised_inside_as_outcome_unknown() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        with pytest.raises(E.SubmitOutcomeUnknown):
            async with exchange(client, "POST", "http://provider.test/", provider="p", paid=True):
                raise E.ResponseTruncated("the body stopped early")
        with pytest.raises(E.ResponseTruncated):
            async with exchange(client, "GET", "http://provider.test/", provider="p"):
                raise E.ResponseTruncated("the body stopped early")


# -- the pool honours the environment's proxy settings, as httpx's own transport did ---------------------------------
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
@pytest.mark.parametrize("bypassed", [False, True])
async def test_polls_go_through_the_environments_proxy_unless_no_proxy_names_the_host(
    monkeypatch: pytest.MonkeyPatch, bypassed: bool, variable: str
) -> None:
    async with Loopback(OK) as proxy, Loopback(OK) as provider:
        for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "localhost" if bypassed else "")
        client = new_client()  # reads the environment once
        try:
            url = f"http://{'localhost' if bypassed else 'veo.example.invalid'}:{provider.port}/v1/operations/1"
            doc, _ = await call_json(client, "GET", url, provider="vertex", headers={})
        finally:
            await client.aclose()
    assert doc == {"name": "operations/1"}
    assert (proxy.connections, provider.connections) == ((0, 1) if bypassed else (1, 0))


# -- unpaid small requests go straight to the aiohttp pool (no httpx Request/Response), same table -------------------
def keep_alive(status: str, body: bytes, seen: list[bytes], **headers: str) -> Behaviour:
    """Answer every request on the connection with the same response, recording each request (head and body)."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    response = "\r\n".join([*lines, "", ""]).encode() + body

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, release: asyncio.Event) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            seen.append(head + (await reader.readexactly(int(length[1])) if length else b""))
            writer.write(response)
            await writer.drain()

    return behave


async def test_unpaid_calls_share_one_kept_alive_connection_and_send_what_httpx_sends() -> None:
    seen: list[bytes] = []
    doc = {"operationName": "projects/p/operations/é 1", "n": [1, 2.5]}
    async with Loopback(keep_alive("200 OK", b'{"done": true}', seen)) as srv:
        client = new_client()
        try:
            for _ in range(3):
                got, _ = await call_json(
                    client, "POST", srv.url, provider="vertex", headers={"X-Goog-Test": "t"}, json=doc
                )
                assert got == {"done": True}
        finally:
            await client.aclose()
        assert srv.connections == 1
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert body == httpx.Request("POST", srv.url, json=doc).content  # byte for byte what httpx would send
    assert head.startswith(b"POST /v1/models/m:predictLongRunning?key=AIzaSy")
    for line in (b"user-agent: veokit/", b"content-type: application/json", b"x-goog-test: t"):
        assert line in head.lower()


async def test_a_compressed_answer_is_decoded() -> None:
    import gzip

    body = gzip.compress(b'{"name": "operations/1", "done": false}')
    async with Loopback(keep_alive("200 OK", body, [], Content_Encoding="gzip")) as srv:
        client = new_client()
        try:
            doc, _ = await call_json(client, "GET", srv.url, provider="vertex", headers={})
        finally:
            await client.aclose()
    assert doc == {"name": "operations/1", "done": False}


@pytest.mark.parametrize(
    ("body", "headers", "delay"),
    [
        (b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}', {"Retry_After": "7"}, 7.0),
        (
            b'{"error": {"code": 429, "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",'
            b' "retryDelay": "58s"}]}}',
            {},
            58.0,
        ),
    ],
    ids=["retry-after-header", "retry-info-body"],
)
async def test_an_error_status_read_directly_keeps_the_servers_retry_hint(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str], delay: float
) -> None:
    async with Loopback(keep_alive("429 Too Many Requests", body, [], **headers)) as srv:
        err = await mapped(http, srv.url, paid=False)
    assert type(err) is E.RateLimited and err.retry_after_s == delay


@pytest.mark.parametrize(
    ("method", "paid", "sent"),
    [("POST", False, 2), ("GET", False, 2), ("POST", True, 1)],
    ids=["unpaid-post-resent-once", "unpaid-get-resent-once-by-aiohttp", "paid-never-resent"],
)
async def test_a_connection_closed_without_an_answer_resends_an_unpaid_request_once_and_a_paid_one_never(
    http: httpx.AsyncClient, method: str, paid: bool, sent: int
) -> None:
    """What a kept-alive connection the server closed as it was reused looks like to the client. An unpaid request
    (a Vertex poll is a POST, a Replicate cancel too) is safe to send again at once on a new connection."""
    async with Loopback(close_after_reading) as srv:
        with pytest.raises(E.VeokitError) as info:
            await call_json(
                http, method, srv.url, provider="vertex", headers={}, json={} if method == "POST" else None, paid=paid
            )
        assert srv.connections == sent
    assert type(info.value) is (E.SubmitOutcomeUnknown if paid else E.ResponseTruncated)


async def test_a_client_on_a_transport_of_the_callers_sends_everything_through_httpx() -> None:
    """A test seam (respx, MockTransport, httpx's own transport) keeps deciding: nothing bypasses it."""
    client = new_client(transport=httpx.AsyncHTTPTransport())
    assert client.direct is None and client.fresh is None  # type: ignore[attr-defined]
    try:
        async with Loopback(close_after_reading) as srv:
            with pytest.raises(E.ResponseTruncated):
                await call_json(client, "POST", srv.url, provider="vertex", headers={}, json={})
            assert srv.connections == 1  # httpx's transport does not send a POST again
        async with Loopback(OK) as srv:
            doc, _ = await call_json(client, "POST", srv.url, provider="vertex", headers={}, json={})
        assert doc == {"name": "operations/1"}
    finally:
        await client.aclose()


async def test_a_paid_call_with_a_small_body_goes_to_a_connection_of_its_own_without_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Paid, like unpaid, skips httpx's Request and Response (a third of a submit's CPU), on the fresh-connection
    transport: each call opens a connection of its own and closes it, the server keeping it open or not."""
    seen: list[bytes] = []
    doc = {"instances": [{"prompt": "é"}]}

    def no_httpx(*args: object, **kwargs: object) -> None:
        raise AssertionError("sent through httpx")

    async with Loopback(keep_alive("200 OK", b'{"name": "operations/1"}', seen)) as srv:
        client = new_client()
        monkeypatch.setattr(httpx.AsyncClient, "stream", no_httpx)
        try:
            for _ in range(2):
                got, _ = await call_json(client, "POST", srv.url, provider="vertex", headers={}, json=doc, paid=True)
                assert got == {"name": "operations/1"}
        finally:
            await client.aclose()
        assert srv.connections == 2 and len(seen) == 2
    assert seen[0].partition(b"\r\n\r\n")[2] == httpx.Request("POST", srv.url, json=doc).content


@pytest.mark.parametrize(("keepalive_s", "method"), [(4.0, "POST"), (0.0, "PUT")], ids=["kept-alive-pool", "put"])
async def test_the_direct_path_refuses_a_paid_request_it_could_send_twice(keepalive_s: float, method: str) -> None:
    """A kept-alive connection can be closed under the request; aiohttp sends a PUT again by itself."""
    transport = AiohttpTransport(tls=ssl.create_default_context(), connections=1, keepalive_s=keepalive_s)
    async with Loopback(OK) as srv:
        with pytest.raises(ValueError, match="sent twice"):
            async with transport.open(method, srv.url, headers={}, body=b"{}", timeouts=httpx.Timeout(2), paid=True):
                pass
        assert srv.connections == 0
    await transport.aclose()


async def test_a_paid_request_does_not_wait_behind_a_full_pool_of_polls() -> None:
    """Paid requests have their own connections, and their own gate: a submit is sent while every connection of
    the pool is taken by a poll still waiting for its answer."""
    client = new_client()
    try:
        async with Loopback(hang_after_reading) as slow, Loopback(OK) as fast:
            polls = [
                asyncio.create_task(call_json(client, "POST", slow.url, provider="vertex", headers={}, json={}))
                for _ in range(POOL_CONNECTIONS + 5)
            ]
            await eventually(lambda: slow.connections == POOL_CONNECTIONS)
            doc, _ = await asyncio.wait_for(
                call_json(client, "POST", fast.url, provider="vertex", headers={}, json={}, paid=True), 30
            )
            assert doc == {"name": "operations/1"}
            assert slow.connections == POOL_CONNECTIONS and not any(p.done() for p in polls)
            for p in polls:
                p.cancel()
            await asyncio.gather(*polls, return_exceptions=True)
    finally:
        await client.aclose()
