"""The index's items in memory: `ItemIndex` is the `ArticleIndex` port over the same
item layout as the DynamoDB table (edgepub.partial), read on demand by a
`PartialModel`, with every item read and written counted.

It is what B7 (`make bench`) runs a site of a million articles on, where the
embedded stack cannot hold one in reasonable time and memory, and what the unit
tests check partial planning with: the counts are the figures that must stay
flat as the site grows. One process, no lease (as `MemoryIndex`).

Each partition's sort keys are a `SortedList` (sortedcontainers, a development
dependency: this module is for tests and the bench, not the Lambda layer). A plain
sorted list of the million keys of the by-date partition was reallocated whole
(9 MB) by the first insert after a generated site was loaded, which B7 counted in
the publish's heap peak: the store's memory, not the publisher's, and not what
DynamoDB would cost it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict

from sortedcontainers import SortedList

from edgepub.freshness import FreshnessPolicy
from edgepub.index import ModelQueries
from edgepub.partial import Item, Key, PartialModel, Stored, bulk_items, item_writes, status_delta
from edgepub.ports import SourceRecord, StaleWrite
from edgepub.site import SiteModel


class MemoryItems:
    """Partitions of items kept in sort-key order; counts what is read and written."""

    def __init__(self) -> None:
        self.partitions: dict[str, dict[str, Item]] = {}
        self.order: dict[str, SortedList[str]] = {}  # each partition's sort keys
        self.items_read = 0
        self.items_written = 0
        self.requests = 0

    def get_many(self, keys: Sequence[Key]) -> dict[Key, Item]:
        self.requests += -(-len(keys) // 100)  # as BatchGetItem would
        found = {(pk, sk): item for pk, sk in keys if (item := self.partitions.get(pk, {}).get(sk)) is not None}
        self.items_read += len(found)
        return found

    def query(
        self,
        pk: str,
        *,
        newest_first: bool = False,
        limit: int = 0,
        between: tuple[str, str] | None = None,
        keys_only: bool = False,
    ) -> list[Item]:
        self.requests += 1
        keys = self.order.get(pk, SortedList())
        start, stop = 0, len(keys)
        if between is not None:
            start, stop = keys.bisect_left(between[0]), keys.bisect_right(between[1])
        if limit:  # only what is asked for: a large partition is not copied whole
            start, stop = (max(start, stop - limit), stop) if newest_first else (start, min(stop, start + limit))
        chosen = list(keys.islice(start, stop, reverse=newest_first))
        partition = self.partitions[pk] if chosen else {}
        self.items_read += len(chosen)
        if keys_only:
            return [{"pk": pk, "sk": sk} for sk in chosen]
        return [partition[sk] for sk in chosen]

    def put(self, item: Item) -> None:
        pk, sk = str(item["pk"]), str(item["sk"])
        partition = self.partitions.setdefault(pk, {})
        if sk not in partition:
            self.order.setdefault(pk, SortedList()).add(sk)
        partition[sk] = item
        self.items_written += 1

    def delete(self, pk: str, sk: str) -> None:
        partition = self.partitions.get(pk, {})
        if sk in partition:
            del partition[sk]
            self.order[pk].remove(sk)
        self.items_written += 1

    def apply(self, ops: Iterable[tuple[str, Item]]) -> None:
        for op, item in ops:
            if op == "put":
                self.put(item)
            else:
                self.delete(str(item["pk"]), str(item["sk"]))

    def load_bulk(self, items: Iterable[Item]) -> int:
        """Write many items at once (a generated site), sorting each partition once; not counted."""
        count = 0
        for item in items:
            self.partitions.setdefault(str(item["pk"]), {})[str(item["sk"])] = item
            count += 1
        self.order = {pk: SortedList(partition) for pk, partition in self.partitions.items()}
        return count

    def reset_counts(self) -> None:
        self.items_read = self.items_written = self.requests = 0


class ItemIndex(ModelQueries):
    """The article index over `MemoryItems` (see the module doc)."""

    def __init__(self, policy: FreshnessPolicy | None = None) -> None:
        self.policy = policy or FreshnessPolicy()
        self.items = MemoryItems()
        self.version = 0
        self.state_counts: dict[str, int] = {}
        self.pending_purge: list[str] = []
        self.dirty: list[str] = []
        self.sources: dict[str, SourceRecord] = {}
        self.markers: set[str] = set()
        self.cursors: dict[str, str] = {}
        self.waiting: dict[str, set[str]] = {}
        self.strict = False  # models refuse whole-site reads (the tests and B7 prove a publish makes none)

    @classmethod
    def of(cls, model: SiteModel, policy: FreshnessPolicy | None = None) -> ItemIndex:
        """An index holding a whole model (a generated site), written straight into the items."""
        index = cls(policy)
        index.items.load_bulk(bulk_items(model, index.policy))
        index.version = model.version
        for entry in model.entries.values():
            index.state_counts[entry.status] = index.state_counts.get(entry.status, 0) + 1
        return index

    def load(self, *, strict: bool | None = None) -> PartialModel:
        return PartialModel(
            Stored(self.items, dict(self.state_counts), strict=self.strict if strict is None else strict),
            version=self.version,
            pending_purge=self.pending_purge,
            dirty=self.dirty,
        )

    def _whole(self) -> SiteModel:
        return self.load()

    def save(self, before: SiteModel, after: SiteModel, records: Sequence[SourceRecord] = ()) -> None:
        if before.version != self.version:
            raise StaleWrite(f"the model changed since version {before.version} was loaded")
        ops = item_writes(before, after, self.policy)
        for state, delta in status_delta(before, after, after.changed_since(before)).items():
            self.state_counts[state] = self.state_counts.get(state, 0) + delta
        self.state_counts = {k: v for k, v in self.state_counts.items() if v}
        self.items.apply(ops)
        self.items.apply(("put", {"pk": f"src#{r.key}", "sk": "src", **asdict(r)}) for r in records)
        for record in records:
            self.sources[record.key] = record
        self.version = after.version = before.version + 1
        self.pending_purge, self.dirty = list(after.pending_purge), list(after.dirty)
        if isinstance(after, PartialModel):
            after.stored.counts = dict(self.state_counts)

    def save_pending(self, version: int, pending_purge: list[str], dirty: list[str]) -> None:
        if version != self.version:
            raise StaleWrite(f"the model changed since version {version} was loaded")
        self.pending_purge, self.dirty = list(pending_purge), list(dirty)
        self.items.items_written += 1  # the meta item

    def source(self, key: str) -> SourceRecord | None:
        self.items.items_read += key in self.sources
        return self.sources.get(key)

    def save_source(self, record: SourceRecord, expected: SourceRecord | None = None) -> None:
        self.sources[record.key] = record
        self.items.items_written += 1

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def renew(self) -> None:
        pass  # one process, no lease

    def unsettled(self) -> bool:
        return bool(self.pending_purge or self.dirty)

    def counts(self) -> dict[str, int]:
        return dict(self.state_counts)

    def claim(self, marker: str, ttl_days: int = 30) -> bool:
        if marker in self.markers:
            return False
        self.markers.add(marker)
        self.items.put({"pk": "marker", "sk": marker})
        return True

    def cursor(self, name: str) -> str:
        return self.cursors.get(name, "")

    def set_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value
