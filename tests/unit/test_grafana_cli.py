"""``tani grafana push`` end to end: the CLI's dashboards and data source reach a Grafana API.

Grafana cannot run on this machine (no package in our registries): the Grafana here is
``tests/unit/fake_grafana.py``, a local HTTP server keeping Grafana's API shapes and recording
every request.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from dashboards.catalog import all_dashboard_json
from tani.cli import app
from tests.unit.fake_grafana import TOKEN, fake_grafana

INFLUX = ["--influx-url", "http://influxdb:8086", "--influx-database", "tani"]


def _push(url: str, *extra: str) -> Result:
    return CliRunner().invoke(
        app,
        ["grafana", "push", "--url", url, *INFLUX, *extra],
        env={"TANI_GRAFANA_TOKEN": TOKEN, "TANI_GRAFANA_INFLUX_TOKEN": "influx-read-token"},
    )


def test_push_creates_everything_once_then_changes_nothing() -> None:
    uids = sorted(d["uid"] for d in all_dashboard_json())
    with fake_grafana() as (url, grafana):
        first = _push(url, "--json")
        assert first.exit_code == 0, first.output
        actions = {(c["kind"], c["uid"]): c["action"] for c in json.loads(first.stdout)["changes"]}
        assert set(actions.values()) == {"created"}
        assert sorted(uid for kind, uid in actions if kind == "dashboard") == uids
        source = grafana.datasources["tani-influxdb"]
        assert source["url"] == "http://influxdb:8086"
        assert source["jsonData"]["httpHeaderName1"] == "Authorization"

        writes = len(grafana.writes())
        again = _push(url)
        assert again.exit_code == 0, again.output
        assert f"0 created, 0 updated, {len(uids) + 2} unchanged" in again.stdout
        assert len(grafana.writes()) == writes  # nothing written, no version bumped


def test_push_says_what_is_missing_or_wrong() -> None:
    with fake_grafana() as (url, _):
        no_token = CliRunner().invoke(
            app, ["grafana", "push", "--url", url, *INFLUX], env={"TANI_GRAFANA_TOKEN": TOKEN}
        )
        assert no_token.exit_code == 2 and "--influx-token" in no_token.output
        wrong = _push(url, "--token", "glsa_wrong")
        assert wrong.exit_code == 1
        assert "token" in wrong.output.lower()
