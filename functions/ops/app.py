"""Ops function: operator actions that must run inside AWS (`edgepub --stack NAME ...`
invokes it; so can `aws lambda invoke` with a payload from events/ops-*.json).

Actions: status, republish, unpublish, rollback, purge, reconcile; each accepts
"dry_run": true. Errors come back as {"error": ..., "type": ...} so that the
caller can say what went wrong, and are logged.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from edgepub import service
from edgepub.errors import EdgepubError
from edgepub.settings import Settings

if TYPE_CHECKING:  # the publisher (jinja2, yaml, markdown) loads with the first event
    from edgepub.publisher import Publisher

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"edgepub"})
# AWS here; Cloudflare (requests) when the first purger is built: edgepub.cloudflare.trace_requests
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()


@cache
def publisher() -> Publisher:
    return service.aws_publisher(Settings.from_env())


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = str(event.get("action", ""))
    try:
        result = service.run_ops(publisher(), event)
    except EdgepubError as error:
        logger.warning(f"{action} refused: {error}")
        metrics.add_metric(name="OpsRefused", unit=MetricUnit.Count, value=1)
        return {"error": str(error), "type": type(error).__name__, "exit_code": error.exit_code}
    metrics.add_metric(name="OpsActions", unit=MetricUnit.Count, value=1)
    return result
