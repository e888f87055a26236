"""Create what Tani Hub's data needs on an InfluxDB server (``[influx] create = true``).

- 1.x: the database; the retention of raw readings, on the database's default retention policy
  (only when ``retention`` is configured); the retention policy ``rollup``; the continuous
  queries of :mod:`storage.rollups`.
- 2.x: the bucket for readings and ``<bucket>_rollup``, each with its retention, and the DBRP
  mappings (``<database>/autogen``, the default, and ``<database>/rollup``) through which
  InfluxQL over ``/query`` finds them.
- 3.x: nothing, on purpose. A 3.x database is created by its first write; 3.x has no retention
  policies, continuous queries or DBRP mappings (``/query`` takes the database name itself), and
  a database's retention is its operator's choice (``influxdb3 create database
  --retention-period``). Rollups there come from :class:`storage.rollups.Rollup`.

Every step is idempotent, so ingest runs it at every start.
"""

from __future__ import annotations

import logging

from influxdb_client import BucketRetentionRules, DBRPCreate, DBRPsService, InfluxDBClient
from influxdb_client.domain.bucket import Bucket

from storage.influx import InfluxDB, InfluxRejected, _identifier
from storage.rollups import StorageLayout, continuous_queries
from storage.schema import ROLLUP_RETENTION_POLICY

log = logging.getLogger(__name__)

# The retention policy a 2.x DBRP mapping names for the readings: 1.x's default name.
DEFAULT_RETENTION_POLICY = "autogen"
_UNIT_HOURS = {"h": 1, "d": 24, "w": 168}


def duration_hours(duration: str) -> int | None:
    """Hours in an InfluxQL duration such as ``400d``; None for ``INF`` (forever)."""
    if duration == "INF":
        return None
    return int(duration[:-1]) * _UNIT_HOURS[duration[-1]]


def _shard_duration(duration: str) -> str:
    """InfluxDB 1.x's own default shard group duration for a retention duration."""
    hours = duration_hours(duration)
    if hours is not None and hours < 48:
        return "1h"
    if hours is not None and hours <= 182 * 24:
        return "1d"
    return "7d"


def provision_v1(influx: InfluxDB, layout: StorageLayout) -> None:
    """Database, retention policies and continuous queries on InfluxDB 1.x."""
    database = _identifier(influx.database)
    influx.execute(f'CREATE DATABASE "{database}"')
    policies = {
        row["name"]: row
        for series in influx.query(f'SHOW RETENTION POLICIES ON "{database}"')
        for row in series.rows()
    }
    if layout.raw_retention is not None:
        # Raw readings are written without a retention policy, so they land in the default one.
        default = next((name for name, row in policies.items() if row["default"]), None)
        if default is None:
            raise InfluxRejected(
                f"database {database!r} has no default retention policy to give "
                "[influx] retention to: make one the default (ALTER RETENTION POLICY ... DEFAULT)"
            )
        _set_policy(influx, default, layout.raw_retention, exists=True)
    _set_policy(
        influx,
        ROLLUP_RETENTION_POLICY,
        layout.rollup_retention,
        exists=ROLLUP_RETENTION_POLICY in policies,
    )
    for name, statement in continuous_queries(database, layout):
        try:
            influx.execute(statement)
        except InfluxRejected as exc:
            if "already exists" not in str(exc):
                raise
            # 1.x accepts an identical CQ again; one with other text (the layout changed since
            # it was made) must be dropped first.
            influx.execute(f'DROP CONTINUOUS QUERY "{name}" ON "{database}"')
            influx.execute(statement)
            log.info("continuous query replaced", extra={"database": database, "cq": name})


def _set_policy(influx: InfluxDB, name: str, duration: str, *, exists: bool) -> None:
    verb, replication = ("ALTER", "") if exists else ("CREATE", " REPLICATION 1")
    influx.execute(
        f'{verb} RETENTION POLICY "{_identifier(name)}" ON "{_identifier(influx.database)}"'
        f" DURATION {duration}{replication} SHARD DURATION {_shard_duration(duration)}"
    )
    log.info(
        "retention policy set",
        extra={"database": influx.database, "policy": name, "duration": duration},
    )


def provision_v2(
    client: InfluxDBClient,
    *,
    database: str,
    org: str | None,
    buckets: dict[str, tuple[str, str | None]],
) -> None:
    """Buckets and DBRP mappings on InfluxDB 2.x.

    ``buckets`` maps a retention policy name to its bucket and retention (None: leave an
    existing bucket's retention alone, create a new one without expiry). The first entry is
    the database's default mapping. Raises influxdb-client's exceptions.
    """
    if not org:
        raise InfluxRejected("[influx] org is required to create buckets on InfluxDB 2.x")
    org_id = client.organizations_api().find_organizations(org=org)[0].id
    dbrps = DBRPsService(client.api_client)
    for index, (policy, (bucket_name, retention)) in enumerate(buckets.items()):
        bucket = _ensure_bucket(client, org_id, bucket_name, retention)
        if dbrps.get_dbr_ps(org_id=org_id, db=database, rp=policy).content:
            continue
        dbrps.post_dbrp(
            DBRPCreate(
                org_id=org_id,
                bucket_id=bucket.id,
                database=database,
                retention_policy=policy,
                default=index == 0,
            )
        )
        log.info(
            "DBRP mapping created",
            extra={"database": database, "policy": policy, "bucket": bucket_name},
        )


def _ensure_bucket(client: InfluxDBClient, org_id: str, name: str, retention: str | None) -> Bucket:
    api = client.buckets_api()
    hours = duration_hours(retention) if retention is not None else None
    # 2.x keeps data forever when a bucket's expiry is 0 seconds.
    rules = [BucketRetentionRules(type="expire", every_seconds=(hours or 0) * 3600)]
    found = api.find_buckets(org_id=org_id, name=name).buckets
    if not found:
        log.info("bucket created", extra={"bucket": name, "retention": retention or "INF"})
        return api.create_bucket(bucket_name=name, org=org_id, retention_rules=rules)
    bucket: Bucket = found[0]
    current = bucket.retention_rules[0].every_seconds if bucket.retention_rules else 0
    if retention is not None and current != rules[0].every_seconds:
        bucket.retention_rules = rules
        api.update_bucket(bucket)
        log.info("bucket retention changed", extra={"bucket": name, "retention": retention})
    return bucket
