"""Who is calling: bearer tokens (or the web pages' session cookie) and the one role check.

Every endpoint takes ``CurrentUser`` (any signed-in person) or a ``require(...)`` alias; both
go through :func:`require`, so there is one place that decides 401 and 403. What a principal
may *see* inside a role is the registry's ``Principal``; :func:`alert_scope` and
:func:`field_scope` are the same rules as SQL, so lists are filtered by the database.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer
from sqlalchemy import ColumnElement, true
from sqlalchemy.orm import Session

from api.deps import RegistryDep
from api.ttl_cache import TtlCache
from registry.access import AuthenticationError, Principal, principal_for_token
from registry.alerting import Alert
from registry.models import Field
from registry.people import Role

# The cookie the web pages of a later issue set at login (HttpOnly); it carries the same token.
SESSION_COOKIE = "tani_session"
# A phone stays signed in for a month; admins issue longer-lived tokens for scripts.
LOGIN_TOKEN_TTL_S = 30 * 24 * 3600
TOKEN_URL = "/api/v1/auth/token"

_bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, as the registry stores it."""
    return time.time_ns() // 1_000_000


def _session(registry: RegistryDep) -> Iterator[Session]:
    # One session per request; endpoints commit what they change, the rest rolls back.
    with Session(registry.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session)]


def unauthorized(message: str) -> HTTPException:
    """A 401 that tells the client to send a bearer token."""
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def refuse_cross_site(request: Request) -> None:
    """403 for a changing request another site started (cookie CSRF)."""
    # A browser sends the cookie with requests other sites start; a changing request whose
    # Origin is another site is refused (CSRF). Old phone browsers may send no Origin at all:
    # same-site forms from them still work. Bearer tokens are never sent on their own.
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    cross = request.headers.get("sec-fetch-site") == "cross-site"
    if cross or (origin is not None and urlsplit(origin).netloc != request.headers.get("host")):
        raise HTTPException(403, "Permintaan dari situs lain ditolak / cross-site request refused")


async def _token(
    request: Request,
    bearer: Annotated[str | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> str:
    if bearer:
        return bearer
    if cookie:
        refuse_cross_site(request)
        return cookie
    raise unauthorized("Perlu masuk (token) / authentication required (bearer token)")


TokenDep = Annotated[str, Depends(_token)]


def signed_in(request: Request, session: Session, token: str) -> Principal:
    """The principal behind a token; raises AuthenticationError.

    Kept ``auth_cache_s`` seconds per API process (api config, 5 by default): most requests
    then need no registry query at all. Signing out and admin changes made through this
    process take effect at once; a token revoked or a user changed by another process (the
    CLI, another API worker) is honoured within those seconds.
    """
    principals: TtlCache[str, Principal] = request.app.state.principals
    principal = principals.get(token)
    if principal is None:
        principal = _remembered(request, session, token)
    request.app.state.token_uses.note(token, now_ms())
    return principal


def _remembered(request: Request, session: Session, token: str) -> Principal:
    """The token's principal from the registry, kept for the next requests."""
    principal = principal_for_token(session, token, now_ms=now_ms())
    # Ends the read transaction: no lock outlives the check.
    session.commit()
    request.app.state.principals.put(token, principal)
    return principal


def forget_token(request: Request, token: str) -> None:
    """Stop accepting a revoked token in this process at once."""
    request.app.state.principals.discard(token)


def forget_principals(request: Request) -> None:
    """Read every principal from the registry again (after an admin changed people or fields)."""
    request.app.state.principals.clear()


async def _principal(request: Request, token: TokenDep) -> Principal:
    # A principal kept from a moment ago is found on the event loop; only a miss opens a
    # registry session, on the thread pool. Most requests then cost no thread hop for auth.
    principal = request.app.state.principals.get(token)
    if principal is None:
        principal = await run_in_threadpool(_principal_from_registry, request, token)
    request.app.state.token_uses.note(token, now_ms())
    return principal


def _principal_from_registry(request: Request, token: str) -> Principal:
    with Session(request.app.state.registry.engine) as session:
        try:
            return _remembered(request, session, token)
        except AuthenticationError as exc:
            raise unauthorized(str(exc)) from None


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency giving the signed-in principal, 403 unless their role is one of ``roles``."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(allowed))

    async def dependency(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                403, f"Peran Anda tidak diizinkan / your role may not do this (needs: {names})"
            )
        return principal

    return dependency


CurrentUser = Annotated[Principal, Depends(require(*Role))]
StaffUser = Annotated[Principal, Depends(require(Role.OFFICER, Role.VILLAGE_OFFICE, Role.ADMIN))]
AdminUser = Annotated[Principal, Depends(require(Role.ADMIN))]


def alert_scope(principal: Principal) -> ColumnElement[bool]:
    """The alerts a principal may see, as a WHERE clause (``Principal.can_see_field``'s rule)."""
    if principal.villages is None:
        return true()
    if principal.fields is not None:
        return Alert.field_id.in_(sorted(principal.fields))
    return Alert.village_id.in_(sorted(principal.villages))


def field_scope(principal: Principal) -> ColumnElement[bool]:
    """The fields a principal may see, as a WHERE clause."""
    if principal.villages is None:
        return true()
    if principal.fields is not None:
        return Field.id.in_(sorted(principal.fields))
    return Field.village_id.in_(sorted(principal.villages))


class LoginThrottle:
    """Failed logins per key (username and client address) in a sliding window, in memory.

    After ``max_failures`` failures within ``window_s`` the key waits until the oldest one
    leaves the window. At most ``max_keys`` keys are kept, so a flood of made-up usernames
    cannot grow memory; the oldest keys are forgotten first.
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 15 * 60,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        # Sync endpoints run on a thread pool.
        self._lock = threading.Lock()

    def retry_after(self, key: tuple[str, str]) -> float | None:
        """Seconds until ``key`` may try again, or None if it may try now."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self._max_failures:
                return None
            return failures[0] + self._window_s - self._clock()

    def failed(self, key: tuple[str, str]) -> None:
        """Count one failed login."""
        with self._lock:
            failures = self._recent(key)
            failures.append(self._clock())
            self._failures[key] = failures
            while len(self._failures) > self._max_keys:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, key: tuple[str, str]) -> None:
        """Forget the failures of a key that just signed in."""
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures.pop(key, deque())
        horizon = self._clock() - self._window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if failures:
            # Re-inserted last: the dict's order is least recently seen first.
            self._failures[key] = failures
        return failures
