"""The InfluxDB version from ``/ping``'s ``X-Influxdb-Version``, and what it decides."""

from __future__ import annotations

import pytest

from storage.version import Generation, UnknownVersionError, parse_version


@pytest.mark.parametrize(
    ("header", "numbers", "generation", "v2_write"),
    [
        ("1.6.7~rc0", (1, 6, 7), Generation.V1, False),  # Debian's package, the one tests run
        ("1.7.11", (1, 7, 11), Generation.V1, False),
        ("1.8.10", (1, 8, 10), Generation.V1, True),  # 1.8 added /api/v2/write
        ("1.11.8", (1, 11, 8), Generation.V1, True),
        ("v2.7.4", (2, 7, 4), Generation.V2, True),  # some 2.x builds prefix a "v"
        ("2.7.1", (2, 7, 1), Generation.V2, True),
        ("2.0", (2, 0, 0), Generation.V2, True),
        ("3.8.0", (3, 8, 0), Generation.V3, True),  # InfluxDB 3 Core / Enterprise
        ("3.0.0-nightly", (3, 0, 0), Generation.V3, True),
        (" 1.8.10 ", (1, 8, 10), Generation.V1, True),
    ],
)
def test_versions_seen_in_the_wild(
    header: str, numbers: tuple[int, int, int], generation: Generation, v2_write: bool
) -> None:
    version = parse_version(header)
    assert (version.major, version.minor, version.patch) == numbers
    assert version.generation is generation
    assert version.speaks_v2_write is v2_write
    assert str(version) == header.strip()


@pytest.mark.parametrize("header", ["", "unknown", "OSS", "v", "2", "x2.7.4", "2.7.4 beta"])
def test_a_version_that_is_not_one_says_what_to_check(header: str) -> None:
    with pytest.raises(UnknownVersionError, match="X-Influxdb-Version"):
        parse_version(header)
