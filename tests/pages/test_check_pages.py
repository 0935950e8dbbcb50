"""The gate's own parts that need no browser and no Java: the generated site builds
with a page of every kind, the server answers as the edge does, the docs section is
replaced in place. (`make check-pages` runs the checkers themselves.)"""

from __future__ import annotations

import struct
import subprocess
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from tests.pages import check_pages, corpus


def test_png_is_a_real_png() -> None:
    data = corpus.png(4, 3, (10, 20, 30))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and struct.unpack(">II", data[16:24]) == (4, 3)
    assert struct.unpack(">I", data[16 + length : 20 + length])[0] == zlib.crc32(data[12 : 16 + length])
    idat = data.index(b"IDAT")
    (size,) = struct.unpack(">I", data[idat - 4 : idat])
    assert len(zlib.decompress(data[idat + 4 : idat + 4 + size])) == 3 * (1 + 4 * 3)


def test_generated_site_builds_every_page_kind(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9"
    generated = corpus.write(tmp_path / "src", url, count=60)
    assert (tmp_path / "src" / "edgepub.toml").is_file()
    assert (tmp_path / "src" / "content" / corpus.BUNDLE / "diagram.png").is_file()
    site = check_pages.Site("corpus", tmp_path / "src", tmp_path / "out", url=url)
    check_pages.build(site)
    assert site.build["rejected"] == 0, site.build["errors"]
    check_pages.collect(site, generated.bundle_slug)
    assert check_pages.REQUIRED["corpus"] <= {p.kind for p in site.pages}
    picked = check_pages.pick_for_axe(site.pages)
    assert {p.kind for p in picked} == {p.kind for p in site.pages}
    for needle in ("<pre", "<table", 'type="checkbox"', "<img"):
        assert any(needle in p.html for p in picked if p.kind == "article"), needle


def test_server_serves_folders_and_the_404_page(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text("article")
    (tmp_path / "404.html").write_text("not here")
    (tmp_path / ".edgepub").mkdir()
    (tmp_path / ".edgepub" / "index.sqlite3").write_text("private")
    server = check_pages.serve(tmp_path)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{base}/a/") as answer:
            assert answer.status == 200 and answer.read() == b"article"
        for path in ("/missing/", "/.edgepub/index.sqlite3"):
            try:
                urllib.request.urlopen(base + path)
                raise AssertionError(f"{path} was served")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404 and exc.read() == b"not here"
    finally:
        server.shutdown()
        server.server_close()


def test_lighthouse_section_is_replaced_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## B1\n\nrows\n")
    check_pages.write_doc("## Lighthouse\n\nfirst\n", doc)
    doc.write_text(doc.read_text() + "\n## B9\n\nlater\n")
    check_pages.write_doc("## Lighthouse\n\nsecond\n", doc)
    text = doc.read_text()
    assert text.count("## Lighthouse") == 1 and "second" in text and "first" not in text
    assert text.index("## B1") < text.index("## Lighthouse") < text.index("## B9") and text.endswith("later\n")


def test_help_runs_without_the_tools() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.pages.check_pages", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--write-docs" in done.stdout


def test_the_report_shows_a_few_of_each_problem_and_files_them_all(tmp_path: Path) -> None:
    from tests.pages.check_pages import SHOWN, Results, Site, report

    errors = [
        {
            "severity": "error",
            "message": "Bad value",
            "site": "corpus",
            "file": f"a{i}.html",
            "line": i,
            "column": 1,
            "extract": "<p>",
        }
        for i in range(SHOWN + 2)
    ]
    node = {"target": ["pre"], "html": "<pre>"}
    violation = {
        "id": "label",
        "impact": "critical",
        "help": "Form elements must have labels",
        "helpUrl": "https://example.org",
        "nodes": [node] * (SHOWN + 3),
    }
    axe = {
        "results": [
            {
                "site": "corpus",
                "url": "http://127.0.0.1/x/",
                "viewport": "desktop",
                "kind": "article",
                "status": 200,
                "violations": [violation],
                "broken": [],
            }
        ]
    }
    sites = [Site("corpus", tmp_path, tmp_path, build={"sources": 1})]
    short, full, failures = report(sites, Results(vnu_errors=errors, axe=axe), verbose=False)
    assert failures >= len(errors) + SHOWN + 3
    assert "      ... and 2 more (report.txt lists all)" in short
    assert "      ... and 3 more (report.txt lists all)" in short
    assert sum("a" in line and ".html:" in line for line in full) == SHOWN + 2
    assert sum(".html:" in line for line in short) == SHOWN
