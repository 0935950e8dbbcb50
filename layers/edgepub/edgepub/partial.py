"""The site model read on demand: what a change plans from, read item by item from
the index, so that a publish reads what it touches, not the site.

Each live entry implies a few small items beside its own (`entry_rows`): its place
among the newest articles, in each of its features (tags, stack, tools, entities),
on its listing pages and in its sitemap shard, the similar-post blocks it shows,
and the paths it holds. The questions planning and rendering ask (`SiteModel`'s
methods: the newest entries, a listing page's members, a shard, who mentions an
entry, the candidates for a similar-post block) are queries of those partitions,
bounded by what the answer shows. `PartialModel` answers them from the items as
stored, overlaid with the changes the plan made to it; `item_writes` turns the
changes into the item writes of a commit. Aggregates (tag counts, the sitemap
shards' summary, the counts by state) are written as values, computed from what
is stored and what changed.

The layout of the items (one table, keys pk and sk):

- ``art#NN`` / ``<slug>``: an entry (NN: one of 16 buckets, by a hash of the slug)
- ``page#NN`` / ``<path>``: the hash of a stored page
- ``ctr`` / ``<listing>``: a listing counter ("all", "tag:<t>", "sitemap")
- ``new`` / ``<date>#<slug>``: live entries by date (``ni``: noindex)
- ``feat#<feature>`` / ``<date>#<slug>``: live entries with a feature ("tag:<t>", "stack:<s>", ...)
- ``lst#<listing>#<n>`` / ``<date>#<slug>``: the members of page n of a listing
- ``shard#<n>`` / ``<slug>``: the indexable entries of sitemap shard n (``u``: their update time)
- ``men#<slug>`` / ``<other>``: other's similar-post block shows slug
- ``path#<path>`` / ``<slug>``: the live entry holding a path (its page or a redirect)
- ``tags`` / ``<tag>``: how many live entries have the tag (``n``)
- ``sitemap`` / ``shards``: each shard's size and newest update time (``m``)

Whole-site questions (drift repair, relayout, an operator's listing) still work:
they read every entry bucket, which a model made `strict` refuses (the tests and
B7 use that to prove a publish never does).
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from edgepub.freshness import FreshnessPolicy
from edgepub.site import Counter, Entry, SiteModel
from edgepub.state import transition_at

Key = tuple[str, str]
Item = dict[str, Any]
V = TypeVar("V")

BUCKETS = 16  # entries and page hashes are spread over this many partition keys; a whole-site read queries each
NEWEST = "new"
TAGS = "tags"
SHARDS: Key = ("sitemap", "shards")
COUNTERS = "ctr"
MIN_QUERY = 32  # a limited query reads at least this many: the home page, its link and the feed share one
SIMILAR_POOL = 200  # the oldest members of each feature a similar-post block is ranked from


class WholeSiteRead(RuntimeError):
    """A strict partial model was asked something only the whole site answers."""


class ItemReader(Protocol):
    """How a partial model reads the index's items (DynamoDB, or memory)."""

    def get_many(self, keys: Sequence[Key]) -> dict[Key, Item]:
        """The items at these keys that exist."""
        ...

    def query(
        self,
        pk: str,
        *,
        newest_first: bool = False,
        limit: int = 0,
        between: tuple[str, str] | None = None,
        keys_only: bool = False,
    ) -> list[Item]:
        """Partition pk's items in sk order (descending with newest_first), at most `limit`
        (0: all), with sk from between[0] to between[1] inclusive; only pk and sk with `keys_only`."""
        ...


def bucket(name: str) -> str:
    return f"{zlib.crc32(name.encode('utf-8')) % BUCKETS:02d}"


def entry_key(slug: str) -> Key:
    return (f"art#{bucket(slug)}", slug)


def page_key(path: str) -> Key:
    return (f"page#{bucket(path)}", path)


def counter_key(name: str) -> Key:
    return (COUNTERS, name)


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal, lists of strings as lists."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def entry_item(entry: Entry, policy: FreshnessPolicy) -> Item:
    """An entry's own item, with the keys of the review and transition GSIs."""
    pk, sk = entry_key(entry.slug)
    item: Item = {"pk": pk, "sk": sk}
    for key, value in entry.to_dict().items():
        if value in ("", (), 0, False) and key != "slug":
            continue  # DynamoDB rejects empty sets and we keep items small
        item[key] = (
            [list(v) for v in value]
            if key in ("tag_pages", "assets")
            else list(value)
            if isinstance(value, tuple)
            else value
        )
    if entry.live:
        item["review_pk"] = "review"
        item["review_sk"] = f"{policy.due_key(entry)}#{entry.slug}"
    when = transition_at(entry)
    if when:
        item["transition_pk"] = "transition"
        item["transition_sk"] = f"{when}#{entry.slug}"
    return item


def entry_rows(entry: Entry | None) -> dict[Key, Item]:
    """The items a live entry implies besides its own (none for one that is not live)."""
    if entry is None or not entry.live:
        return {}
    when = f"{entry.date}#{entry.slug}"
    flag: Item = {"ni": 1} if entry.noindex else {}
    rows: dict[Key, Item] = {(NEWEST, when): flag}
    for feature in sorted(entry.features()):
        rows[(f"feat#{feature}", when)] = flag if feature.startswith("tag:") else {}
    rows[(f"lst#all#{entry.archive_page}", when)] = {}
    for tag, page in entry.tag_pages:
        rows[(f"lst#tag:{tag}#{page}", when)] = {}
    if not entry.noindex:
        rows[(f"shard#{entry.sitemap_shard}", entry.slug)] = {"u": entry.updated}
    for other in entry.similar:
        rows[(f"men#{other}", entry.slug)] = {}
    for path in (entry.path, *entry.redirects):
        rows[(f"path#{path}", entry.slug)] = {}
    return rows


def _shard_view(entry: Entry | None) -> tuple[object, ...] | None:
    """What a sitemap shard and the tag counts read of an entry."""
    if entry is None or not entry.live:
        return None
    return (entry.noindex, entry.sitemap_shard, entry.updated, entry.path, entry.tag_set)


def _slug_of(row: Item) -> str:
    return str(row["sk"]).split("#", 1)[1]


class Stored:
    """What has been read of the index at one version: shared by a model and its copies
    (the stored state does not change under them; their changes are their own)."""

    def __init__(self, reader: ItemReader, counts: dict[str, int], *, strict: bool = False) -> None:
        self.reader = reader
        self.counts = counts
        self.strict = strict
        self.items: dict[Key, Item | None] = {}
        self.queries: dict[tuple[str, bool], list[tuple[int, list[Item]]]] = {}  # (pk, order): (limit, rows)
        self.summary: dict[int, tuple[int, str]] | None = None  # the shards' summary as stored, parsed once
        self.entries: dict[str, Entry | None] = {}
        self.dates: dict[str, str] = {}  # slug -> date, from feature rows (similar posts' tie-break)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Item | None]:
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self.items]
        if missing:
            found = self.reader.get_many(missing)
            for key in missing:
                self.items[key] = found.get(key)
        return {k: self.items[k] for k in wanted}

    def query(self, pk: str, *, newest_first: bool = False, limit: int = 0) -> list[Item]:
        """Cached: a query answered by one read before with as many items or more (or the
        whole partition) is not sent again; one with a limit asks for at least `MIN_QUERY`."""
        for cached_limit, rows in self.queries.get((pk, newest_first), ()):
            if cached_limit == 0 or len(rows) < cached_limit:  # the whole partition
                return rows[:limit] if limit else rows
            if limit and cached_limit >= limit:
                return rows[:limit]
        asked = max(limit, MIN_QUERY) if limit else 0
        rows = self.reader.query(pk, newest_first=newest_first, limit=asked)
        self.queries.setdefault((pk, newest_first), []).append((asked, rows))
        return rows[:limit] if limit else rows

    def prefetch(self, keys: Iterable[Key]) -> None:
        self.get_many(keys)

    def newest_rows(self, pk: str, need: int, indexable: bool) -> list[Item]:
        """The `need` newest rows of a by-date partition (only those not noindex, with `indexable`)."""
        limit = max(need, 1)
        while True:
            rows = self.query(pk, newest_first=True, limit=limit)
            picked = [r for r in rows if not (indexable and r.get("ni"))]
            if len(picked) >= need or len(rows) < limit:
                return picked[:need]
            limit *= 2

    def entries_for(self, slugs: Iterable[str]) -> dict[str, Entry | None]:
        wanted = list(dict.fromkeys(slugs))
        missing = [s for s in wanted if s not in self.entries]
        if missing:
            items = self.get_many(entry_key(s) for s in missing)
            for slug in missing:
                item = items[entry_key(slug)]
                self.entries[slug] = Entry.from_dict(plain(item)) if item else None
        return {s: self.entries[s] for s in wanted}

    def whole(self, what: str) -> None:
        if self.strict:
            raise WholeSiteRead(f"{what} needs the whole site, which this model does not read")

    def all_entry_slugs(self) -> list[str]:
        self.whole("every entry")
        slugs: list[str] = []
        for n in range(BUCKETS):
            for item in self.query(f"art#{n:02d}"):
                slug = str(item["sk"])
                self.entries.setdefault(slug, Entry.from_dict(plain(item)))
                slugs.append(slug)
        return slugs

    def all_page_paths(self) -> list[str]:
        self.whole("every page hash")
        paths: list[str] = []
        for n in range(BUCKETS):
            for item in self.query(f"page#{n:02d}"):
                self.items[page_key(str(item["sk"]))] = item
                paths.append(str(item["sk"]))
        return paths

    def all_counter_names(self) -> list[str]:
        names = []
        for item in self.query(COUNTERS):
            self.items[counter_key(str(item["sk"]))] = item
            names.append(str(item["sk"]))
        return names


class LazyMap(MutableMapping[str, V]):
    """A mapping read from the index on first use, with changes kept beside it (None: removed)."""

    def __init__(
        self,
        load: Callable[[list[str]], dict[str, V | None]],
        everything: Callable[[], list[str]],
        changes: dict[str, V | None] | None = None,
    ) -> None:
        self._load = load
        self._everything = everything
        self.changes: dict[str, V | None] = changes if changes is not None else {}

    def stored(self, key: str) -> V | None:
        return self._load([key])[key]

    def __getitem__(self, key: str) -> V:
        value = self.changes[key] if key in self.changes else self.stored(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: V) -> None:
        self.changes[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.changes[key] = None

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        value = self.changes[key] if key in self.changes else self.stored(key)
        return value is not None

    def __iter__(self) -> Iterator[str]:
        stored = self._everything()
        seen = set(stored)
        for key in stored:
            if key not in self.changes or self.changes[key] is not None:
                yield key
        for key, value in list(self.changes.items()):
            if value is not None and key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def prefetch(self, keys: Iterable[str]) -> None:
        self._load([k for k in keys if k not in self.changes])


def differing(after: MutableMapping[str, V], before: MutableMapping[str, V]) -> list[str]:
    """Keys whose value differs between a model's mapping and the one it was copied from."""
    if isinstance(after, LazyMap):
        keys = set(after.changes) | (set(before.changes) if isinstance(before, LazyMap) else set())
        return sorted(k for k in keys if after.get(k) != before.get(k))
    return sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))


class PartialModel(SiteModel):
    """A `SiteModel` that reads from the index what it is asked, and keeps its changes
    apart so that a commit writes exactly those (see the module doc)."""

    whole = False

    def __init__(
        self,
        stored: Stored,
        *,
        version: int = 0,
        pending_purge: list[str] | None = None,
        dirty: list[str] | None = None,
        changes: tuple[dict[str, Entry | None], dict[str, Counter | None], dict[str, str | None]] | None = None,
    ) -> None:
        super().__init__(version=version, pending_purge=list(pending_purge or []), dirty=list(dirty or []))
        self.stored = stored
        entries, counters, pages = changes or ({}, {}, {})
        self.entries: LazyMap[Entry] = LazyMap(stored.entries_for, stored.all_entry_slugs, entries)  # type: ignore[assignment]
        self.counters: LazyMap[Counter] = LazyMap(self._load_counters, stored.all_counter_names, counters)  # type: ignore[assignment]
        self.page_hashes: LazyMap[str] = LazyMap(self._load_pages, stored.all_page_paths, pages)  # type: ignore[assignment]

    def _load_counters(self, names: list[str]) -> dict[str, Counter | None]:
        items = self.stored.get_many(counter_key(n) for n in names)
        return {
            n: Counter(int(i["last_page"]), int(i["last_count"])) if (i := items[counter_key(n)]) else None
            for n in names
        }

    def _load_pages(self, paths: list[str]) -> dict[str, str | None]:
        items = self.stored.get_many(page_key(p) for p in paths)
        return {p: str(i["hash"]) if (i := items[page_key(p)]) else None for p in paths}

    def copy(self) -> PartialModel:
        return PartialModel(
            self.stored,
            version=self.version,
            pending_purge=self.pending_purge,
            dirty=self.dirty,
            changes=(
                dict(self.entries.changes),
                {k: copy.copy(v) for k, v in self.counters.changes.items()},
                dict(self.page_hashes.changes),
            ),
        )

    def counter(self, name: str) -> Counter:
        current = self.counters.changes.get(name)
        if current is None:
            stored = self.counters.get(name)
            current = copy.copy(stored) if stored is not None else Counter()
            self.counters[name] = current
        return current

    def prefetch(self, slugs: Iterable[str]) -> None:
        self.entries.prefetch(slugs)

    def prefetch_change(
        self, entries: Iterable[Entry], paths: Iterable[str] = (), counters: Iterable[str] = ()
    ) -> None:
        """What planning these entries will read item by item, in one batch: the stored
        entries, their listings' counters and their tags' counts, the shards' summary,
        the hashes of the pages at `paths`, the `counters` named."""
        entries = list(entries)
        keys: list[Key] = [entry_key(e.slug) for e in entries]
        keys += [page_key(p) for p in paths if p not in self.page_hashes.changes]
        keys += [counter_key(name) for name in counters if name not in self.counters.changes]
        if entries:
            keys += [counter_key("all"), counter_key("sitemap"), SHARDS]
        for tag in sorted({t for e in entries for t in e.tags}):
            keys += [counter_key(f"tag:{tag}"), (TAGS, tag)]
        self.stored.prefetch(keys)
        self.stored.entries_for(e.slug for e in entries)

    def prefetch_pages(self, paths: Iterable[str]) -> None:
        self.page_hashes.prefetch(paths)

    def page_paths_after(self, cursor: str, n: int) -> list[str]:
        """Merged from each bucket's first n after `cursor` (paths start with "/", past "!")."""
        lower = cursor + " " if cursor else "!"
        found: list[str] = []
        for number in range(BUCKETS):
            for item in self.stored.reader.query(f"page#{number:02d}", between=(lower, "\uffff"), limit=n):
                self.stored.items[page_key(str(item["sk"]))] = item
                found.append(str(item["sk"]))
        changes = self.page_hashes.changes
        found = [p for p in found if changes.get(p, "") is not None]
        found += [p for p, h in changes.items() if h is not None and p > cursor and p not in found]
        return sorted(found)[:n]

    def changed_since(self, before: SiteModel) -> list[str]:
        return differing(self.entries, before.entries)

    def differs_from(self, before: SiteModel) -> bool:
        return bool(
            differing(self.entries, before.entries)
            or differing(self.page_hashes, before.page_hashes)
            or differing(self.counters, before.counters)
        )

    # -- what changed, against what is stored --------------------------------------

    def _changes(self) -> dict[str, Entry | None]:
        return self.entries.changes

    def _changed_live(self) -> list[Entry]:
        return [e for e in self._changes().values() if e is not None and e.live]

    def _stored_entry(self, slug: str) -> Entry | None:
        return self.stored.entries_for([slug])[slug]

    def _entries(self, slugs: list[str]) -> list[Entry]:
        found = self.stored.entries_for(slugs)
        return [e for s in slugs if (e := found[s]) is not None]

    def live_count(self) -> int:
        count = self.stored.counts.get("published", 0)
        for slug, new in self._changes().items():
            old = self._stored_entry(slug)
            count += (new is not None and new.live) - (old is not None and old.live)
        return count

    # -- listings ----------------------------------------------------------------

    def newest(self, listing: str, n: int, indexable: bool = False) -> list[Entry]:
        pk = NEWEST if listing == "all" else f"feat#{listing}"
        tag = listing.removeprefix("tag:")
        changes = self._changes()
        rows = self.stored.newest_rows(pk, n + len(changes), indexable)
        found = self._entries([s for r in rows if (s := _slug_of(r)) not in changes])
        found += [
            e for e in self._changed_live() if (listing == "all" or tag in e.tag_set) and not (indexable and e.noindex)
        ]
        found.sort(key=lambda e: e.order, reverse=True)
        return found[:n]

    def recent(self, n: int) -> list[Entry]:
        return self.newest("all", n)

    def feed_entries(self, n: int, tag: str = "") -> list[Entry]:
        return self.newest(f"tag:{tag}" if tag else "all", n, indexable=True)

    def by_tag(self, tag: str) -> list[Entry]:
        return self.newest(f"tag:{tag}", self.tag_count(tag))

    def members(self, listing: str, page: int) -> list[Entry]:
        changes = self._changes()
        rows = self.stored.query(f"lst#{listing}#{page}")
        found = self._entries([s for r in rows if (s := _slug_of(r)) not in changes])
        found += [e for e in self._changed_live() if e.page_in(listing) == page]
        return sorted(found, key=lambda e: e.order, reverse=True)

    def listing_size(self, listing: str, n: int) -> int:
        return len(self.members(listing, n))

    def archive_size(self, page: int) -> int:
        return self.listing_size("all", page)

    # -- tags --------------------------------------------------------------------

    def _tag_delta(self, tag: str) -> int:
        delta = 0
        for slug, new in self._changes().items():
            old = self._stored_entry(slug)
            delta += (new is not None and new.live and tag in new.tag_set) - (
                old is not None and old.live and tag in old.tag_set
            )
        return delta

    def tag_count(self, tag: str) -> int:
        item = self.stored.get_many([(TAGS, tag)])[(TAGS, tag)]
        return (int(item["n"]) if item else 0) + self._tag_delta(tag)

    def tag_counts(self) -> list[tuple[str, int]]:
        counts = {str(i["sk"]): int(i["n"]) for i in self.stored.query(TAGS)}
        changed = {t for slug, e in self._changes().items() for m in (e, self._stored_entry(slug)) if m for t in m.tags}
        for tag in changed:
            counts[tag] = counts.get(tag, 0) + self._tag_delta(tag)
        return sorted((t, n) for t, n in counts.items() if n > 0)

    def live_tags(self) -> set[str]:
        return {t for t, _ in self.tag_counts()}

    # -- sitemap shards ----------------------------------------------------------

    def shard(self, n: int) -> list[Entry]:
        """Sitemap shard n's entries, sorted by slug: only their path and update time are
        read (entries the change did not touch are built from the shard's rows)."""
        changes = self._changes()
        found = [
            Entry(slug=str(r["sk"]), source_key="", title="", lastmod=str(r.get("u", "")))
            for r in self.stored.query(f"shard#{n}")
            if r["sk"] not in changes
        ]
        found += [e for e in self._changed_live() if e.sitemap_shard == n and not e.noindex]
        return sorted(found, key=lambda e: e.slug)

    def _touched_shards(self) -> set[int]:
        """The shards of the changed entries whose place in a shard changed (not a new
        similar-post block: a new article enters many)."""
        shards: set[int] = set()
        for slug, new in self._changes().items():
            old = self._stored_entry(slug)
            if _shard_view(old) != _shard_view(new):
                shards |= {m.sitemap_shard for m in (old, new) if m is not None and m.sitemap_shard}
        return shards

    def _stored_summary(self) -> dict[int, tuple[int, str]]:
        if self.stored.summary is None:
            item = self.stored.get_many([SHARDS])[SHARDS]
            self.stored.summary = {int(n): (int(v[0]), str(v[1])) for n, v in (item or {}).get("m", {}).items()}
        return self.stored.summary

    def _shard_now(self, n: int) -> tuple[int, str] | None:
        """A changed shard's size and newest update time (None: empty now)."""
        entries = self.shard(n)
        return (len(entries), max(e.updated for e in entries)) if entries else None

    def shard_summary(self) -> dict[int, tuple[int, str]]:
        """Each non-empty shard's size and newest update time."""
        summary = dict(self._stored_summary())
        for n in self._touched_shards():
            now = self._shard_now(n)
            if now is None:
                summary.pop(n, None)
            else:
                summary[n] = now
        return summary

    def shards(self) -> list[int]:
        return sorted(self.shard_summary())

    def shard_times(self) -> dict[int, str]:
        return {n: updated for n, (_, updated) in sorted(self.shard_summary().items())}

    # -- similar posts and paths -----------------------------------------------------

    def mentions(self, slug: str) -> set[str]:
        changes = self._changes()
        found = {str(r["sk"]) for r in self.stored.query(f"men#{slug}") if r["sk"] not in changes}
        return found | {e.slug for e in self._changed_live() if slug in e.similar}

    def feature_members(self, feature: str) -> set[str]:
        """The live entries with the feature: at most `SIMILAR_POOL` of the oldest stored
        (ranking prefers the older of equally related articles), and the changed ones."""
        changes = self._changes()
        found: set[str] = set()
        for row in self.stored.query(f"feat#{feature}", limit=SIMILAR_POOL):
            slug = _slug_of(row)
            self.stored.dates.setdefault(slug, str(row["sk"]).split("#", 1)[0])
            if slug not in changes:
                found.add(slug)
        return found | {e.slug for e in self._changed_live() if feature in e.features()}

    def age_key(self, slug: str) -> Any:
        changed = self._changes().get(slug)
        if changed is not None:
            return changed.order
        if slug in self.stored.dates:
            return (self.stored.dates[slug], slug)
        entry = self.entries.get(slug)
        return entry.order if entry is not None else ("", slug)

    def candidates(self, entry: Entry) -> set[str]:
        found: set[str] = set()
        for feature in entry.features():
            found |= self.feature_members(feature)
        found.discard(entry.slug)
        return found

    def path_owner(self, path: str) -> str | None:
        changes = self._changes()
        owners = [str(r["sk"]) for r in self.stored.query(f"path#{path}") if r["sk"] not in changes]
        owners += [e.slug for e in self._changed_live() if path == e.path or path in e.redirects]
        return min(owners) if owners else None

    # -- the whole site, for the operations that need it -----------------------------------

    @property
    def live_entries(self) -> list[Entry]:
        return sorted((e for e in self.entries.values() if e.live), key=lambda e: e.order, reverse=True)


def status_delta(before: SiteModel, after: SiteModel, slugs: Iterable[str]) -> dict[str, int]:
    """How the counts by publication state change with these entries."""
    delta: dict[str, int] = {}
    for slug in slugs:
        for model, sign in ((before, -1), (after, 1)):
            entry = model.entries.get(slug)
            if entry is not None:
                delta[entry.status] = delta.get(entry.status, 0) + sign
    return delta


def item_writes(before: SiteModel, after: SiteModel, policy: FreshnessPolicy) -> list[tuple[str, Item]]:
    """The item writes that turn what `before` read into `after`: ("put", item) or
    ("delete", key). Entries with the rows they imply, counters, page hashes, and the
    aggregates the changed entries move (tag counts, the shards' summary)."""
    ops: list[tuple[str, Item]] = []

    def put(key: Key, attrs: Item) -> None:
        ops.append(("put", {"pk": key[0], "sk": key[1], **attrs}))

    def delete(key: Key) -> None:
        ops.append(("delete", {"pk": key[0], "sk": key[1]}))

    tags: set[str] = set()
    shards: set[int] = set()
    for slug in after.changed_since(before):
        old, new = before.entries.get(slug), after.entries.get(slug)
        if new is None:
            delete(entry_key(slug))
        else:
            ops.append(("put", entry_item(new, policy)))
        old_rows, new_rows = entry_rows(old), entry_rows(new)
        for key in sorted(old_rows.keys() - new_rows.keys()):
            delete(key)
        for key, attrs in sorted(new_rows.items()):
            if old_rows.get(key) != attrs:
                put(key, attrs)
        if _shard_view(old) == _shard_view(new):
            continue  # only its similar posts changed: no count, no shard moves
        for entry in (old, new):
            if entry is not None and entry.live:
                tags |= entry.tag_set
                if not entry.noindex:
                    shards.add(entry.sitemap_shard)
    for tag in sorted(tags):
        count = after.tag_count(tag)
        if count != before.tag_count(tag):
            put((TAGS, tag), {"n": count}) if count else delete((TAGS, tag))
    if shards and isinstance(after, PartialModel) and isinstance(before, PartialModel):
        summary, was = after.shard_summary(), before.shard_summary()
        if summary != was:
            put(SHARDS, {"m": {str(n): [c, u] for n, (c, u) in sorted(summary.items())}})
    for name in differing(after.counters, before.counters):
        counter = after.counters.get(name)
        if counter is None:
            delete(counter_key(name))
        else:
            put(counter_key(name), {"last_page": counter.last_page, "last_count": counter.last_count})
    for path in differing(after.page_hashes, before.page_hashes):
        digest = after.page_hashes.get(path)
        delete(page_key(path)) if digest is None else put(page_key(path), {"hash": digest})
    return ops


ROW_PARTITIONS = ("new", "feat#", "lst#", "shard#", "men#", "path#", TAGS, SHARDS[0])


def expected_rows(entries: Iterable[Entry]) -> dict[Key, Item]:
    """Every derived item the index should hold for these entries (the whole site):
    what `audit` compares the stored items with."""
    rows: dict[Key, Item] = {}
    tags: dict[str, int] = {}
    shards: dict[int, tuple[int, str]] = {}
    for entry in entries:
        for key, attrs in entry_rows(entry).items():
            rows[key] = {"pk": key[0], "sk": key[1], **attrs}
        if entry.live:
            for tag in entry.tag_set:
                tags[tag] = tags.get(tag, 0) + 1
            if not entry.noindex:
                count, updated = shards.get(entry.sitemap_shard, (0, ""))
                shards[entry.sitemap_shard] = (count + 1, max(updated, entry.updated))
    for tag, n in tags.items():
        rows[(TAGS, tag)] = {"pk": TAGS, "sk": tag, "n": n}
    if shards:
        rows[SHARDS] = {"pk": SHARDS[0], "sk": SHARDS[1], "m": {str(n): [c, u] for n, (c, u) in sorted(shards.items())}}
    return rows


def audit(entries: Iterable[Entry], stored_rows: Iterable[Item]) -> list[str]:
    """How the stored derived items differ from what the entries imply ([] when they agree)."""
    expected = expected_rows(entries)
    found = {(str(i["pk"]), str(i["sk"])): dict(i) for i in stored_rows}
    problems = [f"missing {k}" for k in sorted(expected.keys() - found.keys())]
    problems += [f"stray {k}" for k in sorted(found.keys() - expected.keys())]
    problems += [
        f"wrong {k}: {found[k]} instead of {expected[k]}"
        for k in sorted(expected.keys() & found.keys())
        if plain(found[k]) != plain(expected[k])
    ]
    return problems


def is_row(pk: str) -> bool:
    return pk.startswith(ROW_PARTITIONS)


def bulk_items(model: SiteModel, policy: FreshnessPolicy) -> Iterator[Item]:
    """Every item of a whole model in this layout: a site written straight into the index
    (B7's generated sites; moving a local build's index to the table)."""
    for entry in model.entries.values():
        yield entry_item(entry, policy)
    yield from expected_rows(model.entries.values()).values()
    for name, counter in model.counters.items():
        pk, sk = counter_key(name)
        yield {"pk": pk, "sk": sk, "last_page": counter.last_page, "last_count": counter.last_count}
    for path, digest in model.page_hashes.items():
        pk, sk = page_key(path)
        yield {"pk": pk, "sk": sk, "hash": digest}
