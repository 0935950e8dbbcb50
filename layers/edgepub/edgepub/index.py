"""The article index: the site model and the per-source records, behind one
port with two stores. `MemoryIndex` keeps them in a JSON file (local builds,
tests); `DynamoIndex` keeps them in the DynamoDB table, where the items also
answer the queries scheduled jobs need without a scan: articles by tag
(`tag#<tag>` items), the most recent N (GSI ByRecent) and reviews due before a
date (GSI ByReview)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from edgepub.errors import TransientError
from edgepub.freshness import FreshnessPolicy
from edgepub.site import ENTRY_FIELDS, Counter, Entry, SiteModel, entries_from_rows
from edgepub.state import SourceState, transition_at


@dataclass(frozen=True)
class SourceRecord:
    """The last known state of one source key: what it published and the newest event seen."""

    key: str
    slug: str = ""
    state: SourceState = ""
    version: str = ""
    sequencer: str = ""
    updated: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceRecord:
        values = {k: str(v) for k, v in data.items() if k in SOURCE_FIELDS}
        return cls(**values)  # type: ignore[arg-type]  # state: a row of ours, as SourceState


SOURCE_FIELDS = tuple(f.name for f in fields(SourceRecord))


class ArticleIndex(Protocol):
    def load(self) -> SiteModel: ...
    def save(self, before: SiteModel, after: SiteModel) -> None: ...
    def source(self, key: str) -> SourceRecord | None: ...
    def save_source(self, record: SourceRecord) -> None: ...
    def lock(self) -> Any:
        """A context manager serializing publishers that change the site."""
        ...


def model_to_json(model: SiteModel) -> dict[str, Any]:
    return {
        "version": model.version,
        "entries": [e.to_dict() for e in model.entries.values()],
        "counters": {k: [c.last_page, c.last_count] for k, c in model.counters.items()},
        "pages": model.page_hashes,
        "pending_purge": list(model.pending_purge),
    }


def model_from_json(data: dict[str, Any]) -> SiteModel:
    return SiteModel(
        entries={e["slug"]: Entry.from_dict(e) for e in data.get("entries", [])},
        counters={k: Counter(int(v[0]), int(v[1])) for k, v in data.get("counters", {}).items()},
        page_hashes=dict(data.get("pages", {})),
        version=int(data.get("version", 0)),
        pending_purge=list(data.get("pending_purge", [])),
    )


class MemoryIndex:
    """The index in memory, optionally kept in a JSON file between runs."""

    def __init__(self, path: Path | None = None, policy: FreshnessPolicy | None = None) -> None:
        self.path = path
        self.policy = policy or FreshnessPolicy()
        self.model = SiteModel()
        self.sources: dict[str, SourceRecord] = {}
        self.markers: set[str] = set()
        self.cursors: dict[str, str] = {}
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

    def save(self, before: SiteModel, after: SiteModel) -> None:
        after.version = before.version + 1
        self.model = after
        self._dirty = True

    def source(self, key: str) -> SourceRecord | None:
        return self.sources.get(key)

    def save_source(self, record: SourceRecord) -> None:
        if self.sources.get(record.key) != record:
            self.sources[record.key] = record
            self._dirty = True

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield

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
            for e in self.model.entries.values()
            if e.live
        ]
        return sorted((i for i in due if i.due < day), key=lambda i: (i.due, i.slug))

    def transitions_due(self, now: str) -> list[str]:
        return sorted(e.slug for e in self.model.entries.values() if transition_at(e) and transition_at(e) <= now)

    def counts(self) -> dict[str, int]:
        return status_counts(self.model)

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


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal, lists of strings as lists."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ReviewItem:
    """A live article that is due (or overdue, or never reviewed) for review."""

    slug: str
    title: str
    owner: str
    due: str  # YYYY-MM-DD, or freshness.NEVER
    last_reviewed: str
    source_key: str


def status_counts(model: SiteModel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in model.entries.values():
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return counts


class DynamoIndex:
    """Items in one table (pk, sk):

    - ``site`` / ``art#<slug>``: one entry; live entries carry ``recent_pk``/``recent_sk``
      (GSI ByRecent) and ``review_pk``/``review_sk`` (GSI ByReview)
    - ``site`` / ``ctr#<listing>``: listing counters; ``site`` / ``page#<path>``: stored page hashes
    - ``site`` / ``meta``: model version and pending purges
    - ``tag#<tag>`` / ``<date>#<slug>``: one per live article and tag
    - ``src#<key>`` / ``src``: one per source key
    - ``lock`` / ``site``: the publishers' lease

    The model is loaded with one paginated query of partition ``site`` and kept
    between invocations while its version is unchanged.
    """

    def __init__(self, table: Any, *, policy: FreshnessPolicy | None = None, lock_seconds: int = 60) -> None:
        self.table = table
        self.policy = policy or FreshnessPolicy()
        self.lock_seconds = lock_seconds
        self._cached: SiteModel | None = None

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            response = self.table.query(**kwargs)
            items.extend(_plain(i) for i in response["Items"])
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _meta(self) -> dict[str, Any]:
        item = self.table.get_item(Key={"pk": SITE, "sk": "meta"}, ConsistentRead=True).get("Item")
        return _plain(item) if item else {"version": 0, "pending_purge": []}

    def load(self) -> SiteModel:
        meta = self._meta()
        if self._cached is not None and self._cached.version == int(meta["version"]):
            return self._cached.copy()
        model = SiteModel(version=int(meta["version"]), pending_purge=list(meta.get("pending_purge", [])))
        for item in self._query_all(
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": SITE}, ConsistentRead=True
        ):
            sk = item["sk"]
            if sk.startswith("art#"):
                entry = Entry.from_dict(item)
                model.entries[entry.slug] = entry
            elif sk.startswith("ctr#"):
                model.counters[sk[4:]] = Counter(item["last_page"], item["last_count"])
            elif sk.startswith("page#"):
                model.page_hashes[sk[5:]] = item["hash"]
        self._cached = model
        return model.copy()

    def _entry_item(self, entry: Entry) -> dict[str, Any]:
        item: dict[str, Any] = {"pk": SITE, "sk": f"art#{entry.slug}"}
        for key, value in entry.to_dict().items():
            if value in ("", (), 0, False) and key not in ("slug",):
                continue  # DynamoDB rejects empty sets and we keep items small
            item[key] = (
                [list(v) for v in value] if key == "tag_pages" else list(value) if isinstance(value, tuple) else value
            )
        if entry.live:
            item["recent_pk"] = "live"
            item["recent_sk"] = f"{entry.date}#{entry.slug}"
            item["review_pk"] = "review"
            item["review_sk"] = f"{self.policy.due_key(entry)}#{entry.slug}"
        when = transition_at(entry)
        if when:
            item["transition_pk"] = "transition"
            item["transition_sk"] = f"{when}#{entry.slug}"
        return item

    def save(self, before: SiteModel, after: SiteModel) -> None:
        after.version = before.version + 1
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for slug in before.entries.keys() | after.entries.keys():
                old, new = before.entries.get(slug), after.entries.get(slug)
                if old == new:
                    continue
                if new is None:
                    batch.delete_item(Key={"pk": SITE, "sk": f"art#{slug}"})
                else:
                    batch.put_item(Item=self._entry_item(new))
                old_tags = {(t, old.date) for t in old.tags} if old and old.live else set()
                new_tags = {(t, new.date) for t in new.tags} if new and new.live else set()
                for tag, date in old_tags - new_tags:
                    batch.delete_item(Key={"pk": f"tag#{tag}", "sk": f"{date}#{slug}"})
                for tag, date in new_tags - old_tags:
                    batch.put_item(Item={"pk": f"tag#{tag}", "sk": f"{date}#{slug}", "slug": slug})
            for name, counter in after.counters.items():
                if before.counters.get(name) != counter:
                    batch.put_item(
                        Item={
                            "pk": SITE,
                            "sk": f"ctr#{name}",
                            "last_page": counter.last_page,
                            "last_count": counter.last_count,
                        }
                    )
            for path in before.page_hashes.keys() | after.page_hashes.keys():
                old_hash, new_hash = before.page_hashes.get(path), after.page_hashes.get(path)
                if old_hash == new_hash:
                    continue
                if new_hash is None:
                    batch.delete_item(Key={"pk": SITE, "sk": f"page#{path}"})
                else:
                    batch.put_item(Item={"pk": SITE, "sk": f"page#{path}", "hash": new_hash})
        self.save_meta(after)
        self._cached = after.copy()

    def save_meta(self, model: SiteModel) -> None:
        self.table.put_item(
            Item={
                "pk": SITE,
                "sk": "meta",
                "version": model.version,
                "pending_purge": list(model.pending_purge),
                "counts": status_counts(model),
            }
        )
        if self._cached is not None and self._cached.version == model.version:
            self._cached.pending_purge = list(model.pending_purge)

    def source(self, key: str) -> SourceRecord | None:
        item = self.table.get_item(Key={"pk": f"src#{key}", "sk": "src"}, ConsistentRead=True).get("Item")
        return SourceRecord.from_dict(_plain(item)) if item else None

    def save_source(self, record: SourceRecord) -> None:
        self.table.put_item(Item={"pk": f"src#{record.key}", "sk": "src", **asdict(record)})

    def by_tag(self, tag: str, limit: int = 100) -> list[str]:
        """Slugs of live articles with the tag, newest first (no scan)."""
        response = self.table.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": f"tag#{tag}"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [str(i["slug"]) for i in response["Items"]]

    def recent(self, limit: int) -> list[str]:
        response = self.table.query(
            IndexName="ByRecent",
            KeyConditionExpression="recent_pk = :pk",
            ExpressionAttributeValues={":pk": "live"},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [str(i["slug"]) for i in response["Items"]]

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
        """A lease in the table: one publisher changes the site at a time.

        Waits up to about 20 s, then fails (the SQS record is retried later). A
        holder that died releases the lease when it expires.
        """
        from botocore.exceptions import ClientError

        owner = f"{os.environ.get('AWS_LAMBDA_LOG_STREAM_NAME', 'local')}/{uuid.uuid4().hex}"
        deadline = time.monotonic() + 20
        delay = 0.05
        while True:
            now = int(time.time())
            try:
                self.table.put_item(
                    Item={"pk": "lock", "sk": SITE, "owner": owner, "expires": now + self.lock_seconds},
                    ConditionExpression="attribute_not_exists(pk) OR expires < :now",
                    ExpressionAttributeValues={":now": now},
                )
                break
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                if time.monotonic() > deadline:
                    raise TransientError("another publisher holds the site lock; will retry") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            try:
                self.table.delete_item(
                    Key={"pk": "lock", "sk": SITE},
                    ConditionExpression="#o = :owner",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":owner": owner},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
