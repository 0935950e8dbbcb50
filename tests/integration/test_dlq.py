"""Dead letters on the embedded stack: what the publish and purge queues gave up on is
listed by what it carries, and redriven back (deleted only once sent)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgepub.cli import cli

from tests.support.notifications import s3_notification

pytestmark = pytest.mark.embedded

SOURCE = b"---\ntitle: Came back\ndate: 2026-10-01\n---\nPublished after a redrive.\n"


def depth(stack, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def test_publish_dlq_list_and_redrive_publish_the_source(stack):
    sqs = stack.client("sqs")
    dlq, queue = stack.outputs["PublishDLQUrl"], stack.outputs["PublishQueueUrl"]
    stack.run_until_idle()  # the s3:TestEvent of the stack's creation
    # the source is there; its notification ended in the DLQ (notifications off, so only ours exists)
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/came back.md", Body=SOURCE)
    sqs.send_message(
        QueueUrl=dlq, MessageBody=s3_notification(stack.sources_bucket, "content/came back.md", size=len(SOURCE))
    )
    env = stack.settings_env()
    runner = CliRunner()

    listed = runner.invoke(cli, ["dlq", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == "1 message in the publish dead-letter queue:"
    assert lines[1].split()[:3] == ["MESSAGE", "ID", "SENT"]
    assert "content/came back.md" in lines[2] and "ObjectCreated:Put" in lines[2]
    as_json = json.loads(runner.invoke(cli, ["dlq", "list", "--json"], env=env).output)
    assert as_json["messages"][0]["source_keys"] == ["content/came back.md"]
    assert as_json["messages"][0]["sent"].startswith("20")

    dry = runner.invoke(cli, ["dlq", "redrive", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "Would move 1 message back to the publish queue" in dry.output and "content/came back.md" in dry.output
    assert depth(stack, dlq) == 1 and depth(stack, queue) == 0

    moved = runner.invoke(cli, ["dlq", "redrive"], env=env)
    assert moved.exit_code == 0, moved.output
    assert moved.output.startswith("Moved 1 message back to the publish queue.")
    assert depth(stack, dlq) == 0 and depth(stack, queue) == 1
    stack.run_until_idle()
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="came-back/index.html")["Body"].read().decode()
    assert "Published after a redrive." in page
    assert runner.invoke(cli, ["dlq", "list"], env=env).output.strip() == "The publish dead-letter queue is empty."


def test_a_message_the_publish_function_cannot_read_ends_in_the_dlq_after_its_retries(stack):
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.outputs["PublishQueueUrl"], MessageBody="not an S3 notification")
    stack.run_until_idle()  # five deliveries, each failing; then SQS moves it
    result = CliRunner().invoke(cli, ["dlq", "list", "--json"], env=stack.settings_env())
    (message,) = json.loads(result.output)["messages"]
    assert message["source_keys"] == [] and "not JSON" in message["note"]
    assert message["receives"] >= 5
    text = CliRunner().invoke(cli, ["dlq", "list"], env=stack.settings_env()).output
    assert "SQS message body is not JSON" in text


def test_purge_dlq_list_and_redrive(stack):
    sqs = stack.client("sqs")
    body = json.dumps({"urls": ["https://www.example.com/a/", "https://www.example.com/b/"], "tags": ["listing:home"]})
    sqs.send_message(QueueUrl=stack.outputs["PurgeDLQUrl"], MessageBody=body)
    env = stack.settings_env()
    listed = CliRunner().invoke(cli, ["dlq", "list", "--queue", "purge"], env=env)
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()[1:3]
    assert header.split() == ["MESSAGE", "ID", "SENT", "RECEIVES", "URLS", "TAGS", "NOTE"]
    assert row.split()[-3:] == ["2", "1", "-"]
    moved = CliRunner().invoke(cli, ["dlq", "redrive", "--queue", "purge", "--json"], env=env)
    assert json.loads(moved.output)["moved"] == 1
    stack.run_until_idle()
    purged = {u for p in stack.cloudflare.state.purges for u in p.items}
    assert {"https://www.example.com/a/", "https://www.example.com/b/", "listing:home"} <= purged


def test_the_ops_function_lists_dead_letters_and_refuses_bad_requests_with_exit_code_2(stack):
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["PublishDLQUrl"], MessageBody=s3_notification(stack.sources_bucket, "content/x.md")
    )
    listed = stack.invoke("OpsFunction", {"action": "dlq_list", "queue": "publish"})
    assert listed["messages"][0]["source_keys"] == ["content/x.md"]
    for payload, kind in [
        ({"action": "dlq_list", "queue": "nope"}, "InvalidRequest"),
        ({"action": "rollback", "slug": "a/../b"}, "UnsafePath"),
        ({"action": "status"}, "InvalidRequest"),
        ({"action": "purge", "urls": ["notaurl"]}, "InvalidRequest"),
        ({"action": "purge", "urls": "https://www.example.com/"}, "InvalidRequest"),
        ({"action": "explode"}, "InvalidRequest"),
    ]:
        refused = stack.invoke("OpsFunction", payload)
        assert refused["exit_code"] == 2 and refused["type"] == kind, (payload, refused)
        assert "{'" not in refused["error"]
