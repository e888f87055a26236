"""Alert commands: rules, notification channels, and the alerts service itself.

Rule and channel changes go through ``alerts.rules`` and ``registry.directory``, so the CLI
checks input exactly as the API does; registry and alerts modules are imported inside the
commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tani.cli_support import (
    DEFAULT_URL,
    AsJson,
    RegistryUrl,
    VillageOpt,
    fail,
    load_or_exit,
    now_ms,
    parse,
    registry_session,
    show,
    show_one,
    username_of,
    wait_for_stop,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from registry.alerting import Alert, AlertRule
    from registry.people import Channel

rules_app = typer.Typer(help="Aturan peringatan / alert rules.", no_args_is_help=True)
channels_app = typer.Typer(help="Saluran notifikasi / notification channels.", no_args_is_help=True)
alerts_app = typer.Typer(
    help="Peringatan / alerts: run the service, list and acknowledge.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the rules, channels and alerts command groups to the ``tani`` app."""
    app.add_typer(rules_app, name="rules")
    app.add_typer(channels_app, name="channels")
    app.add_typer(alerts_app, name="alerts")


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
        "user": username_of(session, channel.user_id),
        "village_id": channel.village_id,
        "escalation": channel.escalation,
        "language": channel.language,
        "max_per_hour": channel.max_per_hour,
        "enabled": channel.enabled,
    }


# -- rules ---------------------------------------------------------------------------------------


@rules_app.command("list")
def rules_list(registry_url: RegistryUrl = DEFAULT_URL, as_json: AsJson = False) -> None:
    """List alert rules (the JSON also has each rule's note: where its numbers come from)."""
    from alerts.rules import list_rules

    with registry_session(registry_url) as session:
        show([_rule_row(r) for r in list_rules(session)], as_json, hide=("note",))


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
    from alerts.rules import RuleIn, upsert_rule

    data = parse(
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
    with registry_session(registry_url) as session:
        row = _rule_row(upsert_rule(session, data))
    show_one(row, as_json, hide=("note",))


def _set_enabled(name: str, enabled: bool, registry_url: str) -> None:
    from alerts.rules import set_rule_enabled

    with registry_session(registry_url) as session:
        row = _rule_row(set_rule_enabled(session, name, enabled))
    show_one(row, False, hide=("note",))


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
    from alerts.rules import delete_rule

    with registry_session(registry_url) as session:
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

    with registry_session(registry_url) as session:
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

    with registry_session(registry_url) as session:
        show([_channel_row(session, c) for c in list_channels(session)], as_json)


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

    data = parse(
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
    with registry_session(registry_url) as session:
        row = _channel_row(session, add_channel(session, data))
    show_one(row, as_json)


@channels_app.command("delete")
def channels_delete(channel_id: int, registry_url: RegistryUrl = DEFAULT_URL) -> None:
    """Delete a channel (its id is in ``tani channels list``)."""
    from registry.directory import delete_channel

    with registry_session(registry_url) as session:
        delete_channel(session, channel_id)
    typer.echo(f"Saluran dihapus / channel deleted: {channel_id}")


# -- the service and its alerts --------------------------------------------------------------


@alerts_app.command("run")
def alerts_run(
    config: Annotated[
        Path, typer.Option("--config", "-c", exists=True, dir_okay=False, help="TOML file.")
    ],
    log_level: Annotated[
        str, typer.Option(envvar="TANI_LOG_LEVEL", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Run the alerts service: gateway status, rule evaluation, notification delivery."""
    from alerts.config import load_config
    from alerts.service import AlertsService
    from ops.threads import exit_when_a_thread_dies
    from tani import logs

    logs.configure(log_level)
    exit_when_a_thread_dies("alerts")
    service = AlertsService(load_or_exit(load_config, config))
    service.start()
    wait_for_stop()
    service.stop()


@alerts_app.command("list")
def alerts_list(
    state: Annotated[
        str | None, typer.Option(help="open, acknowledged or resolved (default: not resolved).")
    ] = None,
    village: VillageOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    registry_url: RegistryUrl = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """List alerts, newest first."""
    from sqlalchemy import select

    from registry.alerting import Alert, AlertState

    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if state is None:
        query = query.where(Alert.state != AlertState.RESOLVED.value)
    elif state in {s.value for s in AlertState}:
        query = query.where(Alert.state == state)
    else:
        fail(f"Status tidak dikenal / unknown state {state!r}: open, acknowledged, resolved")
    if village is not None:
        query = query.where(Alert.village_id == village)
    with registry_session(registry_url) as session:
        rows = [_alert_row(session, alert) for alert in session.scalars(query)]
    show(rows, as_json)


@alerts_app.command("ack")
def alerts_ack(
    alert_id: int,
    user: Annotated[str, typer.Option(help="Who is on it (username).")],
    note: Annotated[str | None, typer.Option(help="What is being done.")] = None,
    registry_url: RegistryUrl = DEFAULT_URL,
) -> None:
    """Acknowledge an alert on someone's behalf (e.g. they phoned the office)."""
    from alerts.lifecycle import AlertTransitionError, acknowledge
    from registry.alerting import Alert
    from registry.directory import get_user

    with registry_session(registry_url) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            fail(f"Peringatan {alert_id} tidak ada / no alert {alert_id}")
        try:
            acknowledge(
                session, alert, user_id=get_user(session, user).id, now_ms=now_ms(), note=note
            )
        except AlertTransitionError as exc:
            fail(str(exc))
    typer.echo(f"Peringatan {alert_id} ditangani / acknowledged by {user}")


def _alert_row(session: Session, alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "state": alert.state,
        "severity": alert.severity,
        "rule": alert.rule_name,
        "village_id": alert.village_id,
        "field_id": alert.field_id,
        "subject": alert.subject,
        "value": alert.last_value,
        "since": _iso(alert.since_ms),
        "opened": _iso(alert.opened_ms),
        "acknowledged_by": username_of(session, alert.acknowledged_by),
    }


def _iso(time_ms: int | None) -> str | None:
    from datetime import UTC, datetime

    if time_ms is None:
        return None
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).isoformat(timespec="seconds")
