"""Coalescing purges across invocations: which items go now, which are carried
to the next batching window, and the hold bound. No server: pure functions, and
the purge invocation with stand-ins for the Cloudflare client and the queue."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from edgepub.carry import ARTICLE, LISTING, SITE_WIDE, no_rank, oldest, page_rank, split_for_carry, would_overstay
from edgepub.cloudflare import PurgeResult
from edgepub.errors import ConfigurationError, PurgeUnavailable, TransientError
from edgepub.ports import PurgeReceipt
from edgepub.service import PurgeReport, purge_messages
from edgepub.settings import Settings

SITE = "https://www.example.com"
NOW = 1_000_000.0


def articles(n: int, start: int = 0) -> list[str]:
    return [f"{SITE}/article-{i:03d}/" for i in range(start, start + n)]


LISTINGS = [
    f"{SITE}/",
    f"{SITE}/feed.xml",
    f"{SITE}/tags/",
    f"{SITE}/tags/cdn/",
    f"{SITE}/tags/cdn/page/2/",
    f"{SITE}/page/3/",
    f"{SITE}/sitemap.xml",
    f"{SITE}/sitemaps/1.xml",
]


def split(items: list[str], size: int = 30, first_seen: dict[str, float] | None = None, max_hold: float = 30.0):
    return split_for_carry(items, size, first_seen or {}, NOW, delay=8.0, max_hold=max_hold)


@pytest.mark.parametrize(
    ("path", "rank"),
    [
        ("/article-1/", ARTICLE),
        ("/robots.txt", ARTICLE),
        ("/404.html", ARTICLE),
        ("/old-slug/", ARTICLE),
        ("/page/2/", LISTING),
        ("/tags/cdn/", LISTING),
        ("/tags/cdn", LISTING),  # the "both" trailing-slash form
        ("/tags/cdn/page/4/", LISTING),
        ("/sitemaps/3.xml", LISTING),
        ("/", SITE_WIDE),
        ("", SITE_WIDE),
        ("/feed.xml", SITE_WIDE),
        ("/tags/", SITE_WIDE),
        ("/tags", SITE_WIDE),
        ("/sitemap.xml", SITE_WIDE),
    ],
)
def test_page_rank_puts_pages_rewritten_by_every_publish_last(path, rank):
    assert page_rank(SITE + path) == rank
    assert page_rank("https://example.com" + path) == rank  # any extra hostname


def test_fewer_than_a_batch_is_sent_now_in_order():
    items = LISTINGS + articles(5)
    result = split(items)
    assert result.send == items and result.carry == [] and result.reason == "quiet"


def test_a_busy_invocation_sends_full_batches_and_carries_the_listings():
    items = LISTINGS + articles(40)  # 48 items: one full batch of 30, 18 left
    result = split(items)
    assert result.reason == "busy"
    assert len(result.send) == 30 and len(result.carry) == 18
    assert result.send == articles(30)  # article pages first, in their order
    # the articles left over, then the listings, then the pages every publish rewrites
    assert result.carry == [
        *articles(10, 30),
        f"{SITE}/tags/cdn/",
        f"{SITE}/tags/cdn/page/2/",
        f"{SITE}/page/3/",
        f"{SITE}/sitemaps/1.xml",
        f"{SITE}/",
        f"{SITE}/feed.xml",
        f"{SITE}/tags/",
        f"{SITE}/sitemap.xml",
    ]


def test_an_exact_number_of_batches_carries_nothing():
    result = split(articles(60))
    assert len(result.send) == 60 and result.carry == []


def test_items_are_deduplicated_before_splitting():
    result = split(articles(29) + articles(29))
    assert result.reason == "quiet" and result.send == articles(29)


def test_carrying_disabled_with_a_zero_hold():
    items = LISTINGS + articles(40)
    result = split(items, max_hold=0)
    assert result.send == items and result.carry == [] and result.reason == "disabled"


def test_items_that_cannot_wait_another_window_go_into_the_full_batches_first():
    items = articles(40) + LISTINGS
    # the home page has waited 25 s: carried with 8 s of delay it would wait 33 > 30
    first_seen = dict.fromkeys(items, NOW - 2) | {f"{SITE}/": NOW - 25}
    result = split(items, first_seen=first_seen)
    assert result.reason == "busy"
    assert result.send[0] == f"{SITE}/"
    assert f"{SITE}/" not in result.carry and len(result.send) == 30


def test_a_remainder_holding_an_item_at_the_bound_is_sent_now_partial():
    items = articles(40) + LISTINGS
    first_seen = dict.fromkeys(items, NOW - 25)  # every item would overstay if carried
    result = split(items, first_seen=first_seen)
    assert result.reason == "due" and result.carry == []
    assert sorted(result.send) == sorted(items)


def test_the_hold_decision_counts_the_delay():
    assert not would_overstay(NOW - 22, NOW, delay=8, max_hold=30)
    assert would_overstay(NOW - 22.5, NOW, delay=8, max_hold=30)
    assert not would_overstay(NOW + 5, NOW, delay=8, max_hold=30)  # a clock ahead counts as just seen
    # an item never seen before counts as seen now
    result = split(articles(31), first_seen={})
    assert result.carry == articles(31)[30:]


def test_tags_keep_their_order_with_no_rank():
    tags = [f"tag-{i}" for i in range(150)]
    result = split_for_carry(tags, 100, {}, NOW, delay=8, max_hold=30, rank=no_rank)
    assert result.send == tags[:100] and result.carry == tags[100:]


def test_oldest_is_the_earliest_first_seen():
    seen = {"a": NOW - 3, "b": NOW - 9}
    assert oldest(["a", "b", "c"], seen, NOW) == NOW - 9
    assert oldest([], seen, NOW) == NOW


def test_settings_read_and_check_the_hold_and_the_delay():
    settings = Settings.from_env({"EDGEPUB_PURGE_MAX_HOLD_SECONDS": "45", "EDGEPUB_PURGE_CARRY_DELAY_SECONDS": "5"})
    assert settings.purge_max_hold_seconds == 45 and settings.purge_carry_delay_seconds == 5
    assert Settings().purge_max_hold_seconds == 30 and Settings().purge_carry_delay_seconds == 8
    with pytest.raises(ConfigurationError, match="EDGEPUB_PURGE_MAX_HOLD_SECONDS"):
        Settings(purge_max_hold_seconds=-1).check()
    with pytest.raises(ConfigurationError, match="EDGEPUB_PURGE_CARRY_DELAY_SECONDS"):
        Settings(purge_carry_delay_seconds=901).check()


# -- purge_messages: the invocation's decisions, with ports standing in for Cloudflare and SQS --


class FakePurger:
    """CloudflarePurger's surface that purge_messages uses; `fail` items fail their batch."""

    def __init__(self, settings: Settings, fail: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.limits = {"files": settings.purge_batch_size, "tags": 100}
        self.fail = set(fail)
        self.batches: list[tuple[str, ...]] = []

    def purge_items(self, items: dict[str, list[str]]) -> PurgeResult:
        result = PurgeResult()
        for form in ("files", "tags"):
            values = list(dict.fromkeys(items.get(form, [])))
            for start in range(0, len(values), self.limits[form]):
                batch = tuple(values[start : start + self.limits[form]])
                if self.fail.intersection(batch):
                    result.failed.append((form, batch, PurgeUnavailable("Cloudflare answered 503")))
                else:
                    self.batches.append(batch)
                    result.receipts.append(PurgeReceipt(request_id="r", items=batch, attempts=1))
        return result


class FakeQueue:
    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.messages: list[tuple[str, int]] = []

    def carry(self, urls: list[str], tags: list[str], *, first_seen: float, delay: int) -> str:
        if self.broken:
            raise TransientError("could not carry purges to the next window: QueueDoesNotExist")
        body = {"urls": list(urls), "tags": list(tags), "carried": True, "first_seen": first_seen}
        self.messages.append((json.dumps(body), delay))
        return f"carry-{len(self.messages)}"


def message(urls: list[str], sent: float) -> tuple[str, str, str]:
    return (f"m-{sent}-{len(urls)}", json.dumps({"urls": urls, "tags": []}), str(int(sent * 1000)))


def purge(purger: FakePurger, records: list[Any], queue: FakeQueue) -> PurgeReport:
    return purge_messages(cast(Any, purger), records, queue=cast(Any, queue), clock=lambda: NOW)


def test_a_busy_invocation_sends_full_batches_and_queues_one_delayed_carry():
    purger, queue = FakePurger(Settings()), FakeQueue()
    records = [message(articles(20), NOW - 4), message(articles(20, 20) + LISTINGS, NOW - 2)]
    report = purge(purger, records, queue)
    assert [len(b) for b in purger.batches] == [30]
    assert report.carry == "busy" and report.carried == 18 and report.urls == 30 and report.calls == 1
    assert report.failed_messages == [] and report.oldest_wait_s == 4
    ((body, delay),) = queue.messages
    carried = json.loads(body)
    # the carry holds the second message's items only: first seen when it was sent
    assert delay == 8 and carried["carried"] is True and carried["first_seen"] == NOW - 2
    assert carried["urls"][-4:] == [f"{SITE}/", f"{SITE}/feed.xml", f"{SITE}/tags/", f"{SITE}/sitemap.xml"]


def test_a_carried_message_joins_the_next_window_as_it_is():
    settings = Settings(purge_trailing_slash="both")
    carried = {"urls": [f"{SITE}/tags/cdn/", f"{SITE}/"], "tags": [], "carried": True, "first_seen": NOW - 12}
    records = [("carry-1", json.dumps(carried), str(int((NOW - 3) * 1000))), message([f"{SITE}/"], NOW - 1)]
    purger = FakePurger(settings)
    report = purge(purger, records, FakeQueue())
    # not expanded again: /tags/cdn (without the slash) went with the invocation that carried it
    assert purger.batches == [(f"{SITE}/tags/cdn/", f"{SITE}/")]
    assert report.carry == "quiet" and report.carried_in == 2 and report.oldest_wait_s == 12


def test_a_remainder_held_near_the_bound_is_sent_now():
    purger, queue = FakePurger(Settings()), FakeQueue()
    report = purge(purger, [message(articles(40), NOW - 25)], queue)
    assert [len(b) for b in purger.batches] == [30, 10]
    assert report.carry == "due" and report.carried == 0 and queue.messages == []


def test_without_a_hold_nothing_is_carried():
    purger, queue = FakePurger(Settings(purge_max_hold_seconds=0)), FakeQueue()
    report = purge(purger, [message(articles(40), NOW)], queue)
    assert [len(b) for b in purger.batches] == [30, 10] and report.carry == "disabled" and queue.messages == []


def test_when_the_carry_cannot_be_queued_it_is_sent_now():
    purger = FakePurger(Settings())
    report = purge(purger, [message(articles(40), NOW)], FakeQueue(broken=True))
    assert [len(b) for b in purger.batches] == [30, 10]
    assert report.carried == 0 and report.failed_messages == [] and "sent now" in report.errors[0]


def test_a_failed_batch_fails_only_the_messages_that_asked_for_its_items():
    purger, queue = FakePurger(Settings(), fail=(articles(1)[0],)), FakeQueue()
    first, second = message(articles(30), NOW), message(articles(5, 100), NOW - 1)
    report = purge(purger, [first, second], queue)
    # the first 30 items failed as one batch; the second message's items were carried: it is done
    assert report.failed_messages == [first[0]] and report.carried == 5
