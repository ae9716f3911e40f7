"""`veokit doctor`: is each configured provider usable right now? One finding per line, no secrets.

For every provider the user has credentials for (or named): the credentials are accepted, the model
is offered and not retired, the account balance where the provider exposes one, and the round-trip time
of that check. What can be checked is what the provider's class can do (the capability Protocols of
:mod:`veokit.providers.base`), never a list of names.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from veokit import errors as E
from veokit.config import Settings
from veokit.models.catalog import Catalog
from veokit.providers import registry
from veokit.providers.base import Checkable, HasBalance
from veokit.service.providers import build_provider


@dataclass(frozen=True)
class Finding:
    provider: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'FAIL'} {self.provider}: {self.message}"


async def run_doctor(settings: Settings, catalog: Catalog, providers: list[str]) -> list[Finding]:
    findings = []
    for name in providers:
        findings.extend(await _check(settings, catalog, name))
    return findings


async def _check(settings: Settings, catalog: Catalog, name: str) -> list[Finding]:
    out: list[Finding] = []
    rows = registry.catalog_key(name)
    model = settings.model or catalog.default_model(rows)
    try:
        offer = catalog.offer(rows, model, allow_retired=settings.allow_retired)
    except E.VeokitError as exc:
        return [Finding(name, False, exc.message)]
    try:
        provider = build_provider(name, settings, catalog)
    except E.VeokitError as exc:
        return [Finding(name, False, exc.message)]
    try:
        if isinstance(provider, Checkable):
            t0 = time.perf_counter()
            await provider.check(offer.model)
            ms = (time.perf_counter() - t0) * 1000
            covers = getattr(provider, "check_covers", f"credentials accepted; {offer.model} available")
            out.append(Finding(name, True, f"{covers} ({ms:.0f} ms)"))
        if isinstance(provider, HasBalance):  # an authenticated call too
            out.append(Finding(name, True, f"balance: {await provider.balance()}"))
        if not isinstance(provider, Checkable | HasBalance):
            out.append(Finding(name, True, "credentials set, not verified: it has no free call to check them with"))
        lc = offer.lifecycle
        if lc.deprecation_from and not lc.is_retired(_today()) and _today() >= lc.deprecation_from:
            out.append(
                Finding(
                    name,
                    True,
                    f"note: {offer.model} is deprecated since {lc.deprecation_from}; "
                    "Google may shut it down with little notice",
                )
            )
    except E.VeokitError as exc:
        out.append(Finding(name, False, exc.message))
    finally:
        await provider.aclose()
    return out


def what_each_needs() -> list[str]:
    """With nothing configured: one line per provider saying what it needs (``veokit doctor``)."""
    return [
        f"{s.name}: {'needs nothing (' + s.title + ')' if not s.real_money else 'set ' + s.credentials}"
        for s in registry.specs()
    ]


def _today() -> dt.date:
    return dt.date.today()
