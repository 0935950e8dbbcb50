"""`edgepub build SRC --out DIR`: the same plan and renderer as the pipeline,
with a folder for sources, a folder for pages, a purger that only records, and
the index kept in DIR/.edgepub/index.json, so that a rebuild writes only what
changed. All changes of one build are planned together."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgepub.article import Article
from edgepub.errors import InvalidSource
from edgepub.index import MemoryIndex, SourceRecord
from edgepub.local import FolderPageStore, FolderSourceStore, RecordingPurger
from edgepub.plan import Layout
from edgepub.publisher import Applied, Outcome, Publisher, check_source_key, entry_for
from edgepub.readers import read_article, supported
from edgepub.settings import Settings
from edgepub.site import Entry


@dataclass
class BuildReport:
    outcomes: list[Outcome] = field(default_factory=list)
    applied: Applied = field(default_factory=Applied)
    sources: int = 0

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def pages_written(self) -> int:
        return len(self.applied.written)

    @property
    def pages_deleted(self) -> int:
        return len(self.applied.deleted)

    @property
    def urls_purged(self) -> int:
        return len(self.applied.purged)

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "rejected"]


def _time_state_changed(entry: Entry, now: str) -> bool:
    """A scheduled entry whose time has come, or a live one past its expiry."""
    return (entry.status == "scheduled" and entry.publish_at <= now) or (
        entry.status == "published" and bool(entry.expire_at) and entry.expire_at <= now
    )


def build(
    src: Path,
    out: Path,
    settings: Settings,
    progress: Callable[[str], None] | None = None,
    layout: Layout | None = None,
) -> BuildReport:
    index = MemoryIndex(out / ".edgepub" / "index.json")
    sources = FolderSourceStore(src, out / ".edgepub" / "rejected", prefix=settings.source_prefix)
    publisher = Publisher(
        settings,
        sources=sources,
        pages=FolderPageStore(out),
        purger=RecordingPurger(settings.purge_batch_size),
        index=index,
        layout=layout,
    )
    keys = [k for k in sources.list_keys() if supported(k)]
    report = publish_all(
        publisher, keys, lambda key: (src / key.removeprefix(settings.source_prefix)).read_bytes(), progress
    )
    index.flush()
    return report


def publish_all(
    publisher: Publisher,
    keys: list[str],
    read: Callable[[str], bytes],
    progress: Callable[[str], None] | None = None,
) -> BuildReport:
    """Bring the site in line with exactly these sources, planned as one change.

    Sources whose bytes match what the index recorded are not parsed again;
    indexed sources missing from `keys` are unpublished.
    """
    settings, index = publisher.settings, publisher.index
    model = index.load()
    now = publisher.clock()
    now_iso = now.isoformat()
    by_source = {e.source_key: e for e in model.entries.values()}
    report = BuildReport(sources=len(keys))
    changes: dict[str, Entry | None] = {}
    articles: dict[str, Article] = {}
    for key in keys:
        previous = by_source.get(key)
        data = read(key)
        if (
            previous is not None
            and previous.source_hash == hashlib.sha256(data).hexdigest()
            and not (_time_state_changed(previous, now_iso))
        ):
            report.outcomes.append(Outcome(key, "unchanged"))
            continue
        try:
            check_source_key(settings, key)
            if len(data) > settings.max_source_bytes:
                raise InvalidSource.single(
                    key, "size", f"is {len(data)} bytes; the limit is {settings.max_source_bytes}"
                )
            article = read_article(key, data)
            claimed = changes.get(article.slug) or model.entries.get(article.slug)
            if claimed is not None and claimed.source_key != key:
                raise InvalidSource.single(key, "slug", f"{article.slug!r} is already used by {claimed.source_key}")
        except InvalidSource as error:
            report.outcomes.append(publisher.reject(key, error))
            continue
        moved: tuple[str, ...] = previous.moved_from if previous else ()
        if previous is not None and previous.slug != article.slug:
            changes[previous.slug] = None
            if previous.live:
                moved = (*moved, previous.path)
        entry = publisher.mark_outdated(entry_for(article, "", data, model.entries.get(article.slug), now, moved))
        changes[article.slug] = entry
        articles[article.slug] = article
        publisher.sources.delete_report(key)
        index.save_source(SourceRecord(key=key, slug=article.slug, state=entry.status, updated=now_iso))
        report.outcomes.append(Outcome(key, "published" if entry.live else "held", reason=entry.status))
        if progress:
            progress(key)
    for key in sorted(set(by_source) - set(keys)):
        changes.setdefault(by_source[key].slug, None)
        index.save_source(SourceRecord(key=key, state="deleted", updated=now_iso))
        report.outcomes.append(Outcome(key, "unpublished", reason="deleted"))
    report.applied = publisher.apply_plan(model, changes, articles)
    return report
