"""One scenario's running system: stack, emulated devices, gateways and ingest, all real processes.

::

    with World(ctx, ingest_workers=1) as world:      # stack up, ingest subscribed, gateways run
        world.warm_up()                               # every gateway has readings stored
        ...inject a fault, end it...
        return world.finish(fault_end, evidence)      # recovery, gateways stopped, counts

Layout under the scenario's directory: ``stack/`` (Mosquitto, influxd), ``registry.sqlite3``,
``ingest-N.toml|.log|-deadletters.sqlite3``, ``gw-N/`` (``gateway.toml``, ``gateway.log``,
``sim.log``, ``state/outbox.sqlite3``).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from registry.store import DeviceEntry, FieldEntry, GatewayEntry, Registry, SiteFile, VillageEntry
from tani.chaos.accounting import (
    Progress,
    Store,
    account_gateway,
    gateway_log_counts,
    outbox_state,
    totals,
)
from tani.chaos.context import Aborted, Context
from tani.chaos.members import DATABASE, GatewayProc, IngestProc
from tani.stack import Stack, StackConfig, free_ports

VILLAGE = "desa-chaos"
INGEST_USER = "chaos-ingest"
# Alembic's migration context is process-global: two scenarios must not create registries at once.
_REGISTRY_LOCK = threading.Lock()


class World:
    """The running system of one scenario; see the module docstring."""

    def __init__(self, ctx: Context, ingest_workers: int = 1) -> None:
        self.ctx = ctx
        self.params = ctx.params
        self.dir = ctx.root / ctx.name
        self.dir.mkdir(parents=True)
        mqtt_port, influx_port, rpc_port = free_ports(3)
        self.stack = Stack(
            StackConfig(
                state_dir=self.dir / "stack",
                mqtt_port=mqtt_port,
                influx_port=influx_port,
                influx_rpc_port=rpc_port,
            )
        )
        self.registry_url = f"sqlite:///{self.dir / 'registry.sqlite3'}"
        self._ingest_count = ingest_workers
        self.gateways: list[GatewayProc] = []
        self.ingest: list[IngestProc] = []
        self.store: Store | None = None
        self.started_wall_ms = time.time_ns() // 1_000_000
        self._closing = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"supervisor-{ctx.name}", daemon=True
        )

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> World:
        try:
            self._start()
        except BaseException:
            self._teardown()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._teardown()

    def _start(self) -> None:
        ctx = self.ctx
        ctx.say(f"stack up in {self.dir}")
        self.stack.up(timeout=60.0)
        self.store = Store(self.stack.influx_url, DATABASE)
        ids = [f"gw-{n}" for n in range(1, self.params.gateways + 1)]
        self._registry(ids)
        for n, gateway_id in enumerate(ids):  # one by one: teardown stops what was started
            self.gateways.append(GatewayProc(self, gateway_id, n))
        creds = self.stack.add_mqtt_user(INGEST_USER, "service")
        for n in range(self._ingest_count):
            self.ingest.append(IngestProc(self, n, creds, shared=self._ingest_count > 1))
            self.ingest[-1].start()
        # What gateways publish before ingest's subscription is confirmed reaches nobody.
        ctx.wait(lambda: all(w.subscribed() for w in self.ingest), 60.0, "ingest subscribed")
        for gateway in self.gateways:
            gateway.wait_ports()
            gateway.write_config(self.stack.add_mqtt_user(gateway.id, "gateway"))
        self._supervisor.start()

    def _supervise(self) -> None:
        """Restart what exits by itself, as systemd or compose would (see ``members``)."""
        while not self._closing.wait(0.5):
            for member in [*self.gateways, *self.ingest]:
                if member.supervise():
                    self.ctx.say(f"{member.name} had exited by itself: supervisor restarted it")

    def _registry(self, ids: list[str]) -> None:
        with _REGISTRY_LOCK:
            registry = Registry(self.registry_url)
        try:
            registry.apply(
                SiteFile(
                    villages=[VillageEntry(id=VILLAGE, name="Desa Chaos")],
                    fields=[
                        FieldEntry(id=f"lahan-{g}", name=f"Lahan {g}", village=VILLAGE, crop="padi")
                        for g in ids
                    ],
                    gateways=[
                        GatewayEntry(
                            id=g,
                            name=g,
                            devices=[
                                DeviceEntry(id="soil-1", kind="modbus_soil", field=f"lahan-{g}"),
                                DeviceEntry(
                                    id="weather-1", kind="ascii_weather", field=f"lahan-{g}"
                                ),
                            ],
                        )
                        for g in ids
                    ],
                )
            )
        finally:
            registry.close()

    def script_clock(
        self, index: int, offset_ms: int, ntp: bool, trust_after_floor: bool | None = None
    ) -> GatewayProc:
        """Before it starts: gateway ``index`` runs on a machine whose clock the scenario sets
        (``clock_gateway``), optionally with ``[clock] trust_after_floor``."""
        gateway = self.gateways[index]
        gateway.set_clock(offset_ms, ntp)
        gateway.trust_after_floor = trust_after_floor
        gateway.write_config(self.stack.add_mqtt_user(gateway.id, "gateway"))
        return gateway

    def start_gateways(self) -> None:
        """Start every gateway process."""
        for gateway in self.gateways:
            gateway.start()

    def warm_up(self, skip: tuple[int, ...] = ()) -> None:
        """Until every gateway (but ``skip``) has a reading stored."""
        store = self.store
        assert store is not None
        waiting = [g for n, g in enumerate(self.gateways) if n not in skip]
        self.ctx.wait(
            lambda: all(store.any_stored(g.id) for g in waiting),
            self.params.warmup_timeout_s,
            "first readings of every gateway stored",
        )
        self.ctx.say("warmed up: every gateway has readings stored")

    def _teardown(self) -> None:
        self._closing.set()
        if self._supervisor.is_alive():
            self._supervisor.join()
        for member in [*self.gateways, *self.ingest]:
            member.kill9()
        for gateway in self.gateways:
            gateway.sim.stop(10.0)
        if self.store is not None:
            self.store.close()
        try:
            self.stack.down()
        except Exception as exc:  # reported, and the run's last resort stops it again
            self.ctx.say(f"stack down failed: {exc}")

    # -- the end of a scenario --------------------------------------------------------------

    def finish(self, fault_end: float, evidence: dict[str, Any]) -> dict[str, Any]:
        """Let the system recover by itself, stop the gateways, count; the scenario's result."""
        p, ctx, store = self.params, self.ctx, self.store
        assert store is not None
        deadline = fault_end + p.recovery_deadline_s
        at_fault_end = {g.id: outbox_state(g.outbox_path).committed for g in self.gateways}
        ctx.say(f"fault over; waiting for {sum(at_fault_end.values())} committed readings")
        recovered_at, gave_up = self._recover(Progress(store, at_fault_end), deadline)
        stopping = time.monotonic()
        for gateway in self.gateways:
            gateway.terminate()  # all at once: each may take its whole drain timeout
        codes = {g.id: g.stop() for g in self.gateways}
        ctx.say(f"gateways stopped in {time.monotonic() - stopping:.1f} s, exit codes {codes}")
        final = {g.id: outbox_state(g.outbox_path).committed for g in self.gateways}
        grace = 30.0 if recovered_at is not None else 5.0
        complete_at, _ = self._recover(Progress(store, final), time.monotonic() + grace)
        stopping = time.monotonic()
        codes = {w.name: w.stop() for w in self.ingest}
        ctx.say(f"ingest stopped in {time.monotonic() - stopping:.1f} s, exit codes {codes}")
        window = (self.started_wall_ms - 120_000, time.time_ns() // 1_000_000 + 120_000)
        per_gateway = {
            g.id: account_gateway(
                g.id,
                outbox_state(g.outbox_path),
                gateway_log_counts(g.log_path),
                store.all_points(g.id, final[g.id]),
                window,
            )
            for g in self.gateways
        }
        summary = totals(per_gateway)
        recovered = recovered_at is not None and complete_at is not None and summary["lost"] == 0
        result: dict[str, Any] = {
            **summary,
            "recovered_by_itself": recovered,
            "time_to_recover_s": round(recovered_at - fault_end, 2) if recovered else None,
            "fault": evidence,
            "gateways": per_gateway,
            "restarts": {m.name: m.starts - 1 for m in [*self.gateways, *self.ingest]},
            "crash_restarts": {
                m.name: m.crash_restarts for m in [*self.gateways, *self.ingest] if m.crash_restarts
            },
        }
        if gave_up:
            result["gave_up"] = gave_up
        ctx.say(
            f"committed {summary['committed']}, stored {summary['stored']}, lost "
            f"{summary['lost']}, duplicated {summary['duplicated']}, recovered {recovered}"
        )
        return result

    def _recover(self, progress: Progress, deadline: float) -> tuple[float | None, str | None]:
        """Poll until every target reading is stored: (when, None), or (None, why not)."""
        stall_s = self.params.stall_s
        best, best_at = -1, time.monotonic()
        while True:
            if self.ctx.abort.is_set():
                raise Aborted()
            count = progress.update()
            thinned = {g.id: gateway_log_counts(g.log_path).thinned for g in self.gateways}
            now = time.monotonic()
            if progress.complete(thinned):
                return now, None
            if count > best:
                best, best_at = count, now
            elif now - best_at > stall_s and self._outboxes_empty():
                return None, f"no progress for {stall_s:.0f} s with every outbox empty"
            if now > deadline:
                return None, "recovery deadline passed"
            time.sleep(0.5)

    def _outboxes_empty(self) -> bool:
        return all(outbox_state(g.outbox_path).depth == 0 for g in self.gateways)
