"""Publishing: one source change in, the site brought in line with it.

The story of a change: read the source as it is now, parse and validate it,
render its pages, store the pages whose bytes changed, purge exactly those URLs,
and record what was done. A change that cannot be published is reported where
operators look and loses nothing: the source stays and no broken page is written.

Each change is handled by looking at the current object, not at what the event
claims, so duplicate, late and out-of-order notifications converge on the same
state.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from edgepub.article import Article
from edgepub.errors import InvalidSource
from edgepub.index import ArticleIndex, ArticleRecord, SourceRecord, with_pending
from edgepub.pages import Page
from edgepub.ports import PageStore, Purger, SourceStore, unique
from edgepub.readers import read_article, supported
from edgepub.render import Renderer
from edgepub.s3events import SourceChange
from edgepub.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """What publishing one source did; the handler turns it into logs and metrics."""

    source_key: str
    action: str  # published, unchanged, unpublished, held, rejected, ignored
    url: str = ""
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    bytes: int = 0
    cache_control: str = ""
    reason: str = ""


def publication_state(article: Article, now: datetime) -> str:
    """The one place that decides whether an article is live (Hugo's rules)."""
    if article.draft:
        return "draft"
    if article.publish_date and article.publish_date > now:
        return "scheduled"
    if article.expiry_date and article.expiry_date <= now:
        return "expired"
    return "published"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_source_key(settings: Settings, key: str) -> None:
    """A key must sit under the source prefix, as plain path segments."""
    segments = key.split("/")
    if (
        not key.startswith(settings.source_prefix)
        or any(s in ("", ".", "..") for s in segments)
        or "\\" in key
        or _CONTROL.search(key)
    ):
        raise InvalidSource.single(
            key, "key", f"must be a plain path under {settings.source_prefix!r} with no '.', '..' or empty segments"
        )


class Publisher:
    def __init__(
        self,
        settings: Settings,
        sources: SourceStore,
        pages: PageStore,
        purger: Purger,
        index: ArticleIndex,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.pages = pages
        self.purger = purger
        self.index = index
        self.clock = clock
        self.renderer = Renderer(settings)

    # -- the story --------------------------------------------------------

    def apply(self, change: SourceChange) -> Outcome:
        key = change.key
        if not key.startswith(self.settings.source_prefix):
            return Outcome(key, "ignored", reason=f"outside {self.settings.source_prefix}")
        if not supported(key) and posixpath.basename(key).startswith("."):
            return Outcome(key, "ignored", reason="hidden file")
        return self.sync(key)

    def sync(self, key: str) -> Outcome:
        """Bring the site in line with the source at `key` as it is now."""
        try:
            check_source_key(self.settings, key)
            obj = self.sources.read(key, max_bytes=self.settings.max_source_bytes)
            if obj is None:
                return self.unpublish(key)
            if obj.data is None:
                raise InvalidSource.single(
                    key,
                    "size",
                    f"is {obj.size} bytes; the limit is {self.settings.max_source_bytes} (EDGEPUB_MAX_SOURCE_BYTES)",
                )
            article = read_article(key, obj.data)
            self._check_slug_owner(article)
        except InvalidSource as error:
            return self.reject(key, error)
        state = publication_state(article, self.clock())
        if state != "published":
            outcome = self.unpublish(key, state=state, version=obj.version_id)
            outcome.reason = state
            return outcome
        return self.publish(article, obj.version_id)

    def publish(self, article: Article, version: str) -> Outcome:
        previous = self.index.source(article.source_key) or SourceRecord(key=article.source_key)
        page = self.renderer.article(article)
        page = replace(page, source_version=version)
        pages = [page]
        # A slug change leaves the old page behind: remove it and purge it.
        stale_paths = (
            [f"/{previous.slug}/"]
            if previous.slug and previous.slug != article.slug and previous.state == "published"
            else []
        )

        changed = [p for p in pages if self._differs(p)]
        urls = [self.renderer.url(p.path) for p in changed] + [self.renderer.url(p) for p in stale_paths]
        # Record the purge obligation before touching pages: if anything below
        # fails, the retry still purges what an earlier attempt wrote.
        pending = with_pending(previous, urls)
        if pending.pending_purge != previous.pending_purge:
            self.index.save_source(pending)
        for p in changed:
            self.pages.put(p)
        deleted = []
        for path in stale_paths:
            self.pages.delete(Page(path=path, body=b"", kind="article").key)
            self.index.delete_article(previous.slug)
            deleted.append(path)
        purged = self._purge(pending)
        self.index.save_article(
            ArticleRecord(
                slug=article.slug,
                source_key=article.source_key,
                title=article.title,
                summary=article.summary,
                date=article.date.isoformat() if article.date else "",
                tags=article.tags,
                status=article.revision.status,
                owner=article.owner,
                source_version=version,
                page_hashes={p.path: p.content_hash for p in pages},
            )
        )
        self.index.save_source(
            SourceRecord(
                key=article.source_key, slug=article.slug, state="published", version=version, updated=self._now()
            )
        )
        self.sources.delete_report(article.source_key)
        log.debug(
            "published %s as %s (%d written, %d purged)", article.source_key, article.path, len(changed), len(purged)
        )
        return Outcome(
            source_key=article.source_key,
            action="published" if changed or deleted else "unchanged",
            url=self.renderer.url(page.path),
            written=[p.path for p in changed],
            deleted=deleted,
            purged=purged,
            bytes=len(page.body),
            cache_control=page.cache_control(self.settings.cache),
        )

    def unpublish(self, key: str, *, state: str = "deleted", version: str = "") -> Outcome:
        """Take down whatever `key` published. Old page versions stay in the versioned bucket."""
        previous = self.index.source(key) or SourceRecord(key=key)
        deleted: list[str] = []
        urls: list[str] = []
        if previous.slug and previous.state == "published":
            path = f"/{previous.slug}/"
            self.pages.delete(Page(path=path, body=b"", kind="article").key)
            self.index.delete_article(previous.slug)
            deleted.append(path)
            urls.append(self.renderer.url(path))
        pending = with_pending(previous, urls)
        if urls:
            self.index.save_source(pending)
        purged = self._purge(pending)
        self.index.save_source(
            SourceRecord(key=key, slug=previous.slug, state=state, version=version, updated=self._now())
        )
        if state == "deleted":
            self.sources.delete_report(key)
        action = "unpublished" if deleted else ("held" if state != "deleted" else "unchanged")
        return Outcome(key, action, deleted=deleted, purged=purged, reason=state)

    def reject(self, key: str, error: InvalidSource) -> Outcome:
        """Report a source that cannot be published. What is live stays live."""
        report = {
            **error.as_dict(),
            "error": error.describe(),
            "rejected_at": self._now(),
            "action": "fix the source and upload it again; the page currently live (if any) was left as it was",
        }
        self.sources.write_report(key, report)
        log.debug("rejected %s: %s", key, error.describe())
        return Outcome(key, "rejected", reason=error.describe())

    # -- helpers ------------------------------------------------------------

    def _differs(self, page: Page) -> bool:
        stored = self.pages.head(page.key)
        return stored is None or stored.content_hash != page.content_hash

    def _purge(self, record: SourceRecord) -> list[str]:
        urls = unique(record.pending_purge)
        if not urls:
            return []
        receipts = self.purger.purge_urls(urls)
        self.index.save_source(replace(record, pending_purge=()))
        return [u for r in receipts for u in r.items]

    def _check_slug_owner(self, article: Article) -> None:
        owner = self.index.article(article.slug)
        if owner and owner.source_key != article.source_key:
            other = self.index.source(owner.source_key)
            if other and other.state == "published":
                raise InvalidSource.single(
                    article.source_key, "slug", f"{article.slug!r} is already published from {owner.source_key}"
                )

    def _now(self) -> str:
        return self.clock().isoformat()
