"""A JSON answer made once and sent many times: compressed once too.

GZipMiddleware compresses every response anew; for an answer kept and sent to many phones that
was the largest part of the request's work left. A response that already says how it is encoded
is passed through by the middleware untouched.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

from fastapi import Request, Response

# Smaller answers go out as they are (the API's GZipMiddleware uses the same limit): the
# gzip header and the client's work are not worth it.
GZIP_MIN_BYTES = 1000
_GZIPPED = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """A JSON body, and its gzip form when it is large enough to be worth compressing."""

    body: bytes
    gzipped: bytes | None

    @classmethod
    def of(cls, body: bytes) -> KeptAnswer:
        """Compress ``body`` now, if large enough."""
        gzipped = gzip.compress(body, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        return cls(body, gzipped)

    def encoded(self, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
        """The body for a client that sent this Accept-Encoding, and the headers that say how
        it is encoded."""
        if self.gzipped is not None and "gzip" in accept_encoding:
            return self.gzipped, _GZIPPED
        return self.body, {}

    def response(self, request: Request) -> Response:
        """The answer as the client accepts it."""
        body, headers = self.encoded(request.headers.get("accept-encoding", ""))
        return Response(body, media_type="application/json", headers=headers)
