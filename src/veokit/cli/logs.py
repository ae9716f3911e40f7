"""Where library log lines go: through veokit's logging to stderr, and only with ``--verbose``.

Third-party libraries talk on their own: stamina logs every scheduled retry, LiteLLM prints a feedback banner
(with raw ANSI colour codes) and debug notes. Retries are recorded on the job (``veokit jobs show``), so those
lines only break the progress display; they are kept for ``--verbose``, plain, on stderr.
"""

from __future__ import annotations

import logging
import os

from veokit.logstream import StderrHandler

NOISY = (
    "stamina",
    "sqlalchemy",
    "LiteLLM",
    "litellm",
    "LiteLLM Router",
    "LiteLLM Proxy",
    "httpx",
    "httpcore",
    "strands",
    "mcp",
)


def configure(*, verbose: bool) -> None:
    """Route every logger through one stderr handler: INFO and up with ``--verbose``, else warnings of our own."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_veokit", False):
            root.removeHandler(h)
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler._veokit = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in NOISY:
        lg = logging.getLogger(name)
        lg.setLevel(logging.INFO if verbose else logging.CRITICAL)
        if not verbose:
            for h in list(lg.handlers):  # LiteLLM installs its own (colourised) handler on import
                lg.removeHandler(h)
            lg.propagate = True
    if not verbose:
        os.environ.setdefault("LITELLM_LOG", "ERROR")  # LiteLLM reads it when imported (lazily, by `agent`)


def timestamps() -> None:
    """Long-running services (`serve`): each log line says when it happened."""
    for h in logging.getLogger().handlers:
        if getattr(h, "_veokit", False):
            h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
