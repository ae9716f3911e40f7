"""veokit's video tools over MCP (the official ``mcp`` SDK's ``MCPServer``), for any MCP client.

The same :class:`~veokit.agent.tools_core.VideoToolkit` methods as the Strands tools, plus resources:

- ``veokit://jobs``: the recent jobs (JSON);
- ``veokit://jobs/{job_id}``: one job (JSON);
- ``veokit://jobs/{job_id}/videos/{index}``: a finished MP4 as a blob. Tool results link it with a
  ``resource_link`` and give the file path too, for clients that can open local files.

``wait_for_video`` sends ``notifications/progress`` while it waits when the client asked for them (a
progress token). On stdio, stdout is the protocol: everything else logs to stderr.

Safe by default (see :mod:`veokit.service.file_roots`): tools read images and write videos only inside the
allowed roots (default: the out dir and the current directory on stdio, the out dir only over HTTP), narrowed
further to the client's own roots when it declares some; over HTTP a bearer token (``--token`` /
``VEOKIT_MCP_TOKEN``) is required on every request when set.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import (
    CallToolResult,
    ClientCapabilities,
    ContentBlock,
    ListRootsRequest,
    ListRootsResult,
    ResourceLink,
    RootsCapability,
    TextContent,
    ToolAnnotations,
)

from veokit.agent.prompts import MCP_INSTRUCTIONS
from veokit.agent.results import ToolResult, data_of, text_of
from veokit.agent.signatures import method_signature, present_as, with_pydantic_descriptions
from veokit.agent.tools_core import Update, VideoToolkit
from veokit.service import file_roots
from veokit.service.file_roots import FileRoots

log = logging.getLogger("veokit.agent")

MAX_BLOB_BYTES = 200 * 1024 * 1024  # base64 in one JSON message: past this, use the file path
READ_ONLY = {"estimate_cost", "video_status", "list_videos", "film_status"}
SPENDS = {"generate_video", "extend_video", "resume_video", "render_film"}


def build_mcp_server(toolkit: VideoToolkit) -> MCPServer[Any]:
    """An ``MCPServer`` exposing the toolkit's tools and the job resources. The caller closes the toolkit."""
    try:
        version = metadata.version("veokit")
    except metadata.PackageNotFoundError:
        version = "0"
    server: MCPServer[Any] = MCPServer(
        "veokit",
        title="veokit: Google Veo video generation",
        version=version,
        instructions=MCP_INSTRUCTIONS,
        log_level="WARNING",
    )
    for name in toolkit.TOOL_NAMES:
        server.add_tool(
            _forwarder(toolkit, name), name=name, description=toolkit.description(name), annotations=_annotations(name)
        )
    _add_resources(server, toolkit)
    return server


def _annotations(name: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=name.replace("_", " "),
        read_only_hint=name in READ_ONLY,
        # Nothing is deleted (download_video refuses to overwrite unless asked); cancel_video ends a job for good.
        destructive_hint=name == "cancel_video",
        idempotent_hint=name not in SPENDS,
        open_world_hint=name in SPENDS,
    )


def _forwarder(toolkit: VideoToolkit, name: str) -> Callable[..., Any]:
    method = getattr(toolkit, name)
    signature = with_pydantic_descriptions(method_signature(method))
    signature = signature.replace(
        parameters=[
            *signature.parameters.values(),
            inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
        ],
        return_annotation=CallToolResult,
    )
    fn: Callable[..., Any]
    if inspect.isasyncgenfunction(method):

        async def streaming(ctx: Context, **kwargs: Any) -> CallToolResult:
            result: ToolResult | None = None
            sent = -1.0
            with file_roots.using(await _client_roots(ctx, toolkit.roots)):
                async for event in method(**kwargs):
                    if isinstance(event, Update):
                        if event.percent > sent:  # MCP: progress must increase with each notification
                            sent = event.percent
                            await ctx.report_progress(event.percent, 100.0, event.message)
                    else:
                        result = event
            assert result is not None, "tool generators end with their result"
            return to_call_result(result)

        fn = streaming
    else:

        async def call(ctx: Context, **kwargs: Any) -> CallToolResult:
            with file_roots.using(await _client_roots(ctx, toolkit.roots)):
                return to_call_result(await method(**kwargs))

        fn = call
    present_as(fn, name=name, doc=toolkit.description(name), signature=signature)
    return fn


async def _client_roots(ctx: Context, allowed: FileRoots | None) -> FileRoots | None:
    """The client's own roots (``roots/list``) that lie inside the server's, when the client declares roots:
    a client may narrow what its tools touch, never widen it. ``None``: keep the server's."""
    if allowed is None:
        return None
    try:
        if not ctx.session.check_client_capability(ClientCapabilities(roots=RootsCapability())):
            return None
        # Asked within this tool call (related_request_id): streamable HTTP has a back-channel only there.
        listed = await ctx.session.send_request(
            ListRootsRequest(),
            ListRootsResult,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
        )
    except Exception:  # no back-channel (2026-07-28 single exchange), or the client failed to answer
        return None
    paths = []
    for root in listed.roots:
        uri = urlparse(str(root.uri))
        if uri.scheme == "file":
            paths.append(unquote(uri.path))
    client = FileRoots.of(paths)
    return FileRoots(tuple(r for r in client.roots if any(r.is_relative_to(a) for a in allowed.roots)))


def default_roots(out_dir: Path, *, http: bool, extra: list[str] | None = None) -> FileRoots:
    """The folders tools may touch: ``extra`` when given (``--root``), else the out dir, plus the current
    directory on stdio (the client is this user's own program; over HTTP it may be anyone who can connect)."""
    if extra:
        return FileRoots.of(extra)
    return FileRoots.of([out_dir] if http else [out_dir, Path.cwd()])


def to_call_result(result: ToolResult) -> CallToolResult:
    """A toolkit result as MCP content: the summary line, the JSON facts (also as structured content) and a
    resource link per finished video."""
    data = data_of(result)
    content: list[ContentBlock] = [TextContent(type="text", text=text_of(result))]
    if data:
        content.append(TextContent(type="text", text=json.dumps(data, ensure_ascii=False)))
    job_id = data.get("job_id")
    for video in data.get("videos", []) if job_id else []:
        content.append(
            ResourceLink(
                type="resource_link",
                uri=f"veokit://jobs/{job_id}/videos/{video['index']}",
                name=Path(str(video["path"])).name,
                mime_type="video/mp4",
                size=video.get("size_bytes"),
                description=(
                    f"{video['width']}x{video['height']}, {video['duration_s']:.2f} s; saved at {video['path']}"
                ),
            )
        )
    return CallToolResult(content=content, structured_content=data or None, is_error=result["status"] == "error")


def _add_resources(server: MCPServer[Any], toolkit: VideoToolkit) -> None:
    @server.resource(
        "veokit://jobs",
        name="jobs",
        mime_type="application/json",
        description="The 20 most recent video jobs, newest first.",
    )
    async def jobs() -> str:
        return json.dumps(_data_or_raise(await toolkit.list_videos(limit=20), "veokit://jobs"))

    @server.resource(
        "veokit://jobs/{job_id}",
        name="job",
        mime_type="application/json",
        description="One video job: state, files with probe facts, estimate and cost.",
    )
    async def job(job_id: str) -> str:
        return json.dumps(_data_or_raise(await toolkit.video_status(job_id), f"veokit://jobs/{job_id}"))

    @server.resource(
        "veokit://jobs/{job_id}/videos/{index}",
        name="video",
        mime_type="video/mp4",
        description="A finished video (MP4 bytes) of a succeeded job; index is 0 for the first.",
    )
    async def video(job_id: str, index: str) -> bytes:
        uri = f"veokit://jobs/{job_id}/videos/{index}"
        data = _data_or_raise(await toolkit.video_status(job_id), uri)
        videos = {str(v["index"]): v for v in data.get("videos", [])}
        if data.get("state") != "succeeded" or index not in videos:
            raise ResourceNotFoundError(
                f"{uri}: no such video (job {data.get('state')}, videos: {', '.join(videos) or 'none'})"
            )
        path = Path(str(videos[index]["path"]))
        return await asyncio.to_thread(_read_video, path, uri)


def _data_or_raise(result: ToolResult, uri: str) -> dict[str, Any]:
    if result["status"] == "error":
        text = text_of(result)
        if "not found" in text.lower() or "no job" in text.lower():
            raise ResourceNotFoundError(f"{uri}: {text}")
        raise ResourceError(f"{uri}: {text}")
    return data_of(result)


def _read_video(path: Path, uri: str) -> bytes:
    if not path.is_file():
        raise ResourceNotFoundError(f"{uri}: the saved file {path} no longer exists")
    if path.stat().st_size > MAX_BLOB_BYTES:
        raise ResourceError(
            f"{uri}: {path.stat().st_size / 1e6:.0f} MB is too large to send inline; open {path} instead"
        )
    return path.read_bytes()


def serve(
    toolkit: VideoToolkit,
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    token: str | None = None,
) -> None:
    """Run the server until the client disconnects (stdio) or Ctrl-C (HTTP). ``token`` (default:
    ``VEOKIT_MCP_TOKEN``): the bearer token every HTTP request must carry."""
    server = build_mcp_server(toolkit)
    if not http:
        server.run("stdio")
        return
    token = token or os.environ.get("VEOKIT_MCP_TOKEN") or None
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving MCP on %s with no authentication: anyone who can reach it can spend your Veo budget", host)
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=path, host=host)
    uvicorn.run(app if token is None else BearerToken(app, token), host=host, port=port, log_level="warning")


class BearerToken:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>`` (401 otherwise),
    compared in constant time. The token never appears in logs or answers."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <token> (veokit mcp --token)"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


__all__ = ["BearerToken", "build_mcp_server", "default_roots", "serve", "to_call_result"]
