"""The Cloudflare emulator enforces a plan's limits as Cloudflare does, so a client
that trips them fails here before it fails in production. Time is an injected
clock: the buckets and the request window move only when a test moves them.
(The emulator listens on loopback; no AWS is involved.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from edgepub.embedded.cloudflare_emulator import CloudflareEmulator, edge_ttl, retry_after
from edgepub.limits import PlanLimits

ZONE = "0123456789abcdef0123456789abcdef"
TOKEN = "limits-test-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


def purge(http: requests.Session, cf: CloudflareEmulator, body: dict[str, Any]) -> requests.Response:
    return http.post(f"{cf.api_base}/zones/{ZONE}/purge_cache", json=body, timeout=5)


def test_free_plan_tags_bucket_allows_its_burst_of_25_then_answers_429_with_retry_after(clock, http):
    with CloudflareEmulator(TOKEN, ZONE, plan="free", clock=clock) as cf:
        statuses = [purge(http, cf, {"tags": [f"t{i}"]}).status_code for i in range(25)]
        assert statuses == [200] * 25

        refused = purge(http, cf, {"tags": ["t25"]})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "12"  # 5 requests per minute: one token every 12 s
        assert refused.json() == {
            "success": False,
            "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}],
            "messages": [],
            "result": None,
        }
        # hosts, prefixes and purge_everything share the tags bucket
        assert purge(http, cf, {"hosts": ["www.example.com"]}).status_code == 429
        assert purge(http, cf, {"purge_everything": True}).status_code == 429
        # URL purges have their own bucket
        assert purge(http, cf, {"files": ["https://www.example.com/a/"]}).status_code == 200

        assert [(r["status"], r["limit"]) for r in cf.state.rate_limited()] == [(429, "other")] * 3
        assert len(cf.state.purges) == 26 and cf.state.faulted == []

        clock.advance(11.9)
        assert purge(http, cf, {"tags": ["later"]}).headers["Retry-After"] == "1"
        clock.advance(0.2)
        assert purge(http, cf, {"tags": ["later"]}).status_code == 200


def test_files_purges_spend_one_token_per_url_and_get_429_over_urls_per_second(clock, http):
    with CloudflareEmulator(TOKEN, ZONE, plan="free", clock=clock) as cf:
        batch = [f"https://www.example.com/p{i}/" for i in range(30)]
        assert [purge(http, cf, {"files": batch}).status_code for _ in range(26)] == [200] * 26  # 780 URLs
        refused = purge(http, cf, {"files": batch})  # 810 > 800 URLs in the second
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert [r["limit"] for r in cf.state.rate_limited()] == ["urls"]
        # a smaller batch still fits what is left
        assert purge(http, cf, {"files": batch[:20]}).status_code == 200
        clock.advance(1)
        assert purge(http, cf, {"files": batch}).status_code == 200


def test_items_per_request_are_limited_per_form(clock, http):
    with CloudflareEmulator(TOKEN, ZONE, plan="free", clock=clock) as cf:
        urls = [f"https://www.example.com/{i}/" for i in range(31)]
        assert purge(http, cf, {"files": urls}).status_code == 400
        assert purge(http, cf, {"files": urls[:30]}).status_code == 200
        tags = [f"t{i}" for i in range(101)]
        assert purge(http, cf, {"tags": tags}).json()["errors"][0]["code"] == 1016
        assert purge(http, cf, {"tags": tags[:100]}).status_code == 200
        assert cf.state.rate_limited() == []


def test_every_api_call_counts_toward_the_window_and_breaking_it_blocks_the_token(clock, http):
    tiny = PlanLimits("tiny", urls_per_second=100, other_per_second=10, other_burst=10, requests_per_window=3)
    with CloudflareEmulator(TOKEN, ZONE, plan=tiny, clock=clock) as cf:
        ruleset = f"{cf.api_base}/zones/{ZONE}/rulesets/phases/http_request_transform/entrypoint"
        assert http.get(ruleset, timeout=5).status_code == 404  # not set yet, but counted
        assert purge(http, cf, {"tags": ["a"]}).status_code == 200
        clock.advance(100)
        assert purge(http, cf, {"tags": ["b"]}).status_code == 200
        refused = purge(http, cf, {"tags": ["c"]})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "300"
        assert [r["limit"] for r in cf.state.rate_limited()] == ["requests"]
        # blocked for a whole window, even once the old calls have left it
        clock.advance(299)
        assert http.get(ruleset, timeout=5).status_code == 429
        clock.advance(1)
        assert purge(http, cf, {"tags": ["c"]}).status_code == 200
        # unauthenticated calls do not count against the token
        assert requests.post(f"{cf.api_base}/zones/{ZONE}/purge_cache", json={}, timeout=5).status_code == 401


def test_fault_rate_fails_about_that_fraction_of_purges_with_a_fixed_seed(http):
    with CloudflareEmulator(TOKEN, ZONE, fault_seed=7) as cf:
        cf.state.fault_rate = 0.25
        cf.state.fault_retry_after = 0
        responses = [purge(http, cf, {"files": [f"https://www.example.com/{i}/"]}) for i in range(400)]
    failed = [r for r in responses if r.status_code != 200]
    assert 0.18 <= len(failed) / len(responses) <= 0.32
    assert {r.status_code for r in failed} == {429, 500, 502, 503}
    assert all(r.headers["Retry-After"] == "0" for r in failed if r.status_code == 429)
    assert [r.status_code for r in failed] == cf.state.faulted
    assert len(cf.state.purges) == len(responses) - len(failed)
    # injected faults are not plan limits: a client pacing itself correctly sees none of those
    assert cf.state.rate_limited() == []


def test_same_seed_same_faults(http):
    runs = []
    for _ in range(2):
        with CloudflareEmulator(TOKEN, ZONE, fault_seed=3) as cf:
            cf.state.fault_rate = 0.5
            runs.append([purge(http, cf, {"tags": [f"t{i}"]}).status_code for i in range(30)])
    assert runs[0] == runs[1] and 200 in runs[0] and set(runs[0]) != {200}


def test_fail_next_comes_before_the_random_faults_and_without_retry_after_when_asked(http):
    with CloudflareEmulator(TOKEN, ZONE) as cf:
        cf.state.fault_retry_after = None
        cf.state.fail_next(429, 503)
        first, second = (purge(http, cf, {"tags": ["a"]}) for _ in range(2))
        assert first.status_code == 429 and "Retry-After" not in first.headers
        assert second.status_code == 503
        assert purge(http, cf, {"tags": ["a"]}).status_code == 200
        assert cf.state.faulted == [429, 503]


def test_retry_after_is_whole_seconds_and_at_least_one():
    assert [retry_after(s) for s in (0.0, 0.2, 1.0, 1.01, 12.000000000000002)] == ["1", "1", "1", "2", "12"]


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [
        ("public, max-age=300, s-maxage=31536000, stale-if-error=86400", 31536000),
        ("public, max-age=60", 60),
        ("max-age=0", None),
        ("max-age=0, s-maxage=600", 600),
        ("private, max-age=600", None),
        ("no-store", None),
        ("no-cache", None),
        ("", 7200),
    ],
)
def test_edge_ttl_follows_the_origin_cache_control(cache_control, ttl):
    assert edge_ttl(cache_control, default_ttl=7200) == ttl
