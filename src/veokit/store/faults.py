"""What a database failure means for the user: a fault of this machine's environment, named in one line
(:class:`~veokit.errors.EnvironmentFault`), and whether waiting a moment may cure it.

Drivers say the same thing in many ways (``sqlite3.OperationalError("database is locked")``, an ``OSError``
from asyncpg's connect, SQLAlchemy's wrappers around both); this module is the one place that reads them.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

from sqlalchemy import exc as sa_exc

from veokit import errors as E

# Substrings of SQLite's messages (stable for decades: they are its result codes' texts).
_LOCKED = ("database is locked", "database table is locked", "database is busy")
_READ_ONLY = ("readonly database", "read-only")
_FULL = ("database or disk is full", "disk is full")
_CORRUPT = ("file is not a database", "database disk image is malformed", "file is encrypted")
_CANT_OPEN = ("unable to open database file",)


def _unwrap(exc: BaseException) -> BaseException:
    seen = 0
    while isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None and seen < 5:
        exc, seen = exc.orig, seen + 1
    # asyncpg's connect errors and aiosqlite's arrive as themselves or as their __cause__.
    return exc


def classify(exc: BaseException, where: str) -> E.EnvironmentFault | None:
    """The environment fault ``exc`` is, naming ``where`` (the database, redacted), or None when it is not one."""
    inner = _unwrap(exc)
    text = str(inner).lower()
    if isinstance(inner, sqlite3.Error) or isinstance(exc, sa_exc.OperationalError | sa_exc.DatabaseError):
        if any(s in text for s in _LOCKED):
            return E.StoreLocked(f"{where}: the database is locked by another process and stayed so", retryable=True)
        if any(s in text for s in _READ_ONLY):
            return E.StoreReadOnly(f"{where}: the database is read-only (check the file's and directory's permissions)")
        if any(s in text for s in _FULL):
            return E.DiskFull(f"{where}: the disk holding the database is full; free space and run the command again")
        if any(s in text for s in _CORRUPT):
            return E.StoreCorrupt(f"{where}: not a veokit database, or damaged ({_first_line(inner)})")
        if any(s in text for s in _CANT_OPEN):
            return E.StoreUnavailable(f"{where}: cannot open the database file (missing directory or no permission)")
    if isinstance(exc, sa_exc.TimeoutError):
        return E.StoreUnavailable(f"{where}: no database connection came free in time", retryable=True)
    if isinstance(inner, OSError):
        return from_os_error(inner, where)
    name = type(inner).__name__
    if type(inner).__module__.startswith("asyncpg"):
        if "connection" in name.lower() or "cannotconnect" in name.lower() or "toomanyconnections" in name.lower():
            return E.StoreUnavailable(
                f"{where}: the database server is unreachable ({_first_line(inner)})", retryable=True
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError", "InvalidCatalogNameError"):
            return E.StoreUnavailable(f"{where}: the database refused us ({_first_line(inner)})")
        if name == "DiskFullError":
            return E.DiskFull(f"{where}: the database server's disk is full")
        if name == "ReadOnlySQLTransactionError":
            return E.StoreReadOnly(f"{where}: the database server is read-only")
    return None


def from_os_error(exc: OSError, where: str) -> E.EnvironmentFault:
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return E.DiskFull(
            f"{where}: no space left on the device; free space, then `veokit resume` continues where it stopped "
            "(nothing is submitted again)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return E.LocalPermissionDenied(f"{where}: permission denied")
    if exc.errno == errno.EROFS:
        return E.StoreReadOnly(f"{where}: the file system is read-only")
    if isinstance(exc, socket.gaierror):
        return E.StoreUnavailable(f"{where}: the database host is unknown ({_first_line(exc)})")
    if isinstance(exc, ConnectionError | TimeoutError) or exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH):
        return E.StoreUnavailable(f"{where}: the database server is unreachable ({_first_line(exc)})", retryable=True)
    return E.StoreUnavailable(f"{where}: {_first_line(exc)}")


def transient(exc: BaseException) -> bool:
    """A write that failed this way may succeed if tried again in a moment (a lock, a dropped connection)."""
    if isinstance(exc, E.VeokitError):
        return isinstance(exc, E.EnvironmentFault) and exc.retryable
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    fault = classify(exc, "")
    return fault is not None and fault.retryable


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return E.redact(text[0][:200]) if text else type(exc).__name__
