"""veokit for agents: Strands tools, a ready Strands agent with a LiteLLM chat model, and an MCP server.

    tools_core.py       the one implementation of the tools (VideoToolkit); results.py shapes what they return
                        (jobs run on veokit.service.runtime's event-loop thread, so they outlive each tool call)
    strands_adapter.py  Strands wrappers      factory.py  create_video_agent (LiteLLM model; prompts.py)
    mcp_server.py       MCP wrappers, resources, stdio / streamable HTTP   signatures.py  shared by both

Needs the ``agent`` extra (``strands-agents[litellm]``, ``mcp``); importing this package alone does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veokit.lazy import lazy_exports

if TYPE_CHECKING:
    from veokit.agent.factory import create_video_agent
    from veokit.agent.mcp_server import build_mcp_server
    from veokit.agent.strands_adapter import strands_tools
    from veokit.agent.tools_core import VideoToolkit

__all__ = ["VideoToolkit", "build_mcp_server", "create_video_agent", "strands_tools"]

# Lazy, so `import veokit.agent` costs nothing and the MCP server never imports Strands (or LiteLLM).
__getattr__ = lazy_exports(
    __name__,
    {
        "VideoToolkit": "veokit.agent.tools_core",
        "create_video_agent": "veokit.agent.factory",
        "build_mcp_server": "veokit.agent.mcp_server",
        "strands_tools": "veokit.agent.strands_adapter",
    },
)
