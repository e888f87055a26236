"""Grafana provisioning files for Tani Hub, and the same data source for Grafana's HTTP API.

:func:`write_tree` writes what a Grafana server reads at start-up::

    <dir>/provisioning/datasources/tani.yaml   the InfluxDB data source (uid tani-influxdb)
    <dir>/provisioning/dashboards/tani.yaml    a file provider: folder "Tani Hub"
    <dir>/dashboards/<uid>.json                one file per dashboard

Mount ``<dir>/provisioning`` at ``/etc/grafana/provisioning`` and ``<dir>/dashboards`` at
``/var/lib/grafana/dashboards/tani``. The data source's address and secrets are not in the
files: Grafana fills in ``${INFLUXDB_URL}``, ``${INFLUXDB_DATABASE}`` and ``${INFLUXDB_TOKEN}``
(2.x) or ``${INFLUXDB_USER}``/``${INFLUXDB_PASSWORD}`` (1.x) from its environment.

Queries are InfluxQL on every version (DESIGN.md): 1.x answers it natively; 2.x through its v1
compatibility API, where the database is the DBRP-mapped name (ingest creates the mapping) and
the token goes in an ``Authorization: Token ...`` header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from dashboards.catalog import all_dashboard_json
from dashboards.common import FOLDER_TITLE, FOLDER_UID
from dashboards.influxql import DATASOURCE_TYPE, DATASOURCE_UID
from dashboards.ops import PROMETHEUS_TYPE, PROMETHEUS_UID
from dashboards.village import DEFAULT_API_URL

InfluxVersion = Literal[1, 2]
DATASOURCE_NAME = "Tani Hub InfluxDB"
# Where the dashboards provider reads the JSON files inside the Grafana container.
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/tani"
_HEADER = "# Written by `tani grafana export` from dashboards/provisioning.py: do not edit.\n"


def influx_datasource(
    version: InfluxVersion,
    *,
    url: str,
    database: str,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The InfluxDB data source as Grafana's API and provisioning files both describe it.

    1.x takes ``user`` and ``password``; 2.x takes ``token`` and the DBRP-mapped ``database``.
    """
    source: dict[str, Any] = {
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "uid": DATASOURCE_UID,
        "access": "proxy",
        "url": url,
        # Grafana 8+ reads jsonData.dbName; older ones, and some tools, the top-level key.
        "database": database,
        "jsonData": {"version": "InfluxQL", "dbName": database, "httpMode": "GET"},
    }
    if version == 2:
        if token is None:
            raise ValueError("InfluxDB 2.x needs a token")
        source["jsonData"]["httpHeaderName1"] = "Authorization"
        source["secureJsonData"] = {"httpHeaderValue1": f"Token {token}"}
    elif version == 1:
        if user:
            source["user"] = user
            source["secureJsonData"] = {"password": password or ""}
    else:
        raise ValueError(f"InfluxDB version {version!r}: use 1 or 2")
    return source


def prometheus_datasource(url: str) -> dict[str, Any]:
    """The Prometheus that scrapes ingest's /metrics (for the ops dashboard only)."""
    return {
        "name": "Tani Hub Prometheus",
        "type": PROMETHEUS_TYPE,
        "uid": PROMETHEUS_UID,
        "access": "proxy",
        "url": url,
    }


def provisioned_datasource(version: InfluxVersion) -> dict[str, Any]:
    """The data source with its address and secrets left to Grafana's environment."""
    if version == 2:
        return influx_datasource(
            2, url="${INFLUXDB_URL}", database="${INFLUXDB_DATABASE}", token="${INFLUXDB_TOKEN}"
        )
    return influx_datasource(
        1,
        url="${INFLUXDB_URL}",
        database="${INFLUXDB_DATABASE}",
        user="${INFLUXDB_USER}",
        password="${INFLUXDB_PASSWORD}",
    )


def dashboard_provider() -> dict[str, Any]:
    """The file provider that loads the dashboards into the Tani Hub folder."""
    return {
        "name": "tani-hub",
        "orgId": 1,
        "folder": FOLDER_TITLE,
        "folderUid": FOLDER_UID,
        "type": "file",
        "disableDeletion": False,
        # Dashboards are code: a change saved in Grafana would be lost at the next export.
        "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
    }


def tree(
    version: InfluxVersion, api_url: str = DEFAULT_API_URL, *, ops: bool = False
) -> dict[str, str]:
    """Every file of the provisioning tree: relative path -> text. With ``ops``, also the
    Prometheus data source (``${PROMETHEUS_URL}``) and the ops dashboard."""
    sources = [provisioned_datasource(version)]
    if ops:
        sources.append(prometheus_datasource("${PROMETHEUS_URL}"))
    files = {
        "provisioning/datasources/tani.yaml": _HEADER
        + to_yaml({"apiVersion": 1, "datasources": sources}),
        "provisioning/dashboards/tani.yaml": _HEADER
        + to_yaml({"apiVersion": 1, "providers": [dashboard_provider()]}),
    }
    for dashboard in all_dashboard_json(api_url, ops=ops):
        text = json.dumps(dashboard, indent=2, ensure_ascii=False)
        files[f"dashboards/{dashboard['uid']}.json"] = text + "\n"
    return files


def write_tree(
    directory: Path, version: InfluxVersion, api_url: str = DEFAULT_API_URL, *, ops: bool = False
) -> list[Path]:
    """Write the provisioning tree under ``directory``; the paths written."""
    written = []
    for relative, text in tree(version, api_url, ops=ops).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def to_yaml(value: Any, indent: int = 0) -> str:
    """YAML block text for dicts, lists and scalars (no PyYAML on a lean server install).

    Strings are written as JSON strings, which YAML reads as double-quoted scalars.
    """
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}\n")
        return "".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            body = to_yaml(item, indent + 2)
            # The first line of the item goes after the dash.
            lines.append(f"{pad}- {body[indent + 2 :]}")
        return "".join(lines)
    return f"{pad}{_scalar(value)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value, ensure_ascii=False)
