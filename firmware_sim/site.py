"""A whole simulated field site: soil probes on an RS485 bus and a weather station, on ptys.

Used in-process by the demo, the ``tani sim`` command and the integration tests::

    site = SimulatedSite(SiteConfig(seed=1, time_scale=60.0, weather_interval_s=2.0))
    site.start()
    site.ports  # {"soil": "/dev/pts/5", "weather": "/dev/pts/7"}: open these with pyserial
    site.inject("soil", "bad_crc", count=1)
    site.soil_history(device_id=1)
    site.unplug("soil")  # the USB adapter is pulled out: its pty and symlink vanish
    site.replug("soil")  # back on another /dev/pts/N, behind the same soil_symlink
    site.stop()

With ``SiteConfig(sdi12_addresses=("0", "1"))`` a USB SDI-12 adapter with TEROS-12-like probes
appears too, as ``site.ports["sdi12"]`` (``site.inject("sdi12", "bad_crc", address="1")``,
``site.sdi12_history("1")``).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType, TracebackType

from firmware_sim.history import Served
from firmware_sim.model import FieldModel, ModelConfig
from firmware_sim.pty_link import PtyLink
from firmware_sim.sdi12_probe import ADAPTER_BAUDRATE, Sdi12Adapter
from firmware_sim.soil_probe import SoilProbeBus
from firmware_sim.weather_station import WeatherStation

log = logging.getLogger(__name__)

SOIL = "soil"
WEATHER = "weather"
SDI12 = "sdi12"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """What to simulate.

    :param seed: makes the weather, rain and soil reproducible.
    :param time_scale: simulated seconds per real second (60: an hour a minute).
    :param soil_device_ids: Modbus ids of the soil probes sharing the soil bus.
    :param weather_interval_s: real seconds between weather lines.
    :param baudrate: line speed of both serial lines (8N1).
    :param pacing: make the lines as slow as real ones at ``baudrate``.
    :param history_len: replies/lines remembered per device.
    :param rain_events_per_day: mean showers per simulated day.
    :param origin_unix_s: where simulated time starts; None means the wall clock at start.
    :param soil_symlink: if set, a stable name for the soil port (like /dev/serial/by-id).
    :param weather_symlink: likewise for the weather port.
    :param soil_maps: register map per soil device id (``seven_in_one`` or ``jxct``); ids not
        listed serve ``seven_in_one``.
    :param weather_format: the station's line format, ``wxsta`` or ``vaisala_wxt``.
    :param sdi12_addresses: SDI-12 addresses of TEROS-12-like probes behind a USB SDI-12
        adapter on port ``sdi12``; empty (the default): no such adapter.
    :param sdi12_measure_s: real seconds an SDI-12 measurement takes (ttt rounds it up).
    :param sdi12_symlink: a stable name for the SDI-12 port.
    """

    seed: int = 1
    time_scale: float = 60.0
    soil_device_ids: tuple[int, ...] = (1,)
    weather_interval_s: float = 10.0
    baudrate: int = 4800
    pacing: bool = True
    history_len: int = 1000
    rain_events_per_day: float = 2.0
    origin_unix_s: float | None = None
    soil_symlink: str | None = None
    weather_symlink: str | None = None
    soil_maps: dict[int, str] = field(default_factory=dict)
    weather_format: str = "wxsta"
    sdi12_addresses: tuple[str, ...] = ()
    sdi12_measure_s: float = 1.0
    sdi12_symlink: str | None = None


class SimulatedSite:
    """Field devices on pseudo-terminals, started and stopped together."""

    def __init__(self, config: SiteConfig | None = None) -> None:
        self.config = config or SiteConfig()
        self.model: FieldModel | None = None
        self._links: dict[str, PtyLink] = {}
        self._soil: SoilProbeBus | None = None
        self._weather: WeatherStation | None = None
        self._sdi12: Sdi12Adapter | None = None

    def start(self) -> None:
        """Create the links and start every device; on failure undo what was started."""
        if self.model is not None:
            raise RuntimeError("site already started")
        cfg = self.config
        self.model = FieldModel(
            ModelConfig(
                seed=cfg.seed,
                time_scale=cfg.time_scale,
                origin_unix_s=cfg.origin_unix_s,
                rain_events_per_day=cfg.rain_events_per_day,
            )
        )
        pace = cfg.baudrate if cfg.pacing else None
        try:
            for name, symlink in ((SOIL, cfg.soil_symlink), (WEATHER, cfg.weather_symlink)):
                self._links[name] = PtyLink(name, baudrate=pace, host_symlink=symlink)
            self._soil = SoilProbeBus(
                self.model,
                self._links[SOIL].device_path,
                device_ids=cfg.soil_device_ids,
                maps=cfg.soil_maps,
                baudrate=cfg.baudrate,
                history_len=cfg.history_len,
                seed=cfg.seed,
            )
            self._soil.start()
            self._weather = WeatherStation(
                self.model,
                self._links[WEATHER].device_path,
                interval_s=cfg.weather_interval_s,
                baudrate=cfg.baudrate,
                history_len=cfg.history_len,
                seed=cfg.seed,
                line_format=cfg.weather_format,
            )
            self._weather.start()
            if cfg.sdi12_addresses:
                self._links[SDI12] = PtyLink(
                    SDI12,
                    baudrate=ADAPTER_BAUDRATE if cfg.pacing else None,
                    host_symlink=cfg.sdi12_symlink,
                )
                self._sdi12 = Sdi12Adapter(
                    self.model,
                    self._links[SDI12].device_path,
                    addresses=cfg.sdi12_addresses,
                    measure_s=cfg.sdi12_measure_s,
                    line_timing=cfg.pacing,
                    history_len=cfg.history_len,
                    seed=cfg.seed,
                )
                self._sdi12.start()
        except BaseException:
            self.stop()
            raise
        log.info("simulated site started", extra={"ports": self.ports, "seed": cfg.seed})

    def stop(self) -> None:
        """Stop every device, join their threads and close every fd. Idempotent."""
        if self._sdi12 is not None:
            self._sdi12.stop()
            self._sdi12 = None
        if self._weather is not None:
            self._weather.stop()
            self._weather = None
        if self._soil is not None:
            self._soil.stop()
            self._soil = None
        for link in self._links.values():
            link.close()
        self._links.clear()
        self.model = None

    def __enter__(self) -> SimulatedSite:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def ports(self) -> dict[str, str]:
        """Device name -> the path the gateway opens."""
        return {name: link.host_path for name, link in self._links.items()}

    def unplug(self, name: str) -> None:
        """Pull the USB adapter of port ``name``: its host pty and symlink vanish."""
        self._link(name).unplug()

    def replug(self, name: str) -> None:
        """Plug port ``name``'s adapter back in, on a new pty behind the same symlink."""
        self._link(name).replug()

    def _link(self, name: str) -> PtyLink:
        if name not in self._links:
            raise ValueError(f"no port {name!r}; the site has {sorted(self._links)}")
        return self._links[name]

    def inject(
        self,
        device: str,
        fault: str,
        count: int = 1,
        device_id: int | None = None,
        *,
        address: str | None = None,
    ) -> None:
        """Arm a fault: soil ``bad_crc``/``garbage``/``silent`` (``device_id`` None: whole bus),
        weather ``garble``/``garbage``/``partial``/``silent``, sdi12 ``bad_crc``/``garbage``/
        ``partial``/``silent`` (``address`` None: the whole adapter). ``silent`` lasts until
        :meth:`clear`."""
        if device == SOIL:
            self._soil_bus().inject(fault, count, device_id)
        elif device == WEATHER:
            self._weather_station().inject(fault, count)
        elif device == SDI12:
            self._sdi12_adapter().inject(fault, count, address)
        else:
            raise ValueError(
                f"unknown device {device!r}; expected {SOIL!r}, {WEATHER!r}, {SDI12!r}"
            )

    def clear(
        self, device: str, device_id: int | None = None, *, address: str | None = None
    ) -> None:
        """Clear the faults of a device (soil: one probe, or the bus and all probes; sdi12:
        likewise by ``address``)."""
        if device == SOIL:
            self._soil_bus().clear(device_id)
        elif device == WEATHER:
            self._weather_station().clear()
        elif device == SDI12:
            self._sdi12_adapter().clear(address)
        else:
            raise ValueError(
                f"unknown device {device!r}; expected {SOIL!r}, {WEATHER!r}, {SDI12!r}"
            )

    def soil_history(self, device_id: int = 1) -> list[Served]:
        """Replies soil probe ``device_id`` sent with a good CRC, oldest first."""
        return self._soil_bus().history(device_id)

    def weather_history(self) -> list[Served]:
        """Weather lines sent intact, oldest first (see WeatherStation.history)."""
        return self._weather_station().history()

    def sdi12_history(self, address: str = "0") -> list[Served]:
        """Measurements SDI-12 probe ``address`` sent whole and intact, oldest first."""
        return self._sdi12_adapter().history(address)

    def _sdi12_adapter(self) -> Sdi12Adapter:
        if self._sdi12 is None:
            raise RuntimeError("site not started, or started without sdi12_addresses")
        return self._sdi12

    def _soil_bus(self) -> SoilProbeBus:
        if self._soil is None:
            raise RuntimeError("site not started")
        return self._soil

    def _weather_station(self) -> WeatherStation:
        if self._weather is None:
            raise RuntimeError("site not started")
        return self._weather


def run_forever(config: SiteConfig, print_fn: Callable[[str], object] = print) -> None:
    """Start a site, print one ``<name> <path>`` line per port, run until SIGINT/SIGTERM.

    Must be called from the main thread (it installs signal handlers, restored on return).
    """
    # A plain flag, not threading.Event: Event.set() in a handler can deadlock if the signal
    # lands while the main thread holds the Event's internal lock.
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    site = SimulatedSite(config)
    try:
        site.start()
        for name, path in site.ports.items():
            print_fn(f"{name} {path}")
        sys.stdout.flush()  # whoever reads our output needs the paths now, not at exit
        while not stopping:
            time.sleep(0.2)
        log.info("stopping simulated site", extra={"signal": stopping[0]})
    finally:
        site.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
