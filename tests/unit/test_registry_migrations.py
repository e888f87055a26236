"""The registry's Alembic history builds exactly the tables the models describe."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import registry.alerting
import registry.people
import registry.records  # noqa: F401
from registry import migrate
from registry.models import Base
from registry.store import Registry


def test_fresh_database_matches_the_models(tmp_path: Path) -> None:
    registry = Registry.from_path(tmp_path / "registry.db")
    try:
        assert migrate.current_revision(registry.engine) == migrate.head_revision()
        with registry.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
    finally:
        registry.close()


def test_skeleton_database_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    # The walking skeleton created its tables without Alembic.
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            """
            CREATE TABLE villages (id VARCHAR(63) PRIMARY KEY, name VARCHAR(200) NOT NULL);
            CREATE TABLE gateways (id VARCHAR(63) PRIMARY KEY, name VARCHAR(200) NOT NULL);
            CREATE TABLE fields (id VARCHAR(63) PRIMARY KEY, name VARCHAR(200) NOT NULL,
                village_id VARCHAR(63) NOT NULL REFERENCES villages(id), crop VARCHAR(63));
            CREATE TABLE devices (gateway_id VARCHAR(63) NOT NULL REFERENCES gateways(id),
                id VARCHAR(63) NOT NULL, kind VARCHAR(63) NOT NULL,
                field_id VARCHAR(63) REFERENCES fields(id), PRIMARY KEY (gateway_id, id));
            INSERT INTO villages VALUES ('bumi-agung', 'Bumi Agung');
            INSERT INTO fields VALUES ('sawah-1', 'Sawah 1', 'bumi-agung', 'padi');
            INSERT INTO gateways VALUES ('gw-1', 'Gateway 1');
            INSERT INTO devices VALUES ('gw-1', 'soil-1', 'modbus_soil', 'sawah-1');
            """
        )
    registry = Registry.from_path(path)
    try:
        assert migrate.current_revision(registry.engine) == migrate.head_revision()
        placement = registry.placements()[("gw-1", "soil-1")]
        assert (placement.field_id, placement.village_id, placement.crop) == (
            "sawah-1",
            "bumi-agung",
            "padi",
        )
    finally:
        registry.close()


def test_reopening_a_current_database_changes_nothing(tmp_path: Path) -> None:
    Registry.from_path(tmp_path / "r.db").close()
    registry = Registry.from_path(tmp_path / "r.db")
    try:
        assert migrate.current_revision(registry.engine) == migrate.head_revision()
    finally:
        registry.close()
