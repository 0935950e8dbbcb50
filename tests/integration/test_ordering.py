"""Late, duplicate and out-of-order S3 notifications, in AWS's documented shape
(moto's notifications carry no sequencer), through the publish function."""

from __future__ import annotations

import json
from typing import Any

import pytest
from edgepub.embedded.stack import EmbeddedStack

pytestmark = pytest.mark.embedded

KEY = "content/ordered.md"
V1 = b"---\ntitle: Version one\ndate: 2026-10-01\n---\nOne.\n"
V2 = b"---\ntitle: Version two\ndate: 2026-10-01\n---\nTwo.\n"


def event(stack: EmbeddedStack, name: str, sequencer: str) -> dict[str, Any]:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-22T10:00:00.000Z",
        "eventName": name,
        "s3": {
            "bucket": {"name": stack.sources_bucket},
            "object": {"key": "content/ordered.md", "sequencer": sequencer},
        },
    }
    return {
        "Records": [
            {
                "messageId": f"m-{sequencer}",
                "receiptHandle": "r",
                "body": json.dumps({"Records": [record]}),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:edgepub-publish",
                "awsRegion": "us-east-1",
            }
        ]
    }


@pytest.fixture
def quiet(stack: EmbeddedStack) -> EmbeddedStack:
    """The stack with bucket notifications off: the test delivers events itself."""
    stack.run_until_idle()
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    return stack


def page(stack: EmbeddedStack) -> bytes | None:
    try:
        return bytes(stack.s3.get_object(Bucket=stack.site_bucket, Key="ordered/index.html")["Body"].read())
    except stack.s3.exceptions.NoSuchKey:
        return None


def purges(stack: EmbeddedStack) -> int:
    return len(stack.cloudflare.state.purges)


def test_late_older_event_does_not_overwrite_a_newer_publish(quiet):
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V1)
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V2)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000002"))
    assert b"Version two" in (page(quiet) or b"")
    before = purges(quiet)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000001"))  # arrives late
    assert b"Version two" in (page(quiet) or b"")
    assert purges(quiet) == before


def test_duplicate_event_changes_nothing(quiet):
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V1)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000001"))
    versions = quiet.s3.list_object_versions(Bucket=quiet.site_bucket)["Versions"]
    before = purges(quiet)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000001"))
    assert quiet.s3.list_object_versions(Bucket=quiet.site_bucket)["Versions"] == versions
    assert purges(quiet) == before


def test_late_create_does_not_resurrect_a_deleted_article(quiet):
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V1)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000001"))
    quiet.s3.delete_object(Bucket=quiet.sources_bucket, Key=KEY)
    quiet.invoke("PublishFunction", event(quiet, "ObjectRemoved:DeleteMarkerCreated", "0062A0000000000003"))
    assert page(quiet) is None
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", "0062A0000000000002"))  # late
    assert page(quiet) is None


def test_out_of_order_even_without_sequencers_converges_on_the_current_object(quiet):
    # the publisher reads the object as it is now, so an old event only re-syncs the key
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V1)
    quiet.s3.put_object(Bucket=quiet.sources_bucket, Key=KEY, Body=V2)
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", ""))
    quiet.invoke("PublishFunction", event(quiet, "ObjectCreated:Put", ""))
    assert b"Version two" in (page(quiet) or b"")
