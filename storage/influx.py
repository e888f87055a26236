"""A long-lived HTTP client for InfluxDB: version detection, writes, InfluxQL queries.

Debian's InfluxDB 1.6 speaks only the v1 API (``/write``, ``/query``). Queries use InfluxQL over
``/query``, which 1.x, 2.x (with a DBRP mapping) and 3.x all answer.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from storage.line_posts import LinePosts
from storage.schema import PRECISION


class InfluxError(Exception):
    """InfluxDB could not be reached or refused a request."""


class InfluxUnavailable(InfluxError):
    """InfluxDB did not answer (down, restarting, overloaded): worth retrying later."""


class InfluxRejected(InfluxError):
    """InfluxDB answered and refused the request: retrying the same request will not help."""


class InfluxMisconfigured(InfluxRejected):
    """Refused whatever is sent (401, 403, 404: credentials, rights, database or bucket).

    No point is at fault: every write fails until the configuration or server is fixed, so a
    caller may prefer waiting and retrying to setting the data aside.
    """


# HTTP statuses that refuse the connection's configuration rather than the request's content.
MISCONFIGURED_STATUSES = (401, 403, 404)


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """The values as one dict per row."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


class InfluxDB:
    """One InfluxDB database, reached over HTTP."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        # A token (2.x, 3.x; "user:password" on 1.8) goes in the header the v1 compatibility
        # APIs of 2.x and 3.x accept; 1.x users without a token authenticate with basic auth.
        headers = {"Authorization": f"Token {token}"} if token else {}
        # InfluxDB runs beside the services (DESIGN.md): compressing answers on loopback or a
        # LAN cost both sides CPU for nothing (a village summary's queries: 29 -> 20 ms).
        headers["Accept-Encoding"] = "identity"
        auth = httpx.BasicAuth(username, password or "") if username and not token else None
        self._http = httpx.Client(base_url=self.url, auth=auth, headers=headers, timeout=timeout_s)
        self._posts = LinePosts(
            self.url,
            timeout_s,
            token=token,
            username=username if auth is not None else None,
            password=password,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
        self._posts.close()

    def ping(self) -> str:
        """The server's version, from ``/ping`` ("unknown" when it does not say)."""
        response = self._request("GET", "/ping")
        if version := response.headers.get("X-Influxdb-Version"):
            return version
        # Early InfluxDB 3 builds put the version only in the JSON body of GET /ping.
        try:
            body = response.json()
        except ValueError:
            return "unknown"
        return str(body.get("version", "unknown")) if isinstance(body, dict) else "unknown"

    def ensure_database(self) -> None:
        """Create the database if it does not exist (CREATE DATABASE is idempotent)."""
        self._query("POST", f'CREATE DATABASE "{_identifier(self.database)}"')

    def write_lines(self, lines: Sequence[str], retention_policy: str | None = None) -> None:
        """Write line protocol in one request; raise InfluxUnavailable or InfluxRejected.

        Without ``retention_policy`` the points go to the database's default one.
        """
        if not lines:
            return
        params = {"db": self.database, "precision": PRECISION}
        if retention_policy:
            params["rp"] = retention_policy
        try:
            status, text = self._posts.post(params, "\n".join(lines).encode())
        except (OSError, http.client.HTTPException) as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} did not answer: {exc!r}") from None
        _raise_for_status(self.url, "/write", status, text)

    def execute(self, statement: str) -> list[Series]:
        """Run one InfluxQL statement that changes the server (CREATE, ALTER, DROP) by POST."""
        return self._query("POST", statement)

    def query(
        self, influxql: str, params: Mapping[str, str | int | float] | None = None
    ) -> list[Series]:
        """Run one read-only InfluxQL statement with bound parameters; times in epoch ms."""
        return self._query("GET", influxql, params)

    def _query(
        self, method: str, influxql: str, params: Mapping[str, str | int | float] | None = None
    ) -> list[Series]:
        query_params = {"db": self.database, "q": influxql, "epoch": PRECISION}
        if params:
            query_params["params"] = json.dumps(dict(params))
        response = self._request(method, "/query", params=query_params)
        body = response.json()
        results = body.get("results", [])
        series: list[Series] = []
        for result in results:
            if "error" in result:
                raise InfluxRejected(f"query failed: {result['error']}")
            series.extend(
                Series(
                    name=s.get("name", ""),
                    tags=s.get("tags", {}),
                    columns=s["columns"],
                    values=s.get("values", []),  # SHOW ... answers a series without rows
                )
                for s in result.get("series", [])
            )
        return series

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} did not answer: {exc}") from None
        if response.status_code >= 400:
            _raise_for_status(self.url, path, response.status_code, response.text)
        return response


def _raise_for_status(url: str, path: str, status: int, text: str) -> None:
    """Raise InfluxUnavailable (worth retrying) or InfluxRejected for an error answer."""
    if status >= 500 or status == 429:
        raise InfluxUnavailable(f"InfluxDB at {url} answered {status}: {text[:200]}")
    if status >= 400:
        refusal = InfluxMisconfigured if status in MISCONFIGURED_STATUSES else InfluxRejected
        raise refusal(f"InfluxDB at {url} refused {path} ({status}): {text[:200]}")


def _identifier(name: str) -> str:
    """Refuse names that would need escaping inside double quotes."""
    if not name or '"' in name or "\\" in name or "\n" in name:
        raise InfluxRejected(f"invalid InfluxDB identifier {name!r}")
    return name
