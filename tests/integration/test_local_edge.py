"""The local edge: the emulator's zone in front of the site bucket, over real HTTP.

What visitors would see through Cloudflare: the index rewrite, a cache keyed by
scheme, host, path and query exactly as requested, TTLs from the pages'
Cache-Control, a bypass for logged-in visitors, and purges that evict before
they are answered. The publishing tests here assert the property that matters:
once publishing has finished, no visitor gets a stale page.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from edgepub.embedded.cloudflare_emulator import CloudflareEmulator
from edgepub.embedded.stack import ZONE_ID, EmbeddedStack

pytestmark = pytest.mark.embedded

RULES = json.loads((Path(__file__).resolve().parents[2] / "edge" / "rules.json").read_text())
ARTICLE = b"---\ntitle: Hello\ndate: 2026-10-01\ntags: [cdn]\n---\nFirst body.\n"
TOKEN = "rulesets-test-token"


def publish(stack: EmbeddedStack, body: bytes, key: str = "content/hello.md") -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=body)
    stack.run_until_idle()


def visit(base: str, path: str, **headers: str) -> requests.Response:
    return requests.get(base + path, headers=headers, timeout=10, allow_redirects=False)


def status(response: requests.Response) -> str:
    return response.headers.get("cf-cache-status", "")


def api(cf_base: str, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{cf_base}/zones/{ZONE_ID}{path}", json=body, headers=headers, timeout=10)


def purge(stack: EmbeddedStack, body: dict[str, Any]) -> dict[str, Any]:
    response = api(stack.cloudflare.api_base, "POST", "/purge_cache", stack.token, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# -- rulesets -------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with CloudflareEmulator(TOKEN, ZONE_ID) as cf:
        yield cf


def entrypoint(phase: str) -> str:
    return f"/rulesets/phases/{phase}/entrypoint"


def test_rules_json_round_trips_through_the_rulesets_api(emulator):
    assert set(RULES["phases"]) == {"http_request_transform", "http_request_cache_settings"}
    for phase, ruleset in RULES["phases"].items():
        put = api(emulator.api_base, "PUT", entrypoint(phase), TOKEN, ruleset)
        assert put.status_code == 200, put.text
        got = api(emulator.api_base, "GET", entrypoint(phase), TOKEN)
        assert got.status_code == 200
        body = got.json()
        assert body["success"] is True and body["errors"] == [] and body["messages"] == []
        result = body["result"]
        assert result["phase"] == phase and result["id"] == put.json()["result"]["id"]
        assert all(rule["id"] for rule in result["rules"])
        added = {"id", "version", "last_updated"}
        assert [{k: v for k, v in r.items() if k not in added} for r in result["rules"]] == ruleset["rules"]
        assert all(rule["description"] for rule in result["rules"])
    # the edge reads its cookie bypass from the applied cache rules
    assert emulator.state.bypass_cookies() == ("edgepub_session",)


def test_putting_a_phase_again_replaces_its_rules_and_keeps_the_ruleset_id(emulator):
    phase = "http_request_transform"
    first = api(emulator.api_base, "PUT", entrypoint(phase), TOKEN, RULES["phases"][phase]).json()["result"]
    second = api(emulator.api_base, "PUT", entrypoint(phase), TOKEN, {"rules": []}).json()["result"]
    assert second["id"] == first["id"] and second["version"] == "2" and second["rules"] == []


def test_a_phase_without_rules_is_404_and_bad_bodies_are_400(emulator):
    base = emulator.api_base
    missing = api(base, "GET", entrypoint("http_request_transform"), TOKEN)
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 10003
    phase = entrypoint("http_request_cache_settings")
    bad: Any
    for bad in (
        [],
        {"rules": "x"},
        {"rules": [{"action": "set_cache_settings"}]},
        {"rules": [{"expression": "true"}]},
        {"rules": [{"expression": "true", "action": "rewrite"}]},  # not an action of this phase
        {"rules": ["true"]},
    ):
        response = api(base, "PUT", phase, TOKEN, bad)
        assert response.status_code == 400, bad
        assert response.json()["success"] is False
    assert api(base, "PUT", entrypoint("http_nonsense"), TOKEN, {"rules": []}).status_code == 400
    assert api(base, "GET", entrypoint("http_request_cache_settings"), TOKEN).status_code == 404


def test_rulesets_need_the_token(emulator):
    phase = entrypoint("http_request_transform")
    rules = RULES["phases"]["http_request_transform"]
    assert api(emulator.api_base, "PUT", phase, "wrong-token", rules).status_code == 403
    assert api(emulator.api_base, "GET", phase, "wrong-token").status_code == 403
    assert requests.get(f"{emulator.api_base}/zones/{ZONE_ID}{phase}", timeout=5).status_code == 401
    assert emulator.state.rulesets == {}


# -- the edge in front of the embedded stack -----------------------------------


def test_pages_are_a_miss_then_a_hit_and_bypassed_for_logged_in_visitors(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base

    first = visit(edge, "/hello/")
    assert first.status_code == 200 and status(first) == "MISS"
    assert "<h1>Hello</h1>" in first.text and "First body." in first.text
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "s-maxage=31536000" in first.headers["Cache-Control"]
    fetches = len(stack.cloudflare.state.origin_fetches)

    second = visit(edge, "/hello/")
    assert status(second) == "HIT" and second.text == first.text and int(second.headers["Age"]) >= 0
    assert len(stack.cloudflare.state.origin_fetches) == fetches  # served from the edge
    # the cache tags stay at the edge
    assert not any("tag" in name.lower() or name.lower().startswith("x-amz") for name in second.headers)

    logged_in = visit(edge, "/hello/", Cookie="theme=dark; edgepub_session=1")
    assert status(logged_in) == "BYPASS" and "First body." in logged_in.text
    assert stack.cloudflare.state.origin_fetches[-1] == "hello/index.html"
    assert status(visit(edge, "/hello/", Cookie="theme=dark")) == "HIT"

    log = stack.cloudflare.state.edge_log
    assert [(r.path, r.status, r.cache_status) for r in log[-4:]] == [
        ("/hello/", 200, "MISS"),
        ("/hello/", 200, "HIT"),
        ("/hello/", 200, "BYPASS"),
        ("/hello/", 200, "HIT"),
    ]


def test_an_edit_is_never_a_stale_hit_once_publishing_has_finished(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    paths = ["/hello/", "/", "/feed.xml"]
    for path in paths:
        assert status(visit(edge, path)) == "MISS"
        assert status(visit(edge, path)) == "HIT"

    publish(stack, ARTICLE.replace(b"title: Hello", b"title: Hello again").replace(b"First", b"Second"))

    page = visit(edge, "/hello/")
    assert status(page) == "MISS" and "Second body." in page.text and "First body." not in page.text
    assert status(visit(edge, "/hello/")) == "HIT"
    # the new title shows wherever the site lists the article
    for path in paths[1:]:
        listed = visit(edge, path)
        assert "Hello again" in listed.text, f"{path} is stale at the edge ({status(listed)})"


def test_purge_by_tag_evicts_only_the_entries_carrying_it(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    head = stack.s3.head_object(Bucket=stack.site_bucket, Key="hello/index.html")
    tag = head["Metadata"]["cache-tags"].split(",")[0]
    robots_tags = stack.s3.head_object(Bucket=stack.site_bucket, Key="robots.txt")["Metadata"].get("cache-tags", "")
    assert tag not in robots_tags.split(",")
    for path in ("/hello/", "/robots.txt"):
        visit(edge, path)
        assert status(visit(edge, path)) == "HIT"

    purge(stack, {"tags": [tag.upper()]})  # tags match case-insensitively

    assert stack.cloudflare.state.purges[-1].evicted >= 1
    assert status(visit(edge, "/hello/")) == "MISS"
    assert status(visit(edge, "/robots.txt")) == "HIT"


def test_cache_keys_are_the_url_exactly_as_requested(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    assert status(visit(edge, "/hello/")) == "MISS"

    # no index rewrite without the slash: "hello" is not an object, so the site's 404 page
    bare = visit(edge, "/hello")
    assert bare.status_code == 404 and "<html" in bare.text.lower()
    assert stack.cloudflare.state.origin_fetches[-2:] == ["hello", "404.html"]
    assert status(visit(edge, "/hello/")) == "HIT"
    # a query string, the apex and http:// are other entries
    assert status(visit(edge, "/hello/?utm=x")) == "MISS"
    assert status(visit(edge, "/hello/", Host="example.com")) == "MISS"
    assert status(visit(edge, "/hello/", Host="EXAMPLE.com")) == "HIT"  # hosts are lowercased
    assert status(visit(edge, "/hello/", **{"X-Forwarded-Proto": "http"})) == "MISS"
    assert "https://example.com/hello/" in stack.cloudflare.state.cache_keys()

    # purging the www URL leaves the apex, the query variant and http:// cached
    purge(stack, {"files": ["https://www.example.com/hello/"]})
    assert status(visit(edge, "/hello/")) == "MISS"
    assert status(visit(edge, "/hello/", Host="example.com")) == "HIT"
    assert status(visit(edge, "/hello/?utm=x")) == "HIT"
    assert status(visit(edge, "/hello/", **{"X-Forwarded-Proto": "http"})) == "HIT"
    # {"url": ...} items and the host form
    purge(stack, {"files": [{"url": "https://www.example.com/hello/?utm=x"}]})
    assert status(visit(edge, "/hello/?utm=x")) == "MISS"
    purge(stack, {"hosts": ["example.com"]})
    assert status(visit(edge, "/hello/", Host="example.com")) == "MISS"
    assert status(visit(edge, "/hello/")) == "HIT"


def test_prefix_and_purge_everything(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    paths = ["/tags/", "/tags/cdn/", "/hello/", "/feed.xml"]
    for path in paths:
        visit(edge, path)
        assert status(visit(edge, path)) == "HIT"

    purge(stack, {"prefixes": ["www.example.com/tags"]})
    assert [status(visit(edge, p)) for p in paths] == ["MISS", "MISS", "HIT", "HIT"]

    purge(stack, {"purge_everything": True})
    assert stack.cloudflare.state.cache_keys() == []
    assert [status(visit(edge, p)) for p in paths] == ["MISS"] * 4


def test_missing_pages_are_404_with_the_site_page_and_not_cached(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    site_404 = stack.s3.get_object(Bucket=stack.site_bucket, Key="404.html")["Body"].read()
    for path in ("/nope/", "/nope/", "/../etc/passwd", "/a//b/"):
        response = visit(edge, path)
        assert response.status_code == 404 and response.content == site_404, path
        assert status(response) != "HIT"
    assert not any("nope" in key for key in stack.cloudflare.state.cache_keys())

    # a page published at a URL that was 404 shows at once
    publish(stack, ARTICLE.replace(b"title: Hello", b"title: Nope"), key="content/nope.md")
    assert visit(edge, "/nope/").status_code == 200


def test_ttls_come_from_the_origin_cache_control(stack):
    now = [1000.0]
    stack.cloudflare.state.clock = lambda: now[0]
    edge = stack.edge_base
    for key, cache_control in {
        "short/index.html": "public, max-age=60, s-maxage=30",
        "browser/index.html": "public, max-age=60",
        "private/index.html": "private, max-age=600",
        "nostore/index.html": "no-store",
    }.items():
        stack.s3.put_object(
            Bucket=stack.site_bucket, Key=key, Body=key.encode(), ContentType="text/html", CacheControl=cache_control
        )

    assert [status(visit(edge, "/short/")) for _ in range(2)] == ["MISS", "HIT"]
    now[0] += 29
    assert status(visit(edge, "/short/")) == "HIT"
    now[0] += 1
    assert [status(visit(edge, "/short/")) for _ in range(2)] == ["EXPIRED", "HIT"]
    assert [status(visit(edge, "/browser/")) for _ in range(2)] == ["MISS", "HIT"]
    now[0] += 60
    assert status(visit(edge, "/browser/")) == "EXPIRED"
    for path in ("/private/", "/nostore/"):
        assert [status(visit(edge, path)) for _ in range(2)] == ["BYPASS", "BYPASS"]


def test_the_bypass_cookie_comes_from_the_applied_cache_rules(stack):
    publish(stack, ARTICLE)
    edge = stack.edge_base
    rules = copy.deepcopy(RULES["phases"]["http_request_cache_settings"])
    rules["rules"][1]["expression"] = '(http.cookie contains "wordpress_logged_in")'
    response = api(stack.cloudflare.api_base, "PUT", entrypoint("http_request_cache_settings"), stack.token, rules)
    assert response.status_code == 200

    visit(edge, "/hello/")
    assert status(visit(edge, "/hello/", Cookie="edgepub_session=1")) == "HIT"
    assert status(visit(edge, "/hello/", Cookie="wordpress_logged_in_abc=1")) == "BYPASS"
