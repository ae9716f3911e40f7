"""The MCP server touches files only inside its allowed roots (narrowed to the client's own roots when it
declares some), answers "missing" and "not allowed" alike, and requires a bearer token over HTTP when set."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client import Client
from mcp.types import CallToolResult, ListRootsResult, Root
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from veokit.agent.mcp_server import BearerToken, build_mcp_server, default_roots
from veokit.agent.tools_core import VideoToolkit, _copy_and_probe
from veokit.emulator import EmulatorServer
from veokit.errors import InvalidRequest
from veokit.service.client import VeoClient
from veokit.service.file_roots import FileRoots

from .conftest import settings_for


def _png(path: Path) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 36), (10, 120, 200)).save(buf, "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return str(path)


def text(result: CallToolResult) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


@pytest.fixture
def toolkit(emulator: EmulatorServer, tmp_path: Path) -> Iterator[VideoToolkit]:
    kit = VideoToolkit(VeoClient(settings_for(emulator, tmp_path)))
    kit.roots = default_roots(tmp_path / "videos", http=True, extra=[str(tmp_path / "project")])
    yield kit
    kit.close()


async def test_images_are_read_only_inside_the_roots_and_outside_looks_missing(
    toolkit: VideoToolkit, tmp_path: Path
) -> None:
    inside = _png(tmp_path / "project" / "frame.png")
    outside = _png(tmp_path / "private" / "secret.png")
    sneaky = str(tmp_path / "project" / ".." / "private" / "secret.png")
    (tmp_path / "project" / "link.png").symlink_to(outside)
    async with Client(build_mcp_server(toolkit)) as client:
        ok = await client.call_tool("estimate_cost", {"prompt": "a wave", "first_frame": inside})
        assert not ok.is_error, text(ok)
        answers = {}
        for name, path in {
            "outside": outside,
            "dotdot": sneaky,
            "symlink": str(tmp_path / "project" / "link.png"),
            "missing": str(tmp_path / "project" / "nope.png"),
        }.items():
            result = await client.call_tool("estimate_cost", {"prompt": "a wave", "first_frame": path})
            assert result.is_error
            answers[name] = text(result).replace(path, "PATH")
        assert len(set(answers.values())) == 1, answers  # missing and not-allowed read the same
        assert "no such file in the folders this server may read" in answers["missing"]


async def test_a_client_declaring_roots_narrows_them_and_cannot_widen_them(
    toolkit: VideoToolkit, tmp_path: Path
) -> None:
    shots = _png(tmp_path / "project" / "shots" / "a.png")
    notes = _png(tmp_path / "project" / "notes" / "b.png")
    elsewhere = _png(tmp_path / "elsewhere" / "c.png")

    async def roots(_: Any) -> ListRootsResult:
        return ListRootsResult(
            roots=[Root(uri=f"file://{tmp_path / 'project' / 'shots'}"), Root(uri=f"file://{tmp_path / 'elsewhere'}")]
        )

    # Roots are a handshake-era feature (deprecated by SEP-2577): a legacy session is where clients send them.
    async with Client(build_mcp_server(toolkit), list_roots_callback=roots, mode="legacy") as client:
        allowed = await client.call_tool("estimate_cost", {"prompt": "x", "first_frame": shots})
        assert not allowed.is_error, text(allowed)
        for path in (notes, elsewhere):  # outside the client's roots / a client root outside the server's
            refused = await client.call_tool("estimate_cost", {"prompt": "x", "first_frame": path})
            assert refused.is_error and "no such file" in text(refused), (path, text(refused))


def test_videos_are_written_only_inside_the_roots(tmp_path: Path) -> None:
    roots = FileRoots.of([tmp_path / "videos"])
    src = tmp_path / "videos" / "v.mp4"
    src.parent.mkdir()
    src.write_bytes(b"not probed: the destination is refused first")
    victim = tmp_path / "home" / "important.mp4"
    victim.parent.mkdir()
    victim.write_bytes(b"keep me")
    for destination in (str(victim), str(tmp_path / "home"), str(tmp_path / "videos" / ".." / "home" / "x.mp4")):
        with pytest.raises(InvalidRequest, match="outside the folders this server may write to"):
            _copy_and_probe(src, destination, True, roots)
    assert victim.read_bytes() == b"keep me" and sorted(p.name for p in victim.parent.iterdir()) == ["important.mp4"]


def test_default_roots_are_the_out_dir_over_http_and_also_the_cwd_on_stdio(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    assert default_roots(out, http=True).roots == (out.resolve(),)
    assert default_roots(out, http=False).roots == (out.resolve(), Path.cwd().resolve())


async def test_the_bearer_token_is_required_on_every_http_request() -> None:
    inner = Starlette(routes=[Route("/mcp", lambda r: PlainTextResponse("served"), methods=["GET", "POST"])])
    app = BearerToken(inner, "s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mcp") as http:
        assert (await http.post("/mcp")).status_code == 401
        wrong = await http.post("/mcp", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and "s3cret" not in wrong.text
        right = await http.post("/mcp", headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200 and right.text == "served"
