"""A full re-render in chunks (edgepub.rerender): chunks queued, rendered and committed
one by one, the same pages as a whole re-render, and a crash mid-way resumed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from edgepub import rerender
from edgepub.local import MemoryPublishQueue
from edgepub.plan import PageRef
from edgepub.render import Renderer
from edgepub.service import publish_message

from tests.support.sites import Site, partial_twin


def retitle(site: Site) -> None:
    """A change every article page shows (as a theme change would be)."""
    site.settings = replace(site.settings, site_title="Renamed site")
    site.publisher.settings = site.settings
    site.publisher.renderer = Renderer(site.settings)


class Crash(Exception):
    pass


def test_a_rerender_in_chunks_writes_what_a_whole_rerender_writes_and_resumes_after_a_crash():
    whole, partial, _ = partial_twin(120)
    for site in (whole, partial):
        retitle(site)
    model = whole.index.load()
    whole.publisher.rewrite(model, [PageRef("article", (s,)) for s, e in model.entries.items() if e.live])
    whole.publisher.refresh_site_pages()

    queue = MemoryPublishQueue()
    started = rerender.start(partial.publisher, queue, size=16)
    live = sum(1 for e in model.entries.values() if e.live)
    assert started.chunks == -(-live // 16) and queue.depth() == started.chunks + 1

    # the fourth chunk's invocation dies after its third page is stored: its message comes back
    put, stored = partial.pages.put, []

    def dying_put(page):
        stored.append(page.path)
        if len(stored) == 16 * 3 + 3:
            raise Crash("the invocation died")
        return put(page)

    partial.pages.put = dying_put  # type: ignore[method-assign]
    handled = 0
    while queue.bodies:
        body = queue.bodies[0]
        try:
            publish_message(partial.publisher, body)
        except Crash:
            continue  # the message is received again
        queue.bodies.pop(0)
        handled += 1
    assert handled == started.chunks + 1
    assert rerender.progress(partial.publisher, started.job) == started.chunks

    assert partial.pages.pages.keys() == whole.pages.pages.keys()
    differ = sorted(k for k, p in whole.pages.pages.items() if partial.pages.pages[k].body != p.body)
    assert differ == []
    assert b"Renamed site" in partial.pages.pages["article-00007/index.html"].body
    # chunks this small purge each article URL they wrote
    purged = {u for batch in partial.purger.batches for u in batch}
    assert {f"https://www.example.com/article-{i:05d}/" for i in range(120)} <= purged
    assert partial.index.load().pending_purge == []


def test_a_chunk_that_writes_many_pages_purges_their_cache_tag_once():
    _, partial, _ = partial_twin(40)
    retitle(partial)
    partial.publisher.settings = replace(partial.publisher.settings, purge_by_tag=True)  # the edge sets cache tags
    model = partial.index.load()
    refs = [PageRef("article", (f"article-{i:05d}",)) for i in range(40)]
    applied = partial.publisher.rerender_store(model, refs, tag_purge_over=10)
    assert len(applied.written) == 40  # more than PARALLEL_WRITES_OVER: stored in parallel
    assert all(b"Renamed site" in partial.pages.body(f"/article-{i:05d}/") for i in range(40))
    assert partial.index.load().page_hashes["/article-00039/"] == applied.written[-1].content_hash
    assert partial.purger.tags == ["article"] and partial.purger.batches == []


def test_starting_again_goes_on_with_the_job_it_did_not_finish_queuing():
    _, partial, _ = partial_twin(60)
    queue = MemoryPublishQueue()

    class Failing(MemoryPublishQueue):
        def send(self, bodies: Sequence[str]) -> list[str]:
            if len(self.bodies) >= 2:
                raise Crash("SendMessageBatch failed")
            return super().send(bodies)

    failing = Failing()
    with pytest.raises(Crash):
        rerender.start(partial.publisher, failing, size=1)  # 40 keys a page: one page queued, then a crash
    again = rerender.start(partial.publisher, queue, size=1)
    assert again.resumed
    live = partial.index.load().live_count()
    # the first page's chunks are not queued again: the job goes on after them
    assert len(failing.bodies) + again.chunks == live
    assert {rerender.Chunk.from_message(json.loads(b)).job for b in failing.bodies + queue.bodies[:-1]} == {again.job}


def test_without_tag_purging_a_large_chunk_purges_each_url():
    _, partial, _ = partial_twin(40)
    retitle(partial)
    refs = [PageRef("article", (f"article-{i:05d}",)) for i in range(40)]
    partial.publisher.rerender_store(partial.index.load(), refs, tag_purge_over=10)
    assert partial.purger.tags == []
    assert len({u for batch in partial.purger.batches for u in batch}) == 40


def drain(site: Site, queue: MemoryPublishQueue) -> None:
    while queue.bodies:
        publish_message(site.publisher, queue.bodies.pop(0))


def test_a_page_rendered_before_the_lease_is_rendered_again_when_a_similar_post_changed_meanwhile(monkeypatch):
    _, partial, sources = partial_twin(60)
    model = partial.index.load()
    shown = next(e for e in (model.entries[f"article-{i:05d}"] for i in range(60)) if e.similar)
    other = shown.similar[0]
    queue = MemoryPublishQueue()
    rerender.start(partial.publisher, queue, size=100)
    # between the chunk's render and its lease, the similar post is retitled
    lease = partial.publisher.lease

    def retitled_first() -> Any:
        monkeypatch.setattr(partial.publisher, "lease", lease)
        name = f"{other}.md"
        partial.put(name, sources[name].replace(b"title: Article ", b"title: Renamed article "))
        return lease()

    monkeypatch.setattr(partial.publisher, "lease", retitled_first)
    drain(partial, queue)
    title = partial.index.load().entries[other].title
    assert title.startswith("Renamed article")
    assert title.encode() in partial.pages.body(f"/{shown.slug}/")


def test_a_theme_change_renders_the_sitemap_shards_and_redirect_pages_again():
    _, partial, sources = partial_twin(30)
    partial.put(
        "article-00003.md", sources["article-00003.md"].replace(b"---\ntitle", b"---\naliases: [/old/three/]\ntitle", 1)
    )
    url = "https://moved.example.org"
    partial.settings = replace(partial.settings, site_url=url)
    partial.publisher.settings = partial.settings
    partial.publisher.renderer = Renderer(partial.settings)
    queue = MemoryPublishQueue()
    rerender.start(partial.publisher, queue)
    drain(partial, queue)
    assert url.encode() in partial.pages.body("/sitemaps/1.xml")
    assert url.encode() in partial.pages.body("/old/three/")


def test_a_job_queued_for_another_theme_is_not_gone_on_with():
    _, partial, _ = partial_twin(30)
    partial.index.set_cursor(rerender.CURSOR, "old-job 0123abcd 2026-01-01#article-00009")
    again = rerender.start(partial.publisher, MemoryPublishQueue(), size=5)
    assert not again.resumed and again.job != "old-job"
    assert again.chunks == 6  # every live article, from the first
