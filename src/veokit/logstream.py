"""A log handler that writes to whatever ``sys.stderr`` is when a line is logged.

``logging.StreamHandler(sys.stderr)`` keeps the stream it was given. Whoever swaps ``sys.stderr`` (a test
runner capturing output, an embedding app) and later closes the old one leaves such a handler writing to a
closed file, which logging reports as a "Logging error" traceback from whichever thread logs next.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:  # StreamHandler.__init__ and setStream assign it: the current one wins
        return None
