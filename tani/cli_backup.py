"""``tani backup`` and ``tani restore``: the registry and alert state, to a file and back.

Readings live in InfluxDB, which has its own backup tool: after a registry backup the commands
for it are printed as a reminder (never run). Registry modules are imported inside the commands:
``tani`` on a Raspberry Pi (gateway extra only) must start without SQLAlchemy. A refusal ends
the command with its reason on stderr and exit code 2; ``--json`` prints one object for scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tani.cli_support import DEFAULT_URL, AsJson, RegistryUrl, fail
from tani.stack.config import DEFAULT_INFLUX_RPC_PORT

if TYPE_CHECKING:
    from registry.backup import BackupInfo, RestoreInfo

InfluxRpcPort = Annotated[
    int,
    typer.Option(
        envvar="TANI_INFLUX_RPC_PORT",
        help="influxd 1.x RPC port, for the reminder (local stack 18088, Debian service 8088).",
    ),
]

STOP_SERVICES = (
    "Hentikan dulu tani api, tani alerts dan tani ingest / stop tani api, tani alerts and "
    "tani ingest first: a registry in use is refused"
)


def influx_commands(directory: Path, rpc_port: int) -> dict[str, str]:
    """The InfluxDB backup and restore commands for readings, by InfluxDB version."""
    where = str(directory)
    host = f"127.0.0.1:{rpc_port}"
    return {
        "1.x backup": f"influxd backup -portable -host {host} {where}",
        "1.x restore": f"influxd restore -portable -host {host} {where}",
        "2.x backup": f"influx backup {where} -t TOKEN",
        "2.x restore": f"influx restore {where} -t TOKEN",
    }


def _tables(tables: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in tables.items() if count) or "-"


def _print_backup(info: BackupInfo, influx: dict[str, str]) -> None:
    typer.echo(f"Cadangan registry tersimpan / registry backed up: {info.path}")
    typer.echo(f"  ukuran / size: {info.size_bytes / 1024:.0f} KiB")
    typer.echo(f"  revisi skema / schema revision: {info.revision or '-'}")
    typer.echo(f"  baris / rows: {_tables(info.tables)}")
    typer.echo(f"  sumber / from: {info.source}")
    typer.echo("")
    typer.echo(
        "Data sensor ada di InfluxDB, cadangkan terpisah / readings are in InfluxDB: back them "
        "up too (not run by tani; TOKEN: an InfluxDB 2.x operator token):"
    )
    for what, command in influx.items():
        if what.endswith("backup"):
            typer.echo(f"  InfluxDB {what.removesuffix(' backup')}:  {command}")


def _print_restore(info: RestoreInfo) -> None:
    typer.echo(f"Registry dipulihkan / registry restored: {info.target}")
    typer.echo(f"  dari / from: {info.source}")
    if info.upgraded:
        typer.echo(
            f"  skema dimutakhirkan / schema upgraded: {info.backup_revision or 'pre-Alembic'}"
            f" -> {info.revision}"
        )
    else:
        typer.echo(f"  revisi skema / schema revision: {info.revision}")
    typer.echo(f"  baris / rows: {_tables(info.tables)}")
    if info.previous is not None:
        typer.echo(f"  registry lama disimpan / the replaced one is kept: {info.previous}")
        typer.echo(f"  membatalkan / to undo: tani restore {info.previous} --force")
    typer.echo("Jalankan lagi api, alerts dan ingest / start api, alerts and ingest again.")


def backup_command(
    dest: Annotated[
        Path,
        typer.Argument(
            help="Berkas .sqlite3, atau folder untuk tani-registry-<waktu>.sqlite3 / a .sqlite3 "
            "file, or a directory for a time-stamped one."
        ),
    ],
    registry_url: RegistryUrl = DEFAULT_URL,
    influx_rpc_port: InfluxRpcPort = DEFAULT_INFLUX_RPC_PORT,
    as_json: AsJson = False,
) -> None:
    """Back up the registry and alert state (safe while the services run)."""
    from registry.backup import BackupError, backup

    try:
        info = backup(registry_url, dest)
    except BackupError as exc:
        fail(str(exc))
    stamp = info.path.name.removeprefix("tani-registry-").removesuffix(".sqlite3")
    # Beside the registry backup, so the two of one moment stay together.
    influx = influx_commands(info.path.parent.absolute() / f"influxdb-{stamp}", influx_rpc_port)
    if as_json:
        out: dict[str, Any] = {**info.as_dict(), "influxdb": influx}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        _print_backup(info, influx)


def restore_command(
    src: Annotated[
        Path,
        typer.Argument(help="Berkas dari tani backup / a file made by tani backup."),
    ],
    registry_url: RegistryUrl = DEFAULT_URL,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Timpa registry yang ada (disimpan sebagai .before-restore-<waktu>) / replace "
            "the existing registry (kept as .before-restore-<time>).",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Restore the registry from a backup; stop api, alerts and ingest first."""
    from registry.backup import BackupError, restore

    typer.echo(STOP_SERVICES, err=True)
    try:
        info = restore(src, registry_url, force=force)
    except BackupError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(info.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_restore(info)
