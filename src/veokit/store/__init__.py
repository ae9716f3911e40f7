"""Durable job storage: the :class:`JobStore` port and its backends.

``await open_store(os.environ.get("VEOKIT_DATABASE_URL"), data_dir=...)`` gives an opened store: SQLite by
default, PostgreSQL for many workers, or ``memory://`` for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from veokit.store.base import JobStore
from veokit.store.memory import MemoryJobStore
from veokit.store.urls import ENV_VAR, MEMORY_URL, redact_url, resolve_url

if TYPE_CHECKING:
    from veokit.store.sql import SqlJobStore

__all__ = [
    "ENV_VAR",
    "JobStore",
    "MemoryJobStore",
    "SqlJobStore",
    "create_store",
    "open_store",
    "redact_url",
    "resolve_url",
]


def __getattr__(name: str) -> Any:
    # SQLAlchemy costs ~0.5 s to import: code that only needs the JobStore type or the memory store skips it.
    if name == "SqlJobStore":
        from veokit.store.sql import SqlJobStore

        return SqlJobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_store(url: str | None, *, data_dir: Path | None = None) -> JobStore:
    """The store for ``url`` (see :func:`resolve_url`), not yet opened."""
    resolved = resolve_url(url, data_dir=data_dir)
    if resolved == MEMORY_URL:
        return MemoryJobStore()
    from veokit.store.sql import SqlJobStore

    return SqlJobStore(resolved)


async def open_store(url: str | None, *, data_dir: Path | None = None) -> JobStore:
    """The store for ``url``, opened: its schema is created or upgraded before this returns."""
    store = create_store(url, data_dir=data_dir)
    await store.open()
    return store
