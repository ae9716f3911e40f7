"""The effective configuration as ``veokit config show`` prints it: each setting's value and where it came from.

Precedence is :class:`veokit.config.Settings`' own: a command-line flag, then the environment, then ``.env``,
then the TOML config file, then the default. Secrets are masked; a database URL loses its password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource, TomlConfigSettingsSource

from veokit.config import Settings, config_file
from veokit.store.urls import redact_url


@dataclass(frozen=True)
class SettingRow:
    name: str  # the TOML key
    value: str  # as it takes effect, masked when secret
    source: str  # "flag", "env", ".env", "config file", "default"
    env: str  # the variable(s) that set it


def env_names(name: str) -> str:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [a for a in alias.choices if isinstance(a, str) and a.isupper()]
        if names:
            return " / ".join(names)
    return f"VEOKIT_{name.upper()}"


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "******** (set)" if value.get_secret_value() else ""
    if name == "database_url":
        return redact_url(str(value))
    return str(value)


def effective_settings(settings: Settings, flags: frozenset[str] = frozenset()) -> list[SettingRow]:
    """Every setting, its effective value and its source (``flags``: fields a command-line option set)."""
    env = EnvSettingsSource(Settings)()
    dotenv = DotEnvSettingsSource(Settings, env_file=".env")()
    path = config_file()
    toml = TomlConfigSettingsSource(Settings, toml_file=path)() if path.is_file() else {}
    rows = []
    for name in sorted(Settings.model_fields):
        if name in flags:
            source = "flag"
        elif name in env:
            source = "env"
        elif name in dotenv:
            source = ".env"
        elif name in toml:
            source = f"config file ({path})"
        else:
            source = "default"
        rows.append(SettingRow(name, _shown(name, getattr(settings, name)), source, env_names(name)))
    return rows
