"""What veokit knows about a provider, declared once in the provider's own module as ``SPEC``.

A :class:`ProviderSpec` says what a provider is called, which catalog rows it sells, how it is configured
(its :class:`ProviderSettings` fields, with their environment variables), how to build one, which options it
takes, and the facts the rest of veokit decides by instead of by its name: whether its operations survive a
process restart (``durable``), whether its spend is real money (``real_money``) and whether ``--provider
auto`` may pick it (``auto``). Optional capabilities (doctor's check, balance, cancel) are Protocols its
class implements (:mod:`veokit.providers.base`); :meth:`ProviderSpec.supports` asks the class.

:mod:`veokit.providers.registry` finds the specs; nothing else in the tree lists providers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from veokit.models.request import GenerateRequest
from veokit.providers.base import OfferLookup, Provider
from veokit.providers.options import CheckedOptions, ProviderOption, check_options

log = logging.getLogger("veokit.providers")
_warned: set[str] = set()  # a deprecation is said once per process, not at every check of the same request


class ProviderSettings(BaseSettings):
    """Base of a provider's settings: credentials, endpoints, anything it is configured with.

    veokit's :class:`~veokit.config.Settings` inherits every provider's settings class, so a field here is
    an ordinary setting: ``kie_base_url`` is read from ``VEOKIT_KIE_BASE_URL``, the ``.env`` file or the
    config file's ``kie_base_url`` key, problems are reported with all the others, and ``load_settings(
    kie_base_url=...)`` sets it. Name fields after the provider (``kie_...``): they share one namespace.
    Secrets are ``SecretStr``; other spellings of a variable go in ``validation_alias``.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)


S = TypeVar("S", bound=ProviderSettings)


@dataclass(frozen=True)
class ProviderSpec(Generic[S]):
    name: str  # what users type: --provider NAME, VEOKIT_PROVIDER=NAME
    title: str  # one line for help texts
    catalog: str  # whose catalog rows it sells (the in-process emulator sells Vertex's)
    provider_class: type  # implements Provider and whichever capability Protocols it has
    build: Callable[[S, OfferLookup], Provider]  # raises ConfigError naming what is missing
    settings: type[S]  # its fields of veokit's Settings
    configured: Callable[[S], bool]  # are its credentials present? (no network)
    credentials: str  # what to set, as the user writes it: "KIE_API_KEY"
    options: tuple[ProviderOption, ...] = ()
    rank: int = 100  # default order: which configured provider is used first, and auto's tie-break
    durable: bool = True  # its operations outlive this process (the in-process emulator's do not)
    real_money: bool = True  # what it charges is real (the emulator's prices are what Vertex would charge)
    auto: bool = True  # --provider auto may choose it
    poll_scale: float = 1.0  # polls are spaced by the catalog's latency times this (the emulator is ~30x faster)
    emulator: str | None = None  # the veokit.emulator module serving its wire protocol (a ``routes`` list)

    def view(self, settings: ProviderSettings) -> S:
        """``settings`` as this provider's typed settings (veokit's Settings is an instance of each)."""
        if not isinstance(settings, self.settings):
            raise TypeError(f"{self.name}: settings are not {self.settings.__name__}")
        return settings

    def is_configured(self, settings: ProviderSettings) -> bool:
        return self.configured(self.view(settings))

    def create(self, settings: ProviderSettings, offer_lookup: OfferLookup) -> Provider:
        return self.build(self.view(settings), offer_lookup)

    def supports(self, capability: type[Any]) -> bool:
        """Whether its providers implement ``capability`` (e.g. :class:`~veokit.providers.base.Cancellable`)."""
        return issubclass(self.provider_class, capability)

    def check_options(self, request: GenerateRequest) -> CheckedOptions:
        return check_options(self.name, self.options, request.options, request.features())

    def with_options_checked(self, request: GenerateRequest, *, warn: bool) -> GenerateRequest:
        """``request`` with its options validated and in canonical form; ``warn`` logs deprecations."""
        checked = self.check_options(request)
        if warn:
            for line in checked.warnings:
                if line not in _warned:
                    _warned.add(line)
                    log.warning("%s", line)
        if checked.values == request.options:
            return request
        return request.model_copy(update={"options": checked.values})
