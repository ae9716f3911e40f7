"""Build providers from settings. The only place that knows which credentials each provider takes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from veokit.config import PROVIDERS, Settings
from veokit.errors import ConfigError
from veokit.models.catalog import Catalog, Offer
from veokit.providers.base import Provider
from veokit.providers.fal import FalProvider
from veokit.providers.gemini import GeminiProvider
from veokit.providers.google_auth import (
    ApiKeyAuth,
    GoogleCredentialsAuth,
    application_default,
    static_token_credentials,
)
from veokit.providers.http import new_client
from veokit.providers.kie import KieProvider
from veokit.providers.replicate import ReplicateProvider
from veokit.providers.vertex import OfferLookup, VertexProvider

if TYPE_CHECKING:
    from veokit.emulator import EmulatorServer

EMULATOR_TOKEN = "test-token"  # noqa: S105 - the emulator's documented default credential, not a secret
EMULATOR_PROJECT = "veokit-emulator"


def pick_provider(settings: Settings, requested: str | None) -> str:
    """--provider, then config, then whichever credentials are present."""
    if requested:
        if requested not in PROVIDERS:
            raise ConfigError(f"provider: unknown provider {requested!r}; choose one of {', '.join(PROVIDERS)}")
        return requested
    if settings.provider:
        return settings.provider
    present = settings.credentials_present()
    if present:
        return present[0]
    raise ConfigError(
        "no provider configured and no credentials found. Use --provider emulator to try veokit without a "
        "key, or set VEOKIT_VERTEX_PROJECT (+ Google credentials), VEOKIT_VERTEX_API_KEY, GEMINI_API_KEY, "
        "KIE_API_KEY, FAL_KEY or REPLICATE_API_TOKEN"
    )


def build_provider(
    name: str, settings: Settings, catalog: Catalog, *, emulator: EmulatorServer | None = None
) -> Provider:
    def lookup(provider: str, model: str) -> Offer:
        return catalog.offer(provider, model, allow_retired=True)

    if name == "emulator":
        if emulator is None:
            raise ConfigError("the in-process emulator is not running")
        return VertexProvider(
            auth=GoogleCredentialsAuth(static_token_credentials(EMULATOR_TOKEN)),
            project=EMULATOR_PROJECT,
            location="us-central1",
            base_url=emulator.base_url,
            client=new_client(),
            offer_lookup=lookup,
        )
    if name == "vertex":
        auth: Any
        project = settings.vertex_project
        if settings.vertex_api_key is not None:
            auth = ApiKeyAuth(settings.vertex_api_key.get_secret_value())
            project = None  # express mode: the key's project is implied
        elif settings.vertex_access_token is not None:
            auth = GoogleCredentialsAuth(
                static_token_credentials(settings.vertex_access_token.get_secret_value()),
                quota_project=settings.vertex_quota_project,
            )
        else:
            creds, project = application_default(project)
            auth = GoogleCredentialsAuth(creds, quota_project=settings.vertex_quota_project)
        if project is None and settings.vertex_api_key is None:
            raise ConfigError("vertex: no project. Set VEOKIT_VERTEX_PROJECT (or GOOGLE_CLOUD_PROJECT)")
        return VertexProvider(
            auth=auth,
            project=project,
            location=settings.vertex_location,
            base_url=settings.vertex_base_url,
            storage_base_url=settings.vertex_storage_base_url,
            client=new_client(),
            offer_lookup=lookup,
        )
    if name == "gemini":
        if settings.gemini_api_key is None:
            raise ConfigError("gemini: no API key. Set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        return GeminiProvider(
            auth=ApiKeyAuth(settings.gemini_api_key.get_secret_value()),
            base_url=settings.gemini_base_url,
            client=new_client(),
            offer_lookup=lookup,
        )
    if name in ("kie", "fal", "replicate"):
        return _build_reseller(name, settings, lookup)
    raise ConfigError(f"unknown provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def _build_reseller(name: str, settings: Settings, lookup: OfferLookup) -> Provider:
    """Kie, fal and Replicate: one secret each, sent in a header only."""
    secret, variable = {
        "kie": (settings.kie_api_key, "KIE_API_KEY"),
        "fal": (settings.fal_key, "FAL_KEY"),
        "replicate": (settings.replicate_api_token, "REPLICATE_API_TOKEN"),
    }[name]
    value = secret.get_secret_value() if secret is not None else ""
    if not value:
        raise ConfigError(f"{name}: no credentials. Set {variable} (or VEOKIT_{variable})")
    if name == "kie":
        return KieProvider(
            api_key=value,
            base_url=settings.kie_base_url,
            upload_base_url=settings.kie_upload_base_url,
            client=new_client(),
            offer_lookup=lookup,
        )
    if name == "fal":
        return FalProvider(key=value, base_url=settings.fal_base_url, client=new_client(), offer_lookup=lookup)
    return ReplicateProvider(
        token=value, base_url=settings.replicate_base_url, client=new_client(), offer_lookup=lookup
    )
