"""Wiring: the library's services built from Settings with the AWS and Cloudflare
adapters. Handlers and the CLI both start here, so they share one path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from edgepub.publisher import Outcome, Publisher
from edgepub.s3events import parse_notification
from edgepub.settings import Settings


def aws_publisher(settings: Settings) -> Publisher:
    from edgepub.aws import S3PageStore, S3SourceStore, dynamo_table
    from edgepub.cloudflare import CloudflarePurger, token_from_settings
    from edgepub.index import DynamoIndex

    return Publisher(
        settings,
        sources=S3SourceStore(settings),
        pages=S3PageStore(settings),
        purger=CloudflarePurger(settings, token_from_settings(settings)),
        index=DynamoIndex(dynamo_table(settings)),
    )


def publish_message(publisher: Publisher, body: str) -> list[Outcome]:
    """Handle one SQS message body of S3 notifications."""
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
