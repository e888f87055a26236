"""Alerts over the API and the acknowledge link: each role sees and changes only its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.alerting import Alert, AlertEvent
from registry.directory import deactivate_user
from tests.unit.api_support import Site, running_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The API over the test site (see api_support)."""
    with running_site(tmp_path) as site:
        yield site


def _subjects(site: Site, username: str, query: str = "") -> set[str]:
    response = site.client.get(f"/api/v1/alerts{query}", headers=site.auth(username))
    assert response.status_code == 200, response.text
    return {alert["subject"] for alert in response.json()}


def _stored(site: Site, alert_id: int) -> Alert:
    with Session(site.registry.engine, expire_on_commit=False) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert


def _events(site: Site, alert_id: int) -> list[tuple[str, int | None, str | None]]:
    with Session(site.registry.engine) as session:
        query = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
        return [(e.kind, e.user_id, e.detail) for e in session.scalars(query)]


# -- who sees what -------------------------------------------------------------------------------


def test_each_role_lists_only_the_alerts_it_covers(site: Site) -> None:
    everything = {"budi_open", "siti_open", "v1_field", "v1_gateway", "v3_field"}
    assert _subjects(site, "admin") == everything
    assert _subjects(site, "ppl") == {"budi_open", "v1_field", "v1_gateway", "v3_field"}
    assert _subjects(site, "desa1") == {"budi_open", "v1_field", "v1_gateway"}
    # A farmer: own fields only, not another field of the same village, not the gateway's.
    assert _subjects(site, "budi") == {"budi_open"}
    assert _subjects(site, "siti") == {"siti_open"}
    assert _subjects(site, "tono") == set()


def test_filters_narrow_within_the_scope_never_beyond_it(site: Site) -> None:
    assert _subjects(site, "ppl", "?state=acknowledged") == {"v1_field"}
    assert _subjects(site, "ppl", "?village_id=v3") == {"v3_field"}
    assert _subjects(site, "ppl", "?village_id=v2") == set()
    assert _subjects(site, "budi", "?field_id=sawah-siti") == set()
    assert _subjects(site, "admin", "?field_id=sawah-siti&state=open") == {"siti_open"}
    assert len(_subjects(site, "admin", "?limit=2")) == 2
    for query in ("?state=closed", "?limit=0", "?limit=501", "?village_id=DROP%20TABLE"):
        response = site.client.get(f"/api/v1/alerts{query}", headers=site.auth("admin"))
        assert response.status_code == 422, query


def test_an_alert_out_of_scope_is_not_found_like_one_that_does_not_exist(site: Site) -> None:
    siti_alert = site.alerts["siti_open"]
    for username in ("budi", "ppl", "desa1"):
        for path in (f"/api/v1/alerts/{siti_alert}", "/api/v1/alerts/99999"):
            response = site.client.get(path, headers=site.auth(username))
            assert response.status_code == 404, (username, path)
            assert response.json()["detail"].endswith("alert not found")
    assert site.client.get(f"/api/v1/alerts/{siti_alert}", headers=site.auth("siti")).is_success


def test_an_alert_reads_with_utc_times_names_and_its_history(site: Site) -> None:
    alert_id = site.alerts["v1_field"]
    body = site.client.get(f"/api/v1/alerts/{alert_id}", headers=site.auth("desa1")).json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "ppl"
    assert body["field_id"] == "ladang-desa" and body["field_name"] == "Ladang-Desa"
    assert body["kind"] == "below" and body["severity"] == "warning" and body["value"] == 12.5
    since = datetime.fromisoformat(body["since"])
    assert since.utcoffset() is not None and since.utcoffset().total_seconds() == 0
    assert datetime.fromisoformat(body["acknowledged_at"]) > since
    assert [(e["kind"], e["user"]) for e in body["events"]] == [("acknowledged", "ppl")]


# -- acknowledging and resolving -----------------------------------------------------------------


def test_a_farmer_acknowledges_own_field_alert_with_a_note(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    url = f"/api/v1/alerts/{alert_id}/acknowledge"
    response = site.client.post(url, headers=site.auth("budi"), json={"note": "sudah diairi"})
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "budi"
    assert body["events"][-1] | {"time": None} == {
        "time": None,
        "kind": "acknowledged",
        "user": "budi",
        "detail": "sudah diairi",
    }
    # Again: nothing changes, no second event.
    assert site.client.post(url, headers=site.auth("budi")).status_code == 200
    assert len(_events(site, alert_id)) == 1
    unknown_key = site.client.post(url, headers=site.auth("budi"), json={"catatan": "x"})
    assert unknown_key.status_code == 422


def test_a_farmer_cannot_see_or_acknowledge_alerts_of_another_village(site: Site) -> None:
    alert_id = site.alerts["siti_open"]
    url = f"/api/v1/alerts/{alert_id}"
    assert site.client.get(url, headers=site.auth("budi")).status_code == 404
    assert site.client.post(f"{url}/acknowledge", headers=site.auth("budi")).status_code == 404
    # Resolving is refused for the role before the alert is even looked up.
    assert site.client.post(f"{url}/resolve", headers=site.auth("budi")).status_code == 403
    assert "siti_open" not in _subjects(site, "budi")
    history = site.client.get("/api/v1/fields/sawah-siti/alerts", headers=site.auth("budi"))
    assert history.status_code == 404
    assert _stored(site, alert_id).state == "open"
    assert _events(site, alert_id) == []


def test_an_officer_cannot_touch_alerts_outside_the_assigned_villages(site: Site) -> None:
    alert_id = site.alerts["siti_open"]
    for action in ("acknowledge", "resolve"):
        url = f"/api/v1/alerts/{alert_id}/{action}"
        assert site.client.post(url, headers=site.auth("ppl")).status_code == 404
    assert site.client.post(
        f"/api/v1/alerts/{site.alerts['v3_field']}/acknowledge", headers=site.auth("ppl")
    ).is_success
    # The office of v1 may not touch the v3 alert its officer covers.
    url = f"/api/v1/alerts/{site.alerts['v3_field']}/resolve"
    assert site.client.post(url, headers=site.auth("desa1")).status_code == 404
    assert _stored(site, alert_id).state == "open"


def test_only_officers_office_and_admins_resolve_then_acknowledging_conflicts(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    resolve = f"/api/v1/alerts/{alert_id}/resolve"
    response = site.client.post(resolve, headers=site.auth("budi"))
    assert response.status_code == 403
    assert _stored(site, alert_id).state == "open"
    response = site.client.post(resolve, headers=site.auth("desa1"), json={"note": "hujan"})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["resolved_by"]) == ("resolved", "desa1")
    assert body["resolved_at"] is not None
    assert site.client.post(resolve, headers=site.auth("ppl")).json()["resolved_by"] == "desa1"
    ack = site.client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=site.auth("budi"))
    assert ack.status_code == 409
    assert "already resolved" in ack.json()["detail"]


def test_a_field_history_lists_its_alerts_with_events(site: Site) -> None:
    site.client.post(
        f"/api/v1/alerts/{site.alerts['budi_open']}/acknowledge", headers=site.auth("ppl")
    )
    for username in ("budi", "ppl", "desa1", "admin"):
        response = site.client.get("/api/v1/fields/sawah-budi/alerts", headers=site.auth(username))
        assert response.status_code == 200, username
        [alert] = response.json()
        assert alert["subject"] == "budi_open"
        assert [(e["kind"], e["user"]) for e in alert["events"]] == [("acknowledged", "ppl")]
    for username, field in (("tono", "sawah-budi"), ("ppl", "sawah-siti"), ("admin", "nowhere")):
        response = site.client.get(f"/api/v1/fields/{field}/alerts", headers=site.auth(username))
        assert response.status_code == 404, (username, field)


# -- the acknowledge link ------------------------------------------------------------------------


def test_the_link_shows_the_alert_without_login_and_changes_nothing(site: Site) -> None:
    response = site.client.get(f"/a/{site.links['wa-ppl']}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "Kelembapan tanah 12,5% &lt; 20%" in page and "Soil moisture" not in page
    assert "Sawah-Budi (Budi)" in page and "Bumi Agung" in page and "WIB" in page
    assert '<form method="post">' in page and "<script" not in page
    assert "Saya tangani" in page and "I am on it" not in page
    english = site.client.get(f"/a/{site.links['wa-ppl']}?lang=en").text
    assert "Soil moisture 12.5%" in english and "I am on it" in english
    assert "Kelembapan" not in english
    assert _stored(site, site.alerts["budi_open"]).state == "open"


def test_the_link_acknowledges_as_the_channels_person(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    response = site.client.post(f"/a/{site.links['wa-ppl']}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/a/{site.links['wa-ppl']}"
    page = site.client.get(response.headers["location"]).text
    assert "Sudah ditangani oleh Ppl" in page and "Already acknowledged" not in page
    assert "<form" not in page
    alert = site.client.get(f"/api/v1/alerts/{alert_id}", headers=site.auth("admin")).json()
    assert alert["acknowledged_by"] == "ppl"
    assert alert["events"][-1]["detail"] == "via link, channel wa-ppl"


def test_a_village_channel_link_acknowledges_as_nobody_and_names_the_channel(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    assert site.client.post(f"/a/{site.links['grup-v1']}").status_code == 200  # after redirect
    stored = _stored(site, alert_id)
    assert stored.state == "acknowledged" and stored.acknowledged_by is None
    assert _events(site, alert_id) == [("acknowledged", None, "via link, channel grup-v1")]


def test_a_link_to_a_resolved_alert_says_so_and_acknowledges_nothing(site: Site) -> None:
    alert_id = site.alerts["budi_open"]
    site.client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=site.auth("admin"))
    page = site.client.post(f"/a/{site.links['wa-ppl']}").text
    assert "Sudah selesai" in page and "Already resolved" not in page and "<form" not in page
    assert [kind for kind, _, _ in _events(site, alert_id)] == ["resolved"]


def test_unknown_links_and_a_deactivated_persons_links_are_not_found(site: Site) -> None:
    with Session(site.registry.engine) as session:
        deactivate_user(session, "ppl")
        session.commit()
    for token in ("no-such-token", "x" * 300, site.links["wa-ppl"]):
        for method in ("GET", "POST"):
            response = site.client.request(method, f"/a/{token}")
            assert response.status_code == 404, (method, token)
            assert "Tautan tidak dikenal" in response.text
    assert _stored(site, site.alerts["budi_open"]).state == "open"
