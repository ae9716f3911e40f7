"""Run a command the way a user does: in a real pseudo-terminal of a given width, or with its output piped."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


@dataclass
class Screen:
    """What the user saw: every byte the terminal received (stdout and stderr together), and the exit code."""

    code: int
    raw: str

    @property
    def text(self) -> str:
        """The output as it ends up on screen: no colour or cursor codes, CRLF made plain, redrawn lines last."""
        lines = ANSI.sub("", self.raw).replace("\r\n", "\n").split("\n")
        return "\n".join(line.rsplit("\r", 1)[-1] for line in lines)  # a carriage return redraws the line

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def in_terminal(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    columns: int = 80,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> Screen:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal ``columns`` wide (stdin too, unless given)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "LINES": "24", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError as exc:  # EIO: the child closed the terminal (it exited)
            if exc.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=timeout)
    return Screen(code, b"".join(chunks).decode("utf-8", "replace"))


def piped(
    argv: list[str], *, env: dict[str, str], cwd: Path, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with its output piped, as in ``veokit … | grep``."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
