"""The demo's notification inbox: a local webhook that apprise's ``json://`` channels post to.

In the field these would be Telegram, WhatsApp or e-mail; the demo has no network, so each
person's channel is a path on this receiver, and what arrives is printed where the demo runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class DemoInbox:
    """Receives apprise JSON posts on 127.0.0.1 and echoes them as "to whom: message"."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.received = 0
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                    message = str(body.get("message", ""))
                except (ValueError, AttributeError):
                    self.send_response(400)
                    self.end_headers()
                    return
                inbox.received += 1
                echo(f"Pesan untuk / message to {self.path.strip('/')}: {message}")
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Requests are echoed above, not logged again."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="demo-inbox", daemon=True
        )

    def url(self, recipient: str) -> str:
        """The apprise URL of one recipient's channel."""
        return f"json://127.0.0.1:{self._server.server_address[1]}/{recipient}"

    def start(self) -> None:
        """Start receiving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop receiving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
