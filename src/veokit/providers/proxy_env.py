"""The proxy variables every provider call honours (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, either case),
checked once where a provider's client is built, so a malformed one is a configuration error naming the
variable instead of an internal error from deep inside the HTTP stack on the first request.

A value is never echoed: proxy URLs often carry a user and password.
"""

from __future__ import annotations

import os
import urllib.request

import httpx

from veokit import errors as E

_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
# aiohttp (polls, downloads) speaks to HTTP and HTTPS proxies only; SOCKS would need extras we do not ship.
_SCHEMES = frozenset({"http", "https"})
PROXY_ENV = "proxy_env"  # the reason of that error, for the next-step hint
_EXAMPLE = "expected a URL such as http://proxy.example:3128"


def check_proxy_variables(environ: dict[str, str] | None = None) -> None:
    """Raise :class:`~veokit.errors.ConfigError` naming the first proxy variable that is not a usable URL."""
    env = os.environ if environ is None else environ
    for upper in _NAMES:
        for name in (upper, upper.lower()):
            value = env.get(name, "").strip()
            if value and not _usable(value):
                raise E.ConfigError(
                    f"{name} is not a usable proxy URL ({_EXAMPLE}; http and https proxies only)", reason=PROXY_ENV
                )


def _usable(value: str) -> bool:
    # Like httpx and urllib, a value without a scheme means an HTTP proxy.
    url_text = value if "://" in value else f"http://{value}"
    try:
        url = httpx.URL(url_text)
        port = url.port  # parsing the port is where "host:not-a-port" fails
    except (httpx.InvalidURL, ValueError):
        return False
    return url.scheme in _SCHEMES and bool(url.host) and (port is None or 0 < port < 65536)


def proxy_note(url: str) -> str:
    """For a message about a request that never reached ``url``: the proxy it went through, if any, without
    its credentials (`` through the proxy http://host:3128 (HTTPS_PROXY)``), else nothing."""
    parsed = httpx.URL(url)
    if urllib.request.proxy_bypass(parsed.host):
        return ""
    for upper in (f"{parsed.scheme.upper()}_PROXY", "ALL_PROXY"):
        for name in (upper.lower(), upper):  # urllib's order: the lower-case name wins
            value = os.environ.get(name, "").strip()
            if value:
                proxy = httpx.URL(value if "://" in value else f"http://{value}")
                port = f":{proxy.port}" if proxy.port else ""
                return f" through the proxy {proxy.scheme}://{proxy.host}{port} ({name})"
    return ""
