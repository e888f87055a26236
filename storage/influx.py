"""A long-lived HTTP client for InfluxDB: version detection, writes, InfluxQL queries.

Debian's InfluxDB 1.6 speaks only the v1 API (``/write``, ``/query``). Queries use InfluxQL over
``/query``, which 1.x, 2.x (with a DBRP mapping) and 3.x all answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from storage.schema import PRECISION


class InfluxError(Exception):
    """InfluxDB could not be reached or refused a request."""


class InfluxUnavailable(InfluxError):
    """InfluxDB did not answer (down, restarting, overloaded): worth retrying later."""


class InfluxRejected(InfluxError):
    """InfluxDB answered and refused the request: retrying the same request will not help."""


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
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def ping(self) -> str:
        """The server's version, from ``/ping``."""
        response = self._request("GET", "/ping")
        return response.headers.get("X-Influxdb-Version", "unknown")

    def ensure_database(self) -> None:
        """Create the database if it does not exist (CREATE DATABASE is idempotent)."""
        self._query("POST", f'CREATE DATABASE "{_identifier(self.database)}"')

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write line protocol in one request; raise InfluxUnavailable or InfluxRejected."""
        if not lines:
            return
        self._request(
            "POST",
            "/write",
            params={"db": self.database, "precision": PRECISION},
            content="\n".join(lines).encode(),
        )

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
                    values=s["values"],
                )
                for s in result.get("series", [])
            )
        return series

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} did not answer: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise InfluxUnavailable(
                f"InfluxDB at {self.url} answered {response.status_code}: {response.text[:200]}"
            )
        if response.status_code >= 400:
            raise InfluxRejected(
                f"InfluxDB at {self.url} refused {path} ({response.status_code}): "
                f"{response.text[:200]}"
            )
        return response


def _identifier(name: str) -> str:
    """Refuse names that would need escaping inside double quotes."""
    if not name or '"' in name or "\\" in name or "\n" in name:
        raise InfluxRejected(f"invalid InfluxDB identifier {name!r}")
    return name
