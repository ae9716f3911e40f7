"""Vertex AI / Gemini Enterprise Agent Platform: predictLongRunning + fetchPredictOperation.

Paths (REST reference, /v1/; the google-genai SDK uses /v1beta1/):
  project mode  POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
  express mode  POST {base}/v1/publishers/google/models/{m}:predictLongRunning      (x-goog-api-key)
  poll          POST {base}/v1/{operation name up to /operations}:fetchPredictOperation {"operationName": ...}
Results come inline as base64 (decoded to disk while streaming) or, with storageUri, as gs:// objects
fetched through the Cloud Storage JSON API with the same bearer token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, Field, SecretStr

from veokit.errors import ConfigError, InvalidRequest, UnexpectedResponse
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, RemoteVideo
from veokit.providers.google_auth import (
    ApiKeyAuth,
    GoogleCredentialsAuth,
    HeaderAuth,
    application_default,
    static_token_credentials,
)
from veokit.providers.google_wire import parse_operation, to_body
from veokit.providers.http import call_json, new_client
from veokit.providers.lookup import read_page
from veokit.providers.options import ProviderOption, to_wire
from veokit.providers.spec import ProviderSettings, ProviderSpec

# [VX-PARAMS] parameters Vertex takes beyond the request's common fields (the Gemini API refuses them).
OPTIONS = (
    ProviderOption(
        "compressionQuality",
        "choice",
        "how the output video is compressed: optimized (smaller files) or lossless (larger, best quality)",
        choices=("optimized", "lossless"),
        default="optimized",
    ),
    ProviderOption(
        "resizeMode",
        "choice",
        "how an input image of another aspect ratio is fitted: crop it, or pad it (Veo 3 image-to-video)",
        choices=("crop", "pad"),
        only_for=frozenset({"image_to_video"}),
    ),
)


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
        self.storage_base_url = storage_base(storage_base_url, base_url)
        self.api_version = api_version
        self.client = client
        self.offer_lookup = offer_lookup

    def _model_path(self, model: str) -> str:
        if self.project:
            return (
                f"{self.api_version}/projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"
            )
        return f"{self.api_version}/publishers/google/models/{model}"

    def _body(self, request: GenerateRequest) -> dict[str, Any]:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        extra = to_wire(self.name, OPTIONS, request.options)
        return to_body(request, "vertex", audio_optional=offer.audio == "optional", extra_params=extra)

    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        body = self._body(request)
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

    async def find_submitted(self, request: GenerateRequest, *, since: dt.datetime) -> list[str] | None:
        """Vertex lists no Veo operations, so on Google this cannot tell (``None``). The emulator's
        ``/_emulator/operations`` stands in for a provider's listing when ``base_url`` points elsewhere: it
        names each operation's request by the SHA-256 of its canonical JSON, compared with what we would send."""
        if self.base_url == default_base_url(self.location).rstrip("/"):
            return None
        canonical = json.dumps(self._body(request), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        url = f"{self.base_url}/_emulator/operations"

        async def read() -> Any:
            return (await call_json(self.client, "GET", url, provider=self.name, headers={}))[0]

        page = await read_page(read, "operations")
        if page is None:
            return None
        _, listed = page
        found: list[tuple[dt.datetime, str]] = []
        for op in listed:
            if not isinstance(op, dict) or op.get("request_sha256") != digest:
                continue
            try:
                created = dt.datetime.fromisoformat(str(op["created"]).replace("Z", "+00:00"))
            except (KeyError, ValueError):
                return None  # a listing we cannot read says nothing
            if created >= since:
                found.append((created, str(op["name"])))
        return [name for _, name in sorted(found)]

    async def check(self, model: str) -> None:
        """An authenticated, free call: proves the credentials work and the model is offered."""
        url = f"{self.base_url}/{self.api_version}/publishers/google/models/{model}"
        await call_json(
            self.client, "GET", url, provider=self.name, headers=await self.auth.headers(), secrets=self.auth.secrets()
        )

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return await cloud_storage_target(self.name, self.storage_base_url, self.auth, video.uri)

    async def aclose(self) -> None:
        await self.client.aclose()


class VertexSettings(ProviderSettings):
    vertex_project: str | None = Field(
        default=None, validation_alias=AliasChoices("VEOKIT_VERTEX_PROJECT", "vertex_project", "GOOGLE_CLOUD_PROJECT")
    )
    vertex_location: str = Field(
        default="us-central1",
        validation_alias=AliasChoices("VEOKIT_VERTEX_LOCATION", "vertex_location", "GOOGLE_CLOUD_LOCATION"),
    )
    vertex_base_url: str | None = None
    vertex_storage_base_url: str | None = None
    vertex_api_key: SecretStr | None = None  # express mode
    vertex_access_token: SecretStr | None = None  # a ready token, e.g. `gcloud auth print-access-token`
    vertex_quota_project: str | None = None


def configured(s: VertexSettings) -> bool:
    adc_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    return bool(s.vertex_api_key or s.vertex_access_token or s.vertex_project or adc_file)


def credentials(s: VertexSettings, provider: str = "vertex") -> tuple[HeaderAuth, str | None]:
    """Express mode (API key), a ready access token, or Application Default Credentials, in that order; and the
    project (None in express mode). Every provider on the Vertex account (Veo here, Omni) authenticates so."""
    auth: HeaderAuth
    project = s.vertex_project
    if s.vertex_api_key is not None:
        auth = ApiKeyAuth(s.vertex_api_key.get_secret_value())
        project = None  # express mode: the key's project is implied
    elif s.vertex_access_token is not None:
        auth = GoogleCredentialsAuth(
            static_token_credentials(s.vertex_access_token.get_secret_value()), quota_project=s.vertex_quota_project
        )
    else:
        creds, project = application_default(project)
        auth = GoogleCredentialsAuth(creds, quota_project=s.vertex_quota_project)
    if project is None and s.vertex_api_key is None:
        raise ConfigError(f"{provider}: no project. Set VEOKIT_VERTEX_PROJECT (or GOOGLE_CLOUD_PROJECT)")
    return auth, project


def account(s: VertexSettings, provider: str = "vertex") -> dict[str, Any]:
    """The constructor arguments every provider on the Vertex account shares: credentials, project, location,
    endpoints and an HTTP client."""
    auth, project = credentials(s, provider)
    return {
        "auth": auth,
        "project": project,
        "location": s.vertex_location,
        "base_url": s.vertex_base_url,
        "storage_base_url": s.vertex_storage_base_url,
        "client": new_client(),
    }


def storage_base(storage_base_url: str | None, base_url: str | None) -> str:
    """Cloud Storage's endpoint: the one configured, else the API's own (one emulator serves both), else Google's."""
    return (storage_base_url or base_url or "https://storage.googleapis.com").rstrip("/")


async def cloud_storage_target(
    provider: str, storage_base_url: str, auth: HeaderAuth, uri: str | None
) -> DownloadTarget:
    """A ``gs://`` result, fetched through Cloud Storage's JSON API (``alt=media``) with the account's credentials."""
    if not uri or not uri.startswith("gs://"):
        raise InvalidRequest(f"{provider}: cannot download {uri!r}", field="uri")
    bucket, _, obj = uri[5:].partition("/")
    url = f"{storage_base_url}/storage/v1/b/{bucket}/o/{quote(obj, safe='')}?alt=media"
    return DownloadTarget(url, await auth.headers(), auth.secret_headers)


def build(s: VertexSettings, offer_lookup: OfferLookup) -> VertexProvider:
    return VertexProvider(**account(s), offer_lookup=offer_lookup)


SPEC = ProviderSpec(
    name="vertex",
    title="Vertex AI / Gemini Enterprise Agent Platform (predictLongRunning)",
    catalog="vertex",
    provider_class=VertexProvider,
    build=build,
    settings=VertexSettings,
    configured=configured,
    credentials="VEOKIT_VERTEX_PROJECT + Google credentials, or VEOKIT_VERTEX_API_KEY",
    options=OPTIONS,
    rank=10,
    emulator="veokit.emulator.vertex",
)
