"""The text of one alert notification, SMS-sized, in Bahasa Indonesia (default) or English.

A body is at most 160 characters, whatever the names in the registry: a cheap phone, an SMS
gateway or a Telegram preview shows the whole message. Names are shortened (with "…") before
anything else; the severity, the value and the acknowledge link are kept.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from alerts.local_time import local_moment, zone_name
from registry.alerting import Alert, RuleKind, Severity
from registry.people import Language
from telemetry.quantities import QUANTITIES

BODY_LIMIT = 160  # one SMS
TITLE_LIMIT = 120  # an e-mail subject that fits a phone's inbox line or two
MAX_LINK = 100  # longer and an SMS has no room left for what happened

_MIN_NAME = 2  # "X…": a shortened name keeps at least its first letter
_ELLIPSIS = "…"

_OPENED, _ESCALATED, _RESOLVED = "opened", "escalated", "resolved"

# Names from the registry; the quantity's label is cut only as a last resort.
_PEOPLE = ("field", "farmer", "village", "device", "gateway", "rule")
# When a body is too long, in this order: drop the village, drop the link's label
# ("Konfirmasi:"), cut the names as little as needed, cut the quantity's label too.
# (village shown, link labelled, what may be cut)
_BODY_VARIANTS: tuple[tuple[bool, bool, tuple[str, ...]], ...] = (
    (True, True, ()),
    (False, True, ()),
    (False, False, _PEOPLE),
    (False, False, (*_PEOPLE, "label")),
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
# Wire units as people read them; "%" and degrees stick to the number.
_UNITS = {
    "%": "%",
    "degC": "°C",
    "deg": "°",
    "pH": "",
    "uS/cm": " µS/cm",
    "W/m2": " W/m²",
}


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

    Raises ValueError for an unknown purpose or a link too long to leave room in an SMS.
    """
    if purpose not in (_OPENED, _ESCALATED, _RESOLVED):
        raise ValueError(f"unknown purpose {purpose!r}")
    if len(context.ack_url) > MAX_LINK:
        raise ValueError(f"acknowledge link longer than {MAX_LINK} characters: shorten public_url")
    lang = Language.EN if language == Language.EN.value else Language.ID
    names = _names(alert, context, lang)
    what = _what(alert, purpose, lang)
    head = _head(alert, purpose, lang)
    when = _when(alert, purpose, lang, context)
    words = _WORDS[lang]
    link_label = words.details if purpose == _RESOLVED else words.acknowledge

    def body(n: Mapping[str, str], village: bool, labelled: bool) -> str:
        place = _place(n, village)
        link = f"{link_label}: {context.ack_url}" if labelled else context.ack_url
        return f"{head}: {what(n)} {when}. {place + '. ' if place else ''}{link}"

    def title(n: Mapping[str, str]) -> str:
        field = n["field"] or n["village"]
        return f"[{head}] {what(n)}{' - ' + field if field else ''}"

    return Message(
        title=_fit(title, names, TITLE_LIMIT, shrink=(*_PEOPLE, "label"))
        or _cut(title(names), "", TITLE_LIMIT),
        body=_fit_body(body, names, context.ack_url),
    )


def _fit_body(compose: Callable[..., str], names: Mapping[str, str], link: str) -> str:
    """The most complete body within BODY_LIMIT (see _BODY_VARIANTS)."""
    for village, labelled, shrink in _BODY_VARIANTS:
        variant = partial(compose, village=village, labelled=labelled)
        text = _fit(variant, names, BODY_LIMIT, shrink=shrink)
        if text is not None:
            return text
    # Only absurd values get here (a 300-digit number); the link still goes out whole.
    shortest = {key: _shorten(value, _MIN_NAME) for key, value in names.items()}
    bare = compose(shortest, village=False, labelled=False).removesuffix(link)
    return _cut(bare, " " + link, BODY_LIMIT)


def _fit(
    compose: Callable[[Mapping[str, str]], str],
    names: Mapping[str, str],
    limit: int,
    *,
    shrink: tuple[str, ...],
) -> str | None:
    """``compose(names)`` with the longest of the ``shrink`` names cut to one common length.

    Cutting only the longest names first keeps short ones ("Budi") whole. None when it does
    not fit even with names of _MIN_NAME characters.
    """
    longest = max((len(names[key]) for key in shrink), default=0)
    for cap in range(max(min(longest, limit), _MIN_NAME), _MIN_NAME - 1, -1):
        text = compose({k: _shorten(v, cap) if k in shrink else v for k, v in names.items()})
        if len(text) <= limit:
            return text
    return None


def _cut(text: str, tail: str, limit: int) -> str:
    room = limit - len(tail)
    if len(text) > room:
        text = text[: room - 1].rstrip() + _ELLIPSIS
    return text + tail


def _shorten(name: str, cap: int) -> str:
    if len(name) <= cap:
        return name
    return name[: cap - 1].rstrip() + _ELLIPSIS


def _clean(name: str | None) -> str:
    """One line of printable text: no control or format characters to break an SMS."""
    if not name:
        return ""
    kept = (" " if unicodedata.category(c).startswith(("C", "Z")) else c for c in name)
    return " ".join("".join(kept).split())


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


def _what(alert: Alert, purpose: str, lang: Language) -> Callable[[Mapping[str, str]], str]:
    """What happened (or what is normal again), given the possibly shortened names."""
    value = alert.value if purpose == _OPENED else _first(alert.last_value, alert.value)
    unit = _unit(alert.quantity)
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


def _unit(key: str | None) -> str:
    quantity = QUANTITIES.get(key or "")
    if quantity is None:
        return ""
    return _UNITS.get(quantity.unit, " " + quantity.unit)


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
