"""Push Tani Hub's Grafana objects over Grafana's HTTP API, idempotently.

One data source, one folder and the dashboards in it. Each object is read first and written only
when it differs from ours, so a second identical push writes nothing and does not bump any
dashboard's version (its history in Grafana stays meaningful). Dashboards are saved with the
version we just read and ``overwrite: false``: if someone saves the same dashboard in Grafana
between our read and our write, Grafana refuses ours (412) instead of silently losing theirs.

Secrets (``secureJsonData``) are write-only in Grafana: it never returns them, only which keys are
set (``secureJsonFields``). A data source is rewritten when one of its other fields differs or a
secret key we send is not set there; a changed secret *value* alone is not detected, and such a
data source is reported "unchanged". To rotate a secret, change it in Grafana's data source page
(or delete the data source and push again).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests.exceptions
from grafana_client import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaUnauthorizedError,
    TokenAuth,
)

COMMIT_MESSAGE = "tani grafana push"

# Keys Grafana sets itself on a stored dashboard: they differ between installs and saves, not
# between dashboards, so they never count as a change.
_SERVER_SET_DASHBOARD_KEYS = frozenset({"id", "version", "iteration"})


class GrafanaPushError(Exception):
    """A push failed; the message says what to check or do, for whoever runs the push."""


class _NotFound(GrafanaPushError):
    """Grafana answered 404; callers that look an object up turn this into "absent"."""


@dataclass(frozen=True, slots=True)
class Change:
    """What a push did to one Grafana object."""

    kind: str  # "datasource" | "folder" | "dashboard"
    uid: str
    action: str  # "created" | "updated" | "unchanged"


@dataclass(frozen=True, slots=True)
class PushReport:
    """Every object a push looked at, in the order it handled them."""

    changes: list[Change]

    @property
    def written(self) -> list[Change]:
        """The objects the push created or updated."""
        return [change for change in self.changes if change.action != "unchanged"]

    def summary(self) -> str:
        """One line for people, e.g. ``"1 created, 2 updated, 3 unchanged"``."""
        counts = Counter(change.action for change in self.changes)
        return ", ".join(
            f"{counts[action]} {action}" for action in ("created", "updated", "unchanged")
        )


def push(
    url: str,
    token: str,
    datasource: dict[str, Any],
    folder_uid: str,
    folder_title: str,
    dashboards: list[dict[str, Any]],
    *,
    timeout_s: float = 10.0,
    verify_tls: bool = True,
) -> PushReport:
    """Make Grafana at ``url`` hold ``datasource``, the folder and ``dashboards``, in that order.

    ``token`` is a Grafana service account token (sent as a bearer token). The data source is a
    Grafana data source JSON with a ``uid``; each dashboard a dashboard model with ``uid`` and
    ``title``. Raises GrafanaPushError on any failure; objects handled before it stay written.
    """
    if not datasource.get("uid"):
        raise ValueError("the data source needs a uid")
    for dashboard in dashboards:
        if not dashboard.get("uid") or not dashboard.get("title"):
            raise ValueError(f"every dashboard needs a uid and a title: {dashboard!r:.80}")
    api = _connect(url, token, timeout_s, verify_tls)
    try:
        changes = [
            _push_datasource(api, url, datasource),
            _push_folder(api, url, folder_uid, folder_title),
        ]
        changes += [_push_dashboard(api, url, folder_uid, dashboard) for dashboard in dashboards]
    finally:
        # The session holds pooled keep-alive connections; a CLI run must not leave them open.
        api.client.s.close()
    return PushReport(changes)


def _connect(url: str, token: str, timeout_s: float, verify_tls: bool) -> GrafanaApi:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GrafanaPushError(
            f"Grafana URL {url!r} is not usable: give it as http(s)://host[:port][/path], "
            "for example http://127.0.0.1:3000"
        )
    # grafana_client appends "api" to the prefix as is: a sub-path must end in exactly one "/".
    prefix = parts.path.strip("/")
    api = GrafanaApi(
        auth=TokenAuth(token),
        host=parts.hostname,
        port=parts.port,
        url_path_prefix=f"{prefix}/" if prefix else "",
        protocol=parts.scheme,
        verify=verify_tls,
        timeout=timeout_s,
    )
    return api


def _push_datasource(api: GrafanaApi, url: str, ours: dict[str, Any]) -> Change:
    uid = ours["uid"]
    what = f"data source {ours.get('name', uid)!r} (uid {uid})"
    theirs = _get_or_none(url, what, lambda: api.datasource.get_datasource_by_uid(uid))
    if theirs is None:
        _call(url, f"creating {what}", lambda: api.datasource.create_datasource(ours))
        return Change("datasource", uid, "created")
    if not _datasource_differs(ours, theirs):
        return Change("datasource", uid, "unchanged")
    if theirs.get("readOnly"):
        raise GrafanaPushError(
            f"{what} is provisioned from a file on the Grafana server, and Grafana refuses "
            "changes to it over the API: change that provisioning file instead (or remove it "
            "and restart Grafana to let the push manage this data source)"
        )
    _call(url, f"updating {what}", lambda: api.datasource.update_datasource_by_uid(uid, ours))
    return Change("datasource", uid, "updated")


def _datasource_differs(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether Grafana's copy differs in a key we send (secret values cannot be compared)."""
    public = {key: value for key, value in ours.items() if key != "secureJsonData"}
    if _differs_in_our_keys(public, theirs):
        return True
    secrets_set = theirs.get("secureJsonFields") or {}
    return any(not secrets_set.get(key) for key in ours.get("secureJsonData") or {})


def _differs_in_our_keys(ours: Any, theirs: Any) -> bool:
    """Compare objects only where ours has keys: Grafana adds keys of its own (id, orgId,
    version, readOnly, and defaults inside jsonData of some plugins), which are no change."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return any(_differs_in_our_keys(value, theirs.get(key)) for key, value in ours.items())
    return ours != theirs


def _push_folder(api: GrafanaApi, url: str, uid: str, title: str) -> Change:
    what = f"folder {title!r} (uid {uid})"
    theirs = _get_or_none(url, what, lambda: api.folder.get_folder(uid))
    if theirs is None:
        _call(url, f"creating {what}", lambda: api.folder.create_folder(title, uid=uid))
        return Change("folder", uid, "created")
    if theirs.get("title") == title:
        return Change("folder", uid, "unchanged")
    # The version read just now makes Grafana refuse the rename if the folder changed meanwhile.
    version = theirs.get("version")
    _call(
        url,
        f"renaming {what}",
        lambda: api.folder.update_folder(uid, title=title, version=version),
    )
    return Change("folder", uid, "updated")


def _push_dashboard(api: GrafanaApi, url: str, folder_uid: str, ours: dict[str, Any]) -> Change:
    uid = ours["uid"]
    what = f"dashboard {ours['title']!r} (uid {uid})"
    found = _get_or_none(url, what, lambda: api.dashboard.get_dashboard(uid))
    model = _without_server_keys(ours)
    if found is not None:
        meta = found.get("meta") or {}
        current = found.get("dashboard") or {}
        if _without_server_keys(current) == model and meta.get("folderUid") == folder_uid:
            return Change("dashboard", uid, "unchanged")
        if meta.get("provisioned"):
            raise GrafanaPushError(
                f"{what} is provisioned from files on the Grafana server, and Grafana refuses "
                "changes to it over the API: update those files instead (or remove them to let "
                "the push manage this dashboard)"
            )
        model["version"] = current.get("version")
    body = {
        "dashboard": model,
        "folderUid": folder_uid,
        "overwrite": False,
        "message": COMMIT_MESSAGE,
    }
    _call(url, f"saving {what}", lambda: api.dashboard.update_dashboard(body))
    return Change("dashboard", uid, "created" if found is None else "updated")


def _without_server_keys(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _SERVER_SET_DASHBOARD_KEYS}


def _get_or_none(url: str, what: str, get: Callable[[], Any]) -> Any:
    """Grafana's answer to ``get()``, or None when it does not know the object (404)."""
    try:
        return _call(url, f"reading {what}", get)
    except _NotFound:
        return None


def _call(url: str, doing: str, request: Callable[[], Any]) -> Any:
    """Run one grafana_client request; turn its failures into messages an operator can act on.

    The error is raised outside the handler, without grafana_client's exception as its context:
    that traceback's frames hold the request's connection, and with it an open socket, for as
    long as anyone keeps the error.
    """
    try:
        return request()
    except GrafanaUnauthorizedError:
        error = GrafanaPushError(
            f"Grafana at {url} refused the token while {doing} (401 Unauthorized): check the "
            "service account token (Grafana: Administration > Users and access > Service "
            "accounts); it may be mistyped, expired or revoked"
        )
    except GrafanaClientError as exc:
        error = _client_error(url, doing, exc)
    except GrafanaServerError as exc:
        error = GrafanaPushError(
            f"Grafana at {url} failed while {doing} ({exc.message}): see Grafana's server log"
        )
    except requests.exceptions.Timeout:
        error = GrafanaPushError(
            f"Grafana at {url} did not answer in time while {doing}: check that it is running "
            "and not overloaded, or allow a longer timeout"
        )
    except requests.exceptions.SSLError as exc:
        error = GrafanaPushError(
            f"the TLS certificate of {url} is not trusted ({exc}): install the CA that signed "
            "it on this machine, or skip verification only on a network you trust"
        )
    except (requests.exceptions.RequestException, GrafanaException) as exc:
        # grafana_client lets connection errors (refused, unknown host) through as requests'.
        error = GrafanaPushError(
            f"cannot reach Grafana at {url} while {doing} ({exc}): check the URL (scheme, host, "
            "port) and that Grafana is running and reachable from this machine"
        )
    raise error


def _client_error(url: str, doing: str, exc: GrafanaClientError) -> GrafanaPushError:
    """The error for a 4xx answer other than 401."""
    response = exc.response if isinstance(exc.response, dict) else {}
    said = response.get("message") or exc.message
    if exc.status_code == 404:
        return _NotFound(
            f"Grafana at {url} answered 404 Not Found while {doing} ({said}): check that the "
            "URL points at Grafana itself, including any sub-path it is served under"
        )
    if exc.status_code == 403:
        return GrafanaPushError(
            f"Grafana at {url} denied {doing} (403: {said}): give the service account the Admin "
            "role, which data sources need (Editor suffices for folders and dashboards)"
        )
    if exc.status_code == 409:
        return GrafanaPushError(
            f"Grafana at {url} refused {doing} (409: {said}): an object of that name exists "
            "there under another uid; rename or delete it in Grafana, then push again"
        )
    if exc.status_code == 412 and response.get("status") == "version-mismatch":
        return GrafanaPushError(
            f"someone saved a change in Grafana at {url} while {doing} (version conflict), so "
            "nothing was overwritten: look at that change in Grafana (a dashboard's Settings > "
            "Versions) and push again, which then replaces it with Tani Hub's version"
        )
    return GrafanaPushError(f"Grafana at {url} refused {doing} ({exc.status_code}: {said})")
