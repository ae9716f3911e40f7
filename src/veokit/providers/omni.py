"""Gemini Omni Flash through the Interactions API on the Gemini Developer API: an AI Studio key is enough.

    POST {base}/v1/interactions                               x-goog-api-key
    GET  {base}/v1/interactions/{id}
    GET  {base}/{version}/files/{id}:download?alt=media       (a URI result, at the version it names)

Every interaction is created with ``background: true`` and followed with GET, so the engine records its id
before the first poll like any operation. Results come back inline (base64, decoded to disk while the body
streams) or as a URI. This API defaults to URI delivery (third parties report inline media capped at a few
MB); ``VEOKIT_OMNI_DELIVERY=inline`` asks for base64. The cost recorded for a job comes from the
interaction's ``usage`` (tokens), not from the catalog's estimate. :class:`InteractionsProvider` is what this
host and Vertex (:mod:`veokit.providers.omni_vertex`) share.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from veokit import errors as E
from veokit.models.catalog import TokenPrice
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, RemoteVideo
from veokit.providers.gemini import GeminiSettings
from veokit.providers.google_auth import ApiKeyAuth, HeaderAuth
from veokit.providers.http import call_json, new_client
from veokit.providers.omni_wire import INLINE_KEYS, error_from_interactions, interaction_id, parse_interaction, to_body
from veokit.providers.spec import ProviderSettings, ProviderSpec

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
Delivery = Literal["inline", "uri"]
# The version the result URI names (the SDK uses v1 since 3.x, third-party docs show v1beta), and the file id.
_FILE_ID = re.compile(r"(?:\b(v\d+(?:alpha|beta)?\d*)/)?files/([a-z0-9]+)")


class InteractionsProvider:
    """What both hosts share: the body, the create call, polling, the answer, the doctor's check."""

    name: str

    def __init__(
        self, *, auth: HeaderAuth, base_url: str, api_version: str, client: httpx.AsyncClient, offer_lookup: OfferLookup
    ) -> None:
        self.auth = auth
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.client = client
        self.offer_lookup = offer_lookup

    # Where each host keeps its interactions, and how it wants results delivered.
    def _collection(self) -> str:
        raise NotImplementedError

    def _name(self, interaction: str) -> str:
        raise NotImplementedError

    def _delivery(self, request: GenerateRequest) -> tuple[Delivery, str | None]:
        raise NotImplementedError

    async def _call(self, method: str, url: str, **kw: Any) -> tuple[Any, Any]:
        return await call_json(
            self.client,
            method,
            url,
            provider=self.name,
            headers=await self.auth.headers(),
            secrets=self.auth.secrets(),
            error_mapper=error_from_interactions,
            **kw,
        )

    async def submit(self, request: GenerateRequest) -> str:
        assert request.model is not None
        offer = self.offer_lookup(self.name, request.model)
        delivery, gcs_uri = self._delivery(request)
        body = to_body(request, delivery=delivery, reference_scheme=offer.extension_reference, gcs_uri=gcs_uri)
        url = f"{self.base_url}/{self.api_version}/{self._collection()}"
        doc, _ = await self._call("POST", url, json=body, paid=True)
        ident = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(ident, str) or not ident:
            raise E.UnexpectedResponse(f"{self.name}: the interaction was created without an id", provider=self.name)
        return self._name(ident)

    def _url(self, operation_name: str) -> str:
        if operation_name.startswith("projects/"):
            return f"{self.base_url}/{self.api_version}/{operation_name}"
        ident = interaction_id(operation_name)
        if not ident:
            raise E.InvalidRequest(f"{self.name}: not an interaction id: {operation_name!r}", field="operation")
        return f"{self.base_url}/{self.api_version}/{self._collection()}/{quote(ident, safe='')}"

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        doc, blobs = await self._call("GET", self._url(operation_name), spool_dir=spool_dir, inline_keys=INLINE_KEYS)
        model = doc.get("model") if isinstance(doc, dict) else None
        return parse_interaction(doc, blobs, self.name, self._token_price(model))

    def _token_price(self, model: Any) -> TokenPrice | None:
        """The price table for the model the interaction names; without one the engine prices by the catalog."""
        if not isinstance(model, str):
            return None
        try:
            return self.offer_lookup(self.name, model.removeprefix("models/")).token_price
        except E.VeokitError:
            return None

    async def aclose(self) -> None:
        await self.client.aclose()


class OmniProvider(InteractionsProvider):
    """The Gemini Developer API: an AI Studio key, URI results from the Files API (or inline ones)."""

    name = "omni"

    def __init__(
        self,
        *,
        auth: HeaderAuth,
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
        base_url: str | None = None,
        api_version: str = "v1",
        files_api_version: str = "v1beta",
        delivery: Delivery = "uri",
    ) -> None:
        super().__init__(
            auth=auth,
            base_url=base_url or GEMINI_BASE_URL,
            api_version=api_version,
            client=client,
            offer_lookup=offer_lookup,
        )
        self.files_api_version = files_api_version
        self.delivery: Delivery = delivery

    def _collection(self) -> str:
        return "interactions"

    def _name(self, interaction: str) -> str:
        return interaction

    def _delivery(self, request: GenerateRequest) -> tuple[Delivery, str | None]:
        return self.delivery, None

    async def check(self, model: str) -> None:
        """models.get: free and authenticated; 404 for a model the key cannot use."""
        await self._call("GET", f"{self.base_url}/{self.api_version}/models/{model}")

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        # Like the SDK (and as a proxy needs), keep only the file id and fetch it from our own base URL.
        m = _FILE_ID.search(video.uri or "")
        if not m:
            raise E.InvalidRequest(f"{self.name}: result URI has no file id: {video.uri!r}", field="uri")
        version = m.group(1) or self.files_api_version
        url = f"{self.base_url}/{version}/files/{m.group(2)}:download?alt=media"
        return DownloadTarget(url, await self.auth.headers(), self.auth.secret_headers)


# -- the registry's view ----------------------------------------------------------------------------------
class OmniSettings(ProviderSettings):
    """Omni's own settings; its credential is the Gemini API key (GeminiSettings), the same AI Studio key."""

    omni_base_url: str | None = None  # a proxy, or `veokit emulator`
    omni_delivery: Delivery = "uri"  # how the Gemini API returns videos (see the module docstring)


def _gemini_key(s: ProviderSettings) -> str | None:
    # veokit's Settings holds every provider's fields; the key is the one the gemini provider declares.
    key = s.gemini_api_key if isinstance(s, GeminiSettings) else None
    return key.get_secret_value() if key is not None and key.get_secret_value() else None


def build(s: OmniSettings, offer_lookup: OfferLookup) -> OmniProvider:
    key = _gemini_key(s)
    if key is None:
        raise E.ConfigError("omni: no API key. Set GEMINI_API_KEY (or GOOGLE_API_KEY): an AI Studio key")
    return OmniProvider(
        auth=ApiKeyAuth(key),
        base_url=s.omni_base_url,
        delivery=s.omni_delivery,
        client=new_client(),
        offer_lookup=offer_lookup,
    )


SPEC = ProviderSpec(
    name="omni",
    title="Gemini Omni Flash on the Gemini API (Interactions API; an AI Studio key)",
    catalog="omni",
    provider_class=OmniProvider,
    build=build,
    settings=OmniSettings,
    configured=lambda s: _gemini_key(s) is not None,
    credentials="GEMINI_API_KEY",
    # Before gemini: Veo left the Gemini API (2026-10-22), so a key alone makes videos with Omni.
    rank=18,
    emulator="veokit.emulator.omni",
)
