"""The folders a network-facing surface (the MCP server) may read input images from and write videos to.

Whoever can call a tool over MCP must not be able to read any image the server's user can read (it would come
back inside a generated video), write an MP4 anywhere, or learn which files exist. So every path a tool is
given is resolved (symlinks and ``..`` included) and must lie inside one of the allowed roots; a path outside
gets exactly the same answer as a path that does not exist.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from veokit.errors import InvalidRequest


@dataclass(frozen=True)
class FileRoots:
    """Allowed folders, absolute and resolved."""

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, paths: Iterable[str | Path]) -> FileRoots:
        return cls(tuple(dict.fromkeys(Path(os.path.realpath(Path(p).expanduser())) for p in paths)))

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none"

    def _inside(self, path: Path) -> bool:
        return any(path == root or path.is_relative_to(root) for root in self.roots)

    def readable(self, path: str, *, field: str) -> Path:
        """An existing file inside the roots; otherwise the same "no such file" error whether it is missing or
        outside (so the answer says nothing about files outside)."""
        resolved = Path(os.path.realpath(Path(path).expanduser()))
        if not self._inside(resolved) or not resolved.is_file():
            raise InvalidRequest(
                f"{field}: no such file in the folders this server may read ({self.describe()}): {path}",
                field=field,
            )
        return resolved

    def writable(self, path: str | Path, *, field: str) -> Path:
        """A destination inside the roots (it need not exist yet)."""
        resolved = Path(os.path.realpath(Path(path).expanduser()))
        if not self._inside(resolved):
            raise InvalidRequest(
                f"{field}: {path} is outside the folders this server may write to ({self.describe()})", field=field
            )
        return resolved


_current: contextvars.ContextVar[FileRoots | None] = contextvars.ContextVar("veokit_file_roots", default=None)


def current(default: FileRoots | None) -> FileRoots | None:
    """The roots set for this call (an MCP client's own roots), else ``default``."""
    return _current.get() or default


@contextmanager
def using(roots: FileRoots | None) -> Iterator[None]:
    """Narrow the roots for the calls made inside (the MCP server sets a client's roots per tool call)."""
    token = _current.set(roots)
    try:
        yield
    finally:
        _current.reset(token)
