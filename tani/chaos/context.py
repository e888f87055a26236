"""What a scenario gets: its parameters, its own random generator, a place for its files, and
waits that end early when the run is interrupted."""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tani.chaos.params import Params


class Aborted(Exception):
    """The run was interrupted (Ctrl-C, SIGTERM): the scenario stops where it is."""


class ScenarioTimeout(RuntimeError):
    """Something the scenario needs did not happen in time."""


@dataclass
class Context:
    """One scenario's view of the run."""

    name: str
    params: Params
    seed: int
    root: Path
    abort: threading.Event
    rng: random.Random = field(init=False)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        # Each scenario draws from its own stream: adding one does not change another's.
        self.rng = random.Random(f"{self.seed}:{self.name}")

    def say(self, message: str) -> None:
        """Progress on stderr (stdout carries only the JSON)."""
        elapsed = time.monotonic() - self.started
        print(f"[chaos {self.name} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def sleep(self, seconds: float) -> None:
        """Sleep, unless the run is interrupted."""
        if self.abort.wait(max(seconds, 0.0)):
            raise Aborted()

    def wait(
        self, condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.2
    ) -> Any:
        """Poll ``condition`` until truthy; ScenarioTimeout naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise ScenarioTimeout(f"timed out after {timeout_s:.0f} s waiting for {what}")
            self.sleep(poll_s)
