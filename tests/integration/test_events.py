"""Every payload in events/ is a real input: invoke the function it belongs to
with it, on the embedded stack, as `aws lambda invoke` would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((EVENTS / name).read_text())
    return loaded


def test_every_event_file_is_covered_here():
    covered = {
        "publish-s3-put.json",
        "publish-s3-delete.json",
        "publish-s3-testevent.json",
        "publish-s3-theme.json",
        "purge-sqs.json",
        "scheduler-transitions.json",
        "scheduler-freshness-dry-run.json",
        "scheduler-drift.json",
        "scheduler-eventbridge-freshness.json",
        "ops-status.json",
        "ops-republish.json",
        "ops-republish-all-dry-run.json",
        "ops-unpublish-dry-run.json",
        "ops-rollback.json",
        "ops-purge.json",
        "ops-reconcile-dry-run.json",
        "ops-relayout-dry-run.json",
        "ops-rerender.json",
        "ops-migrate-index.json",  # invoked by test_index_queries.py
        "ops-dlq-list.json",
    }
    assert {p.name for p in EVENTS.glob("*.json")} == covered


def test_publish_events_put_then_delete(stack, samples):
    stack.run_until_idle()  # the notification's own s3:TestEvent
    # the object the sample event names, without the notification it would send
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="content/purge-only-what-changed.md",
        Body=(samples / "purge-only-what-changed.md").read_bytes(),
    )
    assert stack.invoke("PublishFunction", load("publish-s3-put.json")) == {"batchItemFailures": []}
    assert stack.s3.head_object(Bucket=stack.site_bucket, Key="purge-only-what-changed/index.html")
    stack.run_until_idle()  # the purge function drains what the publisher queued
    assert "https://www.example.com/purge-only-what-changed/" in stack.cloudflare.state.purged_urls()

    stack.s3.delete_object(Bucket=stack.sources_bucket, Key="content/purge-only-what-changed.md")
    assert stack.invoke("PublishFunction", load("publish-s3-delete.json")) == {"batchItemFailures": []}
    keys = {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket)["Contents"]}
    assert "purge-only-what-changed/index.html" not in keys and "index.html" in keys


def test_a_theme_event_renders_the_site_again_with_the_override(stack):
    stack.run_until_idle()
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/a.md", Body=b"---\ntitle: A\n---\nBody.\n")
    stack.run_until_idle()
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="theme/templates/article.html",
        Body=b'{% extends "builtin/article.html" %}{% block title %}Read: {{ a.title }}{% endblock %}',
    )
    assert stack.invoke("PublishFunction", load("publish-s3-theme.json")) == {"batchItemFailures": []}
    stack.run_until_idle()  # the fan-out: the article and the site's own pages, through the publish queue
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="a/index.html")["Body"].read()
    assert b"<title>Read: A</title>" in page


def test_purge_event_purges_its_urls(stack):
    assert stack.invoke("PurgeFunction", load("purge-sqs.json")) == {"batchItemFailures": []}
    assert stack.cloudflare.state.purged_urls() == [
        "https://www.example.com/purge-only-what-changed/",
        "https://www.example.com/",
        "https://www.example.com/feed.xml",
    ]


def test_publish_test_event_does_nothing(stack):
    assert stack.invoke("PublishFunction", load("publish-s3-testevent.json")) == {"batchItemFailures": []}
    assert stack.cloudflare.state.purges == []


def test_scheduler_events(stack):
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/a.md", Body=b"---\ntitle: A\n---\nx\n")
    stack.run_until_idle()
    assert stack.invoke("SchedulerFunction", load("scheduler-transitions.json"))["published"] == []
    dry = stack.invoke("SchedulerFunction", load("scheduler-freshness-dry-run.json"))
    assert dry["dry_run"] and dry["counts"]["never_reviewed"] == 1
    assert stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="reports/")["KeyCount"] == 0
    assert stack.invoke("SchedulerFunction", load("scheduler-drift.json"))["repaired"] == []
    report = stack.invoke("SchedulerFunction", load("scheduler-eventbridge-freshness.json"))
    assert report["counts"]["published"] == 1 and not report["dry_run"]


def test_ops_events(stack, samples):
    body = (samples / "purge-only-what-changed.md").read_bytes()
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/purge-only-what-changed.md", Body=body)
    stack.run_until_idle()
    status = stack.invoke("OpsFunction", load("ops-status.json"))
    assert status["entry"]["status"] == "published" and len(status["versions"]) == 1
    assert stack.invoke("OpsFunction", load("ops-republish-all-dry-run.json"))["keys"] == [
        "content/purge-only-what-changed.md"
    ]
    assert stack.invoke("OpsFunction", load("ops-unpublish-dry-run.json"))["dry_run"] is True
    assert stack.invoke("OpsFunction", load("ops-reconcile-dry-run.json"))["missing_from_index"] == []
    relayout = stack.invoke("OpsFunction", load("ops-relayout-dry-run.json"))
    assert relayout["dry_run"] is True and relayout["moved"] == 0  # one article: already in date order
    started = stack.invoke("OpsFunction", load("ops-rerender.json"))
    assert started["chunks"] == 1 and not started["resumed"]
    stack.run_until_idle()  # a publish function renders the chunk, then the site's own pages
    done = stack.invoke("OpsFunction", {"action": "rerender", "job": started["job"]})
    assert done == {"job": started["job"], "done": 1}
    assert stack.invoke("OpsFunction", load("ops-dlq-list.json")) == {"queue": "publish", "messages": []}
    # nothing to roll back to yet: the error comes back as data, with its exit code
    refused = stack.invoke("OpsFunction", load("ops-rollback.json"))
    assert refused["type"] == "OperatorError" and refused["exit_code"] == 3
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="content/purge-only-what-changed.md",
        Body=body.replace(b"crutch", b"bad habit"),
    )
    stack.run_until_idle()
    assert stack.invoke("OpsFunction", load("ops-rollback.json"))["restored_version"]
    queued = stack.invoke("OpsFunction", load("ops-republish.json"))
    assert queued["queued"] == 1
    stack.run_until_idle()
    purged = stack.invoke("OpsFunction", load("ops-purge.json"))
    assert purged["failed"] == [] and purged["receipts"][0]["items"] == [
        "https://www.example.com/purge-only-what-changed/"
    ]
