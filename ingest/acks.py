"""End-to-end acks, gathered per gateway so that they cost a prepaid SIM little.

Each ack is an MQTT message to one gateway: about 37 bytes whatever it covers, most of them the
topic name. A gateway that publishes once a minute and got an ack for every message would pay
about a quarter more per reading than with the broker's PUBACK alone; gathered for
``delay_s`` (a few of its messages) the ack costs a few percent. A gateway catching up on a
backlog sends thousands of readings a second: it is confirmed whenever ``max_pending`` of its
readings wait, so its window of unconfirmed messages keeps moving.

The delay must stay well below the gateways' ``ack_timeout_s``, or they send again what ingest
only waited to confirm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# (gateway_id, sequence numbers, server time ms)
Publish = Callable[[str, list[int], int], None]


@dataclass(slots=True)
class _Pending:
    since: float
    seqs: list[int] = field(default_factory=list)


class AckGatherer:
    """Collects settled sequence numbers per gateway and sends them as few acks."""

    def __init__(self, publish: Publish, delay_s: float, max_pending: int) -> None:
        self._publish = publish
        self._delay_s = delay_s
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def add(self, gateway_id: str, seqs: list[int]) -> None:
        """Settled readings of one gateway; sent at once when enough wait."""
        with self._lock:
            pending = self._pending.setdefault(gateway_id, _Pending(time.monotonic()))
            pending.seqs.extend(seqs)
            due = len(pending.seqs) >= self._max_pending or self._delay_s == 0
            if due:
                del self._pending[gateway_id]
        if due:
            self._send(gateway_id, pending.seqs)

    def flush_due(self) -> None:
        """Send every gateway's ack whose oldest reading waited ``delay_s``."""
        now = time.monotonic()
        with self._lock:
            due = [g for g, p in self._pending.items() if now - p.since >= self._delay_s]
            sending = [(g, self._pending.pop(g).seqs) for g in due]
        for gateway_id, seqs in sending:
            self._send(gateway_id, seqs)

    def flush_all(self) -> None:
        """Send everything now (stopping)."""
        with self._lock:
            sending = [(g, p.seqs) for g, p in self._pending.items()]
            self._pending.clear()
        for gateway_id, seqs in sending:
            self._send(gateway_id, seqs)

    def _send(self, gateway_id: str, seqs: list[int]) -> None:
        self._publish(gateway_id, seqs, time.time_ns() // 1_000_000)
