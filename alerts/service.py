"""The alerts service: gateway status from MQTT, rule evaluation, notification delivery.

Three independent loops over one registry database: the status watcher (paho's thread)
records online/offline, the evaluator opens and resolves alerts on a schedule, the dispatcher
sends what they queued. Any of them may be slow or failing without stopping the others.
"""

from __future__ import annotations

import logging
import threading

from alerts.config import AlertsConfig
from alerts.delivery import Dispatcher
from alerts.evaluator import Evaluator, wall_ms
from alerts.gateway_status import GatewayStatusWatcher
from alerts.metrics import AlertsMetrics
from alerts.water_job import WaterJob
from registry.store import Registry
from storage.influx import InfluxDB

log = logging.getLogger(__name__)


class AlertsService:
    """Runs the watcher, the evaluator, the dispatcher and the water balances until stopped."""

    def __init__(self, config: AlertsConfig) -> None:
        self.registry = Registry(config.registry_url)
        self.influx = InfluxDB(
            config.influx.url,
            config.influx.database,
            username=config.influx.username,
            password=config.influx.password,
            token=config.influx.token,
        )
        self.config = config
        self.metrics = AlertsMetrics(self.registry)
        self.watcher = GatewayStatusWatcher(config.mqtt, self.registry, clock=wall_ms)
        self.evaluator = Evaluator(
            self.registry,
            self.influx,
            config.evaluation,
            on_pass=self.metrics.evaluation_pass,
            utc_offset_h=config.delivery.utc_offset_h,
        )
        self.dispatcher = Dispatcher(self.registry, config.delivery)
        self.water = WaterJob(self.registry, self.influx, config.delivery.utc_offset_h)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self.evaluator.run_forever, args=(self._stop,), name="evaluator"
            ),
            threading.Thread(
                target=self.dispatcher.run_forever, args=(self._stop,), name="dispatcher"
            ),
            threading.Thread(
                target=self.water.run_forever,
                args=(self._stop, config.evaluation.water_every_s),
                name="water-balances",
            ),
        ]

    def start(self) -> None:
        """Connect to the broker, start evaluating and delivering, serve /metrics if configured."""
        if self.config.metrics_port is not None:
            port = self.metrics.serve(self.config.metrics_host, self.config.metrics_port)
            log.info(
                "metrics served", extra={"url": f"http://{self.config.metrics_host}:{port}/metrics"}
            )
        self.watcher.start()
        for thread in self._threads:
            thread.start()
        log.info("alerts service started")

    def stop(self) -> None:
        """Finish the current pass of each loop, disconnect and close."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.watcher.stop()
        self.metrics.close()
        self.influx.close()
        self.registry.close()
        log.info("alerts service stopped")
