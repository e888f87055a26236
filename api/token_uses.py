"""When each API token was last used: noted in memory per request, written once a minute.

Writing the last use while answering put a SQLite write into the request: under 20 clients the
thread pool's requests queued behind SQLite's one writer (its busy handler sleeps up to 100 ms),
and that wait was the latest-conditions endpoint's tail. The registry gets every token's newest
use in one transaction every ``WRITE_EVERY_S`` and when the API stops; a write that fails is
logged and tried again with the next one.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.access import LAST_USE_RESOLUTION_MS, record_token_uses
from registry.store import Registry

log = logging.getLogger(__name__)

# The registry keeps a token's last use to the minute; writing more often would add nothing.
WRITE_EVERY_S = LAST_USE_RESOLUTION_MS / 1000


class TokenUses:
    """Tokens used since the last write, with the time of their newest use."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._uses: dict[str, int] = {}

    def note(self, token: str, now_ms: int) -> None:
        """``token`` was accepted at ``now_ms`` (no I/O: fine on the event loop)."""
        with self._lock:
            self._uses[token] = now_ms

    def write(self) -> int:
        """Write what was noted since the last write; how many tokens it covered."""
        with self._lock:
            uses, self._uses = self._uses, {}
        if not uses:
            return 0
        try:
            with Session(self._registry.engine) as session, session.begin():
                record_token_uses(session, uses)
        except SQLAlchemyError as exc:
            log.warning(
                f"could not record when tokens were last used, trying again later: {exc}",
                extra={"tokens": len(uses)},
            )
            with self._lock:
                for token, used_ms in uses.items():
                    self._uses[token] = max(used_ms, self._uses.get(token, used_ms))
            return 0
        return len(uses)

    def write_every(self, stop: threading.Event, every_s: float = WRITE_EVERY_S) -> None:
        """Write every ``every_s`` until ``stop`` is set, then once more."""
        while not stop.wait(every_s):
            self.write()
        self.write()
