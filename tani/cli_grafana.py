"""Grafana commands: write the dashboards and data source as provisioning files.

The dashboards module (and the Grafana SDK) is imported inside the commands: ``tani`` on a
Raspberry Pi (gateway extra only) must start without them.
"""

from __future__ import annotations

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
