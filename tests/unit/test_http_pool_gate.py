"""The HTTP seam lets at most POOL_CONNECTIONS requests of one client into its connection pool at a time; the rest
wait on a semaphore (O(1) each) rather than in httpcore's pool queue (scanned on every release)."""

from __future__ import annotations

import asyncio

import httpx

from veokit.providers.http import POOL_CONNECTIONS, call_json, new_client


async def test_requests_beyond_the_pool_wait_outside_it_and_all_complete() -> None:
    inside = 0
    most = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        if most >= POOL_CONNECTIONS:
            release.set()
        await release.wait()  # hold every request until the pool is full: the gate must stop the rest
        inside -= 1
        return httpx.Response(200, json={"n": request.url.params["n"]})

    client = new_client(transport=httpx.MockTransport(handler))
    async with client:
        answers = await asyncio.gather(
            *(
                call_json(client, "GET", f"http://emu.invalid/x?n={i}", provider="test", headers={})
                for i in range(POOL_CONNECTIONS * 3)
            )
        )
    assert most == POOL_CONNECTIONS
    assert [doc["n"] for doc, _ in answers] == [str(i) for i in range(POOL_CONNECTIONS * 3)]


async def test_a_request_cancelled_while_waiting_for_the_pool_is_never_sent() -> None:
    sent: list[str] = []
    hold, full = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if len(sent) == POOL_CONNECTIONS:
            full.set()
        await hold.wait()
        return httpx.Response(200, json={})

    client = new_client(transport=httpx.MockTransport(handler))
    async with client:
        busy = [
            asyncio.create_task(call_json(client, "GET", "http://emu.invalid/busy", provider="test", headers={}))
            for _ in range(POOL_CONNECTIONS)
        ]
        await full.wait()
        paid = asyncio.create_task(
            call_json(client, "POST", "http://emu.invalid/submit", provider="test", headers={}, json={}, paid=True)
        )
        for _ in range(20):
            await asyncio.sleep(0)
        paid.cancel()
        hold.set()
        await asyncio.gather(*busy)
        assert paid.cancelled()
    assert "/submit" not in sent
