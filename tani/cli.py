"""The ``tani`` command: one entry point for every component and the local stack."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.threads import exit_when_a_thread_dies
from tani import logs
from tani.cli_support import load_or_exit, wait_for_stop
from tani.stack.config import DEFAULT_INFLUX_PORT, DEFAULT_INFLUX_RPC_PORT, DEFAULT_MQTT_PORT

if TYPE_CHECKING:
    from tani.stack import Stack

# Commands import their component lazily: a Pi installs only the "gateway" extra, so
# ``tani gateway`` must not need FastAPI or the InfluxDB client.

app = typer.Typer(
    help="Tani Hub: sensor tanah & cuaca -> MQTT -> InfluxDB -> API.", no_args_is_help=True
)
stack_app = typer.Typer(
    help="Mosquitto + influxd lokal / the local broker and database.", no_args_is_help=True
)
registry_app = typer.Typer(help="Registry: desa, lahan, gateway, perangkat.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
bench_app = typer.Typer(help="Benchmarks: each prints one JSON object.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(bench_app, name="bench")

StateDir = Annotated[
    Path, typer.Option(envvar="TANI_STATE_DIR", help="State directory of the stack.")
]
MqttPort = Annotated[int, typer.Option(envvar="TANI_MQTT_PORT", help="Mosquitto port.")]
InfluxPort = Annotated[int, typer.Option(envvar="TANI_INFLUX_PORT", help="influxd HTTP port.")]
InfluxRpcPort = Annotated[
    int, typer.Option(envvar="TANI_INFLUX_RPC_PORT", help="influxd RPC port.")
]
ConfigFile = Annotated[
    Path, typer.Option("--config", "-c", exists=True, dir_okay=False, help="TOML file.")
]
LogLevel = Annotated[
    str, typer.Option(envvar="TANI_LOG_LEVEL", help="debug, info, warning, error.")
]


def _stack(state_dir: Path, mqtt_port: int, influx_port: int, influx_rpc_port: int) -> Stack:
    from tani.stack import Stack, StackConfig

    return Stack(
        StackConfig(
            state_dir=state_dir,
            mqtt_port=mqtt_port,
            influx_port=influx_port,
            influx_rpc_port=influx_rpc_port,
        )
    )


@stack_app.command("up")
def stack_up(
    state_dir: StateDir = Path(".tani"),
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    influx_port: InfluxPort = DEFAULT_INFLUX_PORT,
    influx_rpc_port: InfluxRpcPort = DEFAULT_INFLUX_RPC_PORT,
) -> None:
    """Start Mosquitto and influxd; return when both answer."""
    from tani.stack import StackError

    logs.configure("WARNING")
    try:
        status = _stack(state_dir, mqtt_port, influx_port, influx_rpc_port).up()
    except StackError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for service in status.services:
        typer.echo(f"{service.name}: pid {service.pid}, {service.url}")


def _started_stack(state_dir: Path) -> Stack | None:
    """The stack last started in ``state_dir`` (with its ports), or None if there never was one."""
    from tani.stack import Stack, StackConfigError

    try:
        return Stack.from_state_dir(state_dir)
    except StackConfigError:
        return None


@stack_app.command("down")
def stack_down(state_dir: StateDir = Path(".tani")) -> None:
    """Stop Mosquitto and influxd cleanly."""
    from tani.stack import StackError

    logs.configure("WARNING")
    stack = _started_stack(state_dir)
    if stack is None:
        typer.echo(f"no stack was started in {state_dir}: nothing to stop")
        return
    try:
        stack.down()
    except StackError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo("stack stopped")


@stack_app.command("status")
def stack_status(
    state_dir: StateDir = Path(".tani"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say what runs where; exit 1 if the stack is not up and answering."""
    logs.configure("WARNING")
    stack = _started_stack(state_dir)
    if stack is None:
        typer.echo(f"no stack was started in {state_dir}")
        raise typer.Exit(1)
    status = stack.status()
    if as_json:
        typer.echo(json.dumps(status.as_dict(), indent=2))
    else:
        for s in status.services:
            state = "running" if s.running else "stopped"
            answer = "answering" if s.answering else "not answering"
            typer.echo(f"{s.name}: {state} (pid {s.pid}), {answer} at {s.url}; log {s.log_file}")
    if not status.answering:
        raise typer.Exit(1)


@app.command()
def sim(
    time_scale: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    weather_interval: Annotated[float, typer.Option(help="Seconds between weather lines.")] = 10.0,
    seed: int = 1,
    soil_ids: Annotated[
        str, typer.Option(help="Modbus unit ids of the soil probes on the bus, e.g. 1,2,3.")
    ] = "1",
    jxct: Annotated[
        str, typer.Option(help="Unit ids that use the JXCT register map instead of 7-in-1.")
    ] = "",
    weather_format: Annotated[str, typer.Option(help="wxsta or vaisala_wxt.")] = "wxsta",
    sdi12: Annotated[
        str, typer.Option(help="SDI-12 addresses of TEROS-12-like probes, e.g. 0,1 (none: off).")
    ] = "",
    log_level: LogLevel = "info",
) -> None:
    """Emulated soil probes, weather station (and SDI-12 probes) on ptys; prints their paths."""
    from firmware_sim.site import SiteConfig, run_forever

    logs.configure(log_level)
    units = tuple(int(u) for u in soil_ids.split(",") if u.strip())
    run_forever(
        SiteConfig(
            seed=seed,
            time_scale=time_scale,
            weather_interval_s=weather_interval,
            soil_device_ids=units,
            soil_maps={int(u): "jxct" for u in jxct.split(",") if u.strip()},
            weather_format=weather_format,
            sdi12_addresses=tuple(a.strip() for a in sdi12.split(",") if a.strip()),
        ),
        print_fn=lambda text: typer.echo(text),
    )


@app.command()
def gateway(config: ConfigFile, log_level: LogLevel = "info") -> None:
    """Run a gateway: poll serial devices, publish readings over MQTT.

    A Pi runs the same code as ``python -m tani.gateway`` (its systemd unit does), without the
    13 MB this command's other imports take.
    """
    from tani.gateway import run

    run(config, log_level)


@app.command()
def ingest(config: ConfigFile, log_level: LogLevel = "info") -> None:
    """Run ingest: MQTT reading batches into InfluxDB."""
    from ingest.config import load_config
    from ingest.service import Ingest

    logs.configure(log_level)
    exit_when_a_thread_dies("ingest")
    service = Ingest(load_or_exit(load_config, config))
    service.start()
    wait_for_stop()
    service.stop()


@app.command()
def api(config: ConfigFile, log_level: LogLevel = "info") -> None:
    """Run the HTTP API."""
    import uvicorn

    from api.app import create_app
    from api.config import load_config

    logs.configure(log_level)
    exit_when_a_thread_dies("api")
    settings = load_or_exit(load_config, config)
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)
        return
    from tani.api_workers import worker_environment

    os.environ.update(worker_environment(config.resolve(), log_level))
    uvicorn.run(
        "tani.api_workers:worker_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
    )


@registry_app.command("load")
def registryload_or_exit(
    site_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    registry_url: Annotated[
        str, typer.Option(envvar="TANI_REGISTRY_URL")
    ] = "sqlite:///.tani/registry.sqlite3",
) -> None:
    """Insert or update villages, fields, gateways and devices from a TOML site file."""
    from registry.store import Registry, RegistryError

    registry = Registry(registry_url)
    try:
        site = load_or_exit(registry.load_site, site_file)
    except RegistryError as exc:
        typer.echo(f"Registry menolak / refused: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        registry.close()
    typer.echo(
        f"{len(site.villages)} villages, {len(site.fields)} fields, {len(site.gateways)} gateways"
    )


@app.command()
def deadletters(
    path: Annotated[Path, typer.Option(envvar="TANI_INGEST_DEADLETTERS_PATH")] = Path(
        ".tani/deadletters.sqlite3"
    ),
    limit: int = 20,
) -> None:
    """List the newest messages ingest refused, with their reasons."""
    from ingest.deadletters import DeadLetters

    store = DeadLetters(path)
    for letter in store.latest(limit):
        preview = letter.payload[:120].decode(errors="replace")
        typer.echo(
            json.dumps(
                {
                    **{
                        k: getattr(letter, k)
                        for k in ("id", "received_ms", "topic", "reason", "detail")
                    },
                    "payload": preview,
                },
                ensure_ascii=False,
            )
        )
    store.close()


quarantine_app = typer.Typer(help="Readings of devices the registry does not know, held by ingest.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    path: Annotated[Path, typer.Option(envvar="TANI_INGEST_QUARANTINE_PATH")] = Path(
        ".tani/quarantine.sqlite3"
    ),
) -> None:
    """Unregistered devices whose readings ingest holds (one JSON line each)."""
    from dataclasses import asdict

    from ingest.quarantine import Quarantine

    store = Quarantine(path)
    try:
        for device in store.devices():
            typer.echo(json.dumps(asdict(device)))
    finally:
        store.close()


@quarantine_app.command("replay")
def quarantine_replay(config: ConfigFile) -> None:
    """Write the held readings of devices registered since then, with their field's tags."""
    from ingest.config import load_config
    from ingest.service import replay_quarantine
    from storage.influx import InfluxError

    logs.configure("WARNING")
    try:
        replayed = replay_quarantine(load_or_exit(load_config, config))
    except InfluxError as exc:
        typer.echo(f"InfluxDB did not take the readings, nothing was lost: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"replayed": replayed}))


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Run N seconds, then print a JSON summary.")
    ] = None,
    state_dir: StateDir = Path(".tani"),
    mqtt_port: MqttPort = DEFAULT_MQTT_PORT,
    influx_port: InfluxPort = DEFAULT_INFLUX_PORT,
    influx_rpc_port: InfluxRpcPort = DEFAULT_INFLUX_RPC_PORT,
    api_port: Annotated[int, typer.Option(envvar="TANI_API_PORT")] = 8000,
    log_level: LogLevel = "warning",
) -> None:
    """Stack, emulated devices, gateway, ingest and API in one command."""
    from tani.demo import DemoError, DemoOptions, run_demo, summary_line
    from tani.stack import StackConfig, StackError

    logs.configure(log_level)
    options = DemoOptions(
        stack=StackConfig(
            state_dir=state_dir,
            mqtt_port=mqtt_port,
            influx_port=influx_port,
            influx_rpc_port=influx_rpc_port,
        ),
        api_port=api_port,
        duration_s=duration,
    )
    try:
        summary = run_demo(options, wait=wait_for_stop, echo=typer.echo)
    except (StackError, DemoError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if summary is not None:
        sys.stdout.flush()
        typer.echo(summary_line(summary))


@bench_app.command("gateway")
def bench_gateway(
    polling_seconds: Annotated[float, typer.Option(help="How long to poll 20 devices.")] = 30.0,
    minute_seconds: Annotated[
        float, typer.Option(help="How long each minute-paced field run is (ack cost).")
    ] = 60.0,
    typical_seconds: Annotated[
        float,
        typer.Option(help="About how long each typical-field run (normal, economy) counts."),
    ] = 240.0,
    backlog_days: Annotated[int, typer.Option(help="Days of backlog to replay.")] = 7,
    reconnects_per_day: Annotated[
        float, typer.Option(min=0, help="New connections a day in the monthly figure.")
    ] = 1.0,
) -> None:
    """Gateway memory, CPU, backlog replay and a typical field's uplink MB a month (JSON)."""
    from tani.bench.gateway import main_json

    logs.configure("WARNING")
    typer.echo(
        main_json(
            polling_seconds=polling_seconds,
            minute_seconds=minute_seconds,
            typical_seconds=typical_seconds,
            backlog_days=backlog_days,
            reconnects_per_day=reconnects_per_day,
        )
    )


@bench_app.command("ingest")
def bench_ingest(
    readings: Annotated[int, typer.Option(min=1, help="Readings of each burst run.")] = 1_000_000,
    rounds: Annotated[
        int,
        typer.Option(
            min=1, help="Rounds of ceiling + pipeline runs (targets judged with 3 or more)."
        ),
    ] = 3,
    rate: Annotated[
        float, typer.Option(min=1, help="Readings/s of the low-rate latency runs.")
    ] = 2000.0,
    seconds: Annotated[float, typer.Option(min=1, help="How long each low-rate run is.")] = 30.0,
    high_rate: Annotated[
        float, typer.Option(min=1, help="Readings/s of the high-rate latency runs.")
    ] = 50_000.0,
    high_seconds: Annotated[
        float, typer.Option(min=1, help="How long each high-rate run is.")
    ] = 30.0,
    batch: Annotated[int, typer.Option(min=1, help="Readings per message in bursts.")] = 500,
    latency_batch: Annotated[
        int, typer.Option(min=1, help="Readings per message at the low rate.")
    ] = 100,
    high_latency_batch: Annotated[
        int, typer.Option(min=1, help="Readings per message at the high rate.")
    ] = 100,
    gateways: Annotated[int, typer.Option(min=1, help="Simulated gateways.")] = 8,
) -> None:
    """Ingest throughput vs InfluxDB's raw ceiling (median of rounds) and latency (JSON)."""
    from tani.bench.ingest import main_json

    logs.configure("WARNING")
    try:
        result = main_json(
            readings=readings,
            rounds=rounds,
            rate=rate,
            seconds=seconds,
            high_rate=high_rate,
            high_seconds=high_seconds,
            batch=batch,
            latency_batch=latency_batch,
            high_latency_batch=high_latency_batch,
            gateways=gateways,
        )
    except ValueError as exc:
        typer.echo(f"bench ingest: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result)


@bench_app.command("api")
def bench_api(
    fields: Annotated[int, typer.Option(min=1, help="Fields (20 per village).")] = 200,
    days: Annotated[int, typer.Option(min=1, help="Days of readings.")] = 365,
    interval_min: Annotated[int, typer.Option(min=1, help="Minutes between readings.")] = 15,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 20,
    requests: Annotated[
        int,
        typer.Option(
            min=1, help="Requests of each latest-conditions run (summaries: a fifth, <= 400)."
        ),
    ] = 10_000,
    state_dir: Annotated[
        Path, typer.Option(help="Where the bench stack and its data set live.")
    ] = Path(".tani-bench"),
    reuse: Annotated[
        bool, typer.Option("--reuse/--fresh", help="Reuse a loaded data set of equal size.")
    ] = True,
    api_workers: Annotated[
        int,
        typer.Option(min=1, help="API worker processes (api.toml's workers): one per core."),
    ] = 2,
) -> None:
    """API latency (latest, monthly summary) over a year of readings vs InfluxDB (JSON)."""
    from tani.bench.api import main_json

    logs.configure("WARNING")
    try:
        result = main_json(
            fields=fields,
            days=days,
            interval_min=interval_min,
            clients=clients,
            requests=requests,
            state_dir=state_dir,
            reuse=reuse,
            api_workers=api_workers,
        )
    except ValueError as exc:
        typer.echo(f"bench api: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result)


@bench_app.command("fleet")
def bench_fleet(
    steps: Annotated[
        str, typer.Option(help="Connected gateways at each step, comma-separated, rising.")
    ] = "500,1000,1500,2000,2500,3000,4000,6000",
    interval_s: Annotated[
        float, typer.Option(min=0.1, help="Seconds between a connection's batches (field: 300).")
    ] = 3.0,
    window_s: Annotated[
        float, typer.Option(min=1, help="Length of each of a step's three windows.")
    ] = 15.0,
    workers: Annotated[int, typer.Option(min=1, help="Ingest workers (shared group).")] = 2,
    generators: Annotated[int, typer.Option(min=1, help="Load-generator processes.")] = 2,
    persistent_sessions: Annotated[
        bool,
        typer.Option(help="Gateways resume a session (clean start off) instead of a clean one."),
    ] = False,
    short: Annotated[
        bool, typer.Option("--short", help="Steps 100,200, 5 s windows: a quick check.")
    ] = False,
) -> None:
    """Emulated gateways until p99 > 1 s or a loss: gateways per server core (JSON)."""
    from tani.bench.fleet import main_json

    logs.configure("WARNING")
    try:
        counts = tuple(int(n) for n in ("100,200" if short else steps).split(","))
        result = main_json(
            steps=counts,
            interval_s=interval_s,
            window_s=5.0 if short else window_s,
            workers=workers,
            generators=generators,
            persistent_sessions=persistent_sessions,
        )
    except ValueError as exc:
        typer.echo(f"bench fleet: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result)


@app.command()
def chaos(
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="Scenario to run (repeatable); default: all of them."),
    ] = None,
    short: Annotated[
        bool, typer.Option("--short/--full", help="Scaled-down counts and durations (CI).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 1,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Scenarios run at once (default 2).")
    ] = None,
    keep_dir: Annotated[
        Path | None,
        typer.Option(help="Keep every log and data file of the run under this directory."),
    ] = None,
) -> None:
    """Fault scenarios against real processes: loss, duplicates, recovery (JSON)."""
    from tani.chaos.runner import UnknownScenarioError, main_json

    logs.configure("WARNING")
    try:
        result, interrupted = main_json(
            scenario, short=short, seed=seed, jobs=jobs, keep_dir=keep_dir
        )
    except UnknownScenarioError as exc:
        typer.echo(f"chaos: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result)
    if interrupted:
        raise typer.Exit(130)


# Admin commands (villages, fields, gateways, devices, users, rules, channels) in their own module.
from tani.cli_admin import register as register_admin  # noqa: E402

register_admin(app)
from tani.cli_alerts import register as register_alerts  # noqa: E402

register_alerts(app)
from tani.cli_backup import backup_command, restore_command  # noqa: E402

app.command("backup")(backup_command)
app.command("restore")(restore_command)
from tani.cli_grafana import grafana_app  # noqa: E402

app.add_typer(grafana_app, name="grafana")
from tani.cli_agronomy import agronomy_app  # noqa: E402

app.add_typer(agronomy_app, name="agronomy")
