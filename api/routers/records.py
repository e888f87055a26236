"""Farmer records of a field: irrigation, fertiliser, lime, planting and harvest.

Whoever may see a field may enter records for it (a farmer their own fields, an officer the
fields of their villages, the village office its village's, an admin all), and is kept as the
person who entered it. A field out of scope answers 404 like one that does not exist, before
anything else about the request is judged. Deleting: staff of the field at any time, the person
who entered a record within 7 days (``registry.records.may_delete``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from api.auth import CurrentUser, SessionDep, now_ms
from api.deps import MAX_ROW_ID, ConfigDep, FieldId
from api.field_records import new_record, public, records_csv, site_today, visible_field
from api.schemas_records import RecordCreate, RecordInputError, RecordPublic
from registry.models import Field
from registry.records import RecordRefused, RecordRow, add_record, delete_record, record_rows
from registry.store import RegistryError, RegistryNotFound

router = APIRouter(prefix="/api/v1", tags=["records"])

RecordId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="Record id")]
Since = Annotated[date | None, Query(description="First day, included")]
Until = Annotated[date | None, Query(description="Last day, included")]
Limit = Annotated[int, Query(ge=1, le=10_000, description="At most this many, newest first")]

_NOT_FOUND = {404: {"description": "No such field (or record), or not yours to see"}}
_CSV_RESPONSE = {200: {"description": "CSV (UTF-8, header row)", "content": {"text/csv": {}}}}


def _not_found_field(field_id: str) -> HTTPException:
    return HTTPException(404, f"Lahan {field_id!r} tidak ditemukan / field not found")


# A dependency, so scope is judged before the body and the query: a field out of scope is 404
# whatever was sent to it, never a 422 that tells it exists.
def _visible_field(field_id: FieldId, principal: CurrentUser, session: SessionDep) -> Field:
    found = visible_field(session, principal, field_id)
    if found is None:
        raise _not_found_field(field_id)
    return found[0]


VisibleField = Annotated[Field, Depends(_visible_field)]


def _check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and until < since:
        raise HTTPException(422, "Akhir sebelum awal / until is before since")


@router.get("/fields/{field_id}/records", response_model=list[RecordPublic], responses=_NOT_FOUND)
def list_records(
    field: VisibleField,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = 1000,
) -> list[RecordPublic]:
    """The field's records with ``since <= day <= until``, newest day first."""
    _check_range(since, until)
    return [public(row) for row in record_rows(session, field.id, since, until, limit=limit)]


@router.get(
    "/fields/{field_id}/records.csv",
    response_class=Response,
    responses={**_CSV_RESPONSE, **_NOT_FOUND},
)
def records_csv_download(
    field: VisibleField, session: SessionDep, since: Since = None, until: Until = None
) -> Response:
    """The same records as a CSV download (amounts in ``unit``; entered_at in UTC)."""
    _check_range(since, until)
    text = records_csv(record_rows(session, field.id, since, until))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="catatan_{field.id}.csv"'},
    )


@router.post(
    "/fields/{field_id}/records",
    response_model=RecordPublic,
    status_code=201,
    responses=_NOT_FOUND,
)
def create_record(
    field: VisibleField,
    data: RecordCreate,
    principal: CurrentUser,
    session: SessionDep,
    config: ConfigDep,
) -> RecordPublic:
    """Keep a record as the signed-in person. Not after today (the site's day); irrigation in
    litres needs the field's area. A planting sets the field's crop and planting day, unless
    the field has a later planting already."""
    try:
        data_in = new_record(data, field, site_today(config.utc_offset_h))
        record = add_record(
            session, field.id, data_in, entered_by_id=principal.user_id, now_ms=now_ms()
        )
    except (RecordInputError, RegistryError) as exc:  # the registry's floor: after the checks
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return public(RecordRow(record, principal.username, principal.full_name))


@router.delete(
    "/fields/{field_id}/records/{record_id}",
    status_code=204,
    responses={
        **_NOT_FOUND,
        403: {"description": "Not yours to delete, or entered over 7 days ago"},
    },
)
def remove_record(
    field: VisibleField, record_id: RecordId, principal: CurrentUser, session: SessionDep
) -> Response:
    """Delete a record: staff of the field at any time; the person who entered it within 7
    days of entering it."""
    try:
        delete_record(session, field.id, record_id, principal, now_ms=now_ms())
    except RecordRefused as exc:
        raise HTTPException(403, str(exc)) from None
    except RegistryNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    return Response(status_code=204)
