"""Detached service processes: start, find (pid file or /proc), signal, reap, log tails.

Everything here works from any process, not only from the one that started a service: a
service is identified by its pid file *and* by /proc/PID/cmdline naming our binary and our
config file, so a recycled pid of some other program is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tani.stack.errors import PortInUseError, StopError

logger = logging.getLogger(__name__)

# Popen objects of the services this Python process started, so that any Stack instance in
# it can reap them (no zombies, no "still running" ResourceWarning when they are waited for).
_children: dict[int, subprocess.Popen[bytes]] = {}
# Written to a service's output file before each start, so log tails show only the last run.
START_MARKER = "--- tani stack: starting"


@dataclass(frozen=True)
class ServiceSpec:
    """How to recognise one service of one state directory."""

    name: str  # "mosquitto" or "influxd": also the pid/log file stem
    program: str  # basename of argv[0]
    config_path: Path  # absolute; appears in argv, which makes the process "ours"
    pid_file: Path
    log_files: tuple[Path, ...]  # read for the log tail, most useful first
    # Mosquitto 2.0 installs its SIGTERM handler and *then* sets its run flag, so a SIGTERM
    # that arrives while it starts is lost: repeat it. (influxd takes a second one as "hard
    # shutdown now", so it gets one.)
    repeat_sigterm: bool = False


def _read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


def reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is a child of this process that has ended."""
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _children[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a zombie holds no port or file)."""
    reap(pid)
    return not _is_zombie(pid)


def is_ours(pid: int, spec: ServiceSpec) -> bool:
    """Whether ``pid`` is a live ``spec.program`` started with ``spec.config_path``."""
    argv = _read_cmdline(pid)
    if not argv or os.path.basename(argv[0]) != spec.program:
        return False
    return str(spec.config_path) in argv and is_alive(pid)


def _scan_proc(spec: ServiceSpec) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and is_ours(int(entry), spec):
            pids.append(int(entry))
    return sorted(pids)


def read_pid_file(path: Path) -> int | None:
    """The pid in ``path``, or None if the file is missing or garbled."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def find_pids(spec: ServiceSpec) -> list[int]:
    """Pids of the running processes of ``spec``: the pid file's if valid, else a /proc scan.

    The scan catches a service whose pid file was deleted by hand, so ``down`` leaves nothing.
    """
    # Children of ours stopped by another process are zombies until we collect them.
    for child in list(_children):
        reap(child)
    pid = read_pid_file(spec.pid_file)
    if pid is not None and is_ours(pid, spec):
        return [pid]
    if pid is not None:
        logger.info("stale pid file", extra={"service": spec.name, "pid": pid})
    return _scan_proc(spec)


def start(argv: Sequence[str], spec: ServiceSpec, output: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached (own session, no terminal) and write its pid file."""
    with open(output, "ab") as out:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        out.write(f"{START_MARKER} {stamp}: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI process and its terminal's SIGINT/SIGHUP
            close_fds=True,
        )
    _children[proc.pid] = proc
    # Popen returns during the kernel's exec, when /proc/PID/cmdline may still be empty;
    # wait until it names our program, so a status or down right after sees the process.
    deadline = time.monotonic() + 5.0
    while not is_ours(proc.pid, spec) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    write_atomic(spec.pid_file, f"{proc.pid}\n")
    logger.info("service started", extra={"service": spec.name, "pid": proc.pid})
    return proc


def exited(proc: subprocess.Popen[bytes]) -> int | None:
    """Exit code of a process this Python process started, or None while it runs."""
    code = proc.poll()
    if code is not None:
        _children.pop(proc.pid, None)
    return code


def signal_pid(pid: int, spec: ServiceSpec, sig: signal.Signals) -> bool:
    """Send ``sig`` to ``pid`` if it is still ours; return whether it was sent."""
    if not is_ours(pid, spec):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    logger.debug("signal sent", extra={"service": spec.name, "pid": pid, "signal": sig.name})
    return True


def _wait_gone(
    pids: dict[int, ServiceSpec], timeout: float, resend: signal.Signals | None = None
) -> dict[int, ServiceSpec]:
    """Wait until none of ``pids`` is alive; return those still alive at the deadline.

    Alive means "exists and is no zombie", not "cmdline still matches": an exiting process
    loses its cmdline before it closes its listening sockets.
    """
    deadline = time.monotonic() + timeout
    next_resend = time.monotonic() + 0.25
    alive = dict(pids)
    while True:
        alive = {pid: spec for pid, spec in alive.items() if is_alive(pid)}
        now = time.monotonic()
        if not alive or now >= deadline:
            return alive
        if resend is not None and now >= next_resend:
            for pid, spec in alive.items():
                if spec.repeat_sigterm:
                    signal_pid(pid, spec, resend)
            next_resend = now + 0.25
        time.sleep(0.01)


def terminate(specs: Sequence[ServiceSpec], timeout: float) -> list[int]:
    """Stop every process of ``specs``: SIGTERM, wait ``timeout`` s, then SIGKILL.

    Returns the pids that were stopped; raises :class:`StopError` if one survives SIGKILL.
    """
    targets: dict[int, ServiceSpec] = {}
    for spec in specs:
        for pid in find_pids(spec):
            if signal_pid(pid, spec, signal.SIGTERM):
                targets[pid] = spec
    alive = _wait_gone(targets, timeout, resend=signal.SIGTERM)
    for pid, spec in alive.items():
        logger.warning(
            "service ignored SIGTERM, killing it", extra={"service": spec.name, "pid": pid}
        )
        signal_pid(pid, spec, signal.SIGKILL)
    alive = _wait_gone(alive, 5.0)
    if alive:
        raise StopError(
            "could not stop "
            + ", ".join(f"{s.name} (pid {p})" for p, s in alive.items())
            + " even with SIGKILL; the machine may be overloaded or its disk hung. "
            "Try again, or reboot."
        )
    return sorted(targets)


def remove_pid_file(spec: ServiceSpec) -> None:
    """Remove the pid file of ``spec`` if present."""
    with contextlib.suppress(FileNotFoundError):
        spec.pid_file.unlink()


def log_tail(spec: ServiceSpec, lines: int = 25) -> str:
    """The last ``lines`` lines of each log of ``spec`` (start-up errors are in there)."""
    parts = []
    for path in spec.log_files:
        try:
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 16384))
                text = handle.read().decode(errors="replace")
        except OSError:
            continue
        all_lines = text.splitlines()
        # Only what the latest start wrote: earlier runs' shutdown lines would mislead.
        starts = [i for i, line in enumerate(all_lines) if line.startswith(START_MARKER)]
        if starts:
            all_lines = all_lines[starts[-1] :]
        tail = "\n".join(all_lines[-lines:])
        if tail.strip():
            parts.append(f"[{path}]\n{tail}")
    return "\n".join(parts)


def check_port_free(service: str, host: str, port: int) -> None:
    """Raise :class:`PortInUseError` if something already listens on ``host:port``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers themselves do, so that TIME_WAIT leftovers of an earlier run pass.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(service, host, port) from exc
            raise


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` by ``text`` in one step, so no reader ever sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock so two `tani stack` commands never start or stop it together."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports nobody listens on right now (the kernel picks them).

    All sockets stay bound until every port is chosen, so the ports differ from each other.
    Another program could still take one before we use it; that is rare and shows up as a
    PortInUseError, not as a wrong result.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
