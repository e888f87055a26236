"""A thread that dies of an unforeseen exception takes its service down, loudly."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from ops.threads import EXIT_THREAD_DIED, exit_when_a_thread_dies


def test_uncaught_exception_in_a_thread_is_logged_and_ends_the_process(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    exits: list[int] = []
    exit_when_a_thread_dies("ingest", exits.append)

    def work() -> None:
        raise OverflowError("int too large to convert to float")

    with caplog.at_level(logging.CRITICAL):
        thread = threading.Thread(target=work, name="ingest-decoder")
        thread.start()
        thread.join()
    assert exits == [EXIT_THREAD_DIED]
    (record,) = caplog.records
    assert "ingest-decoder" in record.getMessage()
    assert "OverflowError" in record.getMessage()
    assert record.exc_info is not None


def test_a_real_process_exits_non_zero_while_its_other_threads_would_run_on() -> None:
    script = (
        "import threading, time\n"
        "from ops.threads import exit_when_a_thread_dies\n"
        "exit_when_a_thread_dies('gateway')\n"
        "threading.Thread(target=time.sleep, args=(60,)).start()\n"
        "threading.Thread(target=lambda: 1 / 0, name='forwarder').start()\n"
        "time.sleep(60)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == EXIT_THREAD_DIED
    assert "forwarder" in done.stderr and "ZeroDivisionError" in done.stderr
