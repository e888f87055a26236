"""Admin commands: villages, fields, gateways, devices and users.

Every change goes through ``registry.directory``, so the CLI checks input exactly as the API
does. Registry modules are imported inside the commands: ``tani`` on a Raspberry Pi (gateway
extra only) must start without SQLAlchemy. Refused input ends the command with one line on
stderr and exit code 2; ``--json`` prints rows for scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from tani.cli_support import (
    DEFAULT_URL,
    AsJson,
    RegistryUrl,
    VillageOpt,
    now_ms,
    parse,
    registry_session,
    show,
    show_one,
    username_of,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from registry.models import Device, Field, Gateway, Village
    from registry.people import User

villages_app = typer.Typer(help="Desa / villages.", no_args_is_help=True)
fields_app = typer.Typer(help="Lahan / fields.", no_args_is_help=True)
gateways_app = typer.Typer(help="Gateway (Raspberry Pi).", no_args_is_help=True)
devices_app = typer.Typer(
    help="Perangkat / devices and the field each is in.", no_args_is_help=True
)
users_app = typer.Typer(
    help="Pengguna / users, roles, passwords, API tokens.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the admin command groups to the ``tani`` app."""
    groups = {
        "villages": villages_app,
        "fields": fields_app,
        "gateways": gateways_app,
        "devices": devices_app,
        "users": users_app,
    }
    for name, group in groups.items():
        app.add_typer(group, name=name)


# -- rows ----------------------------------------------------------------------------------------


def _village_row(village: Village) -> dict[str, Any]:
    return {"id": village.id, "name": village.name, "district": village.district}


def _field_row(session: Session, field: Field) -> dict[str, Any]:
    return {
        "id": field.id,
        "name": field.name,
        "village_id": field.village_id,
        "crop": field.crop,
        "owner": username_of(session, field.owner_id),
        "planted_on": field.planted_on,
        "latitude": field.latitude,
        "longitude": field.longitude,
    }


def _gateway_row(gateway: Gateway) -> dict[str, Any]:
    return {
        "id": gateway.id,
        "name": gateway.name,
        "village_id": gateway.village_id,
        "devices": len(gateway.devices),
    }


def _device_row(device: Device) -> dict[str, Any]:
    return {
        "gateway_id": device.gateway_id,
        "id": device.id,
        "kind": device.kind,
        "field_id": device.field_id,
    }


def _user_row(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role,
        "village_id": user.village_id,
        "villages": sorted(v.id for v in user.villages),
        "language": user.language,
        "has_password": user.password_hash is not None,
        "active": user.active,
    }


# -- villages, fields, gateways, devices ---------------------------------------------------------


@villages_app.command("list")
def villages_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List villages."""
    from registry.directory import list_villages

    with registry_session(registry_url) as session:
        show([_village_row(v) for v in list_villages(session)], as_json)


@villages_app.command("add")
def villages_add(
    village_id: Annotated[str, typer.Argument(help="Id, e.g. bumi-agung.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 'Bumi Agung'.")],
    district: Annotated[str | None, typer.Option(help="Kecamatan / district.")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a village, or update the one with this id."""
    from registry.directory import VillageIn, upsert_village

    data = parse(VillageIn, id=village_id, name=name, district=district)
    with registry_session(registry_url) as session:
        row = _village_row(upsert_village(session, data))
    show_one(row, as_json)


@fields_app.command("list")
def fields_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List fields with their village, crop and owner."""
    from registry.directory import list_fields

    with registry_session(registry_url) as session:
        show([_field_row(session, f) for f in list_fields(session)], as_json)


@fields_app.command("add")
def fields_add(
    field_id: Annotated[str, typer.Argument(help="Id, e.g. sawah-darto.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 'Sawah Pak Darto'.")],
    village: Annotated[str, typer.Option(help="Village id.")],
    crop: Annotated[
        str | None, typer.Option(help="padi, jagung, singkong, kopi, lada, ...")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Username of the farmer.")] = None,
    planted_on: Annotated[str | None, typer.Option(help="Planting date, YYYY-MM-DD.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude, e.g. -4.52.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude, e.g. 104.48.")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a field, or replace the details of the one with this id (omitted ones are cleared)."""
    from registry.directory import FieldIn, upsert_field

    data = parse(
        FieldIn,
        id=field_id,
        name=name,
        village_id=village,
        crop=crop,
        owner=owner,
        planted_on=planted_on,
        latitude=lat,
        longitude=lon,
    )
    with registry_session(registry_url) as session:
        row = _field_row(session, upsert_field(session, data))
    show_one(row, as_json)


@gateways_app.command("list")
def gateways_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List gateways and how many devices each has."""
    from registry.directory import list_gateways

    with registry_session(registry_url) as session:
        show([_gateway_row(g) for g in list_gateways(session)], as_json)


@gateways_app.command("add")
def gateways_add(
    gateway_id: Annotated[str, typer.Argument(help="Id; also its MQTT username.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 'Pi balai desa'.")],
    village: VillageOpt = None,
    field: Annotated[
        str | None, typer.Option(help="A field it serves: the gateway is put in its village.")
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(envvar="TANI_STATE_DIR", help="The local stack (`tani stack`).")
    ] = Path(".tani"),
    mqtt_dir: Annotated[
        Path | None,
        typer.Option(help="A broker's users directory instead (docker compose: data/mqtt)."),
    ] = None,
    broker: Annotated[
        str | None, typer.Option(help="HOST[:PORT] the Pi connects to (default: the stack's).")
    ] = None,
    tls: Annotated[bool, typer.Option(help="The Pi connects with TLS.")] = False,
    mqtt: Annotated[
        bool, typer.Option("--mqtt/--no-mqtt", help="Also give it an MQTT login (default).")
    ] = True,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Register a gateway, give it an MQTT login and print the config file for its Pi."""
    from registry.directory import GatewayIn, require_row, upsert_gateway
    from registry.models import Field
    from tani import onboarding
    from tani.stack import StackError

    with registry_session(registry_url) as session:
        if field is not None:
            village = require_row(session, Field, field, "Lahan", "field").village_id
        data = parse(GatewayIn, id=gateway_id, name=name, village_id=village)
        row = _gateway_row(upsert_gateway(session, data))
    if not mqtt:
        show_one(row, as_json)
        return
    host, port = _broker_address(broker)
    try:
        if mqtt_dir is not None:
            if host is None:
                _refuse("--broker HOST[:PORT] is needed with --mqtt-dir (the Pi's view).")
            creds = onboarding.add_login_in_dir(mqtt_dir, gateway_id, "gateway")
            reload = "docker compose kill -s HUP mosquitto"
        else:
            creds, stack_host, stack_port = onboarding.add_login_on_stack(state_dir, gateway_id)
            host, port = host or stack_host, port or stack_port
            reload = None
    except StackError as exc:
        _refuse(f"Login MQTT gagal / MQTT login not created: {exc}")
    config = onboarding.gateway_config_text(gateway_id, creds, host, port or 1883, tls=tls)
    if as_json:
        show_one({**row, "mqtt_username": creds.username, "config": config}, True)
        return
    show_one(row, False)
    typer.echo(f"\n# --- gateway.toml ---\n{config}# --- end ---", err=False)
    if reload:
        typer.echo(f"Muat ulang broker / reload the broker: {reload}", err=True)
    typer.echo(
        f"Pasang perangkat / place its devices: tani devices add {gateway_id} soil-1 "
        f"--kind modbus_soil --field {field or '<field>'}",
        err=True,
    )


@devices_app.command("list")
def devices_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List devices by gateway, with the field each is in."""
    from registry.directory import list_gateways

    with registry_session(registry_url) as session:
        rows = [
            _device_row(d)
            for g in list_gateways(session)
            for d in sorted(g.devices, key=lambda d: d.id)
        ]
        show(rows, as_json)


@devices_app.command("add")
def devices_add(
    gateway: Annotated[str, typer.Argument(help="Gateway id.")],
    device_id: Annotated[str, typer.Argument(help="Device id, as in the gateway's config.")],
    kind: Annotated[str, typer.Option(help="e.g. modbus_soil, sdi12_soil, ascii_weather.")],
    field: Annotated[str | None, typer.Option(help="Field id (omit: not placed).")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Place a device in a field, or move it: no gateway re-flash needed."""
    from registry.directory import DeviceIn, upsert_device

    data = parse(DeviceIn, gateway_id=gateway, id=device_id, kind=kind, field_id=field)
    with registry_session(registry_url) as session:
        row = _device_row(upsert_device(session, data))
    show_one(row, as_json)


def _broker_address(broker: str | None) -> tuple[str | None, int | None]:
    if broker is None:
        return None, None
    host, _, port = broker.rpartition(":") if ":" in broker else (broker, "", "")
    if port and not port.isdigit():
        _refuse(f"--broker {broker!r}: the port must be a number (HOST or HOST:PORT).")
    return host, int(port) if port else None


def _refuse(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


# -- users ---------------------------------------------------------------------------------------

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first stdin line.")
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(
        "Kata sandi / password",
        hide_input=True,
        confirmation_prompt="Ulangi kata sandi / repeat password",
    )


@users_app.command("list")
def users_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List people, their roles and villages (deactivated ones too)."""
    from registry.directory import list_users

    with registry_session(registry_url) as session:
        show([_user_row(u) for u in list_users(session)], as_json)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name, e.g. darto.")],
    full_name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[str, typer.Option(help="farmer, officer, village_office or admin.")],
    village: Annotated[
        list[str] | None,
        typer.Option(help="Village id; repeat for each village an officer covers."),
    ] = None,
    language: Annotated[str, typer.Option(help="id (Bahasa Indonesia) or en.")] = "id",
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: API tokens only.")
    ] = False,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a person; asks for their password (hidden, twice) unless told otherwise."""
    from registry.directory import UserIn, create_user

    villages = village or []
    places: dict[str, Any] = {"villages": villages}
    # One --village is a farmer's or village office's own; officers cover all that are given.
    if role != "officer" and len(villages) == 1:
        places = {"village_id": villages[0]}
    data = parse(
        UserIn, username=username, full_name=full_name, role=role, language=language, **places
    )
    password = None if no_password else _read_password(password_stdin)
    with registry_session(registry_url) as session:
        row = _user_row(create_user(session, data, password, now_ms()))
    show_one(row, as_json)


@users_app.command("set-password")
def users_set_password(
    username: str, password_stdin: PasswordStdin = False, registry_url: RegistryUrl = DEFAULT_URL
) -> None:
    """Set a person's password (at least 8 characters)."""
    from registry.directory import set_password

    password = _read_password(password_stdin)
    with registry_session(registry_url) as session:
        set_password(session, username, password)
    typer.echo(f"Kata sandi diganti / password set: {username}")


@users_app.command("deactivate")
def users_deactivate(username: str, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Stop a person signing in; their API tokens are deleted."""
    from registry.directory import deactivate_user

    with registry_session(registry_url) as session:
        deactivate_user(session, username)
    typer.echo(f"Akun dinonaktifkan / user deactivated: {username}")


@users_app.command("token")
def users_token(
    username: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    ttl_days: Annotated[int | None, typer.Option(min=1, help="Expire after N days.")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
) -> None:
    """Print a new API token for a person; it is shown this once only."""
    from registry.access import issue_token
    from registry.directory import get_user
    from registry.store import RegistryError

    ttl_s = None if ttl_days is None else ttl_days * 86400
    with registry_session(registry_url) as session:
        user = get_user(session, username)
        if not user.active:
            raise RegistryError(f"Akun '{username}' tidak aktif / user '{username}' is deactivated")
        token = issue_token(session, user, label=label, now_ms=now_ms(), ttl_s=ttl_s)
    typer.echo(token)
    typer.echo(
        "Simpan token ini; tidak ditampilkan lagi / keep it: it is not shown again", err=True
    )
