"""Spending caps from settings. The caps are enforced by the store (:mod:`veokit.store.budget`), atomically
with each submit; this module only turns ``VEOKIT_BUDGET_*`` into :class:`BudgetCaps`."""

from __future__ import annotations

from veokit.config import Settings
from veokit.providers import registry
from veokit.store.budget import BudgetCaps, BudgetExceeded

__all__ = ["BudgetCaps", "BudgetExceeded", "caps_from_settings"]


def caps_from_settings(settings: Settings) -> BudgetCaps | None:
    caps = BudgetCaps(
        per_job_usd=settings.budget_per_job_usd,
        daily_usd=settings.budget_daily_usd,
        provider_daily_usd=settings.budget_provider_caps,
        emulated=frozenset(s.name for s in registry.specs() if not s.real_money),
    )
    return caps if caps.any else None
