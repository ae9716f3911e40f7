"""`veokit serve` and `veokit keys`: the HTTP job service and its API keys."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer
from rich.table import Table

from veokit.cli import output as ui
from veokit.config import load_settings
from veokit.service import ApiKey, VeoClient

keys_app = typer.Typer(help="API keys of the HTTP service (`veokit serve`).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from veokit.cli.failures import cli_errors
    from veokit.cli.main import fail, run

    app.add_typer(keys_app, name="keys")

    @app.command()
    @cli_errors
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8000,
        workers_inline: Annotated[
            int | None,
            typer.Option(
                "--workers-inline", min=1, help="Jobs this process runs at once (default VEOKIT_WORKER_CONCURRENCY)."
            ),
        ] = None,
        no_run: Annotated[
            bool, typer.Option("--no-run", help="Only record jobs; separate `veokit worker` processes run them.")
        ] = False,
    ) -> None:
        """Serve the HTTP API: OpenAI's Videos API at /v1/videos, the design's /api/veo3 routes, SSE, webhooks,
        /metrics and /docs. By default this process also runs the jobs."""
        from veokit.server.serve import serve as run_server

        settings = load_settings()
        with socket.socket() as probe:  # a busy port is one line, not a traceback from inside uvicorn
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
                raise fail(f"--port: {host}:{port} {why}") from None
        runs = "records jobs only (--no-run)" if no_run else "runs jobs in this process"
        ui.err.print(
            f"veokit serve on http://{host}:{port} ({runs}); the studio at /, the API docs at /docs; Ctrl-C stops",
            highlight=False,
            soft_wrap=True,
        )
        run_server(settings, host=host, port=port, run_jobs=not no_run, concurrency=workers_inline)

    @keys_app.command("create")
    @cli_errors
    def keys_create(
        name: str,
        budget_daily_usd: Annotated[
            float | None, typer.Option("--budget-daily-usd", help="The key's spending limit per UTC day.")
        ] = None,
        max_in_flight: Annotated[
            int | None, typer.Option("--max-in-flight", help="Videos recorded and not finished at once.")
        ] = None,
        webhook: Annotated[
            str | None, typer.Option("--webhook", help="URL that receives video.completed and video.failed.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Make a key. It is shown once: the key alone on the last line of stdout (with --json, its `key`)."""

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
            ui.err.print(
                f"key {made.key.name} ({made.key.id}): {budget}, at most {limits.max_in_flight} video(s) in flight"
                + (f", webhook {webhook}" if webhook else ""),
                highlight=False,
                soft_wrap=True,
            )
            if made.webhook_secret:
                ui.err.print("webhook signing secret (verify deliveries with it; `veokit keys webhook-secret NAME`):")
                ui.out.print(made.webhook_secret, highlight=False, soft_wrap=True)
            ui.err.print("the key (store it now: it is not shown again):")
            ui.out.print(made.secret, highlight=False, soft_wrap=True)

        run(go())

    @keys_app.command("list")
    @cli_errors
    def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Every key (never the key itself: its first characters tell them apart)."""

        async def go() -> list[ApiKey]:
            async with VeoClient(load_settings()) as client:
                return await client.tenants.list_keys()

        keys = run(go())
        if as_json:
            ui.print_json([_key_view(k) for k in keys])
            return
        table = Table(show_header=True)
        for col in ("name", "id", "starts", "created", "revoked", "budget/day", "in flight", "webhook"):
            table.add_column(col, overflow="fold")
        for k in keys:
            table.add_row(
                k.name,
                k.id,
                k.key_prefix + "…",
                f"{k.created_at:%Y-%m-%d %H:%M}",
                f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
                "" if k.budget_daily_usd is None else f"${k.budget_daily_usd:.2f}",
                "" if k.max_in_flight is None else str(k.max_in_flight),
                k.webhook_url or "",
            )
        ui.out.print(table)

    @keys_app.command("revoke")
    @cli_errors
    def keys_revoke(name: str) -> None:
        """Revoke a key: its requests get 401 from now on (its videos and costs stay on record)."""

        async def go() -> ApiKey:
            async with VeoClient(load_settings()) as client:
                return await client.tenants.revoke_key(name)

        key = run(go())
        ui.out.print(f"key {key.name} revoked", highlight=False)

    @keys_app.command("webhook-secret")
    @cli_errors
    def keys_webhook_secret(name: str) -> None:
        """Print a key's webhook signing secret again (derived from the service's secret, never stored)."""

        async def go() -> str:
            async with VeoClient(load_settings()) as client:
                return client.tenants.webhook_secret(await client.tenants.key_named(name))

        ui.out.print(run(go()), highlight=False, soft_wrap=True)


def _key_view(key: ApiKey) -> dict[str, object]:
    return key.model_dump(mode="json", exclude={"key_hash"})
