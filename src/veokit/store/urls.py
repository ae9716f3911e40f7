"""Turning ``VEOKIT_DATABASE_URL`` into a URL a store can open, with errors that never show a password."""

from __future__ import annotations

import re
from pathlib import Path

import platformdirs

from veokit.errors import ConfigError

ENV_VAR = "VEOKIT_DATABASE_URL"
MEMORY_URL = "memory://"
ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db (or sqlite+aiosqlite://…), "
    "postgresql://user:password@host/db (or postgres://, postgresql+asyncpg://), memory://"
)

_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&#]*")
_SQLITE = ("sqlite", "sqlite+aiosqlite")
_POSTGRES = ("postgresql", "postgres", "postgresql+asyncpg")


def redact_url(url: str) -> str:
    """Hide credentials: everything between the scheme and the last '@' (over-redacting beats leaking a
    password that itself contains '@'), and any ``password=`` query parameter."""
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return _PASSWORD_PARAM.sub(r"\1***", scheme + sep + rest)


def default_url(data_dir: Path | None = None) -> str:
    base = (data_dir if data_dir is not None else platformdirs.user_data_path("veokit")).expanduser()
    base.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(base / 'veokit.db').resolve().as_posix()}"


def resolve_url(url: str | None, *, data_dir: Path | None = None) -> str:
    """The SQLAlchemy async URL for ``url``, :data:`MEMORY_URL`, or the default SQLite file under ``data_dir``.

    An unset or blank ``url`` means the default, so an empty environment variable behaves like a missing one.
    """
    if url is None or not url.strip():
        return default_url(data_dir)
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _error(f"{redact_url(url)!r} is not a database URL")
    if scheme == "memory":
        return MEMORY_URL
    if scheme in _SQLITE:
        return "sqlite+aiosqlite://" + _sqlite_rest(rest, url)
    if scheme in _POSTGRES:
        return "postgresql+asyncpg://" + rest
    raise _error(f"unsupported database scheme {scheme!r} in {redact_url(url)!r}")


def _sqlite_rest(rest: str, url: str) -> str:
    # 'sqlite:///x.db' leaves '/x.db': an empty host, then the path (relative, or absolute with a 4th slash).
    path = rest[1:].partition("?")[0] if rest.startswith("/") else ""
    if path in ("", ":memory:"):
        # Each pooled connection would get its own empty database; memory:// is the in-process store.
        raise _error(f"in-memory SQLite ({url!r}) is not supported; use memory:// for a throwaway store")
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return rest


def _error(problem: str) -> ConfigError:
    return ConfigError(f"{ENV_VAR}: {problem}; accepted forms: {ACCEPTED}")
