"""Purge function: the purge queue's batches, coalesced into the fewest Cloudflare calls.

Publishers enqueue the URLs (and cache tags) they changed; the event source
mapping's batching window gathers a burst of them into one invocation, which
de-duplicates across every message, expands each URL to the URLs visitors
request (extra hostnames, trailing-slash policy) and purges in batches at the
plan's limits, paced and retried. A busy invocation sends only full batches and
carries the remainder to the next window (edgepub.carry, bounded by
EDGEPUB_PURGE_MAX_HOLD_SECONDS). Messages whose items could not be purged are
reported as failures, so SQS delivers them again and, in the end, to the DLQ.
Records are coalesced, so this handler reports partial failures itself rather
than through Powertools' one-record-at-a-time batch processor.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from edgepub import service
from edgepub.settings import Settings

if TYPE_CHECKING:  # requests loads with the first event; the publisher (jinja2, yaml) never does
    from edgepub.cloudflare import CloudflarePurger

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"edgepub"})
# AWS here; Cloudflare (requests) when the first purger is built: edgepub.cloudflare.trace_requests
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()


@cache
def purger() -> CloudflarePurger:
    return service.aws_purger(Settings.from_env())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sqs_records = list(SQSEvent(event).records)
    records = [(r.message_id, r.body, r.attributes.get("SentTimestamp")) for r in sqs_records]
    client = purger()
    client.time_left = lambda: context.get_remaining_time_in_millis() / 1000 - 5
    report = service.purge_messages(client, records)
    receives = {r.message_id: r.attributes.get("ApproximateReceiveCount") for r in sqs_records}
    service.report_purges(report, logger, metrics, receives=receives)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_messages]}
