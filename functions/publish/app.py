"""Publish function: SQS batches of S3 notifications from the sources bucket.

Each record is one source change, published by the library; a record that fails
for a reason retrying can fix is reported back so SQS retries only that record.
Invalid sources are not failures: they are reported and the record is done.
A failed record is logged at error level with the source keys it carries, its
receive count, and whether that was its last try before the publish DLQ.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from edgepub import service
from edgepub.settings import Settings

if TYPE_CHECKING:  # the publisher (jinja2, yaml, markdown) loads with the first event
    from edgepub.publisher import Publisher

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"edgepub"})
tracer = Tracer(patch_modules=["botocore"])  # what it calls; patching all would import requests, sqlite3
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def publisher() -> Publisher:
    return service.aws_publisher(Settings.from_env())


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    logger.append_keys(message_id=record.message_id)
    try:
        service.report(service.publish_message(publisher(), record.body), logger, metrics)
    except Exception as error:
        service.report_failed_record(record.body, record.attributes.get("ApproximateReceiveCount"), error, logger)
        raise  # the batch processor reports the record failed


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
