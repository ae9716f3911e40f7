"""Turn settings and catalog data into the engine's :class:`Resilience` (one place for the defaults)."""

from __future__ import annotations

from veokit.config import Settings, parse_provider_rates
from veokit.engine.runner import Resilience
from veokit.models.catalog import Catalog
from veokit.providers import registry
from veokit.resilience.gate import parse_rate
from veokit.resilience.retry import RetryPolicy


def resilience_from(settings: Settings, catalog: Catalog) -> Resilience:
    """Pacing per provider: ``VEOKIT_RATE_LIMITS`` for it, else ``VEOKIT_RATE_LIMIT``, else the quota its own
    catalog entry documents (``[providers.NAME] rate_limit``; the in-process emulator has none). Values were
    checked when the settings loaded."""
    limits: dict[str, tuple[float, float]] = {}
    if (settings.rate_limit or "").strip().lower() != "off":
        per_provider = parse_provider_rates(settings.rate_limits or "")
        for spec in registry.specs():
            text = (
                per_provider.get(spec.name)
                or settings.rate_limit
                or catalog.providers.get(spec.name, {}).get("rate_limit")
            )
            if text and str(text).strip().lower() != "off":
                limits[spec.name] = parse_rate(str(text))
    return Resilience(
        retry=RetryPolicy(
            max_attempts=settings.retry_attempts,
            base_s=settings.retry_base_s,
            cap_s=settings.retry_cap_s,
            max_server_delay_s=settings.retry_max_server_delay_s,
        ),
        rate_limits=limits,
        max_in_flight=settings.max_in_flight,
        failover=settings.failover_order,
        failover_on_filter=settings.failover_on_filter,
        breaker_threshold=settings.breaker_threshold,
        breaker_cooldown_s=settings.breaker_cooldown_s,
    )
