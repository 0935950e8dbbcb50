"""Operators' actions on the memory ports: no AWS, no server (ops reaches the
bucket, the index and the publish queue only through ports.py)."""

from __future__ import annotations

import json

import pytest
from edgepub import ops
from edgepub.errors import OperatorError
from edgepub.local import MemoryPublishQueue

from tests.support.sites import Site, md


class Queue(MemoryPublishQueue):
    """The publish queue, with the source keys its messages name."""

    def keys(self) -> list[str]:
        return [json.loads(b)["Records"][0]["s3"]["object"]["key"] for b in self.bodies if "Records" in b]


def site_with_two() -> Site:
    site = Site()
    site.put("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="First."))
    site.put("b.md", md("Beta", date="2026-01-02", tags=("cache",), body="Beta."))
    site.put("a.md", md("Alpha", date="2026-01-01", tags=("cache",), body="Second."))
    return site


def test_rollback_restores_the_previous_version_records_its_hash_and_purges_it() -> None:
    site = site_with_two()
    assert "Second." in site.html("/a/")
    site.reset_counts()
    result = ops.rollback(site.publisher, site.pages, "a")
    assert "First." in site.html("/a/")
    assert site.index.load().page_hashes["/a/"] == site.pages.head("a/index.html").content_hash  # type: ignore[union-attr]
    assert result.purged == ["https://www.example.com/a/"] and site.purged == {"/a/"}
    assert site.index.load().pending_purge == [] and site.index.load().dirty == []
    with pytest.raises(OperatorError, match="has no version 99"):
        ops.rollback(site.publisher, site.pages, "a", "99")


def test_unpublish_takes_the_page_down_and_updates_the_listings_and_a_second_time_says_so() -> None:
    site = site_with_two()
    result = ops.unpublish(site.publisher, "b")
    assert result.deleted == ["/b/"] and "b/index.html" not in site.pages.pages
    assert "Beta" not in site.html("/")
    with pytest.raises(OperatorError, match="is not published"):
        ops.unpublish(site.publisher, "b")


def test_republish_and_reconcile_fill_the_publish_queue() -> None:
    site = site_with_two()
    queue = Queue()
    result = ops.republish(site.publisher, queue, everything=True)
    assert result.keys == ["content/a.md", "content/b.md"] and queue.keys() == result.keys
    assert json.loads(queue.bodies[-1]) == {"edgepub": "site-pages"}  # the site's own pages, last

    site.sources.put("content/lost.md", md("Lost"))  # its notification never came
    site.sources.remove("content/b.md")  # nor this delete's
    queue = Queue()
    found = ops.reconcile(site.publisher, queue)
    assert found.missing_from_index == ["content/lost.md"] and found.stale_in_index == ["content/b.md"]
    assert queue.keys() == ["content/lost.md", "content/b.md"]
    assert ops.reconcile(site.publisher, Queue(), dry_run=True).queued == 0
