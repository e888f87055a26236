"""Latest conditions answered before routing when everything the answer needs is at hand.

A phone asking for its field's latest conditions is the API's most frequent request, and once
the token's principal, the field's registry entry and the field's answer are kept (see
``api.auth`` and ``api.latest``) answering it is a dictionary lookup. FastAPI's routing,
dependency solving and the middleware stack around them still cost most of a millisecond of CPU
a request on a Raspberry Pi class core, which under 20 concurrent clients became tens of
milliseconds of queueing. This ASGI middleware answers exactly that case itself: a GET of
``/api/v1/fields/{field_id}/latest`` with a bearer token whose principal is kept and may see the
field, whose entry and answer are kept. Anything else (no token, a cookie, a principal or answer
not kept, a field the caller may not see, another path) goes to the app unchanged, so every
check, error and status stays the route's own.
"""

from __future__ import annotations

from starlette.datastructures import State
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import now_ms

PREFIX = "/api/v1/fields/"
SUFFIX = "/latest"
_TEMPLATE = PREFIX + "{field_id}" + SUFFIX


class LatestFastPath:
    """ASGI middleware: a kept latest-conditions answer sent without routing (see module)."""

    def __init__(self, app: ASGIApp, state: State, routes: list[BaseRoute]) -> None:
        self.app = app
        self._state = state
        # Set in the scope, so the request metrics count a fast answer under its route.
        self._route = next(r for r in routes if getattr(r, "path", None) == _TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a kept latest-conditions request, else pass the request on."""
        answer = self._kept(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        body, headers = answer
        scope["route"] = self._route
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _kept(self, scope: Scope) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        path: str = scope["path"]
        if scope["method"] != "GET" or not path.startswith(PREFIX) or not path.endswith(SUFFIX):
            return None
        field_id = path[len(PREFIX) : -len(SUFFIX)]
        authorization = accept_encoding = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"accept-encoding":
                accept_encoding = value
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        state = self._state
        # Uncounted looks: a request passed on looks again, counted, in the route.
        principal = state.principals.get(token, count=False)
        if principal is None:
            return None
        info = state.latest.field_kept(field_id, count=False)
        if info is None or not principal.can_see_field(info.id, info.village_id):
            return None
        kept = state.latest.answer_kept(info.id, count=False)
        if kept is None:
            return None
        state.principals.count_hit()
        state.latest.count_kept_answer()
        state.token_uses.note(token, now_ms())
        body, encoding = kept.encoded(accept_encoding.decode("latin-1"))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in encoding.items()),
        ]
        return body, headers
