"""The site plan: from (the site as it is, the changes) to the pages to render
and the pages to delete, and nothing more.

A pure function of the model: no I/O. It applies the changes to a copy of the
model, then walks only the pages each change can reach (its own page, the
listing pages it enters or leaves, the tag pages of its old and new tags, the
home page and feed when it is among the newest, its sitemap shard, the
similar-post blocks that show it or now should) and keeps those whose inputs
differ. Rendering then compares bytes, so a page is written only if it changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from edgepub.site import Entry, SiteModel, laid_out, rank_key, similar_for, with_positions


@dataclass(frozen=True)
class Layout:
    """How many items each listing holds (settings)."""

    page_size: int = 20
    home_size: int = 10
    tag_front_size: int = 10
    feed_size: int = 20
    similar_count: int = 5
    sitemap_shard_size: int = 1000


@dataclass(frozen=True, order=True)
class PageRef:
    """A page of the site, by what it shows. `args` identify it within its kind."""

    # article, home, archive, tag, tag_archive, tag_feed, tags, feed, sitemap_index, sitemap,
    # sitemap_pages, sitemap_archive, robots, not_found, redirect
    kind: str
    args: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        from edgepub.site import tag_slug

        a = self.args
        match self.kind:
            case "article":
                return f"/{a[0]}/"
            case "home":
                return "/"
            case "archive":
                return f"/page/{a[0]}/"
            case "tag":
                return f"/tags/{tag_slug(a[0])}/"
            case "tag_archive":
                return f"/tags/{tag_slug(a[0])}/page/{a[1]}/"
            case "tag_feed":
                return f"/tags/{tag_slug(a[0])}/feed.xml"
            case "tags":
                return "/tags/"
            case "feed":
                return "/feed.xml"
            case "sitemap_index":
                return "/sitemap.xml"
            case "sitemap":
                return f"/sitemaps/{a[0]}.xml"
            case "sitemap_pages":
                return "/sitemaps/pages.xml"
            case "sitemap_archive":
                return f"/sitemaps/archive-{a[0]}.xml"
            case "robots":
                return "/robots.txt"
            case "not_found":
                return "/404.html"
            case "redirect":
                return a[0]
        raise ValueError(f"unknown page kind {self.kind}")


def ref_for_path(path: str, model: SiteModel) -> PageRef | None:
    """Which page a stored path is (for drift repair); None for a path edgepub did not make.

    An archive page that shows just what its front page shows is a redirect to it
    (see `page_nav`): its ref is still the archive page's, rendered as a redirect."""
    fixed = {
        "/": PageRef("home"),
        "/tags/": PageRef("tags"),
        "/feed.xml": PageRef("feed"),
        "/sitemap.xml": PageRef("sitemap_index"),
        "/sitemaps/pages.xml": PageRef("sitemap_pages"),
        "/robots.txt": PageRef("robots"),
        "/404.html": PageRef("not_found"),
    }
    if path in fixed:
        return fixed[path]
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "page" and parts[1].isdigit() and path.endswith("/"):
        return PageRef("archive", (parts[1],))
    if len(parts) == 2 and parts[0] == "sitemaps" and parts[1].removesuffix(".xml").isdigit():
        return PageRef("sitemap", (parts[1].removesuffix(".xml"),))
    if len(parts) == 2 and parts[0] == "sitemaps" and parts[1].endswith(".xml"):
        number = parts[1].removeprefix("archive-").removesuffix(".xml")
        if parts[1].startswith("archive-") and number.isascii() and number.isdigit() and int(number) >= 1:
            return PageRef("sitemap_archive", (number,))
    if parts[0] == "tags" and len(parts) == 2 and path.endswith("/"):
        return PageRef("tag", (parts[1],))
    if parts[0] == "tags" and len(parts) == 3 and parts[2] == "feed.xml":
        return PageRef("tag_feed", (parts[1],))
    if parts[0] == "tags" and len(parts) == 4 and parts[2] == "page" and parts[3].isdigit():
        return PageRef("tag_archive", (parts[1], parts[3]))
    if len(parts) == 1 and (entry := model.entries.get(parts[0])) is not None and entry.live:
        return PageRef("article", (parts[0],))
    owner = model.path_owner(path)
    if owner is not None and (entry := model.entries.get(owner)) is not None and path in entry.redirects:
        return PageRef("redirect", (path, entry.path))
    return None


SITE_PAGES = (
    PageRef("home"),
    PageRef("tags"),
    PageRef("feed"),
    PageRef("sitemap_index"),
    PageRef("sitemap_pages"),
    PageRef("robots"),
    PageRef("not_found"),
)
FIRST_ARCHIVE_SHARD = "/sitemaps/archive-1.xml"  # the shard an older edgepub's site does not have
# the pages a listing has or drops (the archive's sitemap shards with its pages)
LISTING_KINDS = frozenset({"archive", "tag", "tag_archive", "tag_feed", "sitemap_archive"})


# -- listings: the archive ("all") and each tag's ("tag:<t>"), each with its front page --------


def front_ref(listing: str) -> PageRef:
    """The listing's front page: home for the archive, the tag page for a tag."""
    return PageRef("home") if listing == "all" else PageRef("tag", (listing.removeprefix("tag:"),))


def page_ref(listing: str, n: int) -> PageRef:
    """Archive page n of the listing (page 1 is the oldest)."""
    if listing == "all":
        return PageRef("archive", (str(n),))
    return PageRef("tag_archive", (listing.removeprefix("tag:"), str(n)))


def front_entries(model: SiteModel, listing: str, layout: Layout) -> list[Entry]:
    """What the listing's front page shows: its newest entries."""
    return model.newest(listing, layout.home_size if listing == "all" else layout.tag_front_size)


def redirect_page(model: SiteModel, listing: str, layout: Layout) -> int:
    """The archive page that would show exactly what the front page shows (0: none).

    That page redirects to the front page, so every list has one URL. There is at
    most one: the front's entries all sit on it, and it holds nothing else. Pages
    keep their numbers (page 1 is the oldest), so this is usually page 1 of a
    listing that fits on its front page, or a last page that holds just the newest."""
    front = front_entries(model, listing, layout)
    if not front:
        return 0
    n = front[0].page_in(listing)
    if any(e.page_in(listing) != n for e in front):
        return 0
    return n if model.listing_size(listing, n) == len(front) else 0


@dataclass(frozen=True)
class PageNav:
    """An archive page's pager (URL paths, "" for none), or the front page it redirects to."""

    redirect: str = ""
    newer: str = ""  # the next newer page that shows a list of its own (or the front page)
    older: str = ""


def page_nav(model: SiteModel, listing: str, n: int, layout: Layout) -> PageNav:
    return _nav(listing, n, model.last_page(listing), redirect_page(model, listing, layout))


def front_older(model: SiteModel, listing: str, layout: Layout) -> str:
    """The front page's "older articles" link: the archive page of the newest entry the
    front page does not show ("" when it shows them all). Never a redirect page: that
    one holds only what the front shows."""
    size = layout.home_size if listing == "all" else layout.tag_front_size
    entries = model.newest(listing, size + 1)
    return page_ref(listing, entries[size].page_in(listing)).path if len(entries) > size else ""


def _nav(listing: str, n: int, last: int, redirect: int) -> PageNav:
    """Page n's pager from the listing's shape: its last page and its redirect page. Links
    skip the redirect page (the front page stands for it), so they never lead to a redirect."""
    front = front_ref(listing).path
    if n == redirect:
        return PageNav(redirect=front)
    newer = ""
    if n < last:
        m = n + 1 + (n + 1 == redirect)
        newer = page_ref(listing, m).path if m <= last else front
    m = n - 1 - (n - 1 == redirect)
    return PageNav(newer=newer, older=page_ref(listing, m).path if m >= 1 else "")


def sitemap_listing_paths(model: SiteModel) -> list[str]:
    """The site's own pages in the pages sitemap: home, the tags index and every tag page.
    Archive pages are in shards of their own (`archive_sitemap_pages`); tag archive pages
    are left out: they are the most numerous and every article on them is in the article
    shards. The list changes only when a tag appears or goes."""
    return ["/", "/tags/", *(PageRef("tag", (tag,)).path for tag, _ in model.tag_counts())]


def archive_shape(model: SiteModel, layout: Layout) -> tuple[int, int]:
    """The archive's last page and its redirect page (0: none): what its sitemap shards list."""
    return model.last_page("all"), redirect_page(model, "all", layout)


def archive_sitemap_pages(shape: tuple[int, int], k: int, size: int) -> list[int]:
    """The archive pages archive sitemap shard k lists: pages (k-1)*size+1 to k*size that
    exist and are not the redirect page. A sitemap may list 50,000 URLs (sitemaps.org): a
    million articles make 50,000 archive pages, so they are sharded like the articles."""
    last, redirect = shape
    return [n for n in range((k - 1) * size + 1, min(k * size, last) + 1) if n != redirect]


def archive_sitemap_shards(shape: tuple[int, int], size: int) -> list[int]:
    """The archive sitemap shards that list at least one page."""
    last, redirect = shape
    count = -(-last // size)
    return [k for k in range(1, count + 1) if not ((k - 1) * size + 1 == min(k * size, last) == redirect)]


def listing_refs(model: SiteModel, layout: Layout) -> set[PageRef]:
    """Every page of the archive and of each live tag the model implies (page 1 to the
    last, redirects included), with each tag's page and feed, and the archive's sitemap
    shards."""
    tags = [tag for tag, _ in model.tag_counts()]
    model.prefetch_change([], counters=["all", *(f"tag:{tag}" for tag in tags)])
    refs = {page_ref("all", n) for n in range(1, model.last_page("all") + 1)}
    shape = archive_shape(model, layout)
    refs |= {PageRef("sitemap_archive", (str(k),)) for k in archive_sitemap_shards(shape, layout.sitemap_shard_size)}
    for tag in tags:
        listing = f"tag:{tag}"
        refs |= {PageRef("tag", (tag,)), PageRef("tag_feed", (tag,))}
        refs |= {page_ref(listing, n) for n in range(1, model.last_page(listing) + 1)}
    return refs


@dataclass
class SitePlan:
    after: SiteModel
    render: set[PageRef] = field(default_factory=set)
    delete: set[str] = field(default_factory=set)  # URL paths
    reasons: dict[PageRef, str] = field(default_factory=dict)

    def add(self, ref: PageRef, reason: str) -> None:
        self.render.add(ref)
        self.reasons.setdefault(ref, reason)


def plan(before: SiteModel, changes: Mapping[str, Entry | None], layout: Layout = Layout()) -> SitePlan:
    """Plan the pages for `changes` (slug -> new entry, or None to remove it).

    An entry that is not live (draft, scheduled, expired) is kept in the model
    but shown nowhere. Entries that need positions get them oldest first by
    (date, slug): a bulk change (a first build, an import) fills archive pages
    that each span a contiguous range of dates; a single publish appends.
    """
    after = before.copy()
    known = [*(e for e in changes.values() if e is not None), *_stored(before, changes)]
    site_paths = [*(r.path for r in SITE_PAGES), FIRST_ARCHIVE_SHARD]
    before.prefetch_change(known, [*site_paths, *(e.path for e in known)])
    placing: list[tuple[Entry, Entry | None]] = []
    for slug, new in changes.items():
        old = before.entries.get(slug)
        if new is None:
            after.entries.pop(slug, None)
            continue
        if new.live:
            if old is not None and old.live:
                new = replace(new, similar=old.similar)  # recomputed below if anything it depends on changed
            placing.append((new, old if old and old.live else None))
        after.entries[slug] = new
    for new, old in sorted(placing, key=lambda pair: pair[0].order):
        after.entries[new.slug] = with_positions(new, old, after, layout.page_size, layout.sitemap_shard_size)
    result = SitePlan(after=after)
    changed = [s for s in changes if before.entries.get(s) != after.entries.get(s)]
    _similar_posts(before, after, changed, layout, result)
    # similar-post updates change entries too: plan every entry that changed
    touched = after.changed_since(before)
    after.prefetch(touched)
    for slug in sorted(set(touched) | set(changes)):
        _entry_pages(before, after, slug, layout, result)
    # a tag's pages (and a sitemap shard) can change only if an entry that has or had the
    # tag changed more than its similar posts (a new article entering blocks changes those)
    shown = {*changes, *(s for s in touched if _shown(before.entries.get(s)) != _shown(after.entries.get(s)))}
    tags = {t for s in shown for m in (before, after) if (e := m.entries.get(s)) and e.live for t in e.tags}
    _listing_fronts(before, after, layout, result, tags)
    _sitemaps(before, after, result, shown)
    _unstored_site_pages(before, layout, result)
    # a path that is rendered again (a former slug now holding a redirect) is not deleted
    result.delete -= {ref.path for ref in result.render}
    return result


def _shown(entry: Entry | None) -> Entry | None:
    """What listings, feeds and sitemaps show of an entry: all of it but its similar posts."""
    return replace(entry, similar=()) if entry is not None else None


def _stored(model: SiteModel, changes: Mapping[str, Entry | None]) -> list[Entry]:
    """The changed entries as the model has them (their old tags count too)."""
    model.prefetch(changes)
    return [e for slug in changes if (e := model.entries.get(slug)) is not None]


def relayout(before: SiteModel, layout: Layout = Layout()) -> SitePlan:
    """Lay the archive and every tag's pages out again (`edgepub relayout`): every live
    entry's positions from scratch, oldest first by (date, slug), `layout.page_size` to
    a page, as a first build would. Plans the listing pages entries enter or leave and
    those whose navigation changes, any listing page the model implies that is not
    stored yet (a tag feed of an older site) and deletes the stored listing pages no
    longer needed. Articles keep their own pages and sitemap shards. Running it again
    on its result plans nothing."""
    after = before.copy()
    placed, counters = laid_out((e for e in before.entries.values() if e.live), layout.page_size)
    moved = [slug for slug, entry in placed.items() if entry != before.entries[slug]]
    for slug in moved:
        after.entries[slug] = placed[slug]
    for name in [n for n in after.counters if n == "all" or n.startswith("tag:")]:
        del after.counters[name]
    after.counters.update(counters)
    result = SitePlan(after=after)
    for slug in moved:
        _listing_moves(before.entries[slug], placed[slug], slug, result)
    _listing_fronts(before, after, layout, result)
    implied = listing_refs(after, layout)
    for ref in sorted(implied):
        if ref.path not in before.page_hashes:
            result.add(ref, "listing page not yet stored")
    for path in list(before.page_hashes):
        stored = ref_for_path(path, after) if path.startswith(("/page/", "/tags/", "/sitemaps/archive-")) else None
        if stored is not None and stored.kind in LISTING_KINDS and stored not in implied:
            result.render.discard(stored)
            result.delete.add(path)
    _unstored_site_pages(before, layout, result)
    result.delete -= {ref.path for ref in result.render}
    return result


def _unstored_site_pages(before: SiteModel, layout: Layout, result: SitePlan) -> None:
    for ref in SITE_PAGES:
        if ref.path not in before.page_hashes:
            result.add(ref, "site page not yet stored")
            if ref.kind == "sitemap_pages":  # an older site's index does not list it yet
                result.add(PageRef("sitemap_index"), "sitemap shards changed")
    # An older edgepub listed archive pages in the pages sitemap: when the archive's first
    # shard is not stored, the shards the archive has after this change, the pages sitemap
    # and the index are made (the first shard: read with the site pages, in one batch).
    size = layout.sitemap_shard_size
    shards = archive_sitemap_shards(archive_shape(before, layout), size)
    if shards and PageRef("sitemap_archive", (str(shards[0]),)).path not in before.page_hashes:
        for k in archive_sitemap_shards(archive_shape(result.after, layout), size):
            result.add(PageRef("sitemap_archive", (str(k),)), "archive sitemap not yet stored")
        result.add(PageRef("sitemap_pages"), "archive pages moved to their own sitemaps")
        result.add(PageRef("sitemap_index"), "sitemap shards changed")


def _entry_pages(before: SiteModel, after: SiteModel, slug: str, layout: Layout, result: SitePlan) -> None:
    old = before.entries.get(slug)
    new = after.entries.get(slug)
    old_live = old if old is not None and old.live else None
    new_live = new if new is not None and new.live else None
    if new_live is not None:
        result.add(PageRef("article", (slug,)), "article changed" if old_live else "article published")
        for alias in new_live.redirects:
            result.add(PageRef("redirect", (alias, new_live.path)), "redirect to the article")
    if old_live is not None:
        if new_live is None:
            result.delete.add(old_live.path)
        for alias in old_live.redirects:
            if new_live is None or alias not in new_live.redirects:
                result.delete.add(alias)
    if old_live is None and new_live is None:
        return
    _listing_moves(old_live, new_live, slug, result)
    if (old_live is None) != (new_live is None) or (old_live and new_live and old_live.tags != new_live.tags):
        result.add(PageRef("tags"), "tag counts changed")


def _listing_moves(old_live: Entry | None, new_live: Entry | None, slug: str, result: SitePlan) -> None:
    """The archive pages an entry is on before and after: those it enters or leaves, or
    all of them when what listings show of it changed."""
    shown_before = old_live.listed() if old_live else None
    shown_after = new_live.listed() if new_live else None
    pages_before = _listing_pages(old_live) if old_live else set()
    pages_after = _listing_pages(new_live) if new_live else set()
    if shown_before != shown_after:
        for ref in pages_before | pages_after:
            result.add(ref, f"lists {slug}")
    else:
        for ref in pages_before ^ pages_after:
            result.add(ref, f"{slug} entered or left")


def _listing_pages(entry: Entry) -> set[PageRef]:
    refs = {PageRef("archive", (str(entry.archive_page),))}
    refs |= {PageRef("tag_archive", (tag, str(page))) for tag, page in entry.tag_pages}
    return refs


def _listing_fronts(
    before: SiteModel, after: SiteModel, layout: Layout, result: SitePlan, tags: set[str] | None = None
) -> None:
    """Home, feeds, tag pages and tag feeds whose newest entries changed, the archive pages
    whose navigation changed (a page opened, or one became or stopped being a redirect),
    the pages of emptied tags (deleted), the archive's sitemap shards whose pages changed,
    and the pages sitemap when a tag appears or goes. Only the listings of `tags` are
    compared (None: every tag) besides the archive."""
    if _front(before.recent(layout.home_size)) != _front(after.recent(layout.home_size)):
        result.add(PageRef("home"), "newest articles changed")
    if front_older(before, "all", layout) != front_older(after, "all", layout):
        result.add(PageRef("home"), "its archive link changed")
    if _feed(before.feed_entries(layout.feed_size)) != _feed(after.feed_entries(layout.feed_size)):
        result.add(PageRef("feed"), "newest articles changed")
    if tags is None:
        tags_before, tags_after = before.live_tags(), after.live_tags()
        compared = tags_before | tags_after
    else:  # only these tags can have appeared or gone
        compared = tags
        tags_before = {t for t in tags if before.tag_count(t)}
        tags_after = {t for t in tags if after.tag_count(t)}
    tags_changed = tags_before != tags_after
    for listing in ["all", *(f"tag:{t}" for t in sorted(compared))]:
        if listing != "all":
            tag = listing.removeprefix("tag:")
            if tag not in tags_after:
                _drop_tag(before, after, tag, result)
                continue
            if _front(front_entries(before, listing, layout)) != _front(front_entries(after, listing, layout)):
                result.add(PageRef("tag", (tag,)), "newest articles in tag changed")
            if front_older(before, listing, layout) != front_older(after, listing, layout):
                result.add(PageRef("tag", (tag,)), "its archive link changed")
            if tag not in tags_before or _feed(before.feed_entries(layout.feed_size, tag)) != _feed(
                after.feed_entries(layout.feed_size, tag)
            ):
                result.add(PageRef("tag_feed", (tag,)), "newest articles in tag changed")
        shape_before = (before.last_page(listing), redirect_page(before, listing, layout))
        shape_after = (after.last_page(listing), redirect_page(after, listing, layout))
        if shape_before != shape_after:
            _navigation(listing, shape_before, shape_after, result)
            if listing == "all":
                _archive_sitemaps(shape_before, shape_after, layout.sitemap_shard_size, result)
    if tags_changed:
        result.add(PageRef("sitemap_pages"), "tag pages appeared or went")


def _archive_sitemaps(shape_before: tuple[int, int], shape_after: tuple[int, int], size: int, result: SitePlan) -> None:
    """The archive's sitemap shards whose pages changed (a page opened or went, or became or
    stopped being the redirect), and the index when a shard appeared or went."""
    (last_before, redirect_before), (last_after, redirect_after) = shape_before, shape_after

    def shard(n: int) -> int:
        return (n - 1) // size + 1

    touched = {shard(n) for n in (redirect_before, redirect_after) if n}
    if last_before != last_after:
        low, high = sorted((last_before, last_after))
        touched |= set(range(shard(low + 1), shard(high) + 1))
    index_changed = False
    for k in sorted(touched):
        old = archive_sitemap_pages(shape_before, k, size)
        new = archive_sitemap_pages(shape_after, k, size)
        if old == new:
            continue
        ref = PageRef("sitemap_archive", (str(k),))
        if new:
            result.add(ref, "archive pages appeared or went")
        else:
            result.delete.add(ref.path)
        index_changed = index_changed or not old or not new
    if index_changed:
        result.add(PageRef("sitemap_index"), "sitemap shards changed")


def _navigation(listing: str, shape_before: tuple[int, int], shape_after: tuple[int, int], result: SitePlan) -> None:
    """A listing's last page or redirect page changed: the pages whose pager (or redirect)
    changed with it; pages past the new last one are deleted."""
    (last_before, redirect_before), (last_after, redirect_after) = shape_before, shape_after
    near = {last_before - 1, last_before, last_after - 1, last_after}
    for r in (redirect_before, redirect_after):
        if r:
            near |= {r - 1, r, r + 1}
    for n in sorted(n for n in near if 1 <= n <= last_after):
        if n > last_before or _nav(listing, n, *shape_before) != _nav(listing, n, *shape_after):
            result.add(page_ref(listing, n), "its navigation changed")
    for n in range(last_after + 1, last_before + 1):
        ref = page_ref(listing, n)
        result.render.discard(ref)
        result.delete.add(ref.path)


def _drop_tag(before: SiteModel, after: SiteModel, tag: str, result: SitePlan) -> None:
    """The last article left the tag: its pages and feed go, and its numbering starts afresh."""
    counter = after.counters.pop(f"tag:{tag}", None)
    last = max(counter.last_page if counter else 0, before.last_page(f"tag:{tag}"))
    refs = [PageRef("tag", (tag,)), PageRef("tag_feed", (tag,))]
    refs += [page_ref(f"tag:{tag}", n) for n in range(1, last + 1)]
    for ref in refs:
        result.render.discard(ref)
        result.delete.add(ref.path)


def _front(entries: list[Entry]) -> list[tuple[str, str, str, str]]:
    return [e.listed() for e in entries]


def _feed(entries: list[Entry]) -> list[tuple[object, ...]]:
    return [(*e.listed(), e.updated, e.tags, e.owner) for e in entries]


def _sitemaps(before: SiteModel, after: SiteModel, result: SitePlan, slugs: set[str]) -> None:
    """The sitemap shards of the changed entries (`slugs`), and the index when a shard
    appeared, went, or has a newer update time."""

    def shard_view(model: SiteModel, n: int) -> list[tuple[str, str]]:
        return [(e.path, e.updated) for e in model.shard(n)]

    shards = {e.sitemap_shard for s in slugs for m in (before, after) if (e := m.entries.get(s)) and e.sitemap_shard}
    index_changed = False
    for n in sorted(shards):
        old, new = shard_view(before, n), shard_view(after, n)
        if old != new:
            if new:
                result.add(PageRef("sitemap", (str(n),)), "sitemap entries changed")
            else:
                result.delete.add(PageRef("sitemap", (str(n),)).path)
            if not old or not new:
                index_changed = True
            if max((u for _, u in old), default="") != max((u for _, u in new), default=""):
                index_changed = True
    if index_changed:
        result.add(PageRef("sitemap_index"), "sitemap shards changed")


def _similar_posts(before: SiteModel, after: SiteModel, changed: list[str], layout: Layout, result: SitePlan) -> None:
    """Recompute similar-post blocks that the changes can reach, in `after`."""
    k = layout.similar_count
    # a change that leaves what ranking reads alone (a body edit, a new summary) moves no block
    reranked = [s for s in changed if _similarity(before.entries.get(s)) != _similarity(after.entries.get(s))]
    if after.whole and len(reranked) > max(200, after.live_count() // 10):
        # a bulk change (a first build): ranking everything at once is cheaper than finding who is reached
        everything = [s for s, e in after.entries.items() if e.live]
        for slug, similar in similar_for(after, everything, k).items():
            if similar != after.entries[slug].similar:
                after.entries[slug] = replace(after.entries[slug], similar=similar)
    elif reranked:
        _reached_similar_posts(before, after, reranked, k)
    for slug in changed:
        new = after.entries.get(slug)
        old = before.entries.get(slug)
        if old is not None and new is not None and old.live and new.live and old.title != new.title:
            for other in before.mentions(slug) & after.mentions(slug):
                result.add(PageRef("article", (other,)), f"shows {slug} as a similar post")


def _similarity(entry: Entry | None) -> tuple[object, ...] | None:
    return entry.similarity() if entry is not None and entry.live else None


def _reached_similar_posts(before: SiteModel, after: SiteModel, changed: list[str], k: int) -> None:
    """Only blocks that show a changed entry, or that a changed entry may now enter, can change.

    (A block that did not show an entry is the top k of the others: how that
    entry was before does not matter to it, only whether it now ranks in.)
    """
    reach: set[str] = set()
    for slug in changed:
        new = after.entries.get(slug)
        reach |= before.mentions(slug)
        if new is not None and new.live:
            reach |= after.candidates(new)
    changed_set = set(changed)
    after.prefetch(reach)
    after.prefetch({e.similar[k - 1] for s in reach if (e := after.entries.get(s)) and len(e.similar) >= k})
    recompute = {s for s in changed if (e := after.entries.get(s)) is not None and e.live}
    inserts: dict[str, tuple[str, ...]] = {}
    for slug in reach - changed_set:
        entry = after.entries.get(slug)
        if entry is None or not entry.live:
            continue
        if not changed_set.isdisjoint(entry.similar):
            recompute.add(slug)  # something it shows changed or went away: rank it again
        else:
            inserts[slug] = _maybe_insert(after, entry, changed_set, k)
    if recompute:
        for slug, similar in similar_for(after, recompute, k).items():
            after.entries[slug] = replace(after.entries[slug], similar=similar)
    for slug, similar in inserts.items():
        if similar != after.entries[slug].similar:
            after.entries[slug] = replace(after.entries[slug], similar=similar)


def _maybe_insert(model: SiteModel, entry: Entry, newcomers: set[str], k: int) -> tuple[str, ...]:
    """Only the newcomers can enter a block they were not in: compare them with its last place."""
    if len(entry.similar) >= k and (last := model.entries.get(entry.similar[k - 1])) is not None:
        bar = rank_key(entry, last)
        contenders = (model.entries.get(s) for s in newcomers if s != entry.slug)
        if bar is not None and not any(
            (key := rank_key(entry, other)) is not None and key < bar
            for other in contenders
            if other is not None and other.live
        ):
            return entry.similar  # the block is full and no newcomer beats its last place
    ranked = []
    for slug in {*entry.similar, *newcomers}:
        other = model.entries.get(slug)
        if other is None or not other.live or slug == entry.slug:
            continue
        key = rank_key(entry, other)
        if key is not None:
            ranked.append((key, slug))
    ranked.sort()
    return tuple(s for _, s in ranked[:k])
