"""The DynamoDB index answers the scheduled jobs' questions with queries, not scans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgepub.aws import dynamo_table
from edgepub.index import DynamoIndex
from edgepub.settings import Settings

from tests.support.tables import scan, to_older_layout

pytestmark = pytest.mark.embedded

MIGRATE = json.loads((Path(__file__).resolve().parents[2] / "events" / "ops-migrate-index.json").read_text())


def publish(stack, docs: dict[str, bytes]) -> None:
    """Upload the sources under content/ and let the pipeline publish them."""
    for name, body in docs.items():
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=body)
    stack.run_until_idle()


def test_reviews_due_are_queried_in_due_order(stack):
    docs = {
        "old.md": b"---\ntitle: Old\ndate: 2026-01-01\ntags: [cdn]\nrevision: {last reviewed: 2026-01-01}\n---\nx\n",
        "mid.md": b"---\ntitle: Mid\ndate: 2026-05-01\ntags: [cdn, s3]\n"
        b"revision: {last reviewed: 2026-10-01, review interval: 30}\n---\nx\n",
        "new.md": b"---\ntitle: New\ndate: 2026-09-01\ntags: [s3]\nrevision: {last reviewed: 2026-11-01}\n---\nx\n",
    }
    publish(stack, docs)
    index = DynamoIndex(dynamo_table(Settings.from_env(stack.settings_env())))
    # old: 2026-01-01 + 180 days = 2026-06-30; mid: 2026-10-01 + 30 = 2026-10-31; new: 2027-04-30
    due = index.review_due_before("2026-11-22")
    assert [item.slug for item in due] == ["old", "mid"]
    assert [item.due for item in due] == ["2026-06-30", "2026-10-31"]
    assert {item.title for item in due} == {"Old", "Mid"}


def test_an_index_an_older_edgepub_wrote_is_refused_until_moved_then_publishes_on(stack):
    """Older versions kept the whole model in partition "site"; `migrate_index` moves it."""
    from edgepub.index import IndexLayoutError
    from edgepub.partial import audit, is_row, plain

    docs = {
        "one.md": b"---\ntitle: One\ndate: 2026-01-01\ntags: [cdn]\n---\nx\n",
        "two.md": b"---\ntitle: Two\ndate: 2026-02-01\ntags: [cdn, s3]\naliases: [/old-two/]\n---\nx\n",
    }
    publish(stack, docs)
    table = dynamo_table(Settings.from_env(stack.settings_env()))
    entries, counters, hashes = to_older_layout(table)  # the table as an older edgepub left it
    with pytest.raises(IndexLayoutError, match="edgepub migrate-index"):
        DynamoIndex(table).load()

    moved = stack.invoke("OpsFunction", MIGRATE)["moved"]
    assert moved["entries"] == 2 and moved["counters"] == len(counters) and moved["pages"] == len(hashes)
    migrated = DynamoIndex(table).load(strict=False)
    assert dict(migrated.entries) == entries and dict(migrated.counters) == counters
    assert dict(migrated.page_hashes) == hashes
    assert audit(entries.values(), [plain(i) for i in scan(table) if is_row(str(i["pk"]))]) == []
    assert not any(str(i["sk"]).startswith(("art#", "ctr#", "page#")) for i in scan(table) if i["pk"] == "site")
    assert stack.invoke("OpsFunction", MIGRATE)["moved"]["items"] == 0  # done: nothing to do
    # a run that died while deleting the old items: the next run deletes what it left
    table.put_item(Item={"pk": "site", "sk": "art#one", "slug": "one", "review_pk": "review", "review_sk": "x#one"})
    again = stack.invoke("OpsFunction", MIGRATE)["moved"]
    assert again["items"] == 0 and again["removed"] == 1
    assert [i.slug for i in DynamoIndex(table).review_due_before("9999")].count("one") == 1
    # and publishing goes on from the moved index
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="content/three.md",
        Body=b"---\ntitle: Three\ndate: 2026-03-01\ntags: [s3]\n---\nx\n",
    )
    stack.run_until_idle()
    after = DynamoIndex(table).load()
    assert {s for s in ("one", "two", "three") if after.entries.get(s)} == {"one", "two", "three"}
    assert after.tag_count("s3") == 2 and after.path_owner("/old-two/") == "two"


def test_the_stacks_fast_read_answers_are_what_motos_serializer_writes(stack, monkeypatch):
    """The embedded stack writes DynamoDB read answers with json.dumps (moto's own serializer
    was most of its CPU at 100,000 articles): the same JSON for every read a publish, an
    edit, a delete and a scan make."""
    from edgepub.embedded import stack as embedded

    checked: list[str] = []
    monkeypatch.setattr(embedded, "FAST_JSON_CHECK", checked)
    docs = {
        "one.md": b"---\ntitle: One\ndate: 2026-01-01\ntags: [cdn, s3]\naliases: [/old-one/]\n---\nx\n",
        "two.md": b"---\ntitle: Two\ndate: 2026-02-01\ntags: [cdn]\nrevision: {last reviewed: 2026-01-01}\n---\ny\n",
    }
    publish(stack, docs)
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/two.md", Body=docs["two.md"] + b"more\n")
    stack.s3.delete_object(Bucket=stack.sources_bucket, Key="content/one.md")
    stack.run_until_idle()
    table = dynamo_table(Settings.from_env(stack.settings_env()))
    assert table.scan(Limit=50)["Items"]  # with numbers, lists and maps in its items
    assert {"GetItem", "BatchGetItem", "Query", "Scan"} <= set(checked)
    assert [c for c in checked if c.startswith("differs")] == []
