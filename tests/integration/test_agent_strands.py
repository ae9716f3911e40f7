"""A real Strands agent, driven by a scripted model, makes a real MP4 through the emulator with veokit's tools."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from strands.models import Model

from veokit.agent import create_video_agent
from veokit.agent.tools_core import VideoToolkit
from veokit.emulator import EmulatorServer
from veokit.media.probe import Expectation, verify_mp4
from veokit.service.client import VeoClient

from .conftest import settings_for, stats

Turn = str | list[tuple[str, dict[str, Any]]]  # final text, or tool calls (name, input)
Step = Callable[[list[dict[str, Any]]], Turn]


class ScriptedModel(Model):
    """A deterministic Strands model: each turn runs the next step of a script over the conversation so far,
    which answers with tool calls or with final text. It records what the agent showed it."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.turn = 0
        self.tool_specs: list[Any] = []
        self.system_prompt: str | None = None

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    async def structured_output(
        self, output_model: Any, prompt: Any, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        raise NotImplementedError
        yield {}

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: str | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        self.tool_specs, self.system_prompt = list(tool_specs or []), system_prompt
        assert self.turn < len(self.steps), "the agent asked the model for more turns than scripted"
        turn = self.steps[self.turn](messages)
        self.turn += 1
        yield {"messageStart": {"role": "assistant"}}
        if isinstance(turn, str):
            yield {"contentBlockDelta": {"delta": {"text": turn}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "end_turn"}}
            return
        for i, (name, tool_input) in enumerate(turn):
            yield {"contentBlockStart": {"start": {"toolUse": {"name": name, "toolUseId": f"t{self.turn}-{i}"}}}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(tool_input)}}}}
            yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "tool_use"}}


def last_tool_result(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON facts of the latest tool result the agent sent back to the model."""
    for block in reversed(messages[-1]["content"]):
        if "toolResult" in block:
            result = block["toolResult"]
            assert result["status"] == "success", result
            return next(c["json"] for c in result["content"] if "json" in c)
    raise AssertionError("no tool result in the last message")


@pytest.fixture
def toolkit(emu: EmulatorServer, tmp_path: Path) -> Iterator[VideoToolkit]:
    with VideoToolkit(VeoClient(settings_for(emu, tmp_path))) as kit:
        yield kit


def test_scripted_agent_generates_waits_and_downloads_a_real_mp4(
    toolkit: VideoToolkit, emu: EmulatorServer, tmp_path: Path
) -> None:
    target = tmp_path / "deliver" / "fox.mp4"
    steps: list[Step] = [
        lambda m: [
            (
                "generate_video",
                {
                    "prompt": "a red fox trotting through snow",
                    "aspect_ratio": "9:16",
                    "duration_seconds": 4,
                    "negative_prompt": "text, watermark",
                },
            )
        ],
        lambda m: [("wait_for_video", {"job_id": last_tool_result(m)["job_id"], "timeout_s": 600})],
        lambda m: [("download_video", {"job_id": last_tool_result(m)["job_id"], "destination": str(target)})],
        lambda m: f"Your video is at {last_tool_result(m)['path']}.",
    ]
    model = ScriptedModel(steps)
    streamed: list[dict[str, Any]] = []
    running = emu.state.holds.add()  # the video is not done until wait_for_video has reported it running

    def on_event(**kw: Any) -> None:
        if "tool_stream_event" in kw:
            streamed.append(kw["tool_stream_event"]["data"])
            emu.state.holds.release(running.id)

    agent = create_video_agent(model=model, toolkit=toolkit, callback_handler=on_event)
    answer = str(agent("Make me a 4 second vertical clip of a fox in snow, no text on screen."))

    probe = verify_mp4(target, Expectation(width=720, height=1280, duration_s=4.0, audio=True))
    assert probe.video_codec == "h264"
    assert str(target.resolve()) in answer

    # The transcript: exactly these tool calls, in this order, each answered with success.
    uses = [b["toolUse"] for m in agent.messages if m["role"] == "assistant" for b in m["content"] if "toolUse" in b]
    assert [u["name"] for u in uses] == ["generate_video", "wait_for_video", "download_video"]
    results = [
        b["toolResult"] for m in agent.messages if m["role"] == "user" for b in m["content"] if "toolResult" in b
    ]
    assert [r["status"] for r in results] == ["success"] * 3
    waited = next(c["json"] for c in results[1]["content"] if "json" in c)
    assert waited["state"] == "succeeded" and waited["finished"] is True
    assert waited["cost_usd"] == pytest.approx(0.4)  # 4 s x $0.10/s (Veo 3.1 Fast, 720p)
    assert model.turn == len(steps)

    # wait_for_video streamed progress while it waited (Strands streams the final result last, too);
    # one paid submit reached the provider.
    progress = [e for e in streamed if "percent" in e]
    assert len(progress) >= 2 and progress[0]["state"] == "running"
    assert progress[-1]["state"] == "succeeded" and progress[-1]["percent"] == 100.0
    assert streamed[-1]["status"] == "success"
    assert stats(emu)["submits_total"] == 1


def test_tool_descriptions_teach_the_real_constraints(toolkit: VideoToolkit) -> None:
    model = ScriptedModel([lambda m: "ok"])
    agent = create_video_agent(model=model, toolkit=toolkit, callback_handler=None)
    agent("hello")
    specs = {s["name"]: s for s in model.tool_specs}
    assert set(specs) == set(VideoToolkit.TOOL_NAMES)
    gen = specs["generate_video"]
    assert "1:1 is not supported" in gen["description"] and "9:16" in gen["description"]
    props = gen["inputSchema"]["json"]["properties"]
    assert "4, 6 or 8" in props["duration_seconds"]["description"]
    assert "watermark" in props["negative_prompt"]["description"]
    assert "$" in props["model"]["description"]  # per-second prices, read from the catalog
    assert gen["inputSchema"]["json"]["required"] == ["prompt"]
    wait = specs["wait_for_video"]["inputSchema"]["json"]["properties"]["timeout_s"]
    assert "600" in wait["description"]
    assert model.system_prompt and "wait_for_video" in model.system_prompt


@pytest.mark.parametrize(
    ("args", "field", "allowed"),
    [
        ({"aspect_ratio": "1:1"}, "aspect_ratio", "16:9, 9:16"),
        ({"resolution": "4k", "duration_seconds": 4, "model": "veo-3.1-generate-001"}, "duration_seconds", "8"),
        ({"duration_seconds": 5}, "duration_seconds", "4, 6, 8"),
        ({"first_frame": "/nonexistent/frame.png"}, "first_frame", "no such file"),
    ],
)
def test_bad_input_is_an_error_result_naming_the_field_and_spends_nothing(
    toolkit: VideoToolkit, emu: EmulatorServer, args: dict[str, Any], field: str, allowed: str
) -> None:
    agent = create_video_agent(model=ScriptedModel([]), toolkit=toolkit, callback_handler=None)
    result = agent.tool.generate_video(prompt="a fox", record_direct_tool_call=False, **args)
    assert result["status"] == "error"
    (block,) = result["content"]
    assert block["text"].startswith(f"{field}:") and allowed in block["text"]
    assert "\n" not in block["text"] and "Traceback" not in block["text"]
    assert stats(emu)["submits_total"] == 0 and stats(emu)["operations"] == 0
