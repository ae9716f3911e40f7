"""Schema migrations, run programmatically by SqlJobStore.open() (no alembic.ini needed).

For writing the next revision from a checkout, point Alembic at a scratch database::

    from alembic import command
    from veokit.store.migrate import alembic_config
    command.revision(alembic_config("sqlite+aiosqlite:///scratch.db"), "add x", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Own name, so veokit can share a PostgreSQL database with an application that also uses Alembic.
VERSION_TABLE = "veokit_schema_version"
# pg_advisory_xact_lock key serialising concurrent upgrades from many workers ("veokit" in ASCII).
_PG_MIGRATION_LOCK = 0x76656F6B6974


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return config


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade inside the caller's transaction, so a failed migration leaves nothing half-done."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """``engine`` must begin write transactions (BEGIN IMMEDIATE on SQLite) so concurrent openers queue."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
        await conn.run_sync(upgrade_connection, revision)
