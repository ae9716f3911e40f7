"""`veokit generate --extend` as a user runs it: a previous job by its id, or a local MP4, checked by the same
extension rules as the agent's extend_video before anything is paid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import numpy as np

from veokit.emulator.render import RenderSpec, render_mp4
from veokit.media.probe import Expectation, verify_mp4

from .test_cli import veokit


def one_line_exit_2(p: subprocess.CompletedProcess[str], needle: str) -> None:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len([line for line in p.stderr.splitlines() if line.strip()]) == 1, p.stderr


def test_extend_a_previous_job_by_its_id(tmp_path: Path) -> None:
    first = veokit(
        tmp_path, "generate", "a paper boat", "--provider", "emulator", "-d", "4", "--aspect", "9:16", "--json"
    )
    assert first.returncode == 0, first.stderr
    source = json.loads(first.stdout)

    priced = veokit(tmp_path, "generate", "it drifts under a bridge", "--extend", source["id"], "--dry-run", "--json")
    assert priced.returncode == 0, priced.stderr
    plan = json.loads(priced.stdout)  # where the source ran, billed as one 8 s clip
    assert (plan["provider"], plan["estimate_usd"]) == ("emulator", 0.8)

    p = veokit(tmp_path, "generate", "it drifts under a bridge", "--extend", source["id"], "--json")
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    assert job["state"] == "succeeded" and job["provider"] == "emulator"
    request = job["request"]
    assert (request["aspect_ratio"], request["resolution"], request["duration_seconds"]) == ("9:16", "720p", 8)
    assert request["video"]["bytes"] is True and "data" not in request["video"]  # summarised, never inlined
    probe = verify_mp4(job["results"][0]["path"], Expectation(width=720, height=1280))
    assert probe.duration_s > source["results"][0]["duration_s"] + 5

    other_aspect = veokit(tmp_path, "generate", "more", "--extend", source["id"], "--aspect", "16:9")
    one_line_exit_2(other_aspect, "aspect_ratio: the video to extend is 9:16")


def test_what_cannot_be_extended_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    wide = tmp_path / "wide.mp4"
    render_mp4(RenderSpec(prompt="a wide shot", width=1920, height=1080, duration_s=1.0), wide)
    (tmp_path / "notes.mp4").write_text("not a video")
    long = tmp_path / "long.mp4"
    with av.open(str(long), "w", format="mp4") as c:  # 146 s at 1 fps: longer than Veo extends, quick to write
        v = c.add_stream("libx264", rate=1)
        v.width, v.height, v.pix_fmt = 1280, 720, "yuv420p"
        for i in range(146):
            frame = av.VideoFrame.from_ndarray(np.full((1080, 1280), 90, dtype=np.uint8), format="yuv420p")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    for source, needle in [
        (str(long), "video: the video is 146 s; veo-3.1-fast-generate-001 on vertex extends videos of at most 141 s"),
        (str(wide), "video: wide.mp4 is 1920x1080; Veo extends only 720p videos"),
        (str(tmp_path / "notes.mp4"), "video: notes.mp4 is not a complete MP4 video"),
        (str(tmp_path / "missing.mp4"), "video: no such file"),
        ("job_0000000000000000", "job_0000000000000000 not found"),
    ]:
        p = veokit(tmp_path, "generate", "more", "--provider", "emulator", "--extend", source)
        one_line_exit_2(p, needle)
    listed = veokit(tmp_path, "jobs", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_extending_a_filtered_job_names_the_job(tmp_path: Path) -> None:
    first = veokit(tmp_path, "generate", "x [emulate:filtered]", "--provider", "emulator", "-d", "4", "--json")
    assert first.returncode == 4
    [job] = json.loads(veokit(tmp_path, "jobs", "list", "--json").stdout)
    p = veokit(tmp_path, "enqueue", "more", "--extend", job["id"])
    one_line_exit_2(p, f"video: job {job['id']} is filtered; only a succeeded job's video can be extended")
