"""One service's Prometheus metrics, served on /metrics on a port of their own.

Ingest, the alerts service and the API each subclass :class:`MetricsEndpoint` and register
their metrics in ``self.registry``; the port is separate from any public one, so metrics
are reachable only where the operator opens them.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server


class MetricsEndpoint:
    """A metrics registry and, once :meth:`serve` ran, the HTTP server answering /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._server: WSGIServer | None = None
        self.port: int | None = None

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics; returns the port (useful when ``port`` is 0)."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        self._server = server
        self.port = server.server_port
        return self.port

    def close(self) -> None:
        """Stop serving (nothing to do if it never served)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
