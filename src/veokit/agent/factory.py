"""A Strands agent that makes videos: a LiteLLM chat model for its words, veokit's tools for the videos.

    from veokit.agent import create_video_agent

    agent = create_video_agent("gemini/gemini-2.5-flash")          # key from GEMINI_API_KEY or api_key=
    print(agent("a 9:16 clip of rain on a neon street, no text on screen"))

The chat model only talks and picks tools; every Veo call happens inside the tools, through veokit's
service layer (validated, priced, recorded, resumable).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from veokit.agent.prompts import SYSTEM_PROMPT
from veokit.errors import ConfigError
from veokit.service.client import VeoClient

if TYPE_CHECKING:
    from strands import Agent
    from strands.models import Model

    from veokit.agent.tools_core import VideoToolkit

MISSING_EXTRA = "the agent extra is not installed: pip install 'veokit[agent]' (from a checkout: uv sync --extra agent)"
NO_MODEL = (
    "no agent model configured: pass --model / model_id or set VEOKIT_AGENT_MODEL to a LiteLLM model id "
    "(e.g. gemini/gemini-2.5-flash, or litellm_proxy/NAME with VEOKIT_AGENT_API_BASE)"
)


class AgentSettings(BaseSettings):
    """``VEOKIT_AGENT_*`` settings for the chat model (the video settings are ``VEOKIT_*``)."""

    model_config = SettingsConfigDict(env_prefix="VEOKIT_AGENT_", env_file=".env", extra="ignore")

    model: str | None = None
    api_key: SecretStr | None = None
    api_base: str | None = None
    proxy: bool = False  # api_base is a LiteLLM proxy: send the model id as litellm_proxy/<id>
    params: dict[str, Any] = {}  # JSON, passed to litellm.completion: {"max_tokens": 2048, "temperature": 0.3}
    max_cost_usd: float | None = None  # refuse any single job whose estimate is above this


def agent_settings() -> AgentSettings:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from veokit.config import settings_error_line

    try:
        return AgentSettings()
    except SettingsError as exc:  # e.g. VEOKIT_AGENT_PARAMS='{bad': not JSON, so not even validated
        raise ConfigError("invalid agent configuration: " + settings_error_line(exc, "VEOKIT_AGENT_")) from None
    except ValidationError as exc:
        lines = [
            f"VEOKIT_AGENT_{str(e['loc'][0]).upper() if e['loc'] else 'SETTINGS'}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("invalid agent configuration: " + "; ".join(lines)) from None


def litellm_model(
    model_id: str | None = None,
    *,
    api_key: str | None = None,
    api_base: str | None = None,
    use_litellm_proxy: bool | None = None,
    params: dict[str, Any] | None = None,
) -> Model:
    """A Strands ``LiteLLMModel``; arguments left out come from ``VEOKIT_AGENT_*``."""
    env = agent_settings()
    model_id = model_id or env.model
    if not model_id:
        raise ConfigError(NO_MODEL)
    # LiteLLM fetches a price map over the network at import unless told to use its bundled copy.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
        from strands.models.litellm import LiteLLMModel
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    # LiteLLM print()s a "Give Feedback / Get Help" banner, with raw ANSI codes, to stdout on every error;
    # the error itself reaches the user through veokit (ChatModelFailed).
    litellm.suppress_debug_info = True
    client_args: dict[str, Any] = {}
    key = api_key or (env.api_key.get_secret_value() if env.api_key else None)
    if key:
        client_args["api_key"] = key
    if api_base or env.api_base:
        client_args["api_base"] = api_base or env.api_base
    if use_litellm_proxy if use_litellm_proxy is not None else env.proxy:
        client_args["use_litellm_proxy"] = True
    merged = {**env.params, **(params or {})}
    model: Model = LiteLLMModel(client_args=client_args, model_id=model_id, params=merged or None)
    return model


def create_video_agent(
    model_id: str | None = None,
    *,
    api_key: str | None = None,
    api_base: str | None = None,
    use_litellm_proxy: bool | None = None,
    params: dict[str, Any] | None = None,
    client: VeoClient | None = None,
    toolkit: VideoToolkit | None = None,
    model: Model | None = None,
    system_prompt: str | None = None,
    max_cost_usd: float | None = None,
    **agent_kwargs: Any,
) -> Agent:
    """A Strands ``Agent`` with veokit's video tools and a LiteLLM chat model.

    ``model_id``/``api_key``/``api_base``/``use_litellm_proxy``/``params`` configure the LiteLLM model
    (defaults from ``VEOKIT_AGENT_*``); ``model`` replaces it with any Strands model. ``client`` is an
    *unstarted* :class:`VeoClient` for the tools (default: one from veokit's settings); pass ``toolkit``
    instead to share one toolkit between agents and control when it closes. Other keyword arguments go to
    ``strands.Agent`` (``callback_handler``, ``session_manager``, ...).
    """
    try:
        from strands import Agent
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None
    from veokit.agent.strands_adapter import strands_tools
    from veokit.agent.tools_core import VideoToolkit

    if model is None:
        model = litellm_model(
            model_id, api_key=api_key, api_base=api_base, use_litellm_proxy=use_litellm_proxy, params=params
        )
    if toolkit is None:
        limit = max_cost_usd if max_cost_usd is not None else agent_settings().max_cost_usd
        toolkit = VideoToolkit(client, max_cost_usd=limit)
    return Agent(
        model=model,
        tools=list(strands_tools(toolkit)),
        system_prompt=system_prompt or SYSTEM_PROMPT,
        name="veokit",
        **agent_kwargs,
    )
