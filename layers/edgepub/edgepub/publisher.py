"""Publishing: source changes in, the site brought in line with them.

The story of a change: read the source as it is now, parse and validate it,
turn it into an index entry, plan the pages the change reaches, render them,
store the pages whose bytes changed, delete the pages that went away, purge
exactly those URLs, and record what was done. A source that cannot be published
is reported where operators look and loses nothing: the source stays and no
broken page is written.

Each change is handled by looking at the current object, not at what the event
claims, and events older than the last one seen for a key are skipped, so
duplicate, late and out-of-order notifications converge on the same state.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from edgepub.admission import Claims, admit, check_source_key, read_source
from edgepub.article import Article, slugify
from edgepub.errors import InvalidSource, Problem
from edgepub.markdown import to_html
from edgepub.pages import Page, key_for_path
from edgepub.plan import Layout, PageRef, SitePlan, plan, ref_for_path
from edgepub.ports import (
    ArticleIndex,
    PageHistory,
    PageStore,
    Purger,
    SourceObject,
    SourceRecord,
    SourceStore,
    StaleWrite,
    unique,
)
from edgepub.readers import read_article, supported
from edgepub.render import Renderer, read_checked_site
from edgepub.s3events import SourceChange, sequencer_order
from edgepub.settings import Settings
from edgepub.site import Entry, SiteModel
from edgepub.siteconfig import CONFIG_KEY
from edgepub.state import SourceState, article_state
from edgepub.theme import (
    DEFAULT_SPEC,
    MAX_STATIC_BYTES,
    TEMPLATES_PREFIX,
    SiteSpec,
    asset_page,
    image_size,
    is_site_key,
    load_spec,
    might_reference_files,
    relative_refs,
    render_failure,
    save_spec,
)

if TYPE_CHECKING:
    from edgepub.freshness import FreshnessPolicy

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# A source as read before the lease: gone (None), or its object and the article or why it is not one.
Read = tuple[SourceObject | None, Article | InvalidSource] | None


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
    freed: list[str] = field(default_factory=list)  # URL paths this change let go (sources waiting for them retry)


@dataclass
class Applied:
    """What one plan did to the page store."""

    written: list[Page] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    committed: bool = False  # the index changed (and the change's source records with it)
    resume_after: PageRef | None = None  # a refresh that stopped for time: the last page it committed


MAX_BUNDLE_FILES = 50  # files one article may reference from its bundle (each at most 10 MB, read when it publishes)
REFRESH_CHUNK = 200  # site pages refreshed per lease and commit (refresh_site_pages)
COMMIT_ATTEMPTS = 3  # a change whose commit is refused (another writer won) starts again from fresh state
PARALLEL_WRITES_OVER = (
    32  # pages a plan writes one at a time; more go in parallel (the crash-point scenarios write fewer)
)
WRITERS = 16  # page writes in flight at once (boto3 clients are thread-safe)
TAG_ITEM = "cache-tag:"  # marks a cache tag among the URLs pending purge
OUTDATED_NOTICE = "This article is overdue for review and may be out of date."


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_for(
    article: Article, version: str, source_hash: str, previous: Entry | None, now: datetime, moved_from: tuple[str, ...]
) -> Entry:
    """The index entry of an article: what every page but its own shows of it."""
    return Entry(
        slug=article.slug,
        source_key=article.source_key,
        title=article.title,
        summary=article.summary,
        # an undated article keeps the time it was first published as its date
        date=_iso(article.date) or (previous.date if previous else _iso(now.replace(microsecond=0))),
        lastmod=_iso(article.lastmod),
        tags=tuple(dict.fromkeys(slugify(t) for t in article.tags)),
        stack=article.stack,
        tools=article.tools,
        entities=tuple(e.name for e in article.entities),
        noindex=article.needs_human_review,
        owner=article.owner,
        topic=article.topic,
        status=article_state(article, now),
        publish_at=_iso(article.publish_date),
        expire_at=_iso(article.expiry_date),
        revision_status=article.revision.status,
        revision_version=article.revision.version,
        last_reviewed=article.revision.last_reviewed.isoformat() if article.revision.last_reviewed else "",
        review_interval_days=article.revision.review_interval_days or 0,
        aliases=article.aliases,
        moved_from=moved_from,
        source_version=version,
        source_hash=source_hash,
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
        layout: Layout | None = None,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.pages = pages
        self.purger = purger
        self.index = index
        self.clock = clock
        self.base_layout = layout or Layout()
        self.layout = self.base_layout
        self.spec = DEFAULT_SPEC
        self.renderer = Renderer(settings)
        # how a theme or config change re-renders every page: through the publish queue
        # (service.aws_publisher), else in this process (`rerender_all`); the count queued
        self.fanout: Callable[[], int] | None = None
        self.workers = workers  # processes rendering a large plan (local builds); 1 in Lambda
        self._unrepaired: list[str] = []  # paths changed under a lease that was taken over (see lease)
        self.theme_failures: dict[str, Outcome] = {}  # theme files that failed on a page (see _render)
        self.prerendered: dict[PageRef, Page | None] = {}  # pages a re-render chunk rendered before its lease

    # -- the story --------------------------------------------------------------

    def apply(self, change: SourceChange) -> Outcome:
        """Handle one S3 notification."""
        key = change.key
        if is_site_key(key):
            return self.site_changed(key)
        if not key.startswith(self.settings.source_prefix):
            return Outcome(key, "ignored", reason=f"outside {self.settings.source_prefix}")
        if not supported(key) and posixpath.basename(key).startswith("."):
            return Outcome(key, "ignored", reason="hidden file")
        if not supported(key):
            index = self.bundle_index(key)
            if index is None:
                return Outcome(key, "ignored", reason="not an article, and not in a page bundle with an index.md")
            return self.sync(index)  # a bundle's file changed: its article links it by a new URL
        return self.sync(key, sequencer=change.sequencer)

    # -- the site's look: edgepub.toml and the theme ----------------------------------------

    def use_spec(self, spec: SiteSpec) -> None:
        """Render with this config and theme from now on."""
        if spec.digest != self.spec.digest:
            self.spec = spec
            self.renderer = Renderer(self.settings, spec)
            self.layout = spec.config.layout(self.base_layout)
            self.theme_failures = {}  # a new theme: its failures are reported anew

    def adopt_site(self, key: str) -> Outcome:
        """Check the config and theme as they are in the sources now (`render.read_checked_site`)
        and, when they are good and not yet the site's, store their static files and make
        them the site's, marked not yet rendered everywhere (`site_rendered` marks it).
        "published": every page is to be rendered again; "unchanged"; or "rejected", the
        report written and the last good spec kept. The caller holds the lease where there is one."""
        current = load_spec(self.index)
        try:
            files = read_checked_site(self.sources, self.settings)
        except InvalidSource as error:
            self.use_spec(current)
            outcome = self.reject(error.source, error)
            return replace(outcome, reason=f"{outcome.reason} (the site keeps its last good theme)")
        spec = files.spec
        self.use_spec(spec)
        if current.digest == spec.digest and current.fanned_out:
            return Outcome(key, "unchanged", reason="the theme in use is already this one")
        written = self.store_assets(files.assets)
        save_spec(self.index, replace(spec, fanned_out=False))  # a crash from here on renders again
        # reports about earlier versions go now: a page that fails with this one reports anew
        for stale in [CONFIG_KEY, *(TEMPLATES_PREFIX + name for name, _ in spec.templates)]:
            self.sources.delete_report(stale)
        return Outcome(key, "published", written=[p.path for p in written], reason="site config or theme changed")

    def site_rendered(self, spec: SiteSpec) -> None:
        """Every page was rendered again with `spec`: a redelivery need not do it once more."""
        if load_spec(self.index).digest == spec.digest:
            save_spec(self.index, replace(spec, fanned_out=True))

    def site_changed(self, key: str) -> Outcome:
        """`edgepub.toml` or a theme file changed: adopt the whole theme as it is now and
        render every page again (only pages whose bytes change are written and purged).
        Any order of events converges: each reads the bucket as it is, under the lease, so
        a read made before another writer's commit is never committed after it."""
        with self.lease():
            outcome = self.adopt_site(key)
        if outcome.action != "published":
            return replace(outcome, source_key=key)
        spec = self.spec
        queued = self.fanout() if self.fanout is not None else len(self.rerender_all().written)
        with self.lease():
            self.site_rendered(spec)
        how = "queued for rendering" if self.fanout is not None else "rewritten"
        return replace(outcome, reason=f"site config or theme changed: {queued} {how}")

    def store_assets(self, assets: Sequence[Page]) -> list[Page]:
        """Store the files not stored yet. Their URLs name their content: nothing to purge,
        and written before any page that references them."""
        written = []
        for page in assets:
            if self.pages.head(page.key) is None:
                self.index.renew()
                self.pages.put(page)
                written.append(page)
        return written

    def rerender_all(self) -> Applied:
        """Render every page again in this process (a local build, or no publish queue):
        articles, then the site's own pages; store and purge those whose bytes changed."""
        with self.lease():
            model = self.index.load()
            applied = self.apply_plan(model, rebuild_changes(model), {})
        site = self.refresh_site_pages()
        applied.written += site.written
        applied.deleted += site.deleted
        applied.purged += site.purged
        return applied

    # -- page bundles ---------------------------------------------------------------------

    def bundle_index(self, key: str) -> str | None:
        """The article of the page bundle a file is in (content/<name>/index.md), if any."""
        folder = posixpath.dirname(key)
        while folder and folder + "/" != self.settings.source_prefix:  # content/x/img/d.png is x's
            keys = self.sources.list_keys(folder + "/")
            articles = [k for k in keys if is_bundle_index(k) and posixpath.dirname(k) == folder]
            if articles:
                return articles[0]
            folder = posixpath.dirname(folder)
        return None

    def bundle_assets(self, key: str, article: Article) -> list[tuple[str, Page]]:
        """The files of the article's page bundle that it references, as pages at
        fingerprinted URLs under the article's path; InvalidSource when it references a
        file that is not there (a plain article has no bundle: any relative file is missing)."""
        # (front-matter images are http(s) URLs: the reader refuses anything else)
        refs = relative_refs(to_html(article.body)) if might_reference_files(article.body) else []
        if not refs:
            return []
        if len(refs) > MAX_BUNDLE_FILES:
            raise InvalidSource.single(key, "body", f"references {len(refs)} files; the limit is {MAX_BUNDLE_FILES}")
        folder = posixpath.dirname(key)
        in_bundle = is_bundle_index(key) and folder + "/" != self.settings.source_prefix
        files = {}
        if in_bundle:
            for name in self.sources.list_keys(folder + "/"):
                files[name.removeprefix(folder + "/")] = name
        found: list[tuple[str, Page]] = []
        missing: list[Problem] = []
        for ref in dict.fromkeys(posixpath.normpath(r) for r in refs):
            source = files.get(ref)
            obj = self.sources.read(source, max_bytes=MAX_STATIC_BYTES) if source else None
            if obj is None or obj.data is None:
                where = (
                    f"in {folder}/" if in_bundle else "there (only a page bundle, content/<name>/index.md, has files)"
                )
                too_big = f" (over {MAX_STATIC_BYTES} bytes)" if obj is not None else ""
                missing.append(Problem("body", f"references {ref}, which is not {where}{too_big}"))
                continue
            found.append((ref, asset_page(obj.key, f"{article.path}{ref}", obj.data)))
        if missing:
            raise InvalidSource(key, missing)
        return found

    def sync(self, key: str, *, sequencer: str = "") -> Outcome:
        """Bring the site in line with the source at `key` as it is now.

        The source is read and parsed before the site lease is taken, so no
        source, however large or hostile, holds the lease while it is read.
        If another writer changed this key's record meanwhile, it is read
        again under the lease (bounded: reading is)."""
        seen = self.index.source(key) or SourceRecord(key=key)
        if self._stale(sequencer, seen) and sequencer != seen.sequencer:
            return Outcome(key, "ignored", reason=f"event {sequencer} is not newer than {seen.sequencer}")
        # (the same event again, a redelivery, goes on: under the lease it finishes what its
        # first attempt may have left after committing, then is ignored)
        read = self._read(key)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                outcome = self._sync_under_lease(key, sequencer, seen, read)
                break
            except StaleWrite as error:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                log.info("publishing %s: %s (attempt %d of %d)", key, error, attempt, COMMIT_ATTEMPTS)
                seen = SourceRecord(key="")  # read the source again under the next lease
        self._wake(key, outcome.freed)
        return outcome

    def _wake(self, key: str, freed: Sequence[str]) -> None:
        """Publish again the sources that were rejected because they wanted a path this
        change let go (B uploaded with A's slug before A was deleted). A source still
        refused waits on; one published stops waiting. Repeated on a retry: harmless."""
        for path in freed:
            for waiter in self.index.waiting_for(path):
                if waiter != key and self.sync(waiter).action != "rejected":
                    self.index.stop_waiting(path, waiter)

    def _sync_under_lease(self, key: str, sequencer: str, seen: SourceRecord, read: Read) -> Outcome:
        with self.lease():
            record = self.index.source(key) or SourceRecord(key=key)
            if self._stale(sequencer, record):
                outcome = Outcome(key, "ignored", reason=f"event {sequencer} is not newer than {record.sequencer}")
                if sequencer == record.sequencer and record.state == "deleted" and record.slug:
                    # this event's delete committed, but its attempt may have died before it
                    # handed the slug over (the lease settled its purges): hand it over now
                    outcome.freed = [f"/{record.slug}/"]
                return outcome
            if record != seen:
                read = self._read(key)
            model = self.index.load()
            outcome, new_record, committed = self._sync(key, record, model, read, sequencer)
            if not committed and new_record != record:  # a republish of an unchanged source writes nothing
                self.index.save_source(new_record, expected=record)
            if record.state == "rejected" and new_record.state != "rejected":
                self.sources.delete_report(key)  # the report of an earlier, broken upload no longer applies
            return outcome

    @contextmanager
    def lease(self) -> Iterator[None]:
        """The site lease, with what a writer that died under it left finished first:
        its pending purges sent, the paths it may have touched rendered again or deleted
        (and the paths this writer changed under a lease that was taken over)."""
        with self.index.lock():
            self.use_spec(load_spec(self.index))  # the theme committed last, under this lease
            if self.index.unsettled() or self._unrepaired:
                model = self.index.load()
                self._store(model, SitePlan(after=model.copy()), {}, check=self._unrepaired)
                self._unrepaired = []
            try:
                yield
            except StaleWrite as error:
                # refused under this lease (taken over): what this writer changed in the bucket
                # meanwhile is checked again the next time it holds the lease (a retry, the
                # next record of a warm container), whichever operation it was
                self._unrepaired = unique([*self._unrepaired, *error.touched])
                raise

    def settle(self) -> None:
        """Finish what a writer that died left, if anything (a scheduled job with nothing
        else to do calls this, so no purge waits for the next change)."""
        model = self.index.load()
        if model.pending_purge or model.dirty:
            with self.lease():
                pass

    @staticmethod
    def _stale(sequencer: str, record: SourceRecord) -> bool:
        return bool(sequencer and record.sequencer) and sequencer_order(sequencer) <= sequencer_order(record.sequencer)

    def _read(self, key: str) -> Read:
        """The source as it is now: None when it is gone, else its object and what admission made of it."""
        try:
            check_source_key(self.settings, key)
        except InvalidSource as error:
            return None, error
        obj = self.sources.read(key, max_bytes=self.settings.max_source_bytes)
        if obj is None:
            return None
        try:
            return obj, read_source(self.settings, key, obj.data, obj.size)
        except InvalidSource as error:
            return obj, error

    def _sync(
        self, key: str, record: SourceRecord, model: SiteModel, read: Read, sequencer: str
    ) -> tuple[Outcome, SourceRecord, bool]:
        """The change for one source: its outcome, its new record, and whether the record
        was committed with the site (atomically) or is still to be saved."""
        owned = model.entries.get(record.slug) if record.slug else None
        if owned is not None and owned.source_key != key:
            owned = None

        def recorded(slug: str, state: SourceState, version: str) -> SourceRecord:
            new = replace(record, slug=slug, state=state, version=version, sequencer=sequencer or record.sequencer)
            return new if new == record else replace(new, updated=_iso(self.clock()))

        if read is None:
            # the record keeps the slug, so a retry after a crash still knows what to hand over
            new_record = recorded(record.slug, "deleted", "")
            outcome, committed = self._remove(key, owned, model, new_record)
            if record.slug:
                outcome.freed = unique([f"/{record.slug}/", *(owned.redirects if owned else ())])
            return outcome, new_record, committed
        obj, found = read
        admitted = admit([found], Claims(model), self.clock())[0]
        try:
            if isinstance(admitted, InvalidSource):
                raise admitted
            article = admitted.article
            assert obj is not None and obj.data is not None  # read_source admitted the bytes
            previous = model.entries.get(article.slug)
            # this source's entry: under the slug its record names, or (an earlier attempt
            # committed the change but not the record) under the slug it has now
            mine = owned or (previous if previous is not None and previous.source_key == key else None)
            moved = mine.moved_from if mine else ()
            if owned is not None and owned.slug != article.slug and owned.live:
                moved = (*moved, owned.path)
            assets = self.bundle_assets(key, article)
            entry = self.mark_outdated(
                entry_for(article, obj.version_id, sha256(obj.data), previous, self.clock(), moved)
            )
            entry = replace(entry, assets=tuple((name, page.path, *image_size(page.body)) for name, page in assets))
        except InvalidSource as error:
            if isinstance(found, Article):  # read and valid, refused a slug or path another source holds
                self.index.wait_for(found.path, key)  # under the lease: the holder's release sees it
            rejected = recorded(record.slug if owned else "", "rejected", record.version)
            return self.reject(key, error), rejected, False

        new_record = recorded(entry.slug, entry.status, obj.version_id)
        # stored whether or not the article is live yet: a scheduled one goes live by the
        # scheduler's transition, which renders its page but reads no bundle
        self.store_assets([page for _, page in assets])
        changes: dict[str, Entry | None] = {entry.slug: entry}
        if owned is not None and owned.slug != entry.slug:
            changes[owned.slug] = None
        applied = self.apply_plan(model, changes, {article.slug: article}, records=(new_record,))
        own = next((p for p in applied.written if p.path == entry.path), None)
        stored = own or Page(path=entry.path, body=b"", kind="article")
        if entry.live:
            action = "published" if applied.written or applied.deleted else "unchanged"
        else:
            action = "unpublished" if entry.path in applied.deleted else "held"
        outcome = Outcome(
            source_key=key,
            action=action,
            url=self.renderer.url(entry.path) if entry.live else "",
            written=[p.path for p in applied.written],
            deleted=applied.deleted,
            purged=applied.purged,
            bytes=len(own.body) if own else 0,
            cache_control=stored.cache_control(self.settings.cache) if entry.live else "",
            reason="" if entry.live else entry.status,
        )
        return outcome, new_record, applied.committed

    def _remove(self, key: str, owned: Entry | None, model: SiteModel, record: SourceRecord) -> tuple[Outcome, bool]:
        if owned is None:
            applied = self.apply_plan(model, {}, {}, records=(record,))  # still purge anything pending
            outcome = Outcome(key, "unchanged", purged=applied.purged, reason="deleted; nothing was published")
            return outcome, applied.committed
        applied = self.apply_plan(model, {owned.slug: None}, {}, records=(record,))
        outcome = Outcome(
            key,
            "unpublished",
            written=[p.path for p in applied.written],
            deleted=applied.deleted,
            purged=applied.purged,
            reason="deleted",
        )
        return outcome, applied.committed

    def reject(self, key: str, error: InvalidSource) -> Outcome:
        """Report a source that cannot be published. What is live stays live."""
        report = {
            **error.as_dict(),
            "error": error.describe(),
            "rejected_at": _iso(self.clock()),
            "action": "fix the source and upload it again; the page currently live (if any) was left as it was",
        }
        self.sources.write_report(key, report)
        log.debug("rejected %s: %s", key, error.describe())
        return Outcome(key, "rejected", reason=error.describe())

    # -- plan, render, store, purge -------------------------------------------------

    def apply_plan(
        self,
        model: SiteModel,
        changes: Mapping[str, Entry | None],
        articles: Mapping[str, Article],
        *,
        records: Sequence[SourceRecord] = (),
    ) -> Applied:
        """Plan `changes`, render the pages, store those that changed, purge them, and
        commit the index (with `records`, the source records of the change, when it commits)."""
        return self._store(model, plan(model, changes, self.layout), articles, records=records)

    def _store(
        self,
        model: SiteModel,
        site_plan: SitePlan,
        articles: Mapping[str, Article],
        *,
        force: bool = False,
        check: Sequence[str] = (),
        records: Sequence[SourceRecord] = (),
        purge_tag: tuple[str, int] = ("", 0),
    ) -> Applied:
        """Store the planned pages whose bytes changed (all of them with `force`), delete, purge, commit.

        Paths an earlier attempt may have changed without committing (`model.dirty`:
        it crashed or lost its lease) and the paths in `check` (orphans drift repair
        found) are brought in line with the model whatever is stored: rendered again
        where the model has the page, deleted and purged where no article owns it."""
        after = site_plan.after
        suspect = unique([*model.dirty, *check])
        after.prefetch_pages([*(ref.path for ref in site_plan.render), *site_plan.delete, *suspect])
        forced = {path for path in suspect if path in after.page_hashes}
        unowned = set()
        for path in forced:
            ref = ref_for_path(path, after)
            if ref is None:
                unowned.add(path)
            else:
                site_plan.render.add(ref)
        applied = Applied()
        applied.written = self._render_changed(sorted(site_plan.render), site_plan, articles, force, forced)
        written = {page.path for page in applied.written}
        deleted = {path for path in site_plan.delete if path in after.page_hashes} | unowned
        deleted |= {path for path in suspect if path not in after.page_hashes and path not in written}
        applied.deleted = sorted(deleted - written)
        urls = [self._purge_item(p) for p in applied.written] + [self.renderer.url(p) for p in applied.deleted]
        tag, over = purge_tag
        if tag and len(applied.written) > over:  # many pages of one kind: one tag purge, not a URL each
            urls = [TAG_ITEM + tag, *(self.renderer.url(p) for p in applied.deleted)]
        touched = [*sorted(written), *applied.deleted]
        if touched:
            # Before touching a page, record what this attempt may change and must purge
            # (fenced: refused if another writer committed meanwhile). If anything below
            # fails, the next writer renders or deletes these paths again and purges them.
            after.pending_purge = unique([*after.pending_purge, *urls])
            after.dirty = unique([*model.dirty, *touched])
            self.index.save_pending(model.version, after.pending_purge, after.dirty)
        changed: list[str] = []  # what this attempt changed in the site bucket, should its lease be lost
        try:
            if len(applied.written) > PARALLEL_WRITES_OVER:  # a re-render chunk, a first build
                self._put_in_parallel(applied.written, changed)
            stored = set(changed)
            for page in applied.written:
                if page.path not in stored:
                    self.index.renew()  # before each write: a writer that outlived its lease stops here
                    self.pages.put(page)
                    changed.append(page.path)
                after.page_hashes[page.path] = page.content_hash
            for path in applied.deleted:
                self.index.renew()
                self.pages.delete(key_for_path(path))
                changed.append(path)
                after.page_hashes.pop(path, None)
            after.dirty = []
            if after.differs_from(model):
                self.index.save(model, after, records)  # the commit: fenced, atomic
                applied.committed = True
            elif touched or model.dirty:
                self.index.save_pending(model.version, after.pending_purge, [])
        except StaleWrite as error:
            # Refused: another writer holds the site now and may already have settled this
            # attempt's dirty paths. The retry checks what this attempt changed once more.
            error.touched = unique([*error.touched, *changed])
            raise
        applied.purged = self.flush_purges(after)
        return applied

    def _put_in_parallel(self, pages: Sequence[Page], changed: list[str]) -> None:
        """Store many pages with `WRITERS` requests in flight, the lease renewed before each
        group: the writes of a large plan take the time of a few, not of all, under the lease.
        (Their paths are recorded as dirty before: a failure leaves them for the next writer.)"""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITERS) as pool:
            for start in range(0, len(pages), 4 * WRITERS):
                self.index.renew()
                group = pages[start : start + 4 * WRITERS]
                changed += [p.path for p in group]  # attempted: checked again if the lease is lost
                list(pool.map(self.pages.put, group))

    def _render_changed(
        self,
        refs: list[PageRef],
        site_plan: SitePlan,
        articles: Mapping[str, Article],
        force: bool = False,
        forced: Set[str] = frozenset(),
    ) -> list[Page]:
        """The pages of `refs` whose bytes differ from what is stored (or whose path is
        `forced`); rendered in `workers` forked processes when the plan is large (a first build)."""
        stored = site_plan.after.page_hashes

        def render(chunk: Sequence[PageRef]) -> list[Page | None]:
            pages = (self._render_leased(ref, site_plan, articles) for ref in chunk)
            return [
                p if p is not None and (force or p.path in forced or stored.get(p.path) != p.content_hash) else None
                for p in pages
            ]

        if self.workers > 1:
            from edgepub.parallel import fork_map

            rendered = fork_map(render, refs, self.workers)
        else:
            rendered = render(refs)
        return [page for page in rendered if page is not None]

    def flush_purges(self, after: SiteModel) -> list[str]:
        """Purge everything pending (this change's and any an earlier attempt left), then forget it."""
        if not after.pending_purge:
            return []
        pending = after.pending_purge
        tags = [p.removeprefix(TAG_ITEM) for p in pending if p.startswith(TAG_ITEM)]
        receipts = self.purger.purge([p for p in pending if not p.startswith(TAG_ITEM)], tags)
        after.pending_purge = []
        self.index.save_pending(after.version, [], after.dirty)
        return [u for r in receipts for u in r.items]

    def _purge_item(self, page: Page) -> str:
        """A written page's URL, or with tag purging on, a listing page's group tag
        (one tag evicts every page of that listing: fewer items, some over-purge)."""
        if self.settings.purge_by_tag and page.kind == "listing" and page.cache_tags:
            return TAG_ITEM + page.cache_tags[-1]
        return self.renderer.url(page.path)

    def refresh_site_pages(self, chunk: int = 0, *, after: PageRef | None = None, seconds: float = 0.0) -> Applied:
        """Render every page that is not an article's own (after a template change, say);
        store and purge those whose bytes changed.

        In chunks of `chunk` pages, in a fixed order, each rendered, stored and committed
        under a lease of its own, so no lease is held for long and the pending purges in
        the meta item stay bounded. The pages of a chunk are chosen from the model as it
        is under that chunk's lease. A crash or a redelivery starts again from the first
        chunk (or from the page after `after`): pages already current are rendered but
        neither written nor purged. With `seconds`, it stops after the chunk that passes
        them and says where (`resume_after`): a large site's pages take several calls."""
        total = Applied()
        chunk = chunk or REFRESH_CHUNK
        done: PageRef | None = after  # the last page of the last chunk committed
        deadline = time.monotonic() + seconds if seconds else 0.0
        while True:
            if deadline and done is not None and done != after and time.monotonic() > deadline:
                total.resume_after = done
                return total
            with self.lease():
                model = self.index.load()
                refs = sorted(self.site_refs(model))
                todo = [ref for ref in refs if done is None or ref > done][:chunk]
                if not todo:
                    return total
                applied = self._store(model, SitePlan(after=model.copy(), render=set(todo)), {})
            done = todo[-1]
            total.written += applied.written
            total.deleted += applied.deleted
            total.purged += applied.purged
            total.committed = total.committed or applied.committed

    def rerender_store(self, model: SiteModel, refs: Sequence[PageRef], *, tag_purge_over: int = 50) -> Applied:
        """Store the pages of a re-render chunk that changed (see edgepub.rerender); with tag
        purging on (EDGEPUB_PURGE_BY_TAG: the edge sets cache tags), purged as the article
        pages' cache tag when more than `tag_purge_over` changed, else each URL."""
        tag = ("article", tag_purge_over) if self.settings.purge_by_tag else ("", 0)
        return self._store(model, SitePlan(after=model.copy(), render=set(refs)), {}, purge_tag=tag)

    def store_plan(self, model: SiteModel, site_plan: SitePlan, articles: Mapping[str, Article]) -> Applied:
        """Render, store and purge a plan made elsewhere (a local build's full re-render)."""
        return self._store(model, site_plan, articles)

    def site_refs(self, model: SiteModel) -> set[PageRef]:
        from edgepub.plan import SITE_PAGES, listing_refs

        # and listing pages not stored yet (an older site's tag feeds)
        refs = {*SITE_PAGES, *listing_refs(model, self.layout)}
        if not model.whole:  # the shards; stored pages the model does not imply are drift repair's to find
            return refs | {PageRef("sitemap", (str(n),)) for n in model.shards()}
        for path in model.page_hashes:
            ref = ref_for_path(path, model)
            if ref is not None and ref.kind != "article":
                refs.add(ref)
        return refs

    def restore(self, path: str, version_id: str, history: PageHistory) -> list[str]:
        """Make a stored version of the page at `path` current again (an operator's rollback),
        record its hash and purge it; the purged URLs. The purge and the path are recorded
        before the page changes: if the restore or the commit fails, the next writer renders
        the page again (it is dirty) and purges it."""
        with self.lease():
            before = self.index.load()
            after = before.copy()
            after.pending_purge = unique([*after.pending_purge, self.renderer.url(path)])
            after.dirty = unique([*after.dirty, path])
            self.index.save_pending(before.version, after.pending_purge, after.dirty)
            stored = history.restore(key_for_path(path), version_id)
            after.page_hashes[path] = stored.content_hash
            after.dirty = [p for p in after.dirty if p != path]
            self.index.save(before, after)
            return self.flush_purges(after)

    def mark_outdated(self, entry: Entry) -> Entry:
        """With the notice setting on, an article overdue for review says so on its page."""
        if not self.settings.outdated_notice or not entry.live:
            return entry
        overdue = self._policy.state(entry, self.clock().date()) == "overdue"
        return replace(entry, outdated=overdue)

    @cached_property
    def _policy(self) -> FreshnessPolicy:
        """Parsed from the settings once, not for every article."""
        from edgepub.freshness import FreshnessPolicy

        return FreshnessPolicy.from_settings(self.settings)

    def rewrite(self, model: SiteModel, refs: list[PageRef], strays: Sequence[str] = ()) -> Applied:
        """Render these pages again and store them whatever is stored now, delete the
        stored `strays` no article owns (drift repair), then purge."""
        return self._store(model, SitePlan(after=model.copy(), render=set(refs)), {}, force=True, check=strays)

    def _render_leased(self, ref: PageRef, site_plan: SitePlan, articles: Mapping[str, Article]) -> Page | None:
        """Render one page, renewing the lease of a long render (a third of it gone: one call).
        A page rendered before the lease was taken, from the entry the model still has
        (`prerendered`: a re-render chunk), is not rendered again."""
        self.index.renew()
        if ref in self.prerendered:
            return self.prerendered[ref]
        return self._render(ref, site_plan, articles)

    def _render(self, ref: PageRef, site_plan: SitePlan, articles: Mapping[str, Article]) -> Page | None:
        """Render one page with the site's theme. A theme template that fails on this page
        (the sample render passed, this article's data does not) is reported like a
        rejected source, and the page is rendered with the built-in templates instead: a
        theme never stops an article from publishing."""
        try:
            return self._render_with(self.renderer, ref, site_plan, articles)
        except Exception as error:
            failure = render_failure(error) if self.spec.templates else None
            if failure is None:
                raise
            if failure.source not in self.theme_failures:  # reported once per theme and process, not per page
                try:
                    self.theme_failures[failure.source] = self.reject(failure.source, failure)
                except Exception:  # a function whose role writes no reports (scheduler, ops): the log says it
                    log.exception("could not write the report for %s", failure.source)
                    self.theme_failures[failure.source] = Outcome(failure.source, "rejected", reason=str(failure))
            log.warning("%s; %s rendered with the built-in templates", failure.describe(), ref.path)
            fallback = Renderer(self.settings, replace(self.spec, templates=()))
            return self._render_with(fallback, ref, site_plan, articles)

    def _render_with(
        self, renderer: Renderer, ref: PageRef, site_plan: SitePlan, articles: Mapping[str, Article]
    ) -> Page | None:
        after = site_plan.after
        if ref.kind != "article":
            return renderer.site_page(ref, after, self.layout)
        entry = after.entries[ref.args[0]]
        article = articles.get(entry.slug) or self._reload(entry)
        if article is None:
            return None
        notice = OUTDATED_NOTICE if self.settings.outdated_notice and entry.outdated else ""
        page = renderer.article(
            article,
            similar=renderer.similar_of(entry, after),
            notice=notice,
            assets={a[0]: a[1:] for a in entry.assets},
        )
        return replace(page, source_version=entry.source_version)

    def _reload(self, entry: Entry) -> Article | None:
        """Read an article published earlier, as it was published, to render its page again."""
        obj = self.sources.read(
            entry.source_key, max_bytes=self.settings.max_source_bytes, version=entry.source_version
        )
        if obj is None or obj.data is None:
            log.warning("cannot re-render %s: source %s is gone", entry.path, entry.source_key)
            return None
        try:
            return read_article(entry.source_key, obj.data, self.settings.source_limits)
        except InvalidSource as error:
            log.warning("cannot re-render %s: %s", entry.path, error.describe())
            return None


def is_bundle_index(key: str) -> bool:
    return posixpath.splitext(posixpath.basename(key))[0] == "index" and supported(key)


def rebuild_changes(model: SiteModel) -> dict[str, Entry | None]:
    """Every live entry as a change (a full re-render)."""
    return {slug: entry for slug, entry in model.entries.items() if entry.live}
