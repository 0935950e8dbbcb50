"""A full re-render in chunks (a theme or layout change, `edgepub rerender`): every
article page rendered again by many publish-function invocations in parallel, each
committing its own pages; the site's own pages follow once.

`start` splits the live entries into chunks of `CHUNK` consecutive keys of the
by-date partition (it reads keys only, a page at a time) and queues one message
per chunk, recording after each page how far it got: started again (a crash, a
retried theme change), it goes on from there. `run_chunk` renders its chunk's article
pages *before* taking the site lease, the part that takes time (reading each
source, Markdown, templates), so chunks render in parallel; under the lease it
reads the chunk's entries again, keeps each page whose entry did not change
meanwhile (the rest are rendered again under the lease), and stores, commits and
purges as every change does. A chunk is idempotent: a redelivered one (its
invocation crashed) writes only pages that still differ. Its completion is a
marker, so progress counts each chunk once however often it ran.

Purging: a chunk that wrote more than 50 pages purges the article pages' cache
tag (one call instead of hundreds of URL purges against Cloudflare's budget;
every article page is new anyway), else each URL.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from edgepub.article import Article
from edgepub.partial import NEWEST, PartialModel
from edgepub.plan import PageRef, SitePlan
from edgepub.ports import PublishQueue
from edgepub.publisher import Applied, Publisher
from edgepub.site import Entry
from edgepub.theme import load_spec

log = logging.getLogger(__name__)

CHUNK = 250  # article pages a chunk renders: seconds of work, well inside the function's timeout
READERS = 16  # sources a chunk reads at once
MESSAGE = "rerender"
CURSOR = "rerender"  # the job being queued: "<job> <theme digest> <last key queued>" ("" when none)


@dataclass(frozen=True)
class Chunk:
    job: str
    first: str  # the chunk's first and last live entries, as keys of the by-date partition ("<date>#<slug>")
    last: str

    def body(self) -> str:
        return json.dumps({"edgepub": MESSAGE, "job": self.job, "first": self.first, "last": self.last})

    @property
    def marker(self) -> str:
        return f"rerender#{self.job}#{self.first}"

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Chunk:
        return cls(str(message["job"]), str(message["first"]), str(message["last"]))


@dataclass
class Started:
    job: str
    chunks: int  # queued by this call
    resumed: bool  # a job an earlier call did not finish queuing


def _model(publisher: Publisher) -> PartialModel:
    model = publisher.index.load()
    if not isinstance(model, PartialModel):
        raise TypeError("a chunked re-render needs an index read item by item (DynamoIndex, ItemIndex)")
    return model


def start(publisher: Publisher, queue: PublishQueue, *, size: int = CHUNK) -> Started:
    """Queue a chunk message for every `size` live entries (oldest first), then one for
    the site's own pages. Goes on with a job an earlier call did not finish queuing for
    the same config and theme; a job for another starts afresh."""
    index = publisher.index
    theme = load_spec(index).digest  # the config and theme in use: a job renders with them
    job, _, rest = index.cursor(CURSOR).partition(" ")
    queued_for, _, after = rest.partition(" ")
    resumed = bool(job) and queued_for == theme  # a job for an older theme is not gone on with
    if not resumed:
        job, after = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}", ""
    reader = _model(publisher).stored.reader
    queued = 0
    while True:
        lower = after + " " if after else "!"  # past `after` (keys are "<date>#<slug>", no key part sorts below " ")
        keys = [str(i["sk"]) for i in reader.query(NEWEST, between=(lower, "\uffff"), limit=size * 40, keys_only=True)]
        if not keys:
            break
        chunks = [Chunk(job, keys[i], keys[min(i + size, len(keys)) - 1]) for i in range(0, len(keys), size)]
        queue.send([c.body() for c in chunks])
        queued += len(chunks)
        after = keys[-1]
        index.set_cursor(CURSOR, f"{job} {theme} {after}")  # a crash from here on goes on after these
    queue.send([json.dumps({"edgepub": "site-pages"})])  # listing and site pages, once
    index.set_cursor(CURSOR, "")
    log.info("re-render %s: %d chunks queued", job, queued)
    return Started(job=job, chunks=queued, resumed=resumed)


def run_chunk(publisher: Publisher, chunk: Chunk) -> Applied:
    """Render the chunk's article pages, then store, commit and purge those that changed."""
    model = _model(publisher)
    rows = model.stored.reader.query(NEWEST, between=(chunk.first, chunk.last), keys_only=True)
    slugs = [str(r["sk"]).split("#", 1)[1] for r in rows]
    model.prefetch(slugs)
    plan = SitePlan(after=model)
    seen = {s: e for s in slugs if (e := model.entries.get(s)) is not None and e.live}
    refs = [PageRef("article", (slug,)) for slug in sorted(seen)]
    publisher.use_spec(load_spec(publisher.index))  # the site's theme as it is now (a new process has none)
    theme = publisher.spec.digest
    began = time.perf_counter()
    articles = read_articles(publisher, list(seen.values()))
    pages = {ref: publisher._render(ref, plan, articles) for ref in refs}  # outside the lease: in parallel
    rendered = time.perf_counter()
    shown = {s for entry in seen.values() for s in entry.similar}  # their similar posts, read to render them
    with publisher.lease():  # which adopts the theme committed last
        current = _model(publisher)
        current.prefetch([*slugs, *shown])
        # a page is rendered again under the lease if what it shows changed since: its
        # entry, one of its similar posts (a publish meanwhile), or the theme
        same_theme = publisher.spec.digest == theme

        def unchanged(slug: str, entry: Entry) -> bool:
            return current.entries.get(slug) == entry and all(
                current.entries.get(s) == model.entries.get(s) for s in entry.similar
            )

        kept = {slug for slug, entry in seen.items() if same_theme and unchanged(slug, entry)}
        live = [e for s in sorted(slugs) if (e := current.entries.get(s)) is not None and e.live]
        refs = [PageRef("article", (e.slug,)) for e in live]
        refs += [PageRef("redirect", (alias, e.path)) for e in live for alias in e.redirects]
        try:
            publisher.prerendered = {ref: page for ref, page in pages.items() if ref.args[0] in kept}
            applied = publisher.rerender_store(current, refs)
        finally:
            publisher.prerendered = {}
    publisher.index.claim(chunk.marker)
    log.info(
        "re-render %s from %s: %d articles rendered in %.1f s, %d pages stored under the lease in %.1f s",
        chunk.job,
        chunk.first,
        len(pages),
        rendered - began,
        len(applied.written),
        time.perf_counter() - rendered,
    )
    return applied


def read_articles(publisher: Publisher, entries: list[Entry]) -> dict[str, Article]:
    """The entries' sources as they were published, read `READERS` at a time (the reads,
    not the parsing, are what a chunk waits on); one that is gone or broken is left out
    (its page is then rendered, and reported, as a single re-render would)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(READERS) as pool:
        read = list(pool.map(publisher._reload, entries))
    return {entry.slug: article for entry, article in zip(entries, read, strict=True) if article is not None}


def progress(publisher: Publisher, job: str) -> int:
    """Chunks of `job` done (each counted once)."""
    reader = _model(publisher).stored.reader
    prefix = f"rerender#{job}#"
    return len(reader.query("marker", between=(prefix, prefix + "\uffff"), keys_only=True))
