"""Fields: what a farmer asks about."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentUser
from api.deps import FieldId, LatestDep
from api.kept_answer import KeptAnswer
from api.latest import LatestReadings
from api.schemas import FieldLatestPublic, ReadingPublic
from registry.store import FieldInfo
from storage.influx import InfluxError
from storage.queries import LatestValue
from telemetry.quantities import QUANTITIES

router = APIRouter(prefix="/api/v1/fields", tags=["fields"])


@router.get("/{field_id}/latest", response_model=FieldLatestPublic)
async def field_latest(
    field_id: FieldId, principal: CurrentUser, latest: LatestDep, request: Request
) -> Response:
    """The latest value, unit and time of every quantity measured in a field."""
    # What was asked a moment ago is answered on the event loop; the registry, the last-value
    # store and InfluxDB are asked on the thread pool.
    info = latest.field_kept(field_id) or await run_in_threadpool(
        latest.field_from_registry, field_id
    )
    # A field the caller may not see is "not found" too, so field ids leak nothing.
    if info is None or not principal.can_see_field(info.id, info.village_id):
        raise HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")
    answer = latest.answer_kept(info.id)
    if answer is None:
        try:
            answer = await run_in_threadpool(field_answer, latest, info)
        except InfluxError as exc:
            raise HTTPException(
                503, f"Basis data tidak menjawab / database unavailable: {exc}"
            ) from None
    return answer.response(request)


def field_answer(latest: LatestReadings, info: FieldInfo) -> KeptAnswer:
    """A field's latest-conditions answer made now, and kept; raises ``InfluxError``."""
    values = latest.of_field(info.id, info.devices)
    body = FieldLatestPublic(
        field_id=info.id,
        name=info.name,
        village_id=info.village_id,
        crop=info.crop,
        readings=[_public(v) for v in values],
    ).model_dump_json()
    answer = KeptAnswer.of(body.encode())
    latest.keep_answer(info.id, answer)
    return answer


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
