"""The CLI as a user sees it: commands run in a real pseudo-terminal 80 columns wide, and with output piped.

One store is set up once per module (a video, a filtered job, a job whose submit outcome is unknown) against the
session's emulator; each test then runs the command a user would type and reads what reached the screen: ids
whole on one line, nothing past the 80th column, the next step spelled out, plain text in a pipe.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import DEADLINE_NOT_UNDER_TEST_S
from .terminal import ANSI, Screen, in_terminal, piped

VEOKIT = [sys.executable, "-m", "veokit.cli.main"]
WIDTH = 80


@dataclass
class World:
    root: Path
    env: dict[str, str]
    video: str  # a succeeded job (seed 7)
    filtered: str
    unknown: str  # submit outcome unknown: needs the user's decision

    def tty(self, *args: str, stdin: bytes | None = None) -> Screen:
        return in_terminal([*VEOKIT, *args], env=self.env, cwd=self.root, columns=WIDTH, stdin=stdin)

    def pipe(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        p = piped([*VEOKIT, *args], env=self.env, cwd=self.root, stdin=stdin)
        return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def world(emulator_session: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("cli-terminal")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "VEOKIT_DATABASE_URL": f"sqlite:///{root / 'jobs.db'}",
            "VEOKIT_DATA_DIR": str(root / "data"),
            "VEOKIT_CONFIG": str(root / "none.toml"),
            "VEOKIT_OUT_DIR": str(root / "videos"),
            "VEOKIT_PROVIDER": "vertex",
            "VEOKIT_VERTEX_BASE_URL": emulator_session.base_url,
            "VEOKIT_VERTEX_PROJECT": "proj-1",
            "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
            "VEOKIT_POLL_SCALE": "0.01",
            "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),
            "VEOKIT_RATE_LIMIT": "off",
        }
    )
    settings = Settings(
        provider="vertex",
        vertex_base_url=emulator_session.base_url,
        vertex_project="proj-1",
        vertex_access_token="test-token",
        database_url=env["VEOKIT_DATABASE_URL"],
        data_dir=root / "data",
        out_dir=root / "videos",
        poll_scale=0.01,
        job_deadline_s=DEADLINE_NOT_UNDER_TEST_S,
        rate_limit="off",
    )

    async def setup() -> tuple[str, str, str]:
        async with VeoClient(settings) as c:
            video = await c.generate(GenerateRequest(prompt="a red fox trotting through fresh snow", seed=7))
            filtered = await c.finish((await c.submit(GenerateRequest(prompt="x [emulate:filtered]"))).id)
            unknown = await c.submit(GenerateRequest(prompt="a lighthouse at night, long exposure"))
            # A crash during the paid call leaves the job in `submitting`: nobody knows if it was accepted.
            await c._store.transition(unknown.id, expect=JobState.QUEUED, to=JobState.SUBMITTING)
            return video.id, filtered.id, unknown.id

    video, filtered, unknown = asyncio.run(setup())
    yield World(root, env, video, filtered, unknown)


def fits(screen: Screen) -> None:
    wide = [line for line in screen.lines if len(line) > WIDTH]
    assert not wide, "lines past the 80th column:\n" + "\n".join(wide)


def test_jobs_list_keeps_ids_whole_and_shows_where_results_are(world: World) -> None:
    s = world.tty("jobs", "list")
    assert s.code == 0, s.text
    fits(s)
    for job_id in (world.video, world.filtered, world.unknown):
        assert any(job_id in line for line in s.lines), f"{job_id} not whole on one line:\n{s.text}"
    [row] = [line for line in s.lines if world.video in line]
    assert ".mp4" in row  # where its video is, even at 80 columns


def test_jobs_list_piped_is_plain_tab_separated_and_quiet_is_ids_only(world: World) -> None:
    code, out, err = world.pipe("jobs", "list")
    assert code == 0, err
    assert not ANSI.search(out) and "[bold" not in out
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert set(rows) == {world.video, world.filtered, world.unknown}
    assert rows[world.video][-1].endswith(".mp4") and Path(rows[world.video][-1]).is_file()

    code, out, _ = world.pipe("jobs", "list", "-q")
    assert code == 0 and out.split() == [world.unknown, world.filtered, world.video]


def test_models_fit_80_columns_with_whole_model_ids(world: World) -> None:
    s = world.tty("models", "--provider", "emulator")  # the emulator sells Vertex's models
    assert s.code == 0, s.text
    fits(s)
    for model in ("veo-3.1-generate-001", "veo-3.1-fast-generate-001", "veo-3.1-lite-generate-001"):
        assert any(model in line for line in s.lines), s.text


def test_help_fits_80_columns_describes_every_option_and_shows_examples(world: World) -> None:
    s = world.tty("generate", "--help")
    assert s.code == 0, s.text
    fits(s)
    text = s.text
    assert "<bool>" not in text and "generati…" not in text
    for option in ("--person-generation", "--enhance-prompt", "--seed", "--model", "--prompt-file"):
        assert option in text
    assert "allow_adult" in text and "VEOKIT_PROVIDER" in text and "Examples:" in text
    top = world.tty("--version")
    assert top.code == 0 and top.text.startswith("veokit ")


def test_filtered_exit_says_it_cost_nothing_and_how_to_retry(world: World) -> None:
    s = world.tty("generate", "y [emulate:filtered]")
    assert s.code == 4, s.text
    hints = [line for line in s.lines if line.startswith("next:")]
    assert hints and "$0.00" in hints[0] and "--retry-filtered" in s.text


def test_resume_names_the_reason_and_the_reconcile_command(world: World) -> None:
    code, _, err = world.pipe("resume", world.unknown)
    assert code == 6, err
    status = next(line for line in err.splitlines() if line.startswith(world.unknown))
    assert not status.rstrip().endswith(":")  # never an empty reason
    assert f"veokit jobs reconcile {world.unknown} OPERATION" in err and f"veokit jobs retry {world.unknown}" in err


def test_a_reused_answer_names_the_job_it_reused(world: World) -> None:
    code, out, err = world.pipe("generate", "a red fox trotting through fresh snow", "--seed", "7")
    assert code == 0, err
    assert f"same request and seed as {world.video}" in err and "nothing paid" in err
    assert "saved " in out and "cost $0.00" in out


def test_json_errors_are_json_on_stdout_with_the_same_exit_code(world: World) -> None:
    code, out, err = world.pipe("generate", "x", "--provider", "nope", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["exit_code"] == 2 and "auto" in error["message"] and error["type"] == "ConfigError"
    assert len([line for line in err.splitlines() if line.strip()]) == 1  # and one line for the human


def test_prompt_from_stdin_and_a_directory_as_image(world: World) -> None:
    code, out, err = world.pipe("generate", "-", "--dry-run", stdin="waves at dusk\n")
    assert code == 0, err
    assert "dry run" in out and "nothing was sent" in out
    (world.root / "frames").mkdir(exist_ok=True)
    code, _, err = world.pipe("generate", "x", "--image", "frames", "--dry-run")
    assert code == 2 and "is a directory" in err


def test_open_prints_the_path_without_a_display_and_gallery_writes_one_page(world: World) -> None:
    world.env.pop("DISPLAY", None)
    world.env.pop("WAYLAND_DISPLAY", None)
    code, out, err = world.pipe("open")
    assert code == 0, err
    video = Path(out.strip())
    assert video.is_file() and video.suffix == ".mp4"
    code, out, err = world.pipe("gallery", "--out", str(world.root / "share" / "index.html"))
    assert code == 0, err
    page = Path(out.strip()).read_text()
    assert world.video in page and "a red fox trotting" in page
    assert "data:image/jpeg;base64," in page and '<video controls preload="none"' in page


def test_keys_list_keeps_ids_whole_piped_is_tab_separated_and_errors_say_what_next(world: World) -> None:
    for name in ("ci-pipeline-with-a-long-name", "laptop"):
        code, out, err = world.pipe("keys", "create", name, "--webhook", "https://example.com/a/long/hook/path")
        assert code == 0, err
        assert out.splitlines()[-1].startswith("vk_")  # the key alone on the last line
    s = world.tty("keys", "list")
    assert s.code == 0, s.text
    fits(s)
    code, out, _ = world.pipe("keys", "list")
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and not ANSI.search(out) and "┃" not in out and "│" not in out
    ids = {row[0]: row[1] for row in rows}
    assert set(ids) == {"ci-pipeline-with-a-long-name", "laptop"}
    for name, key_id in ids.items():
        assert any(name in line and key_id in line for line in s.lines), f"{name} {key_id} split:\n{s.text}"
    code, out, _ = world.pipe("keys", "list", "-q")
    assert code == 0 and sorted(out.split()) == ["ci-pipeline-with-a-long-name", "laptop"]

    code, out, err = world.pipe("keys", "revoke", "nobody", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["type"] == "KeyNameError" and "veokit keys list" in error["next"]
    assert "veokit keys list" in err


def test_film_plan_fits_and_names_the_next_command_and_config_show_names_flags(world: World) -> None:
    board = Path(__file__).parents[2] / "examples" / "last-train.yaml"
    s = world.tty("film", "plan", str(board), "--provider", "emulator")
    assert s.code == 0, s.text
    table = [line for line in s.lines if not line.startswith(("next:", "4 shots"))]  # prose is never cut
    assert table and all(len(line) <= WIDTH for line in table), s.text
    for shot in ("platform", "closeup", "doors", "departure"):
        assert any(line.startswith(shot) for line in s.lines), s.text
    assert f"veokit film render {board} --provider emulator" in s.text
    code, out, _ = world.pipe("film", "plan", str(board))
    assert code == 0 and "━" not in out and out.splitlines()[0].split("\t")[:2] == ["platform", "cut"]

    code, out, err = world.pipe("config", "show", "--provider", "emulator", "--set", "retry_filtered=2", "--json")
    assert code == 0, err
    source = {row["name"]: row["source"] for row in json.loads(out)}
    assert source["provider"] == "flag" and source["retry_filtered"] == "flag" and source["out_dir"] == "env"


def test_serve_on_a_busy_port_is_one_line_naming_the_way_out(world: World) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        code, out, err = world.pipe("serve", "--port", port)
    assert code == 2 and out == ""
    assert err.strip() == f"error: --port: 127.0.0.1:{port} is in use (next: pick another with --port)"
