"""`edgepub build`: the publisher with folders for sources and pages, no AWS."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgepub.localbuild import build
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
    # the article, and the pages of #http, which only it had
    assert report.applied.deleted == ["/edge-cache-headers/", "/tags/http/", "/tags/http/page/1/"]
    assert not (out / "edge-cache-headers" / "index.html").exists()
    assert b"edge-cache-headers" not in (out / "index.html").read_bytes()
