"""Grafana commands: write the dashboards and data source as provisioning files.

The dashboards module (and the Grafana SDK) is imported inside the commands: ``tani`` on a
Raspberry Pi (gateway extra only) must start without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

grafana_app = typer.Typer(
    help="Dasbor Grafana / Grafana dashboards and data source.", no_args_is_help=True
)


@grafana_app.command("export")
def export(
    directory: Annotated[
        Path, typer.Argument(help="Folder to write provisioning/ and dashboards/ into.")
    ],
    influx: Annotated[
        int,
        typer.Option(
            "--influx",
            min=1,
            max=2,
            help="InfluxDB major version of the data source: 1 (user, password) or 2 (token, "
            "InfluxQL through a DBRP mapping).",
        ),
    ] = 2,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="Where browsers reach the Tani Hub pages, for links to /peringatan "
            "(default http://localhost:8000).",
        ),
    ] = None,
    ops: Annotated[
        bool,
        typer.Option(
            "--ops",
            help="Also the operations dashboard of ingest's Prometheus metrics and a Prometheus "
            "data source at ${PROMETHEUS_URL} (needs a Prometheus scraping ingest).",
        ),
    ] = False,
) -> None:
    """Tulis berkas provisioning Grafana / write Grafana provisioning files and dashboards.

    The data source's address and secrets stay out of the files: Grafana reads INFLUXDB_URL,
    INFLUXDB_DATABASE and INFLUXDB_TOKEN (2.x) or INFLUXDB_USER and INFLUXDB_PASSWORD (1.x)
    from its environment.
    """
    from dashboards.provisioning import write_tree
    from dashboards.village import DEFAULT_API_URL

    version = 2 if influx == 2 else 1
    for path in write_tree(directory, version, api_url or DEFAULT_API_URL, ops=ops):
        typer.echo(path)


@grafana_app.command("push")
def push(
    url: Annotated[str, typer.Option(help="Grafana, e.g. http://10.0.0.2:3000.")],
    token: Annotated[
        str,
        typer.Option(
            envvar="TANI_GRAFANA_TOKEN",
            help="A Grafana service account token (Admin role, for the data source).",
        ),
    ],
    influx_url: Annotated[
        str, typer.Option(help="InfluxDB as Grafana reaches it, e.g. http://influxdb:8086.")
    ],
    influx_database: Annotated[
        str, typer.Option(help="Database (2.x: the DBRP-mapped name ingest created).")
    ] = "tani",
    influx: Annotated[int, typer.Option("--influx", min=1, max=2, help="1 or 2.")] = 2,
    influx_token: Annotated[
        str | None, typer.Option(envvar="TANI_GRAFANA_INFLUX_TOKEN", help="2.x read token.")
    ] = None,
    influx_user: Annotated[str | None, typer.Option(help="1.x user, if any.")] = None,
    influx_password: Annotated[
        str | None, typer.Option(envvar="TANI_GRAFANA_INFLUX_PASSWORD", help="1.x password.")
    ] = None,
    api_url: Annotated[
        str | None, typer.Option(help="Where browsers reach the Tani Hub pages.")
    ] = None,
    verify_tls: Annotated[
        bool, typer.Option("--verify-tls/--no-verify-tls", help="Check Grafana's certificate.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Kirim ke Grafana / create or update the data source, folder and dashboards in a running
    Grafana through its HTTP API; what is already equal is left alone (no version bump)."""
    from dashboards.catalog import all_dashboard_json
    from dashboards.common import FOLDER_TITLE, FOLDER_UID
    from dashboards.provisioning import influx_datasource
    from dashboards.push import GrafanaPushError
    from dashboards.push import push as push_to_grafana
    from dashboards.village import DEFAULT_API_URL

    if influx == 2 and not influx_token:
        typer.echo("--influx-token (or TANI_GRAFANA_INFLUX_TOKEN) is needed for 2.x", err=True)
        raise typer.Exit(2)
    source = influx_datasource(
        2 if influx == 2 else 1,
        url=influx_url,
        database=influx_database,
        token=influx_token,
        user=influx_user,
        password=influx_password,
    )
    try:
        report = push_to_grafana(
            url,
            token,
            source,
            FOLDER_UID,
            FOLDER_TITLE,
            all_dashboard_json(api_url or DEFAULT_API_URL),
            verify_tls=verify_tls,
        )
    except (GrafanaPushError, ValueError) as exc:
        typer.echo(f"Gagal / push failed: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        changes = [{"kind": c.kind, "uid": c.uid, "action": c.action} for c in report.changes]
        typer.echo(json.dumps({"changes": changes, "summary": report.summary()}, indent=2))
        return
    for change in report.changes:
        typer.echo(f"{change.action:9} {change.kind:10} {change.uid}")
    typer.echo(report.summary())
