"""Schema migrations, run programmatically by SqlJobStore.open() (no alembic.ini needed).

For writing the next revision from a checkout, point Alembic at a scratch database::

    from alembic import command
    from veokit.store.migrate import alembic_config
    command.revision(alembic_config("sqlite+aiosqlite:///scratch.db"), "add x", autogenerate=True)

then set :data:`HEAD` to the new revision id (a test checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Own name, so veokit can share a PostgreSQL database with an application that also uses Alembic.
VERSION_TABLE = "veokit_schema_version"
# The newest revision. Knowing it lets open() skip importing and running Alembic (about 0.3 s of every CLI
# start) when the database is already current.
HEAD = "0008"
# pg_advisory_xact_lock key serialising concurrent upgrades from many workers ("veokit" in ASCII).
_PG_MIGRATION_LOCK = 0x76656F6B6974


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return config


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade inside the caller's transaction, so a failed migration leaves nothing half-done."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def current_revisions(connection: Connection) -> list[str]:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return []
    version_num = sa.column("version_num", sa.String())
    return list(connection.execute(sa.select(version_num).select_from(sa.table(VERSION_TABLE))).scalars())


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema to :data:`HEAD`. ``engine`` must begin write transactions with BEGIN IMMEDIATE on
    SQLite, so that concurrent openers queue instead of racing."""
    async with engine.connect() as conn:
        if await conn.run_sync(current_revisions) == [HEAD]:
            return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        # Alembic re-reads the version under the lock, so a process that lost the race does nothing.
        await conn.run_sync(upgrade_connection)
