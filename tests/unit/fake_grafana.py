"""A recorded-request stand-in for Grafana's HTTP API, for the push tests.

Grafana cannot run on our machines (no package in our registries), so this server answers the
few endpoints the push uses the way Grafana's HTTP API documentation shows them, with in-memory
state, and records every request. Shapes follow grafana/grafana docs/sources/developers/http_api
(dashboard.md, folder.md, data_source.md).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "glsa_tani_test_token"
VIEWER_TOKEN = "glsa_viewer_token"  # a service account with the Viewer role: reads only


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    body: Any  # the decoded JSON body, or None


@dataclass
class GrafanaState:
    """What the fake Grafana holds, by uid, and what tests may arrange."""

    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # {"dashboard", "meta"}
    requests: list[Request] = field(default_factory=list)
    # Dashboards a person saves in Grafana's UI right after the push read them (a race).
    saved_by_someone_after_read: set[str] = field(default_factory=set)
    next_id: int = 1
    answer_delay_s: float = 0.0  # how long each answer takes (an overloaded Grafana)

    def new_id(self) -> int:
        """Grafana's auto-incrementing numeric id."""
        self.next_id += 1
        return self.next_id - 1

    def writes(self) -> list[Request]:
        """The requests that changed something (anything but GET)."""
        return [request for request in self.requests if request.method != "GET"]


def _error(code: int, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return code, {"message": message, **extra}


class _Api:
    """Grafana's behaviour for each endpoint; returns (status, JSON body)."""

    def __init__(self, state: GrafanaState) -> None:
        self.state = state

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        routes = [
            ("GET", r"/api/datasources/uid/([^/]+)", self.get_datasource),
            ("POST", r"/api/datasources", self.create_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self.update_datasource),
            ("GET", r"/api/folders/([^/]+)", self.get_folder),
            ("POST", r"/api/folders", self.create_folder),
            ("PUT", r"/api/folders/([^/]+)", self.update_folder),
            ("GET", r"/api/dashboards/uid/([^/]+)", self.get_dashboard),
            ("POST", r"/api/dashboards/db", self.save_dashboard),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if method == route_method and match:
                return handler(body, *match.groups())
        return _error(404, "Not found")

    def get_datasource(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.state.datasources:
            return _error(404, "Data source not found")
        return 200, self.state.datasources[uid]

    def _stored_datasource(self, body: dict[str, Any], id_: int, version: int) -> dict[str, Any]:
        secrets = body.get("secureJsonData") or {}
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        return {
            "id": id_,
            "orgId": 1,
            "basicAuth": False,
            "isDefault": False,
            "readOnly": False,
            **stored,
            "jsonData": body.get("jsonData") or {},
            "secureJsonFields": dict.fromkeys(secrets, True),
            "version": version,
        }

    def create_datasource(self, body: dict[str, Any]) -> tuple[int, Any]:
        if any(ds["name"] == body["name"] for ds in self.state.datasources.values()):
            return _error(409, "data source with the same name already exists")
        stored = self._stored_datasource(body, self.state.new_id(), 1)
        self.state.datasources[body["uid"]] = stored
        answer = {"id": stored["id"], "message": "Datasource added", "name": stored["name"]}
        return 200, {"datasource": stored, **answer}

    def update_datasource(self, body: dict[str, Any], uid: str) -> tuple[int, Any]:
        old = self.state.datasources.get(uid)
        if old is None:
            return _error(404, "Data source not found")
        if old["readOnly"]:
            return _error(403, "Cannot update read-only data source")
        stored = self._stored_datasource(body, old["id"], old["version"] + 1)
        self.state.datasources[uid] = stored
        answer = {"id": stored["id"], "message": "Datasource updated", "name": stored["name"]}
        return 200, {"datasource": stored, **answer}

    def get_folder(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.state.folders:
            return _error(404, "folder not found", status="not-found")
        return 200, self.state.folders[uid]

    def create_folder(self, body: dict[str, Any]) -> tuple[int, Any]:
        uid = body["uid"]
        if uid in self.state.folders:
            return _error(409, "a folder with the same uid already exists")
        folder = {
            "id": self.state.new_id(),
            "uid": uid,
            "title": body["title"],
            "url": f"/dashboards/f/{uid}/",
            "version": 1,
        }
        self.state.folders[uid] = folder
        return 200, folder

    def update_folder(self, body: dict[str, Any], uid: str) -> tuple[int, Any]:
        folder = self.state.folders.get(uid)
        if folder is None:
            return _error(404, "folder not found", status="not-found")
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return _error(
                412, "The folder has been changed by someone else", status="version-mismatch"
            )
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder

    def get_dashboard(self, _body: Any, uid: str) -> tuple[int, Any]:
        if uid not in self.state.dashboards:
            return _error(404, "Dashboard not found")
        answer = copy.deepcopy(self.state.dashboards[uid])
        if uid in self.state.saved_by_someone_after_read:
            self.state.dashboards[uid]["dashboard"]["version"] += 1
        return 200, answer

    def save_dashboard(self, body: dict[str, Any]) -> tuple[int, Any]:
        dashboard = copy.deepcopy(body["dashboard"])
        uid = dashboard["uid"]
        folder_uid = body.get("folderUid", "")
        if folder_uid and folder_uid not in self.state.folders:
            return _error(400, "folder not found")
        existing = self.state.dashboards.get(uid)
        if existing is None:
            dashboard.update(id=self.state.new_id(), version=1)
        else:
            current = existing["dashboard"]
            if existing["meta"].get("provisioned"):
                return _error(400, "Cannot save provisioned dashboard")
            if not body.get("overwrite") and dashboard.get("version") != current["version"]:
                return _error(
                    412,
                    "The dashboard has been changed by someone else",
                    status="version-mismatch",
                )
            dashboard.update(id=current["id"], version=current["version"] + 1)
        url = f"/d/{uid}/{dashboard['title'].lower().replace(' ', '-')}"
        meta = {"url": url, "folderUid": folder_uid, "provisioned": False}
        self.state.dashboards[uid] = {"dashboard": dashboard, "meta": meta}
        answer = {"id": dashboard["id"], "uid": uid, "url": url, "status": "success"}
        return 200, {**answer, "version": dashboard["version"]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Grafana serves it
    timeout = 5  # a connection the client forgets to close ends after this, not never
    api: _Api  # set on the subclass each server makes

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        state = self.api.state
        with _LOCK:
            state.requests.append(Request(self.command, self.path, body))
            token = self.headers.get("Authorization", "")
            if token not in (f"Bearer {TOKEN}", f"Bearer {VIEWER_TOKEN}"):
                status, answer = _error(401, "Invalid API key", messageId="api-keys.invalid")
            elif token == f"Bearer {VIEWER_TOKEN}" and self.command != "GET":
                status, answer = _error(
                    403, "You'll need additional permissions to perform this action."
                )
            else:
                status, answer = self.api.route(self.command, self.path, body)
            data = json.dumps(answer).encode()
        time.sleep(state.answer_delay_s)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are what tests look at."""


_LOCK = threading.Lock()


@contextmanager
def fake_grafana(state: GrafanaState | None = None) -> Iterator[tuple[str, GrafanaState]]:
    """Serve a fake Grafana on a free loopback port; yields its URL and its state."""
    state = state or GrafanaState()
    handler = type("Handler", (_Handler,), {"api": _Api(state)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # Join every connection's thread on close, so no test leaves one running.
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-grafana"
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
