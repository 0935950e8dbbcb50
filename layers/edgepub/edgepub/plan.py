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

from edgepub.site import Entry, SiteModel, rank_key, similar_for, with_positions


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

    kind: (
        str  # article, home, archive, tag, tag_archive, tags, feed, sitemap_index, sitemap, robots, not_found, redirect
    )
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
            case "tags":
                return "/tags/"
            case "feed":
                return "/feed.xml"
            case "sitemap_index":
                return "/sitemap.xml"
            case "sitemap":
                return f"/sitemaps/{a[0]}.xml"
            case "robots":
                return "/robots.txt"
            case "not_found":
                return "/404.html"
            case "redirect":
                return a[0]
        raise ValueError(f"unknown page kind {self.kind}")


def ref_for_path(path: str, model: SiteModel) -> PageRef | None:
    """Which page a stored path is (for drift repair); None for a path edgepub did not make."""
    fixed = {
        "/": PageRef("home"),
        "/tags/": PageRef("tags"),
        "/feed.xml": PageRef("feed"),
        "/sitemap.xml": PageRef("sitemap_index"),
        "/robots.txt": PageRef("robots"),
        "/404.html": PageRef("not_found"),
    }
    if path in fixed:
        return fixed[path]
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "page" and parts[1].isdigit():
        return PageRef("archive", (parts[1],))
    if len(parts) == 2 and parts[0] == "sitemaps" and parts[1].endswith(".xml"):
        return PageRef("sitemap", (parts[1].removesuffix(".xml"),))
    if parts[0] == "tags" and len(parts) == 2:
        return PageRef("tag", (parts[1],))
    if parts[0] == "tags" and len(parts) == 4 and parts[2] == "page":
        return PageRef("tag_archive", (parts[1], parts[3]))
    if len(parts) == 1 and parts[0] in model.entries and model.entries[parts[0]].live:
        return PageRef("article", (parts[0],))
    for entry in model.entries.values():
        if entry.live and path in entry.redirects:
            return PageRef("redirect", (path, entry.path))
    return None


SITE_PAGES = (
    PageRef("home"),
    PageRef("tags"),
    PageRef("feed"),
    PageRef("sitemap_index"),
    PageRef("robots"),
    PageRef("not_found"),
)


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
    but shown nowhere.
    """
    after = before.copy()
    for slug, new in changes.items():
        old = before.entries.get(slug)
        if new is None:
            after.entries.pop(slug, None)
            continue
        if new.live:
            if old is not None and old.live:
                new = replace(new, similar=old.similar)  # recomputed below if anything it depends on changed
            new = with_positions(
                new, old if old and old.live else None, after, layout.page_size, layout.sitemap_shard_size
            )
        after.entries[slug] = new
    result = SitePlan(after=after)
    changed = [s for s in changes if before.entries.get(s) != after.entries.get(s)]
    _similar_posts(before, after, changed, layout, result)
    # similar-post updates change entries too: plan every entry that changed
    touched = [
        s
        for s in after.entries.keys() | before.entries.keys()
        if (old := before.entries.get(s)) is not (new := after.entries.get(s)) and old != new  # `is`: cheap
    ]
    for slug in sorted(set(touched) | set(changes)):
        _entry_pages(before, after, slug, layout, result)
    _listing_fronts(before, after, layout, result)
    _sitemaps(before, after, result)
    for ref in SITE_PAGES:
        if ref.path not in before.page_hashes:
            result.add(ref, "site page not yet stored")
    # a path that is rendered again (a former slug now holding a redirect) is not deleted
    result.delete -= {ref.path for ref in result.render}
    return result


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
    if (old_live is None) != (new_live is None) or (old_live and new_live and old_live.tags != new_live.tags):
        result.add(PageRef("tags"), "tag counts changed")


def _listing_pages(entry: Entry) -> set[PageRef]:
    refs = {PageRef("archive", (str(entry.archive_page),))}
    refs |= {PageRef("tag_archive", (tag, str(page))) for tag, page in entry.tag_pages}
    return refs


def _listing_fronts(before: SiteModel, after: SiteModel, layout: Layout, result: SitePlan) -> None:
    """Home, feed, tag front pages and the archive pages whose navigation changed."""
    if _front(before.recent(layout.home_size)) != _front(after.recent(layout.home_size)) or (
        before.counter("all").last_page != after.counter("all").last_page
    ):
        result.add(PageRef("home"), "newest articles changed")
    if _feed(before.recent(layout.feed_size)) != _feed(after.recent(layout.feed_size)):
        result.add(PageRef("feed"), "newest articles changed")
    for name, counter in after.counters.items():
        old_last = before.counters[name].last_page if name in before.counters else 0
        if name == "sitemap" or counter.last_page == old_last:
            continue
        # a new archive page: the previous last page gains a "newer" link
        if name == "all":
            if old_last:
                result.add(PageRef("archive", (str(old_last),)), "a newer archive page exists")
        else:
            tag = name.removeprefix("tag:")
            if old_last:
                result.add(PageRef("tag_archive", (tag, str(old_last))), "a newer archive page exists")
            result.add(PageRef("tag", (tag,)), "archive pages changed")
    tags = {t for e in (before.entries, after.entries) for x in e.values() if x.live for t in x.tags}
    for tag in tags:
        old_front = _front(before.by_tag(tag)[: layout.tag_front_size])
        new_front = _front(after.by_tag(tag)[: layout.tag_front_size])
        if old_front == new_front:
            continue
        if new_front:
            result.add(PageRef("tag", (tag,)), "newest articles in tag changed")
            continue
        # the last article left the tag: its pages go, and its numbering starts afresh
        last_page = after.counters.pop(f"tag:{tag}").last_page if f"tag:{tag}" in after.counters else 0
        refs = [PageRef("tag", (tag,))] + [PageRef("tag_archive", (tag, str(n))) for n in range(1, last_page + 1)]
        for ref in refs:
            result.render.discard(ref)
            result.delete.add(ref.path)


def _front(entries: list[Entry]) -> list[tuple[str, str, str, str]]:
    return [e.listed() for e in entries]


def _feed(entries: list[Entry]) -> list[tuple[object, ...]]:
    return [(*e.listed(), e.updated, e.tags) for e in entries]


def _sitemaps(before: SiteModel, after: SiteModel, result: SitePlan) -> None:
    def shard_view(model: SiteModel, n: int) -> list[tuple[str, str]]:
        return [(e.path, e.updated) for e in model.shard(n)]

    shards = set(before.shards()) | set(after.shards())
    index_changed = before.shards() != after.shards()
    for n in shards:
        old, new = shard_view(before, n), shard_view(after, n)
        if old != new:
            if new:
                result.add(PageRef("sitemap", (str(n),)), "sitemap entries changed")
            else:
                result.delete.add(PageRef("sitemap", (str(n),)).path)
            if max((u for _, u in old), default="") != max((u for _, u in new), default=""):
                index_changed = True
    if index_changed:
        result.add(PageRef("sitemap_index"), "sitemap shards changed")


def _similar_posts(before: SiteModel, after: SiteModel, changed: list[str], layout: Layout, result: SitePlan) -> None:
    """Recompute similar-post blocks that the changes can reach, in `after`."""
    k = layout.similar_count
    # a change that leaves what ranking reads alone (a body edit, a new summary) moves no block
    reranked = [s for s in changed if _similarity(before.entries.get(s)) != _similarity(after.entries.get(s))]
    live_count = sum(1 for e in after.entries.values() if e.live)
    if len(reranked) > max(200, live_count // 10):
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
