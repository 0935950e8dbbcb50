"""The site model: what edgepub knows about every article, enough to lay out
every page of the site without reading a source.

An `Entry` is one article as listings, feeds, sitemaps and similar-post blocks
see it. `SiteModel` holds the entries, the append-only listing counters (positions
given oldest first within one plan; `laid_out` gives them all afresh, for
`edgepub relayout`) and the hash of every stored page; derived lookups (by tag, by feature, who mentions
whom) are built on first use. Every index store (memory/JSON, SQLite for local
builds, DynamoDB) loads and saves this one model, so planning is the same code
everywhere.
"""

from __future__ import annotations

import copy
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from itertools import combinations, islice
from typing import Any

from edgepub.article import slugify
from edgepub.state import LIVE, PublicationState


@dataclass(frozen=True)
class Entry:
    slug: str
    source_key: str
    title: str
    summary: str = ""
    date: str = ""  # ISO 8601, UTC; the sort key (first publish time when the source has no date)
    lastmod: str = ""
    tags: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    noindex: bool = False
    owner: str = ""
    topic: str = ""
    outdated: bool = False  # overdue for review, with the notice setting on: the page says so
    status: PublicationState = LIVE
    publish_at: str = ""
    expire_at: str = ""
    revision_status: str = ""
    revision_version: str = ""
    last_reviewed: str = ""
    review_interval_days: int = 0
    aliases: tuple[str, ...] = ()  # declared aliases: site paths that redirect here
    moved_from: tuple[str, ...] = ()  # former paths of this article (slug changes): they redirect here too
    source_version: str = ""
    source_hash: str = ""
    # positions, assigned once and kept: listings never shift
    archive_page: int = 0
    tag_pages: tuple[tuple[str, int], ...] = ()
    sitemap_shard: int = 0
    similar: tuple[str, ...] = ()
    # the page bundle's files: (name relative to the source, fingerprinted URL path, width,
    # height: an image's size in pixels, 0 when not an image edgepub can measure)
    assets: tuple[tuple[str, str, int, int], ...] = ()

    @property
    def path(self) -> str:
        return f"/{self.slug}/"

    @property
    def redirects(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.aliases, *self.moved_from)))

    @property
    def live(self) -> bool:
        return self.status == LIVE

    @property
    def updated(self) -> str:
        return self.lastmod or self.date

    @property
    def order(self) -> tuple[str, str]:
        return (self.date, self.slug)

    @cached_property
    def tag_set(self) -> frozenset[str]:
        return frozenset(self.tags)

    @cached_property
    def stack_set(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.stack)

    @cached_property
    def other_set(self) -> frozenset[str]:
        """Tools and entities: the lightest evidence of relatedness."""
        return frozenset([*(f"tool:{v.lower()}" for v in self.tools), *(f"entity:{v.lower()}" for v in self.entities)])

    def features(self) -> set[str]:
        return {*(f"tag:{t}" for t in self.tag_set), *(f"stack:{s}" for s in self.stack_set), *self.other_set}

    def page_in(self, listing: str) -> int:
        """The entry's page in a listing: "all" (the archive) or "tag:<t>"; 0 when not in it."""
        if listing == "all":
            return self.archive_page
        tag = listing.removeprefix("tag:")
        return next((page for t, page in self.tag_pages if t == tag), 0)

    def listed(self) -> tuple[str, str, str, str]:
        """What a listing shows of the entry: a change here rewrites its listings."""
        return (self.title, self.summary, self.date, self.path)

    def similarity(self) -> tuple[object, ...]:
        """Everything similar-post ranking reads of the entry (see `rank_key`)."""
        return (self.live, self.tag_set, self.stack_set, self.other_set, self.date)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ENTRY_FIELDS}

    def to_row(self) -> list[Any]:
        """The values in `ENTRY_FIELDS` order: a compact form for the local index file."""
        return [getattr(self, name) for name in ENTRY_FIELDS]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in _KNOWN:
                continue
            if name == "tag_pages":
                value = tuple((str(t), int(n)) for t, n in value)
            elif name == "assets":
                value = tuple((str(a), str(p), int(w), int(h)) for a, p, w, h in value)
            elif isinstance(value, list):
                value = tuple(value)
            elif name in _INTEGERS:
                value = int(value)
            values[name] = value
        return cls(**values)


ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Entry))
_KNOWN = frozenset(ENTRY_FIELDS)
_INTEGERS = frozenset({"archive_page", "sitemap_shard", "review_interval_days"})
_PAIRS = frozenset({"tag_pages", "assets"})
_TUPLES = tuple(i for i, f in enumerate(fields(Entry)) if str(f.type).startswith("tuple") and f.name not in _PAIRS)
_TAG_PAGES = ENTRY_FIELDS.index("tag_pages")
_ASSETS = ENTRY_FIELDS.index("assets")


def entries_from_rows(names: list[str], rows: list[list[Any]]) -> dict[str, Entry]:
    """Entries from `Entry.to_row` rows written under the field `names` of their time."""
    if tuple(names) != ENTRY_FIELDS:  # written by another version: go by name
        return {e.slug: e for e in (Entry.from_dict(dict(zip(names, row, strict=True))) for row in rows)}
    entries = {}
    for row in rows:
        for i in _TUPLES:
            row[i] = tuple(row[i])
        row[_TAG_PAGES] = tuple((t, n) for t, n in row[_TAG_PAGES])
        row[_ASSETS] = tuple((a, p, w, h) for a, p, w, h in row[_ASSETS])
        entry = Entry(*row)
        entries[entry.slug] = entry
    return entries


@dataclass
class Counter:
    """An append-only listing: pages fill up in order and are never renumbered."""

    last_page: int = 0
    last_count: int = 0

    def allocate(self, size: int) -> int:
        if self.last_page == 0 or self.last_count >= size:
            self.last_page += 1
            self.last_count = 0
        self.last_count += 1
        return self.last_page


@dataclass
class SiteModel:
    entries: dict[str, Entry] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)  # "all", "tag:<t>", "sitemap"
    page_hashes: dict[str, str] = field(default_factory=dict)  # URL path -> sha256 of stored bytes
    version: int = 0
    # URLs written but not yet confirmed purged: kept until Cloudflare accepts them
    pending_purge: list[str] = field(default_factory=list)
    # URL paths a writer may have stored or deleted without committing (it crashed,
    # or lost its lease): the next writer renders them again or deletes them
    dirty: list[str] = field(default_factory=list)
    # the feature index of the model this one was copied from, with its entries:
    # brought up to date on first use instead of built again (see `_by_feature`)
    copied_features: tuple[dict[str, set[str]], dict[str, Entry]] | None = field(
        default=None, repr=False, compare=False
    )

    def copy(self) -> SiteModel:
        return SiteModel(
            entries=dict(self.entries),
            counters={k: copy.copy(v) for k, v in self.counters.items()},
            page_hashes=dict(self.page_hashes),
            version=self.version,
            pending_purge=list(self.pending_purge),
            dirty=list(self.dirty),
            copied_features=self._features_to_copy(),
        )

    def _features_to_copy(self) -> tuple[dict[str, set[str]], dict[str, Entry]] | None:
        if "_by_feature" in self.__dict__:
            return (self.__dict__["_by_feature"], self.entries)
        return self.copied_features  # not needed here: the one this was copied from, for the copy to update

    # True: every entry, counter and page hash is in memory (local builds, the memory
    # index). A `edgepub.partial.PartialModel` reads what it is asked for from the index.
    whole = True

    def counter(self, name: str) -> Counter:
        return self.counters.setdefault(name, Counter())

    def prefetch(self, slugs: Iterable[str]) -> None:
        """Entries about to be read one by one (a partial model reads them in one batch)."""

    def prefetch_change(
        self, entries: Iterable[Entry], paths: Iterable[str] = (), counters: Iterable[str] = ()
    ) -> None:
        """What planning a change to these entries reads (a partial model reads it in one batch)."""

    def prefetch_pages(self, paths: Iterable[str]) -> None:
        """Page hashes about to be read one by one (a partial model reads them in one batch)."""

    def page_paths_after(self, cursor: str, n: int) -> list[str]:
        """The first n stored page paths after `cursor`, in order (drift repair's batches)."""
        return [p for p in sorted(self.page_hashes) if p > cursor][:n]

    def changed_since(self, before: SiteModel) -> list[str]:
        """Slugs whose entry differs from `before`'s (this model was copied from it)."""
        return [
            s
            for s in self.entries.keys() | before.entries.keys()
            if (old := before.entries.get(s)) is not (new := self.entries.get(s)) and old != new  # `is`: cheap
        ]

    def differs_from(self, before: SiteModel) -> bool:
        """Whether committing this model (copied from `before`) changes anything stored."""
        return (
            self.entries != before.entries or self.page_hashes != before.page_hashes or self.counters != before.counters
        )

    def live_count(self) -> int:
        return sum(1 for e in self.entries.values() if e.live)

    def last_page(self, listing: str) -> int:
        """The last page of a listing ("all", "tag:<t>"); 0 when it has none. Reading it adds no counter."""
        counter = self.counters.get(listing)
        return counter.last_page if counter is not None else 0

    # -- derived lookups (built on first use; a model is not changed after planning) --

    @cached_property
    def live_entries(self) -> list[Entry]:
        """Live entries, newest first."""
        return sorted((e for e in self.entries.values() if e.live), key=lambda e: e.order, reverse=True)

    @cached_property
    def _by_tag(self) -> dict[str, list[Entry]]:
        index: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.live_entries:
            for tag in entry.tags:
                index[tag].append(entry)
        return dict(index)

    @cached_property
    def _age(self) -> dict[str, int]:
        """Each live entry's place in (date, slug) order, oldest first: similar posts' tie-break."""
        # from the entries, not `live_entries`: planning replaces entries (their similar posts) after this
        return {slug: i for i, (_, slug) in enumerate(sorted(e.order for e in self.entries.values() if e.live))}

    @cached_property
    def _by_feature(self) -> dict[str, set[str]]:
        if self.copied_features is not None:
            return self._updated_features(*self.copied_features)
        index: dict[str, set[str]] = defaultdict(set)
        for entry in self.entries.values():
            if entry.live:
                for feature in entry.features():
                    index[feature].add(entry.slug)
        return dict(index)

    def _updated_features(self, index: dict[str, set[str]], entries: dict[str, Entry]) -> dict[str, set[str]]:
        """The copied-from model's feature index, changed where its entries differ from
        these. Its sets are copied before they are changed: that model keeps its own."""
        self.copied_features = None
        updated = dict(index)
        copied: set[str] = set()

        def features(entry: Entry | None) -> set[str]:
            return entry.features() if entry is not None and entry.live else set()

        for slug in entries.keys() | self.entries.keys():
            old, new = entries.get(slug), self.entries.get(slug)
            if old is new:
                continue
            was, now = features(old), features(new)
            for feature in was ^ now:
                if feature not in copied:
                    updated[feature] = set(updated.get(feature, ()))
                    copied.add(feature)
                (updated[feature].add if feature in now else updated[feature].discard)(slug)
        return {f: members for f, members in updated.items() if members}

    @cached_property
    def _members(self) -> dict[tuple[str, int], list[Entry]]:
        index: dict[tuple[str, int], list[Entry]] = defaultdict(list)
        for entry in self.live_entries:
            index[("all", entry.archive_page)].append(entry)
            for tag, page in entry.tag_pages:
                index[(f"tag:{tag}", page)].append(entry)
        return dict(index)

    @cached_property
    def _archive_sizes(self) -> Tally[int]:
        return Tally(e.archive_page for e in self.live_entries)

    def archive_size(self, page: int) -> int:
        """How many live entries archive page `page` holds (without indexing every listing's pages)."""
        return self._archive_sizes[page]

    @cached_property
    def _shards(self) -> dict[int, list[Entry]]:
        index: dict[int, list[Entry]] = defaultdict(list)
        for entry in self.entries.values():
            if entry.live and not entry.noindex:
                index[entry.sitemap_shard].append(entry)
        return {k: sorted(v, key=lambda e: e.slug) for k, v in index.items()}

    @cached_property
    def _mentions(self) -> dict[str, set[str]]:
        index: dict[str, set[str]] = defaultdict(set)
        for entry in self.entries.values():
            if entry.live:
                for other in entry.similar:
                    index[other].add(entry.slug)
        return dict(index)

    def recent(self, n: int) -> list[Entry]:
        return self.live_entries[:n]

    def newest(self, listing: str, n: int) -> list[Entry]:
        """The newest n live entries of a listing: "all" (the archive) or "tag:<t>"."""
        if listing == "all":
            return self.recent(n)
        return self.by_tag(listing.removeprefix("tag:"))[:n]

    def listing_size(self, listing: str, n: int) -> int:
        """How many live entries page n of a listing holds."""
        if "_members" in self.__dict__:  # built already (rendering): look the page up
            return len(self.members(listing, n))
        if listing == "all":  # planning: count, instead of indexing every listing of a large site twice
            return self.archive_size(n)
        return sum(1 for e in self.by_tag(listing.removeprefix("tag:")) if e.page_in(listing) == n)

    def tag_count(self, tag: str) -> int:
        """How many live entries have the tag."""
        return len(self.by_tag(tag))

    def feature_members(self, feature: str) -> set[str]:
        """Slugs of the live entries with a feature ("tag:<t>", "stack:<s>", "tool:<t>", "entity:<e>")."""
        return self._by_feature.get(feature, set())

    def age_key(self, slug: str) -> Any:
        """Orders live entries oldest first (similar posts' tie-break)."""
        return self._age[slug]

    def shard_times(self) -> dict[int, str]:
        """Each sitemap shard's newest update time, in shard order (the sitemap index)."""
        return {n: max((e.updated for e in self.shard(n)), default="") for n in self.shards()}

    def feed_entries(self, n: int, tag: str = "") -> list[Entry]:
        """The newest n live entries (with the tag) that search engines may index: what
        feeds show. A `noindex` article is listed on the site but left out of feeds."""
        entries = self.by_tag(tag) if tag else self.live_entries
        return list(islice((e for e in entries if not e.noindex), n))

    def by_tag(self, tag: str) -> list[Entry]:
        """Live entries with the tag, newest first."""
        return self._by_tag.get(tag, [])

    def live_tags(self) -> set[str]:
        return set(self._by_tag)

    def tag_counts(self) -> list[tuple[str, int]]:
        return sorted((t, len(es)) for t, es in self._by_tag.items())

    def members(self, listing: str, page: int) -> list[Entry]:
        """Entries on one archive page, newest first."""
        return self._members.get((listing, page), [])

    def shard(self, n: int) -> list[Entry]:
        return self._shards.get(n, [])

    def shards(self) -> list[int]:
        return sorted(self._shards)

    def mentions(self, slug: str) -> set[str]:
        """Slugs of live entries whose similar-posts block shows `slug`."""
        return self._mentions.get(slug, set())

    def candidates(self, entry: Entry) -> set[str]:
        found: set[str] = set()
        for feature in entry.features():
            found |= self._by_feature.get(feature, set())
        found.discard(entry.slug)
        return found

    def path_owner(self, path: str) -> str | None:
        """The slug of the live entry whose page or redirect is at `path`."""
        for entry in self.entries.values():
            if entry.live and (entry.path == path or path in entry.redirects):
                return entry.slug
        return None


def rank_key(entry: Entry, other: Entry) -> tuple[int, int, str, str] | None:
    """How related `other` is to `entry`, smaller first; None when they share nothing.

    Ranked by shared tags, then by shared stack (counting twice) plus shared
    tools and entities; on a tie the older article first, so a new article
    displaces others only when it is strictly more related.
    """
    tags = len(entry.tag_set & other.tag_set)
    secondary = 2 * len(entry.stack_set & other.stack_set) + len(entry.other_set & other.other_set)
    if not tags and not secondary:
        return None
    return (-tags, -secondary, other.date, other.slug)


def top_similar(model: SiteModel, entry: Entry, k: int) -> tuple[str, ...]:
    """The k entries most related to `entry` (for one entry; `similar_for` does many at once)."""
    ranked = []
    for slug in model.candidates(entry):
        other = model.entries[slug]
        key = rank_key(entry, other)
        if key is not None:
            ranked.append((key, slug))
    ranked.sort()
    return tuple(slug for _, slug in ranked[:k])


def similar_for(model: SiteModel, slugs: Iterable[str], k: int) -> dict[str, tuple[str, ...]]:
    """`top_similar` for many entries, through the model's feature index.

    Same ranking as `rank_key`: candidates sharing the most tags first (the
    posting sets of all the entry's tags intersected, then all but one, ...),
    within those more shared stack, tools and entities, then the older article.
    """
    return {slug: _ranked_similar(model, model.entries[slug], k) for slug in slugs}


def _ranked_similar(model: SiteModel, entry: Entry, k: int) -> tuple[str, ...]:
    members, age = model.feature_members, model.age_key
    weights = [*((f"stack:{s}", 2) for s in entry.stack_set), *((o, 1) for o in entry.other_set)]

    def secondary(pool: set[str] | None) -> Tally[str]:
        """Shared stack (twice) plus shared tools and entities, for the candidates in `pool` (None: all)."""
        scores: Tally[str] = Tally()
        for feature, weight in weights:
            found = members(feature)
            hits = found if pool is None else pool & found
            for _ in range(weight):
                scores.update(hits)
        return scores

    def ranked_by(scores: Tally[str], pool: Iterable[str]) -> list[str]:
        return sorted(pool, key=lambda s: (-scores[s], age(s)))  # more secondary, then older

    ranked: list[str] = []
    seen = {entry.slug}
    for level in _tag_levels([members(f"tag:{t}") for t in entry.tag_set]):
        level -= seen  # those sharing more tags are ranked already
        if not level:
            continue
        seen |= level
        ranked += ranked_by(secondary(level), level)
        if len(ranked) >= k:
            break
    if len(ranked) < k:
        scores = secondary(None)
        ranked += ranked_by(scores, [s for s in scores if s not in seen])
    return tuple(ranked[:k])


def _tag_levels(posting: list[set[str]]) -> Iterator[set[str]]:
    """Candidates sharing at least m of the entry's tags, for m from all of them down to 1.

    Unions of intersections of m tag posting sets, done as C set operations: an
    entry's few tags make few combinations, and the top levels are usually
    enough to fill k places. Many tags fall back to counting.
    """
    if len(posting) > 8:
        shared: Tally[str] = Tally()
        for members in posting:
            shared.update(members)
        for m in range(len(posting), 0, -1):
            yield {c for c, n in shared.items() if n >= m}
        return
    for m in range(len(posting), 0, -1):
        level: set[str] = set()
        for combo in combinations(posting, m):
            level |= set.intersection(*combo)
        yield level


def tag_slug(tag: str) -> str:
    return slugify(tag)


def laid_out(entries: Iterable[Entry], page_size: int) -> tuple[dict[str, Entry], dict[str, Counter]]:
    """Archive and tag positions from scratch for these (live) entries, allocated oldest
    first by (date, slug), so that each page spans a contiguous range of dates; with the
    counters that continue from them. Sitemap shards are left as they are (`edgepub relayout`)."""
    counters: dict[str, Counter] = {}
    placed: dict[str, Entry] = {}
    for entry in sorted(entries, key=lambda e: e.order):
        archive_page = counters.setdefault("all", Counter()).allocate(page_size)
        tag_pages = tuple((tag, counters.setdefault(f"tag:{tag}", Counter()).allocate(page_size)) for tag in entry.tags)
        placed[entry.slug] = replace(entry, archive_page=archive_page, tag_pages=tag_pages)
    return placed, counters


def with_positions(entry: Entry, previous: Entry | None, model: SiteModel, page_size: int, shard_size: int) -> Entry:
    """Keep the positions an entry already has; allocate the ones it lacks (new entry, new tag)."""
    archive_page = previous.archive_page if previous and previous.archive_page else 0
    if not archive_page:
        archive_page = model.counter("all").allocate(page_size)
    old_tag_pages = dict(previous.tag_pages) if previous else {}
    tag_pages = []
    for tag in entry.tags:
        page = old_tag_pages.get(tag) or model.counter(f"tag:{tag}").allocate(page_size)
        tag_pages.append((tag, page))
    shard = previous.sitemap_shard if previous and previous.sitemap_shard else 0
    if not shard:
        shard = model.counter("sitemap").allocate(shard_size)
    return replace(entry, archive_page=archive_page, tag_pages=tuple(tag_pages), sitemap_shard=shard)
