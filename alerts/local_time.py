"""Local time as people in Indonesia read it: WIB, WITA or WIT, from a UTC offset in hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

_ZONE_NAMES = {7: "WIB", 8: "WITA", 9: "WIT"}


def zone_name(utc_offset_h: int) -> str:
    """ "WIB" for +7, "WITA" for +8, "WIT" for +9, else "UTC+n"."""
    return _ZONE_NAMES.get(utc_offset_h, f"UTC{utc_offset_h:+d}")


def local_moment(time_ms: int, utc_offset_h: int) -> datetime:
    """An epoch-millisecond time as an aware datetime at the given offset."""
    zone = timezone(timedelta(hours=utc_offset_h))
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).astimezone(zone)


def local_midnight_ms(day: date, utc_offset_h: int) -> int:
    """The start of a local day, in epoch milliseconds (days start there in the rollups)."""
    zone = timezone(timedelta(hours=utc_offset_h))
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class ShownTime:
    """A time for a page: machine-readable (``<time datetime>``) and as people read it."""

    iso: str
    local: str


def shown_time(time_ms: int, utc_offset_h: int) -> ShownTime:
    """ "23-11-2026 06:10 WIB", with its ISO 8601 UTC form."""
    moment = local_moment(time_ms, utc_offset_h)
    return ShownTime(
        iso=moment.astimezone(UTC).isoformat(),
        local=f"{moment:%d-%m-%Y %H:%M} {zone_name(utc_offset_h)}",
    )
