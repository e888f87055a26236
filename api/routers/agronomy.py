"""Reference evapotranspiration (FAO-56 Penman-Monteith) as a calculator: the same numbers the
water balance uses, for officers checking a station's day or an hour by hand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from agronomy.et0 import (
    DailyInputs,
    ET0InputError,
    ET0Result,
    HourlyInputs,
    daily_et0,
    hourly_et0,
)
from api.auth import CurrentUser

router = APIRouter(prefix="/api/v1/agronomy", tags=["agronomy"])

DayOfYear = Annotated[int, Query(ge=1, le=366, description="Day of the year, 1-366")]
Latitude = Annotated[float, Query(ge=-90, le=90, description="Degrees, south negative")]
Elevation = Annotated[float, Query(ge=-500, le=9000, description="Metres above sea level")]
Percent = Annotated[float | None, Query(ge=0, le=100)]
Wind = Annotated[
    float | None,
    Query(ge=0, le=100, description="Wind speed, m/s (missing: FAO-56's 2 m/s at 2 m)"),
]
WindHeight = Annotated[
    float,
    Query(gt=0.5, le=100, description="Height of the anemometer, m (FAO-56 eq. 47 converts)"),
]


class Et0Public(BaseModel):
    """ET0 (mm per day or per hour) and FAO-56's intermediate terms, named as the book does
    (Ra, Rso, Rs, Rn, G: MJ/m2 per day or hour; es, ea, vpd, pressure: kPa)."""

    et0_mm: float
    terms: dict[str, float | str | bool]


def _public(result: ET0Result) -> Et0Public:
    terms = result.as_dict(ndigits=4)
    return Et0Public(et0_mm=float(terms.pop("et0_mm")), terms=terms)


def _refused(exc: ET0InputError) -> HTTPException:
    return HTTPException(422, f"Input ET0 tidak valid / invalid ET0 input: {exc}")


@router.get("/et0/daily", response_model=Et0Public)
def et0_daily(
    _: CurrentUser,
    day_of_year: DayOfYear,
    lat: Latitude,
    elevation: Elevation,
    tmax: Annotated[float, Query(description="Maximum air temperature, °C")],
    tmin: Annotated[float, Query(description="Minimum air temperature, °C")],
    rh_max: Percent = None,
    rh_min: Percent = None,
    wind: Wind = None,
    wind_height: WindHeight = 2.0,
    sunshine: Annotated[float | None, Query(ge=0, le=24, description="Sunshine, hours")] = None,
    rs: Annotated[
        float | None, Query(ge=0, le=50, description="Solar radiation, MJ/m2/day")
    ] = None,
) -> Et0Public:
    """One day's ET0 (mm/day). Without radiation, humidity or wind, FAO-56 chapter 3's
    procedures for missing data fill them in (the terms say which)."""
    try:
        inputs = DailyInputs(
            day_of_year=day_of_year,
            latitude_deg=lat,
            elevation_m=elevation,
            tmax_c=tmax,
            tmin_c=tmin,
            rh_max=rh_max,
            rh_min=rh_min,
            wind_m_s=wind,
            wind_height_m=wind_height,
            sunshine_h=sunshine,
            rs_mj_m2=rs,
        )
        return _public(daily_et0(inputs))
    except ET0InputError as exc:
        raise _refused(exc) from None


@router.get("/et0/hourly", response_model=Et0Public)
def et0_hourly(
    _: CurrentUser,
    day_of_year: DayOfYear,
    hour: Annotated[int, Query(ge=0, le=23, description="Start of the hour, local standard time")],
    lat: Latitude,
    lon: Annotated[float, Query(ge=-180, le=180, description="Degrees, east positive")],
    utc_offset: Annotated[
        float, Query(ge=-12, le=14, description="Hours from UTC of the local standard time")
    ],
    elevation: Elevation,
    temp: Annotated[float, Query(description="Mean air temperature of the hour, °C")],
    rh: Annotated[float, Query(ge=0, le=100, description="Mean relative humidity, %")],
    rs: Annotated[float, Query(ge=0, le=5, description="Solar radiation, MJ/m2/hour")],
    wind: Wind = None,
    wind_height: WindHeight = 2.0,
) -> Et0Public:
    """One hour's ET0 (mm/hour), FAO-56 eq. 53."""
    try:
        inputs = HourlyInputs(
            day_of_year=day_of_year,
            hour=hour,
            latitude_deg=lat,
            longitude_deg=lon,
            utc_offset_h=utc_offset,
            elevation_m=elevation,
            temp_c=temp,
            rh=rh,
            rs_mj_m2=rs,
            wind_m_s=wind,
            wind_height_m=wind_height,
        )
        return _public(hourly_et0(inputs))
    except ET0InputError as exc:
        raise _refused(exc) from None
