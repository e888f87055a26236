"""The alert web pages: signing in with the session cookie, who sees what, acknowledge, resolve."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SESSION_COOKIE
from api.pages import safe_next
from registry.alerting import Alert
from registry.models import Field
from registry.people import User
from tests.unit.api_support import PASSWORD, Site, running_site

SAME_SITE = {"Origin": "http://testserver"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support), signed out."""
    with running_site(tmp_path) as site:
        yield site


def _as(site: Site, username: str) -> None:
    """Make the client's browser session that of ``username`` (their API token as cookie)."""
    site.client.cookies.set(SESSION_COOKIE, site.tokens[username])


def _get(site: Site, path: str) -> httpx.Response:
    return site.client.get(path, follow_redirects=False)


def _post(
    site: Site, path: str, headers: dict[str, str] = SAME_SITE, **data: str
) -> httpx.Response:
    return site.client.post(path, data=data, headers=headers, follow_redirects=False)


def _login(client: TestClient, password: str, next_path: str = "") -> httpx.Response:
    data = {"username": "budi", "password": password, "next": next_path}
    return client.post("/masuk", data=data, follow_redirects=False)


def _linked_alerts(page: httpx.Response) -> set[int]:
    return {int(found) for found in re.findall(r'href="/peringatan/(\d+)"', page.text)}


def _ids(site: Site, *names: str) -> set[int]:
    return {site.alerts[name] for name in names}


def _stored(site: Site, alert_id: int) -> Alert:
    with Session(site.registry.engine, expire_on_commit=False) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


def _user_id(site: Site, username: str) -> int:
    with Session(site.registry.engine) as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        assert user_id is not None
        return user_id


# -- signing in and out --------------------------------------------------------------------------


def test_login_sets_an_httponly_cookie_and_goes_to_next(site: Site) -> None:
    response = _login(site.client, PASSWORD, "/lahan/sawah-budi/peringatan?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/lahan/sawah-budi/peringatan?x=1"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=tani_")
    for attribute in ("httponly", "samesite=lax", "path=/", f"max-age={30 * 24 * 3600}"):
        assert attribute in cookie
    assert "secure" not in cookie  # plain http here: a Secure cookie would never come back
    page = _get(site, "/lahan/sawah-budi/peringatan")
    assert page.status_code == 200
    assert "Budi" in page.text and "petani" in page.text  # the header: who, in which role
    assert page.headers["cache-control"] == "no-store"


def test_login_over_https_sets_a_secure_cookie(site: Site) -> None:
    secure = TestClient(site.client.app, base_url="https://testserver")
    response = _login(secure, PASSWORD)
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("target", ["//evil.example", "http://evil", "/\\evil.example", ""])
def test_login_never_redirects_to_another_site(site: Site, target: str) -> None:
    response = _login(site.client, PASSWORD, target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_only_local_paths_are_kept_as_next() -> None:
    assert safe_next("/peringatan/3") == "/peringatan/3"
    assert safe_next("/lahan/a/peringatan?status=x") == "/lahan/a/peringatan?status=x"
    for bad in (None, "", "peringatan", "//evil", "/\\evil", "https://evil/", "/a\r\nSet-Cookie:"):
        assert safe_next(bad) == "/", bad


def test_wrong_password_shows_the_form_again_then_locks_out(site: Site) -> None:
    form = _get(site, "/masuk?next=//evil.example")
    assert form.status_code == 200 and 'value="/"' in form.text
    response = _login(site.client, "salah-sekali", "/peringatan/1")
    assert response.status_code == 401
    assert "kata sandi salah" in response.text and "Wrong username" not in response.text
    assert 'value="/peringatan/1"' in response.text  # next survives a typo
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    for _ in range(9):
        assert _login(site.client, "salah-sekali").status_code == 401
    locked = _login(site.client, PASSWORD)
    assert locked.status_code == 429  # even the right password waits
    assert "Terlalu banyak" in locked.text and 0 < int(locked.headers["Retry-After"]) <= 900
    english = site.client.post(
        "/masuk?lang=en",
        data={"username": "budi", "password": PASSWORD, "next": ""},
        follow_redirects=False,
    )
    assert english.status_code == 429 and "Too many failed sign-ins" in english.text
    # The same counter as the API's login.
    api = site.client.post("/api/v1/auth/token", data={"username": "budi", "password": PASSWORD})
    assert api.status_code == 429


def test_logout_revokes_the_token_and_clears_the_cookie(site: Site) -> None:
    assert _login(site.client, PASSWORD).status_code == 303
    token = site.client.cookies[SESSION_COOKIE]
    assert _get(site, "/peringatan").status_code == 200
    response = _post(site, "/keluar")
    assert response.status_code == 303 and response.headers["location"] == "/masuk"
    assert SESSION_COOKIE not in site.client.cookies
    # The old cookie, kept by someone, no longer works anywhere.
    site.client.cookies.set(SESSION_COOKIE, token)
    assert _get(site, "/peringatan").headers["location"] == "/masuk?next=/peringatan"
    me = site.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_pages_send_the_signed_out_to_the_login_form(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    for path, target in (
        ("/peringatan", "/peringatan"),
        ("/peringatan?status=selesai", "/peringatan%3Fstatus%3Dselesai"),
        (f"/peringatan/{alert_id}", f"/peringatan/{alert_id}"),
        ("/lahan/sawah-budi/peringatan", "/lahan/sawah-budi/peringatan"),
    ):
        response = _get(site, path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/masuk?next={target}"
    # A form posted after the session ended comes back to its page, not to the POST address.
    response = _post(site, f"/peringatan/{alert_id}/tangani")
    assert response.headers["location"] == f"/masuk?next=/peringatan/{alert_id}"
    site.client.cookies.set(SESSION_COOKIE, "tani_not-a-token")
    assert _get(site, "/peringatan").status_code == 303
    assert _stored(site, alert_id).state == "open"


# -- who sees what -------------------------------------------------------------------------------


def test_a_farmer_sees_only_alerts_of_own_fields(site: Site) -> None:
    _as(site, "budi")
    page = _get(site, "/peringatan")
    assert page.status_code == 200
    assert _linked_alerts(page) == _ids(site, "budi_open")
    # Another village's alert, another field of the same village, an unknown id: not found.
    for name in ("siti_open", "v1_field", "v1_gateway"):
        response = _get(site, f"/peringatan/{site.alerts[name]}")
        assert response.status_code == 404, name
        assert "tidak ditemukan" in response.text
    assert _get(site, "/peringatan/99999").status_code == 404
    _as(site, "tono")
    assert "Tidak ada peringatan aktif" in _get(site, "/peringatan").text


def test_a_farmer_may_acknowledge_but_not_resolve(site: Site) -> None:
    _as(site, "budi")
    alert_id = site.alerts["budi_open"]
    page = _get(site, f"/peringatan/{alert_id}")
    assert f'action="/peringatan/{alert_id}/tangani"' in page.text
    assert "/selesai" not in page.text.replace('href="/peringatan?status=selesai"', "")
    # Refused the same way for an alert of their own and one they cannot see.
    for name in ("budi_open", "siti_open"):
        response = _post(site, f"/peringatan/{site.alerts[name]}/selesai")
        assert response.status_code == 403, name
        assert "Hanya penyuluh" in response.text and "Only officers" not in response.text
        assert _stored(site, site.alerts[name]).state == "open"
    assert _post(site, f"/peringatan/{alert_id}/tangani").status_code == 303
    assert _stored(site, alert_id).acknowledged_by == _user_id(site, "budi")
    # Another village's alert cannot be acknowledged either: not found.
    siti = site.alerts["siti_open"]
    assert _post(site, f"/peringatan/{siti}/tangani").status_code == 404
    assert _stored(site, siti).state == "open"


def test_an_officer_sees_the_assigned_villages_only(site: Site) -> None:
    _as(site, "ppl")
    page = _get(site, "/peringatan")
    assert _linked_alerts(page) == _ids(site, "budi_open", "v1_field", "v1_gateway", "v3_field")
    assert "Bumi Agung" in page.text and "Sri Rejeki" in page.text
    assert "Gunung Labuhan" not in page.text
    assert "Ditangani oleh Ppl" in page.text  # v1_field, acknowledged by the officer
    assert _get(site, f"/peringatan/{site.alerts['siti_open']}").status_code == 404
    _as(site, "admin")
    assert len(_linked_alerts(_get(site, "/peringatan"))) == len(site.alerts)


def test_acknowledging_through_the_form_records_who_and_shows_it(site: Site) -> None:
    _as(site, "ppl")
    alert_id = site.alerts["budi_open"]
    response = _post(site, f"/peringatan/{alert_id}/tangani", note="Saya ke sawah <jam 9>")
    assert response.status_code == 303
    assert response.headers["location"] == f"/peringatan/{alert_id}"
    stored = _stored(site, alert_id)
    assert (stored.state, stored.acknowledged_by) == ("acknowledged", _user_id(site, "ppl"))
    page = _get(site, f"/peringatan/{alert_id}")
    assert page.headers["cache-control"] == "no-store"
    history = page.text.split("Riwayat", 1)[1]
    assert "Ditangani" in history and "oleh Ppl" in history
    assert "Saya ke sawah &lt;jam 9&gt;" in history  # escaped, never markup
    assert "/tangani" not in page.text  # already acknowledged: no button


def test_an_officer_resolves_and_the_alert_moves_to_the_resolved_list(site: Site) -> None:
    _as(site, "ppl")
    alert_id = site.alerts["v3_field"]
    page = _get(site, f"/peringatan/{alert_id}")
    assert f'action="/peringatan/{alert_id}/selesai"' in page.text
    assert _post(site, f"/peringatan/{alert_id}/selesai", note="hujan").status_code == 303
    stored = _stored(site, alert_id)
    assert (stored.state, stored.resolved_by) == ("resolved", _user_id(site, "ppl"))
    assert alert_id not in _linked_alerts(_get(site, "/peringatan"))
    assert _linked_alerts(_get(site, "/peringatan?status=selesai")) == {alert_id}
    # Acknowledging what is over: the page says so.
    response = _post(site, f"/peringatan/{alert_id}/tangani")
    assert response.status_code == 409
    assert "sudah selesai" in response.text and "already resolved" not in response.text
    response = _post(site, f"/peringatan/{alert_id}/tangani?lang=en")
    assert response.status_code == 409 and "already resolved" in response.text
    # Out of the officer's villages: not found, nothing changed.
    siti = site.alerts["siti_open"]
    assert _post(site, f"/peringatan/{siti}/selesai").status_code == 404
    assert _stored(site, siti).state == "open"


def test_a_cross_site_post_is_refused(site: Site) -> None:
    _as(site, "ppl")
    alert_id = site.alerts["budi_open"]
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        for action in ("tangani", "selesai"):
            response = _post(site, f"/peringatan/{alert_id}/{action}", headers=headers)
            assert response.status_code == 403, (headers, action)
        assert _post(site, "/keluar", headers=headers).status_code == 403
    assert _stored(site, alert_id).state == "open"
    assert _get(site, "/peringatan").status_code == 200  # still signed in


def test_another_site_cannot_sign_this_browser_in(site: Site) -> None:
    data = {"username": "budi", "password": PASSWORD, "next": ""}
    response = site.client.post(
        "/masuk", data=data, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "tani_session" not in response.cookies


def test_field_history_is_scope_checked(site: Site) -> None:
    _as(site, "budi")
    page = _get(site, "/lahan/sawah-budi/peringatan")
    assert page.status_code == 200 and _linked_alerts(page) == _ids(site, "budi_open")
    for field in ("sawah-siti", "ladang-desa", "no-such-field"):
        response = _get(site, f"/lahan/{field}/peringatan")
        assert response.status_code == 404, field
        assert "Lahan tidak ditemukan" in response.text
    _as(site, "ppl")
    assert _linked_alerts(_get(site, "/lahan/ladang-desa/peringatan")) == _ids(site, "v1_field")
    assert _get(site, "/lahan/sawah-siti/peringatan").status_code == 404
    assert _linked_alerts(_get(site, "/lahan/kebun-v3/peringatan")) == _ids(site, "v3_field")


def test_names_from_the_registry_are_escaped(site: Site) -> None:
    with Session(site.registry.engine) as session:
        field = session.get(Field, "sawah-budi")
        assert field is not None
        field.name = '<script>alert("x")</script>'
        session.commit()
    _as(site, "budi")
    for path in ("/peringatan", f"/peringatan/{site.alerts['budi_open']}"):
        text = _get(site, path).text
        assert "<script>" not in text and "&lt;script&gt;" in text, path


def test_pages_travel_compressed_to_a_browser_that_accepts_it(site: Site) -> None:
    _as(site, "admin")
    page = site.client.get("/peringatan", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and len(page.text) > 1000
    assert page.headers["content-encoding"] == "gzip"
    plain = site.client.get("/peringatan", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
