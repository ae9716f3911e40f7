"""veokit's video tools as Strands tools: thin forwarders to :class:`~veokit.agent.tools_core.VideoToolkit`.

``wait_for_video`` is an async-generator tool, so Strands streams its progress events (``tool_stream_event``
in callback handlers and ``stream_async``) while it waits, then returns the result.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from veokit.agent.results import ToolResult
from veokit.agent.signatures import method_signature, present_as
from veokit.agent.tools_core import Update, VideoToolkit

if TYPE_CHECKING:
    from strands.types.tools import AgentTool


def strands_tools(toolkit: VideoToolkit) -> list[AgentTool]:
    """One Strands tool per toolkit tool, named and described as the toolkit method is."""
    return [_tool(toolkit, name) for name in toolkit.TOOL_NAMES]


def _tool(toolkit: VideoToolkit, name: str) -> AgentTool:
    from strands import tool

    method = getattr(toolkit, name)
    description = toolkit.description(name)
    fn: Any
    if inspect.isasyncgenfunction(method):

        async def stream(**kwargs: Any) -> AsyncIterator[dict[str, Any]]:
            async for event in method(**kwargs):
                # Progress goes out as plain dicts; Strands takes the last event as the tool's result.
                yield event.data if isinstance(event, Update) else event

        fn = stream
    else:

        async def call(**kwargs: Any) -> ToolResult:
            result: ToolResult = await method(**kwargs)
            return result

        fn = call
    present_as(fn, name=name, doc=description, signature=method_signature(method))
    decorated: AgentTool = tool(name=name, description=description)(fn)
    return decorated
