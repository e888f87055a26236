"""FAO-56 reference evapotranspiration (ET0) of a grass surface, daily and hourly, in plain Python.

Source: Allen, Pereira, Raes, Smith (1998), *Crop evapotranspiration*, FAO Irrigation and
Drainage Paper 56 ("FAO-56"). Equation numbers in the comments are FAO-56's; every term of the
results carries FAO-56's name so a technician can follow the book's worked examples line by line.

Conventions of this API
    * latitude in degrees, north positive, SOUTH NEGATIVE (Way Kanan, Lampung: about -4.9);
    * longitude in degrees, EAST positive (Lampung: about 104.5). FAO-56 eq. 31 counts degrees
      WEST of Greenwich, so here Lm = -longitude and the time zone's central meridian is
      Lz = -15 * utc_offset (WIB, UTC+7: Lz = -105, the book's "255°"). Only Lz - Lm =
      longitude - 15 * utc_offset enters eq. 31 (wrapped into -180..180 degrees);
    * hour = start of the hour in local standard time (no daylight saving); its midpoint
      t = hour + 0.5 is eq. 31's t.
    FAO-56 works Example 19 (N'Diaye, 16.25°W) with Lz = 15°, Lm = 16.25° (book p. 76), that is
    ``longitude_deg=-16.25, utc_offset_h=-1`` here, which gives the printed omega = 0.682 rad and
    Ra = 3.543. Senegal's clock is UTC+0: with ``utc_offset_h=0`` omega = 0.420, Ra = 4.186 and
    ET0 0.635 mm/h, still the book's 0.63.

Choices FAO-56 leaves to the user
    * Rs/Rso in eq. 39 is limited to 0.3..1.0 (p. 52: "<= 1.0"; p. 75: "0.3 presumes total cloud
      cover"), so a dark monsoon day never turns Rnl into a gain;
    * u2 is raised to 0.5 m/s at least (p. 63); the wind procedure then says so;
    * hourly Rnl at night (and in daylight hours with the sun under 0.3 rad, where Rso is tiny and
      Rs/Rso meaningless) uses ``night_rs_rso``: p. 75 gives 0.4-0.6 for humid climates (default
      0.5, Indonesia) and 0.7-0.8 for arid ones; Example 19 assumes 0.8;
    * hourly Ra is 0 when the hour's midpoint is outside -omega_s..omega_s (p. 48); in the hours of
      sunrise and sunset omega1 and omega2 are limited to +-omega_s (ASCE-EWRI 2005, eq. 56);
    * ``et0_mm`` is never negative: eq. 6 and 53 go slightly below 0 when Rn - G < 0 and the air
      is near saturation (dew at night); ``et0_unclipped_mm`` keeps the formula's value.

Why no library (the issue asked for pyet or refet unless one cannot serve): pyet 1.5.0, refet
0.5.0 and pyfao56 1.4.3, tried in a scratch venv against the book's examples:
    * Example 18 (3.88): pyet ``pm_fao56`` 3.880 (given n and RH; u2 converted by us), refet
      ``Daily`` 3.881 (given Rs 22.07 and ea 1.409 by us: it takes neither n nor RH), pyfao56
      ``ascedaily`` 3.881 (given Rs by us: it takes no n);
    * Example 19, 14-15 h (0.63): refet ``Hourly.eto()`` 0.656 and pyfao56 ``ascehourly`` 0.656:
      both hard-code ASCE's Cd 0.24 by day / 0.96 by night, with no argument for FAO-56's 0.34 of
      eq. 53 (refet reaches 0.627 only by bypassing ``eto()`` for its internal ``calcs.etsz``).
      02-03 h: both force cloudiness to 1 at night (Rnl 0.137, Rn -0.137 against the book's
      0.100, -0.100), ET0 -0.0005. pyet has no hourly method (no eq. 28-33) at all;
    * missing data: pyet takes ea from Tmin (eq. 48; Ex. 18 without RH 3.846) but ``pm_fao56``
      has no eq. 47 or eq. 50; refet has no eq. 35, 48, 50 nor a wind default; pyfao56 takes
      Tdew = Tmin - 2 (ASCE appendix E, not eq. 48: Ex. 18 without RH and wind 4.10), no eq. 35/50;
    * cost: pyet needs numpy + pandas + xarray (~83 MB), pyfao56 numpy + pandas + matplotlib +
      requests (~100 MB, 1.8 s to import), refet numpy (31 MB); none is in uv.lock, all for scalar
      arithmetic. The FAO-56 layer needed around any of them is longer than the formulas below.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

GSC = 0.0820  # solar constant, MJ m-2 min-1 (eq. 21)
SIGMA_DAY = 4.903e-9  # Stefan-Boltzmann constant, MJ K-4 m-2 day-1 (eq. 39)
SIGMA_HOUR = SIGMA_DAY / 24  # 2.043e-10 MJ K-4 m-2 hour-1 (p. 74)
ALBEDO = 0.23  # hypothetical grass reference crop (eq. 38)
ANGSTROM_AS, ANGSTROM_BS = 0.25, 0.50  # eq. 35 when not calibrated locally
DEFAULT_WIND_M_S = 2.0  # p. 63: average over 2 000 weather stations
MIN_U2_M_S = 0.5  # p. 63: limit u2 >= 0.5 m/s in the ETo equation
KRS_INTERIOR, KRS_COASTAL = 0.16, 0.19  # eq. 50
NIGHT_RS_RSO_HUMID = 0.5  # p. 75: 0.4-0.6 in humid and subhumid climates
_LOW_SUN_RAD = 0.3  # sun elevation under which hourly Rs/Rso is not used (ASCE-EWRI 2005)


class ET0InputError(ValueError):
    """An input no working weather station produces; the message names it and says why."""


def _check(name: str, value: float | None, low: float, high: float, unit: str, hint: str) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise ET0InputError(f"{name} is {value}: not a number")
    if not low <= value <= high:
        shown = f"{value:g} {unit}".rstrip()
        raise ET0InputError(f"{name} = {shown} is outside {low:g}..{high:g}: {hint}")


def _check_site(day_of_year: int, latitude_deg: float, elevation_m: float) -> None:
    _check(
        "day of year", day_of_year, 1, 366, "", "1 = 1 January, 366 = 31 December of a leap year"
    )
    _check("latitude", latitude_deg, -90, 90, "°", "degrees, south negative (Lampung about -4.9)")
    _check("elevation", elevation_m, -500, 9000, "m", "metres above sea level")


def _check_temperature(name: str, temp_c: float) -> None:
    _check(name, temp_c, -60, 60, "°C", "air temperature in °C (a value in K or °F?)")


def _check_rh(name: str, rh: float | None) -> None:
    _check(name, rh, 0, 100, "%", "relative humidity is a percentage, 0..100")


def _check_wind(wind_m_s: float | None, wind_height_m: float) -> None:
    _check("wind speed", wind_m_s, 0, 75, "m/s", "wind speed cannot be negative (km/h given?)")
    _check("wind height", wind_height_m, 0.5, 100, "m", "anemometer height above the ground")


@dataclass(frozen=True)
class DailyInputs:
    """One day's weather at a site; leave out what was not measured (FAO-56 chapter 3 estimates it).

    Radiation: ``rs_mj_m2`` measured, or ``sunshine_h`` (eq. 35), or neither (eq. 50 with ``krs``:
    0.16 interior, 0.19 coastal). Humidity: ``rh_max`` and ``rh_min`` (eq. 17), ``rh_max`` alone
    (eq. 18), ``rh_mean`` (eq. 19), or none (dew point = Tmin, eq. 48). Wind: at ``wind_height_m``
    (eq. 47 when not 2 m), or none (2 m/s).
    """

    day_of_year: int
    latitude_deg: float
    elevation_m: float
    tmax_c: float
    tmin_c: float
    rh_max: float | None = None
    rh_min: float | None = None
    rh_mean: float | None = None
    wind_m_s: float | None = None
    wind_height_m: float = 2.0
    sunshine_h: float | None = None
    rs_mj_m2: float | None = None
    krs: float = KRS_INTERIOR

    def __post_init__(self) -> None:
        _check_site(self.day_of_year, self.latitude_deg, self.elevation_m)
        _check_temperature("Tmax", self.tmax_c)
        _check_temperature("Tmin", self.tmin_c)
        _check_rh("RHmax", self.rh_max)
        _check_rh("RHmin", self.rh_min)
        _check_rh("RHmean", self.rh_mean)
        if self.tmin_c > self.tmax_c:
            raise ET0InputError(
                f"Tmin {self.tmin_c:g} °C is above Tmax {self.tmax_c:g} °C: swapped columns?"
            )
        if self.rh_min is not None and self.rh_max is None:
            raise ET0InputError("RHmin alone is not enough: give RHmax too (eq. 17), or RHmean")
        if self.rh_min is not None and self.rh_max is not None and self.rh_min > self.rh_max:
            raise ET0InputError(f"RHmin {self.rh_min:g} % is above RHmax {self.rh_max:g} %")
        if self.rh_mean is not None and self.rh_max is not None:
            raise ET0InputError("give RHmax/RHmin or RHmean, not both")
        _check_wind(self.wind_m_s, self.wind_height_m)
        if self.sunshine_h is not None and self.rs_mj_m2 is not None:
            raise ET0InputError("give solar radiation Rs or sunshine hours n, not both")
        _check("sunshine hours n", self.sunshine_h, 0, 24, "h", "bright sunshine hours of a day")
        _check("Rs", self.rs_mj_m2, 0, 50, "MJ/m2/day", "daily total (W/m2 mean x 0.0864)")
        _check("kRs", self.krs, 0.1, 0.25, "", "0.16 interior, 0.19 coastal (FAO-56 eq. 50)")


@dataclass(frozen=True)
class HourlyInputs:
    """One hour's weather at a site: ``hour`` is the start of the hour in local standard time
    and ``utc_offset_h`` the time zone (WIB +7, WITA +8, WIT +9); longitude east positive."""

    day_of_year: int
    hour: int
    latitude_deg: float
    longitude_deg: float
    utc_offset_h: float
    elevation_m: float
    temp_c: float
    rh: float
    rs_mj_m2: float
    wind_m_s: float | None = None
    wind_height_m: float = 2.0
    night_rs_rso: float = NIGHT_RS_RSO_HUMID

    def __post_init__(self) -> None:
        _check_site(self.day_of_year, self.latitude_deg, self.elevation_m)
        _check("hour", self.hour, 0, 23, "h", "start of the hour, 0..23, local standard time")
        _check("longitude", self.longitude_deg, -180, 180, "°", "degrees, east positive")
        _check("UTC offset", self.utc_offset_h, -12, 14, "h", "time zone, e.g. 7 for WIB")
        _check_temperature("T", self.temp_c)
        _check_rh("RH", self.rh)
        _check_wind(self.wind_m_s, self.wind_height_m)
        _check("Rs", self.rs_mj_m2, 0, 5, "MJ/m2/h", "hourly total (W/m2 mean x 0.0036)")
        _check("night Rs/Rso", self.night_rs_rso, 0.3, 1.0, "", "0.4-0.6 humid, 0.7-0.8 arid")


@dataclass(frozen=True)
class ET0Result:
    """ET0 and the terms that made it; units per day (daily) or per hour (hourly)."""

    et0_mm: float  # never below 0
    et0_unclipped_mm: float  # eq. 6 / eq. 53 as computed
    delta: float  # slope of the vapour pressure curve, kPa/°C (eq. 13)
    gamma: float  # psychrometric constant, kPa/°C (eq. 8)
    pressure: float  # P, atmospheric pressure, kPa (eq. 7)
    es: float  # saturation vapour pressure, kPa
    ea: float  # actual vapour pressure, kPa
    vpd: float  # es - ea, kPa
    dr: float  # inverse relative distance Earth-Sun (eq. 23)
    declination: float  # solar declination, rad (eq. 24)
    omega_s: float  # sunset hour angle, rad (eq. 25)
    Ra: float  # extraterrestrial radiation, MJ/m2
    Rso: float  # clear-sky solar radiation, MJ/m2 (eq. 37)
    Rs: float  # solar radiation, MJ/m2
    rs_rso: float  # relative shortwave radiation Rs/Rso used in eq. 39
    Rns: float  # net shortwave radiation, MJ/m2 (eq. 38)
    Rnl: float  # net longwave radiation, MJ/m2 (eq. 39)
    Rn: float  # net radiation, MJ/m2 (eq. 40)
    G: float  # soil heat flux, MJ/m2 (eq. 42; hourly eq. 45/46)
    u2: float  # wind speed at 2 m, m/s
    radiation_method: str
    humidity_method: str
    wind_method: str

    def as_dict(self, ndigits: int | None = None) -> dict[str, float | int | bool | str]:
        """All fields by their FAO-56 names, floats rounded to ``ndigits`` if given."""
        out = asdict(self)
        if ndigits is not None:
            out = {k: round(v, ndigits) if isinstance(v, float) else v for k, v in out.items()}
        return out


@dataclass(frozen=True)
class DailyET0(ET0Result):
    """Daily ET0 in mm/day (eq. 6) with its terms."""

    N: float  # daylight hours (eq. 34)


@dataclass(frozen=True)
class HourlyET0(ET0Result):
    """Hourly ET0 in mm/hour (eq. 53) with its terms and the solar time angles."""

    t: float  # standard clock time at the midpoint of the hour, h
    Lz: float  # central meridian of the time zone, degrees WEST of Greenwich
    Lm: float  # longitude of the site, degrees WEST of Greenwich
    Sc: float  # seasonal correction for solar time, h (eq. 32)
    omega: float  # solar time angle at the midpoint of the hour, rad (eq. 31)
    omega1: float  # at the start of the hour, rad (eq. 29)
    omega2: float  # at the end of the hour, rad (eq. 30)
    solar_elevation: float  # sun's elevation at the midpoint, rad
    daylight: bool  # sun above the horizon at the midpoint: G = 0.1 Rn, else 0.5 Rn
    cloudiness_method: str  # where rs_rso came from: "measured_rs_rso" or "night_rs_rso"


def _e0(temp_c: float) -> float:
    return 0.6108 * math.exp(17.27 * temp_c / (temp_c + 237.3))  # eq. 11


def _slope(temp_c: float) -> float:
    return 4098 * _e0(temp_c) / (temp_c + 237.3) ** 2  # eq. 13


def _pressure(elevation_m: float) -> float:
    return 101.3 * ((293 - 0.0065 * elevation_m) / 293) ** 5.26  # eq. 7


def _wind(wind_m_s: float | None, height_m: float) -> tuple[float, str]:
    if wind_m_s is None:
        u2, method = DEFAULT_WIND_M_S, "default_2_m_s"  # p. 63
    elif height_m == 2.0:
        u2, method = wind_m_s, "measured_at_2_m"
    else:
        u2 = wind_m_s * 4.87 / math.log(67.8 * height_m - 5.42)  # eq. 47
        method = f"converted_from_{height_m:g}_m_eq47"
    if u2 < MIN_U2_M_S:
        return MIN_U2_M_S, method + "_raised_to_0.5_m_s"  # p. 63
    return u2, method


def _sun(day_of_year: int, lat_rad: float) -> tuple[float, float, float]:
    dr = 1 + 0.033 * math.cos(2 * math.pi / 365 * day_of_year)  # eq. 23
    decl = 0.409 * math.sin(2 * math.pi / 365 * day_of_year - 1.39)  # eq. 24
    cos_ws = -math.tan(lat_rad) * math.tan(decl)
    omega_s = math.acos(max(-1.0, min(1.0, cos_ws)))  # eq. 25 (clamped: polar day and night)
    return dr, decl, omega_s


def _ratio(rs: float, rso: float) -> float:
    return max(0.3, min(1.0, rs / rso))  # Rs/Rso in eq. 39, 0.3..1.0 (p. 52, p. 75)


def _penman_monteith(
    delta: float, gamma: float, rn: float, g: float, temp_c: float, u2: float, vpd: float, cn: float
) -> float:
    """Eq. 6 (cn = 900, per day) and eq. 53 (cn = 37, per hour); Cd = 0.34 in both."""
    numerator = 0.408 * delta * (rn - g) + gamma * cn / (temp_c + 273) * u2 * vpd
    return numerator / (delta + gamma * (1 + 0.34 * u2))


def daily_et0(inputs: DailyInputs) -> DailyET0:
    """FAO-56 Penman-Monteith ET0 of one day (mm/day), estimating missing data as chapter 3 says.

    Raises ET0InputError for sunshine hours longer than the day (impossible inputs are refused
    when ``DailyInputs`` is built).
    """
    x = inputs
    tmean = (x.tmax_c + x.tmin_c) / 2  # eq. 9
    pressure = _pressure(x.elevation_m)
    gamma = 0.665e-3 * pressure  # eq. 8
    delta = _slope(tmean)  # eq. 13 at Tmean
    e_tmax, e_tmin = _e0(x.tmax_c), _e0(x.tmin_c)
    es = (e_tmax + e_tmin) / 2  # eq. 12
    if x.rh_max is not None and x.rh_min is not None:
        ea, humidity = (e_tmin * x.rh_max / 100 + e_tmax * x.rh_min / 100) / 2, "rh_max_min_eq17"
    elif x.rh_max is not None:
        ea, humidity = e_tmin * x.rh_max / 100, "rh_max_eq18"
    elif x.rh_mean is not None:
        ea, humidity = x.rh_mean / 100 * es, "rh_mean_eq19"
    else:
        ea, humidity = e_tmin, "tmin_as_dewpoint_eq48"  # Tdew ~ Tmin, eq. 48

    lat = math.radians(x.latitude_deg)  # eq. 22
    dr, decl, omega_s = _sun(x.day_of_year, lat)
    ra = (  # eq. 21
        24 * 60 / math.pi * GSC * dr
        * (omega_s * math.sin(lat) * math.sin(decl)
           + math.cos(lat) * math.cos(decl) * math.sin(omega_s))
    )  # fmt: skip
    daylight_hours = 24 / math.pi * omega_s  # eq. 34
    if x.rs_mj_m2 is not None:
        rs, radiation = x.rs_mj_m2, "measured"
    elif x.sunshine_h is not None:
        if x.sunshine_h > daylight_hours + 0.05:
            raise ET0InputError(
                f"sunshine n = {x.sunshine_h:g} h is longer than the day: N = "
                f"{daylight_hours:.2f} h on day {x.day_of_year} at latitude {x.latitude_deg:g}"
            )
        relative = min(1.0, x.sunshine_h / daylight_hours) if daylight_hours > 0 else 0.0
        rs, radiation = (ANGSTROM_AS + ANGSTROM_BS * relative) * ra, "sunshine_eq35"
    else:
        rs = x.krs * math.sqrt(x.tmax_c - x.tmin_c) * ra  # eq. 50
        radiation = f"temperature_range_eq50_krs_{x.krs:g}"
    rso = (0.75 + 2e-5 * x.elevation_m) * ra  # eq. 37
    rs_rso = _ratio(rs, rso) if rso > 0 else NIGHT_RS_RSO_HUMID  # polar night: no sun to judge
    rns = (1 - ALBEDO) * rs  # eq. 38
    sigma_t4 = SIGMA_DAY * ((x.tmax_c + 273.16) ** 4 + (x.tmin_c + 273.16) ** 4) / 2
    rnl = sigma_t4 * (0.34 - 0.14 * math.sqrt(ea)) * (1.35 * rs_rso - 0.35)  # eq. 39
    rn = rns - rnl  # eq. 40
    g = 0.0  # eq. 42: small under the grass reference for a day
    u2, wind = _wind(x.wind_m_s, x.wind_height_m)
    et0 = _penman_monteith(delta, gamma, rn, g, tmean, u2, es - ea, cn=900)  # eq. 6
    return DailyET0(
        et0_mm=max(0.0, et0), et0_unclipped_mm=et0,
        delta=delta, gamma=gamma, pressure=pressure, es=es, ea=ea, vpd=es - ea,
        dr=dr, declination=decl, omega_s=omega_s,
        Ra=ra, Rso=rso, Rs=rs, rs_rso=rs_rso, Rns=rns, Rnl=rnl, Rn=rn, G=g, u2=u2,
        radiation_method=radiation, humidity_method=humidity, wind_method=wind,
        N=daylight_hours,
    )  # fmt: skip


def hourly_et0(inputs: HourlyInputs) -> HourlyET0:
    """FAO-56 Penman-Monteith ET0 of one hour (mm/hour): eq. 53 with Cd = 0.34 day and night,
    G = 0.1 Rn while the sun is up and 0.5 Rn at night (eq. 45, 46), Ra of the hour (eq. 28)."""
    x = inputs
    pressure = _pressure(x.elevation_m)
    gamma = 0.665e-3 * pressure  # eq. 8
    delta = _slope(x.temp_c)  # eq. 13 at Thr
    es = _e0(x.temp_c)  # eq. 11 at Thr
    ea = es * x.rh / 100  # eq. 54

    lat = math.radians(x.latitude_deg)  # eq. 22
    dr, decl, omega_s = _sun(x.day_of_year, lat)
    b = 2 * math.pi * (x.day_of_year - 81) / 364  # eq. 33
    sc = 0.1645 * math.sin(2 * b) - 0.1255 * math.cos(b) - 0.025 * math.sin(b)  # eq. 32
    lz = 0.0 - 15.0 * x.utc_offset_h  # FAO-56 counts degrees west: UTC+7 -> Lz = -105 (255° W)
    lm = 0.0 - x.longitude_deg
    lz_minus_lm = (lz - lm + 180) % 360 - 180
    t = x.hour + 0.5
    omega = math.pi / 12 * ((t + 0.06667 * lz_minus_lm + sc) - 12)  # eq. 31
    omega = (omega + math.pi) % (2 * math.pi) - math.pi  # the same angle in -pi..pi
    omega1, omega2 = omega - math.pi / 24, omega + math.pi / 24  # eq. 29, 30 (t1 = 1 h)
    daylight = -omega_s <= omega <= omega_s  # p. 48: otherwise the sun is below the horizon
    ra = 0.0
    if daylight:
        w1, w2 = max(omega1, -omega_s), min(omega2, omega_s)  # sunrise/sunset hours
        ra = (  # eq. 28
            12 * 60 / math.pi * GSC * dr
            * ((w2 - w1) * math.sin(lat) * math.sin(decl)
               + math.cos(lat) * math.cos(decl) * (math.sin(w2) - math.sin(w1)))
        )  # fmt: skip
    sin_sun = math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(omega)
    sun_elevation = math.asin(max(-1.0, min(1.0, sin_sun)))
    rso = (0.75 + 2e-5 * x.elevation_m) * ra  # eq. 37
    if daylight and sun_elevation >= _LOW_SUN_RAD and rso > 0:
        rs_rso, cloudiness = _ratio(x.rs_mj_m2, rso), "measured_rs_rso"
    else:
        rs_rso, cloudiness = x.night_rs_rso, "night_rs_rso"  # p. 75
    rns = (1 - ALBEDO) * x.rs_mj_m2  # eq. 38
    sigma_t4 = SIGMA_HOUR * (x.temp_c + 273.16) ** 4  # eq. 39 for an hour (p. 74)
    rnl = sigma_t4 * (0.34 - 0.14 * math.sqrt(ea)) * (1.35 * rs_rso - 0.35)  # eq. 39
    rn = rns - rnl  # eq. 40
    g = (0.1 if daylight else 0.5) * rn  # eq. 45 (daylight), eq. 46 (night)
    u2, wind = _wind(x.wind_m_s, x.wind_height_m)
    et0 = _penman_monteith(delta, gamma, rn, g, x.temp_c, u2, es - ea, cn=37)  # eq. 53
    return HourlyET0(
        et0_mm=max(0.0, et0), et0_unclipped_mm=et0,
        delta=delta, gamma=gamma, pressure=pressure, es=es, ea=ea, vpd=es - ea,
        dr=dr, declination=decl, omega_s=omega_s,
        Ra=ra, Rso=rso, Rs=x.rs_mj_m2, rs_rso=rs_rso, Rns=rns, Rnl=rnl, Rn=rn, G=g, u2=u2,
        radiation_method="measured", humidity_method="rh_hourly_eq54", wind_method=wind,
        t=t, Lz=lz, Lm=lm, Sc=sc, omega=omega, omega1=omega1, omega2=omega2,
        solar_elevation=sun_elevation, daylight=daylight, cloudiness_method=cloudiness,
    )  # fmt: skip
