"""Gemini Developer API (v1beta) — and anything speaking it, such as LiteLLM's ``/gemini`` passthrough.

  submit    POST {base}/v1beta/models/{m}:predictLongRunning      x-goog-api-key
  poll      GET  {base}/v1beta/{operation name}
  download  GET  {base}/v1beta/files/{id}:download?alt=media      x-goog-api-key, answers 302 to the bytes

The result URI names Google's host; like the SDK (and as a proxy needs), we take only the file id from it
and download from the configured base URL. The key goes in a header, never in a URL.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from veokit.errors import InvalidRequest, UnexpectedResponse
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OperationStatus, RemoteVideo
from veokit.providers.google_auth import HeaderAuth
from veokit.providers.google_wire import parse_operation, to_body
from veokit.providers.http import call_json
from veokit.providers.vertex import OfferLookup

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_FILE_ID = re.compile(r"files/([a-z0-9]+)")


class GeminiProvider:
    name = "gemini"

    def __init__(
        self,
        *,
        auth: HeaderAuth,
        base_url: str | None = None,
        api_version: str = "v1beta",
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
    ) -> None:
        self.auth = auth
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_version = api_version
        self.client = client
        self.offer_lookup = offer_lookup

    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        body = to_body(request, "gemini", audio_optional=offer.audio == "optional")
        url = f"{self.base_url}/{self.api_version}/models/{request.model}:predictLongRunning"
        doc, _ = await call_json(
            self.client,
            "POST",
            url,
            provider=self.name,
            headers=await self.auth.headers(),
            json=body,
            paid=True,
            secrets=self.auth.secrets(),
        )
        name = doc.get("name") if isinstance(doc, dict) else None
        if not name:
            raise UnexpectedResponse("gemini: submit answered without an operation name", provider=self.name)
        return str(name)

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        if "/operations/" not in operation_name:
            raise InvalidRequest(f"gemini: not an operation name: {operation_name!r}", field="operation")
        url = f"{self.base_url}/{self.api_version}/{operation_name}"
        doc, blobs = await call_json(
            self.client,
            "GET",
            url,
            provider=self.name,
            headers=await self.auth.headers(),
            spool_dir=spool_dir,
            secrets=self.auth.secrets(),
        )
        return parse_operation(doc, "gemini", blobs, self.name)

    async def check(self, model: str) -> None:
        """models.get: free, authenticated, and 404 for models Google has shut down."""
        url = f"{self.base_url}/{self.api_version}/models/{model}"
        await call_json(
            self.client, "GET", url, provider=self.name, headers=await self.auth.headers(), secrets=self.auth.secrets()
        )

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        m = _FILE_ID.search(video.uri or "")
        if not m:
            raise InvalidRequest(f"gemini: result URI has no file id: {video.uri!r}", field="uri")
        url = f"{self.base_url}/{self.api_version}/files/{m.group(1)}:download?alt=media"
        return DownloadTarget(url, await self.auth.headers(), self.auth.secret_headers)

    async def aclose(self) -> None:
        await self.client.aclose()
