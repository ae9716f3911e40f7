"""The proxy variables: a malformed one is named (never echoed), and a message about an unreachable provider
names the proxy it went through, without the proxy's credentials."""

from __future__ import annotations

import pytest

from veokit import errors as E
from veokit.providers.proxy_env import check_proxy_variables, proxy_note

_ALL = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ALL:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "value", ["http://proxy:3128", "https://u:p@proxy.example", "proxy.example:8080", "10.0.0.1:3128", " "]
)
def test_usable_values_pass(value: str) -> None:
    check_proxy_variables({"HTTPS_PROXY": value, "http_proxy": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTPS_PROXY", "::not a url"),
        ("https_proxy", "http://u:s3cret@proxy:99999"),
        ("ALL_PROXY", "socks5://proxy:1080"),
        ("HTTP_PROXY", "http://"),
    ],
)
def test_a_malformed_value_names_its_variable_and_hides_the_value(name: str, value: str) -> None:
    with pytest.raises(E.ConfigError) as caught:
        check_proxy_variables({"HTTP_PROXY": "http://fine:3128", name: value})
    assert str(caught.value).startswith(f"{name} is not a usable proxy URL")
    assert "s3cret" not in str(caught.value) and "proxy:" not in str(caught.value)


def test_the_note_names_the_proxy_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    assert proxy_note("https://api.example/v1/x") == ""
    monkeypatch.setenv("HTTPS_PROXY", "http://user:s3cret@proxy.corp:3128")
    assert proxy_note("https://api.example/v1/x") == " through the proxy http://proxy.corp:3128 (HTTPS_PROXY)"
    assert proxy_note("http://api.example/v1/x") == ""  # HTTPS_PROXY is for https:// URLs only
    monkeypatch.setenv("NO_PROXY", "api.example")
    assert proxy_note("https://api.example/v1/x") == ""
