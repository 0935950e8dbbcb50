"""The articles table as tests look at it: every item, and the layout an older
edgepub wrote (the whole model in partition "site"), to test the move from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edgepub.freshness import FreshnessPolicy
from edgepub.index import DynamoIndex
from edgepub.partial import entry_item
from edgepub.site import Counter, Entry


def scan(table: Any) -> Iterator[dict[str, Any]]:
    """Every item of the table, page by page."""
    kwargs: dict[str, Any] = {}
    while True:
        response = table.scan(**kwargs)
        yield from response["Items"]
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def to_older_layout(table: Any) -> tuple[dict[str, Entry], dict[str, Counter], dict[str, str]]:
    """Rewrite the index as edgepub wrote it before the partial layout: every entry (with
    its review and transition GSI keys), counter and page hash an item of partition
    "site", no derived items, no layout mark. Returns the entries, counters and hashes."""
    model = DynamoIndex(table).load(strict=False)
    entries, counters, hashes = dict(model.entries), dict(model.counters), dict(model.page_hashes)
    keep = ("site", "src#", "cursor", "marker", "wait#", "journal")
    with table.batch_writer() as batch:
        for item in list(scan(table)):
            if not str(item["pk"]).startswith(keep):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
        for entry in entries.values():
            batch.put_item(Item={**entry_item(entry, FreshnessPolicy()), "pk": "site", "sk": f"art#{entry.slug}"})
        for name, c in counters.items():
            batch.put_item(
                Item={"pk": "site", "sk": f"ctr#{name}", "last_page": c.last_page, "last_count": c.last_count}
            )
        for path, digest in hashes.items():
            batch.put_item(Item={"pk": "site", "sk": f"page#{path}", "hash": digest})
    table.update_item(
        Key={"pk": "site", "sk": "meta"}, UpdateExpression="REMOVE #l", ExpressionAttributeNames={"#l": "layout"}
    )
    return entries, counters, hashes
