"""What the gateway can tell about its uplink, for the health report."""

from __future__ import annotations

from pathlib import Path

_WIRELESS = Path("/proc/net/wireless")


def link_quality() -> dict[str, float] | None:
    """Wi-Fi link quality and signal level per interface, from /proc/net/wireless; None if none.

    A cellular modem's signal needs ModemManager, which a bare Pi does not run; then the report
    simply has no link quality.
    """
    try:
        lines = _WIRELESS.read_text().splitlines()[2:]
    except OSError:
        return None
    result: dict[str, float] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if len(fields) >= 3:
            try:
                result[f"{name.strip()}_quality"] = float(fields[1].rstrip("."))
                result[f"{name.strip()}_signal_dbm"] = float(fields[2].rstrip("."))
            except ValueError:
                continue
    return result or None
