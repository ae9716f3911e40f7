"""`veokit agent` and `veokit mcp` from the command line, and the LiteLLM chat model behind the agent.

LiteLLM answers from ``mock_response`` here (its own offline test hook), so the real LiteLLMModel → litellm
path runs with no network and no key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from veokit.agent.factory import create_video_agent, litellm_model
from veokit.cli.main import app
from veokit.errors import ConfigError

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: LiteLLM's bundled price map

MOCK = '{"mock_response": "Here is your plan: a 9:16, 8 s clip."}'


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    return {
        "VEOKIT_PROVIDER": "emulator",
        "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "VEOKIT_DATA_DIR": str(tmp_path),
        "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
        "VEOKIT_AGENT_MODEL": "gemini/gemini-2.5-flash",
        "VEOKIT_AGENT_API_KEY": "sk-not-used",
        "VEOKIT_AGENT_PARAMS": MOCK,
    }


def test_create_video_agent_uses_litellm_with_the_configured_model(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    agent = create_video_agent(api_base="http://127.0.0.1:4000", use_litellm_proxy=True)
    config, client_args = agent.model.get_config(), agent.model.client_args  # type: ignore[attr-defined]
    assert config["model_id"] == "litellm_proxy/gemini/gemini-2.5-flash"  # proxy mode: LiteLLM's proxy route
    assert client_args == {"api_key": "sk-not-used", "api_base": "http://127.0.0.1:4000", "use_litellm_proxy": True}
    assert "generate_video" in agent.tool_names and "wait_for_video" in agent.tool_names
    direct = create_video_agent("gemini/gemini-2.5-flash", api_key="k2", callback_handler=None)
    assert str(direct("plan a clip")).strip() == "Here is your plan: a 9:16, 8 s clip."


def test_agent_command_answers_one_prompt(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["agent", "a vertical clip of rain, please", "--quiet"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Here is your plan: a 9:16, 8 s clip."


def test_agent_command_without_prompt_chats_until_exit(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["agent", "-q"], input="first idea\n\nsecond idea\nexit\nnever asked\n", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Here is your plan") == 2


def test_agent_without_a_model_is_one_line_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update({"VEOKIT_CONFIG": str(tmp_path / "none.toml"), "VEOKIT_PROVIDER": "emulator"})
    p = subprocess.run(
        [sys.executable, "-m", "veokit.cli.main", "agent", "make a video"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "VEOKIT_AGENT_MODEL" in lines[0] and "Traceback" not in p.stderr


@pytest.mark.parametrize(("command", "module"), [("agent", "strands"), ("mcp", "mcp.server.mcpserver")])
def test_missing_agent_extra_is_one_line_exit_2(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, command: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an install without the extra looks like to import
    result = CliRunner().invoke(app, [command, "hello"] if command == "agent" else [command], env=env)
    assert result.exit_code == 2
    assert "veokit[agent]" in result.stderr and "Traceback" not in result.stderr


def test_litellm_model_needs_a_model_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEOKIT_AGENT_MODEL", raising=False)
    with pytest.raises(ConfigError, match="VEOKIT_AGENT_MODEL"):
        litellm_model()


def test_a_failing_chat_model_is_one_line_exit_3_and_no_key_is_shown(env: dict[str, str]) -> None:
    env = {**env, "VEOKIT_AGENT_PARAMS": '{"mock_response": "litellm.InternalServerError"}'}
    result = CliRunner().invoke(app, ["agent", "hello", "-q"], env=env)
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: the chat model failed"), result.stderr
    assert "sk-not-used" not in result.output and "Traceback" not in result.output
