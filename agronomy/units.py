"""How units are shown to people: the wire contract's unit ids (``telemetry.quantities``) are
ASCII, pages and messages show the usual symbols."""

from __future__ import annotations

# Wire unit -> shown unit; units not listed are shown as they are.
DISPLAY_UNITS: dict[str, str] = {
    "degC": "°C",
    "pH": "",  # "pH 5.8", not "5.8 pH": the label already says pH
    "uS/cm": "µS/cm",
    "W/m2": "W/m²",
    "deg": "°",
}


def display_unit(unit: str) -> str:
    """The unit as people read it."""
    return DISPLAY_UNITS.get(unit, unit)
