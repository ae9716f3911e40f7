"""What SQLite needs to be a safe multi-process job store: WAL, a busy timeout, enforced foreign keys, and
write transactions that take the write lock up front."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from veokit import errors as E
from veokit.store import faults, sqlite_driver

# Execution option marking transactions that will write: they start with BEGIN IMMEDIATE.
WRITE = "veokit_write"
BUSY_TIMEOUT_MS = 5000
_WAL_SWITCH_TIMEOUT_S = 30.0
_EMPTY_GRACE_S = 5.0


def configure(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver: by default it never wraps DDL in a transaction (so a
        # migration could half-apply) and it opens writes with a deferred BEGIN, whose later lock upgrade
        # fails at once with "database is locked" instead of waiting for busy_timeout.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the single write lock up front (waiting up to busy_timeout), which serialises
        # writers across processes; readers keep reading the last commit under WAL.
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # here, not deferred: waiting for the lock is the point
            return
        driver = sqlite_driver.deferring(conn.connection.dbapi_connection)
        if driver is not None:
            driver.defer("BEGIN DEFERRED")  # takes no lock and answers nothing: it rides with the first read
        else:
            conn.exec_driver_sql("BEGIN DEFERRED")


def check_file(database: str | None, where: str) -> None:
    """Refuse a database file that exists but is empty. SQLite would take it for a new database and veokit
    would start afresh beside a store that was truncated (a full disk, a bad copy), losing sight of its jobs.
    A file another process created a moment ago and is still initialising is given a moment to fill."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return  # a new store: created on open
    except OSError as exc:
        raise faults.from_os_error(exc, where) from None
    if stat.st_size == 0 and time.time() - stat.st_mtime > _EMPTY_GRACE_S:
        raise E.StoreCorrupt(
            f"{where}: the file is empty (0 bytes), not a veokit database; if it should hold your jobs, restore it "
            "from a backup; to start afresh, delete it"
        )


async def enable_wal(engine: AsyncEngine) -> None:
    """Switch the database file to WAL (it stays so: later connections inherit it from the file).

    Done once per open() rather than in the connect hook: the switch needs an exclusive lock, and processes
    creating the same new file at once each hold a shared lock while waiting for it, so all but one fail,
    some only after the whole busy_timeout. A short timeout and retries let one win and the rest see WAL.
    Real time (the loop's clock and asyncio.sleep), not veokit's Clock: this waits on another process's file
    lock while the store opens, before any engine or clock exists, and a fake clock would only spin.
    """
    deadline = asyncio.get_running_loop().time() + _WAL_SWITCH_TIMEOUT_S
    async with engine.connect() as conn:
        # The driver connection, not conn.execute: that would open a transaction, inside which the
        # journal mode cannot change.
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await _pragma(raw, "busy_timeout=50")
        try:
            while True:
                try:
                    if await _pragma(raw, "journal_mode=WAL") in ("wal", "memory"):
                        return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                        raise
                if asyncio.get_running_loop().time() > deadline:
                    raise sqlite3.OperationalError("could not switch the database to WAL journal mode")
                await asyncio.sleep(0.02)
        finally:
            await _pragma(raw, f"busy_timeout={BUSY_TIMEOUT_MS}")


async def _pragma(aiosqlite_connection: Any, pragma: str) -> str | None:
    async with aiosqlite_connection.execute(f"PRAGMA {pragma}") as cursor:
        row = await cursor.fetchone()
    return None if row is None else str(row[0]).lower()
