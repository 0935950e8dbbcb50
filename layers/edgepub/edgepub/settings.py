"""Configuration: one typed settings object, read from the environment once.

Every variable is prefixed EDGEPUB_. Defaults work on the embedded stack; the
deployed functions get theirs from template.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from edgepub.errors import ConfigurationError

_PREFIX = "EDGEPUB_"


@dataclass(frozen=True)
class CachePolicy:
    """Cache-Control per page kind.

    Browsers keep pages briefly (max-age); the edge keeps them long (s-maxage)
    because every change is purged. stale-while-revalidate and stale-if-error
    let the edge answer while it refetches or while the origin is down.
    """

    article: str = "public, max-age=300, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400"
    listing: str = "public, max-age=60, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400"
    feed: str = "public, max-age=300, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400"
    sitemap: str = "public, max-age=3600, s-maxage=31536000, stale-while-revalidate=60, stale-if-error=86400"
    redirect: str = "public, max-age=3600, s-maxage=31536000, stale-if-error=86400"
    error: str = "public, max-age=60, s-maxage=600"
    static: str = "public, max-age=86400, s-maxage=31536000, stale-if-error=86400"
    # theme files and page-bundle files: their URL names their content, so they never change
    asset: str = "public, max-age=31536000, immutable"

    def for_kind(self, kind: str) -> str:
        value = getattr(self, kind, None)
        if not isinstance(value, str):
            raise ConfigurationError(f"no cache policy for page kind {kind!r}")
        return value


@dataclass(frozen=True)
class SourceLimits:
    """What one source may hold, so that reading it takes bounded time and memory
    whatever its bytes. Each is a setting (EDGEPUB_MAX_...); README lists them."""

    source_bytes: int = 2 * 1024 * 1024  # the whole file
    front_matter_bytes: int = 256 * 1024  # YAML between the --- lines
    nesting_depth: int = 12  # lists and mappings inside each other
    number_digits: int = 18  # digits of a whole number (view counts, scores)
    list_items: int = 200  # items of any one list or mapping
    tags: int = 20  # tags of one article (each tag has a page and a feed)
    aliases: int = 20  # redirects an article may claim


@dataclass(frozen=True)
class Settings:
    site_url: str = "https://www.example.com"
    site_title: str = "edgepub"
    sources_bucket: str = "edgepub-sources"
    site_bucket: str = "edgepub-site"
    articles_table: str = "edgepub-articles"
    source_prefix: str = "content/"
    rejected_prefix: str = "rejected/"
    max_source_bytes: int = SourceLimits.source_bytes
    max_front_matter_bytes: int = SourceLimits.front_matter_bytes
    max_nesting_depth: int = SourceLimits.nesting_depth
    max_number_digits: int = SourceLimits.number_digits
    max_list_items: int = SourceLimits.list_items
    max_tags: int = SourceLimits.tags
    max_aliases: int = SourceLimits.aliases
    cloudflare_zone_id: str = "0123456789abcdef0123456789abcdef"
    cloudflare_api_base: str = "https://api.cloudflare.com/client/v4"
    # Secrets Manager secret id (name or ARN) holding the API token; or an SSM
    # SecureString parameter name. Never the token itself.
    cloudflare_token_secret: str = ""
    cloudflare_token_parameter: str = ""
    purge_batch_size: int = 30
    purge_timeout_seconds: float = 10.0
    purge_plan: str = "free"  # free, pro, business, enterprise: the client paces itself to the plan's limits
    purge_rate_share: float = 0.5  # this container's share of the account's limits (1 / purge MaximumConcurrency)
    purge_max_attempts: int = 5
    purge_by_tag: bool = False  # purge listing pages by cache tag instead of URL by URL
    purge_extra_hosts: str = ""  # comma-separated hosts also purged (www and apex, say)
    purge_trailing_slash: str = "as-is"  # or "both": also purge /path for /path/
    purge_queue_url: str = ""  # when set, publishers enqueue purges for the purge function
    # A busy purge invocation sends full batches only and carries the remainder to
    # the next batching window (edgepub.carry), never holding an item longer than
    # this; 0 disables carrying. The carry is delayed a little less than the window.
    purge_max_hold_seconds: int = 30
    purge_carry_delay_seconds: int = 8
    publish_queue_url: str = ""  # operators' republish fans out through it
    # the dead-letter queues `edgepub dlq` lists and redrives (the ops function's environment)
    publish_dlq_url: str = ""
    purge_dlq_url: str = ""
    ledger_retention_days: int = 30
    review_interval_days: int = 180  # when neither the article nor its tags or topic say otherwise
    review_intervals: str = ""  # JSON: {"tag:security": 90, "topic:billing": 60}
    review_due_soon_days: int = 14
    outdated_notice: bool = False  # overdue articles get an "may be out of date" notice on their page
    reports_prefix: str = "reports/"  # in the sources bucket: never served
    report_timezone: str = "UTC"
    drift_batch: int = 200  # pages checked per drift-repair run
    notify_topic_arn: str = ""  # SNS topic for the daily freshness notification
    aws_endpoint_url: str = ""
    aws_region: str = "us-east-1"
    cache: CachePolicy = field(default_factory=CachePolicy)
    # the names set in the environment (or on the command line): they win over edgepub.toml
    overrides: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read EDGEPUB_* variables; unknown names are ignored, bad values raise."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in ("cache", "overrides"):
                continue
            raw = env.get(_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        if "aws_endpoint_url" not in values and env.get("AWS_ENDPOINT_URL"):
            values["aws_endpoint_url"] = env["AWS_ENDPOINT_URL"]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if "aws_region" not in values and region:
            values["aws_region"] = region
        cache_values = {
            f.name: env[f"{_PREFIX}CACHE_{f.name.upper()}"]
            for f in fields(CachePolicy)
            if f"{_PREFIX}CACHE_{f.name.upper()}" in env
        }
        settings = cls(**values, cache=CachePolicy(**cache_values), overrides=frozenset(values))
        settings.check()
        return settings

    @property
    def source_limits(self) -> SourceLimits:
        return SourceLimits(
            source_bytes=self.max_source_bytes,
            front_matter_bytes=self.max_front_matter_bytes,
            nesting_depth=self.max_nesting_depth,
            number_digits=self.max_number_digits,
            list_items=self.max_list_items,
            tags=self.max_tags,
            aliases=self.max_aliases,
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def check(self) -> None:
        if not self.site_url.startswith(("http://", "https://")) or self.site_url.endswith("/"):
            raise ConfigurationError(
                f"EDGEPUB_SITE_URL must be scheme://host with no trailing slash, got {self.site_url!r}"
            )
        if not self.source_prefix.endswith("/") or not self.rejected_prefix.endswith("/"):
            raise ConfigurationError("EDGEPUB_SOURCE_PREFIX and EDGEPUB_REJECTED_PREFIX must end with '/'")
        if self.rejected_prefix.startswith(self.source_prefix):
            raise ConfigurationError(
                "EDGEPUB_REJECTED_PREFIX must not be under the source prefix: reports would trigger publishing"
            )
        if not 1 <= self.purge_batch_size <= 500:
            raise ConfigurationError("EDGEPUB_PURGE_BATCH_SIZE must be between 1 and 500")
        if self.purge_trailing_slash not in ("as-is", "both"):
            raise ConfigurationError("EDGEPUB_PURGE_TRAILING_SLASH must be 'as-is' or 'both'")
        if not 0 < self.purge_rate_share <= 1:
            raise ConfigurationError("EDGEPUB_PURGE_RATE_SHARE must be in (0, 1]")
        if self.purge_max_hold_seconds < 0:
            raise ConfigurationError("EDGEPUB_PURGE_MAX_HOLD_SECONDS must be 0 (no carrying) or more")
        if not 0 <= self.purge_carry_delay_seconds <= 900:
            raise ConfigurationError("EDGEPUB_PURGE_CARRY_DELAY_SECONDS must be between 0 and 900 (SQS DelaySeconds)")
        for name, value in vars(self.source_limits).items():
            if value < 1:
                raise ConfigurationError(f"EDGEPUB_MAX_{name.upper()} must be positive, got {value}")
        if self.max_nesting_depth > 100 or self.max_number_digits > 4000:
            raise ConfigurationError(
                "EDGEPUB_MAX_NESTING_DEPTH is at most 100 and EDGEPUB_MAX_NUMBER_DIGITS at most 4000 "
                "(beyond them Python itself refuses the input)"
            )


def _coerce(name: str, type_name: object, raw: str) -> object:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "str")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
    except ValueError as exc:
        raise ConfigurationError(f"{_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
