"""The Interactions API wire format for Omni: request bodies, every way an interaction can end, and errors.

Pure functions at the provider's seam; the same shapes go over real HTTP in the integration tests.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from veokit import errors as E
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.providers.base import OpState
from veokit.providers.inline_json import InlineJsonReader
from veokit.providers.omni_wire import INLINE_KEYS, error_from_interactions, parse_interaction, to_body

PRICE = default_catalog().find("omni", "gemini-omni-1.2-flash").token_price  # type: ignore[union-attr]


def png(color: str) -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), color).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def body(**kw: object) -> dict:
    request = GenerateRequest(**{"prompt": "a fox", "model": "gemini-omni-1.2-flash", **kw})  # type: ignore[arg-type]
    return to_body(request, delivery="uri", reference_scheme="omni-interaction:")


def test_text_to_video_body_is_what_the_sdk_sends() -> None:
    b = body(aspect_ratio="9:16", resolution="1080p", duration_seconds=12, seed=7)
    assert b == {
        "model": "gemini-omni-1.2-flash",
        "background": True,
        "input": [{"type": "user_input", "content": [{"type": "text", "text": "a fox"}]}],
        "response_format": {
            "type": "video",
            "aspect_ratio": "9:16",
            "resolution": "1080p",
            "duration": "12s",
            "delivery": "uri",
        },
        "generation_config": {"video_config": {"task": "text_to_video"}, "seed": 7},
    }


def test_frames_references_and_extensions_pick_the_task() -> None:
    red, blue = png("red"), png("blue")
    flf = body(image=red, last_frame=blue)
    assert flf["generation_config"]["video_config"]["task"] == "image_to_video"
    assert [c["type"] for c in flf["input"][0]["content"]] == ["text", "image", "image"]
    assert flf["input"][0]["content"][1]["data"] == red.b64  # first frame first
    refs = body(reference_images=(red, blue))
    assert refs["generation_config"]["video_config"]["task"] == "reference_to_video"
    by_ref = body(video=VideoInput(uri="omni-interaction://v1_abc"))
    assert by_ref["previous_interaction_id"] == "v1_abc" and len(by_ref["input"][0]["content"]) == 1
    by_uri = body(video=VideoInput(uri="https://generativelanguage.googleapis.com/v1beta/files/abc"))
    assert by_uri["input"][0]["content"][1] == {
        "type": "video",
        "uri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
        "mime_type": "video/mp4",
    }
    assert body(video=VideoInput(data=b"\0\0mp4"))["input"][0]["content"][1]["data"] == "AABtcDQ="
    assert by_uri["generation_config"]["video_config"]["task"] == "extend"
    vertex = to_body(
        GenerateRequest(prompt="x", model="m", video=VideoInput(uri="omni-vertex-interaction://projects/p/x/v1_q")),
        delivery="uri",
        reference_scheme="omni-vertex-interaction:",
        gcs_uri="gs://b/o",
    )
    assert vertex["previous_interaction_id"] == "v1_q" and vertex["response_format"]["gcs_uri"] == "gs://b/o"


def interaction(status: str, *content: dict, **extra: object) -> dict:
    steps: list[dict] = [{"type": "user_input", "content": [{"type": "text", "text": "a fox"}]}]
    if content:
        steps.append({"type": "model_output", "content": list(content)})
    return {"id": "v1_x", "model": "gemini-omni-1.2-flash", "status": status, "steps": steps, **extra}


USAGE = {
    "total_input_tokens": 10,
    "total_output_tokens": 46336,
    "output_tokens_by_modality": [{"modality": "video", "tokens": 46336}],
    "total_thought_tokens": 100,
}


@pytest.mark.parametrize("status", ["queued", "in_progress", "requires_continuation", "something_new"])
def test_unfinished_statuses_keep_polling(status: str) -> None:
    assert parse_interaction(interaction(status), [], "omni", PRICE).state is OpState.RUNNING


def test_a_uri_result_and_its_cost_from_usage() -> None:
    doc = interaction(
        "completed", {"type": "video", "uri": "https://h/v1beta/files/abc:download?alt=media"}, usage=USAGE
    )
    st = parse_interaction(doc, [], "omni", PRICE)
    assert st.state is OpState.SUCCEEDED and st.videos[0].uri and st.videos[0].uri.endswith("alt=media")
    assert st.usage is not None and (st.usage.video_output_tokens, st.usage.other_output_tokens) == (46336, 100)
    assert st.cost_usd == pytest.approx((46336 * 17.5 + 100 * 9 + 10 * 1.5) / 1e6)


def test_inline_results_stream_to_disk_and_echoed_inputs_are_not_kept(tmp_path: Path) -> None:
    doc = interaction("completed", {"type": "video", "mime_type": "video/mp4", "data": "AAAAAAAA"}, usage=USAGE)
    doc["steps"][0]["content"].append({"type": "image", "data": "iVBORw0K", "mime_type": "image/png"})
    reader = InlineJsonReader(tmp_path, keys=INLINE_KEYS)
    raw = json.dumps(doc).encode()
    for i in range(0, len(raw), 7):  # keys and values split across chunks
        reader.feed(raw[i : i + 7])
    parsed, blobs = reader.finish()
    assert len(blobs) == 2
    st = parse_interaction(parsed, blobs, "omni", PRICE)
    [video] = st.videos
    assert video.inline_path is not None and video.inline_path.read_bytes() == bytes(6)
    assert [p.name for p in tmp_path.iterdir()] == [video.inline_path.name]  # the echoed image is gone


def test_blocked_videos_are_filtered_with_the_reason() -> None:
    failed = interaction("failed", errors=[{"code": "safety", "message": "blocked: unsafe content"}])
    st = parse_interaction(failed, [], "omni", PRICE)
    assert st.state is OpState.FILTERED and isinstance(st.error, E.ContentFiltered)
    assert st.error.reasons == ["blocked: unsafe content"] and st.cost_usd is None
    # Reported live by a third party: a refusal can also come back "completed" with text and no video.
    refused = parse_interaction(
        interaction("completed", {"type": "text", "text": "I can't make that."}), [], "omni", PRICE
    )
    assert refused.state is OpState.FILTERED and "I can't make that." in refused.error.message  # type: ignore[union-attr]


def test_failures_are_typed_and_retryable_only_when_the_service_says_so() -> None:
    internal = parse_interaction(
        interaction("failed", errors=[{"code": "api_error", "message": "boom"}]), [], "o", None
    )
    assert internal.state is OpState.FAILED and isinstance(internal.error, E.GenerationFailed)
    assert internal.error.retryable and "boom" in internal.error.message
    step_error = interaction("failed")
    step_error["steps"].append({"type": "model_output", "error": {"code": 3, "message": "bad frame"}})
    bad = parse_interaction(step_error, [], "o", None)
    assert bad.state is OpState.FAILED and bad.error is not None and not bad.error.retryable
    assert bad.error.status == "invalid_argument"
    for status in ("cancelled", "incomplete", "budget_exceeded"):
        assert parse_interaction(interaction(status), [], "o", None).state is OpState.FAILED
    lost = parse_interaction(interaction("completed", {"type": "text", "text": "x"}, usage=USAGE), [], "o", None)
    assert lost.state is OpState.FAILED  # billed video tokens but no video: not a content block
    blocked = interaction("completed", errors=[{"code": "prohibited_content", "message": "no"}])
    assert parse_interaction(blocked, [], "o", None).state is OpState.FILTERED  # an error speaks for itself


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (400, {"error": {"code": "invalid_request", "message": "bad duration"}}, E.InvalidRequest, False),
        (400, {"error": {"code": "safety", "message": "unsafe prompt"}}, E.ContentFiltered, False),
        (401, {"error": {"code": "authentication", "message": "no"}}, E.AuthenticationError, False),
        (402, {"error": {"code": "payment_required", "message": "prepay"}}, E.BillingError, False),
        (404, {"error": {"code": "model_not_found", "message": "no model"}}, E.ModelNotFound, False),
        (404, {"error": {"code": "not_found", "message": "no interaction"}}, E.InvalidRequest, False),
        (429, {"error": {"code": "quota_exceeded", "message": "daily"}}, E.QuotaExhausted, False),
        (501, {"error": {"code": "unimplemented", "message": "no"}}, E.InvalidRequest, False),
        (503, {"error": {"code": "service_unavailable", "message": "busy"}}, E.ServerError, True),
        (500, {"error": {"code": "something_new", "message": "?"}}, E.ServerError, True),
        # Google's front end answers credential failures in google.rpc shape, sometimes inside a list.
        (
            400,
            [
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "API key not valid.",
                        "details": [{"@type": "x.ErrorInfo", "reason": "API_KEY_INVALID"}],
                    }
                }
            ],
            E.AuthenticationError,
            False,
        ),
        (503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "overloaded"}}, E.ServerError, True),
    ],
)
def test_interactions_errors_map_to_the_error_tree(status: int, body: object, kind: type, retryable: bool) -> None:
    err = error_from_interactions("omni", status, json.dumps(body))
    assert type(err) is kind and err.retryable is retryable and err.status_code == status


def test_rate_limits_keep_the_servers_delay_and_secrets_never_show() -> None:
    body = {
        "error": {
            "code": "rate_limit_exceeded",
            "message": "slow down, key AIzaSyA-secret-secret-secret-12345",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
        }
    }
    err = error_from_interactions("omni", 429, json.dumps(body), secrets=("AIzaSyA-secret-secret-secret-12345",))
    assert isinstance(err, E.RateLimited) and err.retry_after_s == 7.0 and "secret" not in err.message
    header = error_from_interactions(
        "omni", 429, json.dumps({"error": {"code": "too_many_requests"}}), httpx.Headers({"retry-after": "3"})
    )
    assert isinstance(header, E.RateLimited) and header.retry_after_s == 3.0


async def test_uri_results_are_fetched_from_our_base_url_at_the_version_they_name() -> None:
    from veokit.providers.base import RemoteVideo
    from veokit.providers.google_auth import ApiKeyAuth
    from veokit.providers.omni import OmniProvider

    async with httpx.AsyncClient() as client:
        p = OmniProvider(auth=ApiKeyAuth("k"), base_url="http://proxy:4000/gemini/", client=client, offer_lookup=None)  # type: ignore[arg-type]
        v1beta = await p.download_target(
            RemoteVideo(0, uri="https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media")
        )
        assert v1beta.url == "http://proxy:4000/gemini/v1beta/files/abc123:download?alt=media"
        assert v1beta.headers == {"x-goog-api-key": "k"} and "k" not in repr(v1beta)
        bare = await p.download_target(RemoteVideo(0, uri="files/xyz"))
        assert bare.url == "http://proxy:4000/gemini/v1beta/files/xyz:download?alt=media"
        with pytest.raises(E.InvalidRequest):
            await p.download_target(RemoteVideo(0, uri="https://elsewhere/video.mp4"))
