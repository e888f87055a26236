"""Schema-driven fuzzing: schemathesis generates requests from the API's own OpenAPI document
and sends them over HTTP to the real application (uvicorn, real influxd, SQLite registry).

No generated request may make the server fail (5xx): bad input is a 4xx with a reason. Requests
are signed as an admin (the role that reaches the most code), and the only operation left out is
logout, which would end the fuzzing session's own token.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from api.config import ApiConfig, BrokerSettings, InfluxSettings
from registry.access import issue_token
from registry.directory import UserIn, create_user
from registry.people import Role
from registry.store import FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from tani.stack import Stack
from tests.integration.support import serve_api

pytestmark = pytest.mark.integration

_run = itertools.count()
# A name no generated path parameter will hit by chance: the fuzzer may delete users.
ADMIN = "fuzz-admin-7d1f0c9e"
EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def fuzz_target(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, admin token) of a running API over a small site."""
    tmp = tmp_path_factory.mktemp("fuzz")
    registry_url = f"sqlite:///{tmp / 'registry.sqlite3'}"
    registry = Registry(registry_url)
    registry.apply(
        SiteFile(
            villages=[VillageEntry(id="bumi-agung", name="Bumi Agung")],
            fields=[FieldEntry(id="sawah-1", name="Sawah 1", village="bumi-agung", crop="padi")],
            gateways=[GatewayEntry(id="gw-fuzz", name="Pi")],
        )
    )
    with Session(registry.engine) as session, session.begin():
        admin = create_user(
            session, UserIn(username=ADMIN, full_name="Fuzz", role=Role.ADMIN), None, 0
        )
        token = issue_token(session, admin, label="fuzz", now_ms=0)
    registry.close()
    config = ApiConfig(
        registry_url=registry_url,
        influx=InfluxSettings(url=stack.influx_url, database=f"fuzz_{next(_run)}"),
        broker=BrokerSettings(host=stack.mqtt_host, port=stack.mqtt_port),
    )
    with serve_api(config) as url:
        yield url, token


@pytest.fixture(scope="module")
def api_schema(fuzz_target: tuple[str, str]) -> schemathesis.BaseSchema:
    base_url, _ = fuzz_target
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json").exclude(
        path="/api/v1/auth/logout"
    )


def test_no_request_makes_the_server_fail(
    api_schema: schemathesis.BaseSchema, fuzz_target: tuple[str, str]
) -> None:
    base_url, token = fuzz_target
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        # schemathesis' own pytest plugin does not run under pytest 9: drive its Hypothesis
        # strategy directly, one operation at a time, and report every failing operation.
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

        try:
            fuzz()
        except AssertionError as exc:
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)
    assert not failures, failures


def test_the_fuzzed_schema_covers_the_api(api_schema: schemathesis.BaseSchema) -> None:
    paths = {result.ok().path for result in api_schema.get_all_operations()}
    assert "/api/v1/alerts" in paths and "/api/v1/fields/{field_id}/latest" in paths
