"""Alert rules evaluated over real readings: gateway MQTT -> Mosquitto -> ingest -> influxd.

The readings' times are set by the test (a few hours back), so a 30-minute rule is checked
in seconds; the evaluator's clock is set to "just after the last reading".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alerts.config import MqttSettings
from alerts.evaluator import wall_ms
from alerts.gateway_status import GatewayStatusWatcher
from registry.alerting import AlertState, GatewayStatus
from registry.models import Gateway
from tani.stack import Stack
from tests.integration.alerts_support import MINUTE_MS, AlertSite, alert_site
from tests.integration.support import wait_for

pytestmark = pytest.mark.integration

DRY_SOIL = {
    "name": "tanah-kering-padi",
    "kind": "below",
    "quantity": "soil_moisture",
    "threshold": 18.0,
    "clear_threshold": 22.0,
    "duration_s": 30 * 60,
    "scope": "crop",
    "scope_value": "padi",
    "severity": "warning",
}


def test_dry_soil_fires_once_after_its_duration_and_resolves_on_rain(
    stack: Stack, tmp_path: Path
) -> None:
    t0 = wall_ms() - 3 * 3600_000
    with alert_site(stack, tmp_path, channel_url="json://127.0.0.1:9/hook") as site:
        site.add_rule(**DRY_SOIL)
        last = site.publish(t0, [15.0] * 6)  # 0..25 min dry
        assert site.evaluator(last + 1000).run_once().opened == 0
        assert site.alerts() == []

        last = site.publish(t0 + 30 * MINUTE_MS, [15.5])  # the 30th minute
        report = site.evaluator(last + 1000).run_once()
        assert report.opened == 1
        [alert] = site.alerts()
        assert (alert.state, alert.since_ms, alert.value) == ("open", t0, 15.5)
        assert (alert.field_id, alert.village_id, alert.device_id) == (
            "sawah-budi",
            "bumi-agung",
            "soil-1",
        )
        assert len(site.deliveries("opened")) == 1  # the officer's channel

        site.evaluator(last + 60_000).run_once()  # again, nothing new
        last = site.publish(t0 + 35 * MINUTE_MS, [14.0, 13.5, 13.0])  # still dry
        assert site.evaluator(last + 1000).run_once().opened == 0
        assert len(site.alerts()) == 1 and len(site.deliveries("opened")) == 1
        assert site.alerts()[0].last_value == 13.0

        last = site.publish(t0 + 50 * MINUTE_MS, [34.0, 36.0, 35.0])  # rain: 10 min wet
        report = site.evaluator(last + 1000).run_once()
        assert report.resolved == 1
        [alert] = site.alerts()
        assert alert.state == AlertState.RESOLVED.value
        assert alert.resolved_by is None  # the condition cleared, nobody closed it by hand


def test_flapping_around_the_threshold_raises_one_alert(stack: Stack, tmp_path: Path) -> None:
    t0 = wall_ms() - 4 * 3600_000
    with alert_site(stack, tmp_path, channel_url="json://127.0.0.1:9/hook") as site:
        site.add_rule(**DRY_SOIL)
        last = site.publish(t0, [16.0] * 7 + [17.5, 18.5] * 15)
        site.evaluator(last + 1000).run_once()
        last = site.publish(last + 5 * MINUTE_MS, [18.5, 17.5, 19.0, 17.9, 21.0, 17.0])
        site.evaluator(last + 1000).run_once()
        assert [a.state for a in site.alerts()] == ["open"]
        assert len(site.deliveries()) == 1


def test_evaluation_state_survives_a_restart_of_the_evaluator(stack: Stack, tmp_path: Path) -> None:
    t0 = wall_ms() - 2 * 3600_000
    with alert_site(stack, tmp_path) as site:
        site.add_rule(**DRY_SOIL)
        last = site.publish(t0, [15.0] * 5)  # 0..20 min dry: pending
        assert site.evaluator(last + 1000).run_once().opened == 0
        site.registry.close()  # the evaluator process ends

        # A new one whose look-back no longer reaches the start of the dry spell opens the
        # alert on time only because it remembers when the spell began.
        last = site.publish(t0 + 25 * MINUTE_MS, [15.0, 15.0])  # 25, 30 min
        restarted = site.evaluator(last + 1000, lookback_s=12 * 60)
        assert restarted.run_once().opened == 1
        [alert] = site.alerts()
        assert alert.since_ms == t0

        # And once more: the open alert is remembered, not raised again.
        last = site.publish(t0 + 35 * MINUTE_MS, [14.0])
        assert site.evaluator(last + 1000).run_once().opened == 0
        assert len(site.alerts()) == 1 and len(site.deliveries()) == 0  # no channel here


def test_readings_in_other_crops_do_not_trigger_the_rule(stack: Stack, tmp_path: Path) -> None:
    t0 = wall_ms() - 2 * 3600_000
    with alert_site(stack, tmp_path) as site:
        site.add_rule(**{**DRY_SOIL, "name": "tanah-kering-kopi", "scope_value": "kopi"})
        last = site.publish(t0, [10.0] * 10)
        assert site.evaluator(last + 1000).run_once().opened == 0


def test_a_silent_device_raises_no_data_and_clears_when_it_speaks(
    stack: Stack, tmp_path: Path
) -> None:
    t0 = wall_ms() - 3 * 3600_000
    with alert_site(stack, tmp_path) as site:
        site.add_rule(name="tanpa-data", kind="no_data", duration_s=2 * 3600, severity="warning")
        last = site.publish(t0, [30.0])
        assert site.evaluator(last + 3600_000).run_once().opened == 0
        assert site.evaluator(last + 2 * 3600_000 + 1000).run_once().opened == 1
        [alert] = site.alerts()
        assert (alert.kind, alert.since_ms, alert.device_id) == ("no_data", last, "soil-1")
        now = site.publish(wall_ms() - 60_000, [31.0])
        assert site.evaluator(now + 1000).run_once().resolved == 1


def _gateway_process(stack: Stack, gateway_id: str, password: str) -> subprocess.Popen[str]:
    """The gateway's real MQTT publisher in a process of its own, to be killed."""
    code = (
        "import sys, time\n"
        "from gateway.config import MqttSettings\n"
        "from gateway.publisher import MqttPublisher\n"
        f"settings = MqttSettings(host={stack.mqtt_host!r}, port={stack.mqtt_port},"
        f" username={gateway_id!r}, password={password!r}, keepalive_s=5)\n"
        f"publisher = MqttPublisher({gateway_id!r}, settings, None)\n"
        "publisher.start()\n"
        "assert publisher.connected.wait(15)\n"
        "print('connected', flush=True)\n"
        "time.sleep(600)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )


def test_a_gateway_whose_connection_is_killed_raises_offline(stack: Stack, tmp_path: Path) -> None:
    with alert_site(stack, tmp_path) as site:
        gateway_id = f"{site.gateway_id}-pi"
        creds = stack.add_mqtt_user(gateway_id, "gateway")
        with Session(site.registry.engine) as session, session.begin():
            session.add(Gateway(id=gateway_id, name="Pi", village_id="bumi-agung"))
        site.add_rule(
            name="gateway-mati", kind="gateway_offline", duration_s=60, severity="critical"
        )
        watcher = _watcher(stack, site, f"alerts-{gateway_id}")
        process = _gateway_process(stack, gateway_id, creds.password)
        try:
            assert watcher.subscribed.wait(15)
            assert process.stdout is not None and process.stdout.readline() == "connected\n"
            wait_for(lambda: _status(site, gateway_id) == "online", what="gateway online")
            process.kill()  # no goodbye: the broker publishes the gateway's last will
            process.wait(10)
            wait_for(lambda: _status(site, gateway_id) == "offline", what="last will received")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            watcher.stop()

        now = wall_ms()
        assert site.evaluator(now).run_once().opened == 0  # offline for less than a minute
        assert site.evaluator(now + 61_000).run_once().opened == 1
        [alert] = [a for a in site.alerts() if a.kind == "gateway_offline"]
        assert (alert.gateway_id, alert.village_id, alert.severity) == (
            gateway_id,
            "bumi-agung",
            "critical",
        )
        assert abs(alert.since_ms - now) < 20_000
        # Back online: the same gateway reconnects and says so.
        process = _gateway_process(stack, gateway_id, creds.password)
        watcher = _watcher(stack, site, f"alerts-{gateway_id}-2")
        try:
            assert process.stdout is not None and process.stdout.readline() == "connected\n"
            wait_for(lambda: _status(site, gateway_id) == "online", what="gateway back online")
            assert site.evaluator(wall_ms() + 1000).run_once().resolved == 1
        finally:
            process.kill()
            process.wait(10)
            watcher.stop()


def _watcher(stack: Stack, site: AlertSite, client_id: str) -> GatewayStatusWatcher:
    """A started status watcher of the alerts service's own, writing to the site's registry."""
    user = stack.add_mqtt_user("alerts-test", "service")
    watcher = GatewayStatusWatcher(
        MqttSettings(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=user.username,
            password=user.password,
            client_id=client_id,
        ),
        site.registry,
        clock=wall_ms,
    )
    watcher.start()
    return watcher


def _status(site: AlertSite, gateway_id: str) -> str | None:
    with Session(site.registry.engine) as session:
        row = session.get(GatewayStatus, gateway_id)
        return None if row is None else row.state


def test_a_fast_fall_across_two_passes_raises_the_rate_rule_and_a_rise_does_not(
    stack: Stack, tmp_path: Path
) -> None:
    t0 = wall_ms() - 3 * 3600_000
    with alert_site(stack, tmp_path) as site:
        site.add_rule(
            name="turun-cepat",
            kind="rate",
            quantity="soil_moisture",
            threshold=-10.0,
            clear_threshold=-5.0,
            window_s=3600,
            severity="info",
        )
        # Rain: +30 %/h, then steady. A fall rule ignores the rise.
        last = site.publish(t0, [20.0, 25.0, 30.0, 35.0, 40.0] + [40.0] * 14)
        assert site.evaluator(last + 1000).run_once().opened == 0
        # The next pass reads on from where the last one stopped, with an hour of history
        # for the comparison: the bund breaks and the water drains.
        last = site.publish(last + 5 * MINUTE_MS, [37.0, 34.0, 31.0, 28.0, 25.0])
        assert site.evaluator(last + 1000).run_once().opened == 1
        [alert] = site.alerts()
        assert alert.kind == "rate" and alert.value is not None and alert.value <= -10
