"""Bringing a registry database to the current schema with Alembic.

A database made by the walking skeleton (tables created directly, no ``alembic_version``) is
recognised by its ``villages`` table, stamped as revision 0001 and upgraded from there, so an
existing site keeps its villages, fields and devices.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS = Path(__file__).parent / "migrations"
PRE_ALEMBIC_REVISION = "0001"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the registry's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if Alembic never touched it."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest schema (a no-op when it is there already)."""
    if current_revision(engine) == head_revision():
        return
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations copy and drop tables, which foreign keys would refuse; the
            # pragma is ignored inside a transaction, so it is set before one begins.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            config = alembic_config(connection)
            tables = set(inspect(connection).get_table_names())
            if "villages" in tables and "alembic_version" not in tables:
                command.stamp(config, PRE_ALEMBIC_REVISION)
            command.upgrade(config, "head")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
