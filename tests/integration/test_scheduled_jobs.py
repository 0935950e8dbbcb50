"""The scheduler function on the embedded stack: its schedules come from
template.yaml and fire with their Input, as EventBridge Scheduler would."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from edgepub import service
from edgepub.settings import Settings

pytestmark = pytest.mark.embedded


def put(stack: Any, name: str, body: bytes) -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=body)


def site_keys(stack: Any) -> set[str]:
    return {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket).get("Contents", [])}


def test_schedules_are_the_templates(stack):
    assert {name: payload for name, (_, payload) in stack.schedules.items()} == {
        "SchedulerFunctionTransitions": {"job": "transitions"},
        "SchedulerFunctionFreshnessReport": {"job": "freshness"},
        "SchedulerFunctionDriftRepair": {"job": "drift"},
    }


def test_two_overlapping_transition_runs_publish_a_scheduled_article_once(stack):
    put(stack, "soon.md", b"---\ntitle: Soon\ndate: 2026-11-22\npublishDate: 2030-01-01T00:00:00Z\n---\nx\n")
    stack.run_until_idle()
    assert "soon/index.html" not in site_keys(stack)
    settings = Settings.from_env(stack.settings_env())
    results: list[Any] = []

    def run() -> None:  # each run is its own "container": its own publisher and index cache
        results.append(
            service.run_job(service.aws_publisher(settings), {"job": "transitions", "now": "2030-01-01T00:05:00+00:00"})
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r.published) for r in results) == [0, 1]
    assert "soon/index.html" in site_keys(stack)
    stack.run_until_idle()
    assert stack.cloudflare.state.purged_urls().count("https://www.example.com/soon/") == 1


def test_expired_article_is_taken_down_by_the_schedule(stack):
    put(stack, "brief.md", b"---\ntitle: Brief\ndate: 2026-11-01\nexpiryDate: 2030-01-01T00:00:00Z\n---\nx\n")
    stack.run_until_idle()
    assert "brief/index.html" in site_keys(stack)
    result = stack.run_schedule("SchedulerFunctionTransitions", now="2030-01-01T00:00:01+00:00")
    assert result["expired"] == ["brief"]
    assert "brief/index.html" not in site_keys(stack)
    stack.run_until_idle()
    assert "https://www.example.com/brief/" in stack.cloudflare.state.purged_urls()


def test_drift_repair_restores_a_deleted_and_a_hand_edited_page_and_deletes_orphans(stack):
    put(stack, "one.md", b"---\ntitle: One\ndate: 2026-10-01\n---\nOne.\n")
    put(stack, "two.md", b"---\ntitle: Two\ndate: 2026-10-02\n---\nTwo.\n")
    stack.run_until_idle()
    original = stack.s3.get_object(Bucket=stack.site_bucket, Key="two/index.html")["Body"].read()
    stack.s3.delete_object(Bucket=stack.site_bucket, Key="one/index.html")
    stack.s3.put_object(Bucket=stack.site_bucket, Key="two/index.html", Body=b"<p>edited by hand</p>")
    # a page edgepub stored for an article no longer there (a writer died), and a file an operator put there
    stack.s3.put_object(
        Bucket=stack.site_bucket, Key="stray/index.html", Body=b"left behind", Metadata={"content-hash": "0" * 64}
    )
    stack.s3.put_object(Bucket=stack.site_bucket, Key="favicon.ico", Body=b"an operator's file")
    purges_before = len(stack.cloudflare.state.purged_urls())

    dry = stack.run_schedule("SchedulerFunctionDriftRepair", dry_run=True)
    assert sorted(dry["repaired"]) == ["/one/", "/two/"]
    assert "one/index.html" not in site_keys(stack)  # a dry run changes nothing

    first = stack.run_schedule("SchedulerFunctionDriftRepair")
    assert sorted(first["repaired"]) == ["/one/", "/two/"]
    assert "one/index.html" in site_keys(stack)
    assert stack.s3.get_object(Bucket=stack.site_bucket, Key="two/index.html")["Body"].read() == original
    stack.run_until_idle()
    assert {"https://www.example.com/one/", "https://www.example.com/two/"} <= set(
        stack.cloudflare.state.purged_urls()[purges_before:]
    )
    second = stack.run_schedule("SchedulerFunctionDriftRepair")  # the orphan pass, resumed from the cursor
    assert second["orphans"] == ["/stray/"] and second["done"]
    assert "stray/index.html" not in site_keys(stack) and "favicon.ico" in site_keys(stack)
    stack.run_until_idle()
    assert "https://www.example.com/stray/" in stack.cloudflare.state.purged_urls()
    third = stack.run_schedule("SchedulerFunctionDriftRepair")  # a new round: nothing left to repair
    assert third["repaired"] == []


def test_freshness_report_is_stored_and_notifies_once(stack):
    sqs, sns = stack.client("sqs"), stack.client("sns")
    inbox = sqs.create_queue(QueueName="owners-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.outputs["FreshnessTopicArn"], Protocol="sqs", Endpoint=inbox_arn)
    put(stack, "old.md", b"---\ntitle: Old\nowner: team-a\nrevision: {last reviewed: 2025-01-01}\n---\nx\n")
    put(stack, "new.md", b"---\ntitle: New\nowner: team-b\nrevision: {last reviewed: 2026-11-01}\n---\nx\n")
    put(stack, "never.md", b"---\ntitle: Never\nowner: team-b\n---\nx\n")
    stack.run_until_idle()

    now = "2026-11-22T08:00:00+00:00"
    first = stack.run_schedule("SchedulerFunctionFreshnessReport", now=now)
    second = stack.run_schedule("SchedulerFunctionFreshnessReport", now=now)  # a retry of the same day
    assert first["counts"] == {
        "fresh": 1,
        "due_soon": 0,
        "overdue": 1,
        "never_reviewed": 1,
        "expired": 0,
        "scheduled": 0,
        "published": 3,
    }
    assert first["items_read"] == 2  # the fresh article was never read
    assert first["notified"] and not second["notified"]
    stored = json.loads(
        stack.s3.get_object(Bucket=stack.sources_bucket, Key="reports/freshness/2026-11-22.json")["Body"].read()
    )
    assert stored["counts"]["overdue"] == 1
    messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])["Message"]
    assert "team-a: 1" in body and "team-b: 1" in body


def test_scheduler_payload_without_input_is_refused_clearly(stack):
    from edgepub.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="unknown job None: expected transitions, freshness, drift"):
        stack.invoke("SchedulerFunction", {"detail-type": "Scheduled Event", "detail": "{}"})
