"""`veokit agent` (a Strands agent with a LiteLLM chat model) and `veokit mcp` (the MCP server).

Both need the ``agent`` extra; without it, or without a chat model configured, they say so in one line and
exit 2. The video settings are veokit's usual ones (``VEOKIT_*``, config file); the chat model's are
``VEOKIT_AGENT_*``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from veokit import errors as E
from veokit.cli import output as ui
from veokit.cli.failures import cli_errors
from veokit.config import load_settings

if TYPE_CHECKING:
    from veokit.agent.tools_core import VideoToolkit

QUIT_WORDS = {"exit", "quit", ":q"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("agent", epilog=AGENT_EXAMPLES)(agent)
    app.command("mcp", epilog=MCP_EXAMPLES)(mcp)


AGENT_EXAMPLES = """Examples:

  VEOKIT_AGENT_MODEL=gemini/gemini-2.5-flash veokit agent "a 6 s clip of waves at dusk, under $1"

  veokit agent --provider emulator

  veokit agent -m gpt-4o --api-base http://localhost:4000 --proxy
"""
MCP_EXAMPLES = """Examples:

  veokit mcp

  VEOKIT_MCP_TOKEN=secret veokit mcp --http --port 8001

  claude mcp add veokit -- veokit mcp --max-cost 2
"""
PROVIDER_HELP = "Video provider. Default: VEOKIT_PROVIDER, else the first with credentials."
MAX_COST_HELP = "Refuse any job estimated above this many USD. Env: VEOKIT_AGENT_MAX_COST_USD."


def _require_extra(module: str) -> None:
    from veokit.agent.factory import MISSING_EXTRA

    try:
        __import__(module)
    except ImportError:
        raise E.ConfigError(MISSING_EXTRA) from None


def _toolkit(provider: str | None, max_cost: float | None, *, server: bool = False) -> VideoToolkit:
    import platformdirs

    from veokit.agent.factory import agent_settings
    from veokit.agent.tools_core import VideoToolkit
    from veokit.service.client import VeoClient

    settings = load_settings(provider=provider)
    if server and "out_dir" not in settings.model_fields_set:
        # An MCP client starts the server in a working directory of its choosing (often / or its install
        # folder): the CLI's default ./videos would land there, so servers save to the user's videos folder.
        settings = settings.model_copy(update={"out_dir": Path(platformdirs.user_videos_dir()) / "veokit"})
    limit = max_cost if max_cost is not None else agent_settings().max_cost_usd
    return VideoToolkit(VeoClient(settings), max_cost_usd=limit)


def _close(toolkit: VideoToolkit) -> None:
    for job_id in toolkit.runtime.unfinished_here():
        ui.err.print(
            f"job {job_id} is still running; `veokit resume {job_id}` finishes it (it will not be submitted again)",
            highlight=False,
            soft_wrap=True,
        )
    toolkit.close()


# ---------------------------------------------------------------------------------------------------------
@cli_errors
def agent(
    prompt: Annotated[
        str | None,
        typer.Argument(metavar="PROMPT", help="One request; omit it for an interactive session.", show_default=False),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="The chat model, a LiteLLM id, e.g. gemini/gemini-2.5-flash. Env: VEOKIT_AGENT_MODEL.",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="Key for the chat model. Env: VEOKIT_AGENT_API_KEY, else the model provider's own variable "
            "(e.g. GEMINI_API_KEY).",
            show_default=False,
        ),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            metavar="URL",
            help="The chat model's base URL, e.g. a LiteLLM proxy. Env: VEOKIT_AGENT_API_BASE.",
            show_default=False,
        ),
    ] = None,
    proxy: Annotated[
        bool | None,
        typer.Option(
            "--proxy/--no-proxy",
            help="--api-base is a LiteLLM proxy. Env: VEOKIT_AGENT_PROXY. Default: no.",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", "-p", metavar="NAME", help=PROVIDER_HELP, show_default=False)
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", metavar="USD", help=MAX_COST_HELP, show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not show tool activity on stderr.")] = False,
) -> None:
    """Ask a video agent (Strands + LiteLLM) to make videos; without a prompt, chat until EOF or `exit`.

    Needs the agent extra (pip install 'veokit[agent]') and a chat model (--model or VEOKIT_AGENT_MODEL; its
    parameters as JSON in VEOKIT_AGENT_PARAMS). Videos use veokit's usual settings (`veokit config show`)."""
    _require_extra("strands")
    from veokit.agent.factory import agent_settings, create_video_agent, litellm_model

    chat_model = litellm_model(model, api_key=api_key, api_base=api_base, use_litellm_proxy=proxy)
    env_key = agent_settings().api_key
    secrets = (api_key, env_key.get_secret_value() if env_key else None)  # kept out of error lines
    toolkit = _toolkit(provider, max_cost)
    try:
        video_agent = create_video_agent(
            model=chat_model, toolkit=toolkit, callback_handler=None if quiet else ActivityPrinter(sys.stderr)
        )
        if prompt is not None:
            typer.echo(_ask(video_agent, prompt, secrets))
        else:
            interactive = sys.stdin.isatty()
            if interactive:
                ui.err.print("veokit agent: describe the video you want; `exit` or Ctrl-D ends.", highlight=False)
            chat(video_agent, _lines(sys.stdin, interactive), sys.stdout, secrets)
    finally:
        _close(toolkit)


def _ask(video_agent: Any, prompt: str, secrets: tuple[str | None, ...] = ()) -> str:
    """The agent's answer. The chat model's own failures (not veokit errors) become :class:`ChatModelFailed`."""
    try:
        return str(video_agent(prompt)).strip()
    except (KeyboardInterrupt, E.VeokitError):
        raise
    except Exception as exc:
        first = (E.redact(str(exc), *secrets).strip().splitlines() or [""])[0][:300]
        raise E.ChatModelFailed(f"the chat model failed ({type(exc).__name__}): {first}") from None


def _lines(stream: TextIO, interactive: bool) -> Iterable[str]:
    while True:
        if interactive:
            ui.err.print("you> ", end="", highlight=False)
        line = stream.readline()
        if not line:
            return
        yield line


def chat(video_agent: Any, lines: Iterable[str], out: TextIO, secrets: tuple[str | None, ...] = ()) -> int:
    """The interactive loop: one answer per non-empty line until EOF or exit/quit. Returns turns taken."""
    turns = 0
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        if text.lower() in QUIT_WORDS:
            break
        turns += 1
        try:
            answer = _ask(video_agent, text, secrets)
        except E.ChatModelFailed as exc:  # say so and take the next line: the conversation goes on
            ui.err.print(f"error: {exc.message}", highlight=False, markup=False, soft_wrap=True)
            continue
        out.write(answer + "\n\n")
        out.flush()
    return turns


class ActivityPrinter:
    """A Strands callback handler that shows tool calls and wait progress on stderr, one line each."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, **kwargs: Any) -> None:
        start = kwargs.get("event", {}).get("contentBlockStart", {}).get("start", {})
        if "toolUse" in start:
            self._say(f"· {start['toolUse'].get('name')}")
        streamed = kwargs.get("tool_stream_event")
        if isinstance(streamed, dict):
            data = streamed.get("data")
            if isinstance(data, dict) and "message" in data:
                self._say(f"  {data.get('job_id', '')} {data['message']}")

    def _say(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


# ---------------------------------------------------------------------------------------------------------
@cli_errors
def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="HTTP address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="HTTP port.")] = 8000,
    path: Annotated[str, typer.Option("--path", metavar="PATH", help="HTTP endpoint path.")] = "/mcp",
    provider: Annotated[
        str | None, typer.Option("--provider", "-p", metavar="NAME", help=PROVIDER_HELP, show_default=False)
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", metavar="USD", help=MAX_COST_HELP, show_default=False)
    ] = None,
    root: Annotated[
        list[str] | None,
        typer.Option(
            "--root",
            metavar="DIR",
            show_default=False,
            help="A folder tools may read images from and write videos to (repeatable). "
            "Default: the out dir, plus the current directory on stdio.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            envvar="VEOKIT_MCP_TOKEN",
            show_envvar=True,
            help="HTTP: require Authorization: Bearer TOKEN on every request.",
        ),
    ] = None,
) -> None:
    """Serve veokit's video tools to MCP clients (stdio by default; --http for streamable HTTP).

    Needs the agent extra (pip install 'veokit[agent]'). Videos use veokit's usual settings (`veokit config
    show`); they are saved under your videos folder (veokit/) unless VEOKIT_OUT_DIR says otherwise."""
    # stdout carries the protocol on stdio: every log line goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    _require_extra("mcp.server.mcpserver")
    from veokit.agent.mcp_server import default_roots, serve

    toolkit = _toolkit(provider, max_cost, server=True)
    toolkit.roots = default_roots(toolkit.client.settings.out_dir, http=http, extra=root)
    try:
        serve(toolkit, http=http, host=host, port=port, path=path, token=token)
    except KeyboardInterrupt:
        pass
    finally:
        _close(toolkit)
