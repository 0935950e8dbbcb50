"""Hostile sources through the pipeline on the embedded stack: every one is
published safely or rejected with a report naming the key and the field, none
ends in a dead-letter queue, and the good articles beside them are all live."""

from __future__ import annotations

import json

import pytest
from edgepub.embedded.stack import EmbeddedStack

from tests.support.hostile import GOOD, HOSTILE

pytestmark = pytest.mark.embedded


def dead_letters(stack: EmbeddedStack) -> int:
    sqs = stack.client("sqs")
    total = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        if "dlq" in url.lower() or "dead" in url.lower():
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            total += int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return total


def test_hostile_sources_are_rejected_or_published_safely_and_none_reach_a_dlq(stack):
    for good in GOOD:
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{good.name}", Body=good.data)
    stack.run_until_idle()
    for hostile in HOSTILE:
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{hostile.name}", Body=hostile.data)
    stack.run_until_idle(timeout=180)

    site = {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket, MaxKeys=1000).get("Contents", [])}
    for hostile in (*GOOD, *HOSTILE):
        slug = hostile.name.rsplit(".", 1)[0]
        report_key = f"rejected/content/{hostile.name}.json"
        if hostile.expect == "rejected":
            body = stack.s3.get_object(Bucket=stack.sources_bucket, Key=report_key)["Body"].read()
            report = json.loads(body)
            assert report["source"] == f"content/{hostile.name}"
            assert hostile.field in [p["field"] for p in report["problems"]], (hostile.name, report["problems"])
            assert f"{slug}/index.html" not in site, hostile.name
        else:
            assert f"{slug}/index.html" in site, hostile.name
            page = stack.s3.get_object(Bucket=stack.site_bucket, Key=f"{slug}/index.html")["Body"].read().decode()
            assert hostile.shows in page, hostile.name
    assert "tags/index.html" in site and "page/1/index.html" in site  # the site's own pages are its own
    assert dead_letters(stack) == 0
