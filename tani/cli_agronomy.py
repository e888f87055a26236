"""Agronomy commands: FAO-56 reference evapotranspiration (ET0) of one day or one hour.

Each command prints one JSON object: ``et0_mm``, every intermediate term by its FAO-56 name and
the procedures used for missing data. ``agronomy.et0`` is plain Python; it is still imported
inside the commands, like every component behind ``tani``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from agronomy.et0 import ET0Result

agronomy_app = typer.Typer(
    help="Perhitungan agronomi / agronomy calculations (FAO-56).", no_args_is_help=True
)
et0_app = typer.Typer(
    help="Evapotranspirasi acuan FAO-56 / FAO-56 reference evapotranspiration (ET0).",
    no_args_is_help=True,
)
agronomy_app.add_typer(et0_app, name="et0")

DayOfYear = Annotated[
    int, typer.Option("--day-of-year", help="Hari ke- dalam tahun / day of the year, 1-366.")
]
Latitude = Annotated[
    float,
    typer.Option("--lat", help="Lintang, selatan negatif / latitude, degrees, south negative."),
]
Elevation = Annotated[
    float, typer.Option("--elevation", help="Ketinggian / elevation above sea level, m.")
]
Wind = Annotated[
    float | None,
    typer.Option(
        "--wind",
        help="Kecepatan angin rata-rata / mean wind speed, m/s (omitted: 2 m/s, FAO-56 p. 63).",
    ),
]
WindHeight = Annotated[
    float,
    typer.Option(
        "--wind-height",
        help="Tinggi anemometer / anemometer height, m (other than 2 m: FAO-56 eq. 47).",
    ),
]


def _print(result: ET0Result) -> None:
    typer.echo(json.dumps(result.as_dict(ndigits=4), ensure_ascii=False, indent=2))


def _refuse(exc: ValueError) -> NoReturn:
    typer.echo(f"Input ET0 tidak valid / invalid ET0 input: {exc}", err=True)
    raise typer.Exit(2)


@et0_app.command("daily")
def daily(
    day_of_year: DayOfYear,
    lat: Latitude,
    elevation: Elevation,
    tmax: Annotated[float, typer.Option("--tmax", help="Suhu maksimum / Tmax, °C.")],
    tmin: Annotated[float, typer.Option("--tmin", help="Suhu minimum / Tmin, °C.")],
    rh_max: Annotated[
        float | None, typer.Option("--rh-max", help="RH maksimum / RHmax, % (FAO-56 eq. 17).")
    ] = None,
    rh_min: Annotated[
        float | None, typer.Option("--rh-min", help="RH minimum / RHmin, % (with --rh-max).")
    ] = None,
    rh_mean: Annotated[
        float | None,
        typer.Option("--rh-mean", help="RH rata-rata / mean RH, % (eq. 19), instead of max/min."),
    ] = None,
    wind: Wind = None,
    wind_height: WindHeight = 2.0,
    sunshine: Annotated[
        float | None,
        typer.Option("--sunshine", help="Lama penyinaran / bright sunshine hours n (eq. 35)."),
    ] = None,
    rs: Annotated[
        float | None,
        typer.Option("--rs", help="Radiasi matahari / measured solar radiation, MJ/m2/day."),
    ] = None,
    krs: Annotated[
        float,
        typer.Option(
            "--krs",
            help="Tanpa --rs/--sunshine / without --rs or --sunshine: Rs from Tmax-Tmin (eq. 50),"
            " kRs 0.16 pedalaman/interior, 0.19 pesisir/coastal.",
        ),
    ] = 0.16,
) -> None:
    """ET0 harian / daily ET0 (mm/day) with every FAO-56 term, as JSON.

    Without humidity: dew point = Tmin (eq. 48); without wind: 2 m/s; without --rs or
    --sunshine: Rs from the temperature range (eq. 50). The JSON names each procedure used.
    """
    from agronomy.et0 import DailyInputs, ET0InputError, daily_et0

    try:
        result = daily_et0(
            DailyInputs(
                day_of_year=day_of_year,
                latitude_deg=lat,
                elevation_m=elevation,
                tmax_c=tmax,
                tmin_c=tmin,
                rh_max=rh_max,
                rh_min=rh_min,
                rh_mean=rh_mean,
                wind_m_s=wind,
                wind_height_m=wind_height,
                sunshine_h=sunshine,
                rs_mj_m2=rs,
                krs=krs,
            )
        )
    except ET0InputError as exc:
        _refuse(exc)
    _print(result)


@et0_app.command("hourly")
def hourly(
    day_of_year: DayOfYear,
    hour: Annotated[
        int, typer.Option("--hour", help="Jam mulai / start of the hour, 0-23, local standard.")
    ],
    lat: Latitude,
    lon: Annotated[
        float, typer.Option("--lon", help="Bujur, timur positif / longitude, east positive.")
    ],
    utc_offset: Annotated[
        float,
        typer.Option(
            "--utc-offset", help="Zona waktu / time zone, hours from UTC (WIB 7, WITA 8, WIT 9)."
        ),
    ],
    elevation: Elevation,
    temp: Annotated[float, typer.Option("--temp", help="Suhu udara / mean air temperature, °C.")],
    rh: Annotated[float, typer.Option("--rh", help="Kelembapan / mean relative humidity, %.")],
    rs: Annotated[float, typer.Option("--rs", help="Radiasi matahari / solar radiation, MJ/m2/h.")],
    wind: Wind = None,
    wind_height: WindHeight = 2.0,
    night_rs_rso: Annotated[
        float,
        typer.Option(
            "--night-rs-rso",
            help="Rs/Rso malam / night cloudiness Rs/Rso: 0.4-0.6 humid, 0.7-0.8 arid (p. 75).",
        ),
    ] = 0.5,
) -> None:
    """ET0 per jam / hourly ET0 (mm/hour), FAO-56 eq. 53 with Cd 0.34, as JSON."""
    from agronomy.et0 import ET0InputError, HourlyInputs, hourly_et0

    try:
        result = hourly_et0(
            HourlyInputs(
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
                night_rs_rso=night_rs_rso,
            )
        )
    except ET0InputError as exc:
        _refuse(exc)
    _print(result)
