"""Model look-up against the catalog: unknown and retired models both answer 404 NOT_FOUND."""

from __future__ import annotations

from veokit.emulator.errors import not_found
from veokit.emulator.state import EmulatorState
from veokit.models.catalog import Offer

_PROVIDER_TITLES = {"vertex": "Vertex AI", "gemini": "the Gemini API"}


def find_offer(state: EmulatorState, provider: str, model: str, unknown_message: str) -> Offer:
    offer = state.catalog.find(provider, model)
    if offer is None:
        raise not_found(unknown_message)
    lc = offer.lifecycle
    if lc.is_retired(state.config.today()):
        when = f" It was shut down on {lc.retired_on}." if lc.retired_on else ""
        where = (
            f" on {_PROVIDER_TITLES.get(lc.replacement_provider or '', lc.replacement_provider)}"
            if lc.replacement_provider and lc.replacement_provider != provider
            else ""
        )
        use = f" Please use {lc.replacement}{where} instead." if lc.replacement else ""
        raise not_found(f"models/{model} is no longer available.{when}{use}")
    return offer
