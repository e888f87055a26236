"""Latest conditions answered before routing once the asker is known.

A phone asking for its field's latest conditions is the API's most frequent request. Once the
token's principal and the field's registry entry are kept (``api.auth``, ``api.latest``),
answering it is the field's kept answer, or one store lookup on the thread pool. FastAPI's
routing, dependency solving and the middleware around them cost most of a millisecond of CPU
on top, which under 20 concurrent clients became tens of milliseconds of queueing. This ASGI
middleware answers that case itself: a GET of ``/api/v1/fields/{field_id}/latest`` with a bearer
token whose principal is kept and may see the field, whose entry is kept. Anything else (no
token, a cookie, a principal or field not kept, a field the caller may not see, another path,
a database that does not answer) goes to the app unchanged, so every check, error and status
stays the route's own.
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import now_ms
from api.routers.fields import field_answer
from registry.store import FieldInfo
from storage.influx import InfluxError

PREFIX = "/api/v1/fields/"
SUFFIX = "/latest"
_TEMPLATE = PREFIX + "{field_id}" + SUFFIX


class LatestFastPath:
    """ASGI middleware: latest conditions answered without routing once the asker is known
    (see the module)."""

    def __init__(self, app: ASGIApp, state: State, routes: list[BaseRoute]) -> None:
        self.app = app
        self._state = state
        # Set in the scope, so the request metrics count a fast answer under its route.
        self._route = next(r for r in routes if getattr(r, "path", None) == _TEMPLATE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a latest-conditions request whose asker is known, else pass it on."""
        asked = self._asked(scope) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        token, info, accept_encoding = asked
        state = self._state
        answer = state.latest.answer_kept(info.id)
        if answer is None:
            try:
                answer = await run_in_threadpool(field_answer, state.latest, info)
            except InfluxError:
                # The route says so, with its status and message (and counts its own looks).
                await self.app(scope, receive, send)
                return
        state.principals.count_hit()
        state.latest.count_field_hit()
        state.token_uses.note(token, now_ms())
        body, encoding = answer.encoded(accept_encoding)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in encoding.items()),
        ]
        scope["route"] = self._route
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _asked(self, scope: Scope) -> tuple[str, FieldInfo, str] | None:
        """(token, field, Accept-Encoding) of a request this path answers, else None."""
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
        # Uncounted looks: a request passed on looks again, counted, in the route.
        principal = self._state.principals.get(token, count=False)
        if principal is None:
            return None
        info = self._state.latest.field_kept(field_id, count=False)
        if info is None or not principal.can_see_field(info.id, info.village_id):
            return None
        return token, info, accept_encoding.decode("latin-1")
