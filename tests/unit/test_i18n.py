"""Pages in one language at a time: negotiation, the cookie, local formats, complete catalogues.

The catalogue tests are the guard against hard-coded text: every msgid the API's templates and
code use must have an Indonesian translation, and no template may carry words outside ``_()``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from fastapi import Request
from jinja2 import nodes
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import i18n
from api.auth import SESSION_COOKIE
from api.i18n import (
    LANG_COOKIE,
    CatalogueError,
    catalogues,
    format_local_date,
    format_local_datetime,
    format_number,
    from_accept_language,
    load_catalogues,
    page_language,
    page_language_for,
    read_catalogue,
    templates,
)
from registry.people import User
from tests.unit.api_support import Site, running_site

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "api"
# Words a template may show as they are, in every language.
ALLOWED_LITERALS = ("Tani Hub",)
MOMENT_MS = int(datetime(2026, 11, 22, 23, 10, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support), signed out."""
    with running_site(tmp_path) as site:
        yield site


def _request(
    query: str = "",
    *,
    cookie: str | None = None,
    accept: str | None = None,
    person: str | None = None,
) -> Request:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"{LANG_COOKIE}={cookie}".encode()))
    if accept is not None:
        headers.append((b"accept-language", accept.encode()))
    app = SimpleNamespace(state=SimpleNamespace(config=SimpleNamespace(utc_offset_h=7)))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/peringatan",
        "query_string": query.encode(),
        "headers": headers,
        "app": app,
    }
    request = Request(scope)
    if person is not None:
        request.state.principal = SimpleNamespace(language=person)
    return request


def _lang(request: Request, preferred: str | None = None) -> str:
    return page_language(request, preferred).code


# -- which language -----------------------------------------------------------------------------


def test_indonesian_unless_something_asks_for_english() -> None:
    assert _lang(_request()) == "id"
    assert _lang(_request(accept="fr-FR, de;q=0.8")) == "id"  # neither id nor en: the default


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7", "id"),  # a phone set to Indonesian
        ("fr, en;q=0.5, id;q=0.4", "en"),
        ("en;q=0.3, id;q=0.8", "id"),
        ("en;q=0, id", "id"),
        ("en;q=0", None),  # "not English", nothing else
        ("in", "id"),  # Indonesian's old code
        ("*", None),
        ("", None),
        ("en;q=abc, id;q=0.1", "id"),
        ("en-GB;q=0.9, id;q=0.9", "en"),  # a tie: the first listed
    ],
)
def test_accept_language_only_id_and_en_count(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_negotiation_order() -> None:
    # Accept-Language < the person's language < the cookie < ?lang.
    assert _lang(_request(accept="en")) == "en"
    assert _lang(_request(accept="en", person="id")) == "id"
    assert _lang(_request(accept="id", person="en")) == "en"
    assert _lang(_request(accept="en", person="en", cookie="id")) == "id"
    assert _lang(_request("lang=en", accept="id", person="id", cookie="id")) == "en"
    assert _lang(_request("lang=id", cookie="en")) == "id"
    # A router's better knowledge (the link's channel) ranks with the person's language.
    assert _lang(_request(accept="id"), preferred="en") == "en"
    assert _lang(_request(cookie="id"), preferred="en") == "id"


def test_unknown_codes_are_ignored() -> None:
    assert _lang(_request("lang=fr", cookie="de", person="jv", accept="en")) == "en"
    assert _lang(_request("lang=", cookie="")) == "id"


def test_only_lang_in_the_address_is_remembered() -> None:
    assert page_language(_request("lang=en")).chosen
    assert not page_language(_request(cookie="en")).chosen
    assert not page_language(_request(accept="en")).chosen


def test_the_language_is_decided_once_per_request() -> None:
    request = _request(accept="id")
    assert _lang(request) == "id"
    assert _lang(request, preferred="en") == "id"  # the page already started in Indonesian


# -- through the application ---------------------------------------------------------------------


def test_lang_in_the_address_sets_a_cookie_for_a_year(site: Site) -> None:
    response = site.client.get("/masuk?lang=en")
    assert response.status_code == 200
    assert '<html lang="en">' in response.text and "Sign in" in response.text
    assert response.headers["content-language"] == "en"
    assert "Accept-Language" in response.headers["vary"]
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{LANG_COOKIE}=en;")
    for attribute in ("max-age=31536000", "path=/", "samesite=lax"):
        assert attribute in cookie
    # The cookie keeps the choice on the next page, without ?lang and without a new cookie.
    again = site.client.get("/masuk")
    assert '<html lang="en">' in again.text and "set-cookie" not in again.headers
    back = site.client.get("/masuk?lang=id")
    assert '<html lang="id">' in back.text and "Masuk" in back.text
    assert back.headers["set-cookie"].startswith(f"{LANG_COOKIE}=id;")


def test_the_browser_language_is_used_but_not_remembered(site: Site) -> None:
    response = site.client.get("/masuk", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in response.text
    assert "set-cookie" not in response.headers
    assert '<html lang="id">' in site.client.get("/masuk").text


def test_a_signed_in_persons_language_is_the_default(site: Site) -> None:
    with Session(site.registry.engine) as session:
        user = session.scalar(select(User).where(User.username == "ppl"))
        assert user is not None
        user.language = "en"
        session.commit()
    site.client.cookies.set(SESSION_COOKIE, site.tokens["ppl"])
    page = site.client.get("/peringatan", headers={"Accept-Language": "id"})
    assert '<html lang="en">' in page.text and "Open alerts" in page.text
    page = site.client.get("/peringatan?lang=id")
    assert '<html lang="id">' in page.text and "Peringatan aktif" in page.text


def test_the_switch_link_keeps_the_page_and_its_query(site: Site) -> None:
    site.client.cookies.set(SESSION_COOKIE, site.tokens["ppl"])
    page = site.client.get("/peringatan?status=selesai").text
    assert 'href="/peringatan?status=selesai&amp;lang=en"' in page and ">English</a>" in page
    page = site.client.get("/peringatan?status=selesai&lang=en").text
    assert 'href="/peringatan?status=selesai&amp;lang=id"' in page
    assert ">Bahasa Indonesia</a>" in page


def test_signing_in_first_keeps_the_language_asked_for(site: Site) -> None:
    response = site.client.get("/peringatan?lang=en", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("&lang=en")
    assert '<html lang="en">' in site.client.get(response.headers["location"]).text


# -- dates and numbers ---------------------------------------------------------------------------


def test_indonesian_numbers_have_a_decimal_comma() -> None:
    indonesian, english = page_language_for("id"), page_language_for("en")
    assert format_number(1234.5, indonesian) == "1.234,5"
    assert format_number(1234.5, english) == "1,234.5"
    assert format_number(12.345, indonesian, 1) == "12,3"
    assert format_number(7, indonesian, 2) == "7,00"
    assert format_number(1234567, indonesian, 0) == "1.234.567"


def test_times_are_local_with_their_zone() -> None:
    # 23:10 UTC is 06:10 the next morning in Lampung (WIB, UTC+7).
    assert format_local_datetime(MOMENT_MS, page_language_for("id")) == "23 Nov 2026 06.10 WIB"
    assert format_local_datetime(MOMENT_MS, page_language_for("id", 8)) == "23 Nov 2026 07.10 WITA"
    assert format_local_datetime(MOMENT_MS, page_language_for("id", 9)) == "23 Nov 2026 08.10 WIT"
    english = format_local_datetime(MOMENT_MS, page_language_for("en"))
    assert english == "Nov 23, 2026, 6:10\u202fAM WIB" or english == "Nov 23, 2026, 6:10 AM WIB"
    assert format_local_date(MOMENT_MS, page_language_for("id"), "long") == "23 November 2026"
    moment = datetime(2026, 11, 22, 23, 10, tzinfo=UTC)
    assert format_local_datetime(moment, page_language_for("id")) == "23 Nov 2026 06.10 WIB"
    # A calendar day (a field's planting date) is that day wherever the site is.
    assert format_local_date(date(2026, 11, 22), page_language_for("id", 9)) == "22 Nov 2026"


def test_template_filters_use_the_pages_language() -> None:
    template = templates.env.from_string(
        "{{ t|time_tag }}|{{ x|number(1) }}|{{ t|date('long') }}|{{ _('Sign in') }}"
    )
    shown = template.render(i18n=page_language_for("id"), t=MOMENT_MS, x=12.34)
    assert shown == (
        '<time datetime="2026-11-22T23:10:00+00:00">23 Nov 2026 06.10 WIB</time>'
        "|12,3|23 November 2026|Masuk"
    )
    shown = template.render(i18n=page_language_for("en"), t=MOMENT_MS, x=12.34)
    assert shown.endswith("|12.3|November 23, 2026|Sign in")


def test_placeholders_are_escaped_and_plurals_follow_the_count() -> None:
    template = templates.env.from_string(
        '{{ _("by %(name)s", name=who) }} {{ ngettext("Only the newest %(num)d is shown.", '
        '"Only the newest %(num)d are shown.", n) }}'
    )
    shown = template.render(i18n=page_language_for("id"), who="<b>", n=5)
    assert shown == "oleh &lt;b&gt; Hanya 5 peringatan terbaru yang ditampilkan."
    shown = template.render(i18n=page_language_for("en"), who="Ana", n=1)
    assert shown == "by Ana Only the newest 1 is shown."


def test_concurrent_pages_keep_their_own_language() -> None:
    template = templates.env.get_template("login.html")
    context = {"next": "/", "username": "", "error": None, "max_field": 200}

    def page(code: str) -> tuple[str, str]:
        values = {**context, "i18n": page_language_for(code), "lang": code}
        return code, template.render(values)

    with ThreadPoolExecutor(8) as pool:
        for code, text in pool.map(page, ["id", "en"] * 100):
            assert ("Kata sandi" in text) == (code == "id"), code
            assert ("Password" in text) == (code == "en"), code


# -- catalogues -----------------------------------------------------------------------------------


def test_every_po_file_of_a_language_is_merged(tmp_path: Path) -> None:
    folder = tmp_path / "id" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    header = (
        'msgid ""\nmsgstr ""\n"Language: id\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
    )
    (folder / "messages.po").write_text(
        header + 'msgid "Field"\nmsgstr "Lahan"\n\nmsgid "Village"\nmsgstr "Desa"\n\n'
        'msgid "%(n)d field"\nmsgid_plural "%(n)d fields"\nmsgstr[0] "%(n)d lahan"\n',
        encoding="utf-8",
    )
    (folder / "pages.po").write_text(
        header + 'msgid "My fields"\nmsgstr "Lahan saya"\n\nmsgid "Village"\nmsgstr "Pekon"\n\n'
        '#, fuzzy\nmsgid "Rain"\nmsgstr "Hujan?"\n\nmsgid "Wind"\nmsgstr ""\n',
        encoding="utf-8",
    )
    indonesian = load_catalogues(tmp_path)["id"]
    assert indonesian.gettext("Field") == "Lahan"
    assert indonesian.gettext("My fields") == "Lahan saya"
    assert indonesian.gettext("Village") == "Pekon"  # pages.po comes after messages.po
    assert indonesian.gettext("Rain") == "Rain"  # fuzzy: not used
    assert indonesian.gettext("Wind") == "Wind"  # untranslated
    # One Indonesian form serves every count.
    assert indonesian.ngettext("%(n)d field", "%(n)d fields", 3) == "%(n)d lahan"
    assert load_catalogues(tmp_path)["en"].gettext("Field") == "Field"


def test_a_malformed_catalogue_stops_start_up(tmp_path: Path) -> None:
    folder = tmp_path / "id" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "pages.po").write_text('msgid "Field"\nmsgstr "Lahan"\nLahan lagi\n', "utf-8")
    with pytest.raises(CatalogueError, match=r"pages\.po"):
        load_catalogues(tmp_path)


PLURAL = 'msgid "%(n)d field"\nmsgid_plural "%(n)d fields"\nmsgstr[0] "%(n)d lahan"\n'


def _catalogue_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "id" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "pages.po").write_text(text, "utf-8")
    return tmp_path


def test_indonesian_has_one_plural_form() -> None:
    # babel's CLDR rule, which the shipped catalogues must follow: one form for every count.
    assert read_catalogue(i18n.LOCALES_DIR / "id" / "LC_MESSAGES", "id").num_plurals == 1
    for path in (i18n.LOCALES_DIR / "id" / "LC_MESSAGES").glob("*.po"):
        assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in path.read_text("utf-8"), path
    catalogue = catalogues()["id"]
    for n in (0, 1, 2, 21):
        shown = catalogue.ngettext("%(num)d open alert", "%(num)d open alerts", n)
        assert shown == "%(num)d peringatan aktif", n


def test_a_catalogue_with_more_plural_forms_than_the_language_has_stops_start_up(
    tmp_path: Path,
) -> None:
    root = _catalogue_folder(tmp_path, PLURAL + 'msgstr[1] "%(n)d lahan-lahan"\n')
    with pytest.raises(CatalogueError, match=r"pages\.po.*more translations than num_plurals"):
        load_catalogues(root)


def test_a_catalogue_declaring_another_plural_rule_stops_start_up(tmp_path: Path) -> None:
    header = (
        'msgid ""\nmsgstr ""\n"Language: id\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
    )
    root = _catalogue_folder(tmp_path, header + PLURAL + 'msgstr[1] "%(n)d lahan"\n')
    with pytest.raises(CatalogueError, match=r"pages\.po: Plural-Forms says 'nplurals=2"):
        load_catalogues(root)


def test_a_plural_with_an_empty_form_is_left_untranslated(tmp_path: Path) -> None:
    folder = tmp_path / "en" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "pages.po").write_text(PLURAL, "utf-8")  # English has two forms: one is empty
    english = i18n.load_catalogue(folder, "en")
    assert english.ngettext("%(n)d field", "%(n)d fields", 1) == "%(n)d field"
    assert english.ngettext("%(n)d field", "%(n)d fields", 3) == "%(n)d fields"


def _used_msgids() -> dict[str | tuple[str, ...], str]:
    """Every msgid the API's code and templates use (babel.cfg's extraction), with where."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str | tuple[str, ...], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        API_DIR, method_map, options_map
    ):
        found.setdefault(message, f"api/{filename}:{lineno}")
    return found


def test_every_msgid_in_use_has_an_indonesian_translation() -> None:
    catalogue = read_catalogue(i18n.LOCALES_DIR / "id" / "LC_MESSAGES", "id")
    used = _used_msgids()
    assert "Sign in" in used and "farmer" in used  # the extraction does see templates and N_()
    missing = {
        where: message
        for message, where in used.items()
        if catalogue.get(message[0] if isinstance(message, tuple) else message) is None
    }
    assert not missing, (
        f"untranslated msgids (add them to api/locales/id/LC_MESSAGES/*.po, see README): {missing}"
    )


def test_translations_keep_their_placeholders() -> None:
    catalogue = read_catalogue(i18n.LOCALES_DIR / "id" / "LC_MESSAGES", "id")
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalogue.check()]
    assert not problems, problems


# -- nothing hard-coded in templates --------------------------------------------------------------


def _displayed_literals(node: nodes.Node) -> Iterator[str]:
    """String constants an output expression shows as they are (not through ``_()``)."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, nodes.CondExpr):
        yield from _displayed_literals(node.expr1)
        if node.expr2 is not None:
            yield from _displayed_literals(node.expr2)
    elif isinstance(node, nodes.Or | nodes.And):
        yield from _displayed_literals(node.left)
        yield from _displayed_literals(node.right)
    elif isinstance(node, nodes.Concat):
        for part in node.nodes:
            yield from _displayed_literals(part)
    elif isinstance(node, nodes.Filter) and node.node is not None:
        yield from _displayed_literals(node.node)


def hard_coded_text(source: str) -> list[str]:
    """Words a template shows that no catalogue translates, ``ALLOWED_LITERALS`` excepted.

    The template's literal HTML (its TemplateData, every expression and tag replaced by a
    marker) keeps no text between tags, nor in attributes people read; an output expression
    shows no string constant (``{{ "Sawah" if x else _("...") }}``). Style and script blocks
    are not text.
    """
    tree = templates.env.parse(source)
    found: list[str] = []
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                found += [text for text in _displayed_literals(child) if re.search(r"\w", text)]
    data = "\x00".join(node.data for node in tree.find_all(nodes.TemplateData))
    data = re.sub(r"<(style|script)\b.*?</\1\s*>", " ", data, flags=re.S | re.I)
    readable = r'\b(?:title|alt|placeholder|aria-label|label)="([^"]*)"'
    attributes = re.findall(readable, data, flags=re.I)
    text = re.sub(r"<[^>]*>", "\x00", data)
    text = re.sub(r"&#?\w+;", " ", text)
    for piece in [*text.split("\x00"), *attributes]:
        for allowed in ALLOWED_LITERALS:
            piece = piece.replace(allowed, " ")
        if re.search(r"[^\W\d_]", piece):
            found.append(piece.strip())
    return found


def test_the_guard_finds_hard_coded_text() -> None:
    assert hard_coded_text('<p>{{ _("Field") }}: {{ name }} · <b>{{ n|number }}</b></p>') == []
    assert hard_coded_text("<title>Tani Hub: {% block t %}{% endblock %}</title>") == []
    assert hard_coded_text("<style>body{font-family:sans-serif}</style>") == []
    assert hard_coded_text('<p class="x">Lahan {{ _("Field") }}</p>') == ["Lahan"]
    assert hard_coded_text('<a href="/x">Back</a>') == ["Back"]
    assert hard_coded_text('{{ "Peringatan" if alert else _("Unknown link") }}') == ["Peringatan"]
    assert hard_coded_text('<input placeholder="Cari lahan">') == ["Cari lahan"]
    assert hard_coded_text('{{ village or "" }}{% if x == "open" %}{% endif %}') == []


@pytest.mark.parametrize(
    "template", sorted(path.name for path in i18n.TEMPLATES_DIR.glob("*.html"))
)
def test_no_template_hard_codes_text(template: str) -> None:
    source = (i18n.TEMPLATES_DIR / template).read_text(encoding="utf-8")
    assert hard_coded_text(source) == [], f"{template}: put these through {{{{ _('...') }}}}"


# -- one language per page ------------------------------------------------------------------------


def _visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1\s*>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]*>", " ", page)
    return " " + re.sub(r"\s+", " ", html.unescape(page)) + " "


def _literal_chunks(text: str) -> list[str]:
    """The words of a message around its placeholders, long enough to mean something."""
    chunks = re.split(r"%\(\w+\)[sd]", text)
    return [chunk.strip(" .,:;") for chunk in chunks if len(chunk.strip(" .,:;")) >= 5]


def _leftovers(page: str, phrases: set[str]) -> list[str]:
    text = _visible_text(page)
    return sorted(p for p in phrases if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text))


def _phrases(*, indonesian: bool) -> set[str]:
    """The catalogue's Indonesian (or English) words that differ between the languages."""
    catalogue = read_catalogue(i18n.LOCALES_DIR / "id" / "LC_MESSAGES", "id")
    phrases: set[str] = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if set(ids) & set(strings):
            continue  # the same in both ("Status")
        for text in strings if indonesian else ids:
            phrases.update(_literal_chunks(text))
    return phrases


def test_a_page_speaks_one_language(site: Site) -> None:
    site.client.cookies.set(SESSION_COOKIE, site.tokens["ppl"])
    alert_id = site.alerts["budi_open"]
    site.client.post(
        f"/peringatan/{alert_id}/tangani",
        data={"note": "ok"},
        headers={"Origin": "http://testserver"},
    )
    for path in ("/peringatan", f"/peringatan/{alert_id}", "/lahan/sawah-budi/peringatan"):
        english = site.client.get(f"{path}?lang=en").text
        assert '<html lang="en">' in english
        assert _leftovers(english, _phrases(indonesian=True)) == [], path
        assert "Acknowledged by Ppl" in english or path != "/peringatan"
        indonesian = site.client.get(f"{path}?lang=id").text
        assert '<html lang="id">' in indonesian
        assert _leftovers(indonesian, _phrases(indonesian=False)) == [], path
    ack_page = site.client.get(f"/a/{site.links['wa-ppl']}?lang=en").text
    assert _leftovers(ack_page, _phrases(indonesian=True)) == []
    assert "Already acknowledged by Ppl" in ack_page
