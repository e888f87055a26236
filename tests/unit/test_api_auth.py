"""API authentication: tokens, the session cookie, login and its brute-force limit, roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SESSION_COOKIE, LoginThrottle
from api.ttl_cache import TtlCache
from registry.access import issue_token, revoke_token
from registry.people import ApiToken, User
from tests.unit.api_support import NOW_MS, PASSWORD, Site, running_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support)."""
    with running_site(tmp_path) as site:
        yield site


def _login(client: TestClient, username: str, password: str) -> int:
    form = {"username": username, "password": password}
    return client.post("/api/v1/auth/token", data=form).status_code


# -- who is calling ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer tani_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YnVkaTpwYWRpLW1lbmd1bmluZw=="},
    ],
    ids=["missing", "unknown", "empty", "basic"],
)
def test_missing_or_bad_tokens_get_401_with_a_bearer_challenge(
    site: Site, headers: dict[str, str]
) -> None:
    for path in ("/api/v1/me", "/api/v1/alerts", "/api/v1/fields/sawah-budi/latest"):
        response = site.client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert " / " in response.json()["detail"]  # Bahasa Indonesia / English


def test_an_expired_token_gets_401(site: Site) -> None:
    with Session(site.registry.engine) as session:
        budi = session.scalars(select(User).where(User.username == "budi")).one()
        token = issue_token(session, budi, label="old", now_ms=NOW_MS, ttl_s=60)
        session.commit()
    response = site.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_me_says_who_and_what_the_role_covers(site: Site) -> None:
    me = site.client.get("/api/v1/me", headers=site.auth("budi")).json()
    assert me == {
        "username": "budi",
        "full_name": "Budi",
        "role": "farmer",
        "language": "id",
        "villages": ["v1"],
        "fields": ["sawah-budi"],
    }
    admin = site.client.get("/api/v1/me", headers=site.auth("admin")).json()
    assert (admin["villages"], admin["fields"]) == (None, None)


def test_the_session_cookie_carries_the_same_token(site: Site) -> None:
    site.client.cookies.set(SESSION_COOKIE, site.tokens["budi"])
    try:
        assert site.client.get("/api/v1/me").json()["username"] == "budi"
        # A bearer header wins over the cookie.
        assert site.client.get("/api/v1/me", headers=site.auth("ppl")).json()["username"] == "ppl"
        ack = f"/api/v1/alerts/{site.alerts['budi_open']}/acknowledge"
        # A changing request another site started is refused; the same site's goes through.
        assert site.client.post(ack, headers={"Origin": "https://evil.example"}).status_code == 403
        assert site.client.post(ack, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert site.client.post(ack, headers={"Origin": "http://testserver"}).status_code == 200
    finally:
        site.client.cookies.clear()


def test_a_wrong_role_gets_403(site: Site) -> None:
    for username in ("budi", "ppl", "desa1"):
        response = site.client.get("/api/v1/users", headers=site.auth(username))
        assert response.status_code == 403, username
        assert "admin" in response.json()["detail"]
    assert site.client.get("/api/v1/users", headers=site.auth("admin")).status_code == 200


def test_latest_readings_need_a_token_and_the_field_in_scope(site: Site) -> None:
    latest = "/api/v1/fields/{}/latest"
    assert site.client.get(latest.format("sawah-budi")).status_code == 401
    # Another village's field is "not found", like a field that does not exist.
    for field in ("sawah-siti", "ladang-desa", "no-such-field"):
        assert site.client.get(latest.format(field), headers=site.auth("budi")).status_code == 404
    # In scope, the request reaches InfluxDB (absent here: 503).
    assert (
        site.client.get(latest.format("sawah-budi"), headers=site.auth("budi")).status_code == 503
    )
    assert site.client.get(latest.format("sawah-siti"), headers=site.auth("ppl")).status_code == 404


# -- signing in and out --------------------------------------------------------------------------


def test_login_gives_a_token_that_works_and_logout_revokes_it(site: Site) -> None:
    response = site.client.post(
        "/api/v1/auth/token", data={"username": "budi", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("tani_")
    assert body["expires_at"] is not None
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert site.client.get("/api/v1/me", headers=headers).json()["username"] == "budi"
    assert site.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert site.client.get("/api/v1/me", headers=headers).status_code == 401
    # Budi's other token is still good.
    assert site.client.get("/api/v1/me", headers=site.auth("budi")).status_code == 200


def test_wrong_credentials_get_401(site: Site) -> None:
    for username, password in (("budi", "salah-sekali"), ("nobody", PASSWORD), ("siti", PASSWORD)):
        response = site.client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert site.client.post("/api/v1/auth/token", data={"username": "budi"}).status_code == 422


def test_ten_failed_logins_lock_that_username_from_that_address(site: Site) -> None:
    for _ in range(10):
        assert _login(site.client, "budi", "salah-sekali") == 401
    response = site.client.post(
        "/api/v1/auth/token", data={"username": "budi", "password": PASSWORD}
    )
    assert response.status_code == 429  # even the right password waits
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    # Another address, or another username from the same address, is not locked out.
    other = TestClient(site.client.app, client=("10.0.0.2", 40000))
    assert _login(other, "budi", PASSWORD) == 200
    assert _login(site.client, "siti", PASSWORD) == 401


# -- the throttle itself -------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_forgets_failures_after_the_window_and_on_success() -> None:
    clock = _Clock()
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=clock)
    key = ("budi", "10.0.0.1")
    for _ in range(3):
        assert throttle.retry_after(key) is None
        throttle.failed(key)
        clock.now += 10
    assert throttle.retry_after(key) == pytest.approx(30)  # the first failure leaves at 1060
    clock.now = 1060
    assert throttle.retry_after(key) is None
    throttle.failed(key)
    assert throttle.retry_after(key) is not None
    throttle.succeeded(key)
    assert throttle.retry_after(key) is None


def test_the_throttle_keeps_a_bounded_number_of_keys() -> None:
    throttle = LoginThrottle(max_failures=1, window_s=60, max_keys=2, clock=_Clock())
    for name in ("a", "b", "c"):
        throttle.failed((name, "ip"))
    assert throttle.retry_after(("a", "ip")) is None  # the oldest was forgotten
    assert throttle.retry_after(("b", "ip")) is not None
    assert throttle.retry_after(("c", "ip")) is not None


def test_a_requests_token_use_is_written_apart_from_the_request(site: Site) -> None:
    with Session(site.registry.engine) as session, session.begin():
        session.execute(ApiToken.__table__.update().values(last_used_ms=None))

    def used() -> list[int | None]:
        with Session(site.registry.engine) as session:
            return list(
                session.scalars(
                    select(ApiToken.last_used_ms).where(ApiToken.last_used_ms.is_not(None))
                )
            )

    # The registry's one writer is never waited for while answering: no write yet ...
    assert site.client.get("/api/v1/me", headers=site.auth("ppl")).status_code == 200
    assert site.client.get("/api/v1/me", headers=site.auth("ppl")).status_code == 200
    assert used() == []
    # ... until the uses are written (once a minute and when the API stops).
    assert site.client.app.state.token_uses.write() == 1
    assert len(used()) == 1
    assert site.client.app.state.token_uses.write() == 0


# -- the short principal cache (api.auth.signed_in) ----------------------------------------------


def _cache_with_clock(site: Site) -> _Clock:
    clock = _Clock()
    app = site.client.app
    app.state.principals = TtlCache(app.state.config.auth_cache_s, clock, name="auth")  # type: ignore[attr-defined]
    return clock


def test_a_token_revoked_by_another_process_is_refused_within_the_cache_time(
    site: Site,
) -> None:
    clock = _cache_with_clock(site)
    assert site.client.get("/api/v1/me", headers=site.auth("budi")).status_code == 200
    with Session(site.registry.engine) as session, session.begin():
        revoke_token(session, site.tokens["budi"])  # as `tani users` would
    assert site.client.get("/api/v1/me", headers=site.auth("budi")).status_code == 200
    clock.now += 5.0
    assert site.client.get("/api/v1/me", headers=site.auth("budi")).status_code == 401


def test_signing_out_and_admin_changes_through_the_api_count_at_once(site: Site) -> None:
    _cache_with_clock(site)  # time stands still: only forgetting can refuse these
    for user in ("budi", "siti", "ppl"):
        assert site.client.get("/api/v1/me", headers=site.auth(user)).status_code == 200
    site.client.post("/api/v1/auth/logout", headers=site.auth("budi"))
    assert site.client.get("/api/v1/me", headers=site.auth("budi")).status_code == 401
    gone = site.client.delete("/api/v1/users/siti", headers=site.auth("admin"))
    assert gone.status_code == 204
    assert site.client.get("/api/v1/me", headers=site.auth("siti")).status_code == 401
    moved = {"username": "ppl", "full_name": "PPL", "role": "officer", "villages": ["v2"]}
    assert site.client.put("/api/v1/users/ppl", json=moved, headers=site.auth("admin")).is_success
    assert site.client.get("/api/v1/me", headers=site.auth("ppl")).json()["villages"] == ["v2"]
