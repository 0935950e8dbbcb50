"""The DynamoDB index answers the scheduled jobs' questions with queries, not scans."""

from __future__ import annotations

import pytest
from edgepub.aws import dynamo_table
from edgepub.index import DynamoIndex
from edgepub.settings import Settings

pytestmark = pytest.mark.embedded


def test_reviews_due_are_queried_in_due_order(stack):
    docs = {
        "old.md": b"---\ntitle: Old\ndate: 2026-01-01\ntags: [cdn]\nrevision: {last reviewed: 2026-01-01}\n---\nx\n",
        "mid.md": b"---\ntitle: Mid\ndate: 2026-05-01\ntags: [cdn, s3]\n"
        b"revision: {last reviewed: 2026-10-01, review interval: 30}\n---\nx\n",
        "new.md": b"---\ntitle: New\ndate: 2026-09-01\ntags: [s3]\nrevision: {last reviewed: 2026-11-01}\n---\nx\n",
    }
    for name, body in docs.items():
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=body)
    stack.run_until_idle()
    index = DynamoIndex(dynamo_table(Settings.from_env(stack.settings_env())))
    # old: 2026-01-01 + 180 days = 2026-06-30; mid: 2026-10-01 + 30 = 2026-10-31; new: 2027-04-30
    due = index.review_due_before("2026-11-22")
    assert [item.slug for item in due] == ["old", "mid"]
    assert [item.due for item in due] == ["2026-06-30", "2026-10-31"]
    assert {item.title for item in due} == {"Old", "Mid"}
