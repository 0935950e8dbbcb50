"""Pure rules of purging: URLs as visitors request them, and pacing."""

from __future__ import annotations

from edgepub.limits import PLANS, Pacer, TokenBucket
from edgepub.settings import Settings
from edgepub.urls import expand, visitor_urls


def test_canonical_url_only_by_default():
    assert visitor_urls("https://www.example.com/a/", Settings()) == ["https://www.example.com/a/"]


def test_extra_hosts_and_both_trailing_slash_forms():
    settings = Settings(purge_extra_hosts="example.com, WWW.Example.com", purge_trailing_slash="both")
    assert visitor_urls("https://www.example.com/a/", settings) == [
        "https://www.example.com/a/",
        "https://www.example.com/a",
        "https://example.com/a/",
        "https://example.com/a",
    ]
    # the home page has only one form
    assert visitor_urls("https://www.example.com/", settings) == ["https://www.example.com/", "https://example.com/"]


def test_paths_are_utf8_percent_encoded_once():
    assert visitor_urls("https://www.example.com/café/", Settings()) == ["https://www.example.com/caf%C3%A9/"]
    assert visitor_urls("https://www.example.com/caf%C3%A9/", Settings()) == ["https://www.example.com/caf%C3%A9/"]


def test_expand_deduplicates():
    assert expand(["https://www.example.com/a/", "https://www.example.com/a/"], Settings()) == [
        "https://www.example.com/a/"
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_waits_exactly_as_long_as_the_rate_requires():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, capacity=4, clock=clock, sleep=clock.sleep)
    assert bucket.take(4) == 0
    assert bucket.take(1) == 0.5
    assert bucket.take(2) == 1.0
    assert clock.now == 1.5


def test_free_plan_pacer_spreads_tag_purges_below_five_a_minute():
    clock = FakeClock()
    pacer = Pacer(PLANS["free"], share=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(60):
        pacer.before_other()
    # burst of 22 (25 * 0.9), then 4.5 a minute: 60 calls take about 8.4 minutes
    assert 480 < clock.now < 540
    calls_in_first_minute = 22 + 4
    assert calls_in_first_minute <= 25 + 5


def test_pacer_keeps_any_five_minutes_under_the_request_limit():
    clock = FakeClock()
    pacer = Pacer(PLANS["enterprise"], share=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(1200):
        pacer.before_files(1)
    # 1,200 calls would break the 1,200-per-5-minutes limit if sent in one window
    assert clock.now >= 300
