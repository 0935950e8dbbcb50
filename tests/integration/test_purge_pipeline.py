"""Purging at Cloudflare's limits, through the purge queue and purge function,
against the emulator enforcing the plan's limits (over real HTTP)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from edgepub.aws import SqsPurgeQueue
from edgepub.embedded.cloudflare_emulator import EmulatorState
from edgepub.embedded.stack import EmbeddedStack
from edgepub.index import MemoryIndex
from edgepub.local import MemoryPageStore, MemorySourceStore
from edgepub.plan import Layout
from edgepub.publisher import Publisher
from edgepub.settings import Settings

from tests.support.sites import generated_sources

pytestmark = pytest.mark.embedded


def set_purge_env(stack: EmbeddedStack, **values: object) -> None:
    """Change the purge function's settings, as `aws lambda update-function-configuration`
    would; before its first invocation (it reads them once per container)."""
    stack.functions["PurgeFunction"].environment.update({f"EDGEPUB_{k.upper()}": str(v) for k, v in values.items()})


@pytest.fixture
def free_stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack.start(cloudflare_plan="free", parameters={"PurgePlan": "free"}) as stack:
        set_purge_env(stack, purge_carry_delay_seconds=2)  # a carry waits 2 s, not 8: shorter tests
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
    # one purge function invocation took the whole burst (duplicates across publishes
    # collapsed) and sent full batches; its remainder, carried, made the one partial call
    assert len(state.purges) == math.ceil(len(set(purged)) / 30)
    assert len(purged) == len(set(purged)) == len(changed)
    assert_drained(free_stack)


# Windows of 3 s instead of the template's 10 s keep these tests short; the purge
# function's carry delay follows (2 s, as the template's 8 s is under 10 s).
WINDOW_SCALE = 0.3
WINDOW = 10 * WINDOW_SCALE


@contextmanager
def windowed_stack(max_hold: int) -> Iterator[EmbeddedStack]:
    parameters = {"PurgePlan": "free", "PurgeMaxHoldSeconds": str(max_hold)}
    with EmbeddedStack.start(cloudflare_plan="free", parameters=parameters, window_scale=WINDOW_SCALE) as stack:
        set_purge_env(stack, purge_carry_delay_seconds=2)
        stack.run_until_idle()
        yield stack


def publish_spread(
    stack: EmbeddedStack, publisher: Publisher, sources: MemorySourceStore, count: int
) -> tuple[list[tuple[str, float]], int]:
    """Publish `count` articles one after another while the stack's event source mappings
    run, so the purge function is invoked once per batching window during the burst (as
    in benchmark B3). Returns (URL, when written) for every page written or deleted, and
    how many polls saw a carried remainder waiting on the purge queue."""
    writes: list[tuple[str, float]] = []
    carries = 0
    sqs = stack.client("sqs")
    for name, data in generated_sources(count, seed=99):
        key = f"content/{name}"
        sources.put(key, data)
        outcome = publisher.sync(key)
        written = time.time()
        writes += [(publisher.renderer.url(p), written) for p in outcome.written + outcome.deleted]
        stack.poll_once()
        delayed = sqs.get_queue_attributes(
            QueueUrl=stack.outputs["PurgeQueueUrl"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        carries += int(delayed) > 0
        time.sleep(0.05)
    return writes, carries


def first_purge_after(state: EmulatorState, writes: list[tuple[str, float]]) -> dict[tuple[str, float], float | None]:
    """For every write, when its URL was next purged (None: never after it)."""
    purges = sorted((p.at, set(p.items)) for p in state.purges if p.form == "files")
    return {(url, at): next((t for t, items in purges if t >= at and url in items), None) for url, at in writes}


def assert_every_write_purged(stack: EmbeddedStack, purges: dict[tuple[str, float], float | None]) -> None:
    """Every write was followed by a purge of its URL; if not, say which and what the queues hold."""
    missed = sorted((at, url) for (url, at), purged in purges.items() if purged is None)
    if missed:
        attrs = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs["PurgeQueueUrl"], AttributeNames=["All"]
        )
        last = max(p.at for p in stack.cloudflare.state.purges) if stack.cloudflare.state.purges else None
        pytest.fail(
            f"{len(missed)} writes never purged after they were written, e.g. {missed[:5]}; "
            f"last purge call at {last}; purge queue now: {attrs['Attributes']}; "
            f"invocations {stack.invocations}"
        )


def assert_drained(stack: EmbeddedStack) -> None:
    assert stack.queue_depth() == 0, "nothing left on the queues, delayed carries included"
    for dlq in ("PurgeDLQUrl", "PublishDLQUrl"):
        attrs = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.outputs[dlq], AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", dlq


def test_a_burst_over_several_windows_sends_full_batches_and_carries_the_rest():
    with windowed_stack(max_hold=120) as stack:
        publisher, sources, _ = burst_publisher(stack)
        writes, carries = publish_spread(stack, publisher, sources, 150)
        stack.run_until_idle(timeout=120)
        state = stack.cloudflare.state

        assert carries > 0, "busy invocations carried their remainders"
        sizes = [len(p.items) for p in state.purges]
        # no partial batch at the end of each window: only the burst's last call is partial
        assert all(size == 30 for size in sizes[:-1]), sizes
        assert len(sizes) == math.ceil(len(state.purged_urls()) / 30)
        # every page written is purged after its (last) write
        assert_every_write_purged(stack, first_purge_after(state, writes))
        assert not state.rate_limited()
        assert_drained(stack)


def test_no_url_waits_longer_than_the_hold_bound():
    hold = 5
    with windowed_stack(max_hold=hold) as stack:
        publisher, sources, _ = burst_publisher(stack)
        writes, carries = publish_spread(stack, publisher, sources, 150)
        stack.run_until_idle(timeout=120)

        assert carries > 0
        purges = first_purge_after(stack.cloudflare.state, writes)
        assert_every_write_purged(stack, purges)
        waits = [purged - written for (_, written), purged in purges.items() if purged is not None]
        # carried only while the carry arrives within the bound; then picked up by the
        # next window (which its delay is a little under), plus the time to run
        assert max(waits) <= hold + WINDOW + 2, max(waits)
        assert_drained(stack)


def test_a_quiet_publish_is_purged_by_the_first_invocation_and_nothing_is_carried(free_stack):
    publisher, sources, _ = burst_publisher(free_stack)
    changed = publish_burst(publisher, sources, 1)
    assert free_stack.poll_once(flush=True) == 1, "one purge message, one invocation"
    state = free_stack.cloudflare.state
    assert len(state.purges) == 1 and set(state.purged_urls()) == changed
    assert free_stack.queue_depth() == 0, "nothing carried or delayed"


def test_when_the_carry_cannot_be_queued_the_remainder_is_purged_at_once(free_stack):
    publisher, sources, _ = burst_publisher(free_stack)  # before the purge function's queue is broken
    set_purge_env(free_stack, purge_queue_url=free_stack.outputs["PurgeQueueUrl"] + "-gone")
    changed = publish_burst(publisher, sources, 20)
    assert len(changed) > 30
    free_stack.run_until_idle(timeout=60)
    state = free_stack.cloudflare.state
    assert set(state.purged_urls()) == changed
    assert len(state.purges) == math.ceil(len(changed) / 30), "one invocation sent all, the last batch partial"
    assert_drained(free_stack)
    # the broken queue is not the purge role's to send to either: the only call its role refused
    assert [v.split(" (called")[0] for v in free_stack.iam_violations()] == [
        "PurgeFunctionRole may not sqs:SendMessage on arn:aws:sqs:us-east-1:123456789012:edgepub-purge-gone"
    ]
    free_stack.recorder.forget()


def test_a_duplicate_or_late_carry_only_purges_again(free_stack):
    urls = ["https://www.example.com/", "https://www.example.com/feed.xml"]
    body = json.dumps({"urls": urls, "tags": [], "carried": True, "first_seen": time.time() - 600})
    sqs = free_stack.client("sqs")
    for _ in range(2):
        sqs.send_message(QueueUrl=free_stack.outputs["PurgeQueueUrl"], MessageBody=body)
    free_stack.run_until_idle()
    assert sorted(set(free_stack.cloudflare.state.purged_urls())) == sorted(urls)
    assert_drained(free_stack)


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
    assert_drained(free_stack)
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
