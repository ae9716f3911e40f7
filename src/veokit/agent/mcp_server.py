"""veokit's video tools over MCP (the official ``mcp`` SDK's ``MCPServer``), for any MCP client.

The same :class:`~veokit.agent.tools_core.VideoToolkit` methods as the Strands tools, plus resources:

- ``veokit://jobs``: the recent jobs (JSON);
- ``veokit://jobs/{job_id}``: one job (JSON);
- ``veokit://jobs/{job_id}/videos/{index}``: a finished MP4 as a blob. Tool results link it with a
  ``resource_link`` and give the file path too, for clients that can open local files.

``wait_for_video`` sends ``notifications/progress`` while it waits when the client asked for them (a
progress token). On stdio, stdout is the protocol: everything else logs to stderr.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent, ToolAnnotations

from veokit.agent.prompts import MCP_INSTRUCTIONS
from veokit.agent.results import ToolResult, data_of, text_of
from veokit.agent.signatures import method_signature, present_as, with_pydantic_descriptions
from veokit.agent.tools_core import Update, VideoToolkit

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
        destructive_hint=False,  # nothing is deleted; download_video refuses to overwrite unless asked
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
            return to_call_result(await method(**kwargs))

        fn = call
    present_as(fn, name=name, doc=toolkit.description(name), signature=signature)
    return fn


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
    toolkit: VideoToolkit, *, http: bool = False, host: str = "127.0.0.1", port: int = 8000, path: str = "/mcp"
) -> None:
    """Run the server until the client disconnects (stdio) or Ctrl-C (HTTP)."""
    server = build_mcp_server(toolkit)
    if not http:
        server.run("stdio")
        return
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving MCP on %s with no authentication: anyone who can reach it can spend your Veo budget", host)
    server.run("streamable-http", host=host, port=port, streamable_http_path=path)


__all__ = ["build_mcp_server", "serve", "to_call_result"]
