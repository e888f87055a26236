"""Sending one message to one apprise URL, and saying why it failed in apprise's own words.

apprise logs the reason a send failed (the socket error only at debug level) instead of
returning it; the log of each send is captured, kept out of the service's log, stripped of the
channel URL (it may hold a bot token or password) and boiled down to one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO

import apprise

from alerts.messages import Message

MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one send came to: delivered, or why not (``permanent``: retrying cannot help)."""

    ok: bool
    error: str | None = None
    permanent: bool = False


Sender = Callable[[str, Message, float], SendResult]


# Separators of the captured apprise log: a message may span lines.
_RECORD, _FIELD = "\x1e", "\x1f"
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")
_END = re.compile(r"(?<!\.)[.:]$")


def apprise_send(url: str, message: Message, timeout_s: float) -> SendResult:
    """Send ``message`` to one apprise URL; on failure, say why in apprise's own words.

    ``timeout_s`` bounds each network step (connect, each read), not the whole send.
    """
    full_url = _with_timeouts(url, timeout_s)
    with _apprise_log() as captured:
        notifier = apprise.Apprise()
        added = notifier.add(full_url)
        # A channel without a title of its own (SMS above all) gets apprise's "title\r\nbody":
        # the body alone is the whole alert, built to fit one GSM-7 SMS, and stays one.
        merges_title = added and all(plugin.title_maxlen == 0 for plugin in notifier)
        delivered = added and bool(
            notifier.notify(
                body=message.body,
                title="" if merges_title else message.title,
                # Plain text: e-mail goes as text/plain, and apprise escapes it for services
                # that take HTML, so "14,2% < 18%" arrives whole.
                body_format=apprise.NotifyFormat.TEXT,
            )
        )
        # apprise repeats a URL it cannot parse in full: it may hold a bot token or password.
        text = _redact(captured.getvalue(), full_url, url)
    if delivered:
        return SendResult(ok=True)
    if not added:
        return SendResult(
            ok=False, error=f"apprise cannot use this channel URL: {_reason(text)}", permanent=True
        )
    return SendResult(ok=False, error=_reason(text))


def _with_timeouts(url: str, timeout_s: float) -> str:
    """``url`` with apprise's connect (cto) and read (rto) timeouts unless it sets its own.

    Every apprise plugin takes them; the e-mail plugin uses cto as its SMTP socket timeout.
    """
    missing = [key for key in ("cto", "rto") if not re.search(rf"[?&]{key}=", url)]
    if not missing:
        return url
    params = "&".join(f"{key}={timeout_s:g}" for key in missing)
    return f"{url}{'&' if '?' in url else '?'}{params}"


def _redact(text: str, *urls: str) -> str:
    """``text`` with each of ``urls`` shown as its scheme only."""
    for url in urls:
        scheme, sep, rest = url.partition("://")
        if sep and rest:
            text = text.replace(url, f"{scheme}://…")
        elif not sep and url:
            text = text.replace(url, "…")
    return text


@contextmanager
def _apprise_log() -> Iterator[StringIO]:
    """Apprise's log of one send, its debug lines included: the socket error is one.

    Kept out of the service's own log, which has one structured line per event instead.
    Both the capture and the silencing are process-wide: one dispatcher thread sends at a time.
    """
    apprise_logger = logging.getLogger("apprise")
    propagate, apprise_logger.propagate = apprise_logger.propagate, False
    try:
        fmt = f"{_RECORD}%(levelname)s{_FIELD}%(message)s"
        with apprise.LogCapture(level=logging.DEBUG, fmt=fmt) as captured:
            yield captured
    finally:
        apprise_logger.propagate = propagate


def _reason(log_text: str) -> str:
    """Why apprise failed: its warnings and errors, and the socket error behind them."""
    reasons = []
    for record in log_text.split(_RECORD):
        level, _, text = record.partition(_FIELD)
        text = " ".join(text.split())
        if level in ("WARNING", "ERROR", "CRITICAL"):
            reasons.append(text)
        elif "Exception:" in text:
            errno = _ERRNO.search(text)
            reasons.append(errno.group(0).strip() if errno else text.split("Exception:", 1)[1])
    # One trailing "." or ":" goes (the reasons are joined with ";"); an ellipsis stays.
    unique = dict.fromkeys(_END.sub("", reason.strip()) for reason in reasons if reason.strip())
    return "; ".join(unique)[:MAX_REASON] or "apprise gave no reason"
