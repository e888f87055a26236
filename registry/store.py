"""Opening the registry, loading a site description, and the look-ups other parts need."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import URL, Engine, create_engine, event, make_url, select
from sqlalchemy.orm import Session

from registry import migrate
from registry.models import Device, Field, Gateway, Village

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VillageEntry(_Entry):
    """A village in a site file."""

    id: Identifier
    name: str


class FieldEntry(_Entry):
    """A field in a site file."""

    id: Identifier
    name: str
    village: Identifier
    crop: str | None = None


class DeviceEntry(_Entry):
    """A device of a gateway in a site file."""

    id: Identifier
    kind: str
    field: Identifier | None = None


class GatewayEntry(_Entry):
    """A gateway and its devices in a site file."""

    id: Identifier
    name: str
    devices: list[DeviceEntry] = PydanticField(default_factory=list)


class SiteFile(_Entry):
    """A whole site: what ``tani registry load`` reads."""

    villages: list[VillageEntry] = PydanticField(default_factory=list)
    fields: list[FieldEntry] = PydanticField(default_factory=list)
    gateways: list[GatewayEntry] = PydanticField(default_factory=list)


@dataclass(frozen=True, slots=True)
class DevicePlacement:
    """Field, village and the field's crop, of one device."""

    field_id: str
    village_id: str
    crop: str | None = None


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """What the API says about a field besides its readings."""

    id: str
    name: str
    village_id: str
    crop: str | None
    devices: tuple[str, ...] = ()  # ids of the devices placed in the field


class RegistryError(Exception):
    """The registry refused a change (for example a field in an unknown village)."""


class RegistryNotFound(RegistryError):
    """Something named does not exist (a village, user, rule, ...)."""


class RegistryConflict(RegistryError):
    """A name is already taken."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # API, ingest and alerts share the file: WAL lets readers run beside one writer, and a
    # writer waits for the lock instead of failing at once. SQLite enforces foreign keys only
    # when asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# The API answers up to 40 requests at once (its thread pool), each holding a connection or
# two. The default pool (5 + 10 overflow) opened and closed a connection, with its pragmas,
# for most requests under load.
POOL_SIZE = 20
POOL_OVERFLOW = 30


def _pool_options(url: URL) -> dict[str, int]:
    # SQLite in memory has a pool of its own kind, without these settings.
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return {}
    return {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}


class Registry:
    """The registry database (SQLite file by default, PostgreSQL by URL)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, **_pool_options(make_url(url)))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate.upgrade(self.engine)

    @classmethod
    def from_path(cls, path: Path) -> Registry:
        """Open (creating if needed) an SQLite registry file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    def load_site(self, path: Path) -> SiteFile:
        """Insert or update everything a site TOML file describes."""
        with path.open("rb") as handle:
            site = SiteFile.model_validate(tomllib.load(handle))
        self.apply(site)
        return site

    def apply(self, site: SiteFile) -> None:
        """Insert or update villages, fields, gateways and devices in one transaction."""
        villages = {v.id for v in site.villages}
        fields = {f.id for f in site.fields}
        with Session(self.engine) as session, session.begin():
            villages |= set(session.scalars(select(Village.id)))
            fields |= set(session.scalars(select(Field.id)))
            for v in site.villages:
                session.merge(Village(id=v.id, name=v.name))
            for f in site.fields:
                if f.village not in villages:
                    raise RegistryError(f"field {f.id}: unknown village {f.village!r}")
                session.merge(Field(id=f.id, name=f.name, village_id=f.village, crop=f.crop))
            for g in site.gateways:
                session.merge(Gateway(id=g.id, name=g.name))
                for d in g.devices:
                    if d.field is not None and d.field not in fields:
                        raise RegistryError(f"device {g.id}/{d.id}: unknown field {d.field!r}")
                    session.merge(Device(gateway_id=g.id, id=d.id, kind=d.kind, field_id=d.field))

    def placements(self) -> dict[tuple[str, str], DevicePlacement]:
        """{(gateway_id, device_id): placement} of every placed device."""
        query = select(Device.gateway_id, Device.id, Field.id, Field.village_id, Field.crop).join(
            Field, Device.field_id == Field.id
        )
        with Session(self.engine) as session:
            return {(g, d): DevicePlacement(f, v, c) for g, d, f, v, c in session.execute(query)}

    def devices(self) -> set[tuple[str, str]]:
        """(gateway_id, device_id) of every registered device, placed in a field or not."""
        with Session(self.engine) as session:
            return {(g, d) for g, d in session.execute(select(Device.gateway_id, Device.id))}

    def field(self, field_id: str) -> FieldInfo | None:
        """One field, or None if the registry has no such field."""
        with Session(self.engine) as session:
            row = session.get(Field, field_id)
            if row is None:
                return None
            devices = session.scalars(
                select(Device.id).where(Device.field_id == field_id).order_by(Device.id)
            )
            return FieldInfo(row.id, row.name, row.village_id, row.crop, tuple(devices))
