"""influxdb-client's failures become InfluxUnavailable (retry) or InfluxRejected (give up)."""

from __future__ import annotations

import pytest
import urllib3
from influxdb_client.rest import ApiException

from storage.influx import InfluxMisconfigured, InfluxRejected, InfluxUnavailable
from storage.writers import map_client_error

URL = "http://influx.desa:8086"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_worth_retrying(status: int) -> None:
    error = map_client_error(ApiException(status=status, reason="Service Unavailable"), URL)
    assert isinstance(error, InfluxUnavailable)
    assert URL in str(error) and str(status) in str(error)


def test_no_http_answer_at_all_is_worth_retrying() -> None:
    # influxdb-client raises status 0 for a failed TLS handshake.
    error = map_client_error(ApiException(status=0, reason="SSLError"), URL)
    assert isinstance(error, InfluxUnavailable)


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
        urllib3.exceptions.ProtocolError("Connection aborted."),
        urllib3.exceptions.ReadTimeoutError(None, URL, "Read timed out."),  # type: ignore[arg-type]
        urllib3.exceptions.MaxRetryError(None, URL),  # type: ignore[arg-type]
    ],
)
def test_connection_failures_are_worth_retrying(exc: urllib3.exceptions.HTTPError) -> None:
    error = map_client_error(exc, URL)
    assert isinstance(error, InfluxUnavailable)
    assert "did not answer" in str(error)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "malformed"),  # partial write, field type conflict
        (401, "token"),
        (403, "rights"),
        (404, "bucket"),
        (413, "max_readings"),
        (422, "malformed"),
    ],
)
def test_refusals_are_permanent_and_say_what_to_check(status: int, hint: str) -> None:
    error = map_client_error(ApiException(status=status, reason="Refused"), URL)
    assert isinstance(error, InfluxRejected)
    assert str(status) in str(error) and hint in str(error)
    # Credentials, rights, a missing bucket: no point is at fault, every write would fail.
    assert isinstance(error, InfluxMisconfigured) is (status in (401, 403, 404))
