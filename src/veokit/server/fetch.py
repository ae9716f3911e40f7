"""Image URLs given in a request, fetched with an SSRF guard: a caller must not make this server reach places
the caller cannot (its loopback, the private network, a cloud metadata endpoint).

* ``data:`` URLs are decoded in place; otherwise only ``http`` and ``https``.
* The host is resolved once, every address it resolves to must be public (not loopback, private, link-local,
  multicast, reserved or unspecified) unless ``VEOKIT_SERVER_FETCH_PRIVATE`` allows it, and the connection is
  made to that checked address (the ``Host`` header and TLS name stay the host's): a DNS answer that changes
  between the check and the connection (rebinding) cannot redirect it.
* Redirects are followed by hand, at most three, each target checked the same way. No proxy from the
  environment is used (it would reach past the check).
* The body is read while counting: past the upload limit the fetch stops (413); the whole fetch has a time
  limit. Errors name the request field.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from veokit import errors as E

MAX_REDIRECTS = 3


class ImageFetcher:
    def __init__(self, *, allow_private: bool, timeout_s: float, max_bytes: int) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, field: str) -> bytes:
        url = url.strip()
        if url.lower().startswith("data:"):
            return self._data_url(url, field)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, field)
        except TimeoutError:
            raise E.InvalidRequest(
                f"{field}: fetching {_shown(url)} took longer than {self.timeout_s:g} s", field=field
            ) from None

    def _data_url(self, url: str, field: str) -> bytes:
        head, sep, payload = url.partition(",")
        if not sep:
            raise E.InvalidRequest(f"{field}: a data URL needs a comma before its data", field=field)
        if len(payload) > self.max_bytes * 4 // 3 + 4:
            raise E.InputTooLarge(f"{field}: the image is over {self.max_bytes // 2**20} MiB", field=field)
        try:
            if head.lower().endswith(";base64"):
                return base64.b64decode(payload, validate=True)
            return unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            raise E.InvalidRequest(f"{field}: the data URL's base64 is not valid", field=field) from None

    async def _fetch(self, url: str, field: str) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise E.InvalidRequest(
                    f"{field}: {_shown(url)} is not an http(s) or data URL",
                    field=field,
                    allowed=["https://…", "data:…"],
                )
            host = parts.hostname
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = await self._checked_address(host, port, field)
            pinned = parts._replace(netloc=f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
            headers = {"Host": parts.netloc.rpartition("@")[2], "Accept": "image/*"}
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            request = self._client.build_request("GET", pinned.geturl(), headers=headers, extensions=extensions)
            try:
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise E.InvalidRequest(
                    f"{field}: could not fetch {_shown(url)} ({type(exc).__name__})", field=field
                ) from None
            try:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise E.InvalidRequest(
                        f"{field}: fetching {_shown(url)} gave HTTP {response.status_code}", field=field
                    )
                return await self._body(response, field)
            finally:
                await response.aclose()
        raise E.InvalidRequest(f"{field}: more than {MAX_REDIRECTS} redirects fetching the image", field=field)

    async def _checked_address(self, host: str, port: int, field: str) -> str:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise E.InvalidRequest(f"{field}: cannot resolve the host {host!r}", field=field) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise E.InvalidRequest(f"{field}: cannot resolve the host {host!r}", field=field)
        if not self.allow_private:
            for a in addresses:
                if not _public(a):
                    raise E.InvalidRequest(
                        f"{field}: {host} resolves to a private or local address; this server does not fetch "
                        "from those (upload the image instead)",
                        field=field,
                    )
        return addresses[0]

    async def _body(self, response: httpx.Response, field: str) -> bytes:
        too_big = E.InputTooLarge(f"{field}: the image is over {self.max_bytes // 2**20} MiB", field=field)
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


def _shown(url: str) -> str:
    """The URL without credentials or query (which may hold tokens), for messages."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"[:200] if parts.scheme else url[:40]
