"""Turn settings and catalog data into the engine's :class:`Resilience` (one place for the defaults)."""

from __future__ import annotations

from veokit.config import Settings
from veokit.engine.runner import Resilience
from veokit.errors import ConfigError
from veokit.models.catalog import Catalog
from veokit.resilience.gate import parse_rate
from veokit.resilience.retry import RetryPolicy


def resilience_from(settings: Settings, catalog: Catalog) -> Resilience:
    limits: dict[str, tuple[float, float]] = {}
    if (settings.rate_limit or "").strip().lower() != "off":
        for provider, meta in catalog.providers.items():
            text = settings.rate_limit or meta.get("rate_limit")
            if text:
                limits[provider] = parse_rate(str(text))
        for item in filter(None, (settings.rate_limits or "").split(",")):
            name, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(f"VEOKIT_RATE_LIMITS: {item!r} should look like provider=10/min")
            if text.strip().lower() == "off":
                limits.pop(name.strip(), None)
            else:
                limits[name.strip()] = parse_rate(text)
    failover = tuple(p.strip() for p in (settings.failover or "").split(",") if p.strip())
    return Resilience(
        retry=RetryPolicy(
            max_attempts=settings.retry_attempts,
            base_s=settings.retry_base_s,
            cap_s=settings.retry_cap_s,
            max_server_delay_s=settings.retry_max_server_delay_s,
        ),
        rate_limits=limits,
        max_in_flight=settings.max_in_flight,
        failover=failover,
        failover_on_filter=settings.failover_on_filter,
        breaker_threshold=settings.breaker_threshold,
        breaker_cooldown_s=settings.breaker_cooldown_s,
    )
