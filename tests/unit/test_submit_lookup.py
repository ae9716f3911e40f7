"""Reading a provider's listing (providers/lookup.py), and the guards of the listing calls at the HTTP seam."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from veokit import errors as E
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest
from veokit.providers.fal import FalProvider
from veokit.providers.lookup import Match, compare, parse_time, verdict
from veokit.providers.replicate import ReplicateProvider, to_input

SINCE = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
OURS = {"prompt": "a heron", "duration": 4, "generate_audio": True, "seed": 7}
_offer = default_catalog().offer
REQUEST = GenerateRequest(prompt="a heron", seed=7, duration_seconds=4, model="veo-3.1-fast-generate-001")


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (dict(OURS), Match.SAME),
        ({**OURS, "prompt": "a crane"}, Match.DIFFERENT),
        ({**OURS, "generate_audio": 1}, Match.DIFFERENT),  # true is not 1 on the wire
        ({**OURS, "duration": 4.0}, Match.DIFFERENT),
        ({k: v for k, v in OURS.items() if k != "seed"}, Match.UNSURE),  # shown without one of our fields
        ({**OURS, "negative_prompt": "fog"}, Match.UNSURE),  # a field we did not send: a default, or another's
        ({}, Match.UNSURE),  # payload removed
        (None, Match.UNSURE),
        ("not an object", Match.UNSURE),
    ],
)
def test_compare(listed: object, expected: Match) -> None:
    assert compare(OURS, listed) is expected


def test_an_inline_file_shown_rewritten_is_unsure_but_other_values_still_decide() -> None:
    ours = {**OURS, "image": "data:image/png;base64,AAAA", "refs": ["data:image/png;base64,BBBB"]}
    shown = {**OURS, "image": "https://files.example/abc.png", "refs": ["https://files.example/def.png"]}
    assert compare(ours, shown) is Match.UNSURE
    assert compare(ours, {**shown, "prompt": "a crane"}) is Match.DIFFERENT
    assert compare(ours, dict(ours)) is Match.SAME


def test_verdict_is_oldest_first_and_none_on_any_doubt() -> None:
    later, earlier = SINCE + dt.timedelta(seconds=5), SINCE + dt.timedelta(seconds=1)
    assert verdict([(later, "b", Match.SAME), (SINCE, "x", Match.DIFFERENT), (earlier, "a", Match.SAME)]) == ["a", "b"]
    assert verdict([(SINCE, "x", Match.DIFFERENT)]) == []
    assert verdict([(later, "b", Match.SAME), (SINCE, "y", Match.UNSURE)]) is None


def test_parse_time() -> None:
    assert parse_time("2026-12-03T10:00:00.123456Z") == SINCE.replace(microsecond=123456)
    assert parse_time("2026-12-03T11:00:00+01:00") == SINCE
    assert parse_time("2026-12-03T10:00:00") is None  # no zone: cannot be compared with ours
    assert parse_time("yesterday") is None and parse_time(None) is None


def prediction(pid: str, created: dt.datetime, inp: dict[str, object]) -> dict[str, object]:
    return {"id": pid, "model": "google/veo-3.1-fast", "created_at": created.isoformat(), "input": inp}


async def test_replicate_follows_next_pages_on_its_own_host_only() -> None:
    """The next page's URL comes from the answer; the token must never go to another host with it."""
    seen: list[str] = []
    other = {**to_input(REQUEST), "seed": 8}

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(str(req.url))
        page = [prediction("p2", SINCE + dt.timedelta(seconds=9), other)]
        return httpx.Response(200, json={"results": page, "next": "https://elsewhere.example/v1/predictions?c=2"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        p = ReplicateProvider(token="r8_secret", client=client, offer_lookup=_offer, base_url="https://api.test")
        assert await p.find_submitted(REQUEST, since=SINCE) is None
    assert seen == ["https://api.test/v1/predictions"]


async def test_replicate_answers_from_the_pages_it_read() -> None:
    pages = {
        "https://api.test/v1/predictions": {
            "results": [prediction("p3", SINCE + dt.timedelta(seconds=9), {**to_input(REQUEST), "seed": 8})],
            "next": "https://api.test/v1/predictions?cursor=2",
        },
        "https://api.test/v1/predictions?cursor=2": {
            "results": [
                prediction("p2", SINCE + dt.timedelta(seconds=2), to_input(REQUEST)),
                prediction("p1", SINCE - dt.timedelta(seconds=1), to_input(REQUEST)),  # before: not this submit
                prediction("p0", SINCE - dt.timedelta(seconds=9), {}),  # never read: older still
            ],
            "next": "https://api.test/v1/predictions?cursor=3",
        },
    }

    def answer(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[str(req.url)])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        p = ReplicateProvider(token="r8_secret", client=client, offer_lookup=_offer, base_url="https://api.test")
        assert await p.find_submitted(REQUEST, since=SINCE) == ["p2"]


async def test_a_listing_that_fails_for_now_raises_so_the_engine_asks_again() -> None:
    reply = httpx.Response(500, json={"detail": "boom"})
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: reply)) as client:
        p = ReplicateProvider(token="r8_secret", client=client, offer_lookup=_offer, base_url="https://api.test")
        with pytest.raises(E.ServerError) as failed:
            await p.find_submitted(REQUEST, since=SINCE)
        assert failed.value.retryable


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(401, json={"detail": "bad token"}),
        httpx.Response(200, json={"results": "nope"}),
        httpx.Response(200, json={"results": [{"id": "p1", "created_at": "soon", "input": {}}], "next": None}),
    ],
)
async def test_a_listing_that_fails_or_cannot_be_read_says_nothing(reply: httpx.Response) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: reply)) as client:
        p = ReplicateProvider(token="r8_secret", client=client, offer_lookup=_offer, base_url="https://api.test")
        assert await p.find_submitted(REQUEST, since=SINCE) is None


async def test_fal_asks_its_platform_api_for_this_endpoint_since_the_submit() -> None:
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"items": [], "next_cursor": None, "has_more": False})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        p = FalProvider(key="fal-secret", client=client, offer_lookup=_offer)
        assert await p.find_submitted(REQUEST, since=SINCE) is None  # nothing ended yet proves nothing
    [req] = seen
    assert (req.url.host, req.url.path) == ("api.fal.ai", "/v1/models/requests/by-endpoint")
    q = req.url.params
    assert q["endpoint_id"] == "fal-ai/veo3.1/fast" and q["expand"] == "payloads"
    assert dt.datetime.fromisoformat(q["start"]) == SINCE
    assert req.headers["authorization"] == "Key fal-secret"
