"""Exact page sets for each kind of change, on a small site laid out two to a page.

Base site: a (2026-01-01, #x #y), b (01-02, #y), c (01-03, #z). Archive page 1
holds a and b, page 2 holds c. a and b share #y, so each shows the other as a
similar post. Home shows the newest two (c, b); the feed the newest three.
Each tag's only archive page shows what its tag page shows, so it is a redirect
to the tag page: rewriting it changes no bytes (the page is not written).
"""

from __future__ import annotations

import pytest

from tests.support.sites import Site, md


@pytest.fixture
def site() -> Site:
    s = Site()
    s.put("a.md", md("A", date="2026-01-01", tags=("x", "y")))
    s.put("b.md", md("B", date="2026-01-02", tags=("y",)))
    s.put("c.md", md("C", date="2026-01-03", tags=("z",)))
    return s


def test_first_article_writes_the_site_pages():
    s = Site()
    outcome = s.put("a.md", md("A", tags=("x",)))
    assert outcome.action == "published"
    assert s.written == {
        "/a/",
        "/",
        "/page/1/",
        "/tags/",
        "/tags/x/",
        "/tags/x/page/1/",  # a redirect to /tags/x/ (it would show the same list)
        "/tags/x/feed.xml",
        "/feed.xml",
        "/sitemap.xml",
        "/sitemaps/1.xml",
        "/sitemaps/pages.xml",
        "/robots.txt",
        "/404.html",
    }
    assert s.purged == s.written
    assert s.pages.pages["page/1/index.html"].redirect_to == "https://www.example.com/"


def test_new_article(site):
    site.put("d.md", md("D", date="2026-01-04", tags=("x",)))
    expected = {
        "/d/",  # its page
        "/a/",  # a shares #x with d: d joins a's similar posts
        "/page/2/",  # d fills the last archive page (c is there): it now shows what home shows, a redirect
        "/page/1/",  # its "newer" link skips the redirect: to home
        "/tags/x/",  # #x gains d (its page 1 now holds a and d: still a redirect, same bytes)
        "/tags/x/feed.xml",
        "/",  # home: newest two are now d, c
        "/feed.xml",  # newest three are now d, c, b
        "/tags/",  # tag counts
        "/sitemaps/1.xml",
        "/sitemap.xml",  # d's URL, and the shard's newest lastmod
        "/sitemaps/archive-1.xml",  # /page/2/ is a redirect now: no longer listed
    }
    assert site.written == expected
    assert site.purged == expected
    assert site.pages.deletes == []


def test_body_edit_rewrites_only_the_article(site):
    outcome = site.put("b.md", md("B", date="2026-01-02", tags=("y",), body="A new body."))
    assert outcome.action == "published"
    assert site.written == {"/b/"}
    assert site.purged == {"/b/"}


def test_title_edit_rewrites_every_page_that_shows_the_title(site):
    site.put("b.md", md("B renamed", date="2026-01-02", tags=("y",)))
    assert site.written == {
        "/b/",
        "/a/",  # shows b as a similar post
        "/page/1/",
        "/tags/y/",  # listings b is on (/tags/y/page/1/ is a redirect: no titles)
        "/tags/y/feed.xml",
        "/",
        "/feed.xml",  # b is among the newest
    }
    assert site.purged == site.written


def test_tag_change_rewrites_old_and_new_tags(site):
    site.put("b.md", md("B", date="2026-01-02", tags=("z",)))
    assert site.written == {
        "/b/",  # its tags, and its similar posts (now c)
        "/a/",  # no longer shares a tag with b
        "/c/",  # now shares #z with b
        "/tags/y/",  # b leaves #y
        "/tags/y/feed.xml",
        "/tags/z/",  # b enters #z
        "/tags/z/feed.xml",
        "/tags/",  # counts
        "/feed.xml",  # entries carry their categories
    }
    assert "B" in site.html("/tags/z/") and "B" not in site.html("/tags/y/")


def test_delete_removes_the_page_and_updates_every_listing(site):
    outcome = site.delete("b.md")
    assert outcome.action == "unpublished"
    assert site.pages.deletes == ["b/index.html"]
    assert site.written == {
        "/a/",  # b was its similar post
        "/page/1/",
        "/tags/y/",  # listings b left
        "/tags/y/feed.xml",
        "/",
        "/feed.xml",  # b was among the newest
        "/tags/",
        "/sitemaps/1.xml",
    }
    assert site.purged == site.written | {"/b/"}


def test_unchanged_reupload_writes_and_purges_nothing(site):
    outcome = site.put("b.md", md("B", date="2026-01-02", tags=("y",)))
    assert outcome.action == "unchanged"
    assert site.written == set() and site.purged == set()


def test_draft_is_not_published(site):
    outcome = site.put("e.md", md("E", date="2026-01-05", tags=("x",), draft="true"))
    assert outcome.action == "held" and outcome.reason == "draft"
    assert site.written == set() and site.purged == set()


def test_published_article_turned_draft_is_taken_down(site):
    outcome = site.put("b.md", md("B", date="2026-01-02", tags=("y",), draft="true"))
    assert outcome.action == "unpublished"
    assert site.pages.deletes == ["b/index.html"]
    assert "/b/" in site.purged


def test_future_publish_date_is_held(site):
    outcome = site.put("e.md", md("E", date="2026-01-05", publishDate="2026-12-01"))
    assert outcome.action == "held" and outcome.reason == "scheduled"
    assert site.written == set()
    assert site.index.model.entries["e"].status == "scheduled"


def test_past_expiry_is_not_published(site):
    outcome = site.put("e.md", md("E", date="2026-01-05", expiryDate="2026-02-01"))
    assert outcome.action == "held" and outcome.reason == "expired"
    assert site.written == set()


def test_alias_leaves_a_redirect_and_removing_it_deletes_it(site):
    site.put("c.md", md("C", date="2026-01-03", tags=("z",), aliases="[/old/c/]"))
    assert site.written == {"/old/c/"}  # only the redirect: aliases are not shown on the page
    assert "url=https://www.example.com/c/" in site.html("/old/c/")
    site.put("c.md", md("C", date="2026-01-03", tags=("z",)))
    assert site.pages.deletes == ["old/c/index.html"]
    assert site.purged == {"/old/c/"}


def test_slug_change_redirects_the_old_url(site):
    site.put("c.md", md("C", date="2026-01-03", tags=("z",), slug="see"))
    assert "/see/" in site.written and "/c/" in site.written
    assert "url=https://www.example.com/see/" in site.html("/c/")
    assert site.pages.deletes == []  # the old URL now holds the redirect


def test_alias_cannot_take_another_articles_url(site):
    outcome = site.put("e.md", md("E", aliases="[/a/]"))
    assert outcome.action == "rejected" and "aliases[0]" in outcome.reason
    assert site.written == set()


def test_second_source_cannot_take_a_published_slug(site):
    outcome = site.put("other/b.md", md("Other B"))
    assert outcome.action == "rejected" and "'b' is already used by content/b.md" in outcome.reason


def test_similar_posts_are_deterministic_and_ranked(site):
    html = site.html("/a/")
    assert '<a href="https://www.example.com/b/">B</a>' in html
    assert "/c/" not in html.split('id="similar-posts"', 1)[1]
