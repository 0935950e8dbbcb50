"""The Cloudflare purge API client, on requests.

Bearer token only (never the legacy email + global key); batches of at most the
configured size; success judged from the response body, not the status code.
The token is fetched at run time from Secrets Manager or SSM through Powertools
Parameters and never logged or put into an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import requests

from edgepub.errors import ConfigurationError, PurgeRejected, PurgeUnavailable
from edgepub.ports import PurgeReceipt, unique
from edgepub.settings import Settings

log = logging.getLogger(__name__)

TokenProvider = Callable[[], str]


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


class CloudflarePurger:
    def __init__(
        self,
        settings: Settings,
        token: TokenProvider,
        session: requests.Session | None = None,
    ) -> None:
        self.endpoint = f"{settings.cloudflare_api_base.rstrip('/')}/zones/{settings.cloudflare_zone_id}/purge_cache"
        self.batch_size = settings.purge_batch_size
        self.timeout = settings.purge_timeout_seconds
        self.token = token
        self.session = session or requests.Session()

    def purge_urls(self, urls: Sequence[str]) -> list[PurgeReceipt]:
        items = unique(urls)
        return [
            self._call({"files": items[i : i + self.batch_size]}, items[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]

    def _call(self, body: dict[str, Any], items: list[str]) -> PurgeReceipt:
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        try:
            response = self.session.post(self.endpoint, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PurgeUnavailable(f"purge request to Cloudflare failed: {type(exc).__name__}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            raise PurgeUnavailable(
                f"Cloudflare answered {status} to a purge of {len(items)} URLs: {_errors(payload)}",
                status=status,
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if status >= 400 or not isinstance(payload, dict) or payload.get("success") is not True:
            hint = " (check the API token and its Zone > Cache Purge permission)" if status in (401, 403) else ""
            raise PurgeRejected(
                f"Cloudflare rejected a purge of {len(items)} URLs with HTTP {status}: {_errors(payload)}{hint}",
                status=status,
            )
        result = payload.get("result") or {}
        request_id = str(result.get("id", "")) if isinstance(result, dict) else ""
        log.info("purged %d URLs (request %s)", len(items), request_id)
        return PurgeReceipt(request_id=request_id, items=tuple(items), attempts=1)
