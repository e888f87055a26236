"""Child processes of a chaos run: started with their output logged, killed, never left behind.

Every child is registered while it runs; :func:`kill_all` (called on any exit of the run,
Ctrl-C and exceptions included) sends SIGKILL to whatever is still registered. Children also
ask the kernel for SIGKILL when the thread that started them goes away (``PR_SET_PDEATHSIG``),
so not even a ``kill -9`` of the chaos run itself leaves a gateway or an ingest worker running.

Output goes through a pipe that a thread copies to the child's log file, rather than straight
to the file: a gateway whose file size limit is lowered (the disk-full scenario) could not
write its own log otherwise, and that log is how its losses are counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# prctl(PR_SET_PDEATHSIG, SIGKILL): die with the thread of the run that started us.
_PRELUDE = "import ctypes, signal; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
_registry: set[Child] = set()
_registry_lock = threading.Lock()


def tani_argv(*args: str) -> list[str]:
    """``tani <args>`` with this interpreter (works from a clean clone's .venv)."""
    return [sys.executable, "-c", _PRELUDE + "from tani.cli import app; app()", *args]


def module_argv(module: str, *args: str) -> list[str]:
    """``main()`` of one of our modules, with the same death signal as ``tani_argv``."""
    return [sys.executable, "-c", _PRELUDE + f"from {module} import main; main()", *args]


class Child:
    """One child process, its output copied line by line to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._on_line = on_line
        self._pump: threading.Thread | None = None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            out.write(f"--- chaos: starting {name}: {' '.join(argv[3:])}\n".encode())
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the run, which stops its children itself
            close_fds=True,
        )
        with _registry_lock:
            _registry.add(self)
        self._pump = threading.Thread(target=self._copy, name=f"log-{name}", daemon=True)
        self._pump.start()
        self.started_mono = time.monotonic()

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def _copy(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        with self.log_path.open("ab") as out:
            for raw in iter(stream.readline, b""):
                out.write(raw)
                out.flush()
                if self._on_line is not None:
                    self._on_line(raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    def kill9(self) -> int:
        """``kill -9``; returns the exit status once the kernel reaped it."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        return self._reap()

    def terminate(self) -> None:
        """Send SIGTERM (a clean stop), without waiting."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit status."""
        self.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM for %.0f s: killing it", self.name, timeout_s)
            os.kill(self.pid, signal.SIGKILL)
        return self._reap()

    def _reap(self) -> int:
        code = self.process.wait()
        if self._pump is not None:
            self._pump.join(10)
        with _registry_lock:
            _registry.discard(self)
        return code


def kill_all() -> int:
    """SIGKILL every child still registered; how many there were."""
    with _registry_lock:
        children = list(_registry)
    for child in children:
        with contextlib.suppress(OSError):
            child.kill9()
    return len(children)
