"""Farmer records at the edge: what a phone form or an API client may send, and what it gets.

``RecordCreate`` checks what can be checked from the input alone (kinds, limits per kind, crop
and lime names, dates from 2000); ``api.field_records`` then checks it against the field and the
site's day (not in the future, litres over the field's area) and hands the registry a
``registry.records.NewRecord``. Every refusal carries an English msgid and its values, so the
JSON API answers "Indonesian / English" and the form page says it in the page's language.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from babel.dates import format_date
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError

from agronomy.amendments import LIME_PRODUCTS, crop_for, lime_for
from agronomy.crops import CROPS
from api.i18n import N_, PageLanguage, format_number, page_language_for
from registry.records import RecordKind

FIRST_DAY = date(2000, 1, 1)
IRRIGATION_MAX_MM = 300.0  # more in one day is a typo (a flooded paddy holds 50-100 mm)
KG_MAX = 100_000.0  # 100 t: fertiliser, lime or a harvest of one field
PRODUCT_MAX = 63  # FieldRecord.product
NOTE_MAX = 500
PROBLEM = "record_input"  # the pydantic error type of a refusal with a msgid

AmountUnit = Literal["mm", "kg"]
IrrigationUnit = Literal["mm", "liter"]


# Offered as suggestions on the form; fertiliser names are free text.
FERTILISER_SUGGESTIONS = ("Urea", "NPK Phonska", "ZA", "SP-36", "KCl", "pupuk kandang", "kompos")


def amount_unit(kind: RecordKind | str) -> AmountUnit | None:
    """The unit a kind's amount is kept in (planting: none)."""
    kind = RecordKind(kind)
    if kind is RecordKind.IRRIGATION:
        return "mm"
    return None if kind is RecordKind.PLANTING else "kg"


# -- refusals in both languages -------------------------------------------------------------


def _shown_value(value: Any, language: PageLanguage) -> Any:
    if isinstance(value, int | float):
        return format_number(value, language)
    if isinstance(value, date):
        return format_date(value, "medium", locale=language.locale)
    return value


def _shown(params: dict[str, Any], language: PageLanguage) -> dict[str, Any]:
    return {name: _shown_value(value, language) for name, value in params.items()}


def say(msgid: str, params: dict[str, Any], language: PageLanguage) -> str:
    """A refusal in ``language``, its numbers written the language's way."""
    return language.gettext(msgid) % _shown(params, language)


def both_languages(msgid: str, params: dict[str, Any]) -> str:
    """ "Indonesian / English", as the JSON API's refusals read."""
    return " / ".join(say(msgid, params, page_language_for(code)) for code in ("id", "en"))


class RecordInputError(ValueError):
    """A record that cannot be kept as entered: an English msgid and its values."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(both_languages(msgid, params))
        self.msgid = msgid
        self.params = params


def _problem(msgid: str, **params: Any) -> PydanticCustomError:
    # ctx keeps the msgid for the form page; msg is both languages for API clients.
    context = {"message": both_languages(msgid, params), "msgid": msgid, "params": params}
    return PydanticCustomError(PROBLEM, "{message}", context)


# -- what people type -----------------------------------------------------------------------


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _decimal(value: Any) -> Any:
    """ "12,5" and "1.234,5" as Indonesians write them; "12.5" as phones' keyboards send."""
    value = _blank_is_none(value)
    if isinstance(value, str) and "," in value:
        value = (
            value.replace(".", "").replace(",", ".") if "." in value else value.replace(",", ".")
        )
    return value


_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def _day(value: Any) -> Any:
    """ISO "2026-12-05", or "5/12/2026" typed where a phone has no date picker."""
    value = _blank_is_none(value)
    if isinstance(value, str) and (found := _DMY.match(value)):
        day, month, year = (int(part) for part in found.groups())
        try:
            return date(year, month, day)
        except ValueError:
            return value  # pydantic says it is no date
    return value


Text63 = Annotated[
    Annotated[str, StringConstraints(max_length=PRODUCT_MAX)] | None,
    BeforeValidator(_blank_is_none),
]
Note = Annotated[
    Annotated[str, StringConstraints(max_length=NOTE_MAX)] | None, BeforeValidator(_blank_is_none)
]
Amount = Annotated[
    Annotated[float, PydanticField(allow_inf_nan=False)] | None, BeforeValidator(_decimal)
]
Day = Annotated[date, BeforeValidator(_day)]


class RecordBase(BaseModel):
    """What was done to a field on a day, how much and with what."""

    kind: RecordKind
    day: date
    amount: float | None = PydanticField(
        default=None, description="irrigation: mm over the field; fertiliser, lime, harvest: kg"
    )
    product: str | None = PydanticField(
        default=None,
        description="planting: crop id; lime: lime id (dolomit, kaptan, ...); fertiliser: its name",
    )
    note: str | None = None


class RecordCreate(RecordBase):
    """A new record. Irrigation may be given in litres (``unit``), which become mm over the
    field's area; crops and limes may be given by name in Indonesian or English."""

    model_config = ConfigDict(extra="forbid")
    day: Day
    amount: Amount = None
    unit: IrrigationUnit = PydanticField(default="mm", description="irrigation only")
    product: Text63 = None
    note: Note = None

    @field_validator("day")
    @classmethod
    def _from_2000(cls, value: date) -> date:
        if value < FIRST_DAY:
            raise _problem(N_("The date must be in %(year)s or later."), year=str(FIRST_DAY.year))
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        kind, amount = self.kind, self.amount
        if self.unit == "liter" and kind is not RecordKind.IRRIGATION:
            raise _problem(N_("Litres are only for irrigation; enter other amounts in kg."))
        if amount is not None and amount <= 0:
            raise _problem(N_("The amount must be more than 0."))
        if kind is RecordKind.PLANTING:
            self._planting()
        elif kind is RecordKind.IRRIGATION:
            if amount is None:
                raise _problem(N_("Enter how much water was given, in mm or litres."))
            if self.unit == "mm" and amount > IRRIGATION_MAX_MM:
                raise _problem(
                    N_("Irrigation can be at most %(max)s mm a day."), max=IRRIGATION_MAX_MM
                )
        else:
            if amount is None and kind is not RecordKind.HARVEST:
                raise _problem(N_("Enter how many kg were applied."))
            if amount is not None and amount > KG_MAX:
                raise _problem(N_("The amount can be at most %(max)s kg."), max=KG_MAX)
            if kind is RecordKind.FERTILISER and self.product is None:
                raise _problem(N_("Enter which fertiliser, for example Urea or NPK Phonska."))
            if kind is RecordKind.LIME:
                self._lime()
        return self

    def _planting(self) -> None:
        if self.amount is not None:
            raise _problem(N_("A planting has no amount: leave the amount empty."))
        choices = ", ".join(crop.name_id for crop in CROPS.values())
        if self.product is None:
            raise _problem(N_("For a planting, enter the crop: %(crops)s."), crops=choices)
        crop = crop_for(self.product)
        if crop is None:
            raise _problem(
                N_("Unknown crop '%(crop)s'. Choose one of: %(crops)s."),
                crop=self.product,
                crops=choices,
            )
        self.product = crop

    def _lime(self) -> None:
        choices = ", ".join(lime.name_id for lime in LIME_PRODUCTS.values())
        if self.product is None:
            raise _problem(N_("Enter which lime: %(limes)s."), limes=choices)
        lime = lime_for(self.product)
        if lime is None:
            raise _problem(
                N_("Unknown lime '%(lime)s'. Choose one of: %(limes)s."),
                lime=self.product,
                limes=choices,
            )
        self.product = lime


class RecordPublic(RecordBase):
    """A kept record, with who entered it and when (an officer on a farmer's behalf is the
    officer)."""

    id: int
    field_id: str
    unit: AmountUnit | None = PydanticField(description="the unit of amount")
    entered_by: str | None = PydanticField(description="username; None if since removed")
    entered_by_name: str | None
    entered_at: datetime
