"""The article index (the `ArticleIndex` port in ports.py): the site model and
the per-source records, with fenced commits. `MemoryIndex` keeps them in memory
(optionally a JSON file); `DynamoIndex` keeps them in the DynamoDB table, where
the items also answer the queries scheduled jobs need without a scan: reviews
due before a date (GSI ByReview) and scheduled transitions (GSI ByTransition).
The commit protocol is described in docs/architecture.md ("Commits and crashes")."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from edgepub.errors import OperatorError, TransientError
from edgepub.freshness import FreshnessPolicy
from edgepub.partial import Key, PartialModel, Stored, bulk_items, item_writes, plain, status_delta
from edgepub.ports import SOURCE_FIELDS as SOURCE_FIELDS
from edgepub.ports import ArticleIndex as ArticleIndex  # the port, re-exported for older imports
from edgepub.ports import ReviewItem as ReviewItem
from edgepub.ports import SourceRecord as SourceRecord
from edgepub.ports import StaleWrite as StaleWrite
from edgepub.site import ENTRY_FIELDS, Counter, Entry, SiteModel, entries_from_rows
from edgepub.state import transition_at

V = TypeVar("V")


def changed(before: Mapping[str, V], after: Mapping[str, V]) -> list[tuple[str, V | None]]:
    """The keys whose value differs between two mappings, sorted, each with its new value
    (None: gone): what a store writes to turn one model into the next."""
    keys = [
        k for k in before.keys() | after.keys() if (old := before.get(k)) is not (new := after.get(k)) and old != new
    ]
    return [(key, after.get(key)) for key in sorted(keys)]


class ModelQueries:
    """The scheduled jobs' questions answered from a model held whole (the memory and
    SQLite stores: a local site is read whole anyway), and the sources waiting for a
    path kept in memory (one build admits its sources together)."""

    policy: FreshnessPolicy
    waiting: dict[str, set[str]]

    def _whole(self) -> SiteModel:
        raise NotImplementedError

    def review_due_before(self, day: str) -> list[ReviewItem]:
        due = [
            ReviewItem(
                slug=e.slug,
                title=e.title,
                owner=e.owner,
                due=self.policy.due_key(e),
                last_reviewed=e.last_reviewed,
                source_key=e.source_key,
            )
            for e in self._whole().entries.values()
            if e.live
        ]
        return sorted((i for i in due if i.due < day), key=lambda i: (i.due, i.slug))

    def transitions_due(self, now: str) -> list[str]:
        entries = self._whole().entries.values()
        return sorted(e.slug for e in entries if transition_at(e) and transition_at(e) <= now)

    def counts(self) -> dict[str, int]:
        return status_counts(self._whole())

    def wait_for(self, path: str, key: str) -> None:
        self.waiting.setdefault(path, set()).add(key)

    def waiting_for(self, path: str) -> list[str]:
        return sorted(self.waiting.get(path, ()))

    def stop_waiting(self, path: str, key: str) -> None:
        self.waiting.get(path, set()).discard(key)


def model_to_json(model: SiteModel) -> dict[str, Any]:
    return {
        "version": model.version,
        "entries": [e.to_dict() for e in model.entries.values()],
        "counters": {k: [c.last_page, c.last_count] for k, c in model.counters.items()},
        "pages": model.page_hashes,
        "pending_purge": list(model.pending_purge),
        "dirty": list(model.dirty),
    }


def model_from_json(data: dict[str, Any]) -> SiteModel:
    return SiteModel(
        entries={e["slug"]: Entry.from_dict(e) for e in data.get("entries", [])},
        counters={k: Counter(int(v[0]), int(v[1])) for k, v in data.get("counters", {}).items()},
        page_hashes=dict(data.get("pages", {})),
        version=int(data.get("version", 0)),
        pending_purge=list(data.get("pending_purge", [])),
        dirty=list(data.get("dirty", [])),
    )


class MemoryIndex(ModelQueries):
    """The index in memory, optionally kept in a JSON file between runs."""

    def __init__(self, path: Path | None = None, policy: FreshnessPolicy | None = None) -> None:
        self.path = path
        self.policy = policy or FreshnessPolicy()
        self.model = SiteModel()
        self.sources: dict[str, SourceRecord] = {}
        self.markers: set[str] = set()
        self.cursors: dict[str, str] = {}
        self.waiting: dict[str, set[str]] = {}  # one build: a batch admits its sources together
        self._dirty = False  # nothing to write back until something changes
        if path and path.is_file():
            self._read(json.loads(path.read_text(encoding="utf-8")))

    # The file keeps entries and source records as rows under a header of
    # field names: a 10,000-article site loads and saves in a fraction of the
    # time of one object per entry. Files with objects (older builds) still load.

    def _read(self, data: dict[str, Any]) -> None:
        site = data["site"]
        self.model = model_from_json(site)
        if "entry_fields" in site:
            self.model.entries = entries_from_rows(site["entry_fields"], site["entry_rows"])
        if "source_fields" in data:
            names = data["source_fields"]
            if tuple(names) == SOURCE_FIELDS:
                records = (SourceRecord(*row) for row in data["source_rows"])
            else:  # written by another version: go by name
                records = (SourceRecord.from_dict(dict(zip(names, row, strict=True))) for row in data["source_rows"])
        else:
            records = (SourceRecord.from_dict(s) for s in data.get("sources", []))
        self.sources = {r.key: r for r in records}

    def load(self) -> SiteModel:
        return self.model

    def save(self, before: SiteModel, after: SiteModel, records: Sequence[SourceRecord] = ()) -> None:
        if before.version != self.model.version:
            raise StaleWrite(f"the model changed since version {before.version} was loaded")
        after.version = before.version + 1
        self.model = after
        for record in records:
            self.sources[record.key] = record
        self._dirty = True

    def save_pending(self, version: int, pending_purge: list[str], dirty: list[str]) -> None:
        if version != self.model.version:
            raise StaleWrite(f"the model changed since version {version} was loaded")
        if (self.model.pending_purge, self.model.dirty) != (pending_purge, dirty):
            self.model.pending_purge, self.model.dirty = list(pending_purge), list(dirty)
            self._dirty = True

    def renew(self) -> None:
        pass  # one process, no lease

    def unsettled(self) -> bool:
        return bool(self.model.pending_purge or self.model.dirty)

    def source(self, key: str) -> SourceRecord | None:
        return self.sources.get(key)

    def save_source(self, record: SourceRecord, expected: SourceRecord | None = None) -> None:
        if self.sources.get(record.key) != record:
            self.sources[record.key] = record
            self._dirty = True

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def _whole(self) -> SiteModel:
        return self.model

    def claim(self, marker: str, ttl_days: int = 30) -> bool:
        if marker in self.markers:
            return False
        self.markers.add(marker)
        return True

    def cursor(self, name: str) -> str:
        return self.cursors.get(name, "")

    def set_cursor(self, name: str, value: str) -> None:
        self.cursors[name] = value

    def flush(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        site = model_to_json(replace(self.model, entries={}))
        site |= {"entry_fields": ENTRY_FIELDS, "entry_rows": [e.to_row() for e in self.model.entries.values()]}
        data = {
            "site": site,
            "source_fields": SOURCE_FIELDS,
            "source_rows": [[getattr(s, n) for n in SOURCE_FIELDS] for s in self.sources.values()],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        tmp.replace(self.path)
        self._dirty = False


# -- DynamoDB ---------------------------------------------------------------------

SITE = "site"
LAYOUT = 2  # the item layout of edgepub.partial; an index without it was written by an older edgepub


class IndexLayoutError(OperatorError):
    """The table holds the index as an older edgepub wrote it (the whole model in one partition)."""

    def __init__(self) -> None:
        super().__init__(
            "the index was written by an older edgepub (the whole site in one partition); "
            "run `edgepub migrate-index` once to move it to the current layout, then retry"
        )


class DynamoItems:
    """The partial model's reads of the table (`edgepub.partial.ItemReader`), strongly
    consistent, with the writes of a committed journal not yet applied overlaid on
    them. Counts the items it reads and the requests it makes (B7 reports both)."""

    def __init__(self, table: Any, overlay: dict[Key, dict[str, Any] | None]) -> None:
        self.table = table
        self.overlay = overlay
        self.items_read = 0
        self.requests = 0

    def get_many(self, keys: Sequence[Key]) -> dict[Key, dict[str, Any]]:
        found: dict[Key, dict[str, Any]] = {}
        wanted: list[Key] = []
        for key in keys:
            if key in self.overlay:
                if (item := self.overlay[key]) is not None:
                    found[key] = item
            else:
                wanted.append(key)
        if len(wanted) == 1:  # one item: GetItem, which needs no typed keys
            self.requests += 1
            pk, sk = wanted[0]
            item = self.table.get_item(Key={"pk": pk, "sk": sk}, ConsistentRead=True).get("Item")
            if item:
                found[wanted[0]] = plain(item)
                self.items_read += 1
            return found
        client, name = self.table.meta.client, self.table.name  # the resource's client: plain values
        for start in range(0, len(wanted), 100):  # BatchGetItem takes 100 keys
            request = {
                name: {
                    "Keys": [{"pk": pk, "sk": sk} for pk, sk in wanted[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            delay = 0.05
            while request:
                self.requests += 1
                response = client.batch_get_item(RequestItems=request)
                for raw in response["Responses"].get(name, []):
                    item = plain(raw)
                    found[(item["pk"], item["sk"])] = item
                    self.items_read += 1
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
        return found

    def query(
        self,
        pk: str,
        *,
        newest_first: bool = False,
        limit: int = 0,
        between: tuple[str, str] | None = None,
        keys_only: bool = False,
    ) -> list[dict[str, Any]]:
        extra = [
            (key, item)
            for key, item in self.overlay.items()
            if key[0] == pk and (between is None or between[0] <= key[1] <= between[1])
        ]
        want = limit + len(extra) if limit else 0
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": pk},
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if between is not None:
            kwargs["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :a AND :b"
            kwargs["ExpressionAttributeValues"] = {":pk": pk, ":a": between[0], ":b": between[1]}
        if keys_only:
            kwargs["ProjectionExpression"] = "pk, sk"
        items: list[dict[str, Any]] = []
        while True:
            if want:
                kwargs["Limit"] = want - len(items)
            self.requests += 1
            response = self.table.query(**kwargs)
            items.extend(plain(i) for i in response["Items"])
            if "LastEvaluatedKey" not in response or (want and len(items) >= want):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        self.items_read += len(items)
        if extra:  # the top `limit` of stored and overlaid together are among what was read
            merged = {(str(i["pk"]), str(i["sk"])): i for i in items}
            for key, item in extra:
                if item is None:
                    merged.pop(key, None)
                else:
                    merged[key] = item
            items = sorted(merged.values(), key=lambda i: str(i["sk"]), reverse=newest_first)
        return items[:limit] if limit else items


def status_counts(model: SiteModel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in model.entries.values():
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return counts


class DynamoIndex:
    """Items in one table (pk, sk):

    - the site model's items, read on demand (edgepub.partial has their layout): an
      entry at ``art#NN`` / ``<slug>`` (live entries carry ``review_pk``/``review_sk``
      for GSI ByReview, entries with a scheduled publish or expiry ``transition_pk``/
      ``transition_sk`` for GSI ByTransition), page hashes, counters, and the rows
      each live entry implies (its place in listings, features, shards, paths)
    - ``site`` / ``meta``: the model version, the counts by state, pending purges,
      dirty paths, the writers' lease with its fencing token, and the journal of the
      last commit while its item writes are being applied
    - ``journal`` / ``<version>#<attempt>#<part>``: the item writes of a commit too
      large to travel in the meta item
    - ``src#<key>`` / ``src``: one per source key
    - ``wait#<path>`` / ``<key>``: a source refused a path another source holds, retried when it is let go

    Loading the model reads the meta item; planning and rendering then read what
    they ask for (`PartialModel`), so a publish reads what its change touches.

    The commit protocol (docs/architecture.md, "Commits"): every write to the
    meta item is one conditional update whose condition names this writer's
    lease (owner and fencing token) and the version it planned from. A commit
    sets the new version and the commit's item writes (its journal) in that one
    update, the commit point; the item writes are then applied and the journal
    removed. A reader overlays a journal still present on what it loads; the next
    lease holder applies it. No multi-item transaction is needed.
    """

    JOURNAL_PART_BYTES = 300_000  # one journal item (the item limit is 400 KB)

    def __init__(
        self,
        table: Any,
        *,
        policy: FreshnessPolicy | None = None,
        lock_seconds: int = 60,
        clock: Callable[[], float] = time.time,
        wait_seconds: float = 20.0,
    ) -> None:
        self.table = table
        self.policy = policy or FreshnessPolicy()
        self.lock_seconds = lock_seconds
        self.clock = clock
        self.wait_seconds = wait_seconds
        self.items = DynamoItems(table, {})
        self.items_written = 0  # item writes applied by commits (B7 counts them)
        self._lease: _Lease | None = None
        self._unsettled = False  # as the meta item said when the lease was taken

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            response = self.table.query(**kwargs)
            items.extend(plain(i) for i in response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _meta(self) -> dict[str, Any]:
        item = self.table.get_item(Key={"pk": SITE, "sk": "meta"}, ConsistentRead=True).get("Item")
        return {"version": 0, "pending_purge": [], **(plain(item) if item else {})}

    def load(self, *, strict: bool = False) -> PartialModel:
        """The site model at the current version, read item by item as planning asks
        (edgepub.partial): one GetItem of the meta item here. A commit whose items are
        not all written yet (its writer stopped after the commit point) is overlaid on
        what is read; the next lease holder writes them."""
        meta = self._meta()
        if int(meta["version"]) and int(meta.get("layout", 0)) != LAYOUT:
            raise IndexLayoutError()
        journal = str(meta.get("journal", ""))
        overlay: dict[Key, dict[str, Any] | None] = {}
        if journal:  # committed, not yet applied to the items: the journal is the truth
            for op, item in self._journal(meta):
                key = (str(item["pk"]), str(item["sk"]))
                overlay[key] = item if op == "put" else None
        self.items = DynamoItems(self.table, overlay)
        counts = {k: int(v) for k, v in meta.get("counts", {}).items()}
        return PartialModel(
            Stored(self.items, counts, strict=strict),
            version=int(meta["version"]),
            pending_purge=list(meta.get("pending_purge", [])),
            dirty=list(meta.get("dirty", [])),
        )

    def save(self, before: SiteModel, after: SiteModel, records: Sequence[SourceRecord] = ()) -> None:
        """Commit `after` as version before.version + 1, fenced; see the class doc."""
        ops = item_writes(before, after, self.policy)
        ops += [("put", {"pk": f"src#{r.key}", "sk": "src", **asdict(r)}) for r in records]
        changed = after.changed_since(before)
        counts = dict(before.stored.counts) if isinstance(before, PartialModel) else {}
        for state, delta in status_delta(before, after, changed).items():
            counts[state] = counts.get(state, 0) + delta
        counts = {k: v for k, v in counts.items() if v}
        after.version = before.version + 1
        journal = f"{after.version:012d}#{uuid.uuid4().hex}"
        body = json.dumps(ops, separators=(",", ":"))
        values: dict[str, Any] = {
            ":nv": after.version,
            ":p": list(after.pending_purge),
            ":d": list(after.dirty),
            ":c": counts,
            ":j": journal,
        }
        update = "SET #v = :nv, #p = :p, #d = :d, #c = :c, #j = :j, #l = :l"
        values[":l"] = LAYOUT
        # the meta item (400 KB at most) also holds the pending URLs and dirty paths
        shared = len(json.dumps(after.pending_purge)) + len(json.dumps(after.dirty))
        if len(body) + shared <= self.JOURNAL_PART_BYTES:
            update += ", #jo = :jo REMOVE #n"
            values[":jo"] = body
            parts = 0
        else:
            parts = self._write_journal(journal, ops)
            update += ", #n = :n REMOVE #jo"
            values[":n"] = parts
        self._commit(before.version, update, values)  # the commit point
        self.items_written += len(ops)
        self._apply(ops)
        self._close_journal(after.version, journal, parts)
        if isinstance(after, PartialModel):
            after.stored.counts = counts

    def save_pending(self, version: int, pending_purge: list[str], dirty: list[str]) -> None:
        """Record what is about to be written (dirty) and what awaits a purge, at `version`, fenced."""
        self._commit(version, "SET #p = :p, #d = :d", {":p": list(pending_purge), ":d": list(dirty)})

    def migrate(self) -> dict[str, int]:
        """Move an index an older edgepub wrote (entries, counters and page hashes as
        items of partition "site") to the layout of edgepub.partial, under the lease:
        the new items are written (again, if a first attempt died), the meta item marks
        the layout, then the old items are deleted. Safe to run again: a run that died
        while deleting finishes the deletion; a no-op once done."""
        moved = {"entries": 0, "counters": 0, "pages": 0, "items": 0, "removed": 0}
        with self.lock():
            meta = self._meta()
            old = self._query_all(
                KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": SITE}, ConsistentRead=True
            )
            if int(meta.get("layout", 0)) != LAYOUT and int(meta["version"]):
                model = SiteModel(version=int(meta["version"]))
                for item in old:
                    sk = str(item["sk"])
                    if sk.startswith("art#"):
                        entry = Entry.from_dict(item)
                        model.entries[entry.slug] = entry
                    elif sk.startswith("ctr#"):
                        model.counters[sk[4:]] = Counter(int(item["last_page"]), int(item["last_count"]))
                    elif sk.startswith("page#"):
                        model.page_hashes[sk[5:]] = str(item["hash"])
                items = list(bulk_items(model, self.policy))
                for start in range(0, len(items), 500):
                    self.renew()
                    with self.table.batch_writer() as batch:
                        for item in items[start : start + 500]:
                            batch.put_item(Item=item)
                self._commit(model.version, "SET #l = :l, #c = :c", {":l": LAYOUT, ":c": status_counts(model)})
                moved |= {
                    "entries": len(model.entries),
                    "counters": len(model.counters),
                    "pages": len(model.page_hashes),
                    "items": len(items),
                }
            # the old items go last (they still carry the review and transition GSI keys)
            stale = [str(i["sk"]) for i in old if str(i["sk"]) != "meta"]
            for start in range(0, len(stale), 500):
                self.renew()
                with self.table.batch_writer() as batch:
                    for sk in stale[start : start + 500]:
                        batch.delete_item(Key={"pk": SITE, "sk": sk})
            moved["removed"] = len(stale)
        return moved

    _NAMES = {
        "#v": "version",
        "#p": "pending_purge",
        "#d": "dirty",
        "#c": "counts",
        "#j": "journal",
        "#jo": "journal_ops",
        "#n": "journal_parts",
        "#lo": "lease_owner",
        "#le": "lease_expires",
        "#f": "fence",
        "#l": "layout",
    }

    def _commit(self, version: int, update: str, values: dict[str, Any], *, journal: str = "") -> None:
        """One conditional update of the meta item: refused unless the lease is still this
        writer's (owner and fencing token) and the model is still at `version` with no
        journal pending (or with exactly `journal`, when closing it)."""
        from botocore.exceptions import ClientError

        lease = self._lease
        if lease is None:
            raise StaleWrite("a write to the site model outside the lease")
        condition = "#lo = :lo AND #f = :f AND " + ("#v = :v" if version else "(attribute_not_exists(#v) OR #v = :v)")
        condition += " AND #j = :oj" if journal else " AND attribute_not_exists(#j)"
        sent = self.clock()  # the lease is counted from when the request left, however late the answer
        update = _with_lease_expiry(update)  # every fenced write also extends the stored lease
        values = {":v": version, ":lo": lease.owner, ":f": lease.fence, ":le": int(sent) + self.lock_seconds, **values}
        if journal:
            values[":oj"] = journal
        expressions = update + " " + condition
        try:
            self.table.update_item(
                Key={"pk": SITE, "sk": "meta"},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in self._NAMES.items() if re.search(rf"{k}\b", expressions)},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            meta = self._meta()
            if meta.get("lease_owner") != lease.owner or int(meta.get("fence", 0)) != lease.fence:
                self._lease = None
                raise StaleWrite("the site lease was taken over by another writer; this change starts again") from None
            raise StaleWrite(f"another writer committed since version {version} was loaded") from None
        lease.renewed = sent  # a commit that checked the lease needs no renewal for a while

    def _write_journal(self, journal: str, ops: list[tuple[str, dict[str, Any]]]) -> int:
        parts: list[list[tuple[str, dict[str, Any]]]] = [[]]
        size = 0
        for op in ops:
            cost = len(json.dumps(op))
            if parts[-1] and size + cost > self.JOURNAL_PART_BYTES:
                parts.append([])
                size = 0
            parts[-1].append(op)
            size += cost
        expires = int(self.clock()) + 7 * 86400  # an attempt that never committed leaves nothing for long
        with self.table.batch_writer() as batch:
            for number, part in enumerate(parts):
                body = json.dumps(part, separators=(",", ":"))
                batch.put_item(Item={"pk": "journal", "sk": f"{journal}#{number:04d}", "ops": body, "ttl": expires})
        return len(parts)

    def _journal(self, meta: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The item writes of the commit the meta item points at (inline, or in journal items)."""
        if "journal_ops" in meta:
            return [(op, body) for op, body in json.loads(meta["journal_ops"])]
        ops: list[tuple[str, dict[str, Any]]] = []
        for number in range(int(meta.get("journal_parts", 0))):
            key = {"pk": "journal", "sk": f"{meta['journal']}#{number:04d}"}
            item = self.table.get_item(Key=key, ConsistentRead=True)
            ops.extend((op, body) for op, body in json.loads(item["Item"]["ops"]))
        return ops

    def _apply(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        """Write a committed journal's items, a batch at a time, checking the lease before
        each batch: a writer that stalled past its lease must not write over what the
        next holder (which applied this journal itself) committed since."""
        for start in range(0, len(ops), 25):
            self.renew()  # outside the batch writer, which sends what it holds even on an error
            with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
                for op, item in ops[start : start + 25]:
                    if op == "put":
                        batch.put_item(Item=item)
                    else:
                        batch.delete_item(Key=item)

    def _close_journal(self, version: int, journal: str, parts: int) -> None:
        """The commit's items are written: the meta item stops pointing at its journal."""
        self._commit(version, "REMOVE #j, #jo, #n", {}, journal=journal)
        if parts:
            with self.table.batch_writer() as batch:
                for number in range(parts):
                    batch.delete_item(Key={"pk": "journal", "sk": f"{journal}#{number:04d}"})

    def _finish_commit(self, meta: dict[str, Any]) -> None:
        """Apply the journal of a commit whose writer stopped after its commit point (the lease is ours)."""
        journal = str(meta.get("journal", ""))
        if not journal:
            return
        self._apply(self._journal(meta))
        self._close_journal(int(meta["version"]), journal, int(meta.get("journal_parts", 0)))

    def source(self, key: str) -> SourceRecord | None:
        item = self.table.get_item(Key={"pk": f"src#{key}", "sk": "src"}, ConsistentRead=True).get("Item")
        return SourceRecord.from_dict(plain(item)) if item else None

    def save_source(self, record: SourceRecord, expected: SourceRecord | None = None) -> None:
        """Record what a source key published. With `expected` (the record as read under the
        lease), only if it is unchanged: a writer that outlived its lease cannot overwrite
        what a later writer recorded for the key."""
        from botocore.exceptions import ClientError

        item = {"pk": f"src#{record.key}", "sk": "src", **asdict(record)}
        if expected is None:
            self.table.put_item(Item=item)
            return
        try:
            if expected.updated:
                self.table.put_item(
                    Item=item, ConditionExpression="updated = :u", ExpressionAttributeValues={":u": expected.updated}
                )
            else:
                self.table.put_item(
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR updated = :u",
                    ExpressionAttributeValues={":u": ""},
                )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise StaleWrite(f"the record of {record.key} changed since it was read") from None

    def review_due_before(self, day: str) -> list[ReviewItem]:
        """Live articles whose review is due before `day` (YYYY-MM-DD), never reviewed first. No scan."""
        items = self._query_all(
            IndexName="ByReview",
            KeyConditionExpression="review_pk = :pk AND review_sk < :day",
            ExpressionAttributeValues={":pk": "review", ":day": day},
        )
        return [
            ReviewItem(
                slug=i["slug"],
                title=i.get("title", ""),
                owner=i.get("owner", ""),
                due=i["review_sk"].rsplit("#", 1)[0],
                last_reviewed=i.get("last_reviewed", ""),
                source_key=i.get("source_key", ""),
            )
            for i in items
        ]

    def transitions_due(self, now: str) -> list[str]:
        """Slugs whose scheduled publish or expiry time has come. No scan."""
        items = self._query_all(
            IndexName="ByTransition",
            KeyConditionExpression="transition_pk = :pk AND transition_sk <= :now",
            ExpressionAttributeValues={":pk": "transition", ":now": now + "~"},
        )
        return [str(i["transition_sk"]).rsplit("#", 1)[1] for i in items]

    def counts(self) -> dict[str, int]:
        """Articles by publication state (kept in the meta item on every save)."""
        return {k: int(v) for k, v in self._meta().get("counts", {}).items()}

    def claim(self, marker: str, ttl_days: int = 30) -> bool:
        """True the first time a marker is claimed (a notification sent once, say); False after."""
        from botocore.exceptions import ClientError

        try:
            self.table.put_item(
                Item={"pk": "marker", "sk": marker, "ttl": int(time.time()) + ttl_days * 86400},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def cursor(self, name: str) -> str:
        item = self.table.get_item(Key={"pk": "cursor", "sk": name}, ConsistentRead=True).get("Item")
        return str(item["value"]) if item else ""

    def set_cursor(self, name: str, value: str) -> None:
        self.table.put_item(Item={"pk": "cursor", "sk": name, "value": value})

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The lease: one writer changes the site at a time.

        Taken with a conditional update of the meta item that also increments the
        fencing token; every commit checks owner and token in its own condition
        (see `_commit`). Waits up to `wait_seconds`, then fails (the SQS record is
        retried later). A holder that died releases the lease when it expires; one
        that outlives it finds its commits refused.
        """
        from botocore.exceptions import ClientError

        owner = f"{os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME', 'local')}/{uuid.uuid4().hex}"
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.05
        while True:
            now = int(self.clock())
            try:
                response = self.table.update_item(
                    Key={"pk": SITE, "sk": "meta"},
                    UpdateExpression="SET #lo = :o, #le = :e ADD #f :one",
                    ConditionExpression="attribute_not_exists(#lo) OR #le < :now",
                    ExpressionAttributeNames={"#lo": "lease_owner", "#le": "lease_expires", "#f": "fence"},
                    ExpressionAttributeValues={":o": owner, ":e": now + self.lock_seconds, ":now": now, ":one": 1},
                    ReturnValues="ALL_NEW",
                )
                break
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                if time.monotonic() > deadline:
                    raise TransientError("another publisher holds the site lock; will retry") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        meta = plain(response["Attributes"])
        self._lease = _Lease(owner, int(meta["fence"]), now)
        self._unsettled = bool(meta.get("pending_purge") or meta.get("dirty"))
        try:
            self._finish_commit(meta)
            yield
        finally:
            self._lease = None
            try:
                self.table.update_item(
                    Key={"pk": SITE, "sk": "meta"},
                    UpdateExpression="REMOVE #lo, #le",
                    ConditionExpression="#lo = :o",
                    ExpressionAttributeNames={"#lo": "lease_owner", "#le": "lease_expires"},
                    ExpressionAttributeValues={":o": owner},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def unsettled(self) -> bool:
        return self._lease is not None and self._unsettled

    def wait_for(self, path: str, key: str) -> None:
        ttl = int(self.clock()) + 30 * 86400  # a source refused for a month is not waiting any more
        self.table.put_item(Item={"pk": f"wait#{path}", "sk": key, "ttl": ttl})

    def waiting_for(self, path: str) -> list[str]:
        items = self._query_all(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"wait#{path}"}, ConsistentRead=True
        )
        return [str(i["sk"]) for i in items]

    def stop_waiting(self, path: str, key: str) -> None:
        self.table.delete_item(Key={"pk": f"wait#{path}", "sk": key})

    def renew(self) -> None:
        """Extend the lease once a third of it has passed; StaleWrite if another writer took it."""
        from botocore.exceptions import ClientError

        lease = self._lease
        if lease is None or self.clock() - lease.renewed < self.lock_seconds / 3:
            return
        now = self.clock()
        try:
            self.table.update_item(
                Key={"pk": SITE, "sk": "meta"},
                UpdateExpression="SET #le = :e",
                ConditionExpression="#lo = :o AND #f = :f",
                ExpressionAttributeNames={"#lo": "lease_owner", "#le": "lease_expires", "#f": "fence"},
                ExpressionAttributeValues={":o": lease.owner, ":f": lease.fence, ":e": int(now) + self.lock_seconds},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            self._lease = None
            raise StaleWrite("the site lease was taken over by another writer; this change starts again") from None
        lease.renewed = now


@dataclass
class _Lease:
    owner: str
    fence: int
    renewed: float  # when the lease was last taken, renewed or checked by a commit


def _with_lease_expiry(update: str) -> str:
    """An update expression that also sets the lease expiry (`#le = :le`)."""
    if update.startswith("SET "):
        return update.replace("SET ", "SET #le = :le, ", 1)
    return "SET #le = :le " + update  # REMOVE ... only
