"""A raw InfluxQL query for Grafana's InfluxDB data source, typed like the SDK's own queries.

grafana-foundation-sdk ships query types for Prometheus, Loki and others but none for InfluxDB.
:class:`InfluxQLQuery` is the JSON Grafana's InfluxDB data source keeps for a query written in
raw InfluxQL (``rawQuery: true``; the query builder's ``select``/``groupBy`` parts are not
used), built on the SDK's ``Dataquery`` base so the SDK's ``JSONEncoder`` and
``Dashboard.from_json`` handle it as they handle ``prometheus.Dataquery``.
"""

from __future__ import annotations

import enum
import typing

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_TYPE = "influxdb"
DATASOURCE_UID = "tani-influxdb"


def datasource_ref() -> DataSourceRef:
    """The reference every Tani Hub panel and variable uses for InfluxDB."""
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)


class ResultFormat(enum.StrEnum):
    """How Grafana turns InfluxDB's answer into data frames."""

    TIME_SERIES = "time_series"
    TABLE = "table"


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL query of a panel (``refId``, ``query``, ``rawQuery``, ...)."""

    ref_id: str
    query: str
    raw_query: bool
    result_format: ResultFormat
    # Grafana's series name template ($tag_<key>, $col); None keeps InfluxDB's names.
    alias: str | None
    hide: bool | None
    datasource: DataSourceRef | None

    def __init__(
        self,
        ref_id: str = "",
        query: str = "",
        raw_query: bool = True,
        result_format: ResultFormat = ResultFormat.TIME_SERIES,
        alias: str | None = None,
        hide: bool | None = None,
        datasource: DataSourceRef | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.raw_query = raw_query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        """The query as Grafana stores it in a dashboard."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": self.raw_query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> typing.Self:
        """Read a query back from dashboard JSON (what the SDK's runtime calls)."""
        args: dict[str, typing.Any] = {}
        for key, name in (
            ("refId", "ref_id"),
            ("query", "query"),
            ("rawQuery", "raw_query"),
            ("alias", "alias"),
            ("hide", "hide"),
        ):
            if key in data:
                args[name] = data[key]
        if "resultFormat" in data:
            args["result_format"] = ResultFormat(data["resultFormat"])
        if "datasource" in data:
            args["datasource"] = DataSourceRef.from_json(data["datasource"])
        return cls(**args)


def variant_config() -> cogruntime.DataqueryConfig:
    """What the SDK's runtime needs to decode targets of ``influxdb`` panels as InfluxQLQuery."""
    return cogruntime.DataqueryConfig(
        identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json
    )


def register() -> None:
    """Teach the SDK's runtime to decode InfluxDB targets (as ``register_default_plugins`` does
    for the SDK's own query types); without it they decode as ``UnknownDataquery``."""
    cogruntime.register_dataquery_variant(variant_config())


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder of :class:`InfluxQLQuery`, in the style of the SDK's query builders."""

    _internal: InfluxQLQuery

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query, datasource=datasource_ref())

    def build(self) -> InfluxQLQuery:
        """Builds the object."""
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        """The query's id within its panel (A, B, ...)."""
        self._internal.ref_id = ref_id
        return self

    def table(self) -> typing.Self:
        """Answer as one table (rows of tag and field columns) instead of time series."""
        self._internal.result_format = ResultFormat.TABLE
        return self

    def alias(self, alias: str) -> typing.Self:
        """Series name template, e.g. ``$tag_field_id``."""
        self._internal.alias = alias
        return self
