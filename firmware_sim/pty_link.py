"""A null-modem cable made of two pseudo-terminal pairs (what ``socat pty,raw pty,raw`` does).

The emulator opens :attr:`PtyLink.device_path`, the gateway opens :attr:`PtyLink.host_path`,
both with pyserial exactly as they would open ``/dev/ttyUSB0``. A thread copies bytes between
the two master sides.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import termios
import threading
import tty
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

_BITS_PER_BYTE = 10  # 8N1: start bit + 8 data bits + stop bit
_READ_SIZE = 4096
_POLL_MS = 50


class _End:
    """One pty pair: the master the link thread uses, the slave a program opens."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        # Raw slave: no echo, no CR/LF translation, no line buffering -- a plain byte pipe.
        tty.setraw(self.slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


class PtyLink:
    """Two ptys joined back to back, like a serial cable between a device and the gateway.

    Both slave fds stay open inside the link for its whole life, so a program that closes and
    reopens its side never makes the master see EIO or a hangup.

    :param name: a label for logs and the thread name.
    :param baudrate: if given, pace the line: after forwarding a chunk of n bytes the link waits
        n * 10 / baudrate seconds (8N1), so a 4800-baud device is as slow as a real one. A chunk
        is never split.
    :param host_symlink: if given, a symlink to :attr:`host_path` is created there (like the
        names under /dev/serial/by-id) and removed on close.

    Bytes sent while nobody has the other side open wait in that slave's input queue; pyserial
    flushes it on open, so a gateway never reads them (as with a real port that was closed).
    """

    def __init__(
        self,
        name: str = "link",
        *,
        baudrate: int | None = None,
        host_symlink: str | os.PathLike[str] | None = None,
    ) -> None:
        if baudrate is not None and baudrate <= 0:
            raise ValueError(f"baudrate must be positive, got {baudrate}")
        self.name = name
        self._baudrate = baudrate
        self._device = _End()
        self._host = _End()
        self._symlink: Path | None = None
        self._stop = threading.Event()
        self._closed = False
        if host_symlink is not None:
            try:
                self._make_symlink(Path(host_symlink))
            except BaseException:
                self._device.close()
                self._host.close()
                raise
            self._symlink = Path(host_symlink)
        self._thread = threading.Thread(target=self._run, name=f"pty-link-{name}", daemon=True)
        self._thread.start()
        log.debug(
            "pty link up",
            extra={"link": name, "device_path": self.device_path, "host_path": self.host_path},
        )

    @property
    def device_path(self) -> str:
        """Slave path the emulated device opens."""
        return self._device.path

    @property
    def host_path(self) -> str:
        """Path the gateway opens: the symlink if one was asked for, else the slave path."""
        return str(self._symlink) if self._symlink else self._host.path

    def close(self) -> None:
        """Stop the copying thread, remove the symlink and close every fd. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()
        link = self._symlink
        # Remove the name only if it is still ours (another link may have taken it over).
        if link is not None and link.is_symlink() and os.readlink(link) == self._host.path:
            link.unlink()
        self._device.close()
        self._host.close()

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _make_symlink(self, path: Path) -> None:
        if path.exists() and not path.is_symlink():
            raise FileExistsError(f"{path} exists and is not a symlink")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Replace atomically so a gateway polling for the name never sees it missing.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self._host.path)
        tmp.replace(path)

    def _run(self) -> None:
        poller = select.poll()
        peer = {self._device.master: self._host, self._host.master: self._device}
        for fd in peer:
            poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            for fd, events in poller.poll(_POLL_MS):
                data = self._read(fd) if events & select.POLLIN else b""
                if not data:
                    # Hangup or error without data: back off instead of spinning.
                    self._stop.wait(_POLL_MS / 1000)
                    continue
                self._deliver(peer[fd], data)
                if self._baudrate:
                    self._stop.wait(len(data) * _BITS_PER_BYTE / self._baudrate)

    def _read(self, fd: int) -> bytes:
        try:
            return os.read(fd, _READ_SIZE)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return b""
            raise

    def _deliver(self, end: _End, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(end.master, view) :]
            except BlockingIOError:
                log.warning(
                    "pty link buffer full, dropping bytes",
                    extra={"link": self.name, "dropped": len(view), "to": end.path},
                )
                return
