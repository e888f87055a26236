"""The last-value store: the newest reading of every (field, device, quantity), kept as ingest
writes, so "latest conditions" is a key lookup instead of a look-back query over InfluxDB.

The idea is InfluxDB 3's Last Value Cache, kept outside InfluxDB so that it works the same on
1.x, 2.x and 3.x and is shared by every process that needs it:

- **several ingest workers** each record the readings of the batches they wrote, right after
  InfluxDB took them. A row is replaced only by a reading at least as new
  (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``), so workers writing in any order, a gateway
  replaying an old backlog, or a second worker with an older share never move a value back;
- **several API processes** read the same table; a reading is there a few milliseconds after
  InfluxDB accepted it.

It is a SQL table (SQLite by default, in a file beside the registry's; PostgreSQL by URL for a
server of several machines). The store is a copy, never the record: InfluxDB is. A lost or new
store is filled again by :func:`seed_from_influx` (ingest does it when it starts with an empty
store) and by the next readings; a field with a placed device the store does not know is read
from InfluxDB by the API, as before the store existed.

Rows are keyed as the look-back query groups (``field_id``, ``device_id``, ``quantity``), so a
probe moved to another field keeps its last value in the old field too, as InfluxDB does.
Readings of devices the registry has not placed in a field are not kept: no page asks for them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    make_url,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateTable

from storage.influx import InfluxDB
from storage.queries import LATEST_LOOKBACK, LatestValue
from storage.schema import MEASUREMENT
from telemetry.quantities import QUANTITIES

FILE_NAME = "last_values.sqlite3"
# A writer waits this long for another process's transaction (SQLite has one writer at a time).
_BUSY_TIMEOUT_MS = 10_000

_metadata = MetaData()
last_value = Table(
    "last_value",
    _metadata,
    Column("field_id", String(64), primary_key=True),
    Column("device_id", String(64), primary_key=True),
    Column("quantity", String(64), primary_key=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("quality", String(16), nullable=False),
)
_KEY = ("field_id", "device_id", "quantity")
_OF_FIELD = select(
    last_value.c.quantity,
    last_value.c.device_id,
    last_value.c.value,
    last_value.c.time_ms,
    last_value.c.quality,
).where(last_value.c.field_id == bindparam("field_id"))
_ANY = select(last_value.c.field_id).limit(1)
# The look-back query of every field at once (storage.queries' LATEST_LONG_QUERY per field).
_SEED_QUERY = (
    f'SELECT last("value") AS "value", "quality" FROM "{MEASUREMENT}"'
    f' WHERE time > now() - {LATEST_LOOKBACK} GROUP BY "field_id", "quantity", "device_id"'
)

# What a recorder gathers per key: (time_ms, value, quality).
Key = tuple[str, str, str]
Newest = tuple[int, float, str]


class LastValuesError(Exception):
    """The last-value store cannot be read or written (its database is unreachable)."""


def default_url(registry_url: str) -> str:
    """The store's URL when none is configured: a SQLite file beside a SQLite registry, else
    the registry's own database (a table of its own there)."""
    url = make_url(registry_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return registry_url
    parent = url.database.rpartition("/")[0]
    return str(url.set(database=f"{parent}/{FILE_NAME}" if parent else FILE_NAME))


def keep_newest(
    newest: dict[Key, Newest], key: Key, time_ms: int, value: float, quality: str
) -> None:
    """Remember a reading in ``newest`` if it is the newest of its key seen so far."""
    held = newest.get(key)
    if held is None or time_ms >= held[0]:
        newest[key] = (time_ms, value, quality)


class LastValues:
    """The store (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _engine(url)
        try:
            # IF NOT EXISTS, not checkfirst: workers starting together would each see no table
            # and all but one fail to create it.
            with self._engine.begin() as connection:
                connection.execute(CreateTable(last_value, if_not_exists=True))
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise LastValuesError(f"last-value store {url} cannot be created: {exc}") from exc
        dialect = self._engine.dialect
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        statement = insert(last_value)
        upsert = statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={
                "time_ms": statement.excluded.time_ms,
                "value": statement.excluded.value,
                "quality": statement.excluded.quality,
            },
            where=statement.excluded.time_ms >= last_value.c.time_ms,
        )
        # Compiled once and run as the driver's own SQL: SQLAlchemy's per-row parameter
        # handling cost ingest more than the database did (4.3 -> 1 us a row).
        compiled = upsert.compile(dialect=dialect)
        self._upsert_sql = str(compiled)
        self._upsert_order = compiled.positiontup if compiled.positional else None

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def record(self, newest: Mapping[Key, Newest]) -> int:
        """Keep these readings where they are newer than what the store holds; returns how many
        were offered. Raises ``LastValuesError`` if the database cannot be written."""
        if not newest:
            return 0
        rows = [
            {
                "field_id": field_id,
                "device_id": device_id,
                "quantity": quantity,
                "time_ms": time_ms,
                "value": value,
                "quality": quality,
            }
            for (field_id, device_id, quantity), (time_ms, value, quality) in newest.items()
        ]
        order = self._upsert_order
        params = rows if order is None else [tuple(row[name] for name in order) for row in rows]
        try:
            with self._engine.begin() as connection:
                connection.exec_driver_sql(self._upsert_sql, params)
        except SQLAlchemyError as exc:
            raise LastValuesError(f"last-value store not updated: {exc}") from exc
        return len(rows)

    def of_field(self, field_id: str) -> list[LatestValue]:
        """The newest value of every quantity of every device of a field, sorted by quantity
        and device. Raises ``LastValuesError`` if the database cannot be read."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(_OF_FIELD, {"field_id": field_id}).all()
        except SQLAlchemyError as exc:
            raise LastValuesError(f"last-value store unreadable: {exc}") from exc
        values = [
            LatestValue(
                quantity=quantity,
                device_id=device_id,
                value=value,
                unit=spec.unit if (spec := QUANTITIES.get(quantity)) else "",
                time_ms=time_ms,
                quality=quality,
            )
            for quantity, device_id, value, time_ms, quality in rows
        ]
        return sorted(values, key=lambda v: (v.quantity, v.device_id))

    def is_empty(self) -> bool:
        """Whether the store holds nothing (new, or its file was lost)."""
        try:
            with self._engine.connect() as connection:
                return connection.execute(_ANY).first() is None
        except SQLAlchemyError as exc:
            raise LastValuesError(f"last-value store unreadable: {exc}") from exc


def seed_from_influx(store: LastValues, influx: InfluxDB) -> int:
    """Fill the store with InfluxDB's last value of every series of the last 30 days (what the
    look-back query would show); never replaces a newer value. Returns the rows offered.
    Raises ``InfluxError`` or ``LastValuesError``."""
    newest: dict[Key, Newest] = {}
    for series in influx.query(_SEED_QUERY):
        tags = series.tags
        if not tags.get("field_id"):
            continue  # readings of devices placed in no field
        for row in series.rows():
            if row["value"] is None:
                continue
            keep_newest(
                newest,
                (tags["field_id"], tags["device_id"], tags["quantity"]),
                int(row["time"]),
                float(row["value"]),
                str(row["quality"]),
            )
    return store.record(newest)


def _engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _wal(connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Readers (API processes) never wait for the writer (ingest), nor it for them.
        cursor = connection.cursor()
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    # Switching a new file to WAL answers "database is locked" at once, without the busy
    # timeout, while another process switches it too (workers starting together): retry.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
