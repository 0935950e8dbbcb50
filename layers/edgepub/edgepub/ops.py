"""Operator actions on a running site: roll a page back, take an article down,
republish. Each is one call, runs under the publishers' lease, records what it
did in the index's history, and purges what it changed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from edgepub.errors import OperatorError
from edgepub.pages import key_for_path
from edgepub.ports import PublishQueue, VersionedPageStore
from edgepub.publisher import Publisher
from edgepub.site import Entry


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
    publisher: Publisher, pages: VersionedPageStore, slug: str, to_version: str = "", *, dry_run: bool = False
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
    result.purged = publisher.restore(path, target["version_id"], pages)
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
    with publisher.lease():
        model = publisher.index.load()
        entry: Entry | None = model.entries.get(slug)
        if entry is None or not entry.live:
            raise OperatorError(f"/{slug}/ is not published")
        note = f"{entry.source_key} stays in the sources bucket; uploading it again publishes the article again."
        if dry_run:
            return UnpublishResult(slug, [entry.path], [], [], dry_run=True, note=note)
        applied = publisher.apply_plan(model, {slug: replace(entry, status="draft")}, {})
    return UnpublishResult(slug, applied.deleted, [p.path for p in applied.written], applied.purged, note=note)


def page_status(publisher: Publisher, pages: VersionedPageStore, slug: str, ledger: Any = None) -> dict[str, Any]:
    """Everything known about one article, for an operator: index entry, stored page and its
    versions, the last event for its source, its rejection report, today's purges of its URL."""
    model = publisher.index.load()
    source_key = ""
    if slug.startswith(publisher.settings.source_prefix):  # asked by source key: a rejected upload has no slug
        source_key = slug
        record = publisher.index.source(source_key)
        slug = record.slug if record and record.slug else ""
    entry = model.entries.get(slug) if slug else None
    source_key = source_key or (entry.source_key if entry else "")
    path = f"/{slug}/" if slug else "/"
    key = key_for_path(path)
    stored = pages.head(key) if slug else None
    url = publisher.renderer.url(path)
    purges = []
    if ledger is not None:
        from edgepub.ledger import today

        purges = [
            {"at": e.at, "outcome": e.outcome, "attempts": e.attempts, "request_id": e.request_id}
            for e in ledger.entries(today())
            if url in e.items
        ]
    report = publisher.sources.read_report(source_key) if source_key else None
    return {
        "rejection": dict(report) if report else None,
        "purges_today": purges,
        "slug": slug,
        "url": publisher.renderer.url(path),
        "entry": entry.to_dict() if entry else None,
        "expected_hash": model.page_hashes.get(path, ""),
        "stored": dict(stored.metadata) | {"version_id": stored.version_id} if stored else None,
        "versions": pages.versions(key) if slug else [],
        "source": asdict(found) if source_key and (found := publisher.index.source(source_key)) else None,
    }


@dataclass
class RepublishResult:
    keys: list[str]
    queued: int
    dry_run: bool = False
    site_pages: bool = False


def republish(
    publisher: Publisher,
    queue: PublishQueue,
    *,
    slugs: list[str] | None = None,
    everything: bool = False,
    tag: str = "",
    dry_run: bool = False,
) -> RepublishResult:
    """Re-render articles by fanning out through the publish queue, one message per
    source (the publish function re-reads each source as it is now), and, for
    `everything`, a last message that re-renders the site's own pages."""
    model = publisher.index.load()
    if everything:
        chosen = [e for e in model.entries.values() if e.live]
    elif tag:
        chosen = [e for e in model.entries.values() if e.live and tag in e.tags]
    else:
        missing = [s for s in slugs or [] if s not in model.entries]
        if missing:
            raise OperatorError(f"not in the index: {', '.join(missing)}")
        chosen = [model.entries[s] for s in slugs or []]
    if not chosen:
        raise OperatorError("nothing to republish")
    keys = sorted(e.source_key for e in chosen)
    if dry_run:
        return RepublishResult(keys=keys, queued=0, dry_run=True, site_pages=everything)
    bodies = [json.dumps(republish_event(publisher.settings.sources_bucket, key)) for key in keys]
    if everything:
        bodies.append(json.dumps({"edgepub": "site-pages"}))
    queue.send(bodies)
    return RepublishResult(keys=keys, queued=len(bodies), site_pages=everything)


def republish_event(bucket: str, key: str) -> dict[str, Any]:
    """A message in the S3 notification's shape (no sequencer: it never hides a real event)."""
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventSource": "edgepub:republish",
                "eventName": "ObjectCreated:Republish",
                "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}},
            }
        ]
    }


@dataclass
class ReconcileResult:
    missing_from_index: list[str]
    stale_in_index: list[str]
    queued: int
    dry_run: bool = False


def reconcile(publisher: Publisher, queue: PublishQueue, *, dry_run: bool = False) -> ReconcileResult:
    """Compare the sources bucket with the index: queue every source the index does
    not know (a lost notification) and every indexed source that is gone."""
    from edgepub.readers import supported

    present = {k for k in publisher.sources.list_keys() if supported(k)}
    model = publisher.index.load()
    indexed = {e.source_key for e in model.entries.values()}
    known = {k for k in present if publisher.index.source(k) is not None}
    missing = sorted(present - indexed - known)
    stale = sorted(indexed - present)
    keys = missing + stale
    if not dry_run:
        queue.send([json.dumps(republish_event(publisher.settings.sources_bucket, k)) for k in keys])
    return ReconcileResult(missing, stale, 0 if dry_run else len(keys), dry_run)


@dataclass
class RelayoutResult:
    moved: int  # live articles whose archive or tag pages change
    planned: list[str]  # listing pages rendered (written only where their bytes change)
    deleted: list[str]  # listing pages no longer needed (with --dry-run: would be deleted)
    written: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    dry_run: bool = False


def relayout(publisher: Publisher, *, dry_run: bool = False) -> RelayoutResult:
    """Lay the archive and tag pages out again in date order (`plan.relayout`): every live
    article's positions from scratch, oldest first, as a first build would, with the site's
    page size. Renders the listing pages that change (and any listing page not stored yet,
    such as a tag feed of an older site), deletes those no longer needed, purges what changed.
    Articles keep their own pages. Running it again changes nothing."""
    from edgepub.plan import relayout as plan_relayout

    with publisher.lease():  # the lease also loads the site's config: its page size
        model = publisher.index.load()
        site_plan = plan_relayout(model, publisher.layout)
        after = site_plan.after
        moved = sum(1 for slug, entry in after.entries.items() if entry != model.entries.get(slug))
        planned = sorted(ref.path for ref in site_plan.render)
        if dry_run:
            gone = sorted(path for path in site_plan.delete if path in model.page_hashes)
            return RelayoutResult(moved, planned, gone, dry_run=True)
        applied = publisher.store_plan(model, site_plan, {})
    return RelayoutResult(moved, planned, applied.deleted, [p.path for p in applied.written], applied.purged)
