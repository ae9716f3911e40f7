"""Films end to end: a storyboard rendered through the emulator over loopback, stitched, resumed and edited.

One emulator serves the module and keeps its renders, so a request rendered by one test is not encoded again by
the next; submits are counted at the emulator, per shot (by the shot's prompt inside the request it received).
Rendering and stitching 720p video is what costs here, so every shot is Veo's shortest (4 s), and the tests that
start from a finished film (edit, pick) each start from a copy of one store rendered once for the module.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio
import pytest

from veokit import errors as E
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import first_frame_rgb, last_frame_rgb, probe_mp4
from veokit.models.storyboard import load_storyboard
from veokit.service import JobState, VeoClient

from .conftest import BEFORE_GEMINI_SHUTDOWN, KITES, expire_leases, settings_for, stats

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "last-train.yaml"
VEOKIT = [sys.executable, "-m", "veokit.cli.main"]

SMALL = (
    KITES
    + """\
  - id: waves
    prompt: Waves roll in at dusk.
"""
)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    storage = tmp_path_factory.mktemp("renders")
    config = EmulatorConfig(latency_s=0.2, as_of=BEFORE_GEMINI_SHUTDOWN, storage_dir=storage)
    with EmulatorServer(config, port=0) as server:
        yield server


@pytest.fixture
async def client(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[VeoClient]:
    async with VeoClient(settings_for(emu, tmp_path, job_deadline_s=600)) as c:
        yield c


@dataclass(frozen=True)
class Rendered:
    """SMALL rendered once: its store (``jobs.db``, ``data/``) and the takes it recorded, which the copies share."""

    root: Path

    def copy_to(self, tmp_path: Path) -> Path:
        """The store as a test of its own starts from: a copy (the takes stay where they are, read-only)."""
        shutil.copy2(self.root / "jobs.db", tmp_path / "jobs.db")
        if (self.root / "data").is_dir():
            shutil.copytree(self.root / "data", tmp_path / "data")
        board = tmp_path / "kites.yaml"
        board.write_text(SMALL)
        return board


@pytest.fixture(scope="module")
def rendered(emu: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp("kites")
    board = root / "kites.yaml"
    board.write_text(SMALL)

    async def go() -> None:
        async with VeoClient(settings_for(emu, root, job_deadline_s=600)) as veo:
            result = await veo.film_render(board, out_dir=root / "film")
            assert result.status.done and result.recorded == 4

    asyncio.run(go())  # the client is closed: jobs.db is whole on disk, with nothing left in a journal
    return Rendered(root)


@pytest.fixture
async def finished(emu: EmulatorServer, rendered: Rendered, tmp_path: Path) -> AsyncIterator[tuple[VeoClient, Path]]:
    """A client on a store of its own where SMALL's film is finished, and the board; the emulator's count at 0."""
    board = rendered.copy_to(tmp_path)
    reset(emu)
    async with VeoClient(settings_for(emu, tmp_path, job_deadline_s=600)) as veo:
        st = await veo.film_status(board)
        assert st.done and st.unrecorded() == []
        yield veo, board


def submits_by_shot(emu: EmulatorServer, board_path: Path) -> Counter[str]:
    board = load_storyboard(board_path)
    counts: Counter[str] = Counter()
    for op in list(emu.state.operations.values()):
        shots = [s.id for s in board.shots if s.prompt in op.request.prompt]
        assert len(shots) == 1, op.request.prompt
        counts[shots[0]] += 1
    return counts


def reset(emu: EmulatorServer) -> None:
    emu.state.reset()


def diff(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- the sample storyboard, end to end --------------------------------------------------------------------------
def short_example(tmp_path: Path) -> Path:
    """The sample storyboard with shorter shots: the same shots, takes, continuity, crossfade, characters and
    dialogue, a third less video to render and stitch. The platform keeps 6 s for its line at 5 s; the others are
    Veo's shortest, 4 s. (The sample as written is planned in the unit tests.)"""
    text = EXAMPLE.read_text()
    shorter = {"\n  duration: 8\n": "\n  duration: 6\n", "\n    duration: 6\n": "\n    duration: 4\n"}
    shorter["\n    duration: 8\n"] = "\n    duration: 4\n"
    for long, short in shorter.items():
        assert text.count(long) == 1, long
        text = text.replace(long, short)
    board = tmp_path / "last-train.yaml"
    board.write_text(text)
    return board


async def test_the_sample_storyboard_renders_into_one_film_as_long_as_planned(
    emu: EmulatorServer, client: VeoClient, tmp_path: Path
) -> None:
    reset(emu)
    board = short_example(tmp_path)
    plan = client.film_plan(board)
    result = await client.film_render(board, out_dir=tmp_path / "film")

    # Exactly one paid submit per take, and a film as long as the plan said (every take succeeded).
    assert submits_by_shot(emu, board) == {s.id: len(s.takes) for s in plan.shots}
    assert result.recorded == plan.takes == 5
    film = probe_mp4(result.video)
    assert film.duration_s == pytest.approx(plan.film_seconds, abs=0.5 / 24)
    assert (film.width, film.height, round(film.fps), film.audio_codec) == (1280, 720, 24, "aac")

    st = result.status
    video = {s.id: Path(job.results[0].path) for s in plan.shots if (job := st.chosen_job(s.id)) is not None}
    # last_frame: the close-up starts on the platform's chosen take's last frame (decoded pixels, not names).
    assert diff(first_frame_rgb(video["closeup"]), last_frame_rgb(video["platform"])) < 3
    other = st.job(plan.shot("platform").take(2))
    assert other is not None and other.state is JobState.SUCCEEDED  # a different seed: another picture
    assert diff(first_frame_rgb(video["closeup"]), last_frame_rgb(other.results[0].path)) > 10
    # extend: the doors shot is Veo's whole video, the close-up and 7 s more, played once in the film.
    assert probe_mp4(video["doors"]).duration_s == pytest.approx(4 + 7, abs=0.05)
    assert diff(first_frame_rgb(video["doors"]), first_frame_rgb(video["closeup"])) < 3

    timeline = otio.adapters.read_from_file(str(result.timeline))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.name for c in clips] == ["platform", "closeup", "doors", "departure"]
    assert timeline.duration().to_seconds() == pytest.approx(plan.film_seconds, abs=0.5 / 24)
    assert result.sheet_png.stat().st_size > 0
    page = result.sheet_html.read_text()
    assert all(f'id="{s.id}"' in page for s in plan.shots) and "film.mp4" in page

    view = st.view()
    assert view["done"] and view["to_pay_usd"] == 0 and [s["state"] for s in view["shots"]] == ["done"] * 4


# -- resumable and content-addressed ---------------------------------------------------------------------------
def _env(emu: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            "VEOKIT_DATA_DIR": str(tmp_path / "data"),
            "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
            "VEOKIT_PROVIDER": "vertex",
            "VEOKIT_VERTEX_BASE_URL": emu.base_url,
            "VEOKIT_VERTEX_PROJECT": "proj-1",
            "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
            "VEOKIT_POLL_SCALE": "0.01",
            "VEOKIT_JOB_DEADLINE_S": "600",
            "VEOKIT_RATE_LIMIT": "off",
            "COLUMNS": "200",
        }
    )
    return env


async def test_killed_mid_render_and_run_again_it_pays_for_each_take_once(
    emu: EmulatorServer, client: VeoClient, tmp_path: Path
) -> None:
    reset(emu)
    board = tmp_path / "kites.yaml"
    board.write_text(SMALL)
    emu.state.set_latency(10_000, None)  # nothing finishes until the clock says so
    try:
        proc = await asyncio.create_subprocess_exec(
            *VEOKIT,
            "film",
            "render",
            str(board),
            "--out",
            str(tmp_path / "film"),
            env=_env(emu, tmp_path),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # The first wave (both takes of "rise", and "waves") is accepted and recorded as running.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                jobs = await client.list_jobs(states=[JobState.RUNNING])
                if len(jobs) == 3 and stats(emu)["submits_total"] == 3:
                    break
                await asyncio.sleep(0.1)
            assert stats(emu)["submits_total"] == 3
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 30)
        # Its leases run out now rather than 30 s of wall clock later: the three jobs it was running.
        assert expire_leases(tmp_path / "jobs.db") == 3
    finally:
        emu.state.set_latency(0.2, None)
    emu.state.clock.advance(20_000)  # the killed run's operations are done now

    result = await client.film_render(board, out_dir=tmp_path / "film")
    assert submits_by_shot(emu, board) == {"rise": 2, "dive": 1, "waves": 1}
    assert result.recorded == 1  # only "dive", which waited for "rise"
    assert probe_mp4(result.video).duration_s == pytest.approx(client.film_plan(board).film_seconds, abs=0.5 / 24)

    stitched = result.video.stat().st_mtime_ns
    again = await client.film_render(board, out_dir=tmp_path / "film")
    assert again.recorded == 0 and stats(emu)["submits_total"] == 4
    assert again.video.stat().st_mtime_ns == stitched  # nothing changed, so the film is not encoded again


async def test_an_edited_shot_re_renders_only_itself_and_the_shots_that_follow_it(
    emu: EmulatorServer, finished: tuple[VeoClient, Path], tmp_path: Path
) -> None:
    client, board = finished
    board.write_text(SMALL.replace("rises over an empty beach", "rises over a crowded beach"))
    await client.film_render(board, out_dir=tmp_path / "film")
    assert submits_by_shot(emu, board) == {"rise": 2, "dive": 1}  # "waves" is reused

    board.write_text(board.read_text().replace("Waves roll in at dusk", "Waves roll in at dawn"))
    st = await client.film_status(board)
    assert [(s.id, t.number) for s, t in st.unrecorded()] == [("waves", 1)]
    assert st.to_pay_usd == st.plan.shot("waves").price_usd


async def test_picking_another_take_prices_then_re_renders_only_what_follows(
    emu: EmulatorServer, finished: tuple[VeoClient, Path], tmp_path: Path
) -> None:
    client, board = finished
    board.write_text("# my film\n" + SMALL)
    preview = await client.film_pick(board, "rise", 2, write=False)
    assert (preview.previous, preview.dependents, preview.to_render) == (1, ("dive",), (("dive", 1),))
    assert preview.usd == client.film_plan(board).shot("dive").price_usd
    assert "pick" not in board.read_text()  # a preview writes nothing

    await client.film_pick(board, "rise", 2)
    text = board.read_text()
    assert text.startswith("# my film\n") and load_storyboard(board).shot("rise").pick == 2
    result = await client.film_render(board, out_dir=tmp_path / "film")
    assert submits_by_shot(emu, board) == {"dive": 1}
    rise, dive = result.status.chosen_job("rise"), result.status.chosen_job("dive")
    assert rise is not None and dive is not None
    assert diff(first_frame_rgb(dive.results[0].path), last_frame_rgb(rise.results[0].path)) < 3

    with pytest.raises(E.StoryboardError, match=r'shots\[0\] \(id "rise"\): pick: take 3 does not exist'):
        await client.film_pick(board, "rise", 3)


async def test_the_film_budget_is_checked_as_one_sum_before_anything_is_recorded(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    reset(emu)
    board = tmp_path / "kites.yaml"
    board.write_text(SMALL)
    # Each take ($0.40) fits the per-job cap; the film ($1.60) does not fit today's cap.
    async with VeoClient(
        settings_for(emu, tmp_path, budget_per_job_usd=0.5, budget_daily_usd=1.0, job_deadline_s=600)
    ) as veo:
        with pytest.raises(E.BudgetExceeded, match=r"the film needs \$1\.60 more.*daily cap of \$1\.00"):
            await veo.film_render(board, out_dir=tmp_path / "film")
        with pytest.raises(E.BudgetExceeded, match=r"over the limit of \$1\.00"):
            await veo.film_render(board, out_dir=tmp_path / "film", max_cost_usd=1.0)
        assert await veo.list_jobs() == []
    assert stats(emu)["submits_total"] == 0


# -- bad storyboards ---------------------------------------------------------------------------------------------
BAD = {
    "unknown character": (
        SMALL.replace("    prompt: Waves roll in at dusk.", "    prompt: Waves.\n    characters: [ghost]"),
        'shots[2] (id "waves"): characters[0]: unknown character "ghost"',
    ),
    "extend on a 1080p shot": (
        SMALL.replace("duration: 4,", "duration: 8, resolution: 1080p,").replace(
            "continuity: last_frame", "continuity: extend"
        ),
        'shots[1] (id "dive"): continuity: veo-3.1-fast-generate-001 extends only 720p videos; "rise" is 1080p',
    ),
    "4k extension": (
        SMALL.replace("duration: 4,", "duration: 8,").replace(
            "continuity: last_frame", "continuity: extend\n    resolution: 4k"
        ),
        'shots[1] (id "dive")',
    ),
    "take that does not exist": (
        SMALL.replace("takes: 2", "takes: 2\n    pick: 3"),
        'shots[0] (id "rise"): pick: take 3',
    ),
    "cycle": (
        SMALL.replace(
            "    prompt: A red kite", "    continuity: last_frame\n    from: dive\n    prompt: A red kite"
        ).replace(
            "continuity: last_frame\n    prompt: The kite",
            "continuity: last_frame\n    from: rise\n    prompt: The kite",
        ),
        "in a cycle",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_a_bad_storyboard_is_refused_naming_the_shot_before_anything_is_recorded(
    emu: EmulatorServer, client: VeoClient, tmp_path: Path, case: str
) -> None:
    reset(emu)
    text, expected = BAD[case]
    board = tmp_path / "bad.yaml"
    board.write_text(text)
    with pytest.raises(E.StoryboardError) as planned:
        client.film_plan(board)
    with pytest.raises(E.StoryboardError) as rendered:
        await client.film_render(board, out_dir=tmp_path / "film")
    for exc in (planned.value, rendered.value):
        assert exc.message.startswith(f"{board}:") and expected in exc.message
        assert "\n" not in exc.message and exc.exit_code == 2
    assert await client.list_jobs() == [] and stats(emu)["submits_total"] == 0


def test_the_cli_says_so_in_one_line_and_exits_2(emu: EmulatorServer, tmp_path: Path) -> None:
    text, expected = BAD["unknown character"]
    board = tmp_path / "bad.yaml"
    board.write_text(text)
    p = subprocess.run(
        [*VEOKIT, "film", "plan", "bad.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(emu, tmp_path),
        cwd=tmp_path,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == f"error: bad.yaml:12: {expected} (characters: none are defined)"


def test_the_cli_lists_every_problem_one_line_each(emu: EmulatorServer, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SMALL.replace("takes: 2", "takes: 0").replace("Waves roll in at dusk.", '""'))
    p = subprocess.run(
        [*VEOKIT, "film", "plan", "bad.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(emu, tmp_path),
        cwd=tmp_path,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == [
        "error: the storyboard has 2 problems:",
        '  bad.yaml:6: shots[0] (id "rise"): takes: Input should be greater than or equal to 1, not 0',
        '  bad.yaml:11: shots[2] (id "waves"): prompt: String should have at least 1 character, not ""',
    ]


def test_picking_from_the_cli_asks_before_paying_and_records_the_pick_in_the_file(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    reset(emu)
    board = tmp_path / "kites.yaml"
    board.write_text(SMALL)
    run = [*VEOKIT, "film", "pick", "kites.yaml", "rise", "2"]
    p = subprocess.run(run, capture_output=True, text=True, timeout=120, env=_env(emu, tmp_path), cwd=tmp_path)
    assert p.returncode == 2 and "dive take 1, $0.40" in p.stdout and "pass --yes" in p.stderr
    assert board.read_text() == SMALL  # refused: nothing written, nothing sent

    p = subprocess.run(
        [*run, "--no-render"], capture_output=True, text=True, timeout=120, env=_env(emu, tmp_path), cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert load_storyboard(board).shot("rise").pick == 2 and stats(emu)["submits_total"] == 0
