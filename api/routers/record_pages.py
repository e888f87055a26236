"""The records page of a field: what was done to it (watering, fertiliser, lime, planting,
harvest), and a plain form to add one, for the farmer or an officer on the farmer's behalf.

Server-rendered, no JavaScript: the form posts to the page itself; a refusal shows the form
again with what was typed and why (422), a saved record goes back to the list (303: reloading
does not post it twice). Scope and checks are the JSON API's (``api.field_records``,
``api.schemas_records``, ``registry.records``): a field out of scope is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from babel.dates import format_date
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from agronomy.amendments import LIME_PRODUCTS
from agronomy.crops import CROPS
from agronomy.water_balance import litres
from api.auth import SessionDep, now_ms
from api.deps import MAX_ROW_ID, FieldId
from api.field_records import known_area, new_record, site_today, visible_field
from api.i18n import N_, PageLanguage, format_number, page_language
from api.i18n import render as render_page
from api.pages import PAGE_HEADERS, PageUser, page_context, site_offset
from api.schemas_records import (
    FERTILISER_SUGGESTIONS,
    NOTE_MAX,
    PROBLEM,
    PRODUCT_MAX,
    RecordCreate,
    RecordInputError,
    say,
)
from registry.access import Principal
from registry.models import Field
from registry.records import (
    DELETE_WINDOW_MS,
    RecordKind,
    RecordRefused,
    RecordRow,
    add_record,
    delete_record,
    may_delete,
    record_rows,
)
from registry.store import RegistryError, RegistryNotFound

router = APIRouter(tags=["web pages"], include_in_schema=False)

_LIMIT = 100  # newest shown; the CSV has them all
# msgids, in the order the form offers them.
KIND_NAMES = {
    RecordKind.IRRIGATION: N_("Irrigation"),
    RecordKind.FERTILISER: N_("Fertiliser"),
    RecordKind.LIME: N_("Lime"),
    RecordKind.PLANTING: N_("Planting"),
    RecordKind.HARVEST: N_("Harvest"),
}
# What to say about an input pydantic refused by its type (the rest carry their own msgid).
_INPUT_PROBLEMS = {
    "kind": N_("Choose what was done."),
    "day": N_("Enter the date as day/month/year, for example %(example)s."),
    "amount": N_("Enter the amount as a number, for example %(example)s."),
    "unit": N_("Choose mm or litres."),
    "product": N_("The crop, fertiliser or lime can be at most %(max)s characters."),
    "note": N_("The note can be at most %(max)s characters."),
}
_SAVED, _DELETED = "disimpan", "dihapus"
_DAY_MS = 24 * 3600 * 1000
_ECHO_MAX = 2 * NOTE_MAX  # what a refused form shows again of each input, at most


@dataclass(frozen=True, slots=True)
class RecordView:
    """One record as the page shows it."""

    id: int
    day: str
    what: str
    amount: str | None
    product: str | None
    note: str | None
    who: str | None
    entered_ms: int
    can_delete: bool


def _number(value: float, language: PageLanguage) -> str:
    return format_number(round(value, 1), language)


def _amount(row: RecordRow, area: float | None, language: PageLanguage) -> str | None:
    record = row.record
    if record.amount is None:
        return None
    if record.kind != RecordKind.IRRIGATION.value:
        return f"{_number(record.amount, language)} kg"
    shown = f"{_number(record.amount, language)} mm"
    if area is not None:
        volume = format_number(round(litres(record.amount, area)), language)
        shown += " (" + language.gettext("%(litres)s litres") % {"litres": volume} + ")"
    return shown


def _product(row: RecordRow, language: PageLanguage) -> str | None:
    record, english = row.record, language.code == "en"
    if record.product is None:
        return None
    if record.kind == RecordKind.PLANTING.value and record.product in CROPS:
        crop = CROPS[record.product]
        return crop.name_en if english else crop.name_id
    if record.kind == RecordKind.LIME.value and record.product in LIME_PRODUCTS:
        lime = LIME_PRODUCTS[record.product]
        return lime.name_en if english else lime.name_id
    return record.product


def _views(
    rows: list[RecordRow], field: Field, principal: Principal, language: PageLanguage
) -> list[RecordView]:
    now, area = now_ms(), known_area(field)
    return [
        RecordView(
            id=row.record.id,
            day=format_date(row.record.day, "medium", locale=language.locale),
            what=language.gettext(KIND_NAMES[RecordKind(row.record.kind)]),
            amount=_amount(row, area, language),
            product=_product(row, language),
            note=row.record.note,
            who=row.entered_by_name,
            entered_ms=row.record.entered_ms,
            can_delete=may_delete(row.record, principal, now),
        )
        for row in rows
    ]


def _suggestions(language: PageLanguage) -> list[str]:
    english = language.code == "en"
    crops = [crop.name_en if english else crop.name_id for crop in CROPS.values()]
    limes = [lime.name_en if english else lime.name_id for lime in LIME_PRODUCTS.values()]
    return [*crops, *FERTILISER_SUGGESTIONS, *limes]


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    field_id: str,
    *,
    form: dict[str, str] | None = None,
    problems: list[str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The records page of a field (its 404 page when out of scope), with the form."""
    here = f"/lahan/{field_id}/catatan"  # the language link of a POST's answer GETs the page
    found = visible_field(session, principal, field_id)
    if found is None:
        context = page_context(principal, field=None)
        return render_page(request, "records.html", context, 404, PAGE_HEADERS, switch_path=here)
    field, village_name, farmer_name = found
    language = page_language(request)
    today = site_today(site_offset(request))
    rows = record_rows(session, field.id, limit=_LIMIT + 1)
    area = known_area(field)
    context = page_context(
        principal,
        field=field,
        village_name=village_name,
        farmer_name=farmer_name,
        views=_views(rows[:_LIMIT], field, principal, language),
        more=len(rows) > _LIMIT,
        limit=_LIMIT,
        kinds=KIND_NAMES,
        form=form or {"kind": "", "day": today.isoformat(), "unit": "mm"},
        today=today.isoformat(),
        problems=problems or [],
        notice=notice,
        suggestions=_suggestions(language),
        units=[("mm", "mm"), ("liter", language.gettext("litres"))],
        limes=", ".join(
            lime.name_en if language.code == "en" else lime.name_id
            for lime in LIME_PRODUCTS.values()
        ),
        area=None if area is None else format_number(round(area), language),
        litres_per_mm=None if area is None else format_number(round(litres(1, area)), language),
        product_max=PRODUCT_MAX,
        note_max=NOTE_MAX,
        csv_url=f"/api/v1/fields/{field.id}/records.csv",
    )
    return render_page(
        request, "records.html", context, status_code, PAGE_HEADERS, switch_path=here
    )


def _problems(error: ValidationError, language: PageLanguage) -> list[str]:
    """What was wrong with the form, in the page's language, each once."""
    said: list[str] = []
    for problem in error.errors():
        if problem["type"] == PROBLEM:
            context = problem["ctx"]
            text = say(context["msgid"], context["params"], language)
        else:
            name = str(problem["loc"][0]) if problem["loc"] else ""
            msgid = _INPUT_PROBLEMS.get(name, N_("Check the form and try again."))
            params: dict[str, Any] = {
                "example": 12.5 if name == "amount" else "5/12/2026",
                "max": NOTE_MAX if name == "note" else PRODUCT_MAX,
            }
            text = say(msgid, params, language)  # a msgid without placeholders ignores them
        if text not in said:
            said.append(text)
    return said


Text = Annotated[str, Form()]


@router.get("/lahan/{field_id}/catatan", response_class=HTMLResponse)
def records_page(
    field_id: FieldId, request: Request, principal: PageUser, session: SessionDep
) -> Response:
    """A field's records, newest first, and the form to add one."""
    notice = None
    if _SAVED in request.query_params:
        notice = page_language(request).gettext("Saved. Thank you.")
    elif _DELETED in request.query_params:
        notice = page_language(request).gettext("The record was deleted.")
    return _page(request, session, principal, field_id, notice=notice)


@router.post("/lahan/{field_id}/catatan", response_class=HTMLResponse)
def add_record_form(
    field_id: FieldId,
    request: Request,
    principal: PageUser,
    session: SessionDep,
    kind: Text = "",
    day: Text = "",
    amount: Text = "",
    unit: Text = "",
    product: Text = "",
    note: Text = "",
) -> Response:
    """Keep the record as the signed-in person (an officer on a farmer's field is the
    officer), then back to the list."""
    typed = {"kind": kind, "day": day, "amount": amount, "unit": unit or "mm"}
    typed |= {"product": product, "note": note}
    form = {name: value[:_ECHO_MAX] for name, value in typed.items()}
    found = visible_field(session, principal, field_id)
    if found is None:
        return _page(request, session, principal, field_id)
    language = page_language(request)
    try:
        data = RecordCreate.model_validate(typed)
        kept = new_record(data, found[0], site_today(site_offset(request)))
        add_record(session, field_id, kept, entered_by_id=principal.user_id, now_ms=now_ms())
    except ValidationError as error:
        problems = _problems(error, language)
    except RecordInputError as error:
        problems = [say(error.msgid, error.params, language)]
    except RegistryError as error:  # the registry's own floor; the checks above come first
        problems = [str(error)]
    else:
        session.commit()
        return _back(field_id, _SAVED)
    session.rollback()
    return _page(
        request, session, principal, field_id, form=form, problems=problems, status_code=422
    )


def _back(field_id: str, what: str) -> Response:
    # POST, redirect, GET: reloading the list does not post the form again.
    return RedirectResponse(
        f"/lahan/{field_id}/catatan?{what}=1", status_code=303, headers=PAGE_HEADERS
    )


@router.post("/lahan/{field_id}/catatan/{record_id:int}/hapus", response_class=HTMLResponse)
def delete_record_form(
    field_id: FieldId, record_id: int, request: Request, principal: PageUser, session: SessionDep
) -> Response:
    """Delete a record: the person who entered it within 7 days, staff of the field always."""
    language = page_language(request)
    if not 1 <= record_id <= MAX_ROW_ID:
        record_id = 0  # not found, like any id that is not there
    try:
        delete_record(session, field_id, record_id, principal, now_ms=now_ms())
    except RecordRefused:
        message = language.gettext(
            "Only the person who entered a record can delete it, within %(days)s days; an "
            "extension officer can delete it at any time."
        ) % {"days": DELETE_WINDOW_MS // _DAY_MS}
        return _page(request, session, principal, field_id, problems=[message], status_code=403)
    except RegistryNotFound:
        session.rollback()
        message = language.gettext("This record does not exist (any more).")
        return _page(request, session, principal, field_id, problems=[message], status_code=404)
    session.commit()
    return _back(field_id, _DELETED)
