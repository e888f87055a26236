"""Writes to any InfluxDB: v1 ``/write`` before 1.8, ``influxdb-client``'s write API after.

:class:`InfluxWriter` is an :class:`~storage.influx.InfluxDB` (queries stay InfluxQL over
``/query`` everywhere) that asks ``/ping`` once which server it talks to, then writes:

- to 1.x before 1.8 (Debian's 1.6): line protocol to ``/write``, as before;
- to 1.8+, 2.x and 3.x: line protocol through one long-lived ``influxdb-client`` with the
  SYNCHRONOUS write API to ``/api/v2/write``, precision ms. The bucket is ``database/rp`` on
  1.8 (token ``username:password``), the configured bucket (default: the database) on 2.x and
  3.x. Rollups go to retention policy ``rollup``: ``database/rollup`` on 1.8,
  ``<bucket>_rollup`` on 2.x, and on 3.x, which has no retention policies, the same database.

Every failure becomes InfluxUnavailable (retry later: no answer, 429, 5xx) or InfluxRejected
(retrying the same request cannot help: 4xx), as ingest's retry loop expects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import urllib3
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS, WriteApi
from influxdb_client.rest import ApiException

from storage.influx import (
    MISCONFIGURED_STATUSES,
    InfluxDB,
    InfluxError,
    InfluxMisconfigured,
    InfluxRejected,
    InfluxUnavailable,
)
from storage.provision import DEFAULT_RETENTION_POLICY, provision_v1, provision_v2
from storage.rollups import StorageLayout
from storage.schema import PRECISION, ROLLUP_RETENTION_POLICY
from storage.version import Generation, ServerVersion, UnknownVersionError, parse_version

log = logging.getLogger(__name__)

_HINTS = {
    401: "check [influx] token (on 1.8: username and password)",
    403: "the token may not do this: give it write (or, for create = true, all-access) rights",
    404: "the bucket or org does not exist: check [influx] bucket and org, or set create = true",
    413: "the batch is larger than the server accepts: lower [batch] max_readings",
}


def map_client_error(exc: ApiException | urllib3.exceptions.HTTPError, url: str) -> InfluxError:
    """The InfluxError for an influxdb-client failure: Unavailable if worth retrying."""
    if isinstance(exc, urllib3.exceptions.HTTPError):
        # Connection refused or reset, timeouts, DNS: urllib3's errors, not retried by the client.
        return InfluxUnavailable(f"InfluxDB at {url} did not answer: {exc}")
    status = exc.status or 0
    message = getattr(exc, "message", None) or exc.reason
    # Status 0: no HTTP answer (a TLS handshake that failed): ingest retries and logs it loudly.
    if status == 0 or status == 429 or status >= 500:
        return InfluxUnavailable(f"InfluxDB at {url} answered {status or 'nothing'}: {message}")
    hint = _HINTS.get(status, "the points or the request are malformed")
    refusal = InfluxMisconfigured if status in MISCONFIGURED_STATUSES else InfluxRejected
    return refusal(f"InfluxDB at {url} refused the request ({status}: {message}); {hint}")


class InfluxWriter(InfluxDB):
    """An InfluxDB database on a server of any version, written through the API it speaks.

    Thread-safe: ingest's writer thread and a rollup job may share one.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        org: str | None = None,
        bucket: str | None = None,
        layout: StorageLayout | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(
            url, database, username=username, password=password, token=token, timeout_s=timeout_s
        )
        self.layout = layout or StorageLayout()
        # 1.8's v2 API authenticates "Token username:password".
        self._token = token or (f"{username}:{password or ''}" if username else None)
        self._org = org
        self._bucket = bucket
        self._lock = threading.Lock()
        self._detected = False
        self._server: ServerVersion | None = None
        self._client: InfluxDBClient | None = None
        self._write_api: WriteApi | None = None

    def server(self) -> ServerVersion | None:
        """The server's version, asked once; None if it did not say (InfluxUnavailable if down)."""
        with self._lock:
            if not self._detected:
                text = self.ping()
                try:
                    self._server = parse_version(text)
                    log.info("InfluxDB detected", extra={"url": self.url, "version": text})
                except UnknownVersionError as exc:
                    # A proxy that strips headers, or InfluxDB Cloud (unversioned): guess.
                    log.warning(
                        f"{exc}; writing through the "
                        f"{'v2 API (a token is set)' if self._token else 'v1 /write endpoint'}",
                        extra={"url": self.url, "version": text},
                    )
                self._detected = True
            return self._server

    def write_lines(self, lines: Sequence[str], retention_policy: str | None = None) -> None:
        """Write line protocol in one request; raise InfluxUnavailable or InfluxRejected."""
        if not lines:
            return
        server = self.server()
        if not self._speaks_v2(server):
            super().write_lines(lines, retention_policy)
            return
        bucket = self.bucket_for(server, retention_policy)
        try:
            self._writer().write(
                bucket=bucket,
                # 1.8 and 3.x ignore the org, but influxdb-client insists on one.
                org=self._org or "-",
                record="\n".join(lines),
                write_precision=PRECISION,
            )
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            raise map_client_error(exc, self.url) from None

    def bucket_for(self, server: ServerVersion | None, retention_policy: str | None) -> str:
        """The v2 API bucket that holds ``retention_policy`` (None: the readings')."""
        if server is not None and server.generation is Generation.V1:
            if retention_policy:
                return f"{self.database}/{retention_policy}"
            return self._bucket or self.database
        raw = self._bucket or self.database
        if retention_policy and (server is None or server.generation is Generation.V2):
            return f"{raw}_{retention_policy}"
        return raw  # 3.x has no retention policies: rollups live beside the readings

    def ensure_database(self) -> None:
        """Create database, retention and rollup upkeep as the server's version allows.

        See :mod:`storage.provision`; idempotent. Raises InfluxUnavailable or InfluxRejected.
        """
        server = self.server()
        if server is None:
            raise InfluxRejected(
                f"InfluxDB at {self.url} did not say its version, so what to create is unknown: "
                "create the database or bucket yourself and set [influx] create = false"
            )
        if server.generation is Generation.V1:
            provision_v1(self, self.layout)
        elif server.generation is Generation.V2:
            self._provision_v2(server)
        else:
            log.info(
                "InfluxDB 3 creates the database on first write; nothing to provision",
                extra={"url": self.url, "database": self.database},
            )

    def close(self) -> None:
        """Close the HTTP connections and the influxdb-client."""
        super().close()
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._write_api = None

    def _provision_v2(self, server: ServerVersion) -> None:
        buckets = {
            DEFAULT_RETENTION_POLICY: (self.bucket_for(server, None), self.layout.raw_retention),
            ROLLUP_RETENTION_POLICY: (
                self.bucket_for(server, ROLLUP_RETENTION_POLICY),
                self.layout.rollup_retention,
            ),
        }
        try:
            provision_v2(self._connect(), database=self.database, org=self._org, buckets=buckets)
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            raise map_client_error(exc, self.url) from None

    def _speaks_v2(self, server: ServerVersion | None) -> bool:
        return server.speaks_v2_write if server is not None else self._token is not None

    def _connect(self) -> InfluxDBClient:
        with self._lock:
            if self._client is None:
                # One long-lived client: urllib3 keeps its connections open between batches.
                # No retries inside it: ingest retries with backoff and acks only after success.
                self._client = InfluxDBClient(
                    url=self.url,
                    token=self._token,
                    org=self._org,
                    timeout=int(self.timeout_s * 1000),
                )
            return self._client

    def _writer(self) -> WriteApi:
        client = self._connect()
        with self._lock:
            if self._write_api is None:
                self._write_api = client.write_api(write_options=SYNCHRONOUS)
            return self._write_api
