"""A failed publish record or purge message is logged at error level with what it
carried, why it failed, its receive count and whether it was the last try before the
dead-letter queue. Logged through a real Powertools Logger into a buffer."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from aws_lambda_powertools import Logger
from edgepub.s3events import carried
from edgepub.service import PurgeReport, fate, report_failed_record, report_purges

from tests.support.notifications import s3_notification as notification


class Metrics:
    def add_metric(self, name: str, unit: object, value: float) -> None:
        pass


def logger() -> tuple[Logger, io.StringIO]:
    buffer = io.StringIO()
    return Logger(service=f"edgepub-test-{uuid.uuid4().hex}", stream=buffer), buffer


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_a_failed_publish_record_names_its_source_keys_and_its_fate():
    log, buffer = logger()
    body = notification("sources", "content/a b.md")
    try:
        raise TimeoutError("S3 read timed out")
    except TimeoutError as error:  # as in the handler: logged while handled, then re-raised
        report_failed_record(body, "2", error, log, max_receives=5)
    (line,) = lines(buffer)
    assert line["level"] == "ERROR"
    message = str(line["message"])
    assert message.startswith("publish failed for content/a b.md: TimeoutError: S3 read timed out;")
    assert "SQS delivers it again (try 2 of 5 before the publish dead-letter queue)" in message
    assert line["source_keys"] == ["content/a b.md"] and line["receive_count"] == 2 and line["last_try"] is False
    assert "Traceback" in str(line.get("exception", ""))


def test_the_last_try_says_the_message_goes_to_the_dlq():
    log, buffer = logger()
    report_failed_record(notification("s", "content/x.md"), 5, RuntimeError("boom"), log, max_receives=5)
    (line,) = lines(buffer)
    assert line["last_try"] is True
    assert "that was the last try (5 of 5): SQS moves it to the publish dead-letter queue" in str(line["message"])
    assert "edgepub dlq list --queue publish" in str(line["message"])


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("garbage", "SQS message body is not JSON"),
        ('{"Records": [{"s3": {}}]}', "S3 record is missing"),
        ('{"edgepub": "site-pages"}', "re-render the site's own pages"),
        ('{"Event": "s3:TestEvent"}', "s3:TestEvent"),
    ],
)
def test_a_body_that_is_not_a_notification_is_described_not_raised(body, says):
    assert says in carried(body).note
    log, buffer = logger()
    report_failed_record(body, None, ValueError("x"), log, max_receives=5)
    assert says in str(lines(buffer)[0]["message"])


def test_the_receive_limit_comes_from_the_environment_as_template_yaml_sets_it(monkeypatch):
    monkeypatch.setenv("EDGEPUB_PUBLISH_MAX_RECEIVE_COUNT", "5")
    log, buffer = logger()
    report_failed_record(notification("s", "content/x.md"), "5", RuntimeError("boom"), log)
    assert lines(buffer)[0]["max_receive_count"] == 5 and lines(buffer)[0]["last_try"] is True
    monkeypatch.delenv("EDGEPUB_PUBLISH_MAX_RECEIVE_COUNT")
    assert "maxReceiveCount is not configured" in fate(3, 0, "publish")


def test_failed_purge_messages_are_each_logged_with_their_fate():
    log, buffer = logger()
    report = PurgeReport(messages=2, failed_items=["https://www.example.com/a/"], failed_messages=["m1", "m2"])
    report.failed_reasons = {"m1": "1 of its 2 URLs and tags not purged (HTTP 503)", "m2": "not a purge request: x"}
    report_purges(report, log, Metrics(), receives={"m1": "8", "m2": "3"}, max_receives=8)
    errors = [line for line in lines(buffer) if line["level"] == "ERROR"]
    assert [e["message_id"] for e in errors] == ["m1", "m2"]
    assert "purge message m1 failed: 1 of its 2 URLs and tags not purged (HTTP 503)" in str(errors[0]["message"])
    assert "last try (8 of 8): SQS moves it to the purge dead-letter queue" in str(errors[0]["message"])
    assert "try 3 of 8" in str(errors[1]["message"]) and errors[1]["last_try"] is False
