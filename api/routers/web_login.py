"""Signing in and out of the web pages (the dependency every signed-in page uses is in
``api.pages``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import (
    LOGIN_TOKEN_TTL_S,
    SESSION_COOKIE,
    LoginThrottle,
    SessionDep,
    forget_token,
    now_ms,
    refuse_cross_site,
)
from api.i18n import page_language, render
from api.pages import HOME, LOGIN, PAGE_HEADERS, PageToken, safe_next
from registry.access import AuthenticationError, check_password, issue_token, revoke_token

router = APIRouter(tags=["web pages"], include_in_schema=False)

_MAX_FIELD = 200  # longer than any username or password people type; the form says so too


def _login_form(
    request: Request,
    *,
    target: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        {"next": target, "username": username, "error": error, "max_field": _MAX_FIELD},
        status_code=status_code,
        headers=PAGE_HEADERS | (headers or {}),
    )


async def _throttle(request: Request) -> LoginThrottle:
    # The API's own counter: failures through the form and through the API add up.
    return request.app.state.login_throttle


@router.get(LOGIN, response_class=HTMLResponse)
def login_form(
    request: Request, target: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The sign-in form; ``next`` is where to go afterwards."""
    return _login_form(request, target=safe_next(target))


@router.post(LOGIN, response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    throttle: Annotated[LoginThrottle, Depends(_throttle)],
    username: Annotated[str, Form(max_length=_MAX_FIELD)],
    password: Annotated[str, Form(max_length=_MAX_FIELD)],
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = HOME,
) -> Response:
    """Check the password; on success a new 30-day token in the cookie and off to ``next``."""
    # Another site must not sign this browser in to an account of its choosing (login CSRF).
    refuse_cross_site(request)
    target = safe_next(next_path)
    # The same key as the API's login, so the lockout is shared (see api/routers/auth.py).
    key = (username, request.client.host if request.client else "")
    wait_s = throttle.retry_after(key)
    if wait_s is not None:
        minutes = max(1, round(wait_s / 60))
        error = page_language(request).ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        )
        return _login_form(
            request,
            target=target,
            username=username,
            error=error % {"num": minutes},
            status_code=429,
            headers={"Retry-After": str(max(1, round(wait_s)))},
        )
    try:
        user = check_password(session, username, password)
    except AuthenticationError:
        throttle.failed(key)
        return _login_form(
            request,
            target=target,
            username=username,
            error=page_language(request).gettext("Wrong username or password."),
            status_code=401,
        )
    throttle.succeeded(key)
    token = issue_token(session, user, label="web", now_ms=now_ms(), ttl_s=LOGIN_TOKEN_TTL_S)
    session.commit()  # the token, and the password's new hash if it needed one
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=LOGIN_TOKEN_TTL_S,
        path="/",
        # Behind a TLS-terminating proxy the scheme is https only with uvicorn --proxy-headers.
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/keluar")
def logout(request: Request, session: SessionDep, token: PageToken) -> Response:
    """Revoke this browser's token (whether or not it was still valid) and clear the cookie."""
    revoke_token(session, token)
    session.commit()
    forget_token(request, token)
    response = RedirectResponse(LOGIN, status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response
