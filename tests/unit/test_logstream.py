"""The CLI's and the service's log handler writes to the stderr of the moment (veokit/logstream.py)."""

from __future__ import annotations

import io
import logging

import pytest

from veokit.logstream import StderrHandler


def test_a_closed_stderr_of_the_past_is_not_written_to(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr("sys.stderr", captured)
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("veokit.test.logstream")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("while captured")
        captured.close()  # a test runner's capture ends: a plain StreamHandler would report a "Logging error"
        now = io.StringIO()
        monkeypatch.setattr("sys.stderr", now)
        log.warning("afterwards")
    finally:
        log.removeHandler(handler)
    assert now.getvalue() == "afterwards\n"
