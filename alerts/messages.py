"""The text of one alert notification, SMS-sized, in Bahasa Indonesia (default) or English.

A body is one SMS whatever the names in the registry: GSM-7 only and at most 160 septets, so a
cheap phone, an SMS gateway or a Telegram preview shows the whole message and the village pays
for one SMS. One character outside GSM-7 would send it as UCS-2, three parts (see alerts.sms):
so the body writes units in ASCII ("31,5 C", "uS/cm"), shortens with "...", and transliterates
names (an en dash -> "-", "ṣ" -> "s", an emoji -> "?"). Names are shortened before anything
else; the severity, the value and the acknowledge link are kept. The title (an e-mail subject, a
chat heading; never an SMS) keeps "°C", "…" and names as written, counted in characters.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from alerts.local_time import local_moment, zone_name
from alerts.sms import is_gsm7, septets, to_gsm7
from registry.alerting import Alert, RuleKind, Severity
from registry.people import Language
from telemetry.quantities import QUANTITIES

BODY_LIMIT = 160  # septets: one GSM-7 SMS
TITLE_LIMIT = 120  # an e-mail subject that fits a phone's inbox line or two
MAX_LINK = 100  # longer and an SMS has no room left for what happened

_OPENED, _ESCALATED, _RESOLVED = "opened", "escalated", "resolved"

# Names from the registry; the quantity's label is cut only as a last resort.
_PEOPLE = ("field", "farmer", "village", "device", "gateway", "rule")
# When a body is too long, in this order: drop the village, drop the link's label
# ("Konfirmasi:"), drop the farmer if the field's name then fits whole (a shortened name ends in
# "...", three septets: "Sawah Utara" tells more than "Saw... (Bud...)"), cut the names as
# little as needed, cut the quantity's label too.
# (village shown, farmer shown, link labelled, what may be cut)
_BODY_VARIANTS: tuple[tuple[bool, bool, bool, tuple[str, ...]], ...] = (
    (True, True, True, ()),
    (False, True, True, ()),
    (False, True, False, ()),
    (False, False, False, ()),
    (False, True, False, _PEOPLE),
    (False, True, False, (*_PEOPLE, "label")),
)

_SEVERITY = {
    Language.ID: {Severity.INFO: "INFO", Severity.WARNING: "WASPADA", Severity.CRITICAL: "KRITIS"},
    Language.EN: {
        Severity.INFO: "INFO",
        Severity.WARNING: "WARNING",
        Severity.CRITICAL: "CRITICAL",
    },
}
_MONTHS_ID = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {Language.ID: _MONTHS_ID, Language.EN: _MONTHS_EN}
# Wire units as people read them; "%" and degrees stick to the number. Titles only.
_UNITS = {
    "%": "%",
    "degC": "°C",
    "deg": "°",
    "pH": "",
    "uS/cm": " µS/cm",
    "W/m2": " W/m²",
}
# The same in an SMS body, in GSM-7: no "°", "µ" or "²". "31,5 C" after "Suhu udara" is read
# as it is written on a thermometer; a bare "270" for a wind direction is not, so it says so.
_SMS_UNITS = {
    Language.ID: {"%": "%", "degC": " C", "deg": " derajat", "pH": ""},
    Language.EN: {"%": "%", "degC": " C", "deg": " deg", "pH": ""},
}


@dataclass(frozen=True, slots=True)
class _Budget:
    """How a text is measured against its limit, and the mark of a shortened name."""

    measure: Callable[[str], int]
    ellipsis: str

    @property
    def min_name(self) -> int:
        """A shortened name keeps at least its first letter: "X..." or "X…"."""
        return 1 + self.measure(self.ellipsis)


_SMS = _Budget(septets, "...")  # "…" is not GSM-7
_SUBJECT = _Budget(len, "…")


@dataclass(frozen=True, slots=True)
class Message:
    """One notification: a title (e-mail subject, chat heading) and an SMS-sized body."""

    title: str
    body: str


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What the alert row does not say: names from the registry, the link, and the clock.

    ``now_ms`` decides whether times need a date (they do when not today, local time).
    """

    ack_url: str
    now_ms: int
    utc_offset_h: int = 7
    field_name: str | None = None
    farmer_name: str | None = None
    village_name: str | None = None
    device_name: str | None = None
    gateway_name: str | None = None


@dataclass(frozen=True, slots=True)
class _Words:
    """The fixed phrases of one language."""

    escalated: str
    resolved: str
    since: str
    per_hour: str
    limit: str
    acknowledge: str
    details: str


_WORDS = {
    Language.ID: _Words(
        escalated="belum ditangani",
        resolved="SELESAI",
        since="sejak",
        per_hour="/jam",
        limit="batas",
        acknowledge="Konfirmasi",
        details="Detail",
    ),
    Language.EN: _Words(
        escalated="not acknowledged",
        resolved="RESOLVED",
        since="since",
        per_hour="/h",
        limit="limit",
        acknowledge="Acknowledge",
        details="Details",
    ),
}


def ack_link(public_url: str, token: str) -> str:
    """The link in a message: whoever opens it may acknowledge the alert."""
    return f"{public_url.rstrip('/')}/a/{token}"


def render(alert: Alert, purpose: str, *, language: str, context: MessageContext) -> Message:
    """The notification of ``alert`` for ``purpose`` (opened, escalated or resolved).

    Raises ValueError for an unknown purpose, or a link too long to leave room in an SMS or
    outside GSM-7 (it goes out whole, so it alone would make the SMS UCS-2).
    """
    if purpose not in (_OPENED, _ESCALATED, _RESOLVED):
        raise ValueError(f"unknown purpose {purpose!r}")
    if not is_gsm7(context.ack_url):
        raise ValueError("acknowledge link not GSM-7: give public_url in ASCII (punycode)")
    if septets(context.ack_url) > MAX_LINK:  # "~" takes two
        raise ValueError(f"acknowledge link longer than {MAX_LINK} septets: shorten public_url")
    lang = Language.EN if language == Language.EN.value else Language.ID
    names = _names(alert, context, lang)
    sms_names = {key: _gsm_text(value) for key, value in names.items()}
    head = _head(alert, purpose, lang)
    sms_head = _gsm_text(head)  # a severity not in _SEVERITY is shown as stored
    title_what = _what(alert, purpose, lang, _UNITS)
    sms_what = _what(alert, purpose, lang, _SMS_UNITS[lang])
    when = _when(alert, purpose, lang, context)
    words = _WORDS[lang]
    link_label = words.details if purpose == _RESOLVED else words.acknowledge

    def body(n: Mapping[str, str], village: bool, labelled: bool) -> str:
        place = _place(n, village)
        link = f"{link_label}: {context.ack_url}" if labelled else context.ack_url
        return f"{sms_head}: {sms_what(n)} {when}. {place + '. ' if place else ''}{link}"

    def title(n: Mapping[str, str]) -> str:
        field = n["field"] or n["village"]
        return f"[{head}] {title_what(n)}{' - ' + field if field else ''}"

    return Message(
        title=_fit(title, names, TITLE_LIMIT, _SUBJECT, shrink=(*_PEOPLE, "label"))
        or _cut(title(names), "", TITLE_LIMIT, _SUBJECT),
        body=_fit_body(body, sms_names, context.ack_url),
    )


def _fit_body(compose: Callable[..., str], names: Mapping[str, str], link: str) -> str:
    """The most complete body within BODY_LIMIT septets (see _BODY_VARIANTS)."""
    for village, farmer, labelled, shrink in _BODY_VARIANTS:
        if not farmer and not names["field"]:
            continue  # the farmer is all the body says of where
        shown = names if farmer else {**names, "farmer": ""}
        variant = partial(compose, village=village, labelled=labelled)
        text = _fit(variant, shown, BODY_LIMIT, _SMS, shrink=shrink)
        if text is not None:
            return text
    # Only absurd values get here (a 300-digit number); the link still goes out whole.
    shortest = {key: _shorten(value, _SMS.min_name, _SMS) for key, value in names.items()}
    bare = compose(shortest, village=False, labelled=False).removesuffix(link)
    return _cut(bare, " " + link, BODY_LIMIT, _SMS)


def _fit(
    compose: Callable[[Mapping[str, str]], str],
    names: Mapping[str, str],
    limit: int,
    budget: _Budget,
    *,
    shrink: tuple[str, ...],
) -> str | None:
    """``compose(names)`` with the longest of the ``shrink`` names cut to one common length.

    Cutting only the longest names first keeps short ones ("Budi") whole. None when it does
    not fit even with names cut to their first letter.
    """
    longest = max((budget.measure(names[key]) for key in shrink), default=0)
    for cap in range(max(min(longest, limit), budget.min_name), budget.min_name - 1, -1):
        text = compose(
            {k: _shorten(v, cap, budget) if k in shrink else v for k, v in names.items()}
        )
        if budget.measure(text) <= limit:
            return text
    return None


def _cut(text: str, tail: str, limit: int, budget: _Budget) -> str:
    return _shorten(text, limit - budget.measure(tail), budget) + tail


def _shorten(name: str, cap: int, budget: _Budget) -> str:
    """``name`` if it measures at most ``cap``, else its head and the ellipsis within ``cap``.

    The head keeps at least one letter. Reads no further than ``cap`` into the name: names may
    be thousands of characters, and _fit shortens them for every cap it tries.
    """
    room = cap - budget.measure(budget.ellipsis)
    used, head = 0, 0
    for index, char in enumerate(name):
        used += budget.measure(char)
        if used <= room:
            head = index + 1  # name[:head] leaves room for the ellipsis
        elif used > cap:
            return name[: max(head, 1)].rstrip() + budget.ellipsis
    return name


def _clean(name: str | None) -> str:
    """One line of printable text: no control or format characters to break an SMS."""
    if not name:
        return ""
    kept = (" " if unicodedata.category(c).startswith(("C", "Z")) else c for c in name)
    return " ".join("".join(kept).split())


def _gsm_text(text: str) -> str:
    """A cleaned name (or word) in GSM-7; "¨" alone becomes a space, so spaces close up again."""
    return " ".join(to_gsm7(text).split())


def _names(alert: Alert, context: MessageContext, lang: Language) -> dict[str, str]:
    """The shortenable parts of a message: registry names and the quantity's label."""
    quantity = QUANTITIES.get(alert.quantity or "")
    if quantity is not None:
        label = quantity.label_id if lang is Language.ID else quantity.label_en
    else:
        label = alert.quantity or ""
    return {
        "field": _clean(context.field_name),
        "farmer": _clean(context.farmer_name),
        "village": _clean(context.village_name),
        "device": _clean(context.device_name or alert.device_id),
        "gateway": _clean(context.gateway_name or alert.gateway_id),
        "label": _clean(label),
        "rule": _clean(alert.rule_name),
    }


def _place(names: Mapping[str, str], village: bool) -> str:
    """Where: "field (farmer), village"."""
    who = f"({names['farmer']})" if names["farmer"] else ""
    field = " ".join(part for part in (names["field"], who) if part)
    return ", ".join(part for part in (field, names["village"] if village else "") if part)


def _head(alert: Alert, purpose: str, lang: Language) -> str:
    words = _WORDS[lang]
    if purpose == _RESOLVED:
        return words.resolved
    severity = _SEVERITY[lang].get(alert.severity, alert.severity.upper())
    return f"{severity}, {words.escalated}" if purpose == _ESCALATED else severity


def _what(
    alert: Alert, purpose: str, lang: Language, units: Mapping[str, str]
) -> Callable[[Mapping[str, str]], str]:
    """What happened (or what is normal again), given the possibly shortened names."""
    value = alert.value if purpose == _OPENED else _first(alert.last_value, alert.value)
    unit = _unit(alert.quantity, units)
    amount = "?" if value is None else f"{_number(value, lang)}{unit}"
    limit = "" if alert.threshold is None else f"{_number(alert.threshold, lang)}{unit}"
    phrases = _RESOLVED_PHRASES if purpose == _RESOLVED else _OPEN_PHRASES
    phrase = phrases[lang].get(alert.kind)
    if phrase is None:
        return lambda n: n["rule"]
    words = _WORDS[lang]
    return lambda n: phrase(
        {
            **n,
            "lower": _lower_first(n["label"]),
            "amount": amount,
            "limit": limit,
            "per_hour": words.per_hour,
            "limit_word": words.limit,
        }
    )


def _unit(key: str | None, units: Mapping[str, str]) -> str:
    """The unit after a number: from ``units``, else the wire unit (ASCII) after a space."""
    quantity = QUANTITIES.get(key or "")
    if quantity is None:
        return ""
    return units.get(quantity.unit, " " + quantity.unit)


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _lower_first(label: str) -> str:
    return label[:1].lower() + label[1:]


def _compare(sign: str) -> Callable[[Mapping[str, str]], str]:
    return lambda n: f"{n['label']} {n['amount']}" + (f" {sign} {n['limit']}" if n["limit"] else "")


def _rate(n: Mapping[str, str], verb: str) -> str:
    limit = f" ({n['limit_word']} {n['limit']}{n['per_hour']})" if n["limit"] else ""
    return f"{n['label']} {verb} {n['amount']}{n['per_hour']}{limit}"


_Phrase = Callable[[Mapping[str, str]], str]

_OPEN_PHRASES: dict[Language, dict[str, _Phrase]] = {
    Language.ID: {
        RuleKind.BELOW: _compare("<"),
        RuleKind.ABOVE: _compare(">"),
        RuleKind.RATE: lambda n: _rate(n, "berubah"),
        RuleKind.NO_DATA: lambda n: f"Sensor {n['device']} tidak mengirim data",
        RuleKind.GATEWAY_OFFLINE: lambda n: f"Gateway {n['gateway']} terputus",
        RuleKind.QUALITY_BAD: lambda n: (
            f"Data {n['lower']} buruk, sensor {n['device']}"
            if n["label"]
            else f"Data sensor {n['device']} buruk"
        ),
        RuleKind.WATER_STRESS: lambda n: f"Tanaman kekurangan air: siram {n['amount']} mm",
    },
    Language.EN: {
        RuleKind.BELOW: _compare("<"),
        RuleKind.ABOVE: _compare(">"),
        RuleKind.RATE: lambda n: _rate(n, "changing"),
        RuleKind.NO_DATA: lambda n: f"No data from sensor {n['device']}",
        RuleKind.GATEWAY_OFFLINE: lambda n: f"Gateway {n['gateway']} offline",
        RuleKind.QUALITY_BAD: lambda n: (
            f"Bad {n['lower']} readings, sensor {n['device']}"
            if n["label"]
            else f"Bad readings from sensor {n['device']}"
        ),
        RuleKind.WATER_STRESS: lambda n: f"Crop short of water: give {n['amount']} mm",
    },
}

_RESOLVED_PHRASES: dict[Language, dict[str, _Phrase]] = {
    Language.ID: {
        RuleKind.BELOW: lambda n: f"{n['label']} kini {n['amount']}",
        RuleKind.ABOVE: lambda n: f"{n['label']} kini {n['amount']}",
        RuleKind.RATE: lambda n: f"{n['label']} stabil lagi",
        RuleKind.NO_DATA: lambda n: f"Sensor {n['device']} mengirim data lagi",
        RuleKind.GATEWAY_OFFLINE: lambda n: f"Gateway {n['gateway']} tersambung lagi",
        RuleKind.QUALITY_BAD: lambda n: (
            f"Data {n['lower']} baik lagi" if n["label"] else f"Data sensor {n['device']} baik lagi"
        ),
        RuleKind.WATER_STRESS: lambda n: "Air tanaman cukup lagi",
    },
    Language.EN: {
        RuleKind.BELOW: lambda n: f"{n['label']} now {n['amount']}",
        RuleKind.ABOVE: lambda n: f"{n['label']} now {n['amount']}",
        RuleKind.RATE: lambda n: f"{n['label']} steady again",
        RuleKind.NO_DATA: lambda n: f"Sensor {n['device']} sending again",
        RuleKind.GATEWAY_OFFLINE: lambda n: f"Gateway {n['gateway']} back online",
        RuleKind.QUALITY_BAD: lambda n: (
            f"{n['label']} readings good again"
            if n["label"]
            else f"Sensor {n['device']} readings good again"
        ),
        RuleKind.WATER_STRESS: lambda n: "Crop has enough water again",
    },
}


def _number(value: float | None, lang: Language) -> str:
    """A reading as people write it: 14,2 in Indonesian, 14.2 in English; "?" when unknown."""
    if value is None or not math.isfinite(value):
        return "?"
    magnitude = abs(value)
    if magnitude >= 100_000:
        text = f"{value:.2g}"  # no sensor reads this; keep the SMS short anyway
    else:
        decimals = 2 if magnitude < 10 else 1 if magnitude < 1000 else 0
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text == "-0":
            text = "0"
    return text.replace(".", ",") if lang is Language.ID else text


def _when(alert: Alert, purpose: str, lang: Language, context: MessageContext) -> str:
    """Since when, local time: "sejak 03:15 WIB"; resolved: "(03:15-08:10 WIB)"."""
    zone = zone_name(context.utc_offset_h)
    start = _clock_time(alert.since_ms, lang, context)
    if purpose != _RESOLVED:
        return f"{_WORDS[lang].since} {start} {zone}"
    end = _clock_time(alert.resolved_ms or context.now_ms, lang, context)
    return f"({start}-{end} {zone})"


def _clock_time(time_ms: int, lang: Language, context: MessageContext) -> str:
    """ "03:15" today, "12 Mei 03:15" another day, "12 Mei 2024 03:15" another year."""
    moment = local_moment(time_ms, context.utc_offset_h)
    today = local_moment(context.now_ms, context.utc_offset_h).date()
    clock = f"{moment:%H:%M}"
    if moment.date() == today:
        return clock
    day = f"{moment.day} {_MONTHS[lang][moment.month - 1]}"
    if moment.year != today.year:
        day += f" {moment.year}"
    return f"{day} {clock}"
