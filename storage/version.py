"""Which InfluxDB answers, from the ``X-Influxdb-Version`` header of ``/ping``.

Values seen in the wild: ``1.6.7~rc0`` (Debian's 1.6), ``1.8.10``, ``v2.7.4`` and ``2.7.1`` (2.x
builds differ on the leading ``v``), ``3.8.0`` (InfluxDB 3 Core and Enterprise, which also send
``X-Influxdb-Build: Core``/``Enterprise``; some early 3.x builds put the version only in the JSON
body of ``GET /ping``). What the version decides:

- 1.x before 1.8 speaks only the v1 API: writes go to ``/write``;
- 1.8+, 2.x and 3.x answer ``/api/v2/write``: writes go through ``influxdb-client``;
- 1.x keeps retention policies and continuous queries; 2.x keeps buckets and DBRP mappings;
  3.x has neither.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Generation(enum.Enum):
    """The families of InfluxDB whose storage administration differs."""

    V1 = 1
    V2 = 2
    V3 = 3


class UnknownVersionError(ValueError):
    """The server's version string is not one this module understands."""


# An optional "v", then major.minor[.patch], then a build suffix ("~rc0", "-nightly", "+abc").
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[~+\-]\S*)?$")


@dataclass(frozen=True, slots=True)
class ServerVersion:
    """An InfluxDB server version, as ``/ping`` reported it."""

    major: int
    minor: int
    patch: int
    text: str

    @property
    def generation(self) -> Generation:
        """1.x, 2.x or 3.x (a future major is treated like 3.x, the newest known)."""
        if self.major <= 1:
            return Generation.V1
        if self.major == 2:
            return Generation.V2
        return Generation.V3

    @property
    def speaks_v2_write(self) -> bool:
        """Whether the server answers ``/api/v2/write`` (1.8 added it to 1.x)."""
        return (self.major, self.minor) >= (1, 8)

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> ServerVersion:
    """Parse an ``X-Influxdb-Version`` value such as ``1.6.7~rc0`` or ``v2.7.4``."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise UnknownVersionError(
            f"InfluxDB version {text!r} is not of the form [v]MAJOR.MINOR[.PATCH]; is the URL "
            "an InfluxDB server (a proxy in front of it may drop the X-Influxdb-Version header)?"
        )
    major, minor, patch = match.groups()
    return ServerVersion(int(major), int(minor), int(patch or 0), text.strip())
