"""A field's water: today's advice and the daily FAO-56 balance behind it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from agronomy.paddy import PaddyDayState
from agronomy.water_balance import DayState
from alerts.field_water import FieldWater, fields_water
from alerts.local_time import local_moment
from api.auth import CurrentUser, SessionDep, now_ms
from api.deps import ConfigDep, FieldId, InfluxDep
from api.schemas_water import AdvicePublic, FieldWaterPublic, SoilPublic, WaterDayPublic
from registry.models import Field
from storage.influx import InfluxError

router = APIRouter(prefix="/api/v1/fields", tags=["water"])

Days = Annotated[int, Query(ge=1, le=366, description="The balance of this many latest days")]


@router.get("/{field_id}/water", response_model=FieldWaterPublic)
def field_water(
    field_id: FieldId,
    principal: CurrentUser,
    session: SessionDep,
    influx: InfluxDep,
    config: ConfigDep,
    days: Days = 14,
) -> FieldWaterPublic:
    """Whether to water today, how much (mm and litres) and how sure, with the daily balance:
    ET0 from the village's station, the crop's Kc and water use, rain, irrigation records and
    the root-zone depletion against its readily available water (or a paddy's water level)."""
    field = session.get(Field, field_id)
    if field is None or not principal.can_see_field(field.id, field.village_id):
        raise HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")
    today = local_moment(now_ms(), config.utc_offset_h).date()
    try:
        water = fields_water(session, influx, [field], today, config.utc_offset_h)[field.id]
    except InfluxError as exc:
        raise HTTPException(
            503, f"Basis data tidak menjawab / database unavailable: {exc}"
        ) from None
    return _public(water, days)


def _public(water: FieldWater, days: int) -> FieldWaterPublic:
    soil = water.soil
    advice = water.advice
    return FieldWaterPublic(
        field_id=water.field_id,
        crop=water.crop.id if water.crop else None,
        soil=None
        if soil is None
        else SoilPublic(
            name=soil.name, field_capacity=soil.fc, wilting_point=soil.wp, source=soil.source
        ),
        advice=None
        if advice is None
        else AdvicePublic(**{k: v for k, v in asdict(advice).items() if k != "day"}),
        no_advice=water.no_advice,
        days=_days(water, days),
    )


def _days(water: FieldWater, days: int) -> list[WaterDayPublic]:
    if water.root_zone is not None:
        return [
            _day(s, depletion_mm=s.depletion_mm, raw_mm=s.raw_mm, taw_mm=s.taw_mm)
            for s in water.root_zone.states[-days:]
        ]
    if water.paddy is not None:
        return [_day(s, water_level_mm=s.water_level_mm) for s in water.paddy.states[-days:]]
    return []


def _day(state: DayState | PaddyDayState, **terms: float) -> WaterDayPublic:
    """The terms every day has, root zone or paddy, and ``terms`` of its own kind."""
    return WaterDayPublic(
        day=state.day,
        et0_mm=state.et0_mm,
        et0_source=state.et0_source,
        kc=state.kc,
        etc_mm=state.etc_mm,
        rain_mm=state.rain_mm,
        irrigation_mm=state.irrigation_mm,
        source=state.source,
        **terms,
    )
