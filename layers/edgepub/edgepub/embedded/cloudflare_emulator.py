"""A local Cloudflare: the purge and rulesets API, and an edge that serves the site.

The API validates requests as Cloudflare documents them (Bearer token, exactly one
body form, item limits, printable tags), enforces a plan's rate limits (token
buckets per purge form, requests per window per token), answers in the API's
envelope, and records every request so tests and the demo can see what was
purged and what was refused. Faults can be injected (`fail_next`, `fault_rate`)
to exercise the client's retries.

The edge is a second listener that acts as the zone in front of the S3 site
bucket: the index rewrite, a cache keyed exactly as Cloudflare keys it (scheme,
lowercased host, path, query), TTLs from the origin's Cache-Control, a bypass for
logged-in visitors, and eviction by every purge form before the purge is
answered. It is what makes "a published page is never stale at the edge"
something a test can observe instead of assume.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from edgepub.limits import PLANS, PlanLimits, TokenBucket
from edgepub.pages import UnsafePath, key_for_path

_PURGE_PATH = re.compile(r"^/client/v4/zones/([0-9a-f]{32})/purge_cache$")
_RULESET_PATH = re.compile(r"^/client/v4/zones/([0-9a-f]{32})/rulesets/phases/([a-z0-9_]+)/entrypoint$")
_FORMS = ("files", "tags", "hosts", "prefixes", "purge_everything")
_RATE_LIMITED = "Please wait and consider throttling your request speed"
# what `fault_rate` answers with: Cloudflare's transient failures
_FAULT_STATUSES = (500, 502, 503, 429)
# zone-level phases the Rulesets API accepts, and the actions a phase allows (where it restricts them)
_PHASES = frozenset(
    {
        "http_config_settings",
        "http_custom_errors",
        "http_log_custom_fields",
        "http_ratelimit",
        "http_request_cache_settings",
        "http_request_dynamic_redirect",
        "http_request_firewall_custom",
        "http_request_late_transform",
        "http_request_origin",
        "http_request_redirect",
        "http_request_sanitize",
        "http_request_transform",
        "http_response_compression",
        "http_response_headers_transform",
    }
)
_PHASE_ACTIONS = {
    "http_request_transform": {"rewrite"},
    "http_request_late_transform": {"rewrite"},
    "http_response_headers_transform": {"rewrite"},
    "http_request_cache_settings": {"set_cache_settings"},
    "http_request_dynamic_redirect": {"redirect"},
    "http_request_origin": {"route"},
    "http_config_settings": {"set_config"},
}
_BYPASS_COOKIE = re.compile(r'http\.cookie\s+contains\s+"([^"]+)"')
DEFAULT_BYPASS_COOKIE = "edgepub_session"
_LOOPBACK_HOSTS = frozenset({"", "127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass
class PurgeRecord:
    request_id: str
    zone_id: str
    form: str
    items: list[Any]
    evicted: int = 0  # edge cache entries this purge removed
    at: float = field(default_factory=time.time)  # when the call was accepted (epoch seconds)


class EdgeRequest(NamedTuple):
    """One visitor request the edge answered (for tests: what was a HIT, what went to the origin)."""

    path: str  # as requested, with the query string
    status: int
    cache_status: str  # cf-cache-status: HIT, MISS, EXPIRED, BYPASS ("" when the edge answered itself)
    host: str


@dataclass(frozen=True)
class OriginResponse:
    status: int
    body: bytes
    content_type: str
    cache_control: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class CacheEntry:
    key: str  # scheme://host/path?query, as Cloudflare keys it
    host: str
    response: OriginResponse
    stored_at: float
    expires_at: float


class PlanEnforcer:
    """The server side of limits.PLANS: Cloudflare's buckets and per-token request window.

    URL purges spend one token per URL, the other forms one per request; every
    authenticated API call counts toward the window, and breaking the window
    blocks the token for a whole window, as Cloudflare does.
    """

    def __init__(self, plan: PlanLimits, clock: Callable[[], float]) -> None:
        self.plan = plan
        self.clock = clock
        self.urls = TokenBucket(plan.urls_per_second, plan.urls_per_second, clock=clock)
        self.other = TokenBucket(plan.other_per_second, plan.other_burst, clock=clock)
        self._requests: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def admit_request(self) -> float:
        """Count one API call; 0 if it fits the window, else the seconds the token stays blocked."""
        with self._lock:
            now = self.clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            while self._requests and self._requests[0] <= now - self.plan.window_seconds:
                self._requests.popleft()
            if len(self._requests) >= self.plan.requests_per_window:
                self._blocked_until = now + self.plan.window_seconds
                return self.plan.window_seconds
            self._requests.append(now)
            return 0.0

    def admit_purge(self, form: str, count: int) -> tuple[str, float] | None:
        """Spend the purge's tokens; None if there were enough, else (bucket name, seconds to wait)."""
        bucket, name, need = (self.urls, "urls", count) if form == "files" else (self.other, "other", 1)
        if bucket.try_take(need):
            return None
        return name, bucket.wait_time(need)


def retry_after(seconds: float) -> str:
    """Retry-After as Cloudflare sends it: whole seconds, at least 1."""
    return str(max(1, math.ceil(round(seconds, 6))))


def edge_ttl(cache_control: str, default_ttl: float) -> float | None:
    """Seconds the edge may keep a response with this Cache-Control, or None if it must not store it.

    s-maxage governs shared caches and wins over max-age; private, no-store,
    no-cache and a zero TTL are not cached; no directive at all gets the edge's
    default TTL (a Cache Rule makes the page eligible, the origin sets nothing).
    """
    directives: dict[str, str] = {}
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.strip().lower()] = value.strip().strip('"')
    if {"private", "no-store", "no-cache"} & directives.keys():
        return None
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                ttl = float(int(directives[name]))
            except ValueError:
                return None
            return ttl if ttl > 0 else None
    return default_ttl if default_ttl > 0 else None


def _cache_key_of_url(url: str) -> str:
    """A purge URL as a cache key: the host lowercased, an empty path as "/"; the rest exact."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}" + (f"?{parts.query}" if parts.query else "")


def _host_and_path(prefix: str) -> str:
    host, sep, path = prefix.partition("/")
    return host.lower() + sep + path


class EdgeCache:
    """The edge's cache, shared by the visitor and API threads.

    `generation` moves on every purge: a response fetched before a purge is not
    stored after it, so a purge answered 200 can never be undone by a fetch that
    was already in flight (the emulator promises what Cloudflare's instant
    purge is meant to: after the 200, the old page is gone).
    """

    def __init__(self) -> None:
        self._entries: dict[str, CacheEntry] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def lookup(self, key: str) -> CacheEntry | None:
        with self._lock:
            return self._entries.get(key)

    def store(self, entry: CacheEntry, generation: int) -> bool:
        with self._lock:
            if generation != self.generation:
                return False
            self._entries[entry.key] = entry
            return True

    def discard(self, key: str, stale: CacheEntry) -> None:
        """Drop an expired entry the origin no longer lets the edge keep (unless it was replaced meanwhile)."""
        with self._lock:
            if self._entries.get(key) is stale:
                del self._entries[key]

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def clear(self) -> int:
        return self.evict("purge_everything", [])

    def evict(self, form: str, items: Iterable[Any]) -> int:
        """Remove what a purge of this form covers; returns how many entries went."""
        covered = _purge_matcher(form, list(items))
        with self._lock:
            self.generation += 1
            gone = [k for k, e in self._entries.items() if covered(e)]
            for k in gone:
                del self._entries[k]
            return len(gone)


def _purge_matcher(form: str, items: list[Any]) -> Callable[[CacheEntry], bool]:
    """Which cache entries a purge covers: files by exact key, tags case-insensitively, hosts, host/path prefixes."""
    if form == "files":
        urls = {_cache_key_of_url(i["url"] if isinstance(i, Mapping) else str(i)) for i in items}
        return lambda e: e.key in urls
    if form == "tags":
        tags = {str(t).lower() for t in items}
        return lambda e: any(t.lower() in tags for t in e.response.tags)
    if form == "hosts":
        hosts = {str(h).lower() for h in items}
        return lambda e: e.host in hosts
    if form == "prefixes":
        prefixes = tuple(_host_and_path(str(p)) for p in items)
        return lambda e: e.key.partition("://")[2].startswith(prefixes)
    if form == "purge_everything":
        return lambda e: True
    raise ValueError(f"unknown purge form {form!r}")


class S3Origin:
    """The site bucket as Cloudflare reaches it: GET by key, nothing else. `credentials`
    (key id, secret) are the edge's where moto enforces IAM (the embedded stack's)."""

    def __init__(self, endpoint_url: str, bucket: str, credentials: tuple[str, str] | None = None) -> None:
        import boto3
        from botocore.config import Config

        key, secret = credentials or ("testing", "testing")  # moto's fixed credentials without IAM
        self.bucket = bucket
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def get(self, key: str) -> OriginResponse:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
            if code in ("NoSuchKey", "NotFound", "404"):
                status = 404
            return OriginResponse(status, code.encode(), "text/plain; charset=utf-8", "", ())
        except BotoCoreError as exc:  # origin unreachable: Cloudflare's 521 "web server is down"
            return OriginResponse(521, str(exc).encode(), "text/plain; charset=utf-8", "", ())
        tags = str(obj.get("Metadata", {}).get("cache-tags", ""))
        return OriginResponse(
            status=200,
            body=obj["Body"].read(),
            content_type=str(obj.get("ContentType") or "application/octet-stream"),
            cache_control=str(obj.get("CacheControl") or ""),
            tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
        )


@dataclass
class SiteConfig:
    origin: S3Origin
    scheme: str
    host: str
    hosts: frozenset[str] | None  # None: any hostname of the zone
    not_found_ttl: float
    default_ttl: float


@dataclass
class EmulatorState:
    token: str
    zone_id: str
    files_limit: int = 30
    other_limit: int = 100
    purges: list[PurgeRecord] = field(default_factory=list)
    # requests refused by validation, auth, injected 5xx faults, or a plan limit (those carry "limit")
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # injected faults: statuses to answer the next purge requests with, in order
    faults: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # a fraction (0..1) of purge requests answered with a random 500/502/503/429, drawn from `rng`
    fault_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    # Retry-After sent with injected 429s (None: no header, which Cloudflare may also do)
    fault_retry_after: int | None = 1
    faulted: list[int] = field(default_factory=list)  # every injected fault's status, in order
    limits: PlanEnforcer | None = None
    clock: Callable[[], float] = time.monotonic
    rulesets: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase -> ruleset
    cache: EdgeCache = field(default_factory=EdgeCache)
    site: SiteConfig | None = None
    edge_log: list[EdgeRequest] = field(default_factory=list)
    origin_fetches: list[str] = field(default_factory=list)  # S3 keys the edge fetched, in order

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

    def rate_limited(self) -> list[dict[str, Any]]:
        """Requests refused for exceeding a plan limit (not injected faults)."""
        with self.lock:
            return [r for r in self.rejected if "limit" in r]

    def bypass_cookies(self) -> tuple[str, ...]:
        """Cookie names whose presence bypasses the cache, from the applied cache rules.

        Read from `http.cookie contains "NAME"` in enabled rules that turn caching
        off; with no cache ruleset applied yet, the site's session cookie.
        """
        with self.lock:
            ruleset = self.rulesets.get("http_request_cache_settings")
            if ruleset is None:
                return (DEFAULT_BYPASS_COOKIE,)
            names: list[str] = []
            for rule in ruleset["rules"]:
                params = rule.get("action_parameters") or {}
                if (
                    rule.get("enabled", True)
                    and rule["action"] == "set_cache_settings"
                    and params.get("cache") is False
                ):
                    names.extend(_BYPASS_COOKIE.findall(rule["expression"]))
            return tuple(names)

    def cache_keys(self) -> list[str]:
        return self.cache.keys()


def _envelope(success: bool, *, errors: list[dict[str, Any]] | None = None, result: Any = None) -> dict[str, Any]:
    return {"success": success, "errors": errors or [], "messages": [], "result": result}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: EmulatorState, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.state = state


class _BaseHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, keep-alive clients wait ~40 ms for each answer
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send_bytes(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None, *, body: bool
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class _ApiHandler(_BaseHandler):
    """api.cloudflare.com: purge_cache and the zone's phase entrypoint rulesets."""

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(body).encode(), "application/json", headers, body=True)

    def _fail(self, status: int, code: int, message: str, **extra: Any) -> None:
        with self.server.state.lock:
            self.server.state.rejected.append(
                {"status": status, "code": code, "message": message, "path": self.path, **extra}
            )
        self._send(status, _envelope(False, errors=[{"code": code, "message": message}]))

    def _too_many(self, limit: str, wait: float) -> None:
        after = retry_after(wait)
        with self.server.state.lock:
            self.server.state.rejected.append(
                {"status": 429, "code": 971, "message": _RATE_LIMITED, "path": self.path, "limit": limit}
            )
        self._send(429, _envelope(False, errors=[{"code": 971, "message": _RATE_LIMITED}]), {"Retry-After": after})

    def _authorized(self) -> bool:
        """Bearer token check, then the per-token request window; answers the refusal itself."""
        state = self.server.state
        if self.headers.get("X-Auth-Key") or self.headers.get("X-Auth-Email"):
            self._fail(
                400, 6003, "Invalid request headers: use an API token (Authorization: Bearer), not the global key"
            )
            return False
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._fail(401 if not self.headers.get("Authorization") else 403, 10000, "Authentication error")
            return False
        if state.limits is not None:
            blocked = state.limits.admit_request()
            if blocked:
                self._too_many("requests", blocked)
                return False
        return True

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
        if self.path == "/__emulator/edge":
            with state.lock:
                log = [r._asdict() for r in state.edge_log]
            self._send(200, {"cache": state.cache.keys(), "log": log})
            return
        match = _RULESET_PATH.match(self.path)
        if match:
            self._ruleset(match.group(1), match.group(2), None)
            return
        self._fail(404, 7003, "Could not route to " + self.path)

    def do_PUT(self) -> None:
        raw = self._read_body()
        match = _RULESET_PATH.match(self.path)
        if not match:
            self._fail(404, 7003, f"Could not route to {self.path}, perhaps your object identifier is invalid?")
            return
        self._ruleset(match.group(1), match.group(2), raw)

    def _ruleset(self, zone: str, phase: str, raw: bytes | None) -> None:
        """GET (raw is None) or PUT a phase's entrypoint ruleset."""
        state = self.server.state
        if not self._authorized():
            return
        if zone != state.zone_id:
            self._fail(404, 7003, "Could not route to zone: unknown zone identifier")
            return
        if phase not in _PHASES:
            self._fail(400, 20005, f"'{phase}' is not a valid zone-level phase")
            return
        if raw is None:
            with state.lock:
                ruleset = state.rulesets.get(phase)
            if ruleset is None:
                self._fail(404, 10003, f"could not find entrypoint ruleset in the '{phase}' phase")
                return
            self._send(200, _envelope(True, result=ruleset))
            return
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            self._fail(400, 6007, "Malformed JSON in request body")
            return
        problem = _check_ruleset(phase, body)
        if problem:
            self._fail(400, 20021, problem)
            return
        now = _now_iso()
        with state.lock:
            previous = state.rulesets.get(phase)
            version = int(previous["version"]) + 1 if previous else 1
            rules = [
                {
                    **rule,
                    "id": rule["id"] if isinstance(rule.get("id"), str) else uuid.uuid4().hex,
                    "version": str(version),
                    "enabled": rule.get("enabled", True),
                    "last_updated": now,
                }
                for rule in body["rules"]
            ]
            ruleset = {
                "id": previous["id"] if previous else uuid.uuid4().hex,
                "name": body.get("name") or "default",
                "description": body.get("description") or "",
                "kind": "zone",
                "phase": phase,
                "version": str(version),
                "last_updated": now,
                "rules": rules,
            }
            state.rulesets[phase] = ruleset
        self._send(200, _envelope(True, result=ruleset))

    def do_POST(self) -> None:
        state = self.server.state
        raw = self._read_body()
        match = _PURGE_PATH.match(self.path)
        if not match:
            self._fail(404, 7003, f"Could not route to {self.path}, perhaps your object identifier is invalid?")
            return
        if not self._authorized():
            return
        with state.lock:
            fault = state.faults.pop(0) if state.faults else None
            if fault is None and state.fault_rate > 0 and state.rng.random() < state.fault_rate:
                fault = state.rng.choice(_FAULT_STATUSES)
            if fault is not None:
                state.faulted.append(fault)
            fault_retry_after = state.fault_retry_after
        if fault == 429:
            # not recorded in `rejected`: that list's 429s are the plan's limits, which a client must never trip
            headers = {} if fault_retry_after is None else {"Retry-After": str(fault_retry_after)}
            self._send(429, _envelope(False, errors=[{"code": 971, "message": _RATE_LIMITED}]), headers)
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
        if state.limits is not None:
            over = state.limits.admit_purge(form, len(items))
            if over is not None:
                self._too_many(*over)
                return
        request_id = uuid.uuid4().hex
        # evicted before the answer: a 200 means the entries are gone (instant purge)
        evicted = state.cache.evict(form, items)
        with state.lock:
            state.purges.append(
                PurgeRecord(request_id=request_id, zone_id=zone, form=form, items=items, evicted=evicted)
            )
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


def _check_ruleset(phase: str, body: Any) -> str:
    """What is wrong with a PUT body, or "" if it is a valid list of rules for the phase."""
    if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
        return "request body must be an object with a 'rules' array"
    allowed = _PHASE_ACTIONS.get(phase)
    for n, rule in enumerate(body["rules"]):
        if not isinstance(rule, dict):
            return f"rules[{n}]: must be an object"
        for name in ("expression", "action"):
            if not isinstance(rule.get(name), str) or not rule[name].strip():
                return f"rules[{n}].{name}: required string"
        if allowed is not None and rule["action"] not in allowed:
            return f"rules[{n}].action: '{rule['action']}' is not allowed in the '{phase}' phase"
        if "action_parameters" in rule and not isinstance(rule["action_parameters"], dict):
            return f"rules[{n}].action_parameters: must be an object"
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            return f"rules[{n}].enabled: must be a boolean"
        if "description" in rule and not isinstance(rule["description"], str):
            return f"rules[{n}].description: must be a string"
    return ""


class _EdgeHandler(_BaseHandler):
    """The zone as visitors reach it: index rewrite, cache, bypass, origin fetch."""

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _host(self, site: SiteConfig) -> str:
        header = (self.headers.get("Host") or "").strip().lower()
        host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        return site.host if host in _LOOPBACK_HOSTS else host

    def _reply(self, request: EdgeRequest, response: OriginResponse, headers: dict[str, str], *, body: bool) -> None:
        # Cache tags stay at the edge: Cloudflare strips Cache-Tag before visitors see it.
        out = dict(headers)
        if response.cache_control:
            out["Cache-Control"] = response.cache_control
        if request.cache_status:
            out["cf-cache-status"] = request.cache_status
        # logged before answering: a client that reads the log after its response sees its request
        with self.server.state.lock:
            self.server.state.edge_log.append(request)
        self._send_bytes(request.status, response.body, response.content_type, out, body=body)

    def _fetch(self, key: str | None) -> OriginResponse:
        """The origin's answer for an object key; a 404 carries the site's 404.html when there is one."""
        state = self.server.state
        site = state.site
        assert site is not None
        response = OriginResponse(404, b"", "", "", ())
        if key is not None:
            with state.lock:
                state.origin_fetches.append(key)
            response = site.origin.get(key)
        if response.status != 404:
            return response
        with state.lock:
            state.origin_fetches.append("404.html")
        page = site.origin.get("404.html")
        if page.status == 200:
            return OriginResponse(404, page.body, page.content_type, page.cache_control, page.tags)
        return OriginResponse(404, b"Not Found", "text/plain; charset=utf-8", "", ())

    def _serve(self, *, body: bool) -> None:
        state = self.server.state
        site = state.site
        if site is None:
            text = OriginResponse(502, b"edge: no site configured (serve_site)", "text/plain; charset=utf-8", "", ())
            self._reply(EdgeRequest(self.path, 502, "", ""), text, {}, body=body)
            return
        host = self._host(site)
        if site.hosts is not None and host not in site.hosts:
            text = OriginResponse(421, f"edge: {host} is not in this zone".encode(), "text/plain", "", ())
            self._reply(EdgeRequest(self.path, 421, "", host), text, {}, body=body)
            return
        parts = urlsplit(self.path)
        path = parts.path or "/"
        scheme = (self.headers.get("X-Forwarded-Proto") or site.scheme).lower()
        cache_key = f"{scheme}://{host}{path}" + (f"?{parts.query}" if parts.query else "")
        try:
            # the index rewrite rule: "/a/" is fetched as "a/index.html"; "/a" stays "a"
            object_key: str | None = key_for_path(unquote(path))
        except UnsafePath:
            object_key = None
        cookie = self.headers.get("Cookie") or ""
        if any(name in cookie for name in state.bypass_cookies()):
            response = self._fetch(object_key)
            self._reply(EdgeRequest(self.path, response.status, "BYPASS", host), response, {}, body=body)
            return
        now = state.clock()
        entry = state.cache.lookup(cache_key)
        if entry is not None and now < entry.expires_at:
            age = str(max(0, int(now - entry.stored_at)))
            request = EdgeRequest(self.path, entry.response.status, "HIT", host)
            self._reply(request, entry.response, {"Age": age}, body=body)
            return
        generation = state.cache.generation
        response = self._fetch(object_key)
        if response.status == 200:
            ttl = edge_ttl(response.cache_control, site.default_ttl)
        elif response.status == 404:
            ttl = site.not_found_ttl if site.not_found_ttl > 0 else None
        else:
            ttl = None
        status = "EXPIRED" if entry is not None else "MISS"
        if ttl is None and response.status == 200:
            status = "BYPASS"  # the origin said not to cache (private, no-store, no-cache, max-age=0)
        if ttl is not None:
            state.cache.store(CacheEntry(cache_key, host, response, now, now + ttl), generation)
        elif entry is not None:
            state.cache.discard(cache_key, entry)
        self._reply(EdgeRequest(self.path, response.status, status, host), response, {}, body=body)


class CloudflareEmulator:
    """Run with `with CloudflareEmulator(token, zone) as cf:`; `cf.api_base` is the API URL.

    `plan` picks the limits enforced (limits.PLANS name or a PlanLimits; None for
    none); `clock` drives the buckets, the request window and the edge's TTLs, so
    tests can move time instead of sleeping. Call `serve_site(...)` to put the
    edge (`cf.edge_base`) in front of an S3 site bucket.
    """

    def __init__(
        self,
        token: str,
        zone_id: str,
        *,
        files_limit: int | None = None,
        plan: str | PlanLimits | None = "enterprise",
        clock: Callable[[], float] = time.monotonic,
        fault_seed: int = 0,
    ) -> None:
        limits = PLANS[plan] if isinstance(plan, str) else plan
        self.plan = limits
        self.state = EmulatorState(
            token=token,
            zone_id=zone_id,
            files_limit=files_limit if files_limit is not None else (limits.files_per_request if limits else 30),
            other_limit=limits.other_per_request if limits else 100,
            limits=PlanEnforcer(limits, clock) if limits else None,
            clock=clock,
            rng=random.Random(fault_seed),
        )
        self._server = _Server(self.state, _ApiHandler)
        self._edge = _Server(self.state, _EdgeHandler)
        self._threads = [
            threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
            for server, name in ((self._server, "cloudflare-emulator"), (self._edge, "cloudflare-emulator-edge"))
        ]
        self._started = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    @property
    def edge_port(self) -> int:
        return int(self._edge.server_address[1])

    @property
    def edge_base(self) -> str:
        """Where visitors reach the zone: GET {edge_base}/path, with a Host header to pick the hostname."""
        return f"http://127.0.0.1:{self.edge_port}"

    def serve_site(
        self,
        endpoint_url: str,
        bucket: str,
        site_url: str = "https://www.example.com",
        *,
        hosts: Iterable[str] | None = None,
        not_found_ttl: float = 0.0,
        default_ttl: float = 7200.0,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        """Put the edge in front of an S3 site bucket (moto at endpoint_url, read with
        `credentials` where moto enforces IAM).

        Requests with a loopback Host header are the site_url's host; `hosts`
        limits the hostnames served (None: any). 404s are not cached unless
        `not_found_ttl` says so (Cloudflare's own default is 180 s).
        """
        parts = urlsplit(site_url)
        self.state.site = SiteConfig(
            origin=S3Origin(endpoint_url, bucket, credentials),
            scheme=parts.scheme.lower() or "https",
            host=(parts.hostname or "").lower(),
            hosts=frozenset(h.lower() for h in hosts) if hosts is not None else None,
            not_found_ttl=not_found_ttl,
            default_ttl=default_ttl,
        )

    def start(self) -> CloudflareEmulator:
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def stop(self) -> None:
        for server in (self._server, self._edge):
            if self._started:
                server.shutdown()
            server.server_close()
        self._started = False

    def __enter__(self) -> CloudflareEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
