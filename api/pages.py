"""What every signed-in web page shares: its headers, the signed-in person, the page frame.

The pages carry the same API token as the JSON API, in the HttpOnly ``tani_session`` cookie,
so a page is allowed exactly what the API allows that person. Signed out, a page answers with
a redirect to the login form (which comes back afterwards), not with the API's JSON 401.
Routers import these; no router imports another.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Cookie, Depends, HTTPException, Request, Response

from agronomy.crops import CROPS
from api.auth import SESSION_COOKIE, SessionDep, TokenDep, signed_in
from api.i18n import N_, page_language, render
from registry.access import AuthenticationError, Principal
from registry.people import Role
from telemetry.quantities import QUANTITIES

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


LABELS = {key: spec.label_en for key, spec in QUANTITIES.items()}  # msgids


def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A signed-in page: never cached, in the request's language."""
    crops = {
        crop.id: crop.name_id if page_language(request).code == "id" else crop.name_en
        for crop in CROPS.values()
    }
    context = {"crops": crops, "labels": LABELS, **context}
    return render(request, name, context, status_code=status_code, headers=PAGE_HEADERS)


def site_offset(request: Request) -> int:
    """The site's UTC offset (WIB 7), for local times."""
    return request.app.state.config.utc_offset_h
