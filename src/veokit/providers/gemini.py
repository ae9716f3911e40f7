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
from pydantic import AliasChoices, Field, SecretStr

from veokit.errors import ConfigError, InvalidRequest, UnexpectedResponse
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, RemoteVideo
from veokit.providers.google_auth import ApiKeyAuth, HeaderAuth
from veokit.providers.google_wire import parse_operation, to_body
from veokit.providers.http import call_json, new_client
from veokit.providers.options import ProviderOption, to_wire
from veokit.providers.spec import ProviderSettings, ProviderSpec

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
OPTIONS: tuple[ProviderOption, ...] = ()  # the API refuses Vertex's extra parameters (so does the SDK in mldev mode)
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
        extra = to_wire(self.name, OPTIONS, request.options)
        body = to_body(request, "gemini", audio_optional=offer.audio == "optional", extra_params=extra)
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


class GeminiSettings(ProviderSettings):
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("VEOKIT_GEMINI_API_KEY", "gemini_api_key", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
    )
    gemini_base_url: str | None = None  # e.g. a LiteLLM proxy's /gemini passthrough


def build(s: GeminiSettings, offer_lookup: OfferLookup) -> GeminiProvider:
    if s.gemini_api_key is None:
        raise ConfigError("gemini: no API key. Set GEMINI_API_KEY (or GOOGLE_API_KEY)")
    return GeminiProvider(
        auth=ApiKeyAuth(s.gemini_api_key.get_secret_value()),
        base_url=s.gemini_base_url,
        client=new_client(),
        offer_lookup=offer_lookup,
    )


SPEC = ProviderSpec(
    name="gemini",
    title="Gemini Developer API (v1beta predictLongRunning; also LiteLLM's /gemini passthrough)",
    catalog="gemini",
    provider_class=GeminiProvider,
    build=build,
    settings=GeminiSettings,
    configured=lambda s: bool(s.gemini_api_key),
    credentials="GEMINI_API_KEY",
    rank=20,
    emulator="veokit.emulator.gemini",
)
