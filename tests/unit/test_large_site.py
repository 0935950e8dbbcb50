"""A site of 10,000 generated articles: a change rewrites only what it must."""

from __future__ import annotations

import feedparser
import pytest
from edgepub.plan import Layout
from lxml import etree

from tests.support.sites import Site, generated_sources, md

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@pytest.fixture(scope="module")
def big() -> tuple[Site, list[tuple[str, bytes]]]:
    site = Site(layout=Layout())
    sources = generated_sources(10_000)
    report = site.load(sources)
    assert report.count("published") == 10_000
    return site, sources


def test_body_edit_writes_and_purges_only_the_article(big):
    site, sources = big
    name, data = sources[5000]
    outcome = site.put(name, data.replace(b"body.", b"body, edited."))
    # The body shows only on the article's own page: listings, feed and sitemap
    # show title, summary and dates, and similar-post blocks show titles.
    assert outcome.action == "published"
    assert site.written == {"/article-05000/"}
    assert site.purged == {"/article-05000/"}


def test_new_article_rewrites_a_bounded_set_of_pages(big):
    site, _ = big
    site.put("fresh.md", md("Fresh", date="2026-11-01", tags=("topic1", "topic2"), stack="[redis]"))
    # 10,000 articles at 20 a page fill pages 1-500; the new one opens page 501
    # and page 500 gains its "newer" link. Tag archives likewise.
    assert {"/fresh/", "/", "/feed.xml", "/page/501/", "/page/500/", "/tags/", "/sitemap.xml"} <= site.written
    assert len(site.written) <= 36
    assert site.purged == site.written


def test_title_edit_of_an_old_article_leaves_the_newest_listings_alone(big):
    site, sources = big
    name, data = sources[10]
    site.put(name, data.replace(b"title: Article 10\n", b"title: Article ten\n"))
    assert "/article-00010/" in site.written and "/page/1/" in site.written
    assert "/" not in site.written and "/feed.xml" not in site.written
    assert len(site.written) <= 20


def test_feed_parses_as_atom_with_the_newest_entries(big):
    site, _ = big
    feed = feedparser.parse(site.pages.body("/feed.xml"))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == 20
    dates = [e.published for e in feed.entries]
    assert dates == sorted(dates, reverse=True)
    assert all(e.link.startswith("https://www.example.com/") for e in feed.entries)


def test_sitemaps_follow_the_protocol_and_list_every_indexed_article(big):
    site, _ = big
    index = etree.fromstring(site.pages.body("/sitemap.xml"))
    assert index.tag == f"{SITEMAP_NS}sitemapindex"
    locs = [el.findtext(f"{SITEMAP_NS}loc") for el in index]
    assert all(loc.startswith("https://www.example.com/sitemaps/") for loc in locs)
    assert locs[0] == "https://www.example.com/sitemaps/pages.xml"  # the site's own pages
    urls = []
    for loc in locs:
        shard = etree.fromstring(site.pages.body(loc.removeprefix("https://www.example.com")))
        assert shard.tag == f"{SITEMAP_NS}urlset"
        assert len(shard) <= 50_000
        for url in shard:
            # article shards carry lastmod; the pages and archive shards do not (they change only
            # when pages come or go)
            own_pages = loc == locs[0] or "/sitemaps/archive-" in loc
            assert bool(url.findtext(f"{SITEMAP_NS}lastmod")) == (not own_pages)
            urls.append(url.findtext(f"{SITEMAP_NS}loc"))
    assert len(urls) == len(set(urls)) >= 10_000
    assert {"https://www.example.com/", "https://www.example.com/tags/", "https://www.example.com/page/1/"} <= set(urls)


def test_noindex_articles_stay_out_of_the_sitemap():
    site = Site()
    site.put("hidden.md", md("Hidden", flags="{needs human review: true}"))
    site.put("shown.md", md("Shown"))
    shard = site.pages.body("/sitemaps/1.xml").decode()
    assert "/shown/" in shard and "/hidden/" not in shard
    assert '<meta name="robots" content="noindex">' in site.html("/hidden/")
