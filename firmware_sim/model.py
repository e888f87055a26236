"""A plausible physical model of one lowland field in Lampung, deterministic from a seed.

Everything is a function of simulated time (unix seconds): given the same seed and origin the
model answers the same for the same instant, whichever order it is asked in. Weather follows the
sun and a few random rain events a day (wet season); soil moisture is the one quantity with a
memory, integrated on a fixed grid from three simulated days before the origin so it starts in
equilibrium with recent rain.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from firmware_sim import quantities as q

DAY_S = 86400.0
LOCAL_UTC_OFFSET_S = 7 * 3600.0  # WIB, Lampung's time zone
_DAWN_H = 6.0  # coolest hour of the day
_PEAK_H = 14.5  # warmest hour of the day
_STEP_S = 300.0  # soil moisture integration step
_SPINUP_S = 3 * DAY_S
_ROOT_ZONE_MM = 250.0  # depth of soil the probe sees; 1 mm of rain wets it by 0.4 % points
_DRAIN_TAU_S = 8 * 3600.0  # water above field capacity drains within hours
_DRY_HALF_LIFE_S = 2.5 * DAY_S  # evapotranspiration at 27 degC
_COOLING_TAU_S = 1.5 * 3600.0  # air warms back up after rain


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Parameters of the field model.

    :param seed: everything random derives from it.
    :param time_scale: simulated seconds per real second (60 makes an hour pass in a minute).
    :param origin_unix_s: the instant real and simulated time coincide; None means now.
    :param rain_events_per_day: mean number of showers a simulated day (wet season: 2).
    """

    seed: int = 1
    time_scale: float = 1.0
    origin_unix_s: float | None = None
    latitude_deg: float = -4.45  # Way Kanan, Lampung
    longitude_deg: float = 104.5
    rain_events_per_day: float = 2.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {self.time_scale}")
        if self.rain_events_per_day < 0:
            raise ValueError("rain_events_per_day must not be negative")


@dataclass(frozen=True, slots=True)
class RainEvent:
    """One shower: constant intensity between start and end (simulated unix seconds)."""

    start: float
    duration_s: float
    intensity_mm_h: float

    @property
    def end(self) -> float:
        """When the shower stops."""
        return self.start + self.duration_s

    def depth_between(self, a: float, b: float) -> float:
        """Millimetres of rain this shower drops between instants a and b."""
        overlap = min(b, self.end) - max(a, self.start)
        return max(0.0, overlap) * self.intensity_mm_h / 3600.0


@dataclass(frozen=True, slots=True)
class FieldSample:
    """The state of the field at one simulated instant, in engineering units."""

    sim_time: float
    air_temperature: float
    air_humidity: float
    air_pressure: float
    wind_speed: float
    wind_direction: float
    solar_radiation: float
    rain_rate_mm_h: float
    rain_total_mm: float  # since the model's origin
    soil_moisture: float
    soil_temperature: float
    soil_ec: float
    soil_ph: float
    soil_nitrogen: float
    soil_phosphorus: float
    soil_potassium: float

    def quantities(self) -> dict[str, float]:
        """Catalogue quantities held by the sample (rain, an amount per interval, excepted)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in q.SIM_QUANTITIES}


class _Wobble:
    """Smooth deterministic noise in [-1, 1]: the mean of sinusoids with seeded periods."""

    def __init__(self, rng: random.Random, periods_s: tuple[float, ...]) -> None:
        self._terms = [
            (2 * math.pi / (p * rng.uniform(0.8, 1.25)), rng.uniform(0, 2 * math.pi))
            for p in periods_s
        ]

    def __call__(self, t: float) -> float:
        return sum(math.sin(w * t + phase) for w, phase in self._terms) / len(self._terms)


def _diurnal(hour: float, low: float, high: float) -> float:
    """Half-cosine rise from dawn to mid-afternoon, slower half-cosine fall through the night."""
    if _DAWN_H <= hour < _PEAK_H:
        frac = (hour - _DAWN_H) / (_PEAK_H - _DAWN_H)
        return low + (high - low) * (1 - math.cos(math.pi * frac)) / 2
    frac = ((hour - _PEAK_H) % 24) / (24 - (_PEAK_H - _DAWN_H))
    return high - (high - low) * (1 - math.cos(math.pi * frac)) / 2


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the handful of events a day we draw."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _local_hour(t: float) -> float:
    return ((t + LOCAL_UTC_OFFSET_S) % DAY_S) / 3600.0


def _local_day(t: float) -> int:
    return math.floor((t + LOCAL_UTC_OFFSET_S) / DAY_S)


class FieldModel:
    """The weather above and the soil in one field, as functions of simulated time.

    Thread-safe: the soil probe and the weather station ask it from different threads.
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.origin = time.time() if config.origin_unix_s is None else config.origin_unix_s
        seed = config.seed
        site = random.Random(f"{seed}/site")
        self._theta_dry = site.uniform(16.0, 20.0)  # % volumetric, wilting side
        self._theta_fc = site.uniform(40.0, 44.0)  # field capacity
        self._theta_sat = site.uniform(50.0, 54.0)  # saturation
        self._ec_base = site.uniform(150.0, 250.0)  # uS/cm at the dry baseline
        self._ph0 = site.uniform(5.7, 6.2)
        self._npk0 = (site.uniform(60, 110), site.uniform(15, 35), site.uniform(100, 180))
        self._wind_from = site.uniform(240.0, 300.0)  # wet-season westerlies

        def wobble(name: str, *periods_h: float) -> Callable[[float], float]:
            return _Wobble(random.Random(f"{seed}/{name}"), tuple(p * 3600 for p in periods_h))

        self._w_tmin = wobble("tmin", 61, 97, 149)
        self._w_tmax = wobble("tmax", 53, 89, 131)
        self._w_tfast = wobble("tfast", 0.4, 0.9, 2.3)
        self._w_rh = wobble("rh", 0.7, 1.9, 5.0)
        self._w_press = wobble("press", 47, 101, 173)
        self._w_wind = wobble("wind", 1.1, 3.7, 9.0)
        self._w_gust = wobble("gust", 0.05, 0.13, 0.31)
        self._w_dir = wobble("dir", 0.3, 2.0, 11.0)
        self._w_cloud = wobble("cloud", 0.8, 2.9, 7.0)
        self._w_soil = wobble("soil", 5, 17, 41)
        self._w_ph = wobble("ph", 67, 143, 0.5)
        self._w_npk = (wobble("n", 120, 250), wobble("p", 150, 330), wobble("k", 110, 270))

        self._events: dict[int, tuple[RainEvent, ...]] = {}
        self._lock = threading.Lock()
        self._t0 = self.origin - _SPINUP_S
        self._theta = [self._theta_dry + 8.0]  # grid of soil moisture from _t0, every _STEP_S
        self._cum_rain = [0.0]  # rain since _t0 on the same grid
        self._rain_at_origin = self._soil_state(self.origin)[1]

    # -- time ---------------------------------------------------------------------------------

    def sim_time(self, wall_unix_s: float | None = None) -> float:
        """Simulated unix time at a wall-clock instant (default: now)."""
        wall = time.time() if wall_unix_s is None else wall_unix_s
        return self.origin + (wall - self.origin) * self.config.time_scale

    def now(self, spot: int = 0) -> FieldSample:
        """The field as it is at this wall-clock instant."""
        return self.sample(self.sim_time(), spot)

    # -- rain ---------------------------------------------------------------------------------

    def rain_events(self, start: float, end: float) -> list[RainEvent]:
        """Showers that overlap the simulated interval [start, end), in time order."""
        found = [
            event
            for day in range(_local_day(start) - 1, _local_day(end) + 1)
            for event in self._day_events(day)
            if event.end > start and event.start < end
        ]
        return sorted(found, key=lambda e: e.start)

    def _day_events(self, day: int) -> tuple[RainEvent, ...]:
        if (cached := self._events.get(day)) is not None:
            return cached
        rng = random.Random(f"{self.config.seed}/rain/{day}")
        day_start = day * DAY_S - LOCAL_UTC_OFFSET_S
        events = []
        for _ in range(_poisson(rng, self.config.rain_events_per_day)):
            # Tropical showers are mostly convective: late afternoon, sometimes any time.
            hour = rng.gauss(16.5, 2.5) if rng.random() < 0.7 else rng.uniform(0, 24)
            events.append(
                RainEvent(
                    start=day_start + min(23.9, max(0.0, hour)) * 3600,
                    duration_s=rng.uniform(10, 90) * 60,
                    intensity_mm_h=min(80.0, max(1.0, rng.lognormvariate(math.log(5.0), 0.8))),
                )
            )
        self._events[day] = result = tuple(events)
        return result

    def _rain_depth(self, a: float, b: float) -> float:
        return sum(e.depth_between(a, b) for e in self.rain_events(a, b))

    def _rain_rate(self, t: float) -> float:
        return sum(e.intensity_mm_h for e in self.rain_events(t, t + 1e-3))

    def _rain_cooling(self, t: float) -> float:
        """Degrees the air is cooled by a shower now or in the last hours."""
        cooling = 0.0
        for e in self.rain_events(t - 6 * 3600, t + 1e-3):
            strength = 3.0 * min(1.0, e.intensity_mm_h / 10.0)
            if t >= e.end:
                strength *= math.exp(-(t - e.end) / _COOLING_TAU_S)
            cooling = max(cooling, strength)
        return cooling

    # -- soil moisture (the state with memory) --------------------------------------------------

    def _soil_step(self, theta: float, rain_mm: float, dt: float, air_t: float) -> float:
        span = self._theta_sat - self._theta_dry
        # Infiltration slows as the soil nears saturation; the rest runs off.
        room = max(0.0, self._theta_sat - theta)
        theta += room * (1 - math.exp(-rain_mm * 100 / _ROOT_ZONE_MM / span))
        if theta > self._theta_fc:
            theta = self._theta_fc + (theta - self._theta_fc) * math.exp(-dt / _DRAIN_TAU_S)
        # Evapotranspiration pulls towards the dry baseline, faster when it is hot.
        heat = min(2.5, max(0.3, 1 + 0.1 * (air_t - 27.0)))
        k = math.log(2) / _DRY_HALF_LIFE_S * heat
        return self._theta_dry + (theta - self._theta_dry) * math.exp(-k * dt)

    def _soil_state(self, t: float) -> tuple[float, float]:
        """(soil moisture %, rain mm since the grid start) at simulated time t."""
        if t < self._t0:
            raise ValueError(f"simulated time {t} is before the model's start {self._t0}")
        k = int((t - self._t0) // _STEP_S)
        with self._lock:
            while len(self._theta) <= k:
                a = self._t0 + (len(self._theta) - 1) * _STEP_S
                rain = self._rain_depth(a, a + _STEP_S)
                self._theta.append(
                    self._soil_step(self._theta[-1], rain, _STEP_S, self._air_t(a + _STEP_S / 2))
                )
                self._cum_rain.append(self._cum_rain[-1] + rain)
            theta, cum = self._theta[k], self._cum_rain[k]
        a = self._t0 + k * _STEP_S
        if t > a:
            rain = self._rain_depth(a, t)
            theta = self._soil_step(theta, rain, t - a, self._air_t((a + t) / 2))
            cum += rain
        return theta, cum

    # -- weather --------------------------------------------------------------------------------

    def _air_t(self, t: float) -> float:
        low, high = 23.0 + 0.8 * self._w_tmin(t), 32.0 + 1.2 * self._w_tmax(t)
        return _diurnal(_local_hour(t), low, high) - self._rain_cooling(t) + 0.3 * self._w_tfast(t)

    def _sin_sun_elevation(self, t: float) -> float:
        lat = math.radians(self.config.latitude_deg)
        day_of_year = time.gmtime(t + LOCAL_UTC_OFFSET_S).tm_yday
        decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
        # Local solar time: WIB is the 105 degE meridian's time.
        solar_h = _local_hour(t) + (self.config.longitude_deg - 105.0) / 15.0
        hour_angle = math.radians(15.0 * (solar_h - 12.0))
        return math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(
            hour_angle
        )

    def sample(self, sim_time: float, spot: int = 0) -> FieldSample:
        """The field at a simulated instant.

        :param spot: which place in the field (a probe's device id): each spot has fixed small
            offsets of its soil values, weather is the same everywhere.
        """
        t = sim_time
        hour = _local_hour(t)
        theta, cum_rain = self._soil_state(t)
        rate = self._rain_rate(t)
        air_t = self._air_t(t)
        humidity = 95.0 - 35.0 * (air_t - 23.0) / 9.0 + 1.5 * self._w_rh(t)
        if rate > 0:
            humidity = max(humidity, 92.0 + 6.0 * min(1.0, rate / 10.0))
        pressure = 1010.0 + 1.1 * math.cos(2 * math.pi * (hour - 10.0) / 12.0)
        daytime = max(0.0, math.sin(math.pi * (hour - 8.0) / 12.0))
        wind = 0.8 + 2.2 * daytime + 0.6 * self._w_wind(t) + 0.4 * self._w_gust(t)
        wind += 2.5 * min(1.0, rate / 15.0)  # squalls come with showers
        cloud = 0.35 + 0.35 * self._w_cloud(t)
        if rate > 0:
            cloud = max(cloud, 0.85)
        sun = self._sin_sun_elevation(t)
        solar = 910.0 * sun**1.15 * (1 - 0.8 * cloud) if sun > 0 else 0.0
        # Soil temperature: the air's daily cycle, three hours late and damped, cooled when wet.
        air_lagged = _diurnal(_local_hour(t - 3 * 3600), 23.0, 32.0)
        soil_t = 28.5 + 0.35 * (air_lagged - 27.5) - 0.04 * (theta - self._theta_dry)
        soil_t += 0.2 * self._w_soil(t)
        ec = self._ec_base * (theta / self._theta_dry) ** 1.6 * (1 + 0.02 * (soil_t - 25.0))
        n0, p0, k0 = self._npk0
        w_n, w_p, w_k = self._w_npk
        sample = FieldSample(
            sim_time=t,
            air_temperature=air_t,
            air_humidity=humidity,
            air_pressure=pressure + 0.7 * self._w_press(t),
            wind_speed=max(0.0, wind),
            wind_direction=(self._wind_from + 50.0 * self._w_dir(t)) % 360.0,
            solar_radiation=solar,
            rain_rate_mm_h=rate,
            rain_total_mm=max(0.0, cum_rain - self._rain_at_origin),
            soil_moisture=theta,
            soil_temperature=soil_t,
            soil_ec=ec,
            soil_ph=self._ph0 + 0.1 * self._w_ph(t),
            soil_nitrogen=n0 * (1 + 0.12 * w_n(t)),
            soil_phosphorus=p0 * (1 + 0.1 * w_p(t)),
            soil_potassium=k0 * (1 + 0.1 * w_k(t)),
        )
        return _clamped(_at_spot(sample, self.config.seed, spot))


def _at_spot(sample: FieldSample, seed: int, spot: int) -> FieldSample:
    """Fixed per-place offsets: two probes in one field never read exactly alike."""
    rng = random.Random(f"{seed}/spot/{spot}")
    return replace(
        sample,
        soil_moisture=sample.soil_moisture * rng.uniform(0.92, 1.08),
        soil_temperature=sample.soil_temperature + rng.uniform(-0.4, 0.4),
        soil_ec=sample.soil_ec * rng.uniform(0.9, 1.1),
        soil_ph=sample.soil_ph + rng.uniform(-0.1, 0.1),
        soil_nitrogen=sample.soil_nitrogen * rng.uniform(0.85, 1.15),
        soil_phosphorus=sample.soil_phosphorus * rng.uniform(0.85, 1.15),
        soil_potassium=sample.soil_potassium * rng.uniform(0.85, 1.15),
    )


def _clamped(sample: FieldSample) -> FieldSample:
    """Force every catalogue quantity into the range a real sensor can report."""
    return replace(
        sample, **{k: q.SIM_QUANTITIES[k].clamp(v) for k, v in sample.quantities().items()}
    )
