"""Settings from (highest first) arguments, environment (VEOKIT_*), ``.env``, then a TOML config file.

The config file is ``$VEOKIT_CONFIG`` or ``<user config dir>/veokit/config.toml``; keys are the field
names (``provider = "vertex"``, ``vertex_project = "my-proj"``). Problems are reported all at once,
one line each, naming the variable.

The fields below are veokit's own. Each provider declares its own (credentials, endpoints) in its module, as
a :class:`~veokit.providers.spec.ProviderSettings` class; :class:`Settings` inherits all of them (see
:func:`veokit.providers.registry.settings_base`), so ``VEOKIT_KIE_BASE_URL``, ``KIE_API_KEY``, the
``kie_api_key`` TOML key and ``load_settings(kie_api_key=...)`` work as if declared here, and adding a
provider never edits this file. Code reads a provider's fields through its typed view,
``spec.view(settings)``.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from veokit.errors import ConfigError
from veokit.providers import registry
from veokit.resilience.gate import parse_rate

PROVIDERS = registry.names()
AUTO = "auto"  # --provider auto: the cheapest provider with credentials that supports the request

if TYPE_CHECKING:
    from veokit.providers.spec import ProviderSettings as _ProviderFields
else:
    _ProviderFields = registry.settings_base()


def config_file() -> Path:
    return Path(os.environ.get("VEOKIT_CONFIG") or Path(platformdirs.user_config_dir("veokit")) / "config.toml")


def provider_list(text: str | None) -> tuple[str, ...]:
    """``"vertex, gemini"`` → ``("vertex", "gemini")``."""
    return tuple(p for p in (text or "").replace(" ", "").split(",") if p)


def _known(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [p for p in names if p not in PROVIDERS]
    if unknown:
        raise ValueError(f"unknown provider(s) {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}")
    return names


class Settings(_ProviderFields):
    model_config = SettingsConfigDict(env_prefix="VEOKIT_", env_file=".env", extra="ignore", populate_by_name=True)

    provider: str | None = None
    model: str | None = None
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("veokit")))
    database_url: str | None = None
    out_dir: Path = Path("videos")
    allow_retired: bool = False
    job_deadline_s: float | None = None
    poll_scale: float = 1.0

    # Spending caps in USD, enforced before every submit across all workers (veokit.store.budget).
    budget_per_job_usd: float | None = None
    budget_daily_usd: float | None = None  # per UTC day, all providers
    budget_provider_usd: str | None = None  # per UTC day and provider, e.g. "vertex=20,kie=5"
    # Workers (veokit.engine.worker): jobs in flight per process, and the lease heartbeats renew.
    worker_concurrency: int = 200
    worker_lease_s: float = 30.0

    # Resilience (see veokit.resilience): pacing, retries, breaker, failover.
    # Submits per provider across every worker of the job store (veokit.store.rate_slots), not per process.
    rate_limit: str | None = None  # every provider, e.g. "10/min"; "off" disables; default: catalog rpm
    rate_limits: str | None = None  # per provider, e.g. "vertex=10/min,gemini=5/min"
    max_in_flight: int | None = None  # jobs submitted and not yet finished, per provider
    retry_attempts: int = 6
    retry_base_s: float = 1.0
    retry_cap_s: float = 30.0
    retry_max_server_delay_s: float = 120.0
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    failover: str | None = None  # ordered providers, e.g. "vertex,gemini"
    failover_on_filter: bool = False
    retry_filtered: int = 0  # resubmit RAI-filtered results this many times (each try is billed)

    # --provider auto breaks price ties in this order, e.g. "kie,vertex" (see veokit.service.routing).
    provider_preference: str | None = None

    # The HTTP service (`veokit serve`, veokit.server).
    server_secret: SecretStr | None = None  # signs webhooks (each key's secret derives from it); default: a file
    server_key_max_in_flight: int = 20  # per key: videos recorded and not finished (a key's own limit wins)
    server_key_budget_daily_usd: float | None = None  # per key and UTC day, for keys created without a budget
    server_upload_max_bytes: int = 20 * 1024 * 1024  # one request body (uploads included), checked while reading
    server_fetch_private: bool = False  # image URLs may name loopback, private or link-local addresses
    server_fetch_timeout_s: float = 10.0  # an image URL must be fetched within this
    server_webhook_attempts: int = 8  # deliveries of one webhook before giving up
    server_webhook_backoff_s: float = 5.0  # the first retry's delay; each next one is 4x longer (6 h at most)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, v: str | None) -> str | None:
        if v is not None and v not in (*PROVIDERS, AUTO):
            raise ValueError(f"unknown provider {v!r}; choose one of {', '.join((*PROVIDERS, AUTO))}")
        return v

    @field_validator("provider_preference", "failover")
    @classmethod
    def _known_providers(cls, v: str | None) -> str | None:
        _known(provider_list(v))
        return v

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, v: str | None) -> str | None:
        if v is not None:
            _rate(v)
        return v

    @field_validator("rate_limits")
    @classmethod
    def _rate_limits(cls, v: str | None) -> str | None:
        if v is not None:
            for rate in parse_provider_rates(v).values():
                _rate(rate)
        return v

    @property
    def preference(self) -> tuple[str, ...]:
        return provider_list(self.provider_preference)

    @property
    def failover_order(self) -> tuple[str, ...]:
        return provider_list(self.failover)

    @field_validator("budget_per_job_usd", "budget_daily_usd", "server_key_budget_daily_usd")
    @classmethod
    def _non_negative(cls, v: float | None) -> float | None:
        if v is not None and not v >= 0:
            raise ValueError("must be >= 0 (USD)")
        return v

    @field_validator("budget_provider_usd")
    @classmethod
    def _provider_amounts(cls, v: str | None) -> str | None:
        if v is not None:
            parse_provider_amounts(v)
        return v

    @field_validator(
        "worker_concurrency", "server_key_max_in_flight", "server_upload_max_bytes", "server_webhook_attempts"
    )
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("worker_lease_s")
    @classmethod
    def _lease_length(cls, v: float) -> float:
        if not (v >= 1 and math.isfinite(v)):
            raise ValueError("must be >= 1 second (heartbeats renew it every third of it)")
        return v

    @property
    def budget_provider_caps(self) -> dict[str, float]:
        return parse_provider_amounts(self.budget_provider_usd or "")

    @field_validator("poll_scale", "server_fetch_timeout_s", "server_webhook_backoff_s", "retry_base_s", "retry_cap_s")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError("must be a number > 0")
        return v

    @field_validator("job_deadline_s")
    @classmethod
    def _positive_or_unset(cls, v: float | None) -> float | None:
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError("must be a number of seconds > 0 (leave it unset for no deadline)")
        return v

    @field_validator("retry_max_server_delay_s", "breaker_cooldown_s")
    @classmethod
    def _seconds(cls, v: float) -> float:
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError("must be a number of seconds >= 0")
        return v

    @field_validator("retry_attempts", "breaker_threshold")
    @classmethod
    def _count(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1 (it counts the first try)" if v == 0 else "must be >= 1")
        return v

    @field_validator("max_in_flight")
    @classmethod
    def _slots(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be >= 1 (leave it unset for no limit)")
        return v

    @field_validator("retry_filtered")
    @classmethod
    def _retries(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be >= 0")
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
        if path.is_file() and path.stat().st_size:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def credentials_present(self) -> list[str]:
        """Providers the user has credentials for, in preference order."""
        return registry.configured(self)


def parse_provider_amounts(text: str) -> dict[str, float]:
    """``"vertex=20, kie=5"`` → ``{"vertex": 20.0, "kie": 5.0}``; ValueError naming the bad part."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, amount = (x.strip() for x in part.partition("="))
        try:
            value = float(amount)
        except ValueError:
            value = -1.0
        if not sep or name not in PROVIDERS or not value >= 0 or value == float("inf"):
            raise ValueError(
                f'{part!r} is not PROVIDER=USD (providers: {", ".join(PROVIDERS)}), e.g. "vertex=20,gemini=5"'
            )
        out[name] = value
    return out


def _rate(text: str) -> None:
    if text.strip().lower() != "off":
        try:
            parse_rate(text)
        except ConfigError as exc:
            raise ValueError(exc.message) from None


def parse_provider_rates(text: str) -> dict[str, str]:
    """``"vertex=30/min, gemini=off"`` → ``{"vertex": "30/min", "gemini": "off"}``; ValueError naming the bad
    part. The rates themselves are parsed by :func:`veokit.resilience.gate.parse_rate`."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, rate = (x.strip() for x in part.partition("="))
        if not sep or name not in PROVIDERS or not rate:
            raise ValueError(
                f'{part!r} is not PROVIDER=RATE (providers: {", ".join(PROVIDERS)}), e.g. "vertex=30/min,gemini=off"'
            )
        out[name] = rate
    return out


def load_settings(**overrides: Any) -> Settings:
    """Build settings; every problem (a bad value, an unknown key in the config file, an unreadable file) is
    reported at once in one :class:`ConfigError`, one line each, named as the user wrote it: the environment
    variable (also for an argument: the variable it stands for) or the config file's key."""
    given = {k: v for k, v in overrides.items() if v is not None}
    path = config_file()
    problems, toml_keys, readable = _config_file_problems(path)
    if not readable:  # the file itself is unusable: say so rather than load without it
        raise ConfigError(_report(problems))
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{_where(name, given, toml_keys, path)}: {message}")
    except SettingsError as exc:  # a value the source could not even parse (JSON for a structured field)
        problems.append(settings_error_line(exc, "VEOKIT_"))
    else:
        if not problems:
            return settings
    raise ConfigError(_report(problems))


def _report(problems: list[str]) -> str:
    if len(problems) == 1:
        return f"invalid configuration: {problems[0]}"
    return "invalid configuration (" + str(len(problems)) + " problems):\n" + "\n".join(f"  {p}" for p in problems)


def _field_names() -> dict[str, str]:
    """Every key a user may write (lowercase) → the field it sets: names and their other spellings."""
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        names[field_name] = field_name
        alias = info.validation_alias
        choices = getattr(alias, "choices", None) or ([alias] if isinstance(alias, str) else [])
        for choice in choices:
            if isinstance(choice, str):
                names[choice.lower().removeprefix("veokit_")] = field_name
    return names


def _config_file_problems(path: Path) -> tuple[list[str], dict[str, str], bool]:
    """Problems with the config file (not a file, unreadable, not TOML, unknown keys), the keys it sets
    (field → key as written), and whether it could be read at all."""
    if not path.exists():
        return [], {}, True
    if not path.is_file():
        return (
            [
                f"VEOKIT_CONFIG: {path} is a directory, not a TOML file"
                if path.is_dir()
                else f"VEOKIT_CONFIG: {path} is not a regular file"
            ],
            {},
            False,
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"{path}: cannot read it ({exc.strerror or exc})"], {}, False
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return [f"{path}: not valid TOML ({exc})"], {}, False
    known = _field_names()
    problems, keys = [], {}
    for key in doc:
        field_name = known.get(key.lower())
        if field_name is None:
            close = difflib.get_close_matches(key.lower(), list(Settings.model_fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{path}: unknown key {key!r}{hint}")
        else:
            keys[field_name] = key
    return problems, keys, True


def _where(name: str, given: dict[str, Any], toml_keys: dict[str, str], path: Path) -> str:
    """The name the user wrote a setting under: the argument, the environment variable, or the file's key."""
    field_name = _field_names().get(name.lower().removeprefix("veokit_"), name)
    if field_name in given:  # an argument: named by the variable it stands for, as veokit always has
        return f"VEOKIT_{field_name.upper()}"
    info = Settings.model_fields.get(field_name)
    alias = getattr(info, "validation_alias", None) if info else None
    spellings = [c for c in (getattr(alias, "choices", None) or []) if isinstance(c, str)]
    for var in [f"VEOKIT_{field_name.upper()}", *(c.upper() for c in spellings)]:
        if any(k.upper() == var for k in os.environ):
            return var
    if field_name in toml_keys:
        return f"{path}: {toml_keys[field_name]}"
    return f"VEOKIT_{field_name.upper()}"


def settings_error_line(exc: SettingsError, prefix: str) -> str:
    """A value pydantic-settings could not parse before validating (JSON for a structured field, e.g.
    ``VEOKIT_AGENT_PARAMS='{bad'``) as one line: ``VEOKIT_AGENT_PARAMS: not valid JSON (...)``."""
    text = str(exc)
    start = text.find('field "')
    name = f"{prefix}{text[start + 7 : text.find(chr(34), start + 7)].upper()}" if start >= 0 else prefix.rstrip("_")
    cause = exc.__cause__
    return f"{name}: not valid JSON ({cause})" if cause is not None else f"{name}: {text}"
