"""The article index: what edgepub knows about every source and article, so a
change can be planned without listing buckets. Port plus two adapters:
DynamoDB (deployed and embedded stack) and memory/JSON file (local builds)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class SourceRecord:
    """The last known state of one source key."""

    key: str
    slug: str = ""
    state: str = ""  # published, held, rejected, deleted
    version: str = ""
    sequencer: str = ""
    pending_purge: tuple[str, ...] = ()
    updated: str = ""


@dataclass(frozen=True)
class ArticleRecord:
    """What listings and scheduled jobs need of a published (or held) article."""

    slug: str
    source_key: str
    title: str = ""
    summary: str = ""
    date: str = ""
    tags: tuple[str, ...] = ()
    status: str = ""
    owner: str = ""
    source_version: str = ""
    page_hashes: dict[str, str] = field(default_factory=dict)


class ArticleIndex(Protocol):
    def source(self, key: str) -> SourceRecord | None: ...
    def article(self, slug: str) -> ArticleRecord | None: ...
    def save_source(self, record: SourceRecord) -> None: ...
    def save_article(self, record: ArticleRecord) -> None: ...
    def delete_article(self, slug: str) -> None: ...


def _tupled(data: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {k: tuple(v) if k in names and isinstance(v, list) else v for k, v in data.items()}


class MemoryIndex:
    """In-process index; `save_to`/`load_from` keep it in a JSON file for local builds."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceRecord] = {}
        self.articles: dict[str, ArticleRecord] = {}

    def source(self, key: str) -> SourceRecord | None:
        return self.sources.get(key)

    def article(self, slug: str) -> ArticleRecord | None:
        return self.articles.get(slug)

    def save_source(self, record: SourceRecord) -> None:
        self.sources[record.key] = record

    def save_article(self, record: ArticleRecord) -> None:
        self.articles[record.slug] = record

    def delete_article(self, slug: str) -> None:
        self.articles.pop(slug, None)

    def save_to(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "sources": [asdict(r) for r in self.sources.values()],
            "articles": [asdict(r) for r in self.articles.values()],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load_from(cls, path: Path) -> MemoryIndex:
        index = cls()
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            for raw in data.get("sources", []):
                index.save_source(SourceRecord(**_tupled(raw, {"pending_purge"})))
            for raw in data.get("articles", []):
                index.save_article(ArticleRecord(**_tupled(raw, {"tags"})))
        return index


class DynamoIndex:
    """One table, pk/sk: `src#<key>`/`meta` per source, `art#<slug>`/`meta` per article."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def _get(self, pk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": pk, "sk": "meta"}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return {k: v for k, v in item.items() if k not in ("pk", "sk")}

    def source(self, key: str) -> SourceRecord | None:
        item = self._get(f"src#{key}")
        return SourceRecord(**_tupled(item, {"pending_purge"})) if item else None

    def article(self, slug: str) -> ArticleRecord | None:
        item = self._get(f"art#{slug}")
        if not item:
            return None
        item["page_hashes"] = dict(item.get("page_hashes") or {})
        return ArticleRecord(**_tupled(item, {"tags"}))

    def save_source(self, record: SourceRecord) -> None:
        item = {"pk": f"src#{record.key}", "sk": "meta", **asdict(record)}
        item["pending_purge"] = list(record.pending_purge)
        self.table.put_item(Item=item)

    def save_article(self, record: ArticleRecord) -> None:
        item = {"pk": f"art#{record.slug}", "sk": "meta", **asdict(record)}
        item["tags"] = list(record.tags)
        self.table.put_item(Item=item)

    def delete_article(self, slug: str) -> None:
        self.table.delete_item(Key={"pk": f"art#{slug}", "sk": "meta"})


def with_pending(record: SourceRecord, urls: Iterable[str]) -> SourceRecord:
    return replace(record, pending_purge=tuple(dict.fromkeys([*record.pending_purge, *urls])))
