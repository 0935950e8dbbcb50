"""Purging at Cloudflare's limits, through the purge queue and purge function,
against the emulator enforcing the plan's limits (over real HTTP)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import requests
from edgepub.aws import SqsPurgeQueue
from edgepub.embedded.stack import EmbeddedStack
from edgepub.index import MemoryIndex
from edgepub.local import MemoryPageStore, MemorySourceStore
from edgepub.plan import Layout
from edgepub.publisher import Publisher
from edgepub.settings import Settings

from tests.support.sites import generated_sources

pytestmark = pytest.mark.embedded


@pytest.fixture
def free_stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack.start(cloudflare_plan="free", parameters={"PurgePlan": "free"}) as stack:
        stack.run_until_idle()  # the notification's s3:TestEvent
        yield stack


def burst_publisher(stack: EmbeddedStack) -> tuple[Publisher, MemorySourceStore, MemoryPageStore]:
    """A publisher whose purges go to the stack's purge queue, as the publish function's do;
    sources, pages and index in memory so that 500 publishes take seconds, not minutes."""
    settings = Settings.from_env(stack.settings_env())
    sources, pages = MemorySourceStore(), MemoryPageStore()
    publisher = Publisher(settings, sources, pages, SqsPurgeQueue(settings), MemoryIndex(), layout=Layout())
    return publisher, sources, pages


def publish_burst(publisher: Publisher, sources: MemorySourceStore, count: int) -> set[str]:
    """Publish `count` articles one by one; return every URL whose page was written or deleted."""
    changed: set[str] = set()
    for name, data in generated_sources(count, seed=99):
        key = f"content/{name}"
        sources.put(key, data)
        outcome = publisher.sync(key)
        changed |= {publisher.renderer.url(p) for p in outcome.written + outcome.deleted}
    return changed


def test_a_burst_of_500_publishes_is_purged_in_the_fewest_calls_within_the_free_plan(free_stack):
    publisher, sources, _ = burst_publisher(free_stack)
    changed = publish_burst(publisher, sources, 500)
    free_stack.run_until_idle(timeout=120)

    state = free_stack.cloudflare.state
    purged = state.purged_urls()
    assert changed <= set(purged), "every changed URL is purged"
    assert not [r for r in state.rejected if r["status"] == 429], "no request was over the plan's buckets"
    # one purge function invocation took the whole burst: duplicates across publishes collapsed
    assert len(state.purges) == math.ceil(len(set(purged)) / 30)
    assert len(purged) == len(set(purged)) == len(changed)
    assert free_stack.queue_depth() == 0
    dlq = free_stack.client("sqs").get_queue_attributes(
        QueueUrl=free_stack.outputs["PurgeDLQUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_with_30_percent_of_calls_failing_every_url_is_still_purged_after_its_last_write(free_stack):
    state = free_stack.cloudflare.state
    state.fault_rate = 0.3
    state.fault_retry_after = 0
    publisher, sources, pages = burst_publisher(free_stack)
    changed = publish_burst(publisher, sources, 60)
    free_stack.run_until_idle(timeout=180)
    state.fault_rate = 0.0

    assert len(state.faulted) > 0, "faults were injected"
    assert changed <= set(state.purged_urls())
    # the queues and both DLQs are empty: nothing was dropped or parked
    assert free_stack.queue_depth() == 0
    for dlq in ("PurgeDLQUrl", "PublishDLQUrl"):
        attrs = free_stack.client("sqs").get_queue_attributes(
            QueueUrl=free_stack.outputs[dlq], AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    # every purge of a URL came after the write that made it necessary: the last
    # write of each page is followed by at least one successful purge of its URL
    last_write = {publisher.renderer.url(p): i for i, p in enumerate(pages.writes)}
    assert set(last_write) <= set(state.purged_urls())


def test_publishing_then_reading_through_the_edge_never_serves_a_stale_hit(stack):
    edge = stack.edge_base
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/live.md", Body=b"---\ntitle: Live\n---\nFirst.\n")
    stack.run_until_idle()
    for _ in range(2):
        requests.get(f"{edge}/live/", timeout=5)  # MISS, then HIT: the edge holds it
    home = requests.get(f"{edge}/", timeout=5)
    assert "Live" in home.text
    for version in ("Second", "Third", "Fourth"):
        stack.s3.put_object(
            Bucket=stack.sources_bucket,
            Key="content/live.md",
            Body=f"---\ntitle: Live {version}\n---\n{version}.\n".encode(),
        )
        stack.run_until_idle()
        page = requests.get(f"{edge}/live/", timeout=5)
        assert page.headers["cf-cache-status"] in ("MISS", "EXPIRED")
        assert f"{version}." in page.text
        again = requests.get(f"{edge}/live/", timeout=5)
        assert again.headers["cf-cache-status"] == "HIT" and f"{version}." in again.text
        assert f"Live {version}" in requests.get(f"{edge}/", timeout=5).text


def test_no_code_path_purges_everything_on_its_own():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    callers = [
        str(path.relative_to(root))
        for folder in ("layers/edgepub/edgepub", "functions")
        for path in (root / folder).rglob("*.py")
        if "purge_everything(" in path.read_text() and "embedded" not in path.parts
    ]
    # defined by the client, called only by the operator's CLI command behind a confirmation
    assert sorted(callers) == ["layers/edgepub/edgepub/cli.py", "layers/edgepub/edgepub/cloudflare.py"]
