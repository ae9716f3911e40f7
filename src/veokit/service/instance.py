"""Which earlier process a long-running service replaces, so that a restart after a crash continues its jobs now.

A worker that dies keeps its jobs' leases until they expire (``VEOKIT_WORKER_LEASE_S``): nobody else can tell
a dead worker from a slow one. A service restarted on the same data directory can, for its own previous
process: each running service holds an exclusive lock on a *slot* file under ``<data dir>/instances/`` and
writes its lease owner into it. The kernel drops the lock when the process ends, however it ends (SIGKILL
included), so a slot whose lock can be taken belongs to no live process, and the owner written in it is dead:
its leases can be taken over at once (``WorkerConfig.take_over``). A clean shutdown has released its leases
already; taking over then finds nothing.

Nothing here guesses from host names or process ids (containers reuse both). Several services sharing one data
directory take different slots; one that finds no free slot (or no ``fcntl``: Windows) runs without one and
its jobs recover by lease expiry, as any worker's do.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

SLOTS = 16
DIRECTORY = "instances"


class InstanceSlot:
    """A slot held by this process (``previous``: the dead owner it replaces, if one was recorded)."""

    def __init__(self, path: Path, handle: IO[str], previous: str | None) -> None:
        self.path = path
        self.previous = previous
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, data_dir: str | Path, kind: str) -> InstanceSlot | None:
        """The first free slot for ``kind`` (``"serve"``), or None when all are held or locks are unsupported."""
        if fcntl is None:
            return None
        folder = Path(data_dir) / DIRECTORY
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        for n in range(SLOTS):
            path = folder / f"{kind}-{n}.owner"
            try:
                handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
            except OSError:
                return None
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held by a live process
                handle.close()
                continue
            handle.seek(0)
            previous = handle.read().strip() or None
            return cls(path, handle, previous)
        return None

    def record(self, owner: str) -> None:
        """Write this process's lease owner (before it claims anything: a crash from here on is recoverable)."""
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(owner)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def release(self) -> None:
        """Give the slot up (at shutdown, after the worker released its leases)."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
