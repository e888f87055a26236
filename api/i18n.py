"""Pages in Bahasa Indonesia by default, English on request: catalogues, negotiation, rendering.

Every server-rendered page goes through :func:`render`. Templates never hard-code what people
read: they write ``{{ _("English text") }}`` (msgids are English) and the ``id`` catalogue
translates. Catalogues are the ``.po`` files under ``api/locales/<lang>/LC_MESSAGES/``; every
file in that folder is read at start-up and merged (in name order), so a new page can bring its
own ``pages.po`` beside ``messages.po``. No compile step: ``.po`` is turned into a catalogue in
memory.

Which language a request gets, first match wins:

1. ``?lang=id`` or ``?lang=en`` in the address (the answer also sets the ``tani_lang`` cookie
   for a year, so the choice sticks);
2. the ``tani_lang`` cookie;
3. the signed-in person's language (registry ``User.language``), or the language a router
   knows better (the acknowledge link: its channel's);
4. the browser's ``Accept-Language``, only ``id`` and ``en`` considered;
5. ``id``.

The jinja2 environment is shared and never changed per request (sync endpoints run in a thread
pool): its gettext callables, installed once with ``jinja2.ext.i18n`` (newstyle, so
``_("%(n)s fields", n=3)`` escapes ``n``), read the request's :class:`PageLanguage` from the
template context. Filters format in the page's locale and the site's time zone (WIB/WITA/WIT):
``{{ ms|time_tag }}`` (a ``<time>`` element), ``|datetime``, ``|date``, ``|number(1)``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.numbers import format_decimal
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from alerts.local_time import local_moment, zone_name

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LANG_COOKIE = "tani_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
# Each language's own name, for the switch link (a language is offered in its own words).
LANGUAGE_NAMES = {"id": "Bahasa Indonesia", "en": "English"}
_BABEL_LOCALES = {"id": "id_ID", "en": "en"}
DEFAULT_UTC_OFFSET_H = 7  # WIB, when the app has no config (a template rendered on its own)

_API_DIR = Path(__file__).resolve().parent
LOCALES_DIR = _API_DIR / "locales"
TEMPLATES_DIR = _API_DIR / "templates"
_CONTEXT_KEY = "i18n"  # where a template finds its request's PageLanguage
_STATE_KEY = "page_language"  # where a request keeps it once negotiated


def N_(msgid: str) -> str:
    """Mark a msgid in Python for extraction; a template translates it later with ``_()``."""
    return msgid


class CatalogueError(ValueError):
    """A ``.po`` file that cannot be read; the message names it."""


def read_catalogue(directory: Path, language: str) -> Catalog:
    """Every ``*.po`` in ``directory`` as one catalogue, merged in name order (a later file
    wins a clash); untranslated and fuzzy entries left out, and so is a plural message with
    any of its forms empty (gettext would show nothing for those counts).

    The plural rule is the language's own as babel's CLDR data gives it (Indonesian: one
    form, ``nplurals=1; plural=0;``). A file that is malformed, declares another rule in its
    ``Plural-Forms`` header, or gives a message more forms than the rule has stops start-up
    with the file's name: the wrong form would be shown for some counts.
    """
    merged = Catalog(locale=language, domain="messages")
    for path in sorted(directory.glob("*.po")):
        try:
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language, abort_invalid=True)
        except PoFileError as error:
            raise CatalogueError(f"{path}: {error}") from error
        if catalog.plural_forms != merged.plural_forms:
            raise CatalogueError(
                f"{path}: Plural-Forms says '{catalog.plural_forms}' but '{language}' has "
                f"'{merged.plural_forms}': correct the header and give each plural message "
                f"{merged.num_plurals} msgstr form(s)"
            )
        for message in catalog:
            if message.id and _translated(message.string) and not message.fuzzy:
                merged.delete(message.id, context=message.context)  # a later file wins
                merged.add(message.id, message.string, context=message.context, flags=message.flags)
    return merged


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


def load_catalogue(directory: Path, language: str) -> Translations:
    """:func:`read_catalogue` ready for gettext (compiled in memory: no ``.mo`` files)."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(directory, language))
    buffer.seek(0)
    return Translations(buffer)


def load_catalogues(locales_dir: Path = LOCALES_DIR) -> dict[str, Translations]:
    """One merged catalogue per supported language (English needs none: msgids are English)."""
    return {lang: load_catalogue(locales_dir / lang / "LC_MESSAGES", lang) for lang in LANGUAGES}


@cache
def catalogues() -> dict[str, Translations]:
    """The catalogues shipped with the package, read once, when this module is imported."""
    return load_catalogues()


@dataclass(frozen=True, slots=True)
class PageLanguage:
    """One request's language, its catalogue, and how its dates and numbers are written."""

    code: str
    translations: Translations
    locale: Locale
    utc_offset_h: int = DEFAULT_UTC_OFFSET_H
    chosen: bool = False  # came from ?lang: the answer remembers it in the cookie

    def gettext(self, message: str) -> str:
        """``message`` (an English msgid) in this language."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural msgid for ``n``, in this language."""
        return self.translations.ngettext(singular, plural, n)

    @property
    def zone(self) -> str:
        """WIB, WITA, WIT (or UTC+n)."""
        return zone_name(self.utc_offset_h)


def page_language_for(code: str, utc_offset_h: int = DEFAULT_UTC_OFFSET_H) -> PageLanguage:
    """A PageLanguage without a request (mail bodies, tests); unknown codes get the default."""
    code = code if code in LANGUAGES else DEFAULT_LANGUAGE
    return PageLanguage(code, catalogues()[code], _locale(code), utc_offset_h)


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(_BABEL_LOCALES[code])


# "en-US;q=0.8": the primary language and its quality (a quality that is no number: skipped).
_ACCEPT_ITEM = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([^\s,;]*))?"
)


def from_accept_language(header: str | None) -> str | None:
    """The best of id/en a browser's ``Accept-Language`` asks for (q > 0), if any."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((header or "").split(",")[:20]):
        match = _ACCEPT_ITEM.match(item)
        if match is None:
            continue
        code = match.group(1).lower()
        code = "id" if code == "in" else code  # "in": Indonesian's old code, still sent
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if code in LANGUAGES and quality > 0:
            # Highest quality first; between equals, the one listed first.
            candidate = (-quality, position, code)
            if best is None or candidate < best:
                best = candidate
    return None if best is None else best[2]


def negotiate(request: Request, preferred: str | None = None) -> tuple[str, bool]:
    """The language code for ``request`` and whether it was chosen by ``?lang``."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGUAGES:
        return cookie, False
    principal = getattr(request.state, "principal", None)
    for known in (getattr(principal, "language", None), preferred):
        if known in LANGUAGES:
            return known, False
    return from_accept_language(request.headers.get("accept-language")) or DEFAULT_LANGUAGE, False


def _site_offset(request: Request) -> int:
    config = getattr(request.app.state, "config", None)
    return getattr(config, "utc_offset_h", DEFAULT_UTC_OFFSET_H)


def page_language(request: Request, preferred: str | None = None) -> PageLanguage:
    """The request's language, negotiated on the first call and kept for the rest of it.

    ``preferred`` is what a router knows of the reader when nobody is signed in (the
    acknowledge link's channel language); it ranks with the signed-in person's language.
    """
    known = getattr(request.state, _STATE_KEY, None)
    if known is not None:
        return known
    code, chosen = negotiate(request, preferred)
    language = replace(page_language_for(code, _site_offset(request)), chosen=chosen)
    setattr(request.state, _STATE_KEY, language)
    return language


# --- the template side -------------------------------------------------------------------


def _language_of(context: Context) -> PageLanguage:
    found = context.get(_CONTEXT_KEY)
    # A template rendered without render() (or a macro imported without context) still works,
    # in the default language; import macros "with context" to keep the page's.
    return found if isinstance(found, PageLanguage) else page_language_for(DEFAULT_LANGUAGE)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _language_of(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _language_of(context).ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, msgctxt: str, message: str) -> str:
    return _language_of(context).translations.pgettext(msgctxt, message)


@pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return _language_of(context).translations.npgettext(msgctxt, singular, plural, n)


def _moment(value: int | datetime, utc_offset_h: int) -> datetime:
    """Epoch milliseconds or an aware datetime as a naive local wall-clock time."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return local_moment(int(aware.timestamp() * 1000), utc_offset_h).replace(tzinfo=None)
    return local_moment(int(value), utc_offset_h).replace(tzinfo=None)


def format_local_datetime(value: int | datetime, language: PageLanguage) -> str:
    """ "23 Nov 2026 06.10 WIB" (id), "Nov 23, 2026, 6:10 AM WIB" (en)."""
    moment = _moment(value, language.utc_offset_h)
    pattern = get_datetime_format("medium", locale=language.locale)
    shown = pattern.replace("{1}", format_date(moment, "medium", locale=language.locale))
    shown = shown.replace("{0}", format_time(moment, "short", locale=language.locale))
    return f"{shown} {language.zone}"


def format_local_date(
    value: int | datetime | date, language: PageLanguage, form: str = "medium"
) -> str:
    """ "23 Nov 2026" (id), "Nov 23, 2026" (en); ``form`` is babel's short/medium/long/full.
    A calendar day (a planting date, a record's day) is shown as it is, with no time zone."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return format_date(value, form, locale=language.locale)
    return format_date(_moment(value, language.utc_offset_h), form, locale=language.locale)


def format_number(value: float | int, language: PageLanguage, digits: int | None = None) -> str:
    """ "1.234,5" (id), "1,234.5" (en); ``digits``: exactly that many decimals."""
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=language.locale)


def _iso_utc(value: int | datetime) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).isoformat()


@pass_context
def _datetime_filter(context: Context, value: int | datetime | None) -> str:
    return "" if value is None else format_local_datetime(value, _language_of(context))


@pass_context
def _date_filter(
    context: Context, value: int | datetime | date | None, form: str = "medium"
) -> str:
    return "" if value is None else format_local_date(value, _language_of(context), form)


@pass_context
def _time_tag_filter(context: Context, value: int | datetime | None) -> Markup:
    """``<time datetime="ISO UTC">local time</time>``."""
    if value is None:
        return Markup("")
    shown = format_local_datetime(value, _language_of(context))
    return Markup('<time datetime="{}">{}</time>').format(_iso_utc(value), escape(shown))


@pass_context
def _number_filter(context: Context, value: float | int | None, digits: int | None = None) -> str:
    return "" if value is None else format_number(value, _language_of(context), digits)


def _environment() -> Environment:
    """The shared environment: set up once, read-only afterwards."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )
    env.filters.update(
        datetime=_datetime_filter,
        date=_date_filter,
        time_tag=_time_tag_filter,
        number=_number_filter,
    )
    return env


templates = Jinja2Templates(env=_environment())


def switch_url(request: Request, language: str, path: str | None = None) -> str:
    """This page (or ``path``) in ``language``: the query kept, its ``lang`` replaced."""
    if path is None:
        path = request.url.path
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    else:
        query = []
    return f"{path}?{urlencode([*query, ('lang', language)])}"


def render(
    request: Request,
    template_name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    switch_path: str | None = None,
) -> HTMLResponse:
    """A page in the request's language (see the module's docstring for which one).

    The template also gets ``lang`` (the code, for ``<html lang>``), ``other_lang``,
    ``other_lang_name`` and ``lang_switch_url`` (this page in the other language; a page
    answering a POST passes ``switch_path``, the address to GET instead). A ``?lang`` choice
    is remembered in the ``tani_lang`` cookie.
    """
    language = page_language(request)
    other = next(code for code in LANGUAGES if code != language.code)
    if switch_path is None and request.method not in ("GET", "HEAD"):
        switch_path = request.url.path
    values = {
        **(context or {}),
        _CONTEXT_KEY: language,
        "lang": language.code,
        "other_lang": other,
        "other_lang_name": LANGUAGE_NAMES[other],
        "lang_switch_url": switch_url(request, other, switch_path),
    }
    answer_headers = dict(headers or {})
    answer_headers["Content-Language"] = language.code
    vary = [part for part in answer_headers.get("Vary", "").split(",") if part.strip()]
    answer_headers["Vary"] = ", ".join([*vary, "Accept-Language", "Cookie"])
    response = templates.TemplateResponse(
        request, template_name, values, status_code=status_code, headers=answer_headers
    )
    if language.chosen:
        response.set_cookie(
            LANG_COOKIE,
            language.code,
            max_age=LANG_COOKIE_MAX_AGE_S,
            path="/",
            secure=request.url.scheme == "https",
            samesite="lax",
        )
    return response


catalogues()  # read at start-up (import): a malformed .po stops the API here, with its name
