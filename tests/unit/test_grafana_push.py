"""`dashboards.push` against a recorded-request stand-in for Grafana's HTTP API.

Grafana itself cannot run on this machine (no package in our registries), so these tests start
tests/unit/fake_grafana.py: a local HTTP server that answers the endpoints the push uses the way
Grafana's API documentation shows them, with in-memory state, and records every request. The
push goes through the real grafana_client library and real HTTP.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from dashboards.push import Change, GrafanaPushError, push
from tani.stack import free_ports
from tests.unit.fake_grafana import TOKEN, VIEWER_TOKEN, GrafanaState, Request, fake_grafana

DATASOURCE: dict[str, Any] = {
    "uid": "tani-influx",
    "name": "Tani InfluxDB",
    "type": "influxdb",
    "url": "http://127.0.0.1:8086",
    "access": "proxy",
    "jsonData": {"dbName": "tani", "httpMode": "GET"},
    "secureJsonData": {"password": "rahasia"},
}
FOLDER_UID = "tani-hub"
FOLDER_TITLE = "Tani Hub"


def _dashboard(uid: str, title: str, panel_title: str = "Kelembapan tanah") -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["tani"],
        "timezone": "browser",
        "schemaVersion": 39,
        "panels": [{"id": 1, "type": "timeseries", "title": panel_title}],
    }


DASHBOARDS = [_dashboard("tani-lahan", "Lahan"), _dashboard("tani-desa", "Desa")]


def _push(url: str, token: str = TOKEN, **changes: Any) -> list[Change]:
    args: dict[str, Any] = {
        "datasource": DATASOURCE,
        "folder_uid": FOLDER_UID,
        "folder_title": FOLDER_TITLE,
        "dashboards": DASHBOARDS,
    }
    args.update(changes)
    return push(url, token, timeout_s=5.0, **args).changes


def _saved(state: GrafanaState, uid: str) -> dict[str, Any]:
    return state.dashboards[uid]["dashboard"]


def _post_db(dashboard: dict[str, Any], version: int | None = None) -> Request:
    model = dict(dashboard) if version is None else {**dashboard, "version": version}
    body = {
        "dashboard": model,
        "folderUid": FOLDER_UID,
        "overwrite": False,
        "message": "tani grafana push",
    }
    return Request("POST", "/api/dashboards/db", body)


def test_first_push_creates_everything_in_order() -> None:
    with fake_grafana() as (url, state):
        changes = _push(url)

    assert state.requests == [
        Request("GET", "/api/datasources/uid/tani-influx", None),
        Request("POST", "/api/datasources", DATASOURCE),
        Request("GET", "/api/folders/tani-hub", None),
        Request("POST", "/api/folders", {"uid": FOLDER_UID, "title": FOLDER_TITLE}),
        Request("GET", "/api/dashboards/uid/tani-lahan", None),
        _post_db(DASHBOARDS[0]),
        Request("GET", "/api/dashboards/uid/tani-desa", None),
        _post_db(DASHBOARDS[1]),
    ]
    assert changes == [
        Change("datasource", "tani-influx", "created"),
        Change("folder", "tani-hub", "created"),
        Change("dashboard", "tani-lahan", "created"),
        Change("dashboard", "tani-desa", "created"),
    ]
    assert state.dashboards["tani-lahan"]["meta"]["folderUid"] == FOLDER_UID
    assert _saved(state, "tani-lahan")["version"] == 1


def test_second_identical_push_only_reads() -> None:
    with fake_grafana() as (url, state):
        _push(url)
        versions = {uid: _saved(state, uid)["version"] for uid in state.dashboards}
        del state.requests[:]
        report = push(url, TOKEN, DATASOURCE, FOLDER_UID, FOLDER_TITLE, DASHBOARDS)

    assert [(r.method, r.path) for r in state.requests] == [
        ("GET", "/api/datasources/uid/tani-influx"),
        ("GET", "/api/folders/tani-hub"),
        ("GET", "/api/dashboards/uid/tani-lahan"),
        ("GET", "/api/dashboards/uid/tani-desa"),
    ]
    assert {uid: _saved(state, uid)["version"] for uid in state.dashboards} == versions
    assert {change.action for change in report.changes} == {"unchanged"}
    assert report.written == []
    assert report.summary() == "0 created, 0 updated, 4 unchanged"


def test_changed_dashboard_is_saved_once_with_the_version_it_replaces() -> None:
    changed = _dashboard("tani-desa", "Desa", panel_title="Curah hujan")
    with fake_grafana() as (url, state):
        _push(url)
        _push(url)  # a second save of the same model must not have bumped the version
        del state.requests[:]
        changes = _push(url, dashboards=[DASHBOARDS[0], changed])

    assert state.writes() == [_post_db(changed, version=1)]
    assert _saved(state, "tani-desa")["version"] == 2
    assert _saved(state, "tani-desa")["panels"][0]["title"] == "Curah hujan"
    assert _saved(state, "tani-lahan")["version"] == 1
    assert changes[2:] == [
        Change("dashboard", "tani-lahan", "unchanged"),
        Change("dashboard", "tani-desa", "updated"),
    ]


def test_dashboard_in_another_folder_is_moved_back() -> None:
    with fake_grafana() as (url, state):
        _push(url)
        state.dashboards["tani-lahan"]["meta"]["folderUid"] = ""  # moved to the root in the UI
        del state.requests[:]
        changes = _push(url)

    assert state.writes() == [_post_db(DASHBOARDS[0], version=1)]
    assert state.dashboards["tani-lahan"]["meta"]["folderUid"] == FOLDER_UID
    assert changes[2] == Change("dashboard", "tani-lahan", "updated")


def test_changed_datasource_and_folder_title_are_updated() -> None:
    moved = copy.deepcopy(DATASOURCE)
    moved["url"] = "http://10.0.0.5:8086"
    with fake_grafana() as (url, state):
        _push(url)
        del state.requests[:]
        changes = _push(url, datasource=moved, folder_title="Tani Hub Way Kanan", dashboards=[])

    assert state.writes() == [
        Request("PUT", "/api/datasources/uid/tani-influx", moved),
        Request("PUT", "/api/folders/tani-hub", {"title": "Tani Hub Way Kanan", "version": 1}),
    ]
    assert state.datasources["tani-influx"]["url"] == "http://10.0.0.5:8086"
    assert state.folders["tani-hub"]["title"] == "Tani Hub Way Kanan"
    assert changes == [
        Change("datasource", "tani-influx", "updated"),
        Change("folder", "tani-hub", "updated"),
    ]


def test_datasource_secrets_count_by_key_not_by_value() -> None:
    other_password = {**DATASOURCE, "secureJsonData": {"password": "lain"}}
    with fake_grafana() as (url, state):
        _push(url)
        del state.requests[:]
        # Grafana never returns secret values: a new password alone cannot be seen...
        assert _push(url, datasource=other_password, dashboards=[])[0].action == "unchanged"
        # ...but a secret Grafana does not hold at all can.
        state.datasources["tani-influx"]["secureJsonFields"] = {}
        assert _push(url, datasource=other_password, dashboards=[])[0].action == "updated"

    assert [(r.method, r.path) for r in state.writes()] == [
        ("PUT", "/api/datasources/uid/tani-influx")
    ]


def test_wrong_token_says_to_check_the_service_account_token() -> None:
    with fake_grafana() as (url, state), pytest.raises(GrafanaPushError, match="401") as caught:
        _push(url, token="glsa_wrong")

    assert "service account token" in str(caught.value)
    assert url in str(caught.value)
    assert state.writes() == []


def test_token_without_write_rights_says_which_role_is_needed() -> None:
    with fake_grafana() as (url, state), pytest.raises(GrafanaPushError, match="403") as caught:
        _push(url, token=VIEWER_TOKEN)

    assert "creating data source 'Tani InfluxDB'" in str(caught.value)
    assert "Admin role" in str(caught.value)
    assert state.datasources == {}


def test_datasource_name_taken_under_another_uid_says_what_to_do() -> None:
    with fake_grafana() as (url, state):
        _push(url, datasource={**DATASOURCE, "uid": "made-by-hand"}, dashboards=[])
        with pytest.raises(GrafanaPushError, match="409") as caught:
            _push(url)

    assert "rename or delete it in Grafana" in str(caught.value)
    assert set(state.datasources) == {"made-by-hand"}


def test_slow_grafana_is_a_timeout_error() -> None:
    with fake_grafana() as (url, state):
        state.answer_delay_s = 1.0
        with pytest.raises(GrafanaPushError, match="did not answer in time"):
            push(url, TOKEN, DATASOURCE, FOLDER_UID, FOLDER_TITLE, [], timeout_s=0.2)


def test_objects_without_uid_are_refused_before_any_request() -> None:
    with fake_grafana() as (url, state):
        with pytest.raises(ValueError, match="uid"):
            _push(url, dashboards=[{"title": "Tanpa uid"}])
        with pytest.raises(ValueError, match="uid"):
            _push(url, datasource={**DATASOURCE, "uid": ""})

    assert state.requests == []


def test_unreachable_grafana_names_the_url_to_check() -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    with pytest.raises(GrafanaPushError, match="cannot reach Grafana") as caught:
        _push(url)

    assert url in str(caught.value)
    assert "check the URL" in str(caught.value)


def test_dashboard_saved_in_grafana_meanwhile_is_not_overwritten() -> None:
    changed = _dashboard("tani-lahan", "Lahan", panel_title="Suhu tanah")
    with fake_grafana() as (url, state):
        _push(url)
        state.saved_by_someone_after_read.add("tani-lahan")
        with pytest.raises(GrafanaPushError, match="someone saved a change") as caught:
            _push(url, dashboards=[changed])

    assert "'Lahan'" in str(caught.value)
    assert "nothing was overwritten" in str(caught.value)
    # The person's save (version 2) stands; ours carried version 1 and was refused.
    assert _saved(state, "tani-lahan")["version"] == 2
    assert _saved(state, "tani-lahan")["panels"][0]["title"] == "Kelembapan tanah"
    assert state.writes()[-1] == _post_db(changed, version=1)


def test_provisioned_dashboard_is_not_written_and_the_error_says_why() -> None:
    changed = _dashboard("tani-lahan", "Lahan", panel_title="Suhu tanah")
    with fake_grafana() as (url, state):
        _push(url)
        state.dashboards["tani-lahan"]["meta"]["provisioned"] = True
        del state.requests[:]
        with pytest.raises(GrafanaPushError, match="provisioned from files"):
            _push(url, dashboards=[changed])

    assert state.writes() == []


def test_grafana_under_a_sub_path_and_bad_urls() -> None:
    with fake_grafana() as (url, state), pytest.raises(GrafanaPushError, match="404"):
        _push(f"{url}/grafana")  # this server is not under /grafana: its 404 names the URL
    assert state.requests[0].path == "/grafana/api/datasources/uid/tani-influx"

    with pytest.raises(GrafanaPushError, match=re.escape("http://127.0.0.1:3000")):
        _push("127.0.0.1:3000")
