"""The pooled transport's error mapping (providers/aiohttp_transport.py): every aiohttp exception becomes the httpx
one that says the same about whether the request left, so the seam's table (providers/http.py) decides as before.
Only a connection that never opened may read as "nothing was sent"."""

from __future__ import annotations

import aiohttp
import httpx
import pytest
from aiohttp import client_exceptions
from aiohttp.client_reqrep import ConnectionKey

from veokit.providers.aiohttp_transport import _mapped
from veokit.providers.http import NOT_SENT, UNSENDABLE

REQUEST = httpx.Request("GET", "http://provider.test/v1/operations/1")
KEY = ConnectionKey("provider.test", 80, False, True, None, None, None, None)


def _every_aiohttp_error() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    todo: list[type[Exception]] = [aiohttp.ClientError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("aiohttp"):
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


def _instance(cls: type[Exception]) -> Exception:
    if issubclass(cls, client_exceptions.UnixClientConnectorError):
        return cls("/run/provider.sock", KEY, OSError(111, "Connection refused"))
    if issubclass(cls, aiohttp.ServerFingerprintMismatch):
        return cls(b"expected", b"got", "provider.test", 443)
    if issubclass(cls, aiohttp.ClientConnectorError):
        if issubclass(cls, aiohttp.ClientConnectorCertificateError):
            return cls(KEY, ValueError("bad certificate"))
        return cls(KEY, OSError(111, "Connection refused"))
    if issubclass(cls, aiohttp.ClientResponseError):
        return cls(aiohttp.RequestInfo(REQUEST.url, "GET", {}, REQUEST.url), (), status=407)  # type: ignore[arg-type]
    if issubclass(cls, aiohttp.InvalidURL):
        return cls("http://[::1/")
    for args in ((), ("boom",)):
        try:
            return cls(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {cls.__name__}")


# What the connection never reaching the server looks like in aiohttp.
NEVER_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.ClientHttpProxyError)


@pytest.mark.parametrize("cls", _every_aiohttp_error(), ids=lambda c: c.__name__)
def test_every_aiohttp_error_maps_to_httpx_with_only_unopened_connections_not_sent(cls: type[Exception]) -> None:
    with pytest.raises((httpx.HTTPError, httpx.InvalidURL)) as info, _mapped(REQUEST):
        raise _instance(cls)
    mapped = info.value
    if issubclass(cls, NEVER_CONNECTED):
        assert isinstance(mapped, NOT_SENT)
    elif issubclass(cls, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        assert isinstance(mapped, UNSENDABLE)
    else:  # the connection was open: the request may have been sent
        assert not isinstance(mapped, NOT_SENT + UNSENDABLE), f"{cls.__name__} -> {type(mapped).__name__}"


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),  # httpx-aiohttp calls this a ConnectTimeout
        (aiohttp.ClientOSError, httpx.ReadError),  # a reset
        (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
        (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    ],
)
def test_the_failures_that_matter_for_money(cls: type[Exception], expected: type[Exception]) -> None:
    with pytest.raises(expected), _mapped(REQUEST):
        raise _instance(cls)


def test_a_body_that_says_gzip_and_is_not_is_a_decoding_error() -> None:
    """As aiohttp reports it when it decompresses (the seam's direct path): not a cut-short answer."""
    from aiohttp.http_exceptions import ContentEncodingError

    exc = aiohttp.ClientPayloadError("400, message:\n  Can not decode content-encoding: gzip")
    exc.__cause__ = ContentEncodingError("Can not decode content-encoding: gzip")
    with pytest.raises(httpx.DecodingError), _mapped(None):
        raise exc
