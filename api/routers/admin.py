"""Managing the registry over HTTP: villages, fields, gateways, devices, users, rules, channels.

Every check and change is ``registry.directory``'s, the same the ``tani`` admin commands use;
this module only decides who may call what and turns refusals into HTTP answers. Admins may do
everything. Everyone may list the villages and fields their role covers; a village office may
also manage the rules scoped to its own village.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from alerts import rules
from alerts.rules import RuleIn, RuleName
from api.auth import (
    AdminUser,
    CurrentUser,
    SessionDep,
    field_scope,
    forget_principals,
    now_ms,
    require,
)
from api.deps import MAX_ROW_ID, LatestDep
from api.schemas import (
    ChannelPublic,
    DevicePublic,
    FieldPublic,
    GatewayPublic,
    PasswordIn,
    RuleEnabledIn,
    RulePublic,
    TokenPublic,
    TokenRequest,
    UserCreate,
    UserPublic,
    VillagePublic,
    utc_time,
)
from registry import directory
from registry.access import Principal, issue_token
from registry.alerting import AlertRule, Scope
from registry.directory import (
    ChannelIn,
    DeviceIn,
    FieldIn,
    GatewayIn,
    UserIn,
    Username,
    VillageIn,
)
from registry.models import Device, Field, Gateway, Village
from registry.people import Channel, Role, User
from registry.store import RegistryConflict, RegistryError

router = APIRouter(prefix="/api/v1", tags=["admin"])

RuleEditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.VILLAGE_OFFICE))]
UsernamePath = Annotated[Username, Path(description="Username")]
RuleNamePath = Annotated[RuleName, Path(description="Rule name")]


@contextmanager
def _refused(status: int = 400) -> Iterator[None]:
    """Turn a registry refusal into ``status`` (409 for a taken name), with its message."""
    try:
        yield
    except RegistryConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except RegistryError as exc:
        raise HTTPException(status, str(exc)) from None


# Villages, fields, gateways and devices.


@router.get("/villages", response_model=list[VillagePublic], tags=["places"])
def list_villages(principal: CurrentUser, session: SessionDep) -> list[VillagePublic]:
    """The villages the caller's role covers (admins: all)."""
    scope = true() if principal.villages is None else Village.id.in_(sorted(principal.villages))
    rows = session.scalars(select(Village).where(scope).order_by(Village.id))
    return [VillagePublic(id=v.id, name=v.name, district=v.district) for v in rows]


@router.post("/villages", response_model=VillagePublic, tags=["places"])
def upsert_village(data: VillageIn, _: AdminUser, session: SessionDep) -> VillagePublic:
    """Add a village or update the one with this id."""
    with _refused():
        village = directory.upsert_village(session, data)
    session.commit()
    return VillagePublic(id=village.id, name=village.name, district=village.district)


def _field_public(field: Field, owner: str | None) -> FieldPublic:
    return FieldPublic(
        id=field.id,
        name=field.name,
        village_id=field.village_id,
        crop=field.crop,
        owner=owner,
        planted_on=field.planted_on,
        latitude=field.latitude,
        longitude=field.longitude,
    )


@router.get("/fields", response_model=list[FieldPublic], tags=["places"])
def list_fields(principal: CurrentUser, session: SessionDep) -> list[FieldPublic]:
    """The fields the caller's role covers: a farmer's own, a village's, or all (admins)."""
    query = (
        select(Field, User.username)
        .outerjoin(User, User.id == Field.owner_id)
        .where(field_scope(principal))
        .order_by(Field.id)
    )
    return [_field_public(field, owner) for field, owner in session.execute(query)]


@router.post("/fields", response_model=FieldPublic, tags=["places"])
def upsert_field(
    data: FieldIn, _: AdminUser, session: SessionDep, request: Request, latest: LatestDep
) -> FieldPublic:
    """Add a field or replace every detail of the one with this id."""
    with _refused():
        field = directory.upsert_field(session, data)
    session.commit()
    forget_principals(request)  # its owner may have changed
    latest.forget_fields()
    return _field_public(field, data.owner)


def _device_public(device: Device) -> DevicePublic:
    return DevicePublic(
        gateway_id=device.gateway_id, id=device.id, kind=device.kind, field_id=device.field_id
    )


def _gateway_public(gateway: Gateway) -> GatewayPublic:
    return GatewayPublic(
        id=gateway.id,
        name=gateway.name,
        village_id=gateway.village_id,
        devices=[_device_public(d) for d in sorted(gateway.devices, key=lambda d: d.id)],
    )


@router.get("/gateways", response_model=list[GatewayPublic], tags=["places"])
def list_gateways(_: AdminUser, session: SessionDep) -> list[GatewayPublic]:
    """Every gateway and its devices."""
    return [_gateway_public(g) for g in directory.list_gateways(session)]


@router.post("/gateways", response_model=GatewayPublic, tags=["places"])
def upsert_gateway(data: GatewayIn, _: AdminUser, session: SessionDep) -> GatewayPublic:
    """Add a gateway or update the one with this id."""
    with _refused():
        gateway = directory.upsert_gateway(session, data)
    session.commit()
    return _gateway_public(gateway)


@router.post("/devices", response_model=DevicePublic, tags=["places"])
def upsert_device(
    data: DeviceIn, _: AdminUser, session: SessionDep, latest: LatestDep
) -> DevicePublic:
    """Add a device or move it to another field (a registry change, never a re-flash)."""
    with _refused():
        device = directory.upsert_device(session, data)
    session.commit()
    latest.forget_fields()
    return _device_public(device)


# People and their tokens.


def _user_public(user: User) -> UserPublic:
    return UserPublic(
        username=user.username,
        full_name=user.full_name,
        role=user.role,
        village_id=user.village_id,
        villages=sorted(v.id for v in user.villages),
        language=user.language,
        active=user.active,
    )


def _user(session: Session, username: str) -> User:
    with _refused(404):
        return directory.get_user(session, username)


@router.get("/users", response_model=list[UserPublic], tags=["users"])
def list_users(_: AdminUser, session: SessionDep) -> list[UserPublic]:
    """Every person, deactivated ones included."""
    return [_user_public(u) for u in directory.list_users(session)]


@router.post("/users", response_model=UserPublic, status_code=201, tags=["users"])
def create_user(data: UserCreate, _: AdminUser, session: SessionDep) -> UserPublic:
    """Add a person, with a password or (for scripts) without one."""
    with _refused():
        user = directory.create_user(session, data, data.password, now_ms())
    session.commit()
    return _user_public(user)


@router.put("/users/{username}", response_model=UserPublic, tags=["users"])
def update_user(
    username: UsernamePath, data: UserIn, _: AdminUser, session: SessionDep, request: Request
) -> UserPublic:
    """Change a person's name, role, villages or language (a new username renames them)."""
    _user(session, username)
    with _refused():
        user = directory.update_user(session, username, data)
    session.commit()
    forget_principals(request)
    return _user_public(user)


@router.put("/users/{username}/password", status_code=204, tags=["users"])
def set_password(
    username: UsernamePath, data: PasswordIn, _: AdminUser, session: SessionDep
) -> None:
    """Set a person's password."""
    _user(session, username)
    with _refused():
        directory.set_password(session, username, data.password)
    session.commit()


@router.delete("/users/{username}", status_code=204, tags=["users"])
def deactivate_user(
    username: UsernamePath, _: AdminUser, session: SessionDep, request: Request
) -> None:
    """Stop a person signing in; their tokens go, their name stays in alert histories."""
    _user(session, username)
    directory.deactivate_user(session, username)
    session.commit()
    forget_principals(request)


@router.post(
    "/users/{username}/tokens", response_model=TokenPublic, status_code=201, tags=["users"]
)
def issue_user_token(
    username: UsernamePath, data: TokenRequest, _: AdminUser, session: SessionDep
) -> TokenPublic:
    """A token for a person or script, shown once; without ``ttl_days`` it never expires."""
    user = _user(session, username)
    if not user.active:
        raise HTTPException(
            409, f"Akun '{username}' tidak aktif / user '{username}' is deactivated"
        )
    issued_ms = now_ms()
    ttl_s = None if data.ttl_days is None else data.ttl_days * 86_400
    token = issue_token(session, user, label=data.label, now_ms=issued_ms, ttl_s=ttl_s)
    session.commit()
    expires = None if ttl_s is None else utc_time(issued_ms + ttl_s * 1000)
    return TokenPublic(access_token=token, expires_at=expires)


# Alert rules: admins all, a village office those scoped to its village.


def _rule_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.is_admin:
        return true()
    return (AlertRule.scope == Scope.VILLAGE.value) & AlertRule.scope_value.in_(
        sorted(principal.villages or ())
    )


def _own_rule(session: Session, principal: Principal, name: str) -> AlertRule:
    """A rule the caller may change; 404 for others, as for rules that do not exist."""
    rule = session.scalar(select(AlertRule).where(AlertRule.name == name, _rule_scope(principal)))
    if rule is None:
        raise HTTPException(404, f"Aturan '{name}' tidak ada / unknown rule '{name}'")
    return rule


def _rule_public(rule: AlertRule) -> RulePublic:
    return RulePublic.model_validate(rule, from_attributes=True)


@router.get("/rules", response_model=list[RulePublic], tags=["rules"])
def list_rules(principal: RuleEditor, session: SessionDep) -> list[RulePublic]:
    """The rules the caller may manage."""
    query = select(AlertRule).where(_rule_scope(principal)).order_by(AlertRule.id)
    return [_rule_public(rule) for rule in session.scalars(query)]


@router.post("/rules", response_model=RulePublic, tags=["rules"])
def upsert_rule(data: RuleIn, principal: RuleEditor, session: SessionDep) -> RulePublic:
    """Add a rule or replace every setting of the rule with this name."""
    if not principal.is_admin:
        if data.scope is not Scope.VILLAGE or not principal.can_see_village(data.scope_value):
            raise HTTPException(
                403,
                "Kantor desa hanya mengatur aturan desanya (scope village) / a village office "
                "manages only rules scoped to its own village",
            )
        # The office may replace its own rule, never another village's or a global one.
        others = select(AlertRule.id).where(AlertRule.name == data.name, ~_rule_scope(principal))
        if session.scalar(others) is not None:
            raise HTTPException(
                409, f"Nama aturan '{data.name}' sudah dipakai / rule name '{data.name}' is taken"
            )
    with _refused():
        rule = rules.upsert_rule(session, data)
    session.commit()
    return _rule_public(rule)


@router.patch("/rules/{name}", response_model=RulePublic, tags=["rules"])
def set_rule_enabled(
    name: RuleNamePath, data: RuleEnabledIn, principal: RuleEditor, session: SessionDep
) -> RulePublic:
    """Switch a rule on or off without losing its settings."""
    _own_rule(session, principal, name)
    rule = rules.set_rule_enabled(session, name, data.enabled)
    session.commit()
    return _rule_public(rule)


@router.delete("/rules/{name}", status_code=204, tags=["rules"])
def delete_rule(name: RuleNamePath, principal: RuleEditor, session: SessionDep) -> None:
    """Delete a rule; its past alerts stay, still naming it."""
    _own_rule(session, principal, name)
    rules.delete_rule(session, name)
    session.commit()


# Notification channels: their URLs hold secrets, so only admins, and only masked.


def _channel_public(session: Session, channel: Channel) -> ChannelPublic:
    user = None if channel.user_id is None else session.get(User, channel.user_id)
    return ChannelPublic(
        id=channel.id,
        name=channel.name,
        url=directory.redacted_url(channel.url),
        user=None if user is None else user.username,
        village_id=channel.village_id,
        escalation=channel.escalation,
        language=channel.language,
        max_per_hour=channel.max_per_hour,
        enabled=channel.enabled,
    )


@router.get("/channels", response_model=list[ChannelPublic], tags=["channels"])
def list_channels(_: AdminUser, session: SessionDep) -> list[ChannelPublic]:
    """Every notification channel, URLs masked."""
    return [_channel_public(session, c) for c in directory.list_channels(session)]


@router.post("/channels", response_model=ChannelPublic, status_code=201, tags=["channels"])
def add_channel(data: ChannelIn, _: AdminUser, session: SessionDep) -> ChannelPublic:
    """Add a channel of an active person or of a village."""
    with _refused():
        channel = directory.add_channel(session, data)
    session.commit()
    return _channel_public(session, channel)


@router.delete("/channels/{channel_id}", status_code=204, tags=["channels"])
def delete_channel(
    channel_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], _: AdminUser, session: SessionDep
) -> None:
    """Delete a channel and the notifications still queued for it."""
    with _refused(404):
        directory.delete_channel(session, channel_id)
    session.commit()
