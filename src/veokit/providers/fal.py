"""fal.ai's queue API for Veo 3.1.

  submit   POST {base}/{endpoint}                        -> {request_id, status_url, response_url, cancel_url}
  status   GET  {base}/{owner}/{app}/requests/{id}/status -> IN_QUEUE | IN_PROGRESS | COMPLETED
  result   GET  {base}/{owner}/{app}/requests/{id}        -> {"video": {"url": ...}}
  cancel   PUT  {base}/{owner}/{app}/requests/{id}/cancel
  list     GET  {platform}/v1/models/requests/by-endpoint?endpoint_id=...&start=...&expand=payloads
                (fal's Platform API, https://api.fal.ai: requests that have *ended*, with their ``json_input``)

Auth is ``Authorization: Key <FAL_KEY>``. Each mode is its own endpoint under the model id (the catalog's
``fal-ai/veo3.1`` or ``fal-ai/veo3.1/fast``): ``/image-to-video``, ``/first-last-frame-to-video``,
``/reference-to-video``, ``/extend-video``. Status and result live under the *app* (``owner/app``), not the
endpoint, as fal's own client builds them; the operation name veokit records is
``{owner}/{app}/requests/{request_id}``. Images (and a local video to extend) go inline as data URIs.
"""

from __future__ import annotations

import base64
import datetime as dt
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import AliasChoices, Field, SecretStr

from veokit import errors as E
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, OpState, RemoteVideo
from veokit.providers.http import call_json, new_client
from veokit.providers.lookup import MAX_PAGES, Match, compare, parse_time, read_page, verdict
from veokit.providers.options import ProviderOption, to_wire
from veokit.providers.spec import ProviderSettings, ProviderSpec
from veokit.providers.task_http import data_uri, is_content_policy, json_error_from_response, public_download

DEFAULT_BASE_URL = "https://queue.fal.run"
PLATFORM_BASE_URL = "https://api.fal.ai"  # fal's Platform API (request listings), beside the queue
_NO_REQUEST = "00000000-0000-4000-8000-000000000000"  # a request id no one has: doctor's status probe
_PROBE = GenerateRequest(prompt="doctor")
EXTENSION_DURATION = "7s"  # fal's extend-video adds 7 s, like Veo's own extension
MAX_INLINE_VIDEO_BYTES = 50 * 2**20  # beyond this a data URI is unreasonable: pass the video's URL instead

# fal's Veo 3.1 inputs beyond the common ones, on every endpoint (fal.ai/docs/model-api-reference/
# video-generation-api/veo3.1, .../veo3.1-extend-video, checked 2026-11).
OPTIONS = (
    ProviderOption(
        "auto_fix",
        "bool",
        "let fal rewrite a prompt that fails the content policy or validation instead of failing",
        default="true (false for extend-video)",
    ),
    ProviderOption(
        "safety_tolerance",
        "choice",
        "content moderation level: 1 is the strictest, 6 the most permissive",
        choices=("1", "2", "3", "4", "5", "6"),
        default="4",
    ),
)


def endpoint_and_input(request: GenerateRequest, model: str) -> tuple[str, dict[str, Any]]:
    inp: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "duration": f"{request.duration_seconds}s",
        "resolution": request.resolution,
        "generate_audio": request.generate_audio is not False,
    }
    if request.negative_prompt:
        inp["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        inp["seed"] = request.seed
    if request.reference_images:
        inp["image_urls"] = [data_uri(r) for r in request.reference_images]
        return f"{model}/reference-to-video", inp
    if request.video is not None:
        inp["video_url"] = _video_url(request)
        inp["duration"] = EXTENSION_DURATION
        return f"{model}/extend-video", inp
    if request.image is not None and request.last_frame is not None:
        inp["first_frame_url"] = data_uri(request.image)
        inp["last_frame_url"] = data_uri(request.last_frame)
        return f"{model}/first-last-frame-to-video", inp
    if request.image is not None:
        inp["image_url"] = data_uri(request.image)
        return f"{model}/image-to-video", inp
    return model, inp


def _video_url(request: GenerateRequest) -> str:
    video = request.video
    assert video is not None
    if video.uri and video.uri.startswith(("https://", "http://")):
        return video.uri
    if video.data is not None and len(video.data) <= MAX_INLINE_VIDEO_BYTES:
        return f"data:{video.mime_type};base64,{base64.b64encode(video.data).decode('ascii')}"
    raise E.InvalidRequest(
        f"video: fal extends a video given by URL, or a local MP4 under {MAX_INLINE_VIDEO_BYTES // 2**20} MB",
        field="video",
        provider="fal",
    )


def app_id(endpoint: str) -> str:
    owner, _, rest = endpoint.partition("/")
    return f"{owner}/{rest.split('/', 1)[0]}"


def video_urls(result: Any) -> list[str]:
    if not isinstance(result, dict):
        return []
    items = [result.get("video")] if result.get("video") is not None else list(result.get("videos") or [])
    urls = [i.get("url") if isinstance(i, dict) else i for i in items]
    return [u for u in urls if isinstance(u, str) and u]


class FalProvider:
    name = "fal"

    def __init__(
        self,
        *,
        key: str,
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
        base_url: str | None = None,
        platform_base_url: str | None = None,
    ) -> None:
        self._key = key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # A queue elsewhere (the emulator, a gateway) serves the listing too, unless told otherwise: requests
        # sent there are not in fal's own listing.
        self.platform_base_url = (platform_base_url or base_url or PLATFORM_BASE_URL).rstrip("/")
        self.client = client
        self.offer_lookup = offer_lookup

    def __repr__(self) -> str:
        return f"FalProvider(base_url={self.base_url!r})"

    async def _call(
        self, method: str, path: str, *, json: Any = None, paid: bool = False, url: str | None = None
    ) -> Any:
        doc, _ = await call_json(
            self.client,
            method,
            url or f"{self.base_url}/{path}",
            provider=self.name,
            headers={"Authorization": f"Key {self._key}"},
            json=json,
            paid=paid,
            secrets=(self._key,),
            error_mapper=json_error_from_response,
        )
        return doc

    def _wire(self, request: GenerateRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint and the input a submit sends (a lookup compares listed inputs with this one)."""
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        endpoint, inp = endpoint_and_input(request, offer.model)
        inp.update(to_wire(self.name, OPTIONS, request.options))
        return endpoint, inp

    async def submit(self, request: GenerateRequest) -> str:
        endpoint, inp = self._wire(request)
        doc = await self._call("POST", endpoint, json=inp, paid=True)
        request_id = doc.get("request_id") if isinstance(doc, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise E.UnexpectedResponse(
                f"{self.name}: the request was queued but no request_id came back", provider=self.name
            )
        return f"{app_id(endpoint)}/requests/{request_id}"

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        if "/requests/" not in operation_name:
            raise E.InvalidRequest(f"fal: not a request name: {operation_name!r}", field="operation")
        doc = await self._call("GET", f"{operation_name}/status")
        status = str(doc.get("status") if isinstance(doc, dict) else "")
        if status != "COMPLETED":
            return OperationStatus(OpState.RUNNING, operation_name)
        if doc.get("error"):  # the request ran and failed: the reason is in the status itself
            return self._failed(operation_name, str(doc["error"]), str(doc.get("error_type") or ""))
        try:
            result = await self._call("GET", operation_name)
        except E.ContentFiltered as exc:
            return OperationStatus(OpState.FILTERED, operation_name, error=exc)
        except E.InvalidRequest as exc:  # 422 on the result: the generation itself was refused
            return OperationStatus(
                OpState.FAILED,
                operation_name,
                error=E.GenerationFailed(exc.message, provider=self.name, status_code=exc.status_code),
            )
        urls = video_urls(result)
        if not urls:
            return OperationStatus(
                OpState.FAILED,
                operation_name,
                error=E.GenerationFailed(f"{self.name}: the request completed without a video", provider=self.name),
            )
        return OperationStatus(
            OpState.SUCCEEDED, operation_name, videos=[RemoteVideo(index=i, uri=u) for i, u in enumerate(urls)]
        )

    def _failed(self, name: str, message: str, kind: str) -> OperationStatus:
        message = E.redact(message[:400], self._key)
        if is_content_policy(message, kind):
            return OperationStatus(
                OpState.FILTERED,
                name,
                error=E.ContentFiltered(
                    f"{self.name}: blocked by the content policy: {message}",
                    provider=self.name,
                    reasons=[message],
                    reason=kind or None,
                ),
            )
        return OperationStatus(
            OpState.FAILED,
            name,
            error=E.GenerationFailed(
                f"{self.name}: generation failed: {message}", provider=self.name, reason=kind or None
            ),
        )

    async def find_submitted(self, request: GenerateRequest, *, since: dt.datetime) -> list[str] | None:
        """The requests fal lists for exactly this request since ``since``, oldest first, or ``None``.

        The queue API lists nothing; fal's Platform API does: ``GET /v1/models/requests/by-endpoint`` with
        ``endpoint_id``, ``start`` and ``expand=payloads`` gives each request's ``request_id``, ``sent_at`` and
        ``json_input``, 100 a page with ``next_cursor``/``has_more`` (fal.ai/docs/platform-apis/v1/models/
        requests/by-endpoint). But it is a history of requests that have *ended* (status success, error or
        user_error; sorted by end time), so a Veo request still queued or rendering is not in it yet. So a
        match is an answer (fal accepted it: continue it) and no match is not: it returns ``None``, never
        ``[]``, and the job is set aside rather than submitted again. ``None`` too when the listing fails, runs
        past :data:`~veokit.providers.lookup.MAX_PAGES`, or shows a candidate whose input it cannot show whole
        (payload storage off or deleted, an image sent as a data URI and shown rewritten)."""
        endpoint, ours = self._wire(request)
        # fal's documented form ("2025-01-01T00:00:00Z"); cut to the second, which only widens the window.
        start = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = {"endpoint_id": endpoint, "start": start, "expand": "payloads", "limit": 100}
        found: list[tuple[dt.datetime, str, Match]] = []
        for _ in range(MAX_PAGES):
            url = f"{self.platform_base_url}/v1/models/requests/by-endpoint?{urlencode(query)}"
            page = await read_page(partial(self._call, "GET", "", url=url), "items")
            if page is None:
                return None
            doc, items = page
            for item in items:
                sent = parse_time(item.get("sent_at")) if isinstance(item, dict) else None
                if sent is None or not isinstance(item.get("request_id"), str):
                    return None  # a listing we cannot read says nothing
                if item.get("endpoint_id") != endpoint or sent < since:
                    continue
                name = f"{app_id(endpoint)}/requests/{item['request_id']}"
                found.append((sent, name, compare(ours, item.get("json_input"))))
            if not doc.get("has_more"):
                return verdict(found) or None  # none listed: it may still be running, unlisted
            cursor = doc.get("next_cursor")
            if not isinstance(cursor, str) or not cursor:
                return None
            query["cursor"] = cursor
        return None

    # What check() proves, for `veokit doctor`: fal has no free call that names a model.
    check_covers = "credentials accepted (a free status read); the model itself is not checked until a submit"

    async def check(self, model: str) -> None:
        """``veokit doctor``: read the status of a request that cannot exist. fal answers 401 to a bad key and
        404 to a good one: that tells the key apart without queueing (or paying for) anything."""
        try:
            await self._call("GET", f"{app_id(endpoint_and_input(_PROBE, model)[0])}/requests/{_NO_REQUEST}/status")
        except E.VeokitError as exc:
            if exc.status_code != 404:  # 404: the key was accepted and the request (rightly) not found
                raise

    async def cancel(self, operation_name: str) -> None:
        """Ask fal to drop a queued request (one already running may still complete and be billed)."""
        await self._call("PUT", f"{operation_name}/cancel")

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return public_download(self.name, video)

    async def aclose(self) -> None:
        await self.client.aclose()


class FalSettings(ProviderSettings):
    fal_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VEOKIT_FAL_KEY", "fal_key", "FAL_KEY")
    )
    fal_base_url: str | None = None
    fal_platform_base_url: str | None = None  # fal's Platform API (default: https://api.fal.ai, or fal_base_url)


def build(s: FalSettings, offer_lookup: OfferLookup) -> FalProvider:
    key = s.fal_key.get_secret_value() if s.fal_key is not None else ""
    if not key:
        raise E.ConfigError("fal: no credentials. Set FAL_KEY (or VEOKIT_FAL_KEY)")
    return FalProvider(
        key=key,
        base_url=s.fal_base_url,
        platform_base_url=s.fal_platform_base_url,
        client=new_client(),
        offer_lookup=offer_lookup,
    )


SPEC = ProviderSpec(
    name="fal",
    title="fal.ai queue API (fal-ai/veo3.1)",
    catalog="fal",
    provider_class=FalProvider,
    build=build,
    settings=FalSettings,
    configured=lambda s: bool(s.fal_key and s.fal_key.get_secret_value()),
    credentials="FAL_KEY",
    options=OPTIONS,
    rank=40,
    emulator="veokit.emulator.fal",
)
