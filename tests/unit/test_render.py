from __future__ import annotations

import re
from html.parser import HTMLParser

from edgepub.readers import read_article
from edgepub.render import Renderer
from edgepub.settings import Settings


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def render(key: str, data: bytes) -> str:
    return Renderer(Settings(site_url="https://news.example.org")).article(read_article(key, data)).body.decode()


def dd_after(html: str, label: str) -> str:
    match = re.search(rf"<dt>{label}</dt><dd>(.*?)</dd>", html, re.S)
    assert match, f"no {label} in post-meta"
    return match.group(1)


def test_seed_004_sample_shows_post_meta_as_lists(samples):
    html = render("content/redis.json", (samples / "redis-scheduled-tasks-behind-a-cdn.json").read_bytes())
    assert dd_after(html, "Stack") == "<ul><li>redis caching</li><li>database</li><li>text</li></ul>"
    assert "<li>cache keys</li>" in dd_after(html, "Tools")
    assert "<li>review query plans</li>" in dd_after(html, "Checklist")
    assert "<li>redis caching <small>(stack)</small></li>" in dd_after(html, "Entities")
    revision = dd_after(html, "Revision")
    assert "status: drafted" in revision and "version: 1.2.7" in revision and "2026-07-01" in revision
    figures = re.findall(r"<figure>(.*?)</figure>", html, re.S)
    assert len(figures) == 3
    assert 'alt="running scheduled tasks reliably with redis caching visual reference 1"' in figures[0]
    assert "<figcaption>running scheduled tasks reliably with redis caching visual reference 1" in figures[0]
    assert '<link rel="canonical" href="https://news.example.org/redis-caching-scheduled-tasks-behind-a-cdn/">' in html
    assert 'name="robots"' not in html


def test_needs_human_review_pages_are_noindex():
    html = render("content/x.md", b"---\ntitle: t\nflags:\n  needs human review: true\n---\nbody\n")
    assert '<meta name="robots" content="noindex">' in html


def test_script_and_javascript_links_are_removed():
    html = render(
        "content/x.md",
        b"---\ntitle: t\n---\n<script>alert('x')</script>\n\n[click](javascript:alert(1)) "
        b'<img src=x onerror="alert(2)"> <a href="javascript:alert(3)">raw</a>\n',
    )
    body = html.split('<div class="body">', 1)[1].split("</div>", 1)[0]
    assert "<script" not in body.lower()
    assert "javascript:" not in body.lower()
    assert "onerror" not in body.lower()


def test_template_syntax_in_articles_is_text_not_code():
    html = render(
        "content/x.md",
        b"---\ntitle: '{{ 7*7 }} title'\nsummary: '{% raw %}'\n---\n"
        b"{{ 7*7 }} and {% include 'base.html' %} and {# c #}\n",
    )
    assert "{{ 7*7 }}" in html
    assert "{% include 'base.html' %}" in html or "{% include &#39;base.html&#39; %}" in html
    assert "49" not in html
    assert html.count("<!doctype html>") == 1  # the include did not run


def test_html_in_title_is_escaped():
    html = render("content/x.md", b"---\ntitle: '<b>bold</b> & co'\n---\n")
    assert "<h1>&lt;b&gt;bold&lt;/b&gt; &amp; co</h1>" in html


def test_rendering_is_deterministic(samples):
    data = (samples / "purge-only-what-changed.md").read_bytes()
    assert render("content/a.md", data) == render("content/a.md", data)


def test_markup_is_wellformed_enough_to_parse(samples):
    parser = _Collector()
    parser.feed(render("content/redis.json", (samples / "redis-scheduled-tasks-behind-a-cdn.json").read_bytes()))
    tags = [t for t, _ in parser.tags]
    for element in ("html", "head", "main", "article", "aside", "figure", "figcaption", "time", "section"):
        assert element in tags
