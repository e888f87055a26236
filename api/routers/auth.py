"""Signing in and out: API tokens for a username and password, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import (
    LOGIN_TOKEN_TTL_S,
    SESSION_COOKIE,
    TOKEN_URL,
    CurrentUser,
    LoginThrottle,
    SessionDep,
    TokenDep,
    forget_token,
    now_ms,
    unauthorized,
)
from api.schemas import MePublic, TokenPublic, utc_time
from registry.access import AuthenticationError, check_password, issue_token, revoke_token

router = APIRouter(tags=["auth"])


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle


@router.post(TOKEN_URL, response_model=TokenPublic)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    throttle: Annotated[LoginThrottle, Depends(_throttle)],
) -> TokenPublic:
    """A new token for a username and password (OAuth2 password flow, form-encoded)."""
    # Behind a reverse proxy this is the proxy unless uvicorn runs with --proxy-headers.
    key = (form.username, request.client.host if request.client else "")
    wait_s = throttle.retry_after(key)
    if wait_s is not None:
        raise HTTPException(
            429,
            "Terlalu banyak percobaan masuk, coba lagi nanti / too many failed logins, "
            "try again later",
            headers={"Retry-After": str(max(1, round(wait_s)))},
        )
    try:
        user = check_password(session, form.username, form.password)
    except AuthenticationError as exc:
        throttle.failed(key)
        raise unauthorized(str(exc)) from None
    throttle.succeeded(key)
    issued_ms = now_ms()
    token = issue_token(session, user, label="login", now_ms=issued_ms, ttl_s=LOGIN_TOKEN_TTL_S)
    session.commit()  # the token, and the password's new hash if it needed one
    return TokenPublic(
        access_token=token, expires_at=utc_time(issued_ms + LOGIN_TOKEN_TTL_S * 1000)
    )


@router.post("/api/v1/auth/logout", status_code=204)
def logout(
    _: CurrentUser, token: TokenDep, session: SessionDep, request: Request, response: Response
) -> None:
    """Revoke the token this request came with (and clear the web pages' cookie)."""
    revoke_token(session, token)
    session.commit()
    forget_token(request, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/api/v1/me", response_model=MePublic)
def me(principal: CurrentUser) -> MePublic:
    """The signed-in person, their role and the villages and fields it lets them see."""
    return MePublic(
        username=principal.username,
        full_name=principal.full_name,
        role=principal.role,
        language=principal.language,
        villages=None if principal.villages is None else sorted(principal.villages),
        fields=None if principal.fields is None else sorted(principal.fields),
    )
