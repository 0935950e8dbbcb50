"""Wiring: the library's services built from Settings with the AWS and Cloudflare
adapters. Handlers and the CLI both start here, so they share one path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

# the purge function's story (coalesce, carry, send) lives in edgepub.purging
from edgepub.purging import PurgeQueueRecord as PurgeQueueRecord
from edgepub.purging import PurgeReport as PurgeReport
from edgepub.purging import purge_messages as purge_messages
from edgepub.s3events import parse_notification
from edgepub.settings import Settings
from edgepub.urls import expand

# Imported where used, so that each function's cold start loads only its own path:
# the publish function never calls Cloudflare (requests), and the purge function
# never renders (publisher: jinja2, yaml, cmarkgfm, nh3). tests/unit/test_cold_start.py
if TYPE_CHECKING:
    from edgepub.cloudflare import CloudflarePurger
    from edgepub.ports import PublishQueue
    from edgepub.publisher import Outcome, Publisher


def aws_publisher(settings: Settings) -> Publisher:
    """The publish function's publisher: S3 stores, the DynamoDB index, and the
    purge queue (or Cloudflare directly when no queue is configured)."""
    from edgepub.aws import S3PageStore, S3SourceStore, SqsPurgeQueue
    from edgepub.ports import Purger
    from edgepub.publisher import Publisher

    purger: Purger = SqsPurgeQueue(settings) if settings.purge_queue_url else aws_purger(settings)
    publisher = Publisher(
        settings,
        sources=S3SourceStore(settings),
        pages=S3PageStore(settings),
        purger=purger,
        index=aws_index(settings),
    )
    if settings.publish_queue_url:
        # a theme or config change renders every page again through the publish queue
        from edgepub.aws import SqsPublishQueue

        publisher.fanout = lambda: fan_out(publisher, SqsPublishQueue(settings))
    return publisher


def fan_out(publisher: Publisher, queue: PublishQueue) -> int:
    """Queue every live source and the site's own pages for rendering again; the count queued."""
    from edgepub import ops
    from edgepub.partial import PartialModel

    model = publisher.index.load()
    if isinstance(model, PartialModel):  # the table: article pages in chunks, rendered in parallel
        from edgepub import rerender

        if not model.live_count():
            return len(publisher.refresh_site_pages().written)
        return rerender.start(publisher, queue).chunks + 1
    if not any(e.live for e in model.entries.values()):
        return len(publisher.refresh_site_pages().written)
    return ops.republish(publisher, queue, everything=True).queued


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


def report_purges(
    report: PurgeReport,
    logger: _Logger,
    metrics: _Metrics,
    *,
    receives: Mapping[str, str | int | None] | None = None,
    max_receives: int | None = None,
) -> None:
    """One log line and the metrics for an invocation, and an error line for each failed
    message: what it asked, why it failed, its receive count and whether it was the last try
    before the purge dead-letter queue (`receives`: ApproximateReceiveCount by message id)."""
    from aws_lambda_powertools.metrics import MetricUnit

    limit = max_receive_count("purge") if max_receives is None else max_receives
    for message_id in report.failed_messages:
        count = _count((receives or {}).get(message_id))
        logger.error(
            f"purge message {message_id} failed: {report.failed_reasons.get(message_id, 'not purged')}; "
            + fate(count, limit, "purge"),
            extra={
                "message_id": message_id,
                "receive_count": count,
                "max_receive_count": limit,
                "last_try": last_try(count, limit),
            },
        )

    fields = {
        "messages": report.messages,
        "urls": report.urls,
        "tags": report.tags,
        "calls": report.calls,
        "retries": report.retries,
        # carried: sent by the next window's invocation (within EDGEPUB_PURGE_MAX_HOLD_SECONDS)
        "carried": report.carried,
        "carried_in": report.carried_in,
        "carry": report.carry,
        "oldest_wait_s": report.oldest_wait_s,
        "failed_items": report.failed_items[:50],
        "errors": report.errors[:10],
    }
    carried = f"; carried {report.carried} to the next window" if report.carried else ""
    if report.failed_messages:
        logger.warning(
            f"{len(report.failed_items)} items not purged; {len(report.failed_messages)} messages will be retried"
            + carried,
            extra=fields,
        )
    else:
        logger.info(f"purged {report.urls} URLs and {report.tags} tags in {report.calls} calls{carried}", extra=fields)
    metrics.add_metric(name="PurgeCalls", unit=MetricUnit.Count, value=report.calls)
    metrics.add_metric(name="PurgeUrlsCarried", unit=MetricUnit.Count, value=report.carried)
    metrics.add_metric(name="PurgeRetries", unit=MetricUnit.Count, value=report.retries)
    metrics.add_metric(name="UrlsPurgedAtEdge", unit=MetricUnit.Count, value=report.urls)
    metrics.add_metric(name="PurgeFailures", unit=MetricUnit.Count, value=len(report.failed_items))


SITE_PAGES_SECONDS = 15.0  # one invocation's share of a site-pages refresh (the function has 30 s)


def publish_message(publisher: Publisher, body: str, queue: PublishQueue | None = None) -> list[Outcome]:
    """Handle one SQS message body: S3 notifications (or republish requests in their
    shape), a re-render chunk, or a request to re-render the site's own pages. A refresh
    of the site's own pages that takes longer than `SITE_PAGES_SECONDS` queues the rest
    as another message (on `queue`, else the publish queue when there is one)."""
    from edgepub.plan import PageRef
    from edgepub.publisher import Outcome

    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("edgepub") == "rerender":
        from edgepub import rerender

        chunk = rerender.Chunk.from_message(message)
        applied = rerender.run_chunk(publisher, chunk)
        return [
            Outcome(
                f"(re-render {chunk.job} from {chunk.first})",
                "published" if applied.written else "unchanged",
                written=[p.path for p in applied.written],
                purged=applied.purged,
            )
        ]
    if isinstance(message, dict) and message.get("edgepub") == "site-pages":
        if queue is None and publisher.settings.publish_queue_url:
            from edgepub.aws import SqsPublishQueue

            queue = SqsPublishQueue(publisher.settings)
        start = message.get("after")
        after = PageRef(str(start[0]), tuple(str(a) for a in start[1])) if isinstance(start, list) else None
        applied = publisher.refresh_site_pages(after=after, seconds=SITE_PAGES_SECONDS if queue else 0.0)
        if applied.resume_after is not None and queue is not None:  # the rest, by another invocation
            rest = applied.resume_after
            queue.send([json.dumps({"edgepub": "site-pages", "after": [rest.kind, list(rest.args)]})])
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
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def max_receive_count(queue: str) -> int:
    """EDGEPUB_<QUEUE>_MAX_RECEIVE_COUNT (template.yaml's maxReceiveCount), read on its own so
    that a failure is still logged when other settings are broken; 0 when unknown."""
    import os

    try:
        return max(0, int(os.environ.get(f"EDGEPUB_{queue.upper()}_MAX_RECEIVE_COUNT", "0")))
    except ValueError:
        return 0


def _count(value: str | int | None) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def last_try(receives: int, max_receives: int) -> bool:
    return max_receives > 0 and receives >= max_receives


def fate(receives: int, max_receives: int, queue: str) -> str:
    """What SQS does next with a failed message, in words."""
    if last_try(receives, max_receives):
        return (
            f"that was the last try ({receives} of {max_receives}): SQS moves it to the {queue} dead-letter "
            f"queue (`edgepub dlq list --queue {queue}`)"
        )
    if max_receives > 0:
        return f"SQS delivers it again (try {receives} of {max_receives} before the {queue} dead-letter queue)"
    return f"SQS delivers it again (try {receives}; the {queue} queue's maxReceiveCount is not configured here)"


def report_failed_record(
    body: str,
    receive_count: str | int | None,
    error: BaseException,
    logger: _Logger,
    *,
    max_receives: int | None = None,
) -> None:
    """Log, at error level, a publish record that failed: the source keys it carries, the
    exception, its receive count and whether it was the last try before the publish
    dead-letter queue. The caller re-raises, so that the record is reported failed."""
    from edgepub.s3events import carried

    found = carried(body)
    count = _count(receive_count)
    limit = max_receive_count("publish") if max_receives is None else max_receives
    what = ", ".join(found.keys) or found.note
    logger.error(
        f"publish failed for {what}: {type(error).__name__}: {error}; " + fate(count, limit, "publish"),
        exc_info=error,
        extra={
            "source_keys": list(found.keys),
            "event_names": list(found.event_names),
            "error_type": type(error).__name__,
            "error": str(error),
            "receive_count": count,
            "max_receive_count": limit,
            "last_try": last_try(count, limit),
        },
    )


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
    from edgepub.errors import InvalidRequest
    from edgepub.freshness import FreshnessPolicy
    from edgepub.jobs import job_payload, repair_drift, run_freshness, run_transitions

    payload = job_payload(event)
    settings = publisher.settings
    job = payload.get("job")
    if job not in JOBS:
        raise InvalidRequest(f"unknown job {job!r}: expected {', '.join(JOBS)}")
    moment = parse_moment(str(payload["now"])) if payload.get("now") else (now or publisher.clock())
    dry_run = bool(payload.get("dry_run", False))
    index: Any = publisher.index
    if job == "transitions":
        return run_transitions(publisher, index, moment, dry_run=dry_run)
    if job == "freshness":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from edgepub.errors import ConfigurationError

        try:
            zone = ZoneInfo(settings.report_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"EDGEPUB_REPORT_TIMEZONE={settings.report_timezone!r} is not an IANA time zone"
            ) from None
        today = moment.astimezone(zone).date()
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
    raw_batch = payload.get("batch", settings.drift_batch)
    try:
        batch = int(raw_batch)
    except (TypeError, ValueError):
        batch = 0
    if batch < 1:
        raise InvalidRequest(f"batch must be a whole number of pages, 1 or more, got {raw_batch!r}")
    return repair_drift(publisher, index, batch=batch, dry_run=dry_run)


JOBS = ("transitions", "freshness", "drift")


def parse_moment(raw: str) -> datetime:
    """An ISO 8601 time as a job's "now"; a time without an offset is UTC."""
    from datetime import UTC

    from edgepub.errors import InvalidRequest

    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidRequest(f"now: {raw!r} is not an ISO 8601 time (for example 2030-01-01T07:00:00+00:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


OPS_ACTIONS = (
    "status",
    "republish",
    "unpublish",
    "rollback",
    "purge",
    "reconcile",
    "relayout",
    "rerender",
    "migrate_index",
    "dlq_list",
    "dlq_redrive",
)


def run_ops(publisher: Publisher, event: dict[str, Any]) -> dict[str, Any]:
    """One operator action, as the ops function and the CLI both run it.

    {"action": "status", "slug": S} | {"action": "republish", "slugs": [...] | "all": true | "tag": T}
    | {"action": "unpublish", "slug": S} | {"action": "rollback", "slug": S, "to": VERSION}
    | {"action": "purge", "urls": [...], "tags": [...], "prefixes": [...]} | {"action": "reconcile"}
    | {"action": "rerender"}: every article page rendered again in chunks, in parallel;
      with "job": J, how many of its chunks are done
    | {"action": "migrate_index"}: move an index an older edgepub wrote to the current layout
    | {"action": "dlq_list" | "dlq_redrive", "queue": "publish" | "purge"};
    any of them with "dry_run": true. A request that cannot be acted on as given
    raises InvalidRequest (exit code 2).
    """
    from dataclasses import asdict

    from edgepub import ops
    from edgepub.aws import S3PageStore, SqsPublishQueue
    from edgepub.errors import InvalidRequest
    from edgepub.urls import check_purge_request

    settings = publisher.settings
    action = event.get("action")
    dry_run = bool(event.get("dry_run", False))
    pages = S3PageStore(settings)
    if action == "status":
        from edgepub.aws import dynamo_table
        from edgepub.ledger import DynamoLedger

        return ops.page_status(
            publisher, pages, _slug(event, settings.source_prefix), DynamoLedger(dynamo_table(settings))
        )
    if action == "republish":
        result: Any = ops.republish(
            publisher,
            SqsPublishQueue(settings),
            slugs=_strings(event, "slugs"),
            everything=bool(event.get("all")),
            tag=str(event.get("tag", "")),
            dry_run=dry_run,
        )
    elif action == "unpublish":
        result = ops.unpublish(publisher, _slug(event), dry_run=dry_run)
    elif action == "rollback":
        result = ops.rollback(publisher, pages, _slug(event), str(event.get("to", "")), dry_run=dry_run)
    elif action == "purge":
        if event.get("everything"):
            raise InvalidRequest("purge everything is not an ops-function action: use the CLI, which asks")
        urls, tags, prefixes = _strings(event, "urls"), _strings(event, "tags"), _strings(event, "prefixes")
        check_purge_request(urls, tags, prefixes)
        items = {
            "files": expand(urls, settings),  # as visitors request them
            "tags": tags,
            "prefixes": prefixes,
        }
        if dry_run:
            return {"dry_run": True, **items}
        purge_result = aws_purger(settings).purge_items(items)
        return {
            "receipts": [asdict(r) for r in purge_result.receipts],
            "failed": [{"form": f, "items": list(i), "error": str(e)} for f, i, e in purge_result.failed],
        }
    elif action == "reconcile":
        result = ops.reconcile(publisher, SqsPublishQueue(settings), dry_run=dry_run)
    elif action == "relayout":
        result = ops.relayout(publisher, dry_run=dry_run)
    elif action == "rerender":
        from edgepub import rerender

        if event.get("job"):  # how far a re-render got
            job = str(event["job"])
            return {"job": job, "done": rerender.progress(publisher, job)}
        if dry_run:
            live = publisher.index.load().live_count()
            return {"dry_run": True, "live": live, "chunks": -(-live // rerender.CHUNK)}
        result = rerender.start(publisher, SqsPublishQueue(settings))
    elif action == "migrate_index":
        from edgepub.index import DynamoIndex

        if not isinstance(publisher.index, DynamoIndex):
            raise InvalidRequest("migrate_index moves the DynamoDB index; this target has none")
        return {"moved": publisher.index.migrate()}
    elif action in ("dlq_list", "dlq_redrive"):
        return dead_letters(settings, action, str(event.get("queue", "publish")), dry_run=dry_run)
    else:
        raise InvalidRequest(f"unknown action {action!r}: expected one of {', '.join(OPS_ACTIONS)}")
    return asdict(result)


def dead_letters(settings: Settings, action: str, queue: str, *, dry_run: bool = False) -> dict[str, Any]:
    """List (`dlq_list`) or redrive (`dlq_redrive`) a dead-letter queue (edgepub.dlq)."""
    from dataclasses import asdict

    from edgepub.aws import client
    from edgepub.dlq import DeadLetterQueue

    dlq = DeadLetterQueue.for_queue(settings, client("sqs", settings), queue)
    if action == "dlq_list":
        return {"queue": queue, "messages": [asdict(m) for m in dlq.letters()]}
    return asdict(dlq.redrive(dry_run=dry_run))


def _slug(event: dict[str, Any], source_prefix: str = "") -> str:
    """The request's slug: a site path segment (UnsafePath, exit 2, otherwise), or, where
    `source_prefix` is given, a source key under it."""
    from edgepub.errors import InvalidRequest
    from edgepub.pages import key_for_path

    slug = event.get("slug")
    if not isinstance(slug, str) or not slug.strip():
        raise InvalidRequest("a slug is required (status also takes a source key such as content/a.md)")
    slug = slug.strip()
    if not (source_prefix and slug.startswith(source_prefix)):
        key_for_path(f"/{slug}/")
    return slug


def _strings(event: dict[str, Any], name: str) -> list[str]:
    from edgepub.errors import InvalidRequest

    value = event.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{name} must be a list of strings, not a {type(value).__name__}")
    return value
