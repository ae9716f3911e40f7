"""Settings from (highest first) arguments, environment (VEOKIT_*), ``.env``, then a TOML config file.

The config file is ``$VEOKIT_CONFIG`` or ``<user config dir>/veokit/config.toml``; keys are the field
names below (``provider = "vertex"``, ``vertex_project = "my-proj"``). Problems are reported all at once,
one line each, naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from veokit.errors import ConfigError

PROVIDERS = ("vertex", "gemini", "emulator")


def config_file() -> Path:
    return Path(os.environ.get("VEOKIT_CONFIG") or Path(platformdirs.user_config_dir("veokit")) / "config.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VEOKIT_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    provider: str | None = None
    model: str | None = None
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("veokit")))
    database_url: str | None = None
    out_dir: Path = Path("videos")
    allow_retired: bool = False
    job_deadline_s: float | None = None
    poll_scale: float = 1.0

    # Resilience (see veokit.resilience): pacing, retries, breaker, failover.
    rate_limit: str | None = None      # every provider, e.g. "10/min"; "off" disables; default: catalog rpm
    rate_limits: str | None = None     # per provider, e.g. "vertex=10/min,gemini=5/min"
    max_in_flight: int | None = None   # jobs submitted and not yet finished, per provider
    retry_attempts: int = 6
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    retry_max_server_delay_s: float = 120.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    failover: str | None = None        # ordered providers, e.g. "vertex,gemini"
    failover_on_filter: bool = False
    retry_filtered: int = 0            # resubmit RAI-filtered results this many times (each try is billed)

    vertex_project: str | None = Field(default=None, validation_alias=AliasChoices(
        "VEOKIT_VERTEX_PROJECT", "vertex_project", "GOOGLE_CLOUD_PROJECT"))
    vertex_location: str = Field(default="us-central1", validation_alias=AliasChoices(
        "VEOKIT_VERTEX_LOCATION", "vertex_location", "GOOGLE_CLOUD_LOCATION"))
    vertex_base_url: str | None = None
    vertex_storage_base_url: str | None = None
    vertex_api_key: SecretStr | None = None
    vertex_access_token: SecretStr | None = None
    vertex_quota_project: str | None = None

    gemini_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "VEOKIT_GEMINI_API_KEY", "gemini_api_key", "GEMINI_API_KEY", "GOOGLE_API_KEY"))
    gemini_base_url: str | None = None

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str | None) -> str | None:
        if v is not None and v not in PROVIDERS:
            raise ValueError(f"unknown provider {v!r}; choose one of {', '.join(PROVIDERS)}")
        return v

    @field_validator("poll_scale")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def database(self) -> str | None:
        return self.database_url

    def credentials_present(self) -> list[str]:
        """Providers the user has credentials for, in preference order."""
        found = []
        if self.vertex_api_key or self.vertex_access_token or self.vertex_project \
                or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
            found.append("vertex")
        if self.gemini_api_key:
            found.append("gemini")
        return found


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning every validation problem into one readable line in a ConfigError."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            lines.append(f"VEOKIT_{name.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
    except Exception as exc:  # a malformed TOML file
        raise ConfigError(f"cannot read configuration ({config_file()}): {exc}") from None
