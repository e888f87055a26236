"""Fields: what a farmer asks about."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException

from api.auth import CurrentUser
from api.deps import FieldId, LatestDep
from api.schemas import FieldLatestPublic, ReadingPublic
from storage.influx import InfluxError
from storage.queries import LatestValue
from telemetry.quantities import QUANTITIES

router = APIRouter(prefix="/api/v1/fields", tags=["fields"])


@router.get("/{field_id}/latest", response_model=FieldLatestPublic)
def field_latest(field_id: FieldId, principal: CurrentUser, latest: LatestDep) -> FieldLatestPublic:
    """The latest value, unit and time of every quantity measured in a field."""
    info = latest.field(field_id)
    # A field the caller may not see is "not found" too, so field ids leak nothing.
    if info is None or not principal.can_see_field(info.id, info.village_id):
        raise HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")
    try:
        values = latest.of_field(field_id, info.devices)
    except InfluxError as exc:
        raise HTTPException(
            503, f"Basis data tidak menjawab / database unavailable: {exc}"
        ) from None
    return FieldLatestPublic(
        field_id=info.id,
        name=info.name,
        village_id=info.village_id,
        crop=info.crop,
        readings=[_public(v) for v in values],
    )


def _public(value: LatestValue) -> ReadingPublic:
    spec = QUANTITIES.get(value.quantity)
    return ReadingPublic(
        quantity=value.quantity,
        label_id=spec.label_id if spec else value.quantity,
        label_en=spec.label_en if spec else value.quantity,
        device_id=value.device_id,
        value=value.value,
        unit=value.unit,
        time=datetime.fromtimestamp(value.time_ms / 1000, tz=UTC),
        quality=value.quality,
    )
