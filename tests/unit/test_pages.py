from __future__ import annotations

import pytest
from edgepub.pages import Page, UnsafePath, key_for_path, path_for_key
from edgepub.settings import CachePolicy


@pytest.mark.parametrize(
    ("path", "key"),
    [("/", "index.html"), ("/a/", "a/index.html"), ("/tags/x/", "tags/x/index.html"), ("/feed.xml", "feed.xml")],
)
def test_pretty_urls_map_to_index_html(path, key):
    assert key_for_path(path) == key
    assert path_for_key(key) == path


@pytest.mark.parametrize("path", ["a/", "/../etc/", "/a/../../b/", "//evil/", "/a\\b/", "/a b/", "/%2e%2e/"])
def test_paths_that_could_escape_are_refused(path):
    with pytest.raises(UnsafePath):
        key_for_path(path)


def test_cache_control_per_kind_keeps_browsers_short_and_the_edge_long():
    policy = CachePolicy()
    article = Page(path="/a/", body=b"x", kind="article").cache_control(policy)
    assert "max-age=300" in article and "s-maxage=31536000" in article
    assert "stale-while-revalidate" in article and "stale-if-error" in article
    assert "s-maxage=600" in Page(path="/404.html", body=b"x", kind="error").cache_control(policy)


def test_metadata_is_ascii_even_for_unicode_source_keys():
    page = Page(
        path="/a/",
        body=b"x",
        kind="article",
        source_key="content/café ü.md",
        revision="1.0 ß",
        cache_tags=("article:a", "tag:x"),
    )
    meta = page.metadata()
    assert all(v.isascii() for v in meta.values())
    assert meta["source-key"] == "content/caf%C3%A9%20%C3%BC.md"
    assert meta["cache-tags"] == "article:a,tag:x"
    assert meta["content-hash"] == page.content_hash
