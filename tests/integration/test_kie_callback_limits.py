"""The Kie callback receiver faces the internet: a huge body is refused while it streams in, and malformed
input of any shape is a 400, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx

from veokit.server.kie_callback import callback_app, signature

LIMIT = 64 * 1024
CHUNK = 16 * 1024


def _app() -> httpx.AsyncClient:
    app = callback_app(
        is_known_task=lambda t: t == "task-1", on_callback=lambda ev: None, hmac_key="k", max_body_bytes=LIMIT
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cb")


async def test_an_oversized_body_is_refused_before_more_than_the_limit_is_read() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: only streaming can stop it
        nonlocal sent
        for _ in range(10_000):  # 160 MB if it were all read
            sent += CHUNK
            yield b" " * CHUNK

    async with _app() as http:
        r = await http.post("/kie/callback", content=endless())
        assert r.status_code == 413
        assert sent <= LIMIT + CHUNK  # the receiver stopped pulling at the limit
        declared = await http.post("/kie/callback", content=b"x" * (LIMIT + 1))  # a declared length: not read
        assert declared.status_code == 413


async def test_malformed_input_is_400_not_500() -> None:
    payload = {"code": 200, "msg": "ok", "data": {"taskId": "task-1"}}
    now = str(int(time.time()))
    async with _app() as http:
        ok = await http.post(
            "/kie/callback",
            content=json.dumps(payload),
            headers={"X-Webhook-Timestamp": now, "X-Webhook-Signature": signature("task-1", now, "k")},
        )
        assert ok.status_code == 200
        huge_stamp = {"X-Webhook-Timestamp": "9" * 5000, "X-Webhook-Signature": "x"}
        assert (await http.post("/kie/callback", content=json.dumps(payload), headers=huge_stamp)).status_code == 401
        # Superscript digits: str.isdigit() says yes, int() says no. Header bytes arrive as Latin-1.
        odd_digits = {"X-Webhook-Timestamp": "\u00b2\u00b3\u00b9".encode("latin-1"), "X-Webhook-Signature": b"x"}
        r = await http.post("/kie/callback", content=json.dumps(payload), headers=odd_digits)
        assert r.status_code == 401
        for body in (
            b"[" * 30_000,  # deeper than the JSON parser's recursion limit
            b'{"code": ' + b"9" * 5000 + b', "data": {"taskId": "task-1"}}',  # an int Python will not parse
            b'{"code": "' + b"9" * 5000 + b'", "data": {"taskId": "task-1"}}',
            b"\xff\xfe not utf-8",
            b'{"code": 200, "data": {"taskId": ["task-1"]}}',
        ):
            r = await http.post("/kie/callback", content=body)
            assert r.status_code == 400, (body[:40], r.status_code, r.text)
