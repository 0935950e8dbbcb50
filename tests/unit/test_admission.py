"""Admission: sources are read before the site lease, admitted against the site
the same way on every path, and the site's own paths are never an article's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from edgepub.admission import Admitted, Claims, admit, read_source, reserved
from edgepub.errors import InvalidSource
from edgepub.index import MemoryIndex, SourceRecord
from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
from edgepub.ports import SourceObject
from edgepub.publisher import Publisher
from edgepub.settings import Settings

NOW = datetime(2026, 12, 2, tzinfo=UTC)


class LeaseWatchingIndex(MemoryIndex):
    held = False

    @contextmanager
    def lock(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False


class Sources(MemorySourceStore):
    def __init__(self, index: LeaseWatchingIndex) -> None:
        super().__init__()
        self.index = index
        self.reads_under_lease: list[bool] = []
        self.on_read: Callable[[], None] = lambda: None

    def read(self, key: str, *, max_bytes: int, version: str = "") -> SourceObject | None:
        self.reads_under_lease.append(self.index.held)
        self.on_read()
        return super().read(key, max_bytes=max_bytes, version=version)


def publisher() -> tuple[Publisher, Sources, LeaseWatchingIndex]:
    index = LeaseWatchingIndex()
    sources = Sources(index)
    return Publisher(Settings(), sources, MemoryPageStore(), RecordingPurger(), index), sources, index


def test_a_source_is_read_and_parsed_before_the_lease_is_taken():
    pub, sources, _ = publisher()
    sources.put("content/a.md", b"---\ntitle: A\n---\nx\n")
    assert pub.sync("content/a.md").action == "published"
    assert sources.reads_under_lease == [False]


def test_a_record_changed_while_reading_is_read_again_under_the_lease():
    pub, sources, index = publisher()
    sources.put("content/a.md", b"---\ntitle: A\n---\nold\n")

    def another_writer_commits() -> None:  # between our read and our lease
        sources.on_read = lambda: None
        sources.put("content/a.md", b"---\ntitle: A\n---\nnew\n")
        index.save_source(SourceRecord(key="content/a.md", state="published", version="2"))

    sources.on_read = another_writer_commits
    pub.sync("content/a.md")
    assert sources.reads_under_lease == [False, True]
    assert b"new" in pub.pages.pages["a/index.html"].body  # type: ignore[attr-defined]


def test_an_invalid_source_is_rejected_without_the_site_changing():
    pub, sources, _ = publisher()
    sources.put("content/a.md", b"---\ntitle: A\ndate: 2026-02-30\n---\nx\n")
    outcome = pub.sync("content/a.md")
    assert outcome.action == "rejected" and "date" in outcome.reason
    assert sources.reports["content/a.md"]["problems"][0]["field"] == "date"
    assert pub.pages.pages == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "path", ["/tags/", "/tags/x/", "/page/1/", "/sitemaps/1/", "/feed.xml/", "/robots.txt/", "/assets/a/", "/Tags/"]
)
def test_the_sites_own_paths_are_reserved(path):
    assert reserved(path)


@pytest.mark.parametrize("path", ["/tagsoup/", "/pages/", "/a/tags/", "/my-feed/"])
def test_article_paths_are_not_reserved(path):
    assert not reserved(path)


def read(key: str, text: str):
    try:
        return read_source(Settings(), key, text.encode())
    except InvalidSource as error:
        return error


def test_a_batch_is_admitted_the_same_whatever_the_order():
    alias = read("content/a.md", "---\ntitle: A\naliases: [/z/]\n---\nx\n")
    page = read("content/z.md", "---\ntitle: Z\n---\nx\n")
    for batch in ([alias, page], [page, alias]):
        verdicts = admit(batch, Claims(), NOW)
        results = {
            (v.source if isinstance(v, InvalidSource) else v.article.source_key): isinstance(v, Admitted)
            for v in verdicts
        }
        assert results == {"content/a.md": False, "content/z.md": True}


def test_two_files_with_one_slug_the_first_by_name_keeps_it():
    first = read("content/a.md", "---\ntitle: One\nslug: same\n---\nx\n")
    second = read("content/b.md", "---\ntitle: Two\nslug: same\n---\nx\n")
    verdicts = admit([second, first], Claims(), NOW)
    assert isinstance(verdicts[1], Admitted)
    assert isinstance(verdicts[0], InvalidSource) and "already used by content/a.md" in verdicts[0].describe()


def test_admission_decides_the_publication_state():
    draft = read("content/d.md", "---\ntitle: D\ndraft: true\n---\nx\n")
    later = read("content/l.md", "---\ntitle: L\npublishDate: 2030-01-01\n---\nx\n")
    verdicts = admit([draft, later], Claims(), NOW)
    assert [v.state for v in verdicts if isinstance(v, Admitted)] == ["draft", "scheduled"]


def test_an_oversized_object_the_store_did_not_read_is_rejected_by_size():
    with pytest.raises(InvalidSource) as error:
        read_source(Settings(), "content/big.md", None, size=10**9)
    assert error.value.problems[0].field == "size" and "1000000000 bytes" in error.value.describe()
