"""`edgepub build SRC --out DIR`: the same plan and renderer as the pipeline,
with a folder for sources, a folder for pages, a purger that only records, and
the index kept in an SQLite database, DIR/.edgepub/index.sqlite3 (`SqliteIndex`),
so that a rebuild writes only what changed, pages and index rows alike. All
changes of one build are planned together."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgepub.admission import Claims, admit, read_source
from edgepub.article import Article
from edgepub.errors import InvalidSource
from edgepub.index import SourceRecord
from edgepub.local import FolderPageStore, FolderSourceStore, RecordingPurger
from edgepub.localindex import SqliteIndex
from edgepub.parallel import default_workers, fork_map
from edgepub.plan import Layout
from edgepub.publisher import Applied, Outcome, Publisher, entry_for, is_bundle_index
from edgepub.readers import supported
from edgepub.settings import Settings
from edgepub.site import Entry
from edgepub.siteconfig import CONFIG_KEY
from edgepub.state import changed_by_time
from edgepub.theme import TEMPLATES_PREFIX, image_size


@dataclass
class BuildReport:
    outcomes: list[Outcome] = field(default_factory=list)
    applied: Applied = field(default_factory=Applied)
    sources: int = 0
    hashes: dict[str, str] = field(default_factory=dict)  # source key -> sha256 of the bytes built
    site: Outcome | None = None  # what became of edgepub.toml and theme/ (a folder laid out like the bucket)

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


class Stamps:
    """Size, modification time and hash of each source file at the last build,
    in OUT/.edgepub/stamps.json: a file whose size and mtime (in ns) are
    unchanged is not read again (what make and Hugo rely on too). Delete the
    file, or OUT/.edgepub, to have every source read and hashed afresh."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamps: dict[str, list[Any]] = {}
        if path.is_file():
            try:
                self.stamps = dict(json.loads(path.read_text(encoding="utf-8")))
            except ValueError:
                self.stamps = {}  # a damaged file costs one full read, nothing more
        self.changed = False
        self._seen: dict[str, list[int] | None] = {}

    @staticmethod
    def _stat(file: Path) -> list[int] | None:
        try:
            st = file.stat()
        except OSError:
            return None
        return [st.st_size, st.st_mtime_ns]

    def known(self, key: str, file: Path) -> str | None:
        """The hash recorded for `file`, if it has not changed since."""
        stat = self._seen[key] = self._stat(file)  # taken before the file is read: a later edit shows next time
        stamp = self.stamps.get(key)
        return str(stamp[2]) if stamp and stamp[:2] == stat else None

    def record(self, key: str, file: Path, digest: str) -> None:
        stat = self._seen[key] if key in self._seen else self._stat(file)
        if stat is not None and self.stamps.get(key) != [*stat, digest]:
            self.stamps[key] = [*stat, digest]
            self.changed = True

    def keep_only(self, keys: set[str]) -> None:
        for key in set(self.stamps) - keys:
            del self.stamps[key]
            self.changed = True

    def flush(self) -> None:
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.stamps, separators=(",", ":")), encoding="utf-8")
            tmp.replace(self.path)


def build(
    src: Path,
    out: Path,
    settings: Settings,
    progress: Callable[[str], None] | None = None,
    layout: Layout | None = None,
    workers: int | None = None,
) -> BuildReport:
    state = out / ".edgepub"
    index = SqliteIndex(state / "index.sqlite3")
    try:
        index.migrate(state / "index.json")  # the whole-file index of earlier versions: imported once
        # a folder laid out like the sources bucket (edgepub.toml, content/, theme/), or content alone
        site = (src / settings.source_prefix.rstrip("/")).is_dir()
        sources = FolderSourceStore(src, state / "rejected", prefix=settings.source_prefix, site=site)
        pages = FolderPageStore(out)
        publisher = Publisher(
            settings,
            sources=sources,
            pages=pages,
            purger=RecordingPurger(settings.purge_batch_size),
            index=index,
            layout=layout,
            workers=default_workers() if workers is None else workers,
        )
        stamps = Stamps(state / "stamps.json")
        keys = [k for k in sources.list_keys() if supported(k)]
        theme = publisher.adopt_site(CONFIG_KEY) if site else None

        def file_of(key: str) -> Path:
            return sources.content / key.removeprefix(settings.source_prefix)

        def bundle(key: str) -> bytes:
            """A page bundle's files as they are: an added, changed or removed file changes its article."""
            folder = file_of(key).parent
            if not key.startswith(settings.source_prefix) or folder == sources.content or not is_bundle_index(key):
                return b""
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p != file_of(key))
            return json.dumps([[p.relative_to(folder).as_posix(), *(Stamps._stat(p) or [])] for p in files]).encode()

        report = publish_all(
            publisher,
            keys,
            lambda key: file_of(key).read_bytes(),
            progress,
            # a bundle's article is read again each build: its files may have changed
            known=lambda key: None if bundle(key) else stamps.known(key, file_of(key)),
            everything=theme is not None and theme.action == "published",
            bundle=bundle,
        )
        report.site = theme
        if theme is not None and theme.action == "published":
            publisher.site_rendered(publisher.spec)  # this build rendered every page with it
        if theme is not None and theme.action == "rejected":
            report.outcomes.insert(0, theme)
        # a theme template that failed on a page (built without it) is reported where the
        # worker process that rendered the page wrote its report
        for name, _ in publisher.spec.templates:
            key = TEMPLATES_PREFIX + name
            found = sources.read_report(key)
            if found is not None and not any(o.source_key == key for o in report.outcomes):
                report.outcomes.append(Outcome(key, "rejected", reason=str(found.get("error", ""))))
        for key, digest in report.hashes.items():
            stamps.record(key, file_of(key), digest)
        stamps.keep_only(set(keys))
        index.flush()
        pages.flush()
        stamps.flush()
        return report
    finally:
        index.close()


Parsed = tuple[str, str, Article | InvalidSource | None]  # key, sha256, what reading found (None: unchanged)


def publish_all(
    publisher: Publisher,
    keys: list[str],
    read: Callable[[str], bytes],
    progress: Callable[[str], None] | None = None,
    known: Callable[[str], str | None] | None = None,
    everything: bool = False,
    bundle: Callable[[str], bytes] | None = None,
) -> BuildReport:
    """Bring the site in line with exactly these sources, planned as one change.

    Sources whose bytes match what the index recorded are not parsed again
    (nor read, when `known` vouches for their hash); indexed sources missing
    from `keys` are unpublished. Reading and parsing, and later rendering, run
    in `publisher.workers` processes when there are many.

    `bundle(key)` says what a source's page bundle holds (names, sizes, times): part of
    what decides whether the source changed. With `everything` (the theme or config
    changed) every page is rendered again; only those whose bytes differ are stored.

    A caller writing to a shared index (the table) holds `publisher.lease()` around it.
    """
    settings, index = publisher.settings, publisher.index
    model = index.load()
    now = publisher.clock()
    now_iso = now.isoformat()
    by_source = {e.source_key: e for e in model.entries.values()}
    report = BuildReport(sources=len(keys))

    def settled(key: str) -> Entry | None:
        """The entry of a source that needs no work if its hash still matches."""
        previous = by_source.get(key)
        return previous if previous is not None and not changed_by_time(previous, now) else None

    todo: list[str] = []
    for key in keys:
        previous = settled(key)
        if previous is not None and known is not None and known(key) == previous.source_hash:
            report.hashes[key] = previous.source_hash
            report.outcomes.append(Outcome(key, "unchanged"))
        else:
            todo.append(key)

    def parse(chunk: Sequence[str]) -> list[Parsed]:
        results: list[Parsed] = []
        for key in chunk:
            try:
                data = read(key)
            except OSError as exc:  # removed or unreadable since it was listed: this source only
                results.append((key, "", InvalidSource.single(key, "file", f"cannot be read: {exc.strerror or exc}")))
                continue
            digest = hashlib.sha256(data + (bundle(key) if bundle else b"")).hexdigest()
            previous = settled(key)
            if previous is not None and previous.source_hash == digest:
                results.append((key, digest, None))
                continue
            try:
                results.append((key, digest, read_source(settings, key, data)))
            except InvalidSource as error:
                results.append((key, digest, error))
        return results

    parsed = fork_map(parse, todo, publisher.workers) if publisher.workers > 1 else parse(todo)
    changes: dict[str, Entry | None] = {}
    articles: dict[str, Article] = {}
    fresh = [(key, digest, result) for key, digest, result in parsed if result is not None]
    admitted = iter(admit([result for _, _, result in fresh], Claims(model), now))
    for key, digest, result in parsed:
        report.hashes[key] = digest
        if result is None:
            report.outcomes.append(Outcome(key, "unchanged"))
            continue
        previous = by_source.get(key)
        try:
            verdict = next(admitted)
            if isinstance(verdict, InvalidSource):
                raise verdict
            article = verdict.article
            assets = publisher.bundle_assets(key, article)
        except InvalidSource as error:
            if progress:
                progress(key)
            report.outcomes.append(publisher.reject(key, error))
            earlier = index.source(key) or SourceRecord(key=key)
            index.save_source(replace(earlier, state="rejected", updated=now_iso))
            continue
        moved: tuple[str, ...] = previous.moved_from if previous else ()
        if previous is not None and previous.slug != article.slug:
            changes[previous.slug] = None
            if previous.live:
                moved = (*moved, previous.path)
        entry = publisher.mark_outdated(entry_for(article, "", digest, model.entries.get(article.slug), now, moved))
        entry = replace(entry, assets=tuple((name, page.path, *image_size(page.body)) for name, page in assets))
        publisher.store_assets([page for _, page in assets])  # live or not yet (see Publisher._sync)
        changes[article.slug] = entry
        articles[article.slug] = article
        record = index.source(key)
        if record is None or record.state == "rejected":  # as `Publisher.sync`: only a report there may be
            publisher.sources.delete_report(key)
        index.save_source(SourceRecord(key=key, slug=article.slug, state=entry.status, updated=now_iso))
        report.outcomes.append(Outcome(key, "published" if entry.live else "held", reason=entry.status))
        if progress:
            progress(key)
    for key in sorted(set(by_source) - set(keys)):
        changes.setdefault(by_source[key].slug, None)
        index.save_source(SourceRecord(key=key, state="deleted", updated=now_iso))
        report.outcomes.append(Outcome(key, "unpublished", reason="deleted"))
    if everything:
        from edgepub.plan import plan
        from edgepub.publisher import rebuild_changes

        for slug, live in rebuild_changes(model).items():
            changes.setdefault(slug, live)
        site_plan = plan(model, changes, publisher.layout)
        # every page of the site, but those the plan deletes (a tag emptied in this build)
        site_plan.render |= {r for r in publisher.site_refs(site_plan.after) if r.path not in site_plan.delete}
        report.applied = publisher.store_plan(model, site_plan, articles)
    else:
        report.applied = publisher.apply_plan(model, changes, articles)
    return report
