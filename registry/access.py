"""Who is asking, and what they may see: passwords, API tokens and the scope of each role.

Passwords are hashed with argon2id with RFC 9106's second recommended profile (t=3, 64 MiB,
p=4: argon2-cffi's default, named here so that a change of the library's default cannot weaken
stored hashes unnoticed). API tokens are 256-bit random strings; only their SHA-256 is stored,
which is enough for secrets of that strength and keeps every request's check cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from registry.models import Field
from registry.people import ApiToken, Role, User

TOKEN_PREFIX = "tani_"
LAST_USE_RESOLUTION_MS = 60_000
PASSWORD_PROFILE = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PROFILE)


class AuthenticationError(Exception):
    """Wrong username, password or token, or a deactivated account."""


def hash_password(password: str) -> str:
    """An argon2id hash of a password, to store."""
    if len(password) < 8:
        raise ValueError("Kata sandi minimal 8 karakter / password needs at least 8 characters")
    return _hasher.hash(password)


def check_password(session: Session, username: str, password: str) -> User:
    """The active user with this username and password; AuthenticationError otherwise."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.password_hash is None:
        # Hash anyway so a missing user takes as long as a wrong password.
        _hasher.hash(password)
        raise AuthenticationError(
            "Nama pengguna atau kata sandi salah / wrong username or password"
        )
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise AuthenticationError(
            "Nama pengguna atau kata sandi salah / wrong username or password"
        ) from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, *, label: str, now_ms: int, ttl_s: int | None = None
) -> str:
    """A new API token for a user; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_sha256=_digest(token),
            label=label,
            created_ms=now_ms,
            expires_ms=None if ttl_s is None else now_ms + ttl_s * 1000,
        )
    )
    return token


def revoke_token(session: Session, token: str) -> bool:
    """Forget a token; True if it existed."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
    if row is None:
        return False
    session.delete(row)
    return True


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in person and the villages and fields their role lets them see.

    ``villages`` is None for an admin (everything). A farmer sees only the fields they own,
    inside their own village.
    """

    user_id: int
    username: str
    full_name: str
    role: Role
    language: str
    villages: frozenset[str] | None
    fields: frozenset[str] | None

    @property
    def is_admin(self) -> bool:
        """Admins see and change everything."""
        return self.role is Role.ADMIN

    def can_see_village(self, village_id: str | None) -> bool:
        """Whether village-wide information (summaries, alerts) of a village is visible."""
        if self.villages is None:
            return True
        return village_id is not None and village_id in self.villages and self.fields is None

    def can_see_field(self, field_id: str | None, village_id: str | None) -> bool:
        """Whether a field (and the alerts about it) is visible."""
        if self.villages is None:
            return True
        if self.fields is not None:
            return field_id is not None and field_id in self.fields
        return village_id is not None and village_id in self.villages


def principal_for(session: Session, user: User) -> Principal:
    """The scope of a user's role, read from the registry now."""
    role = Role(user.role)
    fields: frozenset[str] | None = None
    if role is Role.ADMIN:
        villages = None
    elif role is Role.OFFICER:
        villages = frozenset(v.id for v in user.villages)
    else:
        villages = frozenset([user.village_id] if user.village_id else [])
    if role is Role.FARMER:
        fields = frozenset(session.scalars(select(Field.id).where(Field.owner_id == user.id)))
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        role=role,
        language=user.language,
        villages=villages,
        fields=fields,
    )


def principal_for_token(session: Session, token: str, *, now_ms: int) -> Principal:
    """The principal behind a bearer token; AuthenticationError if unknown, expired or inactive.

    Only reads: when a token was last used is written apart (``record_token_uses``), so that
    checking a token never waits for SQLite's one writer.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _digest(token)))
    if row is None or (row.expires_ms is not None and row.expires_ms <= now_ms):
        raise AuthenticationError("Token tidak berlaku / invalid or expired token")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthenticationError("Akun tidak aktif / account is deactivated")
    return principal_for(session, user)


def record_token_uses(session: Session, uses: Mapping[str, int]) -> None:
    """Write when tokens (token -> epoch ms) were last used; a recorded time moves only
    forward and by at least ``LAST_USE_RESOLUTION_MS``, a figure admins read to the day."""
    for token, used_ms in uses.items():
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.token_sha256 == _digest(token),
                or_(
                    ApiToken.last_used_ms.is_(None),
                    ApiToken.last_used_ms <= used_ms - LAST_USE_RESOLUTION_MS,
                ),
            )
            .values(last_used_ms=used_ms)
        )
