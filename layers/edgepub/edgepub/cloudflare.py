"""The Cloudflare purge API client, on requests.

Bearer token only (never the legacy email + global key). Items are
de-duplicated and split at the plan's per-request limits; calls are paced by a
client-side token bucket for the plan; a 429 waits for Retry-After (or backs
off with jitter), 5xx and network errors back off and retry; success is judged
from the response body, not the status code; a 4xx that retrying cannot fix
(bad token, invalid body) fails at once with a message that says what is wrong.
Every call is written to the purge ledger. Purging everything is a separate
method that needs the zone id typed back as confirmation; nothing calls it
automatically.

The token is fetched at run time from Secrets Manager or SSM through Powertools
Parameters and never logged or put into an error.

In Lambda with tracing on, the calls appear in X-Ray: `requests` is patched when the
first purger is built (`trace_requests`), not at the handler's import.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from edgepub.errors import ConfigurationError, PurgeError, PurgeRejected, PurgeUnavailable
from edgepub.ledger import LedgerEntry, PurgeLedger
from edgepub.limits import PLANS, Pacer
from edgepub.ports import PurgeReceipt, unique
from edgepub.settings import Settings
from edgepub.urls import expand

log = logging.getLogger(__name__)

TokenProvider = Callable[[], str]
FORMS = ("files", "tags", "hosts", "prefixes")

_requests_traced = False


def trace_requests() -> None:
    """Record the Cloudflare calls in X-Ray, in Lambda with tracing on. The handlers' Tracer
    patches botocore at import; the http.client patch misses `requests` (urllib3 2 sends
    without it), so `requests` is patched here, once, when a purger first needs it: a cold
    start that never purges imports neither. Elsewhere (local runs, the embedded stack,
    tests) it does nothing; in Lambda, Powertools' POWERTOOLS_TRACE_DISABLED still applies."""
    global _requests_traced
    if _requests_traced or not os.environ.get("LAMBDA_TASK_ROOT") or os.environ.get("AWS_SAM_LOCAL"):
        return
    from aws_lambda_powertools import Tracer

    Tracer(auto_patch=False).patch(["requests"])
    _requests_traced = True


def token_from_settings(settings: Settings) -> TokenProvider:
    """A provider that reads the token (cached for 5 minutes) from where settings say."""

    def provide() -> str:
        from aws_lambda_powertools.utilities import parameters  # imported lazily: cold start

        if settings.cloudflare_token_secret:
            value = parameters.get_secret(settings.cloudflare_token_secret, max_age=300)
        elif settings.cloudflare_token_parameter:
            value = parameters.get_parameter(settings.cloudflare_token_parameter, decrypt=True, max_age=300)
        else:
            raise ConfigurationError(
                "no Cloudflare token configured: set EDGEPUB_CLOUDFLARE_TOKEN_SECRET "
                "(Secrets Manager) or EDGEPUB_CLOUDFLARE_TOKEN_PARAMETER (SSM)"
            )
        token = value.decode() if isinstance(value, bytes) else str(value)
        return token.strip()

    return provide


def _errors(body: Any) -> str:
    if not isinstance(body, dict):
        return "response was not JSON"
    errors = body.get("errors") or []
    parts = []
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, dict):
            parts.append(f"{err.get('code')}: {err.get('message')}")
    return "; ".join(parts) or "no error detail"


def api_request(
    session: requests.Session,
    method: str,
    url: str,
    body: dict[str, Any],
    token: TokenProvider,
    timeout: float,
    what: str,
) -> dict[str, Any]:
    """One Cloudflare API call, judged by its body: the envelope on success; PurgeUnavailable
    for what a retry may fix (network, 429 with its Retry-After, 5xx); PurgeRejected otherwise."""
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/json"}
    try:
        response = session.request(method, url, json=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise PurgeUnavailable(f"{what} could not reach Cloudflare: {type(exc).__name__}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    status = response.status_code
    if status == 429 or status >= 500:
        retry_after = response.headers.get("Retry-After", "")
        raise PurgeUnavailable(
            f"Cloudflare answered {status} to {what}: {_errors(payload)}",
            status=status,
            retry_after=float(retry_after) if retry_after.strip().isdigit() else None,
        )
    if status >= 400 or not isinstance(payload, dict) or payload.get("success") is not True:
        hint = " (check the API token and its Zone > Cache Purge permission)" if status in (401, 403) else ""
        raise PurgeRejected(f"Cloudflare rejected {what} with HTTP {status}: {_errors(payload)}{hint}", status=status)
    return payload


@dataclass
class PurgeResult:
    """What a purge did: the calls that succeeded, and the items that could not be purged."""

    receipts: list[PurgeReceipt] = field(default_factory=list)
    failed: list[tuple[str, tuple[str, ...], PurgeError]] = field(default_factory=list)  # (form, items, error)

    @property
    def calls(self) -> int:
        return len(self.receipts)


class CloudflarePurger:
    def __init__(
        self,
        settings: Settings,
        token: TokenProvider,
        session: requests.Session | None = None,
        *,
        ledger: PurgeLedger | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        time_left: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        plan = PLANS.get(settings.purge_plan)
        if plan is None:
            raise ConfigurationError(
                f"EDGEPUB_PURGE_PLAN must be one of {', '.join(PLANS)}, got {settings.purge_plan!r}"
            )
        self.settings = settings
        self.zone = settings.cloudflare_zone_id
        self.endpoint = f"{settings.cloudflare_api_base.rstrip('/')}/zones/{self.zone}/purge_cache"
        self.limits = {"files": settings.purge_batch_size, **dict.fromkeys(FORMS[1:], plan.other_per_request)}
        self.timeout = settings.purge_timeout_seconds
        self.max_attempts = settings.purge_max_attempts
        self.token = token
        if session is None:
            trace_requests()
            session = requests.Session()
        self.session = session
        self.ledger = ledger
        self.pacer = pacer or Pacer(plan, settings.purge_rate_share, sleep=sleep)
        self.sleep = sleep
        self.time_left = time_left or (lambda: float("inf"))
        self.rng = rng or random.Random()

    # -- the Purger port ----------------------------------------------------------

    def purge(self, urls: Sequence[str], tags: Sequence[str] = ()) -> list[PurgeReceipt]:
        """Purge the URLs as visitors request them (extra hosts, trailing-slash policy), or
        raise the first error (for callers that want all or nothing)."""
        result = self.purge_items({"files": expand(list(urls), self.settings), "tags": list(tags)})
        if result.failed:
            raise result.failed[0][2]
        return result.receipts

    # -- everything else ----------------------------------------------------------------

    def purge_items(self, items: dict[str, list[str]]) -> PurgeResult:
        """Purge each form's items in batches at its limit; keep going past failed batches."""
        result = PurgeResult()
        for form in FORMS:
            values = unique(items.get(form, []))
            size = self.limits[form]
            for start in range(0, len(values), size):
                batch = tuple(values[start : start + size])
                try:
                    result.receipts.append(self._send(form, batch))
                except PurgeError as error:
                    result.failed.append((form, batch, error))
        return result

    def purge_everything(self, *, confirm: str) -> PurgeReceipt:
        """Empty the zone's whole cache. Only on an operator's explicit request: the
        origin then takes every request at once. `confirm` must be the zone id."""
        if confirm != self.zone:
            raise PurgeRejected("purge everything needs the zone id as confirmation; nothing was purged")
        return self._send("purge_everything", ())

    def _send(self, form: str, items: tuple[str, ...]) -> PurgeReceipt:
        body: dict[str, Any] = {"purge_everything": True} if form == "purge_everything" else {form: list(items)}
        started = datetime.now(UTC)
        attempts = 0
        while True:
            attempts += 1
            if form == "files":
                self.pacer.before_files(len(items))
            else:
                self.pacer.before_other()
            try:
                receipt = self._call(form, body, items, attempts)
            except PurgeUnavailable as error:
                wait = error.retry_after if error.retry_after is not None else self._backoff(attempts)
                if attempts >= self.max_attempts or wait + self.timeout > self.time_left():
                    self._record(started, form, items, attempts, f"failed: {error}", error.status)
                    raise
                log.warning("purge of %d %s: %s; retrying in %.1fs", len(items), form, error, wait)
                self.sleep(wait)
                continue
            except PurgeRejected as error:
                self._record(started, form, items, attempts, f"rejected: {error}", error.status)
                raise
            self._record(started, form, items, attempts, "ok", 200, receipt.request_id)
            return receipt

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: 0..min(30, 0.5 * 2^attempt) seconds."""
        return self.rng.uniform(0, min(30.0, 0.5 * 2**attempt))

    def _call(self, form: str, body: dict[str, Any], items: tuple[str, ...], attempts: int) -> PurgeReceipt:
        what = f"a purge of {len(items)} {form}" if items else "a purge of everything"
        payload = api_request(self.session, "POST", self.endpoint, body, self.token, self.timeout, what)
        result = payload.get("result") or {}
        request_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        log.info("purged %d %s (request %s, attempt %d)", len(items), form, request_id, attempts)
        return PurgeReceipt(request_id=request_id, items=items, attempts=attempts)

    def _record(
        self,
        started: datetime,
        form: str,
        items: tuple[str, ...],
        attempts: int,
        outcome: str,
        status: int | None,
        request_id: str = "",
    ) -> None:
        if self.ledger is not None:
            self.ledger.record(
                LedgerEntry(
                    at=started.isoformat(),
                    form=form,
                    items=items,
                    outcome=outcome,
                    attempts=attempts,
                    status=status or 0,
                    request_id=request_id,
                )
            )
