"""Signing in and out of the web pages, and the dependency every signed-in page uses.

The pages carry the same API token as the JSON API, in the HttpOnly ``tani_session`` cookie,
so a page is allowed exactly what the API allows that person. Signed out, a page answers with
a redirect to the login form (which comes back afterwards), not with the API's JSON 401.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import (
    SESSION_COOKIE,
    LoginThrottle,
    SessionDep,
    TokenDep,
    forget_token,
    now_ms,
    refuse_cross_site,
    signed_in,
)
from api.i18n import N_, page_language, render, templates
from api.routers.auth import LOGIN_TOKEN_TTL_S
from registry.access import (
    AuthenticationError,
    Principal,
    check_password,
    issue_token,
    revoke_token,
)
from registry.people import Role

router = APIRouter(tags=["web pages"], include_in_schema=False)
# Kept for routers that still import it from here: the shared i18n environment.
__all__ = ["HOME", "LOGIN", "PAGE_HEADERS", "PageUser", "page_context", "safe_next", "templates"]

HOME = "/"  # sends each role on to its own home page
LOGIN = "/masuk"
# Signed-in pages are one person's: never cached (shared phones, proxies), never framed, and
# with no JavaScript at all nothing but the inline stylesheet may load.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}
# msgids: the page header translates them ("farmer" is "petani").
ROLE_NAMES = {
    Role.FARMER: N_("farmer"),
    Role.OFFICER: N_("extension officer"),
    Role.VILLAGE_OFFICE: N_("village office"),
    Role.ADMIN: N_("admin"),
}
_MAX_FIELD = 200  # longer than any username or password people type; the form says so too


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, or the alerts page.

    Only "/something" is kept: "//host" and "/\\host" are other sites to a browser, and a
    scheme or control character has no business in a local path.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target)
        or urlsplit(target).netloc
    ):
        return HOME
    return target


def _sign_in_first(request: Request) -> HTTPException:
    # A form posted after the session ended goes back to the page it was on (the route's
    # parent: ".../tangani" belongs to "..."), never to the POST-only address itself.
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        here = request.url.path.rsplit("/", 1)[0]
    location = f"{LOGIN}?next={quote(safe_next(here), safe='/')}"
    if request.query_params.get("lang") in ("id", "en"):
        # A link with ?lang asks for that language: the sign-in form speaks it too.
        location += f"&lang={request.query_params['lang']}"
    # FastAPI's handler passes the status and headers through: the browser follows the 303.
    return HTTPException(303, "Perlu masuk / sign in first", headers={"Location": location})


async def _session_cookie(
    request: Request, cookie: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> str:
    if not cookie:
        raise _sign_in_first(request)
    return cookie


async def _page_token(cookie: Annotated[str, Depends(_session_cookie)], _: TokenDep) -> str:
    # api/auth's token dependency is asked as well for its cross-site refusal (a changing
    # request whose Origin is another site gets 403); its 401 cannot happen here, since
    # _session_cookie (resolved first, in parameter order) already required the cookie.
    return cookie


PageToken = Annotated[str, Depends(_page_token)]


def _page_user(request: Request, session: SessionDep, token: PageToken) -> Principal:
    try:
        principal = signed_in(request, session, token)
    except AuthenticationError:
        # Expired, revoked (signed out elsewhere) or deactivated: sign in again.
        raise _sign_in_first(request) from None
    request.state.principal = principal  # the page's language may be the person's (api.i18n)
    return principal


PageUser = Annotated[Principal, Depends(_page_user)]


def page_context(principal: Principal, **values: Any) -> dict[str, Any]:
    """Template values with the header's: who is signed in and their role (a msgid)."""
    return {"me": principal, "role_name": ROLE_NAMES[principal.role], **values}


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
