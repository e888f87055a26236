"""The Grafana dashboards as code: they parse with the SDK's own models, say what they should,
query only what the schema has, and the committed provisioning tree is what the code writes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from agronomy.paddy import PaddySettings
from alerts.default_rules import DEFAULT_RULES, WATERLOGGED
from alerts.evaluator import EvaluationReport
from alerts.metrics import AlertsMetrics
from api.metrics import ApiMetrics
from api.ttl_cache import TtlCache
from dashboards.catalog import all_dashboard_json, all_dashboards, dashboard_json
from dashboards.common import local_day, local_week
from dashboards.influxql import InfluxQLQuery, ResultFormat, register
from dashboards.ops import ops_dashboard
from dashboards.provisioning import influx_datasource, tree
from ingest.metrics import IngestMetrics
from ingest.sequences import SequenceAudit
from ingest.service import IngestStats
from registry.store import Registry
from storage.water_days import WATER_FIELDS, WATER_MEASUREMENT
from tani.cli_grafana import grafana_app
from telemetry.quantities import QUANTITIES
from tests.unit.test_alert_delivery import (
    OFFICE_URL,
    OFFICER_URL,
    Clock,
    FakeSend,
    make_dispatcher,
    raise_alert,
    seed_site,
    wib_ms,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOYED = REPO / "deploy" / "grafana"

# What storage/schema.py documents: measurement -> fields; and the tags.
FIELDS = {
    "reading": {"value", "quality", "seq"},
    "gateway_health": {
        "uptime_s",
        "outbox_depth",
        "waiting_for_clock",
        "readings_sent",
        "readings_thinned",
        "clock_trusted",
        "devices_online",
        "devices_offline",
    },
    "device_health": {"online", "errors"},
    "rollup.reading_1h": {"mean", "min", "max", "count", "sum"},
    "rollup.reading_1d": {"mean", "min", "max", "count", "sum", "hours"},
    # storage/water_days.py's own list: the water balance the alerts service writes.
    f"rollup.{WATER_MEASUREMENT}": set(WATER_FIELDS),
}
TAGS = {
    "reading": {"gateway_id", "device_id", "quantity", "field_id", "village_id", "crop"},
    "gateway_health": {"gateway_id"},
    "device_health": {"gateway_id", "device_id"},
    f"rollup.{WATER_MEASUREMENT}": {"field_id", "village_id", "crop"},
}
TAGS["rollup.reading_1h"] = TAGS["rollup.reading_1d"] = TAGS["reading"]
GRAFANA_UNIT_IDS = {
    "soil_moisture": "percent",
    "soil_temperature": "celsius",
    "air_temperature": "celsius",
    "air_humidity": "percent",
    "air_pressure": "pressurehpa",
    "wind_speed": "velocityms",
    "wind_direction": "degree",
    "rain": "lengthmm",
    "solar_radiation": "Wm2",
}


def _threshold(name: str) -> float:
    (rule,) = [r for r in DEFAULT_RULES if r.name == name]
    assert rule.threshold is not None
    return rule.threshold


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def _queries(dashboard: dict[str, Any]) -> list[str]:
    queries = [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    for panel in _panels(dashboard):
        queries.extend(target["query"] for target in panel.get("targets", []))
    return queries


def _by_uid() -> dict[str, dict[str, Any]]:
    return {d["uid"]: d for d in all_dashboard_json()}


def test_every_dashboard_parses_with_the_sdk_models_and_encodes_back_the_same() -> None:
    # Panel options and field settings parse with each panel type's own model too.
    register_default_plugins()
    register()
    for encoded in all_dashboard_json():
        parsed = Dashboard.from_json(encoded)
        assert dashboard_json(parsed) == encoded
        panels = [p for p in parsed.panels or [] if isinstance(p, Panel)]
        targets = [t for p in panels for t in p.targets or []]
        assert targets, encoded["uid"]
        for target in targets:
            assert isinstance(target, InfluxQLQuery)
            assert target.raw_query is True
            assert target.result_format in (ResultFormat.TIME_SERIES, ResultFormat.TABLE)
            assert target.datasource is not None
            assert (target.datasource.type_val, target.datasource.uid) == (
                "influxdb",
                "tani-influxdb",
            )


def test_uids_titles_and_variables() -> None:
    dashboards = _by_uid()
    assert set(dashboards) == {"tani-field", "tani-village", "tani-gateway"}
    variables = {
        uid: {v["name"]: v for v in d["templating"]["list"]} for uid, d in dashboards.items()
    }
    assert set(variables["tani-field"]) == {"village", "field"}
    assert set(variables["tani-village"]) == {"village", "field", "api_url"}
    assert set(variables["tani-gateway"]) == {"gateway"}
    village = variables["tani-field"]["village"]
    assert village["query"] == 'SHOW TAG VALUES FROM "reading" WITH KEY = "village_id"'
    for uid in ("tani-field", "tani-village"):
        field = variables[uid]["field"]
        assert field["query"].endswith("WHERE \"village_id\" = '$village'")
    # One field on the field dashboard; several (regex) on the village overview.
    assert variables["tani-field"]["field"]["multi"] is False
    assert variables["tani-village"]["field"]["multi"] is True
    assert variables["tani-gateway"]["gateway"]["includeAll"] is True
    for uid, dashboard in dashboards.items():
        assert dashboard["title"] and dashboard["description"], uid
        assert "tani" in dashboard["tags"]
        ids = [p["id"] for p in _panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{uid}: panel ids repeat"
        for panel in _panels(dashboard):
            assert panel.get("title") and panel.get("description", panel["type"] == "row")


def test_alerts_are_a_link_to_the_api_page_not_a_query() -> None:
    village = _by_uid()["tani-village"]
    assert "SQLite" in village["description"] and "/peringatan" in village["description"]
    texts = [p["options"]["content"] for p in village["panels"] if p["type"] == "text"]
    assert any("${api_url}/peringatan" in text for text in texts)


def _quantity_of(query: str) -> str | None:
    match = re.search(r"\"quantity\" = '([a-z_]+)'", query)
    return match.group(1) if match else None


def test_panels_carry_the_catalogue_units() -> None:
    checked = set()
    for dashboard in all_dashboard_json():
        for panel in _panels(dashboard):
            for target in panel.get("targets", []):
                quantity = _quantity_of(target["query"])
                if quantity is None or panel["type"] == "table":
                    continue
                unit = panel["fieldConfig"]["defaults"]["unit"]
                if quantity in GRAFANA_UNIT_IDS:
                    assert unit == GRAFANA_UNIT_IDS[quantity], panel["title"]
                else:  # units Grafana lacks keep the catalogue's own text
                    unit_text = QUANTITIES[quantity].unit.replace("u", "µ")
                    assert unit in ("none", f"suffix: {unit_text}"), panel["title"]
                checked.add(quantity)
    assert checked == set(QUANTITIES)


def test_moisture_and_heat_thresholds_are_the_alert_rules() -> None:
    dry, hot = _threshold("padi-tanah-kering"), _threshold("padi-panas")
    seen = {"soil_moisture": 0, "air_temperature": 0}
    for dashboard in all_dashboard_json():
        for panel in _panels(dashboard):
            queries = [t["query"] for t in panel.get("targets", [])]
            quantities = {_quantity_of(q) for q in queries}
            if panel["type"] == "table" or not quantities & set(seen):
                continue
            steps = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
            if "soil_moisture" in quantities:
                assert steps == [None, dry, WATERLOGGED], panel["title"]
                seen["soil_moisture"] += 1
            else:
                assert steps == [None, hot], panel["title"]
                seen["air_temperature"] += 1
    assert seen["soil_moisture"] >= 4 and seen["air_temperature"] >= 2


_SOURCE = re.compile(r'FROM ((?:"rollup"\.)?"[a-z_0-9]+")')


def test_queries_use_only_measurements_tags_and_fields_of_the_schema() -> None:
    queries = [q for d in all_dashboard_json() for q in _queries(d)]
    assert len(queries) > 30
    for query in queries:
        sources = _SOURCE.findall(query)
        assert len(sources) == 1, query
        measurement = sources[0].replace('"', "")
        assert measurement in FIELDS, query
        aliases = set(re.findall(r' AS "([^"]+)"', query))
        rest = query.replace(sources[0], "")
        for name in set(re.findall(r'"([^"]+)"', rest)) - aliases:
            assert name in FIELDS[measurement] | TAGS[measurement], f"{name!r} in {query}"
        for quantity in re.findall(r"\"quantity\" = '([^']+)'", query):
            assert quantity in QUANTITIES, query
        for alternatives in re.findall(r'"quantity" =~ /\^\(([^)]+)\)\$/', query):
            assert set(alternatives.split("|")) <= set(QUANTITIES), query
        assert "$timeFilter" in query or query.startswith("SHOW TAG VALUES"), query


_WATER_SOURCE = f'FROM "rollup"."{WATER_MEASUREMENT}"'
_MM = "lengthmm"


def _water_panels(uid: str) -> dict[str, dict[str, Any]]:
    """The panels of a dashboard that read water_1d, by title."""
    return {
        panel["title"]: panel
        for panel in _panels(_by_uid()[uid])
        if any(_WATER_SOURCE in t["query"] for t in panel.get("targets", []))
    }


def _query(panel: dict[str, Any]) -> str:
    (target,) = panel["targets"]
    query: str = target["query"]
    return query


def _overrides(panel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A panel's per-series settings: {series name: {property: value}}."""
    return {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in panel["fieldConfig"]["overrides"]
    }


def test_field_dashboard_has_a_crop_water_row_of_daily_water_1d_panels() -> None:
    field = _by_uid()["tani-field"]
    titles = [p["title"] for p in field["panels"]]
    row = titles.index("Air tanaman / Crop water")
    assert field["panels"][row]["type"] == "row"
    panels = _water_panels("tani-field")
    # The row holds exactly the water panels, Indonesian / English titles.
    assert titles[row + 1 : row + 1 + len(panels)] == list(panels)
    assert len(panels) == 4
    series = {}
    for title, panel in panels.items():
        assert " / " in title
        query = _query(panel)
        assert "\"field_id\" = '$field'" in query and "$timeFilter" in query, title
        # Each point is one local day already: no GROUP BY time cutting days at UTC midnight.
        assert "GROUP BY" not in query, title
        assert panel["fieldConfig"]["defaults"]["unit"] == _MM, title
        assert panel["timeFrom"] == "30d", title
        assert panel["targets"][0]["alias"] == "$col", title
        names = re.findall(r'"([a-z_0-9]+)" AS "([^"]+)"', query)
        series[title.split(" / ")[1]] = dict(names)
        # Overrides name series as the query's AS names (Grafana's $col) call them.
        assert set(_overrides(panel)) <= set(dict(names).values()), title
    assert series == {
        "Daily evapotranspiration": {"et0_mm": "ET0", "etc_mm": "ETc", "etc_adj_mm": "ETc adj"},
        "Daily rain and irrigation": {"rain_mm": "Hujan", "irrigation_mm": "Irigasi"},
        "Root-zone depletion": {"depletion_mm": "Dr", "raw_mm": "RAW", "taw_mm": "TAW"},
        "Paddy water level": {"water_level_mm": "Muka air"},
    }
    rain = panels["Hujan dan irigasi harian / Daily rain and irrigation"]["fieldConfig"]
    assert rain["defaults"]["custom"]["drawStyle"] == "bars"
    assert rain["defaults"]["custom"]["stacking"]["mode"] == "normal"


def test_depletion_is_drawn_against_raw_dashed_and_taw_faint() -> None:
    panel = _water_panels("tani-field")["Kekurangan air zona akar / Root-zone depletion"]
    overrides = _overrides(panel)
    assert "Dr" not in overrides  # the solid line of the palette
    assert overrides["RAW"]["custom.lineStyle"]["fill"] == "dash"
    assert overrides["TAW"]["custom.lineWidth"] == 1
    assert overrides["TAW"]["color"]["fixedColor"].startswith("rgba(")
    assert "Above RAW the crop is stressed" in panel["description"]
    assert "FAO-56 eq. 83-84" in panel["description"]


def test_paddy_water_level_draws_the_awd_irrigation_level_of_the_catalogue() -> None:
    panel = _water_panels("tani-field")["Muka air sawah / Paddy water level"]
    awd = PaddySettings().awd_threshold_mm
    assert awd == -150.0  # IRRI's safe AWD: 15 cm below the surface
    defaults = panel["fieldConfig"]["defaults"]
    assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, awd]
    assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert f"{awd:g} mm" in panel["description"]


def test_village_shows_fields_needing_water_today_and_weekly_et0_and_rain() -> None:
    panels = _water_panels("tani-village")
    assert all(" / " in title for title in panels)
    in_village = '"village_id" = \'$village\' AND "field_id" =~ /^$field$/'
    assert all(in_village in _query(panel) for panel in panels.values())
    count = panels["Lahan perlu air hari ini / Fields needing water today"]
    assert count["type"] == "stat" and count["timeFrom"] == "24h"
    # Today's point of each field once (last per field), then their sum.
    assert re.fullmatch(
        r'SELECT sum\("needs_water"\) AS "Lahan" FROM \(SELECT last\("needs_water"\) AS '
        r'"needs_water" FROM .* GROUP BY "field_id"\)',
        _query(count),
    )
    steps = count["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "green"), (1, "orange")]
    today = panels["Neraca air hari ini / Water balance today"]
    assert today["type"] == "table" and today["timeFrom"] == "24h"
    columns = _overrides(today)
    assert columns.pop("Perlu air")["mappings"][0]["options"]["1"]["text"] == "ya"
    assert set(columns) == {"Dr", "RAW", "TAW", "Muka air", "ETc", "Hujan", "Irigasi"}
    assert all(settings == {"unit": _MM} for settings in columns.values())
    weekly = panels["ET0 dan hujan per minggu / Weekly ET0 and rain"]
    assert weekly["timeFrom"] == "12w"
    assert weekly["fieldConfig"]["defaults"]["unit"] == _MM
    query = _query(weekly)
    # Mean over fields per local day inside, summed per local week outside.
    assert re.fullmatch(
        r'SELECT sum\("et0_mm"\) AS "ET0", sum\("rain_mm"\) AS "Hujan" FROM \(SELECT '
        r'mean\("et0_mm"\) AS "et0_mm", mean\("rain_mm"\) AS "rain_mm" FROM .* GROUP BY '
        + re.escape(local_day())
        + r" fill\(none\)\) WHERE \$timeFilter GROUP BY "
        + re.escape(local_week())
        + r" fill\(none\)",
        query,
    )
    assert "GROUP BY time(7d, 89h)" in query  # the default layout's WIB
    assert _overrides(weekly)["ET0"]["custom.drawStyle"] == "line"


@pytest.mark.parametrize("utc_offset_h", [7, 8, 9, 0, -5, 14, -12])
def test_local_days_start_at_local_midnight_and_weeks_on_monday(utc_offset_h: int) -> None:
    zone = timedelta(hours=utc_offset_h)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    day = re.fullmatch(r"time\(1d, (\d+)h\)", local_day(utc_offset_h))
    week = re.fullmatch(r"time\(7d, (\d+)h\)", local_week(utc_offset_h))
    assert day and week
    # InfluxDB's buckets start at the epoch plus the offset (mod the interval).
    day_start = epoch + timedelta(hours=int(day.group(1))) + zone
    week_start = epoch + timedelta(hours=int(week.group(1))) + zone
    assert int(day.group(1)) < 24 and int(week.group(1)) < 7 * 24
    assert (day_start.hour, day_start.minute) == (0, 0)
    assert (week_start.weekday(), week_start.hour, week_start.minute) == (0, 0, 0)


def test_datasource_for_influxdb_2_sends_the_token_header_and_1_a_user() -> None:
    v2 = influx_datasource(2, url="http://influxdb:8086", database="tani", token="s3cret")
    assert v2["uid"] == "tani-influxdb" and v2["type"] == "influxdb"
    assert v2["jsonData"]["dbName"] == "tani" and v2["jsonData"]["version"] == "InfluxQL"
    assert v2["jsonData"]["httpHeaderName1"] == "Authorization"
    assert v2["secureJsonData"] == {"httpHeaderValue1": "Token s3cret"}
    v1 = influx_datasource(1, url="http://x:8086", database="tani", user="g", password="p")
    assert (v1["user"], v1["secureJsonData"]) == ("g", {"password": "p"})
    assert "httpHeaderName1" not in v1["jsonData"]
    with pytest.raises(ValueError, match="token"):
        influx_datasource(2, url="http://x", database="tani")


@pytest.mark.parametrize("version", [1, 2])
def test_provisioning_files_leave_address_and_secrets_to_grafanas_environment(
    version: int,
) -> None:
    files = tree(2 if version == 2 else 1)
    (source,) = yaml.safe_load(files["provisioning/datasources/tani.yaml"])["datasources"]
    assert source["url"] == "${INFLUXDB_URL}"
    assert source["jsonData"]["dbName"] == "${INFLUXDB_DATABASE}"
    if version == 2:
        assert source["secureJsonData"] == {"httpHeaderValue1": "Token ${INFLUXDB_TOKEN}"}
    else:
        assert source["user"] == "${INFLUXDB_USER}"
        assert source["secureJsonData"] == {"password": "${INFLUXDB_PASSWORD}"}
    (provider,) = yaml.safe_load(files["provisioning/dashboards/tani.yaml"])["providers"]
    assert (provider["type"], provider["folder"]) == ("file", "Tani Hub")
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/tani"
    dashboards = {path: json.loads(text) for path, text in files.items() if path.endswith("json")}
    assert {d["uid"] for d in dashboards.values()} == {m.uid for m in all_dashboards()}
    for path, dashboard in dashboards.items():
        assert path == f"dashboards/{dashboard['uid']}.json"


def test_the_committed_deploy_tree_is_what_the_code_writes() -> None:
    """Run `tani grafana export deploy/grafana --influx 2` after changing a dashboard."""
    expected = tree(2)
    committed = {
        str(path.relative_to(DEPLOYED)): path.read_text(encoding="utf-8")
        for path in DEPLOYED.rglob("*")
        if path.is_file()
    }
    assert sorted(committed) == sorted(expected)
    for relative, text in expected.items():
        assert committed[relative] == text, f"deploy/grafana/{relative} is out of date"


def test_export_command_writes_the_tree(tmp_path: Path) -> None:
    app = typer.Typer()
    app.add_typer(grafana_app, name="grafana")
    result = CliRunner().invoke(app, ["grafana", "export", str(tmp_path), "--influx", "1"])
    assert result.exit_code == 0, result.output
    for relative, text in tree(1).items():
        assert (tmp_path / relative).read_text(encoding="utf-8") == text
    assert not (tmp_path / "dashboards" / "tani-ops.json").exists()
    with_ops = CliRunner().invoke(app, ["grafana", "export", str(tmp_path / "ops"), "--ops"])
    assert with_ops.exit_code == 0, with_ops.output
    for relative, text in tree(2, ops=True).items():
        assert (tmp_path / "ops" / relative).read_text(encoding="utf-8") == text
    refused = CliRunner().invoke(app, ["grafana", "export", str(tmp_path), "--influx", "3"])
    assert refused.exit_code == 2


def _sample_names(registry: CollectorRegistry) -> set[str]:
    text = generate_latest(registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def _exposed_metric_names(tmp_path: Path) -> set[str]:
    """The sample names real ingest, API and alerts metrics registries serve on /metrics."""
    ingest = IngestMetrics(
        lambda: IngestStats(rejected_by_reason={"malformed_payload": 1}),
        lambda: {"gw-1": SequenceAudit("gw-1", stored=9, lowest=1, highest=10)},
        lambda: (3, 12.5),
    )
    ingest.write_seconds.observe(0.01)
    api = ApiMetrics(lambda: [TtlCache(10, name="latest")])
    api.requests.labels("/api/v1/fields/{field_id}/latest", "GET", "200").inc()
    api.request_seconds.labels("/api/v1/fields/{field_id}/latest").observe(0.01)
    registry = Registry.from_path(tmp_path / "registry.sqlite3")
    try:
        # An alert whose opening failed for good, another's waiting for a retry.
        seed_site(registry, officer_url=OFFICER_URL, office_url=OFFICE_URL)
        clock, down = Clock(wib_ms(12, 9)), FakeSend(failing={OFFICER_URL: "down"})
        raise_alert(registry, clock.now_ms)
        make_dispatcher(registry, clock, down, max_attempts=1).run_once()
        raise_alert(registry, clock.now_ms)
        make_dispatcher(registry, clock, down).run_once()
        alerts = AlertsMetrics(registry)
        alerts.evaluation_pass(EvaluationReport(), 0.5)
        alert_names = _sample_names(alerts.registry)
    finally:
        registry.close()
    return _sample_names(ingest.registry) | _sample_names(api.registry) | alert_names


def test_ops_dashboard_asks_prometheus_only_for_metrics_the_services_serve(
    tmp_path: Path,
) -> None:
    register_default_plugins()
    encoded = dashboard_json(ops_dashboard())
    parsed = Dashboard.from_json(encoded)
    assert dashboard_json(parsed) == encoded
    exprs = []
    for panel in parsed.panels or []:
        if isinstance(panel, RowPanel):
            continue
        assert isinstance(panel, Panel) and panel.datasource is not None
        assert panel.datasource.uid == "tani-prometheus"
        for target in panel.targets or []:
            assert isinstance(target, prometheus.Dataquery)
            exprs.append(target.expr)
    exposed = _exposed_metric_names(tmp_path)
    used = {name for expr in exprs for name in re.findall(r"\btani_[a-z_]+", expr)}
    assert used <= exposed, used - exposed
    for service in ("ingest", "api", "alerts"):
        assert len({name for name in used if name.startswith(f"tani_{service}_")}) >= 4, service


def test_ops_dashboard_and_prometheus_only_on_request() -> None:
    assert "dashboards/tani-ops.json" not in tree(2)
    files = tree(2, ops=True)
    assert json.loads(files["dashboards/tani-ops.json"])["uid"] == "tani-ops"
    sources = yaml.safe_load(files["provisioning/datasources/tani.yaml"])["datasources"]
    assert [(s["uid"], s["url"]) for s in sources] == [
        ("tani-influxdb", "${INFLUXDB_URL}"),
        ("tani-prometheus", "${PROMETHEUS_URL}"),
    ]
