"""The site that `make check-pages` builds beside samples/: a source folder laid
out as the user's sources bucket (issue 13),

    edgepub.toml             title, description, base_url, language, favicon, publisher
    content/*.md             articles from the benchmark corpus (tests/performance/corpus.py),
                             with code blocks, tables, task lists, images, aliases (redirect
                             pages), a multi-word tag, lastmod and a noindex article mixed in
    content/<bundle>/        a page bundle: index.md and diagram.png (a real PNG)
    theme/templates/         template overrides: see THEME_TEMPLATES (the hook)
    theme/static/            the site's own assets: favicon.svg, logo.png, css/site.css

An edgepub that does not read this layout yet builds the folder as content
alone: the articles (and the bundle's index.md) still build, edgepub.toml and
the theme are ignored, and the gate says so ("site config applied: no")."""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from tests.performance.corpus import article

TITLE = "Pages gate corpus"
DESCRIPTION = "A generated site that make check-pages builds and checks: articles, tags, archives and a page bundle."
BUNDLE = "diagram-bundle"

# HOOK (issue 13, theme overrides): templates written to theme/templates/, by name, over
# the built-in theme. Not required yet; once `theme/templates/` is read, add an override
# of the base template here so the gate checks a custom theme too, e.g.
#     "base.html": '{% extends "builtin/base.html" %}...'  (whatever form the override takes)
# and list in its markup a marker that check_pages can look for on the home page.
THEME_TEMPLATES: dict[str, str] = {
    # the site's own frame around every page: its stylesheet after the built-in one, its footer note
    "base.html": (
        '{% extends "builtin/base.html" %}\n'
        "{% block styles %}{{ super() }}\n"
        '<link rel="stylesheet" href="{{ site.asset(\'css/site.css\') }}">\n{% endblock %}\n'
        '{% block footer %}<p class="theme-note">{{ site.footer }} (a custom theme)</p>{% endblock %}\n'
    ),
}
THEME_MARKER = '<p class="theme-note">'  # check_pages looks for it on the home page

FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#0969da"/>'
    '<path d="M4 4h8v2H6v1h5v2H6v1h6v2H4z" fill="#fff"/></svg>\n'
)


SITE_CSS = ".theme-note{border-left:4px solid #0969da;padding:.25rem .75rem}\n"


@dataclass
class Corpus:
    root: Path
    base_url: str
    bundle_slug: str = BUNDLE
    redirects: dict[str, str] = field(default_factory=dict)  # alias path -> article path
    articles: int = 0


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG (8-bit RGB, one colour with a darker border), written by hand: no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    dark = bytes(c // 2 for c in rgb)
    rows = b""
    for y in range(height):
        row = b"".join(dark if y in (0, height - 1) or x in (0, width - 1) else bytes(rgb) for x in range(width))
        rows += b"\x00" + row  # filter type 0 (None) for each scanline
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def _front(meta: dict[str, object], body: str) -> str:
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n{body}"


CODE = [
    (
        "sh",
        "curl -sI https://www.example.com/articles/purge-only-what-changed/ "
        "-H 'Accept-Encoding: br' | grep -iE '^(cf-cache-status|age|cache-control|etag|last-modified):'",
    ),
    (
        "python",
        "def purge(urls: list[str], batch: int = 30) -> None:\n"
        "    for start in range(0, len(urls), batch):\n"
        "        client.purge_cache(zone_id=ZONE, files=urls[start:start + batch])  # one call per 30 URLs",
    ),
    ("yaml", "cache:\n  edge_ttl: 31536000\n  browser_ttl: 300\n  stale_if_error: 86400"),
    ("", "plain preformatted text without a language, long enough to overflow a phone screen: " + "x" * 60),
]


def _extras(i: int) -> str:
    """Markdown that the benchmark corpus lacks, one kind or two per article by its number."""
    parts = []
    if i % 7 in (0, 4):
        lang, code = CODE[i % len(CODE)]
        parts.append(f"## commands\n\nRun `{lang or 'it'}` as below.\n\n```{lang}\n{code}\n```")
    if i % 7 in (1, 4):
        parts.append(
            "## measurements\n\n"
            "| route | before ms | after ms | change |\n"
            "|:--|--:|--:|:-:|\n"
            f"| `/` | {100 + i % 50} | {40 + i % 20} | faster |\n"
            f"| `/tags/` | {90 + i % 30} | {35 + i % 10} | faster |\n"
        )
    if i % 7 in (2, 5):
        parts.append("## follow-up\n\n- [x] measured before the change\n- [ ] purged only the affected route\n")
    if i % 7 == 6:
        parts.append(
            "## notes\n\n> Measure first, then change one thing.\n\n"
            "1. open the dashboard\n2. press <kbd>Ctrl</kbd>+<kbd>R</kbd>\n\n"
            "See [the purge guide](https://developers.cloudflare.com/cache/how-to/purge-cache/)."
        )
    return "\n\n".join(parts)


def write(root: Path, base_url: str, count: int = 240, seed: int = 13) -> Corpus:
    """Write the site into `root` (which should be empty) and say what it holds."""
    corpus = Corpus(root=root, base_url=base_url)
    rng = random.Random(seed)
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    (root / "edgepub.toml").write_text(
        f'title = "{TITLE}"\n'
        f'description = "{DESCRIPTION}"\n'
        f'base_url = "{base_url}"\n'
        'language = "en"\n'
        'favicon = "favicon.svg"\n'
        "\n[publisher]\n"
        'name = "edgepub check-pages"\n'
        'logo = "logo.png"\n',
        encoding="utf-8",
    )
    templates = root / "theme" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    for name, text in THEME_TEMPLATES.items():
        (templates / name).write_text(text, encoding="utf-8")
    static = root / "theme" / "static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "favicon.svg").write_text(FAVICON_SVG, encoding="utf-8")
    (static / "logo.png").write_bytes(png(60, 60, (9, 105, 218)))
    (static / "css").mkdir()
    (static / "css" / "site.css").write_text(SITE_CSS, encoding="utf-8")  # published: vnu checks it as CSS

    for i in range(count):
        meta, body = article(i, rng)
        slug = f"article-{i:06d}"
        # Off-site images would only be refused by this machine's closed network: one
        # article in seven keeps a figure (its request is blocked and listed, not failed).
        images = meta.pop("images")
        if i % 7 == 3 and isinstance(images, list):
            meta["images"] = [{**images[0], "url": f"https://images.example.com/{slug}.png", "alt": "a chart"}]
        tags = meta["tags"]
        if i % 5 == 0 and isinstance(tags, list):
            meta["tags"] = [*tags, "scheduled tasks"]
        if i % 4 == 2:
            meta["lastmod"] = (datetime.fromisoformat(str(meta["date"])) + timedelta(days=3)).isoformat()
        if i % 60 == 7:
            meta["flags"] = {"needs human review": True}
        if i in (3, 11):
            alias = f"/old/article-{i}/" if i == 3 else "/2020/01/legacy-post/"
            meta["aliases"] = [alias]
            corpus.redirects[alias] = f"/{slug}/"
        extras = _extras(i)
        (content / f"{slug}.md").write_text(_front(meta, body + ("\n" + extras + "\n" if extras else "")), "utf-8")
    corpus.articles = count

    bundle = content / BUNDLE
    bundle.mkdir()
    (bundle / "diagram.png").write_bytes(png(64, 32, (46, 160, 67)))
    (bundle / "index.md").write_text(
        _front(
            {
                "title": "A page bundle: an article with its own diagram",
                "slug": BUNDLE,
                "date": "2021-06-01T09:00:00+00:00",
                "tags": ["bundles", "images"],
                "summary": "An article folder with index.md and the image it shows, published beside it.",
            },
            "The diagram below lives next to this article, in the same folder.\n\n"
            "![Sources flow from the bucket through the queue to the pages](diagram.png)\n\n"
            'With its size given: <img src="diagram.png" alt="The same diagram, 64 by 32 pixels" '
            'width="64" height="32">\n',
        ),
        "utf-8",
    )
    corpus.articles += 1
    return corpus
