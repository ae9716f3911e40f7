"""``--provider auto``: the cheapest provider that can run the request and that the user has credentials for.

Every provider that sells the request's model *family* is a candidate (a request names a Google model id such
as ``veo-3.1-fast-generate-001``, any reseller's id such as ``veo3_fast``, or the family ``veo-3.1-fast``
itself; the catalog maps each to one offer per provider). The candidates are the registry's providers that
``auto`` may pick (not the emulator: it is a test double, not a place to spend money). A candidate is
excluded, with every reason that applies, when it has no credentials, its offer is retired, the catalog
rejects the request for it (a feature it lacks, a resolution, a duration, ...), or the request has options
it does not take (options are provider-specific: asking for Kie's ``watermark`` rules out the others).
Among the rest the lowest estimate wins.

Auto compares *within* the family the user asked for, never across models: Gemini Omni is a different model
from Veo (another look, native editing, no negative prompt), so a Veo request never silently becomes an Omni
video or the reverse, whatever the price. To compare anyway, a route also lists **alternatives**: the
cheapest offer of every other live family that could run the same request, priced per second for it; the
user picks one by naming it with ``--model``.

``VEOKIT_PROVIDER_PREFERENCE`` (e.g. ``kie,vertex``) is a **tie-break, not a hard order**: auto exists to
save money, so a preferred provider never wins at a higher price; at the same price the earlier one wins, then
the providers not listed, in veokit's default order. To always use one provider, name it with ``--provider``.
No network call is made: this is catalog data and settings only, so ``--dry-run`` can show it all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from veokit.config import Settings
from veokit.errors import ConfigError, InvalidRequest, ModelNotFound
from veokit.models.catalog import Catalog, Estimate, Offer
from veokit.models.request import GenerateRequest
from veokit.providers import registry
from veokit.providers.spec import ProviderSpec

_FEATURE_FIELDS = {
    "image": "image to video",
    "last_frame": "first/last frame",
    "reference_images": "reference images",
    "video": "extension",
    "negative_prompt": "negative prompt",
}


@dataclass(frozen=True)
class Candidate:
    provider: str
    offer: Offer | None
    estimate: Estimate | None
    reasons: tuple[str, ...]  # why it cannot take the request; empty: it can

    @property
    def eligible(self) -> bool:
        return not self.reasons

    @property
    def model(self) -> str:
        return self.offer.model if self.offer else "—"


@dataclass(frozen=True)
class Route:
    family: str
    request: GenerateRequest
    candidates: tuple[Candidate, ...]  # the choice first, then the other eligible by price, then the excluded
    preference: tuple[str, ...]
    # The cheapest offer of each other model family that accepts the same request (never chosen by auto).
    alternatives: tuple[Candidate, ...] = ()

    @property
    def chosen(self) -> Candidate | None:
        return self.candidates[0] if self.candidates and self.candidates[0].eligible else None

    def verdict(self, c: Candidate) -> str:
        """One line saying why this candidate was or was not chosen."""
        best = self.chosen
        if not c.eligible:
            return "excluded: " + "; ".join(c.reasons)
        assert best is not None and best.estimate is not None and c.estimate is not None
        if c is best:
            ties = [
                o
                for o in self.candidates[1:]
                if o.eligible and o.estimate and o.estimate.total_usd == c.estimate.total_usd
            ]
            if ties:
                how = "preference" if c.provider in self.preference else "default order"
                return f"chosen: cheapest (tied with {', '.join(t.provider for t in ties)}; {how} breaks the tie)"
            return "chosen: cheapest"
        more = c.estimate.total_usd - best.estimate.total_usd
        return f"eligible, ${more:.2f} more" if more > 0 else f"eligible, same price; {best.provider} ranks first"

    def resolved(self) -> tuple[GenerateRequest, str, Offer]:
        """(the request with the chosen provider's model id, provider, offer), or one line naming why not."""
        best = self.chosen
        if best is None or best.offer is None:
            why = "; ".join(f"{c.provider}: {', '.join(c.reasons)}" for c in self.candidates)
            raise ConfigError(f"--provider auto: no provider can run this {self.family} request ({why})")
        request = self.request.model_copy(update={"model": best.offer.model})
        return registry.get(best.provider).with_options_checked(request, warn=True), best.provider, best.offer


def family_for(request: GenerateRequest, catalog: Catalog, settings: Settings) -> str:
    # No model named: the default of the first provider in veokit's order (a family every candidate is asked about).
    model = request.model or settings.model or catalog.default_model(registry.auto_candidates()[0].catalog)
    family = catalog.family_of(model)
    known = sorted({o.model_family for o in catalog.offers})
    if family not in known:
        raise ModelNotFound(
            f"model: {model!r} is neither a known model id nor a family ({', '.join(known)})",
            field="model",
            allowed=known,
        )
    return family


def route(request: GenerateRequest, catalog: Catalog, settings: Settings, *, today: dt.date | None = None) -> Route:
    today = today or dt.date.today()
    family = family_for(request, catalog, settings)
    specs = registry.auto_candidates()
    candidates = [_assess(spec, family, request, catalog, settings, today) for spec in specs]
    preference = settings.preference
    order = [*preference, *(s.name for s in specs if s.name not in preference)]

    def key(c: Candidate) -> tuple[int, float, int]:
        price = c.estimate.total_usd if c.estimate else float("inf")
        return (0 if c.eligible else 1, price if c.eligible else 0.0, order.index(c.provider))

    ranked = tuple(sorted(candidates, key=key))
    return Route(family, request, ranked, preference, _alternatives(family, request, catalog, settings, today))


def _alternatives(
    family: str, request: GenerateRequest, catalog: Catalog, settings: Settings, today: dt.date
) -> tuple[Candidate, ...]:
    """For each other family, its cheapest offer that accepts the request (with credentials first on a tie)."""
    found: list[Candidate] = []
    for other in sorted({o.model_family for o in catalog.offers} - {family}):
        assessed = [_assess(s, other, request, catalog, settings, today) for s in registry.auto_candidates()]
        # Only what the catalog accepts; a missing credential is shown, not disqualifying.
        usable = [c for c in assessed if c.estimate and all(r.startswith("no credentials") for r in c.reasons)]
        if usable:
            found.append(min(usable, key=lambda c: (c.estimate.total_usd if c.estimate else 0.0, bool(c.reasons))))
    return tuple(sorted(found, key=lambda c: c.estimate.total_usd if c.estimate else 0.0))


def _assess(
    spec: ProviderSpec[Any], family: str, request: GenerateRequest, catalog: Catalog, settings: Settings, today: dt.date
) -> Candidate:
    provider = spec.name
    offer = catalog.find_family(spec.catalog, family)
    if offer is None:
        return Candidate(provider, None, None, (f"does not sell {family}",))
    reasons: list[str] = []
    lc = offer.lifecycle
    if lc.is_retired(today) and not settings.allow_retired:
        reasons.append(f"retired {lc.retired_on}" if lc.retired_on else "retired")
    estimate = None
    candidate_request = request.model_copy(update={"model": offer.model})
    try:
        catalog.validate(candidate_request, spec.catalog, today=today, allow_retired=True)
        estimate = catalog.estimate(candidate_request, offer)
    except InvalidRequest as exc:
        reasons.append(_short(exc))
    try:
        spec.check_options(candidate_request)
    except InvalidRequest as exc:
        reasons.append(_short_option(exc))
    if not spec.is_configured(settings):
        reasons.append(f"no credentials (set {spec.credentials})")
    return Candidate(provider, offer, estimate, tuple(reasons))


def _short_option(exc: InvalidRequest) -> str:
    name = (exc.field or "").removeprefix("options.")
    if "has no option" in exc.message:
        return f"does not take option {name}"
    return exc.message.split(" (allowed: ", 1)[0]


def _short(exc: InvalidRequest) -> str:
    feature = _FEATURE_FIELDS.get(exc.field or "")
    if feature and "not supported" in exc.message:
        return f"feature unsupported: {feature}"
    return exc.message.split(" (allowed for ", 1)[0]
