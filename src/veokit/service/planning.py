"""Planning a request: the one place that decides where it goes, what it costs and whether it may be sent.

A :class:`Plan` is the request filled in and checked, with no network call and nothing recorded:

1. the provider: ``--provider``, then settings, then the first with credentials, or ``auto`` (the cheapest
   that can take it, :mod:`veokit.service.routing`, whose candidates the plan keeps for ``--dry-run``);
2. the model: the caller's (a Google id, a reseller's id or a family) or the provider's default, turned into
   *this provider's* id, and the request validated against its catalog entry;
3. the estimate, from the catalog;
4. the limits: the per-job budget cap (``VEOKIT_BUDGET_PER_JOB_USD``) and, when the caller has one, its own
   ceiling (an agent session's ``max_cost_usd``).

Every surface (``generate``, ``enqueue``, ``batch``, ``--dry-run``, the agent tools) plans through
:meth:`veokit.service.client.VeoClient.plan`, so a request is judged the same way wherever it comes from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from veokit.config import AUTO, Settings
from veokit.errors import InvalidRequest, VeokitError
from veokit.models.catalog import Catalog, Estimate, Offer
from veokit.models.request import GenerateRequest
from veokit.providers import registry
from veokit.service.providers import pick_provider
from veokit.service.routing import Route, route
from veokit.store.budget import BudgetCaps

EPSILON_USD = 1e-9  # float sums of cents: a job exactly at a ceiling fits


@dataclass(frozen=True)
class Plan:
    """A checked, priced request, ready to record. ``route`` is set when the provider was chosen by ``auto``."""

    request: GenerateRequest  # with the provider's own model id
    provider: str
    offer: Offer
    estimate: Estimate
    route: Route | None = None

    def describe(self) -> str:
        return f"{self.request.summary()} on {self.provider}"

    def notes(self, today: dt.date | None = None) -> list[str]:
        """What the user should know before paying: a deprecated model (Google may shut it down at short notice)."""
        lc = self.offer.lifecycle
        today = today or dt.date.today()
        if lc.deprecation_from and not lc.is_retired(today) and today >= lc.deprecation_from:
            successor = f"; `--model {lc.replacement}` uses its successor" if lc.replacement else ""
            return [
                f"{self.offer.model} is deprecated since {lc.deprecation_from}: Google may shut it down with little "
                f"notice{successor}"
            ]
        return []


def plan_request(request: GenerateRequest, provider: str | None, *, catalog: Catalog, settings: Settings) -> Plan:
    """Steps 1-3: provider, model, validation and estimate. Raises the typed error naming the field."""
    if (provider or settings.provider) == AUTO:
        chosen_route = route(request, catalog, settings)
        resolved, name, offer = chosen_route.resolved()
        return Plan(resolved, name, offer, catalog.estimate(resolved, offer), chosen_route)
    name = pick_provider(settings, provider)
    if request.model is None:
        model = settings.model or catalog.default_model(registry.catalog_key(name))
        request = request.model_copy(update={"model": model})
    offer = catalog.validate(request, registry.catalog_key(name), allow_retired=settings.allow_retired)
    if offer.model != request.model:  # named by family or another provider's id: send this provider's id
        request = request.model_copy(update={"model": offer.model})
    request = registry.get(name).with_options_checked(request, warn=True)
    return Plan(request, name, offer, catalog.estimate(request, offer))


# What planning does not read of a request: its text (only whether there is a negative prompt, and, for offers
# priced by tokens, the prompt's length, which PlanMemo never shares) and its seed.
_UNREAD = {"prompt", "negative_prompt", "seed"}


class PlanMemo:
    """:func:`plan_request` for many requests (a batch file's lines): requests that differ only in what planning
    does not read are validated and priced once, so 10,000 lines of a few shapes cost a few plans.

    Every request is still judged: one whose shape was not seen is planned in full, and a shape that failed
    fails again, with the same error, for every request of that shape. Requests with inputs (images, a video)
    and plans priced by tokens (whose estimate reads the prompt's length) are always planned alone."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self._plans: dict[tuple[str | None, bool, str], Plan | VeokitError] = {}

    def plan(self, request: GenerateRequest, provider: str | None) -> Plan:
        if request.image or request.last_frame or request.reference_images or request.video:
            return plan_request(request, provider, catalog=self.catalog, settings=self.settings)
        # JSON, not a tuple of values: true and 1 are different option values to a provider, and equal in Python.
        key = (provider, bool(request.negative_prompt), request.model_dump_json(exclude=_UNREAD))
        known = self._plans.get(key)
        if known is None:
            try:
                plan = plan_request(request, provider, catalog=self.catalog, settings=self.settings)
            except VeokitError as exc:
                self._plans[key] = exc
                raise
            if _shareable(plan):
                self._plans[key] = plan
            return plan
        if isinstance(known, VeokitError):
            raise known.with_traceback(None)  # the same error again, not a traceback growing with every line
        return _alike(known, request)


def _shareable(plan: Plan) -> bool:
    """Whether the plan holds for every request of its shape: not when a price (its own or, for ``auto``, a
    candidate's that decided the choice) depends on the prompt."""
    offers = [plan.offer]
    if plan.route is not None:
        offers += [c.offer for c in (*plan.route.candidates, *plan.route.alternatives) if c.offer is not None]
    return all(o.token_price is None for o in offers)


def _alike(plan: Plan, request: GenerateRequest) -> Plan:
    """``plan`` (made for a request of the same shape) for ``request``: its model id and options as planned."""
    changes: dict[str, object] = {}
    if request.model != plan.request.model:
        changes["model"] = plan.request.model
    if request.options != plan.request.options:
        changes["options"] = plan.request.options
    resolved = request.model_copy(update=changes) if changes else request
    route = None if plan.route is None else dataclasses.replace(plan.route, request=request)
    return Plan(resolved, plan.provider, plan.offer, plan.estimate, route)


def check_limits(plan: Plan, caps: BudgetCaps | None, max_cost_usd: float | None = None) -> Plan:
    """Step 4: the per-job cap (:class:`~veokit.errors.BudgetExceeded`) and the caller's own ceiling
    (:class:`~veokit.errors.InvalidRequest` on ``cost``). Daily caps need the ledger: the store checks them
    atomically with each submit."""
    total = plan.estimate.total_usd
    if caps is not None:
        caps.check_job("the request", total, plan.provider)
    if max_cost_usd is not None and total > max_cost_usd + EPSILON_USD:
        raise InvalidRequest(
            f"cost: {plan.estimate.describe()} is over this session's limit of ${max_cost_usd:.2f}; "
            "choose fewer samples, a shorter duration, a lower resolution or a cheaper model",
            field="cost",
            allowed=[max_cost_usd],
        )
    return plan
