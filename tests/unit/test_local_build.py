"""`edgepub build`: the publisher with folders for sources and pages, no AWS."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgepub.index import MemoryIndex
from edgepub.localbuild import build
from edgepub.localindex import SqliteIndex
from edgepub.settings import Settings


def copy_samples(samples: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(samples, src)
    return src


def test_second_build_of_unchanged_sources_writes_nothing(samples, tmp_path):
    src = copy_samples(samples, tmp_path)
    out = tmp_path / "out"
    first = build(src, out, Settings())
    assert first.count("published") == 4
    assert {"/purge-only-what-changed/", "/", "/feed.xml", "/sitemap.xml", "/tags/cloudflare/"} <= {
        p.path for p in first.applied.written
    }
    assert len(first.rejected) == 1 and "front matter" in first.rejected[0].reason
    assert (out / "purge-only-what-changed" / "index.html").is_file()
    assert not list(out.rglob("*.edgepub-meta.json"))

    second = build(src, out, Settings())
    assert second.pages_written == 0 and second.urls_purged == 0
    assert second.count("unchanged") == 4


def test_one_body_edit_rewrites_only_that_page(samples, tmp_path):
    src = copy_samples(samples, tmp_path)
    out = tmp_path / "out"
    build(src, out, Settings())
    md = src / "purge-only-what-changed.md"
    md.write_text(md.read_text().replace("crutch", "bad habit"))
    report = build(src, out, Settings())
    assert [p.path for p in report.applied.written] == ["/purge-only-what-changed/"]
    assert report.applied.purged == ["https://www.example.com/purge-only-what-changed/"]
    assert b"bad habit" in (out / "purge-only-what-changed" / "index.html").read_bytes()


def test_removed_source_is_unpublished(samples, tmp_path):
    src = copy_samples(samples, tmp_path)
    out = tmp_path / "out"
    build(src, out, Settings())
    (src / "edge-cache-headers.md").unlink()
    report = build(src, out, Settings())
    # the article, and the pages and feed of #http, which only it had
    assert report.applied.deleted == [
        "/edge-cache-headers/",
        "/tags/http/",
        "/tags/http/feed.xml",
        "/tags/http/page/1/",
    ]
    assert not (out / "edge-cache-headers" / "index.html").exists()
    assert b"edge-cache-headers" not in (out / "index.html").read_bytes()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_two_worker_processes_build_exactly_what_one_builds(tmp_path):
    from tests.support.sites import generated_sources

    src = tmp_path / "src"
    src.mkdir()
    for name, data in generated_sources(300):
        (src / name).write_bytes(data)
    (src / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    serial = build(src, tmp_path / "serial", Settings(), workers=1)
    forked = build(src, tmp_path / "forked", Settings(), workers=2)
    assert forked.count("published") == serial.count("published") == 300
    assert [o.reason for o in forked.rejected] == [o.reason for o in serial.rejected] != []
    pages = [
        {k: v for k, v in _tree(tmp_path / run).items() if not k.startswith(".edgepub/")}
        for run in ("serial", "forked")
    ]
    assert pages[0] == pages[1]
    assert len(pages[0]) == serial.pages_written > 300
    assert (tmp_path / "forked/.edgepub/headers.json").read_bytes() == (
        tmp_path / "serial/.edgepub/headers.json"
    ).read_bytes()
    assert (tmp_path / "forked/.edgepub/rejected/content/broken.md.json").is_file()
    indexes = []
    for run in ("serial", "forked"):
        with SqliteIndex(tmp_path / run / ".edgepub/index.sqlite3") as index:
            indexes.append(index.load())
    assert indexes[0].entries == indexes[1].entries and indexes[0].page_hashes == indexes[1].page_hashes


def test_a_file_whose_size_and_mtime_are_unchanged_is_not_read_again(samples, tmp_path):
    src = copy_samples(samples, tmp_path)
    out = tmp_path / "out"
    build(src, out, Settings())
    reads: list[str] = []
    from edgepub import localbuild

    original = localbuild.publish_all

    def counting(publisher, keys, read, progress=None, known=None, everything=False, bundle=None):
        def reading(key: str) -> bytes:
            reads.append(key)
            data: bytes = read(key)
            return data

        return original(publisher, keys, reading, progress, known, everything, bundle)

    localbuild.publish_all = counting
    try:
        assert build(src, out, Settings()).pages_written == 0
        assert reads == ["content/broken-front-matter.md"]  # only the rejected one: it has no entry to vouch for
        md = src / "purge-only-what-changed.md"
        md.write_text(md.read_text().replace("crutch", "bad habit"))
        reads.clear()
        report = build(src, out, Settings())
        assert "content/purge-only-what-changed.md" in reads
        assert [p.path for p in report.applied.written] == ["/purge-only-what-changed/"]
    finally:
        localbuild.publish_all = original


def test_an_index_file_in_the_older_object_form_still_loads(samples, tmp_path):
    """An index.json of the oldest form (one object per entry) is migrated like the newer one."""
    import json

    from edgepub.index import model_to_json

    src = copy_samples(samples, tmp_path)
    out = tmp_path / "out"
    build(src, out, Settings())
    database = out / ".edgepub" / "index.sqlite3"
    with SqliteIndex(database) as index:
        current = index.load()
        sources = [index.source(f"content/{p.name}") for p in sorted(src.iterdir())]
    older = {"site": model_to_json(current), "sources": [vars(s) for s in sources if s is not None]}
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (out / ".edgepub" / name).unlink(missing_ok=True)  # as an older edgepub left the folder
    (out / ".edgepub" / "index.json").write_text(json.dumps(older))
    assert MemoryIndex(out / ".edgepub" / "index.json").model.entries == current.entries
    assert build(src, out, Settings()).pages_written == 0
    assert not (out / ".edgepub" / "index.json").exists()
    with SqliteIndex(database) as index:
        assert index.load().entries == current.entries


def test_a_valid_article_whose_file_name_is_not_utf8_is_built(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    name = b"caf\xe9.md"  # Latin-1, as an older editor may have saved it
    (src / name.decode("utf-8", "surrogateescape")).write_bytes(b"---\ntitle: Cafe\ndate: 2026-01-01\n---\nBody.\n")
    report = build(src, tmp_path / "out", Settings())
    assert [o.action for o in report.outcomes] == ["published"], report.outcomes
    assert any(p.name == "index.html" for p in (tmp_path / "out").rglob("*") if "caf" in str(p))
