"""Listing pages: one URL per list, archive positions in date order, feeds, the pages
sitemap and `relayout`, checked against what the model renders from scratch."""

from __future__ import annotations

import json
import random
import re
from datetime import date, timedelta
from itertools import pairwise

import feedparser
import pytest
from click.testing import CliRunner
from edgepub import ops
from edgepub.cli import cli
from edgepub.localbuild import build
from edgepub.pages import Page, path_for_key
from edgepub.plan import SITE_PAGES, Layout, PageRef, listing_refs, ref_for_path
from edgepub.settings import Settings
from edgepub.site import SiteModel

from tests.support.sites import URL, Site, md

SMALL = Layout(page_size=3, home_size=2, tag_front_size=2, feed_size=3)
NOINDEX = {"flags": "{needs human review: true}"}


def day(n: int) -> str:
    return (date(2025, 1, 1) + timedelta(days=n)).isoformat()


def model_of(site: Site) -> SiteModel:
    return site.index.load()


def listed(html: str) -> tuple[str, ...]:
    """The article links a listing page shows, in order."""
    match = re.search(r'<ol class="entries">(.*?)</ol>', html, re.S)
    return tuple(re.findall(r'<h2><a href="([^"]+)"', match.group(1))) if match else ()


def check_site(site: Site) -> None:
    """What any sequence of publishes must leave: every stored site page is exactly what
    the model renders now (so planning missed nothing), every page the model implies is
    stored and no other, and no two stored list pages show the same list under their own
    canonical URL (archive pages that would are redirects to their front page)."""
    model = model_of(site)
    layout, renderer = site.publisher.layout, site.publisher.renderer
    stored = {path_for_key(key): page for key, page in site.pages.pages.items()}
    implied = listing_refs(model, layout) | set(SITE_PAGES) | {PageRef("sitemap", (str(n),)) for n in model.shards()}
    implied_paths = {ref.path for ref in implied}
    for path, page in stored.items():
        ref = ref_for_path(path, model)
        if ref is None or ref.kind in ("article", "redirect"):
            continue
        assert path in implied_paths, f"{path} is stored but the site has no such page"
        assert page.body == renderer.site_page(ref, model, layout).body, f"{path} is stale"
    assert implied_paths <= set(stored), f"not stored: {sorted(implied_paths - set(stored))}"
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for path, page in sorted(stored.items()):
        if page.kind != "listing" or path == "/tags/":
            continue
        html = page.body.decode()
        assert f'<link rel="canonical" href="{URL}{path}">' in html
        assert re.search(r'<meta name="description" content="[^"]+">', html), path
        listing = path.split("/page/")[0]  # a front page and its archive pages ("" for home's)
        shown = (listing.rstrip("/"), listed(html))
        if shown[1]:
            assert shown not in seen, f"{path} shows what {seen.get(shown)} shows"
            seen[shown] = path


def positions_in_date_order(model: SiteModel, listing: str) -> bool:
    """Each archive page of the listing holds only articles newer than the page before it."""
    pages: dict[int, list[str]] = {}
    for entry in model.live_entries:
        n = entry.page_in(listing)
        if n:
            pages.setdefault(n, []).append(entry.date)
    ordered = [pages[n] for n in sorted(pages)]
    return all(max(a) <= min(b) for a, b in pairwise(ordered))


# -- one URL per list ---------------------------------------------------------------------


def test_an_archive_page_that_shows_what_its_front_shows_is_a_redirect():
    site = Site(layout=Layout())
    site.put("a.md", md("A", tags=("redis caching",)))
    for path, front in (("/page/1/", "/"), ("/tags/redis-caching/page/1/", "/tags/redis-caching/")):
        page = site.pages.pages[path.strip("/") + "/index.html"]
        assert page.kind == "redirect" and page.redirect_to == URL + front
        assert f'<link rel="canonical" href="{URL}{front}">' in page.body.decode()
    # the fronts do not link to them: there is nothing older to show
    assert "/page/1/" not in site.html("/") and "/tags/redis-caching/page/1/" not in site.html("/tags/redis-caching/")
    sitemap = site.html("/sitemaps/pages.xml")
    assert f"<loc>{URL}/</loc>" in sitemap and f"<loc>{URL}/tags/redis-caching/</loc>" in sitemap
    assert "/page/1/" not in sitemap
    assert "/sitemaps/archive-" not in site.html("/sitemap.xml")  # the archive lists no page of its own
    check_site(site)


def test_the_redirect_turns_into_a_list_when_the_front_no_longer_shows_everything():
    site = Site(layout=Layout(page_size=20, home_size=2, tag_front_size=2))
    site.put("a.md", md("A", date=day(1), tags=("x",)))
    site.put("b.md", md("B", date=day(2), tags=("x",)))
    assert site.pages.pages["page/1/index.html"].kind == "redirect"
    site.put("c.md", md("C", date=day(3), tags=("x",)))
    # page 1 now lists a, b, c; home shows c, b: both pages are planned, and the pages sitemap
    assert {"/page/1/", "/", "/tags/x/page/1/", "/tags/x/", "/sitemaps/archive-1.xml", "/sitemap.xml"} <= site.written
    assert "/sitemaps/pages.xml" not in site.written  # no tag came or went
    assert site.pages.pages["page/1/index.html"].kind == "listing"
    assert f'href="{URL}/page/1/">Older articles</a>' in site.html("/")
    check_site(site)
    site.delete("a.md")  # back to two: a redirect again
    assert site.pages.pages["page/1/index.html"].kind == "redirect"
    assert "/page/1/" in site.written and "/page/1/" in site.purged
    check_site(site)


def test_a_last_page_that_holds_just_the_newest_redirects_and_the_pager_skips_it():
    site = Site(layout=Layout(page_size=3, home_size=2))
    for i in range(5):  # page 1: 0-2, page 2: 3-4 = what home shows
        site.put(f"a{i}.md", md(f"A{i}", date=day(i)))
    assert site.pages.pages["page/2/index.html"].redirect_to == URL + "/"
    page1 = site.html("/page/1/")
    assert f'<a rel="prev" href="{URL}/">Newer articles</a>' in page1  # not to the redirect
    assert f'href="{URL}/page/1/">Older articles</a>' in site.html("/")
    check_site(site)


def test_a_page_as_long_as_the_front_but_with_other_articles_is_not_a_redirect():
    site = Site(layout=Layout(page_size=3, home_size=2))
    for name, n in (("a", 1), ("b", 2), ("c", 3), ("d", 5), ("x", 0)):  # x, backdated, joins d on page 2
        site.put(f"{name}.md", md(name.upper(), date=day(n)))
    assert listed(site.html("/")) == (f"{URL}/d/", f"{URL}/c/")
    assert listed(site.html("/page/2/")) == (f"{URL}/d/", f"{URL}/x/")  # two, like home, but not home's two
    check_site(site)


def test_random_publishes_leave_every_listing_current_and_no_list_twice():
    """Publishes, edits, retags, redates, noindex and deletes in random order on a tiny
    layout (where fronts and archive pages coincide often): after each, the stored pages
    are what a render from scratch gives."""
    rng = random.Random(13)
    site = Site(layout=SMALL)
    tags = ["x", "y", "z"]
    live: set[str] = set()
    for step in range(120):
        name = f"p{rng.randrange(14)}"
        if name in live and rng.random() < 0.25:
            site.delete(f"{name}.md")
            live.discard(name)
        else:
            extra = NOINDEX if rng.random() < 0.15 else {}
            chosen = tuple(rng.sample(tags, rng.randrange(0, 3)))
            site.put(f"{name}.md", md(name.upper(), date=day(rng.randrange(40)), tags=chosen, **extra))
            live.add(name)
        try:
            check_site(site)
        except AssertionError as error:
            raise AssertionError(f"after step {step} ({name}): {error}") from None


# -- positions ------------------------------------------------------------------------------


def test_sources_published_together_get_positions_in_date_order():
    site = Site(layout=SMALL)
    # file names in the opposite order of the dates: a build reads them by name
    sources = [(f"{chr(ord('z') - i)}.md", md(f"T{i}", date=day(i), tags=("x", "y"))) for i in range(10)]
    site.load(sources)
    model = model_of(site)
    assert positions_in_date_order(model, "all")
    assert positions_in_date_order(model, "tag:x") and positions_in_date_order(model, "tag:y")
    assert [e.archive_page for e in sorted(model.live_entries, key=lambda e: e.date)] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    check_site(site)


def test_a_single_publish_appends_even_when_backdated():
    site = Site(layout=SMALL)
    site.load([(f"a{i}.md", md(f"A{i}", date=day(10 + i))) for i in range(6)])
    before = {e.slug: e.archive_page for e in model_of(site).live_entries}
    site.put("old.md", md("Old", date=day(0)))
    model = model_of(site)
    assert model.entries["old"].archive_page == 3  # a new last page opens: no page is renumbered
    assert {e.slug: e.archive_page for e in model.live_entries if e.slug != "old"} == before
    assert {"/page/3/", "/page/2/"} <= site.written  # page 2 gains its "newer" link
    assert "/page/1/" not in site.written
    check_site(site)


# -- feeds and sitemaps -----------------------------------------------------------------


def test_tag_feed_is_planned_linked_and_deleted_with_its_tag():
    site = Site()
    site.put("a.md", md("A", date=day(1), tags=("redis caching",)))
    assert "/tags/redis-caching/feed.xml" in site.written
    tag_page = site.html("/tags/redis-caching/")
    feed_url = f"{URL}/tags/redis-caching/feed.xml"
    alternate = '<link rel="alternate" type="application/atom+xml" title="edgepub: redis-caching"'
    assert f'{alternate} href="{feed_url}">' in tag_page
    assert "<h1>Articles tagged redis-caching</h1>" in tag_page and "#" not in tag_page.split("<main>")[1]
    feed = feedparser.parse(site.pages.body("/tags/redis-caching/feed.xml"))
    assert not feed.bozo and [e.title for e in feed.entries] == ["A"]
    assert feed.feed.link == f"{URL}/tags/redis-caching/"
    site.put("b.md", md("B", date=day(2), tags=("other",)))
    assert "/tags/redis-caching/feed.xml" not in site.written  # its newest did not change
    site.put("c.md", md("C", date=day(3), tags=("redis caching",)))
    assert "/tags/redis-caching/feed.xml" in site.written
    site.delete("a.md")
    site.delete("c.md")
    assert "tags/redis-caching/feed.xml" in site.pages.deletes
    assert "tags/redis-caching/feed.xml" not in site.pages.pages
    check_site(site)


def test_noindex_articles_stay_out_of_feeds_and_sitemaps_but_are_listed():
    site = Site()
    site.put("shown.md", md("Shown", date=day(1), tags=("x",)))
    site.put("hidden.md", md("Hidden", date=day(2), tags=("x",), **NOINDEX))
    for feed in ("/feed.xml", "/tags/x/feed.xml"):
        assert [e.link for e in feedparser.parse(site.pages.body(feed)).entries] == [f"{URL}/shown/"]
    assert "/hidden/" not in site.html("/sitemaps/1.xml")
    assert f"{URL}/hidden/" in site.html("/")  # a live page: listed, not indexed
    site.put("hidden.md", md("Hidden", date=day(2), tags=("x",)))  # reviewed: now in the feeds
    assert {"/feed.xml", "/tags/x/feed.xml", "/sitemaps/1.xml"} <= site.written
    assert f"{URL}/hidden/" in site.html("/feed.xml")
    check_site(site)


def test_the_pages_sitemap_changes_only_when_listing_pages_come_or_go():
    site = Site(layout=SMALL)
    site.put("a.md", md("A", date=day(1), tags=("x",)))
    index = site.html("/sitemap.xml")
    assert index.index(f"{URL}/sitemaps/pages.xml") < index.index(f"{URL}/sitemaps/1.xml")
    site.put("b.md", md("B", date=day(2), tags=("x",)))
    assert not {"/sitemaps/pages.xml", "/sitemaps/archive-1.xml"} & site.written  # same pages
    site.put("c.md", md("C", date=day(3), tags=("y",)))  # a new tag; /page/1/ now lists more than home
    assert {"/sitemaps/pages.xml", "/sitemaps/archive-1.xml", "/sitemap.xml"} <= site.written
    locs = re.findall(r"<loc>([^<]+)</loc>", site.html("/sitemaps/pages.xml"))
    assert locs == [f"{URL}/", f"{URL}/tags/", f"{URL}/tags/x/", f"{URL}/tags/y/"]
    assert re.findall(r"<loc>([^<]+)</loc>", site.html("/sitemaps/archive-1.xml")) == [f"{URL}/page/1/"]
    maps = re.findall(r"<loc>([^<]+)</loc>", site.html("/sitemap.xml"))
    assert maps == [f"{URL}/sitemaps/pages.xml", f"{URL}/sitemaps/archive-1.xml", f"{URL}/sitemaps/1.xml"]
    for path in ("/sitemaps/pages.xml", "/sitemaps/archive-1.xml"):
        assert "<lastmod>" not in site.html(path)
    check_site(site)


def test_archive_pages_are_listed_in_shards_and_a_new_page_rewrites_only_its_shard():
    """A million articles make 50,000 archive pages, past a sitemap's 50,000 URLs: they are
    listed in shards of `sitemap_shard_size` pages, and a page that opens rewrites only the
    shard it is in (and the index when that shard is new)."""
    layout = Layout(page_size=1, home_size=1, tag_front_size=1, feed_size=1, sitemap_shard_size=3)
    site = Site(layout=layout)
    for n in range(1, 5):
        site.put(f"a{n}.md", md(f"A{n}", date=day(n), tags=("x",)))
    # pages 1-4, page 4 the redirect (it shows what home shows): pages 1-3 in shard 1
    assert "sitemaps/archive-2.xml" not in site.pages.pages

    def archive(k: int) -> list[str]:
        return re.findall(r"<loc>[^<]+/page/(\d+)/</loc>", site.html(f"/sitemaps/archive-{k}.xml"))

    assert archive(1) == ["3", "2", "1"]
    site.put("a5.md", md("A5", date=day(5), tags=("x",)))  # page 5 opens: page 4 is listed, in shard 2
    assert {"/sitemaps/archive-2.xml", "/sitemap.xml"} <= site.written
    assert not {"/sitemaps/archive-1.xml", "/sitemaps/pages.xml"} & site.written
    assert archive(2) == ["4"]
    site.put("a6.md", md("A6", date=day(6), tags=("x",)))  # page 6 opens in shard 2: only it changes
    assert "/sitemaps/archive-2.xml" in site.written
    assert not {"/sitemaps/archive-1.xml", "/sitemaps/pages.xml"} & site.written
    assert archive(2) == ["5", "4"]
    maps = re.findall(r"<loc>[^<]+/sitemaps/([^<]+)</loc>", site.html("/sitemap.xml"))
    assert maps == ["pages.xml", "archive-1.xml", "archive-2.xml", "1.xml", "2.xml"]
    check_site(site)
    # deleting the newest article: page 6 keeps its number (emptied) and page 5 is the redirect
    site.delete("a6.md")
    assert archive(2) == ["6", "4"]
    check_site(site)
    # a relayout to 3 a page leaves pages 1-2: shard 2 lists nothing and goes
    relaid = Layout(page_size=3, home_size=1, tag_front_size=1, feed_size=1, sitemap_shard_size=3)
    site.publisher.base_layout = site.publisher.layout = relaid
    result = ops.relayout(site.publisher)
    assert "/sitemaps/archive-2.xml" in result.deleted and "sitemaps/archive-2.xml" not in site.pages.pages
    assert "/sitemaps/archive-2.xml" not in site.html("/sitemap.xml")
    check_site(site)


def test_a_site_from_before_archive_shards_gains_them_on_its_next_publish():
    layout = Layout(page_size=1, home_size=1, tag_front_size=1, feed_size=1, sitemap_shard_size=2)
    site = Site(layout=layout)
    for n in range(1, 6):
        site.put(f"a{n}.md", md(f"A{n}", date=day(n)))
    model = model_of(site)
    for k in (1, 2):  # stored by an edgepub that listed archive pages in the pages sitemap
        del model.page_hashes[f"/sitemaps/archive-{k}.xml"]
    model.page_hashes["/sitemaps/pages.xml"] = "0" * 64  # with its archive pages
    site.put("b.md", md("B", date=day(9)))
    assert {"/sitemaps/archive-1.xml", "/sitemaps/archive-2.xml", "/sitemaps/archive-3.xml"} <= site.written
    assert {"/sitemaps/pages.xml", "/sitemap.xml"} <= site.written
    check_site(site)


def test_the_upgrade_makes_the_shards_the_archive_has_after_the_change():
    """A change that empties a shard on an older site: that shard is not made (an empty
    sitemap nothing lists)."""
    layout = Layout(page_size=2, home_size=1, tag_front_size=1, feed_size=1, sitemap_shard_size=2)
    site = Site(layout=layout)
    for n in range(10):
        site.put(f"a{n}.md", md(f"A{n}", date=day(n)))
    model = model_of(site)
    assert set(model.page_hashes) >= {f"/sitemaps/archive-{k}.xml" for k in (1, 2, 3)}
    for k in (1, 2, 3):  # a site an older edgepub stored: no archive shards
        del model.page_hashes[f"/sitemaps/archive-{k}.xml"]
        del site.pages.pages[f"sitemaps/archive-{k}.xml"]
    site.delete("a9.md")  # page 5 now holds just the newest: the redirect, and shard 3 has nothing
    assert {"/sitemaps/archive-1.xml", "/sitemaps/archive-2.xml"} <= site.written
    assert "/sitemaps/archive-3.xml" not in site.written and "sitemaps/archive-3.xml" not in site.pages.pages
    check_site(site)


def test_a_site_page_set_from_before_gains_the_pages_sitemap_and_the_index_lists_it():
    site = Site()
    site.put("a.md", md("A", date=day(1)))
    model = model_of(site)
    del model.page_hashes["/sitemaps/pages.xml"]  # stored by an edgepub before it had one
    site.put("b.md", md("B", date=day(2)))
    assert {"/sitemaps/pages.xml", "/sitemap.xml"} <= site.written


def test_ref_for_path_knows_every_listing_page():
    model = SiteModel()
    assert ref_for_path("/tags/x/feed.xml", model) == PageRef("tag_feed", ("x",))
    assert ref_for_path("/sitemaps/pages.xml", model) == PageRef("sitemap_pages")
    assert ref_for_path("/sitemaps/3.xml", model) == PageRef("sitemap", ("3",))
    assert ref_for_path("/sitemaps/archive-3.xml", model) == PageRef("sitemap_archive", ("3",))
    assert ref_for_path("/sitemaps/archive-x.xml", model) is None
    assert ref_for_path("/page/1/", model) == PageRef("archive", ("1",))  # rendered as a redirect when it is one
    assert ref_for_path("/tags/x/page/2/", model) == PageRef("tag_archive", ("x", "2"))
    assert ref_for_path("/sitemaps/other.xml", model) is None
    for ref in (PageRef("tag_feed", ("x",)), PageRef("sitemap_pages"), PageRef("tag_archive", ("x", "1"))):
        assert ref_for_path(ref.path, model) == ref


def test_drift_repair_rewrites_a_redirect_page_and_a_tag_feed():
    from edgepub.jobs import repair_drift

    site = Site()
    site.put("a.md", md("A", date=day(1), tags=("x",)))
    expected = {p: site.pages.body(p) for p in ("/page/1/", "/tags/x/feed.xml")}
    for path in expected:
        site.pages.put(Page(path=path, body=b"tampered", kind="listing"))
    repair_drift(site.publisher, site.index)
    assert {p: site.pages.body(p) for p in expected} == expected


# -- relayout ---------------------------------------------------------------------------------


def out_of_order_site() -> Site:
    """Published one by one in an order unrelated to the dates (as after an import);
    slugs run against the dates, so neither publication nor name order is date order."""
    site = Site(layout=SMALL)
    order = [7, 2, 9, 0, 5, 11, 3, 8, 1, 10, 4, 6]
    for i in order:
        site.put(f"p{11 - i:02d}.md", md(f"P{i}", date=day(i), tags=("x",) if i % 2 else ("x", "y")))
    return site


def test_relayout_puts_archive_and_tag_pages_in_date_order_and_a_second_run_changes_nothing():
    site = out_of_order_site()
    assert not positions_in_date_order(model_of(site), "all")
    site.reset_counts()
    preview = ops.relayout(site.publisher, dry_run=True)
    assert preview.dry_run and preview.moved > 0 and preview.planned
    assert site.written == set() and site.pages.deletes == []
    result = ops.relayout(site.publisher)
    model = model_of(site)
    for listing in ("all", "tag:x", "tag:y"):
        assert positions_in_date_order(model, listing)
    assert result.moved == preview.moved and set(result.written) <= set(preview.planned)
    assert result.written and not any(p.startswith(("/p0", "/p1")) for p in result.written)  # no article page
    assert {u.removeprefix(URL) for u in result.purged} == set(result.written) | set(result.deleted)
    check_site(site)
    site.reset_counts()
    again = ops.relayout(site.publisher)
    assert (again.moved, again.planned, again.written, again.deleted, again.purged) == (0, [], [], [], [])
    assert site.written == set() and site.purged == set()


def test_relayout_deletes_the_pages_no_longer_needed_and_uses_the_page_size():
    site = out_of_order_site()
    for i in range(0, 12, 2):
        site.delete(f"p{i:02d}.md")  # six left, on pages 1-4
    assert model_of(site).last_page("all") == 4
    # a listing page an older edgepub left behind (of a tag no article has now)
    site.pages.put(Page(path="/tags/gone/page/2/", body=b"old", kind="listing"))
    model_of(site).page_hashes["/tags/gone/page/2/"] = "0" * 64
    site.publisher.base_layout = Layout(page_size=4, home_size=2, tag_front_size=2, feed_size=3)
    result = ops.relayout(site.publisher)
    model = model_of(site)
    assert model.last_page("all") == 2 and model.last_page("tag:x") == 2
    assert set(result.deleted) == {"/page/3/", "/page/4/", "/tags/x/page/3/", "/tags/x/page/4/", "/tags/gone/page/2/"}
    check_site(site)
    assert (ops.relayout(site.publisher).planned, model_of(site).version) == ([], model.version)


def test_relayout_cli_on_a_local_build(samples, tmp_path):
    out = tmp_path / "out"
    build(samples, out, Settings())
    runner = CliRunner()
    preview = runner.invoke(cli, ["relayout", "--out", str(out), "--dry-run", "--json"])
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.output)["dry_run"] is True
    text = runner.invoke(cli, ["relayout", "--out", str(out)])
    assert text.exit_code == 0 and text.output.startswith("moved ")
    again = json.loads(runner.invoke(cli, ["relayout", "--out", str(out), "--json"]).output)
    assert (again["moved"], again["written"], again["deleted"]) == (0, [], [])
    missing = runner.invoke(cli, ["relayout", "--out", str(tmp_path / "src-less"), "--dry-run"])
    assert missing.exit_code == 2


@pytest.mark.parametrize("path", ["/", "/page/2/", "/tags/x/", "/tags/x/page/2/", "/tags/"])
def test_listing_pages_have_a_description_a_canonical_and_a_readable_pager(path):
    site = Site(layout=SMALL)
    site.load([(f"a{i}.md", md(f"A{i}", date=day(i), tags=("x",))) for i in range(8)])
    html = site.html(path)
    assert f'<link rel="canonical" href="{URL}{path}">' in html
    assert re.search(r'<meta name="description" content="[^"]{20,}">', html)
    if path.startswith(("/page/", "/tags/x/page/")):
        nav = html.split('<nav class="pager"', 1)[1].split("</nav>", 1)[0]
        assert "<ul>" in nav and 'aria-current="page">Page' in nav
        assert "Newer articles" in nav and "Older articles" in nav
    if path == "/":
        ld = json.loads(html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0])
        assert ld["@type"] == "WebSite" and ld["url"] == URL + "/"
