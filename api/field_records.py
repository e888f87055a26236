"""What the records API and the records page share: the field a person may see, a checked
record turned into what the registry keeps, and the CSV of a field's records.

Routers import this; no router imports another.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import field_scope
from api.i18n import N_
from api.schemas import utc_time
from api.schemas_records import (
    IRRIGATION_MAX_MM,
    RecordCreate,
    RecordInputError,
    RecordPublic,
    amount_unit,
)
from registry.access import Principal
from registry.models import Field, Village
from registry.people import User
from registry.records import NewRecord, RecordKind, RecordRow

CSV_HEADER = [
    "day",
    "kind",
    "amount",
    "unit",
    "product",
    "note",
    "entered_by",
    "entered_by_name",
    "entered_at",
]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): free
# text from a phone is written with a leading apostrophe instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def site_today(utc_offset_h: int) -> date:
    """Today at the site (WIB, WITA or WIT)."""
    return (datetime.now(UTC) + timedelta(hours=utc_offset_h)).date()


def visible_field(
    session: Session, principal: Principal, field_id: str
) -> tuple[Field, str | None, str | None] | None:
    """The field with its village's and its farmer's names, or None when it does not exist
    or is not the principal's to see (the same answer)."""
    found = session.execute(
        select(Field, Village.name, User.full_name)
        .outerjoin(Village, Village.id == Field.village_id)
        .outerjoin(User, User.id == Field.owner_id)
        .where(Field.id == field_id, field_scope(principal))
    ).first()
    return None if found is None else (found[0], found[1], found[2])


def known_area(field: Field) -> float | None:
    """The field's area in m2 when it is set and usable."""
    area = field.area_m2
    return area if area is not None and math.isfinite(area) and area > 0 else None


def new_record(data: RecordCreate, field: Field, today: date) -> NewRecord:
    """What the registry keeps of a checked record; RecordInputError when the field or the day
    refuses it. Litres become mm over the field's area (1 litre over 1 m2 is 1 mm)."""
    if data.day > today:
        raise RecordInputError(N_("The date cannot be after today (%(today)s)."), today=today)
    amount = data.amount
    if data.kind is RecordKind.IRRIGATION and data.unit == "liter" and amount is not None:
        area = known_area(field)
        if area is None:
            raise RecordInputError(
                N_(
                    "The area of this field is not known, so litres cannot be turned into mm. "
                    "Enter the amount in mm, or ask your extension officer to set the field's "
                    "area."
                )
            )
        amount = amount / area
        if amount > IRRIGATION_MAX_MM:
            raise RecordInputError(
                N_(
                    "%(litres)s litres over this field's %(area)s m² is %(mm)s mm; at most "
                    "%(max)s mm a day can be entered."
                ),
                litres=data.amount,
                area=area,
                mm=round(amount),
                max=IRRIGATION_MAX_MM,
            )
    return NewRecord(
        kind=data.kind, day=data.day, amount=amount, product=data.product, note=data.note
    )


def public(row: RecordRow) -> RecordPublic:
    """A record as the JSON API answers it."""
    record = row.record
    return RecordPublic(
        id=record.id,
        field_id=record.field_id,
        kind=RecordKind(record.kind),
        day=record.day,
        amount=record.amount,
        unit=None if record.amount is None else amount_unit(record.kind),
        product=record.product,
        note=record.note,
        entered_by=row.entered_by,
        entered_by_name=row.entered_by_name,
        entered_at=utc_time(record.entered_ms),
    )


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def records_csv(rows: list[RecordRow]) -> str:
    """A field's records as CSV text with a header row, newest day first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        shown = public(row)
        writer.writerow(
            [
                _cell(value)
                for value in (
                    shown.day.isoformat(),
                    shown.kind.value,
                    shown.amount,
                    shown.unit,
                    shown.product,
                    shown.note,
                    shown.entered_by,
                    shown.entered_by_name,
                    shown.entered_at.isoformat(),
                )
            ]
        )
    return out.getvalue()
