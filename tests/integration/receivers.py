"""Real local receivers of notifications: an SMTP server (aiosmtpd) and an HTTP webhook."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept and keep the message (aiosmtpd's DATA hook)."""
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"

    def texts(self) -> list[tuple[str, str]]:
        """(subject, plain-text body) of each message."""
        result = []
        for message in self.messages:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None, "apprise sent no text/plain part"
            result.append((str(message["subject"]), str(body.get_content()).strip()))
        return result


class Webhook:
    """An HTTP receiver of apprise's json:// posts; the test starts and stops it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"json://127.0.0.1:{port}/hook"
        self.received: list[dict[str, Any]] = []
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on the port and keep every JSON body posted to it."""
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output to failures

        self._server = HTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook")
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the socket."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None


def smtp_url(port: int) -> str:
    """apprise's URL of a local SMTP server without TLS or authentication."""
    return f"mailto://127.0.0.1:{port}?from=tani@example.id&to=ppl@example.id&mode=insecure"
