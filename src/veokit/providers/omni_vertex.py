"""Gemini Omni Flash on Vertex AI / Agent Platform: the Interactions API under a project (or express mode).

    POST {base}/v1beta1/projects/{p}/locations/{l}/interactions   bearer (ADC), or express mode:
    POST {base}/v1beta1/interactions                              x-goog-api-key
    GET  {base}/v1beta1/{interaction name}
    GET  {storage}/storage/v1/b/{bucket}/o/{object}?alt=media     (with --storage-uri)

The protocol is the Gemini API's (:mod:`veokit.providers.omni`) under Vertex's paths and credentials, as
google-genai 3.4.0 sends it. Results come inline, or as objects in the caller's bucket with ``storage_uri``.
"""

from __future__ import annotations

import httpx

from veokit.models.request import GenerateRequest
from veokit.providers import vertex
from veokit.providers.base import DownloadTarget, OfferLookup, RemoteVideo
from veokit.providers.google_auth import HeaderAuth
from veokit.providers.omni import Delivery, InteractionsProvider
from veokit.providers.spec import ProviderSpec
from veokit.providers.vertex import VertexSettings, default_base_url


class OmniVertexProvider(InteractionsProvider):
    """Vertex AI / Agent Platform: a project and location (or express mode with a key); inline results, or
    objects in the caller's bucket with ``storage_uri``."""

    name = "omni-vertex"

    def __init__(
        self,
        *,
        auth: HeaderAuth,
        project: str | None,
        client: httpx.AsyncClient,
        offer_lookup: OfferLookup,
        location: str = "us-central1",
        base_url: str | None = None,
        storage_base_url: str | None = None,
        api_version: str = "v1beta1",
    ) -> None:
        super().__init__(
            auth=auth,
            base_url=base_url or default_base_url(location),
            api_version=api_version,
            client=client,
            offer_lookup=offer_lookup,
        )
        self.project = project
        self.location = location
        self.storage_base_url = vertex.storage_base(storage_base_url, base_url)

    def _collection(self) -> str:
        if self.project:
            return f"projects/{self.project}/locations/{self.location}/interactions"
        return "interactions"  # express mode: the key names the project

    def _name(self, interaction: str) -> str:
        # The full resource name, so a resume after the settings changed still polls the right place.
        return f"{self._collection()}/{interaction}" if self.project else interaction

    def _delivery(self, request: GenerateRequest) -> tuple[Delivery, str | None]:
        if request.storage_uri:
            return "uri", request.storage_uri
        return "inline", None

    async def check(self, model: str) -> None:
        await self._call("GET", f"{self.base_url}/{self.api_version}/publishers/google/models/{model}")

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return await vertex.cloud_storage_target(self.name, self.storage_base_url, self.auth, video.uri)


def build_vertex(s: VertexSettings, offer_lookup: OfferLookup) -> OmniVertexProvider:
    return OmniVertexProvider(**vertex.account(s, "omni-vertex"), offer_lookup=offer_lookup)


SPEC = ProviderSpec(
    name="omni-vertex",
    title="Gemini Omni Flash on Vertex AI / Agent Platform (Interactions API)",
    catalog="omni-vertex",
    provider_class=OmniVertexProvider,
    build=build_vertex,
    settings=VertexSettings,  # the Vertex account's settings, shared with Veo on Vertex
    configured=vertex.configured,
    credentials="VEOKIT_VERTEX_PROJECT + Google credentials, or VEOKIT_VERTEX_API_KEY",
    rank=15,  # after Veo on Vertex: a Vertex user keeps Veo as the default
    emulator="veokit.emulator.omni",
)
