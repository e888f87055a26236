"""A null-modem cable made of two pseudo-terminal pairs (what ``socat pty,raw pty,raw`` does).

The emulator opens :attr:`PtyLink.device_path`, the gateway opens :attr:`PtyLink.host_path`,
both with pyserial exactly as they would open ``/dev/ttyUSB0``. A thread copies bytes between
the two master sides.

:meth:`PtyLink.unplug` and :meth:`PtyLink.replug` play a USB serial adapter pulled out and put
back: the host pty is closed (its /dev/pts node vanishes and a program that has it open gets EIO,
as with a vanished /dev/ttyUSB0), and comes back as a different /dev/pts/N behind the same
stable symlink, as /dev/serial/by-id names do.
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
    While the link is unplugged, what the device sends is dropped, as on a cable to nowhere.
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
        self._host: _End | None = _End()
        self._host_path = self._host.path
        self._symlink: Path | None = None
        self._stop = threading.Event()
        self._closed = False
        if host_symlink is not None:
            try:
                self._make_symlink(Path(host_symlink), self._host_path)
            except BaseException:
                self._device.close()
                self._host.close()
                raise
            self._symlink = Path(host_symlink)
        self._thread = self._start_thread()
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
        """Path the gateway opens: the symlink if one was asked for, else the slave path.

        While unplugged, the slave path is the one the adapter had (it no longer exists).
        """
        return str(self._symlink) if self._symlink else self._host_path

    @property
    def plugged(self) -> bool:
        """Whether the host side is there (see :meth:`unplug`)."""
        return self._host is not None

    def unplug(self) -> None:
        """Pull the adapter out: close the host pty and remove the symlink.

        The device side stays as it was (the field device is still powered).
        """
        if self._closed or self._host is None:
            raise RuntimeError(f"link {self.name} is not plugged in")
        self._stop_thread()
        self._remove_symlink()
        self._host.close()
        self._host = None
        self._thread = self._start_thread()
        log.info("pty link unplugged", extra={"link": self.name, "host_path": self._host_path})

    def replug(self) -> None:
        """Put the adapter back: a new host pty, on another /dev/pts/N, behind the same symlink."""
        if self._closed or self._host is not None:
            raise RuntimeError(f"link {self.name} is not unplugged")
        host = _End()
        # The kernel reuses the lowest free pty number; a returning adapter gets a new name.
        spares = []
        while host.path == self._host_path:
            spares.append(host)
            host = _End()
        for spare in spares:
            spare.close()
        try:
            if self._symlink is not None:
                self._make_symlink(self._symlink, host.path)
        except BaseException:
            host.close()
            raise
        self._stop_thread()
        self._host, self._host_path = host, host.path
        self._thread = self._start_thread()
        log.info("pty link plugged in", extra={"link": self.name, "host_path": host.path})

    def close(self) -> None:
        """Stop the copying thread, remove the symlink and close every fd. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop_thread()
        self._remove_symlink()
        self._device.close()
        if self._host is not None:
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

    def _make_symlink(self, path: Path, target: str) -> None:
        if path.exists() and not path.is_symlink():
            raise FileExistsError(f"{path} exists and is not a symlink")
        path.parent.mkdir(parents=True, exist_ok=True)
        # Replace atomically so a gateway polling for the name never sees it missing.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(path)

    def _remove_symlink(self) -> None:
        link = self._symlink
        # Remove the name only if it is still ours (another link may have taken it over).
        if link is not None and link.is_symlink() and os.readlink(link) == self._host_path:
            link.unlink()

    def _start_thread(self) -> threading.Thread:
        self._stop.clear()
        thread = threading.Thread(target=self._run, name=f"pty-link-{self.name}", daemon=True)
        thread.start()
        return thread

    def _stop_thread(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # The thread of one plugged (or unplugged) state: unplug/replug restart it.
        host = self._host
        poller = select.poll()
        peer: dict[int, _End | None] = {self._device.master: host}
        if host is not None:
            peer[host.master] = self._device
        for fd in peer:
            poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            for fd, events in poller.poll(_POLL_MS):
                data = self._read(fd) if events & select.POLLIN else b""
                if not data:
                    # Hangup or error without data: back off instead of spinning.
                    self._stop.wait(_POLL_MS / 1000)
                    continue
                to = peer[fd]
                if to is None:
                    continue  # unplugged: the device's bytes go nowhere
                self._deliver(to, data)
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
