"""A local Cloudflare API emulator for the purge endpoint.

It validates requests as the API documents them (Bearer token, exactly one body
form, item limits, printable tags), answers in the API's envelope, and records
every request it accepted so tests and the demo can see what was purged.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PURGE_PATH = re.compile(r"^/client/v4/zones/([0-9a-f]{32})/purge_cache$")
_FORMS = ("files", "tags", "hosts", "prefixes", "purge_everything")


@dataclass
class PurgeRecord:
    request_id: str
    zone_id: str
    form: str
    items: list[Any]


@dataclass
class EmulatorState:
    token: str
    zone_id: str
    files_limit: int = 30
    other_limit: int = 100
    purges: list[PurgeRecord] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # injected faults: statuses to answer the next purge requests with, in order
    faults: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.faults.extend(statuses)

    def purged_urls(self) -> list[str]:
        with self.lock:
            return [
                item if isinstance(item, str) else str(item.get("url"))
                for rec in self.purges
                if rec.form == "files"
                for item in rec.items
            ]


def _envelope(success: bool, *, errors: list[dict[str, Any]] | None = None, result: Any = None) -> dict[str, Any]:
    return {"success": success, "errors": errors or [], "messages": [], "result": result}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, status: int, code: int, message: str) -> None:
        with self.server.state.lock:
            self.server.state.rejected.append({"status": status, "code": code, "message": message, "path": self.path})
        self._send(status, _envelope(False, errors=[{"code": code, "message": message}]))

    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/__emulator/purges":
            with state.lock:
                body = {
                    "purges": [rec.__dict__ for rec in state.purges],
                    "rejected": list(state.rejected),
                }
            self._send(200, body)
            return
        self._fail(404, 7003, "Could not route to " + self.path)

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _PURGE_PATH.match(self.path)
        if not match:
            self._fail(404, 7003, f"Could not route to {self.path}, perhaps your object identifier is invalid?")
            return
        if self.headers.get("X-Auth-Key") or self.headers.get("X-Auth-Email"):
            self._fail(
                400, 6003, "Invalid request headers: use an API token (Authorization: Bearer), not the global key"
            )
            return
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._fail(401 if not self.headers.get("Authorization") else 403, 10000, "Authentication error")
            return
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
        if fault == 429:
            self._send(
                429,
                _envelope(
                    False, errors=[{"code": 971, "message": "Please wait and consider throttling your request speed"}]
                ),
                {"Retry-After": "1"},
            )
            return
        if fault is not None:
            self._fail(fault, 10000 + fault, "Injected fault")
            return
        zone = match.group(1)
        if zone != state.zone_id:
            self._fail(404, 7003, "Could not route to zone: unknown zone identifier")
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            self._fail(400, 6007, "Malformed JSON in request body")
            return
        if not isinstance(body, dict):
            self._fail(400, 6007, "Request body must be a JSON object")
            return
        forms = [f for f in _FORMS if f in body]
        if len(forms) != 1:
            self._fail(400, 1012, f"Request must contain exactly one of {', '.join(_FORMS)}")
            return
        form = forms[0]
        items: list[Any]
        if form == "purge_everything":
            if body[form] is not True:
                self._fail(400, 1012, "purge_everything must be true")
                return
            items = []
        else:
            value = body[form]
            if not isinstance(value, list):
                self._fail(400, 1014, f"{form} must be an array")
                return
            limit = state.files_limit if form == "files" else state.other_limit
            if not value or len(value) > limit:
                self._fail(400, 1016, f"{form}: between 1 and {limit} items per request, got {len(value)}")
                return
            problem = _check_items(form, value)
            if problem:
                self._fail(400, problem[0], problem[1])
                return
            items = value
        request_id = uuid.uuid4().hex
        with state.lock:
            state.purges.append(PurgeRecord(request_id=request_id, zone_id=zone, form=form, items=items))
        self._send(200, _envelope(True, result={"id": request_id}))


def _check_items(form: str, items: list[Any]) -> tuple[int, str] | None:
    for item in items:
        if form == "files":
            url = item.get("url") if isinstance(item, dict) else item
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                return 1016, f"Invalid URL in files: {str(url)[:100]!r}"
        elif form == "tags":
            if not isinstance(item, str) or len(item) > 1024:
                return 1100, "Tag must be a string of at most 1024 characters"
            if not all(33 <= ord(ch) <= 126 for ch in item):
                return 1315, "Tag contains non-printable or non-ASCII characters"
        elif form == "prefixes":
            if not isinstance(item, str) or "?" in item or "#" in item or item.count("/") > 31:
                return 1016, f"Invalid prefix {str(item)[:100]!r}"
        elif not isinstance(item, str):
            return 1016, f"{form} items must be strings"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: EmulatorState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class CloudflareEmulator:
    """Run with `with CloudflareEmulator(token, zone) as cf:`; `cf.api_base` is the API URL."""

    def __init__(self, token: str, zone_id: str, *, files_limit: int = 30) -> None:
        self.state = EmulatorState(token=token, zone_id=zone_id, files_limit=files_limit)
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="cloudflare-emulator", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def start(self) -> CloudflareEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CloudflareEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
