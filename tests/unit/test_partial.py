"""Planning from a partial model (edgepub.partial): a publish reads the items its
change touches, not the site, and publishes exactly what planning from the whole
model publishes."""

from __future__ import annotations

import pytest
from edgepub import partial
from edgepub.index import MemoryIndex
from edgepub.itemindex import ItemIndex
from edgepub.partial import WholeSiteRead, audit, is_row
from edgepub.plan import Layout

from tests.support.sites import Site, generated_sources, md
from tests.support.sites import partial_twin as pair

CHANGES = [
    ("new article", "fresh.md", md("Fresh", date="2026-11-01", tags=("topic1", "topic2"), stack="[redis]")),
    ("body edit", "article-00250.md", None),
    ("title edit", "article-00010.md", None),
    ("tag change", "article-00300.md", None),
    ("noindex", "article-00120.md", None),
    ("draft", "article-00400.md", None),
    ("rename", "article-00050.md", None),
    ("alias", "article-00060.md", None),
    ("delete", "article-00499.md", "delete"),
    ("delete the new one", "fresh.md", "delete"),
    ("back again", "fresh.md", md("Fresh again", date="2026-11-02", tags=("topic1",), tools="[curl]")),
]


def edited(kind: str, data: bytes) -> bytes:
    text = data.decode()
    if kind == "body edit":
        return text.replace("body.", "body, edited.").encode()
    if kind == "title edit":
        return text.replace("title: Article 10\n", "title: Article ten\n").encode()
    if kind == "tag change":
        return text.replace("tags: [", "tags: [brand-new, ").encode()
    if kind == "noindex":
        return text.replace("---\ntitle", "---\nflags: {needs human review: true}\ntitle", 1).encode()
    if kind == "draft":
        return text.replace("---\ntitle", "---\ndraft: true\ntitle", 1).encode()
    if kind == "rename":
        return text.replace("---\ntitle", "---\nslug: renamed-fifty\ntitle", 1).encode()
    if kind == "alias":
        return text.replace("---\ntitle", "---\naliases: [/old/sixty/]\ntitle", 1).encode()
    raise AssertionError(kind)


def test_a_partial_model_publishes_exactly_what_the_whole_model_does():
    whole, partial, sources = pair(500)
    items = partial.publisher.index
    assert isinstance(whole.index, MemoryIndex) and isinstance(items, ItemIndex)
    for kind, name, data in CHANGES:
        results = []
        for site in (whole, partial):
            if isinstance(data, bytes):
                outcome = site.put(name, data)
            elif data == "delete":
                outcome = site.delete(name)
            else:
                outcome = site.put(name, edited(kind, sources[name]))
            results.append((outcome.action, sorted(site.written), sorted(site.pages.deletes), sorted(site.purged)))
        assert results[1] == results[0], kind
        assert results[0][1] or results[0][2], f"{kind} changed nothing: not a useful check"
    assert partial.pages.pages.keys() == whole.pages.pages.keys()
    differ = [k for k, page in whole.pages.pages.items() if partial.pages.pages[k].body != page.body]
    assert differ == []
    stored = whole.index.load()
    model = items.load(strict=False)
    assert dict(model.entries) == stored.entries
    assert dict(model.page_hashes) == stored.page_hashes
    assert dict(model.counters) == stored.counters
    rows = [i for pk, part in items.items.partitions.items() if is_row(pk) for i in part.values()]
    assert audit(stored.entries.values(), rows) == []


def test_a_strict_partial_model_refuses_a_whole_site_read():
    _, partial, _ = pair(30)
    model = partial.index.load()
    with pytest.raises(WholeSiteRead):
        list(model.entries.values())
    with pytest.raises(WholeSiteRead):
        list(model.page_hashes)


def reads_of_one_publish(count: int) -> tuple[int, int]:
    sources = generated_sources(count)
    site = Site(layout=Layout())
    site.load(sources)
    items = ItemIndex.of(site.index.load(), policy=site.index.policy)
    items.strict = True
    items.sources = dict(site.index.sources)
    site.publisher.index = items
    items.items.reset_counts()
    site.put("fresh.md", md("Fresh", date="2026-11-01", tags=("topic1", "topic2"), stack="[redis]", tools="[curl]"))
    return items.items.items_read, items.items.items_written


def test_items_read_by_a_publish_do_not_grow_with_the_site(monkeypatch):
    # similar-post candidates come from the oldest SIMILAR_POOL of each feature: with a
    # pool of 50, every feature of these generated sites is past it at 1,500 articles,
    # so from there on a publish reads the same items however large the site
    monkeypatch.setattr(partial, "SIMILAR_POOL", 50)
    small, large = reads_of_one_publish(1500), reads_of_one_publish(4500)
    assert large[0] <= 1.2 * small[0], (small, large)
    assert large[1] <= 1.2 * small[1], (small, large)
    # what it does read: the candidates of four features and the blocks they hold,
    # the home page and feed, a few listing pages, a sitemap shard, the tags
    assert large[0] < 4 * 50 * 2 + 1000 + 300, large


def test_drift_repair_batches_page_paths_in_order_without_reading_every_hash():
    whole, partial_site, _ = pair(60)
    stored = whole.index.load()
    model = partial_site.publisher.index.load()  # strict: a whole read raises
    cursor, seen = "", []
    while batch := model.page_paths_after(cursor, 25):
        assert batch == stored.page_paths_after(cursor, 25)
        seen += batch
        cursor = batch[-1]
    assert seen == sorted(stored.page_hashes)
