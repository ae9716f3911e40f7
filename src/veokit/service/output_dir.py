"""The output directory, checked before anything is paid for: a video the provider rendered but veokit
cannot save is money spent for nothing (and a job left looking unfinished).

The check is the real thing, not a guess from permission bits: create the directory, create a file in it,
write to it, remove it. That catches read-only mounts, immutable directories, ACLs, a full quota on an empty
file, and a path that is an existing file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from veokit.errors import InvalidRequest

FIELD = "out_dir"


def check_writable(path: str | Path) -> Path:
    """The directory, absolute, created if missing; :class:`~veokit.errors.InvalidRequest` on ``out_dir`` if
    veokit could not save a video there."""
    target = Path(os.path.abspath(Path(path).expanduser()))
    if target.exists() and not target.is_dir():
        raise InvalidRequest(f"{FIELD}: {target} exists and is not a directory", field=FIELD)
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".veokit-write-check-", delete=True) as probe:
            probe.write(b"\0")
            probe.flush()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidRequest(f"{FIELD}: cannot save videos in {target} ({reason})", field=FIELD) from None
    return target
