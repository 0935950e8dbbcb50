"""Wiring: the library's services built from Settings with the AWS and Cloudflare
adapters. Handlers and the CLI both start here, so they share one path."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from edgepub.publisher import Outcome, Publisher
from edgepub.s3events import parse_notification
from edgepub.settings import Settings
from edgepub.urls import expand

if TYPE_CHECKING:  # the publish function never calls Cloudflare: requests stays out of its cold start
    from edgepub.cloudflare import CloudflarePurger


def aws_publisher(settings: Settings) -> Publisher:
    """The publish function's publisher: S3 stores, the DynamoDB index, and the
    purge queue (or Cloudflare directly when no queue is configured)."""
    from edgepub.aws import S3PageStore, S3SourceStore, SqsPurgeQueue
    from edgepub.ports import Purger

    purger: Purger = SqsPurgeQueue(settings) if settings.purge_queue_url else aws_purger(settings)
    return Publisher(
        settings,
        sources=S3SourceStore(settings),
        pages=S3PageStore(settings),
        purger=purger,
        index=aws_index(settings),
    )


def aws_index(settings: Settings) -> Any:
    from edgepub.aws import dynamo_table
    from edgepub.freshness import FreshnessPolicy
    from edgepub.index import DynamoIndex

    return DynamoIndex(dynamo_table(settings), policy=FreshnessPolicy.from_settings(settings))


def aws_purger(settings: Settings) -> CloudflarePurger:
    from edgepub.aws import dynamo_table
    from edgepub.cloudflare import CloudflarePurger, token_from_settings
    from edgepub.ledger import DynamoLedger

    return CloudflarePurger(
        settings,
        token_from_settings(settings),
        ledger=DynamoLedger(dynamo_table(settings), settings.ledger_retention_days),
    )


@dataclass
class PurgeReport:
    messages: int = 0
    urls: int = 0
    tags: int = 0
    calls: int = 0
    retries: int = 0
    failed_items: list[str] = field(default_factory=list)
    failed_messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def purge_messages(purger: CloudflarePurger, records: list[tuple[str, str]]) -> PurgeReport:
    """Coalesce purge-queue messages (id, body) into one de-duplicated purge."""
    report = PurgeReport(messages=len(records))
    wanted: dict[str, list[str]] = {}  # message id -> the items it asked for
    urls: list[str] = []
    tags: list[str] = []
    for message_id, body in records:
        try:
            message = json.loads(body)
            message_urls = expand([str(u) for u in message.get("urls", [])], purger.settings)
            message_tags = [str(t) for t in message.get("tags", [])]
        except (ValueError, AttributeError, TypeError) as exc:
            report.failed_messages.append(message_id)
            report.errors.append(f"message {message_id} is not a purge request: {exc}")
            continue
        wanted[message_id] = message_urls + message_tags
        urls += message_urls
        tags += message_tags
    result = purger.purge_items({"files": urls, "tags": tags})
    report.urls = len(set(urls))
    report.tags = len(set(tags))
    report.calls = result.calls
    report.retries = sum(r.attempts - 1 for r in result.receipts)
    failed = {item for _, items, _ in result.failed for item in items}
    report.failed_items = sorted(failed)
    report.errors += [str(error) for _, _, error in result.failed]
    report.failed_messages += [m for m, items in wanted.items() if failed.intersection(items)]
    return report


def report_purges(report: PurgeReport, logger: _Logger, metrics: _Metrics) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    fields = {
        "messages": report.messages,
        "urls": report.urls,
        "tags": report.tags,
        "calls": report.calls,
        "retries": report.retries,
        "failed_items": report.failed_items[:50],
        "errors": report.errors[:10],
    }
    if report.failed_messages:
        logger.warning(
            f"{len(report.failed_items)} items not purged; {len(report.failed_messages)} messages will be retried",
            extra=fields,
        )
    else:
        logger.info(f"purged {report.urls} URLs and {report.tags} tags in {report.calls} calls", extra=fields)
    metrics.add_metric(name="PurgeCalls", unit=MetricUnit.Count, value=report.calls)
    metrics.add_metric(name="PurgeRetries", unit=MetricUnit.Count, value=report.retries)
    metrics.add_metric(name="UrlsPurgedAtEdge", unit=MetricUnit.Count, value=report.urls)
    metrics.add_metric(name="PurgeFailures", unit=MetricUnit.Count, value=len(report.failed_items))


def publish_message(publisher: Publisher, body: str) -> list[Outcome]:
    """Handle one SQS message body: S3 notifications (or republish requests in their
    shape), or an operator's request to re-render the site's own pages."""
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("edgepub") == "site-pages":
        applied = publisher.refresh_site_pages()
        return [
            Outcome(
                "(site pages)",
                "published" if applied.written else "unchanged",
                written=[p.path for p in applied.written],
                purged=applied.purged,
            )
        ]
    return [publisher.apply(change) for change in parse_notification(body)]


class _Metrics(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class _Logger(Protocol):
    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...


OUTCOME_METRICS = {
    "published": "ArticlesPublished",
    "unchanged": "ArticlesUnchanged",
    "unpublished": "ArticlesUnpublished",
    "held": "ArticlesHeld",
    "rejected": "SourcesRejected",
    "ignored": "SourcesIgnored",
}


def report(outcomes: Iterable[Outcome], logger: _Logger, metrics: _Metrics) -> None:
    """Turn outcomes into one structured log line each and EMF metrics."""
    from aws_lambda_powertools.metrics import MetricUnit

    for outcome in outcomes:
        fields = {
            "source_key": outcome.source_key,
            "action": outcome.action,
            "url": outcome.url,
            "pages_written": outcome.written,
            "pages_deleted": outcome.deleted,
            "urls_purged": outcome.purged,
            "reason": outcome.reason,
        }
        if outcome.action == "rejected":
            logger.warning(f"rejected {outcome.source_key}: {outcome.reason}", extra=fields)
        else:
            logger.info(f"{outcome.action} {outcome.source_key}", extra=fields)
        metrics.add_metric(name=OUTCOME_METRICS[outcome.action], unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="PagesWritten", unit=MetricUnit.Count, value=len(outcome.written))
        metrics.add_metric(name="UrlsPurged", unit=MetricUnit.Count, value=len(outcome.purged))


def run_job(publisher: Publisher, event: dict[str, Any], now: datetime | None = None) -> Any:
    """Run the job an event asks for (see functions/scheduler/app.py)."""
    from edgepub.aws import S3ReportStore, SnsNotifier
    from edgepub.errors import ConfigurationError
    from edgepub.freshness import FreshnessPolicy
    from edgepub.jobs import job_payload, repair_drift, run_freshness, run_transitions

    payload = job_payload(event)
    settings = publisher.settings
    moment = datetime.fromisoformat(payload["now"]) if payload.get("now") else (now or publisher.clock())
    dry_run = bool(payload.get("dry_run", False))
    index: Any = publisher.index
    job = payload.get("job")
    if job == "transitions":
        return run_transitions(publisher, index, moment, dry_run=dry_run)
    if job == "freshness":
        from zoneinfo import ZoneInfo

        today = moment.astimezone(ZoneInfo(settings.report_timezone)).date()
        return run_freshness(
            index,
            FreshnessPolicy.from_settings(settings),
            today,
            settings.site_url,
            S3ReportStore(settings),
            SnsNotifier(settings.notify_topic_arn, settings),
            prefix=settings.reports_prefix,
            dry_run=dry_run,
        )
    if job == "drift":
        return repair_drift(publisher, index, batch=int(payload.get("batch", settings.drift_batch)), dry_run=dry_run)
    raise ConfigurationError(f"unknown job {job!r}: expected transitions, freshness or drift")


def report_job(result: Any, logger: _Logger, metrics: _Metrics) -> None:
    from dataclasses import asdict

    from aws_lambda_powertools.metrics import MetricUnit

    data = asdict(result)
    logger.info(
        f"{type(result).__name__}",
        extra={k: v for k, v in data.items() if not isinstance(v, (dict, list)) or len(str(v)) < 2000},
    )
    for name, value in data.items():
        if isinstance(value, bool) or name in ("now", "day", "cursor"):
            continue
        if isinstance(value, int):
            metrics.add_metric(name=f"Job_{name}", unit=MetricUnit.Count, value=value)
        elif isinstance(value, list):
            metrics.add_metric(name=f"Job_{name}", unit=MetricUnit.Count, value=len(value))
        elif name == "counts" and isinstance(value, dict):
            for state, count in value.items():
                metrics.add_metric(name=f"Freshness_{state}", unit=MetricUnit.Count, value=count)


OPS_ACTIONS = ("status", "republish", "unpublish", "rollback", "purge", "reconcile")


def run_ops(publisher: Publisher, event: dict[str, Any]) -> dict[str, Any]:
    """One operator action, as the ops function and the CLI both run it.

    {"action": "status", "slug": S} | {"action": "republish", "slugs": [...] | "all": true | "tag": T}
    | {"action": "unpublish", "slug": S} | {"action": "rollback", "slug": S, "to": VERSION}
    | {"action": "purge", "urls": [...], "tags": [...], "prefixes": [...]} | {"action": "reconcile"};
    any of them with "dry_run": true.
    """
    from dataclasses import asdict

    from edgepub import ops
    from edgepub.aws import S3PageStore, client
    from edgepub.errors import ConfigurationError

    settings = publisher.settings
    action = event.get("action")
    dry_run = bool(event.get("dry_run", False))
    pages = S3PageStore(settings)
    if action == "status":
        from edgepub.aws import dynamo_table
        from edgepub.ledger import DynamoLedger

        return ops.page_status(publisher, pages, str(event["slug"]), DynamoLedger(dynamo_table(settings)))
    if action == "republish":
        result: Any = ops.republish(
            publisher,
            client("sqs", settings),
            slugs=[str(s) for s in event.get("slugs", [])],
            everything=bool(event.get("all")),
            tag=str(event.get("tag", "")),
            dry_run=dry_run,
        )
    elif action == "unpublish":
        result = ops.unpublish(publisher, str(event["slug"]), dry_run=dry_run)
    elif action == "rollback":
        result = ops.rollback(publisher, pages, str(event["slug"]), str(event.get("to", "")), dry_run=dry_run)
    elif action == "purge":
        items = {
            "files": list(event.get("urls", [])),
            "tags": list(event.get("tags", [])),
            "prefixes": list(event.get("prefixes", [])),
        }
        if event.get("everything"):
            raise ConfigurationError("purge everything is not an ops-function action: use the CLI, which asks")
        if dry_run:
            return {"dry_run": True, **items}
        purge_result = aws_purger(settings).purge_items(items)
        return {
            "receipts": [asdict(r) for r in purge_result.receipts],
            "failed": [{"form": f, "items": list(i), "error": str(e)} for f, i, e in purge_result.failed],
        }
    elif action == "reconcile":
        result = ops.reconcile(publisher, client("s3", settings), client("sqs", settings), dry_run=dry_run)
    else:
        raise ConfigurationError(f"unknown action {action!r}: expected one of {', '.join(OPS_ACTIONS)}")
    return asdict(result)
