"""`veokit serve` and `veokit keys`: the HTTP job service and its API keys."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import TYPE_CHECKING, Annotated

import typer

from veokit.cli import logs, tables
from veokit.cli import output as ui
from veokit.cli.failures import cli_errors, fail
from veokit.cli.tables import Column
from veokit.config import load_settings

if TYPE_CHECKING:  # imported by the commands that use them: `veokit --help` stays light
    from veokit.service import ApiKey

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
keys_app = typer.Typer(
    help="API keys of the HTTP service (`veokit serve`): each key has its own budget, limit and webhook.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)

Json = Annotated[bool, typer.Option("--json", help='Print JSON on stdout (errors too, as {"error": …}).')]
KeyName = Annotated[str, typer.Argument(metavar="NAME", help="The key's name, as given to `veokit keys create`.")]

SERVE_EXAMPLES = """Examples:

  veokit keys create laptop && veokit serve

  VEOKIT_PROVIDER=emulator veokit serve --port 8080

  veokit serve --host 0.0.0.0 --no-run    # and `veokit worker` processes elsewhere
"""

KEYS_CREATE_EXAMPLES = """Examples:

  veokit keys create laptop

  veokit keys create ci --budget-daily-usd 20 --max-in-flight 4

  KEY=$(veokit keys create app --webhook https://example.com/hooks | tail -n1)
"""


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("serve", epilog=SERVE_EXAMPLES)(cli_errors(serve))
    keys_app.command("create", epilog=KEYS_CREATE_EXAMPLES)(cli_errors(keys_create))
    keys_app.command(
        "list", epilog="Examples:\n\n  veokit keys list\n\n  veokit keys list -q\n\n  veokit keys list --json"
    )(cli_errors(keys_list))
    keys_app.command("revoke", epilog="Examples:\n\n  veokit keys revoke laptop")(cli_errors(keys_revoke))
    keys_app.command("webhook-secret", epilog="Examples:\n\n  veokit keys webhook-secret app > secret.txt")(
        cli_errors(keys_webhook_secret)
    )
    app.add_typer(keys_app, name="keys")


# -- veokit serve -----------------------------------------------------------------------------------------
def serve(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="TCP port to listen on.")] = 8000,
    workers_inline: Annotated[
        int | None,
        typer.Option(
            "--workers-inline",
            metavar="N",
            min=1,
            help="Jobs this process runs at once. Default: VEOKIT_WORKER_CONCURRENCY (200).",
            show_default=False,
        ),
    ] = None,
    no_run: Annotated[
        bool, typer.Option("--no-run", help="Only record jobs; separate `veokit worker` processes run them.")
    ] = False,
) -> None:
    """Serve the HTTP API: OpenAI's Videos API at /v1/videos, the design's /api/veo3 routes, SSE, webhooks,
    /metrics and /docs. By default this process also runs the jobs. Callers send a key from `veokit keys create`
    (Authorization: Bearer KEY). The provider, store and budgets are veokit's usual settings (`veokit config show`);
    the service's own are VEOKIT_SERVER_* (webhook secret, upload size, fetch rules)."""
    from veokit.server.serve import serve as run_server
    from veokit.service import VeoClient

    settings = load_settings()
    with socket.socket() as probe:  # a busy port is one line, not a traceback from inside uvicorn
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise fail(f"--port: {host}:{port} {why}", hint="pick another with --port") from None

    async def active_keys() -> int:
        async with VeoClient(settings) as client:
            return sum(1 for k in await client.tenants.list_keys() if k.revoked_at is None)

    try:
        keys = asyncio.run(active_keys())
    except KeyboardInterrupt:
        raise typer.Exit(0) from None  # stopped before serving anything: nothing to finish
    runs = "records jobs only (--no-run)" if no_run else "runs jobs in this process"
    ui.line(f"veokit serve on http://{host}:{port} ({runs}); docs at /docs; Ctrl-C stops", to_err=True)
    if not keys:
        ui.info("no API key yet: every request gets 401 until one exists; next: `veokit keys create NAME`")
    elif no_run:
        ui.info("jobs wait for a worker: start one with `veokit worker` (same VEOKIT_DATABASE_URL)")
    # The service's own log (each request with its key's name, webhook deliveries) is what an operator reads;
    # uvicorn's start/stop lines repeat ours, so they stay for --verbose.
    logging.getLogger("veokit.server").setLevel(logging.INFO)
    logs.timestamps()
    # uvicorn re-raises the signal it stopped on, after its graceful shutdown: that is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        run_server(
            settings,
            host=host,
            port=port,
            run_jobs=not no_run,
            concurrency=workers_inline,
            log_level="info" if ui.mode.verbose else "warning",
        )
    ui.line(
        "veokit serve stopped; jobs still running are finished by the next `veokit serve` or `veokit worker`",
        to_err=True,
    )


# -- veokit keys ------------------------------------------------------------------------------------------
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name to tell the key apart (letters, digits, - _ .).")],
    budget_daily_usd: Annotated[
        float | None,
        typer.Option(
            "--budget-daily-usd",
            metavar="USD",
            help="The key's spending limit per UTC day. Default: VEOKIT_SERVER_KEY_BUDGET_DAILY_USD (none).",
            show_default=False,
        ),
    ] = None,
    max_in_flight: Annotated[
        int | None,
        typer.Option(
            "--max-in-flight",
            metavar="N",
            help="Videos recorded and not finished at once. Default: VEOKIT_SERVER_KEY_MAX_IN_FLIGHT (20).",
            show_default=False,
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            metavar="URL",
            help="URL that receives video.completed and video.failed (signed; see `keys webhook-secret`).",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Make a key. It is shown once: the key alone on the last line of stdout (with --json, its `key`)."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            made = await client.tenants.create_key(
                name, budget_daily_usd=budget_daily_usd, max_in_flight=max_in_flight, webhook_url=webhook
            )
            limits = client.tenants.limits(made.key)
        if as_json:
            ui.print_json({**_key_view(made.key), "webhook_secret": made.webhook_secret, "key": made.secret})
            return
        budget = f"${limits.daily_usd:.2f}/day" if limits.daily_usd is not None else "no daily budget"
        ui.info(
            f"key {made.key.name} ({made.key.id}): {budget}, at most {limits.max_in_flight} video(s) in flight"
            + (f", webhook {webhook}" if webhook else "")
        )
        if made.webhook_secret:
            ui.info("webhook signing secret (verify deliveries with it; `veokit keys webhook-secret NAME`):")
            ui.line(made.webhook_secret)
        ui.info("the key (store it now: it is not shown again; send it as Authorization: Bearer KEY):")
        ui.line(made.secret)

    asyncio.run(go())


def keys_list(
    as_json: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the key names, one per line.")] = False,
) -> None:
    """Every key (never the key itself: its first characters tell them apart)."""
    from veokit.service import VeoClient

    async def go() -> list[ApiKey]:
        async with VeoClient(load_settings()) as client:
            return await client.tenants.list_keys()

    keys = asyncio.run(go())
    if as_json:
        ui.print_json([_key_view(k) for k in keys])
        return
    if quiet:
        for k in keys:
            ui.line(k.name)
        return
    columns = [
        Column("name"),  # what `keys revoke` takes: never cut
        Column("id"),
        Column("starts", drop=4),
        Column("created", drop=3),
        Column("revoked", drop=2),
        Column("budget/day", right=True),
        Column("in flight", right=True, drop=5),
        Column("webhook", drop=6, shrink=16),
    ]
    rows = [
        [
            k.name,
            k.id,
            k.key_prefix + "…",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
            "" if k.budget_daily_usd is None else f"${k.budget_daily_usd:.2f}",
            "" if k.max_in_flight is None else str(k.max_in_flight),
            k.webhook_url or "",
        ]
        for k in keys
    ]
    tables.render(ui.out, columns, rows, title="API keys")
    if not keys:
        ui.info("next: `veokit keys create NAME` makes one")


def keys_revoke(name: KeyName, as_json: Json = False) -> None:
    """Revoke a key: its requests get 401 from now on (its videos and costs stay on record)."""
    from veokit.service import VeoClient

    async def go() -> ApiKey:
        async with VeoClient(load_settings()) as client:
            return await client.tenants.revoke_key(name)

    key = asyncio.run(go())
    if as_json:
        ui.print_json(_key_view(key))
        return
    ui.line(f"key {key.name} revoked")


def keys_webhook_secret(name: KeyName, as_json: Json = False) -> None:
    """Print a key's webhook signing secret again (derived from the service's secret, never stored)."""
    from veokit.service import VeoClient

    async def go() -> str:
        async with VeoClient(load_settings()) as client:
            return client.tenants.webhook_secret(await client.tenants.key_named(name))

    secret = asyncio.run(go())
    if as_json:
        ui.print_json({"name": name, "webhook_secret": secret})
        return
    ui.line(secret)


def _key_view(key: ApiKey) -> dict[str, object]:
    return key.model_dump(mode="json", exclude={"key_hash"})
