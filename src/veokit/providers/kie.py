"""Kie.ai's Veo 3.1 API: a task API at about a quarter of Google's price.

  submit     POST {base}/api/v1/veo/generate            {"code":200,"data":{"taskId":...}}
             POST {base}/api/v1/veo/extend              (video = kie-task://<taskId>)
  poll       GET  {base}/api/v1/veo/record-info?taskId=  successFlag 0 running, 1 done, 2/3 failed
             GET  {base}/api/v1/veo/get-1080p-video?taskId=&index=0   "processing" until the upgrade is ready
  images     POST {upload}/api/file-base64-upload       Kie takes image URLs only, so local images go here
  balance    GET  {base}/api/v1/chat/credit             {"code":200,"data":<credits>}

Auth is ``Authorization: Bearer <key>``. Generation yields 720p; a 1080p request polls ``get-1080p-video``
after the task succeeded (reporting RUNNING while Kie answers "processing"). Results live on temporary hosts
and need no key, so they are downloaded as soon as they exist and no credential ever travels with them.

No lookup of submits (not :class:`~veokit.providers.base.FindsSubmits`): Kie's API reads one task by its id
(``record-info``) and lists none; the task history is a web page (kie.ai/logs, per Kie's own getting-started
notes, old-docs.kie.ai). A generate whose answer was lost therefore cannot be found by its request, and the job
is set aside for ``veokit jobs reconcile`` with the task id from that page. (Kie's callback does name the task,
with its ``promptJson``: a configured callback receiver is the one other way to learn it.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, Field, SecretStr

from veokit import errors as E
from veokit.models.request import GenerateRequest, ImageInput
from veokit.providers import kie_wire as W
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, OpState, RemoteVideo
from veokit.providers.http import call_json, new_client
from veokit.providers.options import ProviderOption, to_wire
from veokit.providers.spec import ProviderSettings, ProviderSpec
from veokit.providers.task_http import data_uri, public_download

DEFAULT_BASE_URL = "https://api.kie.ai"
DEFAULT_UPLOAD_BASE_URL = "https://kieai.redpandaai.co"  # Kie's file-upload API lives on its own host
UPLOAD_PATH = "veokit"
_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_EXTENSION = frozenset({"extension"})

# [KIE] generate's optional fields (docs.kie.ai/veo3-api/generate-veo-3-video); extend takes only watermark.
OPTIONS = (
    ProviderOption(
        "enableTranslation",
        "bool",
        "translate the prompt to English before generating; false sends it as written",
        default="true",
        not_for=_EXTENSION,
    ),
    ProviderOption(
        "enableFallback",
        "bool",
        "switch to Kie's backup model when Veo refuses or fails (16:9, 1080p; cannot be upgraded later)",
        default="false",
        not_for=_EXTENSION,
        deprecated="Kie deprecated it and asks clients to stop sending it; its review no longer needs it",
    ),
    ProviderOption("watermark", "str", "text Kie draws on the video as a watermark"),
)


class KieProvider:
    name = "kie"

    def __init__(
        self,
        *,
        api_key: str,
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
        base_url: str | None = None,
        upload_base_url: str | None = None,
        callback_url: str | None = None,
    ) -> None:
        self._api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        # A custom base URL (a proxy, the emulator) serves uploads too unless told otherwise.
        self.upload_base_url = (upload_base_url or (base_url or DEFAULT_UPLOAD_BASE_URL)).rstrip("/")
        self.client = client
        self.offer_lookup = offer_lookup
        self.callback_url = callback_url

    def __repr__(self) -> str:  # keep the key out of tracebacks
        return f"KieProvider(base_url={self.base_url!r})"

    # -- HTTP ------------------------------------------------------------------------------------------------
    async def _call(self, method: str, url: str, *, json: Any = None, paid: bool = False) -> dict[str, Any]:
        doc, _ = await call_json(
            self.client,
            method,
            url,
            provider=self.name,
            headers={"Authorization": f"Bearer {self._api_key}"},
            json=json,
            paid=paid,
            secrets=(self._api_key,),
            error_mapper=W.kie_error_from_response,
        )
        if not isinstance(doc, dict):
            raise E.UnexpectedResponse(
                f"{self.name}: answer from {url.split('?')[0]} is not a JSON object", provider=self.name
            )
        return doc

    def _checked(self, doc: dict[str, Any]) -> dict[str, Any]:
        return W.raise_for_code(self.name, doc, secrets=(self._api_key,))

    # -- the port --------------------------------------------------------------------------------------------
    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        extra = to_wire(self.name, OPTIONS, request.options)
        if request.video is not None:
            body = {**W.extend_body(request, W.task_id_of_video(request.video.uri), self.callback_url), **extra}
            doc = self._checked(await self._call("POST", f"{self.base_url}/api/v1/veo/extend", json=body, paid=True))
            return W.operation_name(self._task_id(doc), upgrade_1080p=False)
        images = [i for i in (request.image, request.last_frame) if i is not None] or list(request.reference_images)
        urls = [await self.upload(img) for img in images]  # not paid: a failure here sends nothing to generate
        body = {**W.generate_body(request, offer.model, urls, self.callback_url), **extra}
        doc = self._checked(await self._call("POST", f"{self.base_url}/api/v1/veo/generate", json=body, paid=True))
        return W.operation_name(self._task_id(doc), upgrade_1080p=request.resolution == "1080p")

    def _task_id(self, doc: dict[str, Any]) -> str:
        data = doc.get("data")
        task_id = data.get("taskId") or data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise E.UnexpectedResponse(f"{self.name}: the task was created but no taskId came back", provider=self.name)
        return task_id

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        task_id, upgrade = W.parse_operation_name(operation_name)
        doc = self._checked(
            await self._call("GET", f"{self.base_url}/api/v1/veo/record-info?taskId={quote(task_id, safe='')}")
        )
        record = W.parse_record(doc.get("data"))
        if record.state == "running":
            return OperationStatus(OpState.RUNNING, operation_name)
        if record.state == "failed":
            err = record.error(self.name)
            state = OpState.FILTERED if isinstance(err, E.ContentFiltered) else OpState.FAILED
            return OperationStatus(state, operation_name, error=err)
        if upgrade:
            return await self._poll_1080p(operation_name, task_id)
        if not record.urls:
            return OperationStatus(
                OpState.FAILED,
                operation_name,
                error=E.GenerationFailed(f"{self.name}: the task succeeded without a result URL", provider=self.name),
            )
        return OperationStatus(
            OpState.SUCCEEDED, operation_name, videos=[RemoteVideo(index=i, uri=u) for i, u in enumerate(record.urls)]
        )

    async def _poll_1080p(self, operation_name: str, task_id: str) -> OperationStatus:
        url = f"{self.base_url}/api/v1/veo/get-1080p-video?taskId={quote(task_id, safe='')}&index=0"
        try:
            doc = await self._call("GET", url)
        except E.InvalidRequest as exc:  # some deployments say "processing" with HTTP 400
            if W.is_processing(exc.status_code, exc.message):
                return OperationStatus(OpState.RUNNING, operation_name, progress=0.9)
            raise
        code = W.code_of(doc)
        if code != W.OK and W.is_processing(code, str(doc.get("msg") or "")):
            return OperationStatus(OpState.RUNNING, operation_name, progress=0.9)
        result = W.upgrade_url(self._checked(doc).get("data"))
        if result is None:
            return OperationStatus(OpState.RUNNING, operation_name, progress=0.9)
        return OperationStatus(OpState.SUCCEEDED, operation_name, videos=[RemoteVideo(index=0, uri=result)])

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return public_download(self.name, video)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- Kie extras ------------------------------------------------------------------------------------------
    async def upload(self, image: ImageInput) -> str:
        """Upload a local image (Kie keeps it 3 days) and return its URL. The name is the content hash, so the
        same image uploaded twice overwrites itself instead of piling up."""
        name = hashlib.sha256(image.data).hexdigest()[:32] + _EXT.get(image.mime_type, "")
        doc = self._checked(
            await self._call(
                "POST",
                f"{self.upload_base_url}/api/file-base64-upload",
                json={"base64Data": data_uri(image), "uploadPath": UPLOAD_PATH, "fileName": name},
            )
        )
        data = doc.get("data")
        url = (data.get("downloadUrl") or data.get("fileUrl")) if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            raise E.UnexpectedResponse(f"{self.name}: the upload answered without a download URL", provider=self.name)
        return url

    async def balance(self) -> float:
        """Remaining credits (``veokit doctor``); see the catalog's ``usd_per_credit`` for dollars."""
        doc = self._checked(await self._call("GET", f"{self.base_url}/api/v1/chat/credit"))
        data = doc.get("data")
        if isinstance(data, int | float | str) and not isinstance(data, bool):
            try:
                return float(data)
            except ValueError:
                pass
        raise E.UnexpectedResponse(f"{self.name}: credit balance is not a number", provider=self.name)


class KieSettings(ProviderSettings):
    kie_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VEOKIT_KIE_API_KEY", "kie_api_key", "KIE_API_KEY")
    )
    kie_base_url: str | None = None  # a proxy, or `veokit emulator`
    kie_upload_base_url: str | None = None  # default: kie_base_url when set, else Kie's upload host


def build(s: KieSettings, offer_lookup: OfferLookup) -> KieProvider:
    key = s.kie_api_key.get_secret_value() if s.kie_api_key is not None else ""
    if not key:
        raise E.ConfigError("kie: no credentials. Set KIE_API_KEY (or VEOKIT_KIE_API_KEY)")
    return KieProvider(
        api_key=key,
        base_url=s.kie_base_url,
        upload_base_url=s.kie_upload_base_url,
        client=new_client(),
        offer_lookup=offer_lookup,
    )


SPEC = ProviderSpec(
    name="kie",
    title="Kie.ai Veo 3.1 API (task-based; about 25% of Google's price)",
    catalog="kie",
    provider_class=KieProvider,
    build=build,
    settings=KieSettings,
    configured=lambda s: bool(s.kie_api_key and s.kie_api_key.get_secret_value()),
    credentials="KIE_API_KEY",
    options=OPTIONS,
    rank=30,
    emulator="veokit.emulator.kie",
)
