"""Every endpoint x every role: who is let in, who is refused (403) and who is told "not found".

The expected outcome of each route is written down here once, by the kind of protection it
has; a route the application serves that this table does not name fails the test, so a new
endpoint cannot ship without saying who may call it.

Outcomes are judged by the answer's class, not its body: "in" is anything past the access
check (2xx, 3xx other than to the sign-in page, 409, 422, and 503 where InfluxDB is absent in
unit tests), "401"/"403"/"404" are refusals, "login" is a page's redirect to /masuk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.api_support import Site, running_site

ROLES = ("anon", "admin", "ppl", "desa1", "budi", "siti")
IN, LOGIN = "in", "login"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with running_site(tmp_path) as running:
        yield running


def _outcome(response: Any) -> str:
    status = response.status_code
    if status in (401, 403, 404):
        return str(status)
    if status in (302, 303) and response.headers.get("location", "").startswith("/masuk"):
        return LOGIN
    return IN


@dataclass(frozen=True)
class Case:
    """One request, and the outcome for each role."""

    method: str
    path: str
    expect: dict[str, str]
    page: bool = False  # signed in by the session cookie instead of a bearer token
    body: dict[str, Any] | None = None


def _roles(anon: str, admin: str, ppl: str, desa1: str, budi: str, siti: str) -> dict[str, str]:
    return dict(zip(ROLES, (anon, admin, ppl, desa1, budi, siti), strict=True))


PUBLIC = _roles(IN, IN, IN, IN, IN, IN)
SIGNED_IN = _roles("401", IN, IN, IN, IN, IN)
ADMIN_ONLY = _roles("401", IN, "403", "403", "403", "403")
# Sawah Budi and alerts in Bumi Agung (v1): its officer, its office, its farmer; not Siti (v2).
V1_FIELD = _roles("401", IN, IN, IN, IN, "404")
# Sawah Siti (v2): only Siti and the admin.
V2_FIELD = _roles("401", IN, "404", "404", "404", IN)
# A village as a whole: its officer and office; farmers see fields, not villages.
V1_VILLAGE = _roles("401", IN, IN, IN, "404", "404")
V2_VILLAGE = _roles("401", IN, "404", "404", "404", "404")
STAFF_V1 = _roles("401", IN, IN, IN, "403", "403")  # resolving: not farmers
RULE_EDITORS = _roles("401", IN, "403", IN, "403", "403")
# A record that does not exist: "not found" for everyone signed in.
NO_RECORD = _roles("401", "404", "404", "404", "404", "404")


def _page(expect: dict[str, str]) -> dict[str, str]:
    """A page answers the signed-out visitor with the sign-in page instead of 401."""
    return {role: (LOGIN if outcome == "401" else outcome) for role, outcome in expect.items()}


def cases(site: Site) -> list[Case]:
    """The table: (method, concrete path) -> outcome per role."""
    budi_alert, siti_alert = site.alerts["budi_open"], site.alerts["siti_open"]
    link = site.links["wa-ppl"]
    return [
        Case("GET", "/healthz", PUBLIC),
        Case("GET", "/openapi.json", PUBLIC),
        Case("GET", "/docs", PUBLIC),
        Case("GET", "/docs/oauth2-redirect", PUBLIC),
        Case("GET", "/redoc", PUBLIC),
        Case("POST", "/api/v1/auth/token", PUBLIC, body={}),
        Case("GET", "/api/v1/me", SIGNED_IN),
        # The ET0 calculator reads nobody's data; any signed-in person may use it.
        Case("GET", "/api/v1/agronomy/et0/daily", SIGNED_IN),
        Case("GET", "/api/v1/agronomy/et0/hourly", SIGNED_IN),
        Case("GET", "/api/v1/fields/sawah-budi/water", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/water", V2_FIELD),
        Case("GET", "/api/v1/fields/sawah-budi/records", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/records", V2_FIELD),
        Case("GET", "/api/v1/fields/sawah-budi/records.csv", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/records.csv", V2_FIELD),
        Case("POST", "/api/v1/fields/sawah-budi/records", V1_FIELD, body={}),
        Case("POST", "/api/v1/fields/sawah-siti/records", V2_FIELD, body={}),
        Case("DELETE", "/api/v1/fields/sawah-budi/records/999", NO_RECORD),
        Case("DELETE", "/api/v1/fields/sawah-siti/records/999", NO_RECORD),
        Case("GET", "/lahan/sawah-budi/catatan", _page(V1_FIELD), page=True),
        Case("GET", "/lahan/sawah-siti/catatan", _page(V2_FIELD), page=True),
        Case("POST", "/lahan/sawah-budi/catatan", _page(V1_FIELD), page=True),
        Case("POST", "/lahan/sawah-siti/catatan", _page(V2_FIELD), page=True),
        Case("POST", "/lahan/sawah-budi/catatan/999/hapus", _page(NO_RECORD), page=True),
        Case("GET", "/api/v1/fields/sawah-budi/latest", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/latest", V2_FIELD),
        Case("GET", "/api/v1/fields/sawah-budi/history", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/history", V2_FIELD),
        Case("GET", "/api/v1/fields/sawah-budi/history.csv", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/history.csv", V2_FIELD),
        Case("GET", "/api/v1/villages/v1/summary", V1_VILLAGE),
        Case("GET", "/api/v1/villages/v2/summary", V2_VILLAGE),
        Case("GET", "/api/v1/villages/v1/summary.csv", V1_VILLAGE),
        Case("GET", "/api/v1/villages/v2/summary.csv", V2_VILLAGE),
        Case("GET", "/api/v1/alerts", SIGNED_IN),
        Case("GET", f"/api/v1/alerts/{budi_alert}", V1_FIELD),
        Case("GET", f"/api/v1/alerts/{siti_alert}", V2_FIELD),
        Case("POST", f"/api/v1/alerts/{budi_alert}/acknowledge", V1_FIELD, body={}),
        Case("POST", f"/api/v1/alerts/{siti_alert}/acknowledge", V2_FIELD, body={}),
        Case(
            "POST",
            f"/api/v1/alerts/{siti_alert}/resolve",
            _roles("401", IN, "404", "404", "403", "403"),
            body={},
        ),
        Case("POST", f"/api/v1/alerts/{budi_alert}/resolve", STAFF_V1, body={}),
        Case("GET", "/api/v1/fields/sawah-budi/alerts", V1_FIELD),
        Case("GET", "/api/v1/fields/sawah-siti/alerts", V2_FIELD),
        Case("GET", "/api/v1/villages", SIGNED_IN),
        Case("POST", "/api/v1/villages", ADMIN_ONLY, body={}),
        Case("GET", "/api/v1/fields", SIGNED_IN),
        Case("POST", "/api/v1/fields", ADMIN_ONLY, body={}),
        Case("GET", "/api/v1/gateways", ADMIN_ONLY),
        Case("POST", "/api/v1/gateways", ADMIN_ONLY, body={}),
        Case("POST", "/api/v1/devices", ADMIN_ONLY, body={}),
        Case("GET", "/api/v1/users", ADMIN_ONLY),
        Case("POST", "/api/v1/users", ADMIN_ONLY, body={}),
        Case("PUT", "/api/v1/users/tono", ADMIN_ONLY, body={}),
        Case("PUT", "/api/v1/users/tono/password", ADMIN_ONLY, body={}),
        Case("POST", "/api/v1/users/tono/tokens", ADMIN_ONLY, body={}),
        # The admin finds no such user: past the role check, the registry says 404.
        Case("DELETE", "/api/v1/users/nobody", _roles("401", "404", "403", "403", "403", "403")),
        Case("GET", "/api/v1/rules", RULE_EDITORS),
        Case("POST", "/api/v1/rules", RULE_EDITORS, body={}),
        # "kering" covers all villages: an office may not change it (404, as if absent).
        Case(
            "PATCH",
            "/api/v1/rules/kering",
            _roles("401", IN, "403", "404", "403", "403"),
            body={"enabled": True},
        ),
        Case("DELETE", "/api/v1/rules/nope", _roles("401", "404", "403", "404", "403", "403")),
        Case("GET", "/api/v1/channels", ADMIN_ONLY),
        Case("POST", "/api/v1/channels", ADMIN_ONLY, body={}),
        Case("DELETE", "/api/v1/channels/999", _roles("401", "404", "403", "403", "403", "403")),
        Case("GET", f"/a/{link}", PUBLIC),
        Case("GET", "/a/not-a-link", _roles("404", "404", "404", "404", "404", "404")),
        Case("GET", "/masuk", PUBLIC),
        Case("GET", "/peringatan", _page(SIGNED_IN), page=True),
        Case("GET", f"/peringatan/{budi_alert}", _page(V1_FIELD), page=True),
        Case("GET", f"/peringatan/{siti_alert}", _page(V2_FIELD), page=True),
        Case("POST", f"/peringatan/{budi_alert}/tangani", _page(V1_FIELD), page=True),
        Case("POST", f"/peringatan/{siti_alert}/tangani", _page(V2_FIELD), page=True),
        Case(
            "POST",
            f"/peringatan/{siti_alert}/selesai",
            _page(_roles("401", IN, "404", "404", "403", "403")),
            page=True,
        ),
        Case("POST", f"/a/{link}", PUBLIC),
        Case("GET", "/", _page(SIGNED_IN), page=True),
        Case("GET", "/lahan", _page(SIGNED_IN), page=True),
        Case("GET", "/lahan/sawah-budi", _page(V1_FIELD), page=True),
        Case("GET", "/lahan/sawah-siti", _page(V2_FIELD), page=True),
        Case("GET", "/desa", _page(_roles("401", IN, IN, IN, "404", "404")), page=True),
        Case("GET", "/desa/v1", _page(V1_VILLAGE), page=True),
        Case("GET", "/desa/v2", _page(V2_VILLAGE), page=True),
        Case("GET", "/desa/v1/ringkasan", _page(V1_VILLAGE), page=True),
        Case("GET", "/desa/v2/ringkasan", _page(V2_VILLAGE), page=True),
        Case("GET", "/lahan/sawah-budi/peringatan", _page(V1_FIELD), page=True),
        Case("GET", "/lahan/sawah-siti/peringatan", _page(V2_FIELD), page=True),
    ]


# Routes whose every call changes who is signed in; checked apart, with throwaway tokens.
SESSION_ROUTES = {("POST", "/api/v1/auth/logout"), ("POST", "/masuk"), ("POST", "/keluar")}


def _request(site: Site, case: Case, role: str) -> Any:
    headers: dict[str, str] = {}
    if role != "anon":
        token = site.tokens[role]
        if case.page:
            headers["Cookie"] = f"tani_session={token}"
        else:
            headers["Authorization"] = f"Bearer {token}"
    return site.client.request(
        case.method, case.path, headers=headers, json=case.body, follow_redirects=False
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_table_says(site: Site, role: str) -> None:
    wrong = {}
    for case in cases(site):
        got = _outcome(_request(site, case, role))
        if got != case.expect[role]:
            wrong[f"{case.method} {case.path}"] = f"expected {case.expect[role]}, got {got}"
    assert not wrong, wrong


def _served_routes(site: Site) -> set[tuple[str, str]]:
    """(method, path template) of every route the application serves."""
    found = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:  # FastAPI's included router
                walk(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))
                continue
            for method in getattr(route, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, prefix + route.path))

    walk(list(site.client.app.routes), "")  # type: ignore[attr-defined]
    return found


def _template(path: str, route_paths: set[str]) -> str | None:
    """The route template a concrete path was made from."""
    parts = path.split("/")
    for template in route_paths:
        pieces = template.split("/")
        if len(pieces) == len(parts) and all(
            p == q or (p.startswith("{") and p.endswith("}"))
            for p, q in zip(pieces, parts, strict=True)
        ):
            return template
    return None


def test_the_table_names_every_route(site: Site) -> None:
    served = _served_routes(site)
    templates = {path for _, path in served}
    covered = {(c.method, _template(c.path, templates)) for c in cases(site)} | SESSION_ROUTES
    assert served - covered == set(), "routes nobody decided the access of"


def test_session_routes_need_what_they_say(site: Site) -> None:
    # Signing out needs someone signed in; signing in needs the right password.
    assert site.client.post("/api/v1/auth/logout").status_code == 401
    assert _outcome(site.client.post("/keluar", follow_redirects=False)) == LOGIN
    assert site.client.post("/masuk", data={"username": "x", "password": "y"}).status_code == 401
