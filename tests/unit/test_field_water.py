"""A field's water from what the registry holds: records that cannot be balanced give no advice
and a reason, never an error page, and never stop the other fields.

InfluxDB is replaced at its boundary (``village_days``: no station or probe days), as in the
page tests; the registry is real.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import field_water
from alerts.field_water import NoAdvice, fields_water
from registry.models import Field
from registry.records import ProbeCalibration
from registry.store import FieldEntry, Registry, SiteFile, VillageEntry

TODAY = date(2026, 12, 5)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    monkeypatch.setattr(field_water, "village_days", lambda *args, **kw: {})
    store = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    store.apply(
        SiteFile(
            villages=[VillageEntry(id="v1", name="V1")],
            fields=[
                FieldEntry(id="jagung-baik", name="A", village="v1", crop="jagung"),
                FieldEntry(id="tanah-aneh", name="B", village="v1", crop="jagung"),
                FieldEntry(id="kopi-nanti", name="C", village="v1", crop="kopi"),
                FieldEntry(id="tebu", name="D", village="v1", crop="tebu"),
                FieldEntry(id="kosong", name="E", village="v1"),
            ],
        )
    )
    with Session(store.engine) as session, session.begin():
        fields = {f.id: f for f in session.scalars(select(Field))}
        for field in fields.values():
            field.planted_on = TODAY - timedelta(days=40)
        fields["tanah-aneh"].soil_texture = "gambut"  # peat: not a Table 19 class
        fields["kopi-nanti"].planted_on = TODAY + timedelta(days=3)
        session.add(
            ProbeCalibration(
                gateway_id="gw",
                device_id="soil-1",
                quantity="soil_moisture",
                scale=0.0,  # impossible: entered wrongly
                offset=0.0,
                set_ms=0,
            )
        )
    yield store
    store.close()


def _water(registry: Registry) -> dict[str, field_water.FieldWater]:
    with Session(registry.engine) as session:
        fields = list(session.scalars(select(Field)))
        return fields_water(session, object(), fields, TODAY, 7)  # type: ignore[arg-type]


def test_each_field_gets_advice_or_a_reason_whatever_the_others_hold(registry: Registry) -> None:
    water = _water(registry)
    assert water["jagung-baik"].advice is not None  # on the fallbacks: 4 mm/day, no rain known
    assert water["jagung-baik"].advice.confidence == "model"
    assert water["tanah-aneh"].no_advice is NoAdvice.BAD_SOIL
    assert water["kopi-nanti"].no_advice is NoAdvice.NOT_PLANTED
    assert water["tebu"].no_advice is NoAdvice.UNKNOWN_CROP
    assert water["kosong"].no_advice is NoAdvice.NO_CROP
