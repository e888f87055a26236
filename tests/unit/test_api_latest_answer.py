"""Latest conditions go out gzipped to a client that takes gzip, compressed once per kept
answer (GZipMiddleware passes an encoded answer through), and plain to one that does not."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from api.latest import STORE_CACHE_S
from api.latest_fast_path import LatestFastPath
from api.routers import fields
from registry.directory import DeviceIn, upsert_device
from storage.last_values import LastValues, default_url
from tests.unit.api_support import NOW_MS, Site, running_site

QUANTITIES = [
    "soil_moisture",
    "soil_temperature",
    "soil_ec",
    "soil_ph",
    "soil_nitrogen",
    "soil_phosphorus",
    "soil_potassium",
    "air_temperature",
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with running_site(tmp_path, latest_cache_s=60) as site:
        store = LastValues(default_url(f"sqlite:///{tmp_path / 'registry.sqlite3'}"))
        try:
            store.record(
                {
                    ("sawah-budi", "soil-1", q): (NOW_MS + i, 10.0 + i, "good")
                    for i, q in enumerate(QUANTITIES)
                }
            )
        finally:
            store.close()
        yield site


def test_latest_is_gzipped_once_for_those_who_take_gzip_and_plain_for_the_rest(site: Site) -> None:
    url = "/api/v1/fields/sawah-budi/latest"
    plain = site.client.get(url, headers=site.auth("budi") | {"Accept-Encoding": "identity"})
    assert plain.status_code == 200, plain.text
    assert "content-encoding" not in plain.headers
    body = plain.json()
    assert [r["quantity"] for r in body["readings"]] == sorted(QUANTITIES)
    assert len(plain.content) >= 1000  # large enough to be compressed

    for _ in range(2):  # made now, then the kept answer
        packed = site.client.get(
            url, headers=site.auth("budi") | {"Accept-Encoding": "gzip, deflate"}
        )
        assert packed.status_code == 200
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.headers["vary"] == "Accept-Encoding"
        # Compressed once: the client's one decoding gives the JSON back.
        assert packed.json() == body
        assert int(packed.headers["content-length"]) < len(plain.content) / 2


def test_a_kept_answer_is_still_only_for_those_who_may_see_the_field(site: Site) -> None:
    url = "/api/v1/fields/sawah-budi/latest"
    for user in ("budi", "ppl", "tono", "siti"):  # each principal kept, the answer kept
        site.client.get(url, headers=site.auth(user))
    assert site.client.get(url, headers=site.auth("budi")).status_code == 200
    assert site.client.get(url, headers=site.auth("ppl")).status_code == 200  # v1's officer
    # Another farmer of the village, and a farmer of another village: "not found".
    assert site.client.get(url, headers=site.auth("tono")).status_code == 404
    assert site.client.get(url, headers=site.auth("siti")).status_code == 404
    assert site.client.get(url).status_code == 401
    assert site.client.get(url, headers={"Authorization": "Bearer tani_nobody"}).status_code == 401
    assert (
        site.client.get(url, headers={"Authorization": "Basic " + site.tokens["budi"]}).status_code
        == 401
    )
    # Signed out: the token kept a moment ago is refused at once.
    assert site.client.post("/api/v1/auth/logout", headers=site.auth("budi")).status_code == 204
    assert site.client.get(url, headers=site.auth("budi")).status_code == 401


def _ask(fast_path: LatestFastPath, token: str, encoding: bytes = b"gzip") -> list[Message]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/fields/sawah-budi/latest",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"accept-encoding", encoding)],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(fast_path(scope, receive, send))
    return sent


def test_the_fast_path_answers_only_what_is_kept_and_passes_the_rest_on(site: Site) -> None:
    passed_on: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        passed_on.append(scope)

    state = site.client.app.state  # type: ignore[attr-defined]
    fast_path = LatestFastPath(app, state, fields.router.routes)
    assert _ask(fast_path, site.tokens["budi"]) == []  # nothing kept yet
    assert len(passed_on) == 1

    via_app = site.client.get("/api/v1/fields/sawah-budi/latest", headers=site.auth("budi"))
    start, body = _ask(fast_path, site.tokens["budi"])
    assert len(passed_on) == 1
    assert start["status"] == 200 and (b"content-encoding", b"gzip") in start["headers"]
    assert json.loads(gzip.decompress(body["body"])) == via_app.json()
    _, plain = _ask(fast_path, site.tokens["budi"], encoding=b"identity")
    assert json.loads(plain["body"]) == via_app.json()

    assert _ask(fast_path, site.tokens["siti"]) == []  # may not see it: the route says 404
    assert len(passed_on) == 2


def test_the_fast_path_makes_an_expired_answer_anew_and_leaves_a_failure_to_the_route(
    site: Site, tmp_path: Path
) -> None:
    passed_on: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        passed_on.append(scope)

    state = site.client.app.state  # type: ignore[attr-defined]
    fast_path = LatestFastPath(app, state, fields.router.routes)
    url = "/api/v1/fields/sawah-budi/latest"
    assert site.client.get(url, headers=site.auth("budi")).status_code == 200
    store = LastValues(default_url(f"sqlite:///{tmp_path / 'registry.sqlite3'}"))
    try:
        store.record({("sawah-budi", "soil-1", "soil_moisture"): (NOW_MS + 60_000, 41.5, "good")})
    finally:
        store.close()
    time.sleep(STORE_CACHE_S + 0.1)  # the kept answer and values expire
    _, body = _ask(fast_path, site.tokens["budi"], encoding=b"identity")
    assert passed_on == []
    moisture = [r for r in json.loads(body["body"])["readings"] if r["quantity"] == "soil_moisture"]
    assert moisture[0]["value"] == 41.5

    # A device placed in the field that the store lacks: InfluxDB is asked, and is down here.
    with Session(site.registry.engine) as session, session.begin():
        upsert_device(
            session,
            DeviceIn(gateway_id="g1", id="soil-9", kind="modbus_soil", field_id="sawah-budi"),
        )
    state.latest.forget_fields()
    assert site.client.get(url, headers=site.auth("budi")).status_code == 503
    assert _ask(fast_path, site.tokens["budi"]) == []
    assert len(passed_on) == 1  # the route answers 503 with its message
