"""Operator actions on a running site: roll a page back, take an article down,
republish. Each is one call, runs under the publishers' lease, records what it
did in the index's history, and purges what it changed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from edgepub.aws import S3PageStore
from edgepub.errors import EdgepubError
from edgepub.pages import key_for_path
from edgepub.publisher import Publisher
from edgepub.site import Entry


class OperatorError(EdgepubError):
    """An operator asked for something that cannot be done as asked."""

    exit_code = 3


@dataclass
class RollbackResult:
    slug: str
    url: str
    restored_version: str
    replaced_version: str
    purged: list[str] = field(default_factory=list)
    dry_run: bool = False
    note: str = ""


def rollback(
    publisher: Publisher, pages: S3PageStore, slug: str, to_version: str = "", *, dry_run: bool = False
) -> RollbackResult:
    """Restore an article page's previous stored version (or `to_version`) and purge it.

    The index records the restored bytes as what is expected, so drift repair
    keeps the rollback; the next publish of the source renders the page again.
    """
    path = f"/{slug}/"
    key = key_for_path(path)
    versions = [v for v in pages.versions(key) if not v["deleted"]]
    current = next((v for v in pages.versions(key) if v["current"]), None)
    if not versions:
        raise OperatorError(f"{path} has no stored versions in {pages.bucket}")
    if to_version:
        target = next((v for v in versions if v["version_id"] == to_version), None)
        if target is None:
            raise OperatorError(f"{path} has no version {to_version}; `edgepub status {slug}` lists them")
    else:
        older = [v for v in versions if not v["current"]]
        if not older:
            raise OperatorError(f"{path} has only one version; there is nothing to roll back to")
        target = older[0]
    model = publisher.index.load()
    entry = model.entries.get(slug)
    source = entry.source_key if entry else "its source"
    result = RollbackResult(
        slug=slug,
        url=publisher.renderer.url(path),
        restored_version=target["version_id"],
        replaced_version=current["version_id"] if current else "",
        dry_run=dry_run,
        note=f"The next publish of {source} renders the page from the source again and replaces this rollback; "
        "to keep it, fix the source first.",
    )
    if dry_run:
        return result
    with publisher.index.lock():
        before = publisher.index.load()
        stored = pages.restore(key, target["version_id"])
        after = before.copy()
        after.page_hashes[path] = stored.content_hash
        after.pending_purge = [*after.pending_purge, result.url]
        publisher.index.save(before, after)
        result.purged = publisher.flush_purges(after)
    return result


@dataclass
class UnpublishResult:
    slug: str
    deleted: list[str]
    written: list[str]
    purged: list[str]
    dry_run: bool = False
    note: str = ""


def unpublish(publisher: Publisher, slug: str, *, dry_run: bool = False) -> UnpublishResult:
    """Take a live article down (page deleted, listings updated, purged); its source stays.

    The article is held as a draft until its source is uploaded again."""
    with publisher.index.lock():
        model = publisher.index.load()
        entry: Entry | None = model.entries.get(slug)
        if entry is None or not entry.live:
            raise OperatorError(f"/{slug}/ is not published")
        note = f"{entry.source_key} stays in the sources bucket; uploading it again publishes the article again."
        if dry_run:
            return UnpublishResult(slug, [entry.path], [], [], dry_run=True, note=note)
        applied = publisher.apply_plan(model, {slug: replace(entry, status="draft")}, {})
    return UnpublishResult(slug, applied.deleted, [p.path for p in applied.written], applied.purged, note=note)


def page_status(publisher: Publisher, pages: S3PageStore, slug: str) -> dict[str, Any]:
    model = publisher.index.load()
    entry = model.entries.get(slug)
    path = f"/{slug}/"
    key = key_for_path(path)
    stored = pages.head(key)
    return {
        "slug": slug,
        "url": publisher.renderer.url(path),
        "entry": entry.to_dict() if entry else None,
        "expected_hash": model.page_hashes.get(path, ""),
        "stored": dict(stored.metadata) | {"version_id": stored.version_id} if stored else None,
        "versions": pages.versions(key),
        "source": publisher.index.source(entry.source_key).__dict__
        if entry and publisher.index.source(entry.source_key)
        else None,
    }
