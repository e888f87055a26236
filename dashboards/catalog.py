"""Every Tani Hub dashboard, as SDK models and as the JSON Grafana stores."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.field import field_dashboard
from dashboards.gateway import gateway_dashboard
from dashboards.ops import ops_dashboard
from dashboards.village import DEFAULT_API_URL, village_dashboard


def all_dashboards(api_url: str = DEFAULT_API_URL, *, ops: bool = False) -> list[Dashboard]:
    """The field, village and gateway dashboards, and with ``ops`` the Prometheus one (it
    needs a Prometheus scraping ingest); ``api_url`` is where people's browsers reach the
    Tani Hub pages (the village dashboard links to its alerts page)."""
    dashboards = [field_dashboard(), village_dashboard(api_url), gateway_dashboard()]
    return [*dashboards, ops_dashboard()] if ops else dashboards


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """One dashboard as a JSON-ready dict, encoded by the SDK's own encoder."""
    encoded: dict[str, Any] = json.loads(json.dumps(dashboard, cls=JSONEncoder))
    return encoded


def all_dashboard_json(
    api_url: str = DEFAULT_API_URL, *, ops: bool = False
) -> list[dict[str, Any]]:
    """Every dashboard as a JSON-ready dict, e.g. for ``dashboards.push.push``."""
    return [dashboard_json(dashboard) for dashboard in all_dashboards(api_url, ops=ops)]
