"""One service's Prometheus metrics, served on /metrics on a port of their own, with /healthz.

Ingest, the alerts service and the API each subclass :class:`MetricsEndpoint` and register
their metrics in ``self.registry``; the port is separate from any public one, so metrics
are reachable only where the operator opens them. A service that can tell when it is alive
but not doing its work (a consumer holding messages it does not acknowledge) passes a health
check: ``/healthz`` answers 200 or 503 with the reasons as JSON, for compose, systemd timers
or a village office's monitoring.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

# (healthy, details): details go out as the JSON body.
HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class MetricsEndpoint:
    """A metrics registry and, once :meth:`serve` ran, the HTTP server answering /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._server: WSGIServer | None = None
        self.port: int | None = None

    def serve(self, host: str, port: int, health: HealthCheck | None = None) -> int:
        """Serve /metrics (and /healthz with ``health``); returns the port (useful for 0)."""
        metrics = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if health is None or environ.get("PATH_INFO") != "/healthz":
                return metrics(environ, start_response)
            healthy, details = health()
            body = json.dumps({"healthy": healthy, **details}).encode()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [body]

        server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._server = server
        self.port = server.server_port
        return self.port

    def close(self) -> None:
        """Stop serving (nothing to do if it never served)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
