"""Replicate's predictions API for Google's Veo 3.1 models.

  submit   POST {base}/v1/models/{owner}/{name}/predictions   {"input": {...}}  -> a prediction
  poll     GET  {base}/v1/predictions/{id}                    status starting | processing | succeeded
                                                              | failed | canceled; ``output`` is the video URL
  cancel   POST {base}/v1/predictions/{id}/cancel
  list     GET  {base}/v1/predictions                         newest first, 100 a page, ``next`` = next page
  check    GET  {base}/v1/models/{owner}/{name}                  (veokit doctor)

Auth is ``Authorization: Bearer <REPLICATE_API_TOKEN>``. Images go inline as data URIs. A prediction that
failed on the safety checker says so in ``error`` (code E005), which becomes ``ContentFiltered``. Output
files of API predictions are deleted after about an hour, so they are downloaded at once.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

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

REPLICATE = "replicate"
DEFAULT_BASE_URL = "https://api.replicate.com"
OPTIONS: tuple[ProviderOption, ...] = ()  # Replicate's Veo 3.1 schema has no inputs beyond the common ones
RUNNING = ("starting", "processing")


def to_input(request: GenerateRequest) -> dict[str, Any]:
    inp: dict[str, Any] = {
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "duration": request.duration_seconds,
        "resolution": request.resolution,
        "generate_audio": request.generate_audio is not False,
    }
    if request.negative_prompt:
        inp["negative_prompt"] = request.negative_prompt
    if request.seed is not None:
        inp["seed"] = request.seed
    if request.image is not None:
        inp["image"] = data_uri(request.image)
    if request.last_frame is not None:
        inp["last_frame"] = data_uri(request.last_frame)
    if request.reference_images:
        inp["reference_images"] = [data_uri(r) for r in request.reference_images]
    inp.update(to_wire(REPLICATE, OPTIONS, request.options))
    return inp


def output_urls(output: Any) -> list[str]:
    items = output if isinstance(output, list) else [output]
    return [u for u in items if isinstance(u, str) and u]


class ReplicateProvider:
    name = REPLICATE

    def __init__(
        self, *, token: str, client: httpx.AsyncClient, offer_lookup: OfferLookup, base_url: str | None = None
    ) -> None:
        self._token = token
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.client = client
        self.offer_lookup = offer_lookup

    def __repr__(self) -> str:
        return f"ReplicateProvider(base_url={self.base_url!r})"

    async def _call(
        self, method: str, path: str, *, json: Any = None, paid: bool = False, url: str | None = None
    ) -> dict[str, Any]:
        doc, _ = await call_json(
            self.client,
            method,
            url or f"{self.base_url}/{path}",
            provider=self.name,
            headers={"Authorization": f"Bearer {self._token}"},
            json=json,
            paid=paid,
            secrets=(self._token,),
            error_mapper=json_error_from_response,
        )
        if not isinstance(doc, dict):
            raise E.UnexpectedResponse(f"{self.name}: answer is not a prediction", provider=self.name)
        return doc

    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        if request.video is not None:
            raise E.InvalidRequest(
                "video: Replicate's Veo models cannot extend a video", field="video", provider=self.name
            )
        doc = await self._call(
            "POST", f"v1/models/{offer.model}/predictions", json={"input": to_input(request)}, paid=True
        )
        prediction_id = doc.get("id")
        if not isinstance(prediction_id, str) or not prediction_id:
            raise E.UnexpectedResponse(f"{self.name}: the prediction was created but has no id", provider=self.name)
        return prediction_id

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        doc = await self._call("GET", f"v1/predictions/{quote(operation_name, safe='')}")
        status = str(doc.get("status") or "")
        if status in RUNNING or not status:
            return OperationStatus(OpState.RUNNING, operation_name)
        if status == "succeeded":
            urls = output_urls(doc.get("output"))
            if urls:
                return OperationStatus(
                    OpState.SUCCEEDED, operation_name, videos=[RemoteVideo(index=i, uri=u) for i, u in enumerate(urls)]
                )
            return OperationStatus(
                OpState.FAILED,
                operation_name,
                error=E.GenerationFailed(
                    f"{self.name}: the prediction succeeded without an output", provider=self.name
                ),
            )
        message = E.redact(str(doc.get("error") or status)[:400], self._token)
        if status == "failed" and is_content_policy(message):
            return OperationStatus(
                OpState.FILTERED,
                operation_name,
                error=E.ContentFiltered(
                    f"{self.name}: blocked by the safety checker: {message}",
                    provider=self.name,
                    reasons=[message],
                    status="E005",
                ),
            )
        return OperationStatus(
            OpState.FAILED,
            operation_name,
            error=E.GenerationFailed(f"{self.name}: prediction {status}: {message}", provider=self.name, status=status),
        )

    async def find_submitted(self, request: GenerateRequest, *, since: dt.datetime) -> list[str] | None:
        """The predictions Replicate created for exactly this request since ``since``, from ``GET
        /v1/predictions`` (every prediction of the account, running ones included, newest first, 100 a page;
        replicate.com/docs/reference/http#predictions.list). Each carries ``model``, ``created_at`` and the
        ``input`` it was given, compared with :func:`to_input`'s. Cannot tell (``None``) when the listing fails,
        runs past :data:`~veokit.providers.lookup.MAX_PAGES` before reaching ``since``, or shows a candidate
        whose input it cannot show whole: an image sent as a data URI (Replicate does not return data URLs
        in ``input``), or a prediction whose data was removed (about an hour after an API prediction ends)."""
        assert request.model is not None
        model = self.offer_lookup(self.name, request.model).model
        ours = to_input(request)
        found: list[tuple[dt.datetime, str, Match]] = []
        url: str | None = f"{self.base_url}/v1/predictions"
        for _ in range(MAX_PAGES):
            assert url is not None
            page = await read_page(partial(self._call, "GET", "", url=url), "results")
            if page is None:
                return None
            doc, results = page
            for item in results:
                if not isinstance(item, dict):
                    return None
                created = parse_time(item.get("created_at"))
                if created is None or not isinstance(item.get("id"), str):
                    return None  # a listing we cannot read says nothing
                if created < since:
                    return verdict(found)  # newest first: the rest is older still
                if item.get("model") not in (None, model):
                    continue
                match = Match.UNSURE if item.get("data_removed") else compare(ours, item.get("input"))
                found.append((created, item["id"], match))
            url = doc.get("next")
            if url is None:
                return verdict(found)
            # The next page's address comes from the server; the token goes nowhere but Replicate's API.
            if not isinstance(url, str) or not url.startswith(f"{self.base_url}/"):
                return None
        return None

    async def check(self, model: str) -> None:
        """``veokit doctor``: a free, authenticated read of the model (401 for a bad token, 404 for no model)."""
        await self._call("GET", f"v1/models/{model}")

    async def cancel(self, operation_name: str) -> None:
        await self._call("POST", f"v1/predictions/{quote(operation_name, safe='')}/cancel")

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return public_download(self.name, video)

    async def aclose(self) -> None:
        await self.client.aclose()


class ReplicateSettings(ProviderSettings):
    replicate_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("VEOKIT_REPLICATE_API_TOKEN", "replicate_api_token", "REPLICATE_API_TOKEN"),
    )
    replicate_base_url: str | None = None


def build(s: ReplicateSettings, offer_lookup: OfferLookup) -> ReplicateProvider:
    token = s.replicate_api_token.get_secret_value() if s.replicate_api_token is not None else ""
    if not token:
        raise E.ConfigError("replicate: no credentials. Set REPLICATE_API_TOKEN (or VEOKIT_REPLICATE_API_TOKEN)")
    return ReplicateProvider(token=token, base_url=s.replicate_base_url, client=new_client(), offer_lookup=offer_lookup)


SPEC = ProviderSpec(
    name=REPLICATE,
    title="Replicate predictions API (google/veo-3.1)",
    catalog=REPLICATE,
    provider_class=ReplicateProvider,
    build=build,
    settings=ReplicateSettings,
    configured=lambda s: bool(s.replicate_api_token and s.replicate_api_token.get_secret_value()),
    credentials="REPLICATE_API_TOKEN",
    rank=50,
    emulator="veokit.emulator.replicate",
)
