"""Choose and build providers from settings; what each one needs is its spec's business (the registry)."""

from __future__ import annotations

from veokit.config import Settings
from veokit.errors import ConfigError
from veokit.models.catalog import Catalog, Offer
from veokit.providers import registry
from veokit.providers.base import Provider
from veokit.providers.registry import catalog_key, durable, real_money, specs
from veokit.providers.spec import ProviderSpec

__all__ = [
    "ProviderSpec",
    "build_provider",
    "catalog_key",
    "durable",
    "pick_provider",
    "real_money",
    "specs",
]  # surfaces ask the service layer, not veokit.providers


def pick_provider(settings: Settings, requested: str | None) -> str:
    """--provider, then config, then whichever credentials are present."""
    if requested:
        spec = registry.find(requested)
        if spec is None:
            raise ConfigError(
                f"--provider: unknown provider {requested!r}; choose one of {', '.join(registry.names())}, "
                "or auto (the cheapest provider with credentials that can run the request)"
            )
        return spec.name
    if settings.provider:
        return settings.provider
    present = registry.configured(settings)
    if present:
        return present[0]
    offline = [s.name for s in registry.specs() if not s.real_money]
    # Several providers share credentials (Veo and Omni on one Google project): each named once.
    needs = list(dict.fromkeys(s.credentials for s in registry.specs() if s.real_money))
    hints = "; ".join(needs)
    try_first = (
        f"Use --provider {offline[0]} to try veokit without a key, or set one of: " if offline else "Set one of: "
    )
    raise ConfigError(f"no provider configured and no credentials found. {try_first}{hints}")


def build_provider(name: str, settings: Settings, catalog: Catalog) -> Provider:
    def lookup(provider: str, model: str) -> Offer:
        return catalog.offer(registry.catalog_key(provider), model, allow_retired=True)

    return registry.get(name).create(settings, lookup)
