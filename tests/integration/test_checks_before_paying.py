"""Every bad input the user can give is refused before any paid call, with exit code 2 and one line, and the
same in ``--dry-run``: the provider (a real emulator on loopback) sees no submit at all.

The CLI runs in-process (click's runner, the real command with the real environment): a subprocess per
probe would cost seconds of imports each on a loaded machine."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from veokit.cli.main import app
from veokit.emulator import EmulatorServer

from .conftest import stats


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_")):
            monkeypatch.delenv(name)


def veokit(tmp_path: Path, *args: str, **env: str) -> Ran:
    base = {
        "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "VEOKIT_DATA_DIR": str(tmp_path),
        "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, list(args), env={**base, **env})
    return Ran(result.exit_code, result.stdout, result.stderr)


def _png(path: Path, *, truncate: bool = False) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 40, 30)).save(buf, "PNG")
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2] if truncate else data)
    return path


def _vertex(emu: EmulatorServer) -> dict[str, str]:
    return {
        "VEOKIT_PROVIDER": "vertex",
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "proj",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_POLL_SCALE": "0.01",
    }


def _refused(p: Ran, needle: str, emu: EmulatorServer, *, lines: int = 1) -> None:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert len([line for line in p.stderr.splitlines() if line.strip()]) == lines, p.stderr
    assert needle in p.stderr, p.stderr
    assert stats(emu)["submits_total"] == 0


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("last_frame_alone", "last_frame: a last frame needs a first frame (image)"),
        ("extend_a_png", "video: still.png is not a complete MP4 video"),
        ("truncated_png", "image: cut.png is not a readable image (image file is truncated)"),
        ("out_is_a_file", "exists and is not a directory"),
        ("out_under_a_file", "cannot save videos in"),
    ],
)
def test_generate_refuses_before_submitting(
    tmp_path: Path, emulator: EmulatorServer, case: str, needle: str, dry_run: bool
) -> None:
    still = _png(tmp_path / "still.png")
    _png(tmp_path / "cut.png", truncate=True)
    (tmp_path / "afile").write_text("not a directory")
    args = {
        "last_frame_alone": ["--last-frame", str(still)],
        "extend_a_png": ["--extend", str(still)],
        "truncated_png": ["--image", "cut.png"],
        "out_is_a_file": ["--out", "afile"],
        "out_under_a_file": ["--out", "afile/videos"],
    }[case]
    p = veokit(
        tmp_path, "generate", "a lighthouse at dusk", *args, *(["--dry-run"] if dry_run else []), **_vertex(emulator)
    )
    _refused(p, needle, emulator)


@pytest.mark.parametrize(
    ("name", "value"),
    [("HTTPS_PROXY", "::not a url"), ("http_proxy", "http://user:s3cret@proxy:99999"), ("ALL_PROXY", "socks5://h:1")],
)
def test_a_malformed_proxy_variable_is_named_not_an_internal_error(
    tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    for other in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(other, raising=False)
    p = veokit(tmp_path, "generate", "a lighthouse at dusk", **_vertex(emulator), **{name: value})
    _refused(p, f"error: {name} is not a usable proxy URL", emulator)
    assert "s3cret" not in p.stderr  # proxy URLs carry passwords: the value is never echoed
    assert "unset it" in p.stderr


def test_a_missing_out_dir_is_created_and_a_dry_run_checks_it(tmp_path: Path, emulator: EmulatorServer) -> None:
    p = veokit(tmp_path, "generate", "x", "--out", "new/videos", "--dry-run", **_vertex(emulator))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "new" / "videos").is_dir() and not list((tmp_path / "new" / "videos").iterdir())


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("open.csv", 'prompt,duration\n"a fox in snow,8\na cat,4\n', "open.csv:2: not valid CSV"),
        ("bool.jsonl", '{"prompt": "a fox", "duration": true}\n', "must be a whole number, not true/false"),
    ],
)
def test_batch_files_that_do_not_parse_cleanly_are_refused(
    tmp_path: Path, emulator: EmulatorServer, name: str, text: str, needle: str
) -> None:
    (tmp_path / name).write_text(text)
    p = veokit(tmp_path, "batch", name, "--no-run", **_vertex(emulator))
    _refused(p, needle, emulator)
    assert json.loads(veokit(tmp_path, "jobs", "list", "--json").stdout) == []


def test_every_config_problem_at_once_named_as_written(tmp_path: Path, emulator: EmulatorServer) -> None:
    config = tmp_path / "veokit.toml"
    config.write_text('retry_atempts = 3\nbreaker_threshold = -1\nout_dir = "v"\n')
    p = veokit(
        tmp_path,
        "generate",
        "x",
        VEOKIT_CONFIG=str(config),
        VEOKIT_RETRY_ATTEMPTS="-1",
        VEOKIT_WORKER_LEASE_S="0",
        VEOKIT_RATE_LIMIT="fast",
        VEOKIT_BREAKER_COOLDOWN_S="-5",
        **_vertex(emulator),
    )
    _refused(p, "invalid configuration (6 problems)", emulator, lines=7)
    for line in (
        f"{config}: unknown key 'retry_atempts'; did you mean retry_attempts?",
        f"{config}: breaker_threshold: must be >= 1",
        "VEOKIT_RETRY_ATTEMPTS: must be >= 1",
        "VEOKIT_WORKER_LEASE_S: must be >= 1 second",
        "VEOKIT_RATE_LIMIT: rate limit 'fast'",
        "VEOKIT_BREAKER_COOLDOWN_S: must be a number of seconds >= 0",
    ):
        assert line in p.stderr, p.stderr


def test_a_directory_as_the_config_file_is_refused(tmp_path: Path, emulator: EmulatorServer) -> None:
    p = veokit(tmp_path, "generate", "x", VEOKIT_CONFIG=str(tmp_path), **_vertex(emulator))
    _refused(p, f"VEOKIT_CONFIG: {tmp_path} is a directory, not a TOML file", emulator)


def test_agent_params_that_are_not_json_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from veokit.agent.factory import agent_settings
    from veokit.errors import ConfigError

    monkeypatch.setenv("VEOKIT_AGENT_PARAMS", "{bad")
    with pytest.raises(ConfigError, match=r"^invalid agent configuration: VEOKIT_AGENT_PARAMS: not valid JSON"):
        agent_settings()
