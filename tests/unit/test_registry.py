"""The provider registry: every provider found from its module's SPEC, and everything that used to list
providers (settings, credentials, auto, failover, rate limits, budgets, the emulator's routes) derived from it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from pydantic import SecretStr

from veokit.config import PROVIDERS, Settings, load_settings
from veokit.emulator.app import create_app
from veokit.errors import ConfigError
from veokit.models.catalog import default_catalog
from veokit.providers import registry
from veokit.providers.base import Cancellable, Checkable, HasBalance
from veokit.providers.fal import FalSettings
from veokit.providers.kie import KieSettings
from veokit.providers.vertex import VertexSettings
from veokit.service.providers import pick_provider

CREDENTIAL_ENV = (
    "KIE_API_KEY",
    "VEOKIT_KIE_API_KEY",
    "FAL_KEY",
    "VEOKIT_FAL_KEY",
    "REPLICATE_API_TOKEN",
    "VEOKIT_REPLICATE_API_TOKEN",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "VEOKIT_GEMINI_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "VEOKIT_VERTEX_PROJECT",
    "VEOKIT_VERTEX_API_KEY",
    "VEOKIT_VERTEX_ACCESS_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VEOKIT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)  # no developer .env


def test_every_provider_module_with_a_spec_is_found_in_default_order() -> None:
    assert registry.names() == ("vertex", "omni-vertex", "omni", "gemini", "kie", "fal", "replicate", "emulator")
    assert registry.names() == PROVIDERS
    auto = ["vertex", "omni-vertex", "omni", "gemini", "kie", "fal", "replicate"]
    assert [s.name for s in registry.auto_candidates()] == auto


def test_each_spec_sells_catalog_rows_and_has_an_emulator_module_with_routes() -> None:
    catalog = default_catalog()
    served = {getattr(r, "path", None) for r in create_app().routes}
    for spec in registry.specs():
        assert catalog.models_for(spec.catalog), spec.name
        assert spec.catalog in catalog.providers, spec.name  # its default model and retention live there
        module = spec.emulator or registry.get(spec.catalog).emulator  # the emulator provider reuses Vertex's
        assert module is not None, spec.name
        routes = importlib.import_module(module).routes
        assert routes and {r.path for r in routes} <= served, spec.name


def test_flags_replace_special_cases_by_name() -> None:
    emulator = registry.get("emulator")
    # Its operations outlive the process: they are kept under the data dir, so `veokit resume` finishes them.
    assert (emulator.catalog, emulator.durable, emulator.real_money, emulator.auto) == ("vertex", True, False, False)
    assert registry.catalog_key("emulator") == "vertex" and registry.catalog_key("kie") == "kie"
    assert all(s.durable and s.real_money and s.auto for s in registry.specs() if s is not emulator)
    # A job recorded by a provider this version does not have is treated as the safe default.
    assert registry.durable("retired-provider") and registry.real_money("retired-provider")
    assert registry.catalog_key("retired-provider") == "retired-provider"


def test_capabilities_are_asked_of_the_provider_class() -> None:
    def caps(name: str) -> set[str]:
        spec = registry.get(name)
        return {c.__name__ for c in (Checkable, HasBalance, Cancellable) if spec.supports(c)}

    assert caps("vertex") == caps("gemini") == caps("emulator") == {"Checkable"}
    assert caps("kie") == {"HasBalance"}
    assert caps("fal") == {"Checkable", "Cancellable"}  # a free status read tells a rejected key apart
    assert caps("replicate") == {"Checkable", "Cancellable"}


def test_settings_inherit_every_providers_fields_with_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert isinstance(s, VertexSettings) and isinstance(s, KieSettings) and isinstance(s, FalSettings)
    monkeypatch.setenv("KIE_API_KEY", "from-kie-var")
    monkeypatch.setenv("VEOKIT_FAL_KEY", "from-veokit-var")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj-from-google-var")
    monkeypatch.setenv("VEOKIT_KIE_BASE_URL", "http://127.0.0.1:1")
    s = load_settings()
    kie = registry.get("kie").view(s)
    assert isinstance(kie.kie_api_key, SecretStr) and kie.kie_api_key.get_secret_value() == "from-kie-var"
    assert "from-kie-var" not in repr(s) and kie.kie_base_url == "http://127.0.0.1:1"
    assert registry.get("vertex").view(s).vertex_project == "proj-from-google-var"
    assert s.credentials_present() == ["vertex", "omni-vertex", "kie", "fal"]  # one Vertex account, two APIs
    assert pick_provider(s, None) == "vertex"
    # A keyword (CLI option, test, library) wins over the environment, under the same flat name.
    assert registry.get("kie").view(load_settings(kie_api_key="kw")).kie_api_key == SecretStr("kw")


def test_config_file_and_dotenv_keys_reach_provider_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / "veokit.toml"
    toml.write_text('fal_base_url = "http://fal.example"\nreplicate_api_token = "r8_from_toml"\n')
    monkeypatch.setenv("VEOKIT_CONFIG", str(toml))
    (tmp_path / ".env").write_text("GEMINI_API_KEY=from-dotenv\n")
    s = load_settings()
    assert registry.get("fal").view(s).fal_base_url == "http://fal.example"
    token = registry.get("replicate").view(s).replicate_api_token
    assert token is not None and token.get_secret_value() == "r8_from_toml"
    assert s.credentials_present() == ["omni", "gemini", "replicate"]  # one Gemini key, two APIs


def test_provider_names_in_settings_are_checked_all_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            provider="acme",
            failover="vertex,acme",
            rate_limits="kie=10/min,bogus=1/s",
            rate_limit="fast",
            budget_provider_usd="acme=3",
            provider_preference="kie,nope",
        )
    message = info.value.message
    for variable in (
        "VEOKIT_PROVIDER:",
        "VEOKIT_FAILOVER:",
        "VEOKIT_RATE_LIMITS:",
        "VEOKIT_RATE_LIMIT:",
        "VEOKIT_BUDGET_PROVIDER_USD:",
        "VEOKIT_PROVIDER_PREFERENCE:",
    ):
        assert message.count(variable) == 1, (variable, message)
    assert "choose one of vertex, omni-vertex, omni, gemini, kie, fal, replicate, emulator" in message
    assert "'bogus=1/s' is not PROVIDER=RATE" in message and "COUNT/PERIOD" in message
    good = load_settings(failover="vertex, gemini", rate_limits="kie=off,vertex=30/min", budget_provider_usd="fal=2")
    assert good.failover_order == ("vertex", "gemini")


def test_no_provider_at_all_says_how_to_configure_each() -> None:
    with pytest.raises(ConfigError) as info:
        pick_provider(load_settings(), None)
    message = info.value.message
    assert "--provider emulator" in message
    for spec in registry.specs():
        if spec.real_money:
            assert spec.credentials in message
    with pytest.raises(ConfigError, match="unknown provider 'acme'; choose one of vertex, omni-vertex, omni, gemini"):
        pick_provider(load_settings(), "acme")


def test_providers_may_share_a_settings_class_but_not_a_field() -> None:
    from dataclasses import replace

    from veokit.providers.spec import ProviderSettings

    gemini = registry.get("gemini")
    registry._check_settings_fields((gemini, replace(gemini, name="gemini-omni")))  # one account, two APIs

    class Clash(ProviderSettings):
        gemini_api_key: str | None = None

    with pytest.raises(TypeError, match="'gemini_api_key' is declared by both GeminiSettings and Clash"):
        registry._check_settings_fields((gemini, replace(gemini, name="other", settings=Clash)))
