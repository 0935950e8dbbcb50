"""The user's site in a local build: edgepub.toml, sandboxed theme overrides, static
files and page bundles (no server: folders in, folders out)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from edgepub.errors import InvalidSource
from edgepub.localbuild import build
from edgepub.settings import Settings
from edgepub.siteconfig import parse_config
from edgepub.theme import SiteSpec, check_templates
from hypothesis import given
from hypothesis import strategies as st

ARTICLE = """---
title: {title}
date: 2026-0{month}-01T00:00:00Z
summary: About {title}.
tags: [diagrams]
---
Some text.
"""

CONFIG = b"""
title = "Field Notes"
description = "Notes from the field."
base_url = "https://notes.example.org"
language = "en-GB"
footer = "Copyright Field Notes Ltd."
favicon = "favicon.svg"

[publisher]
name = "Field Notes Ltd."
logo = "logo.png"

[[menu]]
name = "About"
url = "/about/"

[social]
twitter = "fieldnotes"
"""

BASE = """<!doctype html>
<html lang="{{ site.language }}"><head><meta charset="utf-8">
<title>{% block title %}{{ site.title }}{% endblock %}</title>
<link rel="stylesheet" href="{{ site.asset('css/site.css') }}"></head>
<body><p class="custom-theme">Custom theme for {{ site.title }}</p>
<main>{% block main %}{% endblock %}</main></body></html>
"""


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def site_folder(tmp_path: Path) -> Path:
    src = tmp_path / "site"
    (src / "content" / "diagrams").mkdir(parents=True)
    (src / "theme" / "templates").mkdir(parents=True)
    (src / "theme" / "static" / "css").mkdir(parents=True)
    (src / "edgepub.toml").write_bytes(CONFIG)
    (src / "theme" / "templates" / "base.html").write_text(BASE)
    (src / "theme" / "static" / "css" / "site.css").write_text("body{color:#111}\n")
    (src / "theme" / "static" / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (src / "theme" / "static" / "logo.png").write_bytes(png(2, 2))
    (src / "content" / "plain.md").write_text(ARTICLE.format(title="Plain", month=1))
    bundle = ARTICLE.format(title="Diagrams", month=2) + "\n![The diagram](diagram.png)\n"
    (src / "content" / "diagrams" / "index.md").write_text(bundle)
    (src / "content" / "diagrams" / "diagram.png").write_bytes(png(3, 2))
    return src


def test_a_site_folder_builds_with_its_config_theme_and_bundle(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    report = build(src, out, Settings(), workers=1)
    assert not report.rejected, [o.reason for o in report.rejected]
    article = (out / "diagrams" / "index.html").read_text()
    assert "Custom theme for Field Notes" in article  # the overridden base.html, the configured title
    assert 'lang="en-GB"' in article
    css = list((out / "static" / "css").glob("site.*.css"))
    assert len(css) == 1 and css[0].read_text() == "body{color:#111}\n"
    assert f'href="https://notes.example.org/static/css/{css[0].name}"' in article
    # the bundle's image: published under the article at a fingerprinted name, the page pointing at it
    images = list((out / "diagrams").glob("diagram.*.png"))
    assert len(images) == 1 and images[0].read_bytes() == png(3, 2)
    assert f'<img width="3" height="2" src="https://notes.example.org/diagrams/{images[0].name}"' in article
    assert 'src="diagram.png"' not in article
    home = (out / "index.html").read_text()
    assert "Field Notes" in home and "Published with edgepub" not in home


def test_the_url_from_the_environment_wins_over_the_file(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    settings = Settings(site_url="http://127.0.0.1:8000", overrides=frozenset({"site_url"}))
    build(src, out, settings, workers=1)
    assert "http://127.0.0.1:8000/diagrams/" in (out / "index.html").read_text()


@pytest.mark.parametrize(
    ("template", "line", "why"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", 1, "reaches Python internals"),
        ("ok\n{{ site.__init__.__globals__ }}", 2, "reaches Python internals"),
        ("{{ cycler['__init__'] }}", 1, "reaches Python internals"),
        ("{% for x in y %}\n{{ x }", 2, "unexpected"),
        ("{{ 'a' * 100000000 }}", 1, "not allowed"),
        ("{{ 2 ** 100000 }}", 1, "not allowed"),
        ("{{ nothing.here }}", 1, "pages do not have"),
        ("{{ range(100000000) | list | length }}", 1, "Range too big"),
    ],
)
def test_a_theme_that_reaches_for_internals_or_breaks_is_rejected_and_the_last_good_one_kept(
    tmp_path, template, line, why
):
    src, out = site_folder(tmp_path), tmp_path / "out"
    build(src, out, Settings(), workers=1)
    before = (out / "diagrams" / "index.html").read_bytes()
    (src / "theme" / "templates" / "base.html").write_text(template)
    (src / "content" / "plain.md").write_text(ARTICLE.format(title="Plain, edited", month=1))
    report = build(src, out, Settings(), workers=1)
    [rejected] = report.rejected
    assert rejected.source_key == "theme/templates/base.html"
    assert why in rejected.reason and f"line {line}" in rejected.reason
    # the site keeps its last good theme: the edited article is published with it
    assert "Custom theme for Field Notes" in (out / "plain" / "index.html").read_text()
    assert "Plain, edited" in (out / "plain" / "index.html").read_text()
    assert (out / "diagrams" / "index.html").read_bytes() != before  # its similar post was renamed...
    assert "Custom theme for Field Notes" in (out / "diagrams" / "index.html").read_text()  # ...same theme
    report_file = out / ".edgepub" / "rejected" / "theme" / "templates" / "base.html.json"
    assert report_file.is_file()


def test_a_theme_change_rewrites_only_the_pages_whose_bytes_change(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    (src / "theme" / "templates" / "base.html").unlink()
    build(src, out, Settings(), workers=1)
    (src / "theme" / "templates" / "article.html").write_text(
        '{% extends "builtin/article.html" %}{% block title %}Read: {{ a.title }}{% endblock %}'
    )
    report = build(src, out, Settings(), workers=1)
    written = {p.path for p in report.applied.written}
    assert written == {"/plain/", "/diagrams/"}, written
    assert "<title>Read: Plain</title>" in (out / "plain" / "index.html").read_text()
    again = build(src, out, Settings(), workers=1)
    assert again.pages_written == 0


def test_a_bundle_that_references_a_missing_file_is_rejected_naming_it(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    (src / "content" / "diagrams" / "diagram.png").unlink()
    report = build(src, out, Settings(), workers=1)
    [rejected] = report.rejected
    assert rejected.source_key == "content/diagrams/index.md"
    assert "references diagram.png, which is not in content/diagrams/" in rejected.reason
    assert not (out / "diagrams").exists()


def test_a_published_asset_is_kept_while_the_live_page_references_it(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    build(src, out, Settings(), workers=1)
    [image] = list((out / "diagrams").glob("diagram.*.png"))
    (src / "content" / "diagrams" / "diagram.png").unlink()
    report = build(src, out, Settings(), workers=1)
    assert report.rejected  # the article now points at nothing: reported, and its live page kept
    assert image.is_file() and image.name in (out / "diagrams" / "index.html").read_text()


def test_config_errors_name_the_key_and_line():
    with pytest.raises(InvalidSource, match=r"edgepub.toml: file \(line 2, column \d+\): is not valid TOML"):
        parse_config(b'title = "x"\ntitle = = 2\n')
    with pytest.raises(InvalidSource) as caught:
        parse_config(b'colour = "red"\nlanguage = "not a language"\n[pages]\npage_size = 0\n')
    fields = {p.field for p in caught.value.problems}
    assert fields == {"colour", "language", "pages.page_size"}


def test_a_template_compiles_in_the_sandbox_or_is_refused_with_its_line():
    check_templates(SiteSpec(templates=(("base.html", "{{ site.title }}"),)))
    with pytest.raises(InvalidSource) as caught:
        check_templates(SiteSpec(templates=(("tag.html", "a\nb\n{{ x.__class__ }}"),)))
    assert caught.value.source == "theme/templates/tag.html" and caught.value.problems[0].line == 3


def test_a_template_that_fails_only_on_some_article_is_reported_and_that_page_built_in(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    (src / "theme" / "templates" / "base.html").unlink()
    # passes the sample render; fails on an article whose title is "Boom"
    (src / "theme" / "templates" / "article.html").write_text(
        '{% extends "builtin/article.html" %}{% block title %}Read: {{ a.title }}'
        '{% if a.title == "Boom" %}\n{{ nothing.here }}{% endif %}{% endblock %}'
    )
    (src / "content" / "boom.md").write_text(ARTICLE.format(title="Boom", month=3))
    report = build(src, out, Settings(), workers=2)  # the page may fail in a worker process
    assert "<title>Read: Plain</title>" in (out / "plain" / "index.html").read_text()
    boom = (out / "boom" / "index.html").read_text()
    assert "<h1>Boom</h1>" in boom and "Read: Boom" not in boom  # published, with the built-in template
    [rejected] = report.rejected
    assert rejected.source_key == "theme/templates/article.html" and "line 2" in rejected.reason
    assert (out / ".edgepub" / "rejected" / "theme" / "templates" / "article.html.json").is_file()


def test_code_samples_and_links_to_pages_are_not_bundle_references(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    sample = ARTICLE.format(title="Code", month=4) + (
        '\nUse `<img src="logo.png">` or:\n\n```html\n<link href="site.css" rel="stylesheet">\n```\n\n'
        "See [the site](example.com) and [the notes](notes.html).\n"
    )
    (src / "content" / "code.md").write_text(sample)
    report = build(src, out, Settings(), workers=1)
    assert not report.rejected, [o.reason for o in report.rejected]
    html = (out / "code" / "index.html").read_text()
    assert "&lt;img src=" in html and 'href="example.com"' in html


def test_a_scheduled_bundle_has_its_files_stored_before_it_goes_live(tmp_path):
    src, out = site_folder(tmp_path), tmp_path / "out"
    held = (src / "content" / "diagrams" / "index.md").read_text().replace("tags:", "publishDate: 2099-01-01\ntags:")
    (src / "content" / "diagrams" / "index.md").write_text(held)
    report = build(src, out, Settings(), workers=1)
    assert report.count("held") == 1 and not (out / "diagrams" / "index.html").exists()
    # the scheduler's transition renders the page from the index alone: its image must be there already
    assert len(list((out / "diagrams").glob("diagram.*.png"))) == 1


def test_a_file_deep_in_a_bundle_belongs_to_the_bundles_article():
    from edgepub.index import MemoryIndex
    from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
    from edgepub.publisher import Publisher

    sources = MemorySourceStore()
    sources.put("content/x/index.md", b"---\ntitle: X\n---\n![d](img/d.png)\n")
    publisher = Publisher(Settings(), sources, MemoryPageStore(), RecordingPurger(), MemoryIndex())
    assert publisher.bundle_index("content/x/img/d.png") == "content/x/index.md"
    assert publisher.bundle_index("content/y/img/d.png") is None
    assert publisher.bundle_index("content/loose.png") is None


def test_a_template_that_runs_on_is_stopped_and_named():
    from edgepub.render import check_theme

    spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    spec = SiteSpec(templates=(("home.html", spin),))
    with pytest.raises(InvalidSource, match=r"theme/templates/home.html: .*took over"):
        check_theme(Settings(), spec)


def test_an_interrupted_build_renders_with_the_new_theme_next_time(tmp_path, monkeypatch):
    from edgepub import localbuild

    src, out = site_folder(tmp_path), tmp_path / "out"
    build(src, out, Settings(), workers=1)
    (src / "edgepub.toml").write_bytes(CONFIG.replace(b"Field Notes", b"Renamed Notes"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(localbuild, "publish_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(src, out, Settings(), workers=1)
    monkeypatch.undo()
    report = build(src, out, Settings(), workers=1)
    assert report.site is not None and report.site.action == "published"
    assert "Renamed Notes" in (out / "plain" / "index.html").read_text()


def test_image_sizes_come_from_the_file_header():
    from edgepub.theme import image_size

    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    jpeg += b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00" + (99).to_bytes(3, "little")
    webp += (49).to_bytes(3, "little")
    assert image_size(png(3, 2)) == (3, 2)
    assert image_size(b"GIF89a\x05\x00\x07\x00") == (5, 7)
    assert image_size(jpeg) == (640, 480)
    assert image_size(webp) == (100, 50)
    assert image_size(b"\x89PNG\r\n\x1a\n") == (0, 0)  # cut short: no size, no error
    assert image_size(b"%PDF-1.7") == (0, 0)


def test_a_size_the_author_gave_is_kept():
    from edgepub.theme import rewrite_refs

    html = '<p><img src="a.png" width="10" alt="x"></p>'
    assert rewrite_refs(html, {"a.png": ("https://x/a.1.png", 5, 5)}) == (
        '<p><img src="https://x/a.1.png" width="10" alt="x"></p>'
    )


@pytest.mark.parametrize(
    "body",
    [
        "![d](diagram.png)",
        "[the data](./files/data.csv)",
        "![d][ref]\n\n[ref]: img/diagram.png",
        '<img src="diagram.png" alt="">',
        "<a href='report.pdf'>report</a>",
        "![d]( <diagram.png> )",
    ],
)
def test_every_file_reference_is_seen_before_the_body_is_rendered(body):
    from edgepub.markdown import to_html
    from edgepub.theme import might_reference_files, relative_refs

    assert relative_refs(to_html(body)) and might_reference_files(body)


def test_a_body_naming_no_relative_file_is_not_rendered_twice():
    from edgepub.theme import might_reference_files

    body = "See [docs](https://example.com/a.html), [home](/), [top](#top) and `x.png` in code.\n"
    assert not might_reference_files(body)


@given(st.text(alphabet="[]()<>!:/#.'\"= \nabcpngsrchef", max_size=80))
def test_the_quick_look_never_misses_what_the_html_references(body):
    from edgepub.markdown import to_html
    from edgepub.theme import might_reference_files, relative_refs

    assert might_reference_files(body) or not relative_refs(to_html(body))
