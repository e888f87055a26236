"""No thread of a service dies silently.

A service is a few threads (decoder, writers, forwarder, MQTT loop, paho's network thread). If
one of them meets an exception nobody wrote a handler for, the rest of the process carries on,
healthy to systemd and compose and doing nothing useful: the worst kind of failure, because
nobody restarts it. Once installed, such an exception is logged with its thread and traceback
and ends the whole process with status 70 (EX_SOFTWARE), so the supervisor restarts it and the
restart is visible in its log.

Exceptions a thread can expect (a bad message, a database that is down) are handled where they
happen, per message; this is the net under everything else.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_THREAD_DIED = 70


def _exit_now(status: int) -> None:
    # os._exit, not sys.exit: sys.exit in a thread ends only that thread, and a clean
    # interpreter shutdown would wait for the other (non-daemon) threads forever.
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(status)


def exit_when_a_thread_dies(service: str, exit_process: Callable[[int], None] = _exit_now) -> None:
    """From now on, an uncaught exception in any thread logs it and ends the process."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "unknown"
        log.critical(
            f"thread {name!r} of {service} died: {args.exc_type.__name__}: {args.exc_value}; "
            f"exiting with status {EXIT_THREAD_DIED} so that the supervisor restarts {service}",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
            extra={"service": service, "thread_name": name},
        )
        exit_process(EXIT_THREAD_DIED)

    threading.excepthook = hook
