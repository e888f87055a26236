"""The v2 write path and 2.x provisioning, against a local HTTP server that records requests.

InfluxDB 1.8, 2.x and 3.x cannot run on this machine (no package in our registries), so the
server on the other side is a plain ``http.server`` answering as they do: ``/ping`` with their
``X-Influxdb-Version``, ``/api/v2/*`` with their status codes and JSON. The requests that the
real ``influxdb-client`` sends are checked byte for byte; the 1.x path runs against the real
influxd in tests/integration.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from storage.influx import InfluxRejected, InfluxUnavailable
from storage.rollups import StorageLayout
from storage.schema import ROLLUP_RETENTION_POLICY
from storage.writers import InfluxWriter

LINES = [
    "reading,device_id=soil-1,gateway_id=gw-1,quantity=soil_moisture value=31.5 1700000000000",
    'reading,device_id=soil-1,gateway_id=gw-1,quantity=soil_ph value=6.2,seq="7" 1700000000000',
]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Response = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    # Non-daemon request threads, so server_close() waits for the last one to finish.
    daemon_threads = False


@dataclass
class Recorder:
    """An HTTP server that records every request and answers from ``routes``."""

    version: str | None
    requests: list[Request] = field(default_factory=list)
    routes: dict[tuple[str, str], Response | Callable[[Request], Response]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length", 0))
                request = Request(
                    self.command,
                    url.path,
                    dict(parse_qsl(url.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                recorder.requests.append(request)
                status, headers, body = recorder.answer(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test output stays readable

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, request: Request) -> Response:
        if request.path == "/ping":
            return 204, {"X-Influxdb-Version": self.version} if self.version else {}, b""
        route = self.routes.get((request.method, request.path))
        if route is None:
            return _json(404, {"code": "not found", "message": "path not found"})
        return route(request) if callable(route) else route

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()

    def sent(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _json(status: int, body: object) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def recorder(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    server = Recorder(getattr(request, "param", "v2.7.4"))
    server.routes[("POST", "/api/v2/write")] = (204, {}, b"")
    yield server
    server.close()


def _writer(recorder: Recorder, **kwargs: object) -> InfluxWriter:
    options: dict = {"token": "s3cret", "org": "desa"} | kwargs
    return InfluxWriter(recorder.url, "tani", **options)


@pytest.mark.parametrize(
    ("recorder", "raw_bucket", "rollup_bucket"),
    [
        ("v2.7.4", "tani", "tani_rollup"),
        ("2.7.1", "tani", "tani_rollup"),
        ("3.8.0", "tani", "tani"),  # 3.x: no retention policies, rollups beside readings
    ],
    indirect=["recorder"],
)
def test_v2_write_sends_line_protocol_with_token_org_bucket_and_ms_precision(
    recorder: Recorder, raw_bucket: str, rollup_bucket: str
) -> None:
    writer = _writer(recorder)
    try:
        writer.write_lines(LINES)
        writer.write_lines(LINES[:1], retention_policy=ROLLUP_RETENTION_POLICY)
    finally:
        writer.close()
    raw, rollup = recorder.sent("/api/v2/write")
    assert raw.method == "POST"
    assert raw.query == {"org": "desa", "bucket": raw_bucket, "precision": "ms"}
    assert raw.headers["authorization"] == "Token s3cret"
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.body == "\n".join(LINES).encode()
    assert rollup.query["bucket"] == rollup_bucket
    assert len(recorder.sent("/ping")) == 1  # the version is asked once
    assert not recorder.sent("/write")


@pytest.mark.parametrize("recorder", ["1.8.10"], indirect=True)
def test_influxdb_1_8_gets_database_slash_rp_buckets_and_a_username_password_token(
    recorder: Recorder,
) -> None:
    writer = InfluxWriter(recorder.url, "tani", username="ingest", password="pw")
    try:
        writer.write_lines(LINES)
        writer.write_lines(LINES, retention_policy=ROLLUP_RETENTION_POLICY)
    finally:
        writer.close()
    raw, rollup = recorder.sent("/api/v2/write")
    assert raw.headers["authorization"] == "Token ingest:pw"
    assert raw.query["bucket"] == "tani"  # the database's default retention policy
    assert rollup.query["bucket"] == "tani/rollup"
    assert raw.query["org"] == "-"  # ignored by 1.8, required by influxdb-client


@pytest.mark.parametrize("recorder", ["1.6.7~rc0"], indirect=True)
def test_influxdb_before_1_8_is_written_through_v1_write(recorder: Recorder) -> None:
    recorder.routes[("POST", "/write")] = (204, {}, b"")
    writer = InfluxWriter(recorder.url, "tani")
    try:
        writer.write_lines(LINES, retention_policy=ROLLUP_RETENTION_POLICY)
    finally:
        writer.close()
    (sent,) = recorder.sent("/write")
    assert sent.query == {"db": "tani", "precision": "ms", "rp": "rollup"}
    assert sent.body == "\n".join(LINES).encode()
    assert not recorder.sent("/api/v2/write")


@pytest.mark.parametrize(
    ("recorder", "token", "path"),
    [(None, "t", "/api/v2/write"), (None, None, "/write")],
    indirect=["recorder"],
)
def test_a_server_that_hides_its_version_is_written_as_the_credentials_suggest(
    recorder: Recorder, token: str | None, path: str
) -> None:
    recorder.routes[("POST", "/write")] = (204, {}, b"")
    writer = InfluxWriter(recorder.url, "tani", token=token)
    try:
        writer.write_lines(LINES)
        assert writer.server() is None
        with pytest.raises(InfluxRejected, match="create = false"):
            writer.ensure_database()
    finally:
        writer.close()
    assert len(recorder.sent(path)) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (
            400,
            {"code": "invalid", "message": "partial write: field type conflict"},
            InfluxRejected,
            "field type conflict",
        ),
        (401, {"code": "unauthorized", "message": "unauthorized access"}, InfluxRejected, "token"),
        (
            404,
            {"code": "not found", "message": 'bucket "tani" not found'},
            InfluxRejected,
            "bucket",
        ),
        (
            413,
            {"code": "request too large", "message": "too large"},
            InfluxRejected,
            "max_readings",
        ),
        (429, {"code": "too many requests", "message": "slow down"}, InfluxUnavailable, "429"),
        (503, {"code": "unavailable", "message": "service unavailable"}, InfluxUnavailable, "503"),
    ],
)
def test_write_errors_map_to_retry_or_refusal(
    recorder: Recorder, status: int, body: dict, error: type[Exception], text: str
) -> None:
    recorder.routes[("POST", "/api/v2/write")] = _json(status, body)
    writer = _writer(recorder)
    try:
        with pytest.raises(error, match=text) as raised:
            writer.write_lines(LINES)
    finally:
        writer.close()
    assert recorder.url in str(raised.value)
    assert len(recorder.sent("/api/v2/write")) == 1  # the client itself never retries


def test_a_server_gone_after_detection_is_unavailable(recorder: Recorder) -> None:
    writer = _writer(recorder)
    try:
        writer.write_lines(LINES)
        recorder.close()
        with pytest.raises(InfluxUnavailable, match="did not answer"):
            writer.write_lines(LINES)
    finally:
        writer.close()


def test_provisioning_on_2x_creates_buckets_and_dbrp_mappings(recorder: Recorder) -> None:
    org = {"id": "0a1b2c3d4e5f6a7b", "name": "desa"}
    created: dict[str, dict] = {}

    def create_bucket(request: Request) -> Response:
        bucket = json.loads(request.body)
        created[bucket["name"]] = {"id": f"id-{bucket['name']}", **bucket}
        return _json(201, created[bucket["name"]])

    def create_dbrp(request: Request) -> Response:
        return _json(201, {"id": "d", **json.loads(request.body)})

    recorder.routes.update(
        {
            ("GET", "/api/v2/orgs"): _json(200, {"orgs": [org]}),
            ("GET", "/api/v2/buckets"): _json(200, {"buckets": []}),
            ("POST", "/api/v2/buckets"): create_bucket,
            ("GET", "/api/v2/dbrps"): _json(200, {"content": []}),
            ("POST", "/api/v2/dbrps"): create_dbrp,
        }
    )
    writer = _writer(recorder, layout=StorageLayout(raw_retention="400d"))
    try:
        writer.ensure_database()
    finally:
        writer.close()
    assert recorder.sent("/api/v2/orgs")[0].query == {"org": "desa"}
    lookups = [r.query for r in recorder.sent("/api/v2/buckets") if r.method == "GET"]
    assert lookups == [
        {"orgID": org["id"], "name": "tani"},
        {"orgID": org["id"], "name": "tani_rollup"},
    ]
    assert created["tani"]["retentionRules"] == [{"type": "expire", "everySeconds": 400 * 86400}]
    assert created["tani_rollup"]["retentionRules"] == [{"type": "expire", "everySeconds": 0}]
    assert all(b["orgID"] == org["id"] for b in created.values())
    mappings = [json.loads(r.body) for r in recorder.sent("/api/v2/dbrps") if r.method == "POST"]
    assert mappings == [
        {
            "orgID": org["id"],
            "bucketID": "id-tani",
            "database": "tani",
            "retention_policy": "autogen",
            "default": True,
        },
        {
            "orgID": org["id"],
            "bucketID": "id-tani_rollup",
            "database": "tani",
            "retention_policy": "rollup",
            "default": False,
        },
    ]
    assert all(r.headers["authorization"] == "Token s3cret" for r in recorder.requests[1:])


def test_provisioning_on_2x_keeps_what_exists(recorder: Recorder) -> None:
    bucket = {
        "id": "b1",
        "name": "tani",
        "orgID": "0a1b2c3d4e5f6a7b",
        "retentionRules": [{"type": "expire", "everySeconds": 0}],
    }
    dbrp = {
        "id": "d1",
        "orgID": "0a1b2c3d4e5f6a7b",
        "bucketID": "b1",
        "database": "tani",
        "retention_policy": "autogen",
        "default": True,
    }
    recorder.routes.update(
        {
            ("GET", "/api/v2/orgs"): _json(
                200, {"orgs": [{"id": "0a1b2c3d4e5f6a7b", "name": "desa"}]}
            ),
            ("GET", "/api/v2/buckets"): _json(200, {"buckets": [bucket]}),
            ("GET", "/api/v2/dbrps"): _json(200, {"content": [dbrp]}),
        }
    )
    writer = _writer(recorder)  # no raw retention configured: the bucket's stays as it is
    try:
        writer.ensure_database()
    finally:
        writer.close()
    assert {r.method for r in recorder.requests} == {"GET"}


def test_provisioning_on_2x_without_org_says_which_key_to_set(recorder: Recorder) -> None:
    writer = InfluxWriter(recorder.url, "tani", token="s3cret")
    try:
        with pytest.raises(InfluxRejected, match=r"\[influx\] org"):
            writer.ensure_database()
    finally:
        writer.close()


def test_provisioning_on_2x_with_a_write_only_token_is_refused(recorder: Recorder) -> None:
    recorder.routes[("GET", "/api/v2/orgs")] = _json(
        401, {"code": "unauthorized", "message": "read:orgs is unauthorized"}
    )
    writer = _writer(recorder)
    try:
        with pytest.raises(InfluxRejected, match="read:orgs is unauthorized"):
            writer.ensure_database()
    finally:
        writer.close()


@pytest.mark.parametrize("recorder", ["3.8.0"], indirect=True)
def test_nothing_is_provisioned_on_3x(recorder: Recorder) -> None:
    writer = _writer(recorder)
    try:
        writer.ensure_database()
    finally:
        writer.close()
    assert [r.path for r in recorder.requests] == ["/ping"]
