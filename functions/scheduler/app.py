"""Scheduled jobs, run by EventBridge Scheduler (and by operators on demand):

- ``{"job": "transitions"}`` every 5 minutes: scheduled articles published, expired ones unpublished
- ``{"job": "freshness"}`` daily: the revision-freshness report and the owners' notification
- ``{"job": "drift"}`` hourly: pages checked against the index and repaired; orphans deleted and purged

Add ``"dry_run": true`` to see what a job would do without changing anything.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from edgepub import service
from edgepub.settings import Settings

if TYPE_CHECKING:  # the publisher (jinja2, yaml, markdown) loads with the first event
    from edgepub.publisher import Publisher

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"edgepub"})
tracer = Tracer(patch_modules=["botocore"])  # what it calls; patching all would import requests, sqlite3
metrics = Metrics()


@cache
def publisher() -> Publisher:
    return service.aws_publisher(Settings.from_env())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = service.run_job(publisher(), event)
    service.report_job(result, logger, metrics)
    return asdict(result)
