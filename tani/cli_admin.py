"""Admin commands: villages, fields, gateways, devices, users, alert rules and channels.

Every change goes through ``registry.directory``, so the CLI checks input exactly as the API
does. Registry modules are imported inside the commands: ``tani`` on a Raspberry Pi (gateway
extra only) must start without SQLAlchemy. Refused input ends the command with one line on
stderr and exit code 2; ``--json`` prints rows for scripts.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from registry.alerting import AlertRule
    from registry.models import Device, Field, Gateway, Village
    from registry.people import Channel, User

M = TypeVar("M", bound=BaseModel)

DEFAULT_URL = "sqlite:///.tani/registry.sqlite3"
RegistryUrl = Annotated[
    str, typer.Option(envvar="TANI_REGISTRY_URL", help="Registry database (SQLAlchemy URL).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VillageOpt = Annotated[str | None, typer.Option("--village", help="Village id.")]

villages_app = typer.Typer(help="Desa / villages.", no_args_is_help=True)
fields_app = typer.Typer(help="Lahan / fields.", no_args_is_help=True)
gateways_app = typer.Typer(help="Gateway (Raspberry Pi).", no_args_is_help=True)
devices_app = typer.Typer(
    help="Perangkat / devices and the field each is in.", no_args_is_help=True
)
users_app = typer.Typer(
    help="Pengguna / users, roles, passwords, API tokens.", no_args_is_help=True
)
rules_app = typer.Typer(help="Aturan peringatan / alert rules.", no_args_is_help=True)
channels_app = typer.Typer(help="Saluran notifikasi / notification channels.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the admin command groups to the ``tani`` app."""
    groups = {
        "villages": villages_app,
        "fields": fields_app,
        "gateways": gateways_app,
        "devices": devices_app,
        "users": users_app,
        "rules": rules_app,
        "channels": channels_app,
    }
    for name, group in groups.items():
        app.add_typer(group, name=name)


# -- plumbing ------------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _parse(model: type[M], **values: Any) -> M:
    """Validate command-line values (None: not given, the model's default applies)."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message}" if key else message)
        _fail("Masukan salah / invalid input: " + "; ".join(problems))


@contextmanager
def _session(url: str) -> Iterator[Session]:
    """One transaction on the registry; a refusal rolls it back and exits with code 2."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.orm import Session

    from registry.store import Registry, RegistryError

    try:
        parsed = make_url(url)
    except ArgumentError:
        _fail(f"URL registry tidak valid / invalid registry URL: {url}")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # The default lives under .tani/, which a fresh checkout does not have yet.
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    registry = Registry(url)
    try:
        with Session(registry.engine) as session, session.begin():
            yield session
    except RegistryError as exc:
        _fail(str(exc))
    finally:
        registry.close()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)


def _table(rows: list[dict[str, Any]], hide: tuple[str, ...]) -> None:
    if not rows:
        typer.echo("(kosong / none)")
        return
    headers = [key for key in rows[0] if key not in hide]
    lines = [headers, *([_cell(row[key]) for key in headers] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _show(rows: list[dict[str, Any]], as_json: bool, hide: tuple[str, ...] = ()) -> None:
    """Rows as a table for people or as JSON for scripts (JSON keeps every key)."""
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    else:
        _table(rows, hide)


def _show_one(row: dict[str, Any], as_json: bool, hide: tuple[str, ...] = ()) -> None:
    """One saved row; callers show it after the commit, so what is shown is what was stored."""
    if as_json:
        typer.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))
    else:
        _table([row], hide)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _username(session: Session, user_id: int | None) -> str | None:
    from registry.people import User

    user = None if user_id is None else session.get(User, user_id)
    return None if user is None else user.username


# -- rows ----------------------------------------------------------------------------------------


def _village_row(village: Village) -> dict[str, Any]:
    return {"id": village.id, "name": village.name, "district": village.district}


def _field_row(session: Session, field: Field) -> dict[str, Any]:
    return {
        "id": field.id,
        "name": field.name,
        "village_id": field.village_id,
        "crop": field.crop,
        "owner": _username(session, field.owner_id),
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


def _rule_row(rule: AlertRule) -> dict[str, Any]:
    keys = ("name", "kind", "quantity", "threshold", "clear_threshold", "duration_s", "window_s")
    more = ("scope", "scope_value", "severity", "enabled", "note")
    return {key: getattr(rule, key) for key in keys + more}


def _channel_row(session: Session, channel: Channel) -> dict[str, Any]:
    from registry.directory import redacted_url

    return {
        "id": channel.id,
        "name": channel.name,
        "url": redacted_url(channel.url),
        "user": _username(session, channel.user_id),
        "village_id": channel.village_id,
        "escalation": channel.escalation,
        "language": channel.language,
        "max_per_hour": channel.max_per_hour,
        "enabled": channel.enabled,
    }


# -- villages, fields, gateways, devices ---------------------------------------------------------


@villages_app.command("list")
def villages_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List villages."""
    from registry.directory import list_villages

    with _session(registry_url) as session:
        _show([_village_row(v) for v in list_villages(session)], as_json)


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

    data = _parse(VillageIn, id=village_id, name=name, district=district)
    with _session(registry_url) as session:
        row = _village_row(upsert_village(session, data))
    _show_one(row, as_json)


@fields_app.command("list")
def fields_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List fields with their village, crop and owner."""
    from registry.directory import list_fields

    with _session(registry_url) as session:
        _show([_field_row(session, f) for f in list_fields(session)], as_json)


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

    data = _parse(
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
    with _session(registry_url) as session:
        row = _field_row(session, upsert_field(session, data))
    _show_one(row, as_json)


@gateways_app.command("list")
def gateways_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List gateways and how many devices each has."""
    from registry.directory import list_gateways

    with _session(registry_url) as session:
        _show([_gateway_row(g) for g in list_gateways(session)], as_json)


@gateways_app.command("add")
def gateways_add(
    gateway_id: Annotated[str, typer.Argument(help="Id; also its MQTT username.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 'Pi balai desa'.")],
    village: VillageOpt = None,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a gateway, or update the one with this id."""
    from registry.directory import GatewayIn, upsert_gateway

    data = _parse(GatewayIn, id=gateway_id, name=name, village_id=village)
    with _session(registry_url) as session:
        row = _gateway_row(upsert_gateway(session, data))
    _show_one(row, as_json)


@devices_app.command("list")
def devices_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List devices by gateway, with the field each is in."""
    from registry.directory import list_gateways

    with _session(registry_url) as session:
        rows = [
            _device_row(d)
            for g in list_gateways(session)
            for d in sorted(g.devices, key=lambda d: d.id)
        ]
        _show(rows, as_json)


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

    data = _parse(DeviceIn, gateway_id=gateway, id=device_id, kind=kind, field_id=field)
    with _session(registry_url) as session:
        row = _device_row(upsert_device(session, data))
    _show_one(row, as_json)


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

    with _session(registry_url) as session:
        _show([_user_row(u) for u in list_users(session)], as_json)


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
    data = _parse(
        UserIn, username=username, full_name=full_name, role=role, language=language, **places
    )
    password = None if no_password else _read_password(password_stdin)
    with _session(registry_url) as session:
        row = _user_row(create_user(session, data, password, _now_ms()))
    _show_one(row, as_json)


@users_app.command("set-password")
def users_set_password(
    username: str, password_stdin: PasswordStdin = False, registry_url: RegistryUrl = DEFAULT_URL
) -> None:
    """Set a person's password (at least 8 characters)."""
    from registry.directory import set_password

    password = _read_password(password_stdin)
    with _session(registry_url) as session:
        set_password(session, username, password)
    typer.echo(f"Kata sandi diganti / password set: {username}")


@users_app.command("deactivate")
def users_deactivate(username: str, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Stop a person signing in; their API tokens are deleted."""
    from registry.directory import deactivate_user

    with _session(registry_url) as session:
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
    with _session(registry_url) as session:
        user = get_user(session, username)
        if not user.active:
            raise RegistryError(f"Akun '{username}' tidak aktif / user '{username}' is deactivated")
        token = issue_token(session, user, label=label, now_ms=_now_ms(), ttl_s=ttl_s)
    typer.echo(token)
    typer.echo(
        "Simpan token ini; tidak ditampilkan lagi / keep it: it is not shown again", err=True
    )


# -- rules ---------------------------------------------------------------------------------------


@rules_app.command("list")
def rules_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List alert rules (the JSON also has each rule's note: where its numbers come from)."""
    from registry.directory import list_rules

    with _session(registry_url) as session:
        _show([_rule_row(r) for r in list_rules(session)], as_json, hide=("note",))


@rules_app.command("add")
def rules_add(
    name: Annotated[str, typer.Argument(help="Rule name, e.g. padi-tanah-kering.")],
    kind: Annotated[str, typer.Option(help="below, above, rate, no_data, gateway_offline, ...")],
    quantity: Annotated[str | None, typer.Option(help="e.g. soil_moisture.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Limit; rate: change per hour.")] = None,
    clear_threshold: Annotated[
        float | None, typer.Option(help="Where it clears (default: the threshold).")
    ] = None,
    duration_s: Annotated[int, typer.Option(help="Seconds the condition must last.")] = 0,
    window_s: Annotated[int | None, typer.Option(help="rate: seconds to compare over.")] = None,
    scope: Annotated[str, typer.Option(help="all, village, crop or field.")] = "all",
    scope_value: Annotated[str | None, typer.Option(help="The village, crop or field.")] = None,
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
    note: Annotated[str | None, typer.Option(help="Why these numbers.")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a rule, or replace every setting of the rule with this name."""
    from registry.directory import RuleIn, upsert_rule

    data = _parse(
        RuleIn,
        name=name,
        kind=kind,
        quantity=quantity,
        threshold=threshold,
        clear_threshold=clear_threshold,
        duration_s=duration_s,
        window_s=window_s,
        scope=scope,
        scope_value=scope_value,
        severity=severity,
        enabled=enabled,
        note=note,
    )
    with _session(registry_url) as session:
        row = _rule_row(upsert_rule(session, data))
    _show_one(row, as_json, hide=("note",))


def _set_enabled(name: str, enabled: bool, registry_url: str) -> None:
    from registry.directory import set_rule_enabled

    with _session(registry_url) as session:
        row = _rule_row(set_rule_enabled(session, name, enabled))
    _show_one(row, False, hide=("note",))


@rules_app.command("enable")
def rules_enable(name: str, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Switch a rule on."""
    _set_enabled(name, True, registry_url)


@rules_app.command("disable")
def rules_disable(name: str, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Switch a rule off, keeping its settings."""
    _set_enabled(name, False, registry_url)


@rules_app.command("delete")
def rules_delete(name: str, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Delete a rule; its past alerts stay."""
    from registry.directory import delete_rule

    with _session(registry_url) as session:
        delete_rule(session, name)
    typer.echo(f"Aturan dihapus / rule deleted: {name}")


@rules_app.command("defaults")
def rules_defaults(
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite default rules the office changed.")
    ] = False,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Install the default rules for padi, jagung, singkong, kopi and lada (missing ones only)."""
    from alerts.default_rules import install_defaults

    with _session(registry_url) as session:
        names = install_defaults(session, replace=replace)
    if as_json:
        typer.echo(json.dumps(names))
    else:
        typer.echo(f"{len(names)} aturan dipasang / rules installed: {', '.join(names) or '-'}")


# -- channels ------------------------------------------------------------------------------------


@channels_app.command("list")
def channels_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List notification channels (URLs with their secrets hidden)."""
    from registry.directory import list_channels

    with _session(registry_url) as session:
        _show([_channel_row(session, c) for c in list_channels(session)], as_json)


@channels_app.command("add")
def channels_add(
    name: Annotated[str, typer.Argument(help="e.g. 'Telegram Bu Sri'.")],
    url: Annotated[str, typer.Option(help="apprise URL: mailto://, tgram://, json://, ...")],
    user: Annotated[str | None, typer.Option(help="Username whose channel this is.")] = None,
    village: VillageOpt = None,
    escalation: Annotated[
        bool, typer.Option("--escalation", help="Village channel for escalations only.")
    ] = False,
    language: Annotated[str, typer.Option(help="id or en.")] = "id",
    max_per_hour: Annotated[int, typer.Option(help="Messages per hour at most.")] = 20,
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """Add a channel of a person (--user) or of a village (--village)."""
    from registry.directory import ChannelIn, add_channel

    data = _parse(
        ChannelIn,
        name=name,
        url=url,
        user=user,
        village_id=village,
        escalation=escalation,
        language=language,
        max_per_hour=max_per_hour,
        enabled=enabled,
    )
    with _session(registry_url) as session:
        row = _channel_row(session, add_channel(session, data))
    _show_one(row, as_json)


@channels_app.command("delete")
def channels_delete(channel_id: int, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Delete a channel (its id is in ``tani channels list``)."""
    from registry.directory import delete_channel

    with _session(registry_url) as session:
        delete_channel(session, channel_id)
    typer.echo(f"Saluran dihapus / channel deleted: {channel_id}")
