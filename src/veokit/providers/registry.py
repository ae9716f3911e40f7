"""Every provider veokit has, found by looking, not by a list.

Each module of the :mod:`veokit.providers` package that defines ``SPEC`` (a :class:`ProviderSpec`) is a
provider. Adding one is its module, its rows in ``models/catalog.toml`` and its emulator module; no other
file names it. (A provider kept outside this tree is a module named by an entry point in the
``veokit.providers`` group of an installed distribution, e.g. ``acme = "acme_veokit.provider"``.)

Everything that used to hold a list derives from here: the provider names settings accept
(``VEOKIT_PROVIDER``, ``VEOKIT_FAILOVER``, ``VEOKIT_RATE_LIMITS``, ``VEOKIT_BUDGET_PROVIDER_USD``), the
fields of :class:`~veokit.config.Settings`, which providers have credentials, ``auto``'s candidates, the
credential hints in messages, ``veokit doctor``, and the routes the emulator serves.

Discovery imports the provider modules once, in a stable order (``SPEC.rank``, then name). Provider modules
must not import :mod:`veokit.config` (it is built from them).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import create_model

import veokit.providers as package
from veokit.errors import ConfigError
from veokit.providers.spec import ProviderSettings, ProviderSpec

AnySpec = ProviderSpec[Any]
ENTRY_POINTS = "veokit.providers"  # out-of-tree providers: entry points naming their modules


@cache
def specs() -> tuple[AnySpec, ...]:
    modules = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    modules += [ep.value for ep in entry_points(group=ENTRY_POINTS)]
    found: dict[str, AnySpec] = {}
    for name in modules:
        spec = getattr(importlib.import_module(name), "SPEC", None)
        if spec is None:
            continue
        if not isinstance(spec, ProviderSpec):
            raise TypeError(f"{name}.SPEC is not a ProviderSpec")
        if found.setdefault(spec.name, spec) is not spec:
            raise TypeError(f"two providers are called {spec.name!r}")
    ordered = tuple(sorted(found.values(), key=lambda s: (s.rank, s.name)))
    _check_settings_fields(ordered)
    return ordered


def _check_settings_fields(all_specs: tuple[AnySpec, ...]) -> None:
    """Settings share one namespace: two classes may not declare one field. Two providers may share a class
    (a second provider on the same account, e.g. another API under the same Gemini key)."""
    owner: dict[str, type[ProviderSettings]] = {}
    for spec in all_specs:
        for field in spec.settings.model_fields:
            declared_by = owner.setdefault(field, spec.settings)
            if declared_by is not spec.settings:
                raise TypeError(
                    f"settings field {field!r} is declared by both {declared_by.__name__} and {spec.settings.__name__}"
                )


def names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def find(name: str) -> AnySpec | None:
    return next((s for s in specs() if s.name == name), None)


def get(name: str) -> AnySpec:
    """The spec called ``name``, or a :class:`ConfigError` listing the providers there are."""
    spec = find(name)
    if spec is None:
        raise ConfigError(f"provider: unknown provider {name!r}; choose one of {', '.join(names())}")
    return spec


def catalog_key(name: str) -> str:
    """The catalog rows provider ``name`` sells (its own name for an unknown one, e.g. an old job's)."""
    spec = find(name)
    return spec.catalog if spec else name


def durable(name: str) -> bool:
    """Whether ``name``'s operations outlive the process that started them (unknown providers: assume so)."""
    spec = find(name)
    return spec.durable if spec else True


def real_money(name: str) -> bool:
    spec = find(name)
    return spec.real_money if spec else True


def configured(settings: ProviderSettings) -> list[str]:
    """Providers whose credentials are present, in default order (no network)."""
    return [s.name for s in specs() if s.is_configured(settings)]


def auto_candidates() -> tuple[AnySpec, ...]:
    return tuple(s for s in specs() if s.auto)


@cache
def settings_base() -> type[ProviderSettings]:
    """One class inheriting every provider's settings class: the base of veokit's Settings."""
    classes = tuple(dict.fromkeys(s.settings for s in specs() if s.settings is not ProviderSettings))
    if not classes:
        return ProviderSettings
    return cast(type[ProviderSettings], create_model("ProviderSettingsFields", __base__=classes))


def emulator_modules() -> tuple[str, ...]:
    """The emulator modules serving the providers' wire protocols, each once, in provider order."""
    return tuple(dict.fromkeys(s.emulator for s in specs() if s.emulator))
