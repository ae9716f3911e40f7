"""Vertex AI / Gemini Enterprise Agent Platform: predictLongRunning + fetchPredictOperation.

Paths (REST reference, /v1/; the google-genai SDK uses /v1beta1/):
  project mode  POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
  express mode  POST {base}/v1/publishers/google/models/{m}:predictLongRunning      (x-goog-api-key)
  poll          POST {base}/v1/{operation name up to /operations}:fetchPredictOperation {"operationName": ...}
Results come inline as base64 (decoded to disk while streaming) or, with storageUri, as gs:// objects
fetched through the Cloud Storage JSON API with the same bearer token.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

from veokit.errors import InvalidRequest
from veokit.models.catalog import Offer
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OperationStatus, RemoteVideo
from veokit.providers.google_auth import HeaderAuth
from veokit.providers.google_wire import parse_operation, to_body
from veokit.providers.http import call_json


def default_base_url(location: str) -> str:
    return (
        "https://aiplatform.googleapis.com"
        if location in ("", "global")
        else f"https://{location}-aiplatform.googleapis.com"
    )


class VertexProvider:
    name = "vertex"

    def __init__(
        self,
        *,
        auth: HeaderAuth,
        project: str | None,
        location: str = "us-central1",
        base_url: str | None = None,
        storage_base_url: str | None = None,
        api_version: str = "v1",
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
    ) -> None:
        self.auth = auth
        self.project = project
        self.location = location
        self.base_url = (base_url or default_base_url(location)).rstrip("/")
        self.storage_base_url = (storage_base_url or (base_url or "https://storage.googleapis.com")).rstrip("/")
        self.api_version = api_version
        self.client = client
        self.offer_lookup = offer_lookup

    def _model_path(self, model: str) -> str:
        if self.project:
            return (
                f"{self.api_version}/projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"
            )
        return f"{self.api_version}/publishers/google/models/{model}"

    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        body = to_body(request, "vertex", audio_optional=offer.audio == "optional")
        url = f"{self.base_url}/{self._model_path(request.model)}:predictLongRunning"
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
            from veokit.errors import UnexpectedResponse

            raise UnexpectedResponse("vertex: submit answered without an operation name", provider=self.name)
        return str(name)

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        resource = operation_name.rpartition("/operations/")[0]
        if not resource:
            raise InvalidRequest(f"vertex: not an operation name: {operation_name!r}", field="operation")
        url = f"{self.base_url}/{self.api_version}/{resource}:fetchPredictOperation"
        doc, blobs = await call_json(
            self.client,
            "POST",
            url,
            provider=self.name,
            headers=await self.auth.headers(),
            json={"operationName": operation_name},
            spool_dir=spool_dir,
            secrets=self.auth.secrets(),
        )
        return parse_operation(doc, "vertex", blobs, self.name)

    async def check(self, model: str) -> None:
        """An authenticated, free call: proves the credentials work and the model is offered."""
        url = f"{self.base_url}/{self.api_version}/publishers/google/models/{model}"
        await call_json(
            self.client, "GET", url, provider=self.name, headers=await self.auth.headers(), secrets=self.auth.secrets()
        )

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        if not video.uri or not video.uri.startswith("gs://"):
            raise InvalidRequest(f"vertex: cannot download {video.uri!r}", field="uri")
        bucket, _, obj = video.uri[5:].partition("/")
        url = f"{self.storage_base_url}/storage/v1/b/{bucket}/o/{quote(obj, safe='')}?alt=media"
        return DownloadTarget(url, await self.auth.headers(), self.auth.secret_headers)

    async def aclose(self) -> None:
        await self.client.aclose()


from collections.abc import Callable  # noqa: E402

OfferLookup = Callable[[str, str], Offer]
