"""Environment faults are named, not "internal": the CLI as a user runs it against a database that is corrupt,
empty, unreachable or locked, and a disk that fills up mid-download. Each ends with one line and exit code 7
(or, for a lock that clears within the retry bound, succeeds), sends nothing, and loses nothing."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer

from .conftest import stats
from .test_cli import VEOKIT, env_for

ENVIRONMENT = 7


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VEOKIT, *args], capture_output=True, text=True, timeout=180, env=env_for(tmp_path, **env), cwd=tmp_path
    )


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    """The one error line (``generate`` prints its plan line before it)."""
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and p.stderr.rstrip().endswith(errors[0]), p.stderr
    assert "internal error" not in errors[0] and "Traceback" not in p.stderr
    return errors[0]


def vertex_env(emu: EmulatorServer) -> dict[str, str]:
    return {
        "VEOKIT_PROVIDER": "vertex",
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "proj",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_POLL_SCALE": "0.01",
    }


def test_a_corrupt_database_file_is_named_and_nothing_is_sent(tmp_path: Path, emu: EmulatorServer) -> None:
    (tmp_path / "jobs.db").write_bytes(b"these are not the bytes of an SQLite database" * 100)
    p = run(tmp_path, "generate", "a fox", "--out", str(tmp_path / "v"), **vertex_env(emu))
    assert p.returncode == ENVIRONMENT
    assert "not a veokit database, or damaged" in one_line_error(p)
    assert stats(emu)["submits_total"] == 0


def test_an_empty_database_file_is_not_taken_for_a_new_one(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    db.touch()
    old = time.time() - 60  # truncated a while ago (a file created this instant may be another process's new store)
    os.utime(db, (old, old))
    p = run(tmp_path, "jobs", "list")
    assert p.returncode == ENVIRONMENT
    assert "empty (0 bytes)" in one_line_error(p)
    assert db.stat().st_size == 0  # left as it was found


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://veokit@127.0.0.1:9/veokit", "unreachable"),  # nothing listens on the discard port
        ("postgresql://veokit@db.invalid/veokit", "host is unknown"),  # .invalid never resolves (RFC 2606)
    ],
)
def test_an_unreachable_database_server_is_named(tmp_path: Path, url: str, said: str) -> None:
    p = run(tmp_path, "jobs", "list", VEOKIT_DATABASE_URL=url)
    assert p.returncode == ENVIRONMENT
    line = one_line_error(p)
    assert said in line and "job database postgresql://veokit@" in line


def test_a_lock_held_past_the_busy_timeout_is_waited_out_within_the_bound(tmp_path: Path) -> None:
    """Another process holds the write lock longer than SQLite's busy timeout (5 s): the write is tried again
    instead of failing, and the job is recorded once the lock is gone."""
    assert run(tmp_path, "jobs", "list").returncode == 0  # the store exists
    holder = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen(
        [*VEOKIT, "enqueue", "a heron at dawn", "--provider", "emulator", "--json"],
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(7.0)  # past one busy timeout: the first attempt has failed (a lock, by construction)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert run(tmp_path, "jobs", "list", "--json").stdout.count("a heron at dawn") == 1


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root in a container that allows it)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_disk_full_mid_download_is_named_and_resume_finishes_without_a_new_submit(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1), port=0) as emu, small_disk(tmp_path / "out", "16k") as out:
        p = run(tmp_path, "generate", "a lighthouse at dusk", "--out", str(out), **vertex_env(emu))
        assert p.returncode == ENVIRONMENT
        assert "no space left on the device" in one_line_error(p) and "veokit resume" in p.stderr
        assert stats(emu)["submits_total"] == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)  # space freed
        again = run(tmp_path, "resume", "--json", **vertex_env(emu))
        assert again.returncode == 0, again.stderr
        assert '"state": "succeeded"' in again.stdout
        assert stats(emu)["submits_total"] == 1  # the paid submit was not made again
