"""Refreshing the site's own pages (after a template or setting change) in chunks
that each commit under a lease of their own."""

from __future__ import annotations

from dataclasses import replace

from edgepub.publisher import Publisher

from tests.support.sites import Site, generated_sources


def renamed(site: Site) -> Publisher:
    """The same stores and index, rendered with another site title (a theme change, say)."""
    settings = replace(site.settings, site_title="Renamed")
    return Publisher(
        settings, site.sources, site.pages, site.purger, site.index, clock=lambda: site.now, layout=site.layout
    )


def test_a_refresh_in_chunks_rewrites_every_site_page_and_commits_each_chunk() -> None:
    site = Site()
    site.load(generated_sources(24, seed=3))
    model = site.index.load()
    own = {e.path for e in model.entries.values()}
    listing_pages = sorted(p for p in model.page_hashes if p not in own)
    assert len(listing_pages) > 30  # archive, tag and site pages of a small-paged layout
    version = model.version
    before = {path: site.pages.body(path) for path in listing_pages}
    site.reset_counts()

    applied = renamed(site).refresh_site_pages(chunk=7)

    changed = sorted(path for path in listing_pages if site.pages.body(path) != before[path])
    assert {p for p in listing_pages if p.endswith("/")} <= set(changed)  # every HTML listing shows the title
    assert sorted(p.path for p in applied.written) == changed  # each once; no article page, nothing unchanged
    assert site.written == set(changed)
    assert site.index.load().version - version == -(-len(listing_pages) // 7)  # one commit per chunk of 7
    assert all("Renamed" in site.html(path) for path in listing_pages if path.endswith("/"))
    assert {p.removeprefix("https://www.example.com") for p in applied.purged} == set(changed)


def test_a_refresh_run_again_writes_and_purges_nothing() -> None:
    site = Site()
    site.load(generated_sources(12, seed=4))
    publisher = renamed(site)
    publisher.refresh_site_pages(chunk=5)
    site.reset_counts()
    again = publisher.refresh_site_pages(chunk=5)
    assert again.written == [] and again.purged == [] and site.pages.writes == []


def test_a_refresh_that_runs_out_of_time_queues_the_rest_and_the_rest_finishes_it(monkeypatch) -> None:
    import json

    from edgepub import service
    from edgepub.local import MemoryPublishQueue
    from edgepub.service import publish_message

    site = Site()
    site.load(generated_sources(24, seed=3))
    twin = Site()
    twin.load(generated_sources(24, seed=3))
    renamed(twin).refresh_site_pages()  # the whole refresh in one call
    publisher = renamed(site)
    monkeypatch.setattr(service, "SITE_PAGES_SECONDS", 1e-9)  # every call runs out of time after one chunk
    monkeypatch.setattr("edgepub.publisher.REFRESH_CHUNK", 7)

    queue = MemoryPublishQueue()
    calls = 0
    body = json.dumps({"edgepub": "site-pages"})
    while body:
        publish_message(publisher, body, queue)
        calls += 1
        body = queue.bodies.pop(0) if queue.bodies else ""
    model = site.index.load()
    pages = {p for p in model.page_hashes if p not in {e.path for e in model.entries.values()}}
    assert calls == -(-len(pages) // 7) + 1  # a chunk a call, then one that finds nothing left
    assert {p: site.pages.body(p) for p in pages} == {p: twin.pages.body(p) for p in pages}
