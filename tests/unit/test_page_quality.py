"""Pages worth shipping: what the HTML checker, axe and Lighthouse look for, checked on
rendered pages without a server or a browser (lxml parses them).

JSON-LD and Open Graph, a description and a favicon on every page, code blocks the
checker accepts, focusable scroll regions, labelled task lists, unique heading ids, no
obsolete attributes, and article text that stays data however hostile it is.
"""

from __future__ import annotations

import json
import time
from typing import Any

import lxml.html
import pytest
from edgepub.markdown import first_paragraph, to_html
from edgepub.plan import Layout, PageRef
from edgepub.readers import read_article
from edgepub.render import Renderer
from edgepub.settings import Settings
from edgepub.site import SiteModel
from edgepub.siteconfig import MenuItem, SiteConfig
from edgepub.theme import SiteSpec

URL = "https://news.example.org"
HOSTILE = "</script><script>alert(1)</script> \"double\" 'single' & <b>bold</b>"

CONFIG = SiteConfig(
    title="Field Notes",
    description="Notes from the field.",
    language="en-GB",
    publisher_name="Field Notes Ltd",
    publisher_logo="https://cdn.example.org/logo.png",
    favicon="https://cdn.example.org/favicon.svg",
    share_image="https://cdn.example.org/share.png",
    menu=(MenuItem("About", "/about/"), MenuItem("Source", "https://git.example.org/notes")),
    social=(("twitter", "fieldnotes"),),
    footer="Copyright Field Notes Ltd.",
    date_format="%d %B %Y",
)

BODY = b"""---
title: Caching at the edge
summary: How the edge cache decides.
date: 2026-06-14T09:00:00Z
lastmod: 2026-07-01T10:30:00Z
owner: Ada
tags: [redis caching, CDN]
---
# Intro

## Setup

```sh
echo "hi"
```

```
plain
```

## Setup

- [ ] write the *rule*
- [x] test it
  - [ ] nested

1. [ ] loose

2. [x] loose too

| left | centre | right |
|:-----|:------:|------:|
| 1    | 2      | 3     |

<img src="https://cdn.example.org/a.png" width="640" height="360" alt="diagram">
<img src="https://cdn.example.org/b.png" width="100%" height="1e3" alt="bad sizes">

## Similar posts

<h2 id="similar-posts">raw heading</h2>
<pre lang="sh">raw</pre>
<td align="center" style="color: red; text-align: left">x</td>
<input type="text" value="raw input">
"""


def renderer(config: SiteConfig | None = None) -> Renderer:
    return Renderer(Settings(site_url=URL), SiteSpec(config=config) if config else SiteSpec())


def article_html(data: bytes = BODY, config: SiteConfig | None = CONFIG, key: str = "content/edge.md") -> str:
    return renderer(config).article(read_article(key, data)).body.decode()


def parse(html: str) -> Any:
    return lxml.html.document_fromstring(html)


def meta(doc: Any, name: str) -> list[str]:
    found = doc.xpath(f'//meta[@property="{name}"]/@content') + doc.xpath(f'//meta[@name="{name}"]/@content')
    return [str(v) for v in found]


def jsonld(doc: Any) -> dict[str, dict[str, Any]]:
    blocks = [json.loads(s.text) for s in doc.xpath('//script[@type="application/ld+json"]')]
    for block in blocks:
        assert block["@context"] == "https://schema.org"
    return {b["@type"]: b for b in blocks}


def body_of(doc: Any) -> Any:
    return doc.xpath('//div[@class="body"]')[0]


# -- head: metadata ----------------------------------------------------------------------------


def test_article_json_ld_has_blog_posting_and_breadcrumbs():
    doc = parse(article_html())
    ld = jsonld(doc)
    post = ld["BlogPosting"]
    url = f"{URL}/edge/"
    assert post["headline"] == "Caching at the edge"
    assert post["description"] == "How the edge cache decides."
    assert post["datePublished"] == "2026-06-14T09:00:00+00:00"
    assert post["dateModified"] == "2026-07-01T10:30:00+00:00"
    assert post["author"] == {"@type": "Person", "name": "Ada"}
    assert post["publisher"]["@type"] == "Organization" and post["publisher"]["name"] == "Field Notes Ltd"
    assert post["publisher"]["logo"] == {"@type": "ImageObject", "url": "https://cdn.example.org/logo.png"}
    assert post["image"] == ["https://cdn.example.org/a.png"]  # the body's first image; no front-matter images
    assert post["keywords"] == ["redis-caching", "cdn"]
    assert post["mainEntityOfPage"] == {"@type": "WebPage", "@id": url}
    assert post["url"] == url and post["inLanguage"] == "en-GB"
    crumbs = ld["BreadcrumbList"]["itemListElement"]
    assert [(c["position"], c["name"], c["item"]) for c in crumbs] == [
        (1, "Home", f"{URL}/"),
        (2, "redis-caching", f"{URL}/tags/redis-caching/"),
        (3, "Caching at the edge", url),
    ]


def test_json_ld_without_owner_tags_or_images_names_the_publisher_and_share_image():
    doc = parse(article_html(b"---\ntitle: Bare\n---\nJust text.\n"))
    post = jsonld(doc)["BlogPosting"]
    assert post["author"]["@type"] == "Organization" and post["author"]["name"] == "Field Notes Ltd"
    assert post["image"] == ["https://cdn.example.org/share.png"]
    assert "keywords" not in post and "datePublished" not in post
    assert post["description"] == "Just text."  # no summary: the first paragraph
    crumbs = jsonld(doc)["BreadcrumbList"]["itemListElement"]
    assert [c["name"] for c in crumbs] == ["Home", "Bare"]


def test_front_matter_image_is_the_share_image_of_its_article():
    data = b"---\ntitle: Pics\nimages:\n  - url: https://img.example.org/one.png\n    alt: one\n---\ntext\n"
    doc = parse(article_html(data))
    assert meta(doc, "og:image") == ["https://img.example.org/one.png"]
    assert meta(doc, "twitter:image") == ["https://img.example.org/one.png"]
    assert jsonld(doc)["BlogPosting"]["image"] == ["https://img.example.org/one.png"]


def test_article_open_graph_and_twitter_card_are_complete():
    doc = parse(article_html())
    url = f"{URL}/edge/"
    assert meta(doc, "og:title") == ["Caching at the edge"]
    assert meta(doc, "og:description") == ["How the edge cache decides."]
    assert meta(doc, "og:url") == [url]
    assert meta(doc, "og:type") == ["article"]
    assert meta(doc, "og:site_name") == ["Field Notes"]
    assert meta(doc, "og:locale") == ["en_GB"]
    assert meta(doc, "og:image") == ["https://cdn.example.org/a.png"]
    assert meta(doc, "article:published_time") == ["2026-06-14T09:00:00+00:00"]
    assert meta(doc, "article:modified_time") == ["2026-07-01T10:30:00+00:00"]
    assert meta(doc, "article:tag") == ["redis-caching", "cdn"]
    assert meta(doc, "twitter:card") == ["summary_large_image"]
    assert meta(doc, "twitter:site") == ["@fieldnotes"]
    assert meta(doc, "twitter:title") == ["Caching at the edge"]
    assert meta(doc, "twitter:description") == ["How the edge cache decides."]
    assert meta(doc, "description") == ["How the edge cache decides."]
    assert doc.xpath('//link[@rel="canonical"]/@href') == [url]
    assert doc.xpath("//title/text()") == ["Caching at the edge - Field Notes"]


def test_without_a_share_image_the_twitter_card_is_a_summary():
    doc = parse(article_html(b"---\ntitle: Bare\n---\nJust text.\n", config=None))
    assert meta(doc, "twitter:card") == ["summary"]
    assert meta(doc, "og:image") == [] and meta(doc, "twitter:site") == []


def site_pages(config: SiteConfig | None) -> dict[str, str]:
    r = renderer(config)
    model, layout = SiteModel(), Layout()
    pages = {
        "article": r.article(read_article("content/edge.md", BODY)),
        "404": r.not_found(),
        "home": r.site_page(PageRef("home", ()), model, layout),
        "tags": r.site_page(PageRef("tags", ()), model, layout),
    }
    return {kind: page.body.decode() for kind, page in pages.items()}


@pytest.mark.parametrize("config", [CONFIG, None], ids=["configured", "bare"])
def test_every_page_has_a_description_favicon_open_graph_and_the_configured_footer(config):
    for kind, html in site_pages(config).items():
        doc = parse(html)
        description = meta(doc, "description")
        assert len(description) == 1 and description[0].strip(), kind
        assert meta(doc, "og:description") == description == meta(doc, "twitter:description"), kind
        for name in ("og:title", "og:type", "og:site_name", "og:locale", "twitter:card"):
            assert len(meta(doc, name)) == 1, (kind, name)
        icons = doc.xpath('//link[@rel="icon"]')
        assert len(icons) == 1, kind
        if config:
            assert icons[0].get("href") == "https://cdn.example.org/favicon.svg"
            assert icons[0].get("type") == "image/svg+xml"
            assert doc.xpath("//footer//text()[normalize-space()]") == ["Copyright Field Notes Ltd."], kind
        else:
            assert icons[0].get("href") == "data:,"  # no request for /favicon.ico (a 404)
            assert doc.xpath("//footer//text()[normalize-space()]") == ["edgepub"], kind
        assert "Published with edgepub" not in html, kind
        assert doc.xpath('//link[@rel="alternate"][@type="application/atom+xml"]/@href') == [f"{URL}/feed.xml"]
        assert doc.xpath("//html/@lang") == (["en-GB"] if config else ["en"])
        assert len(doc.xpath("//main")) == 1 and len(doc.xpath("//h1")) == 1, kind


def test_home_description_and_the_404_page():
    pages = site_pages(CONFIG)
    assert meta(parse(pages["home"]), "description") == ["Notes from the field."]
    missing = parse(pages["404"])
    assert missing.xpath('//link[@rel="canonical"]') == []  # not a copy of the home page
    assert meta(missing, "robots") == ["noindex"]


def test_menu_is_a_labelled_nav_list_with_site_paths_made_absolute():
    doc = parse(article_html())
    nav = doc.xpath('//header//nav[@aria-label="Site"]')[0]
    assert [(a.text, a.get("href")) for a in nav.xpath(".//li/a")] == [
        ("About", f"{URL}/about/"),
        ("Source", "https://git.example.org/notes"),
    ]
    assert doc.xpath('//header/a[@class="brand"]/@href') == [f"{URL}/"]


def test_rendering_is_deterministic():
    assert article_html() == article_html()


# -- body: markup the checker and axe accept -------------------------------------------------


def test_fenced_code_has_a_language_class_and_no_lang_attribute():
    html = article_html()
    doc = parse(html)
    assert doc.xpath("//*[@lang]") == doc.xpath("/html")  # lang is for language tags: only on <html>
    assert " lang=" not in html.split("<html", 1)[1].split(">", 1)[1]
    codes = body_of(doc).xpath(".//pre/code")
    assert [c.get("class") for c in codes] == ["language-sh", None]


def test_every_pre_is_keyboard_focusable():
    pres = body_of(parse(article_html())).xpath(".//pre")
    assert len(pres) == 3 and all(p.get("tabindex") == "0" for p in pres)


def test_task_list_checkboxes_are_labelled_and_disabled():
    doc = parse(article_html())
    boxes = body_of(doc).xpath(".//input")
    assert len(boxes) == 5  # the raw <input type="text"> is text, not a control
    for box in boxes:
        assert box.get("type") == "checkbox" and box.get("disabled") is not None
        label = box.getparent()
        assert label.tag == "label" and label.text_content().strip(), lxml.html.tostring(label)
    assert [b.get("checked") is not None for b in boxes] == [False, True, False, False, True]
    assert "&lt;input type" in article_html()


def test_heading_ids_are_unique_slugs_and_raw_ids_are_dropped():
    doc = parse(article_html())
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids))
    headings = body_of(doc).xpath(".//h2")
    assert [h.get("id") for h in headings] == ["intro", "setup", "setup-1", "similar-posts-1", None]
    assert doc.xpath("//h1/text()") == ["Caching at the edge"]  # the title is the one h1


def test_tables_align_with_text_align_not_the_obsolete_attribute():
    html = article_html()
    doc = parse(html)
    assert doc.xpath("//*[@align]") == [] and " align=" not in html
    cells = body_of(doc).xpath(".//table//th")
    assert [c.get("style") for c in cells] == ["text-align:left", "text-align:center", "text-align:right"]
    styles = body_of(doc).xpath(".//@style")
    assert all(s.startswith("text-align:") and ";" not in s for s in styles)  # nothing but text-align


def test_images_keep_numeric_width_and_height():
    imgs = body_of(parse(article_html())).xpath(".//img")
    assert [(i.get("width"), i.get("height")) for i in imgs] == [("640", "360"), (None, None)]


def test_front_matter_images_without_sizes_reserve_no_space():
    article = read_article("content/x.md", b"---\ntitle: t\nimages: [https://img.example.org/a.png]\n---\n")
    plain = parse(renderer(CONFIG).article(article).body.decode()).xpath('//section[@class="figures"]//img')[0]
    assert plain.get("width") is None  # sized ones: test_front_matter_image_sizes_reach_the_img_and_bad_ones_are_named


def test_tags_show_in_their_one_form_without_a_hash():
    doc = parse(article_html())
    tags = doc.xpath('//p[@class="tags"]/a')
    assert [(a.text, a.get("href")) for a in tags] == [
        ("redis-caching", f"{URL}/tags/redis-caching/"),
        ("cdn", f"{URL}/tags/cdn/"),
    ]
    assert "#" not in "".join(a.text for a in tags)


def test_byline_dates_use_the_configured_format_and_keep_iso_datetime():
    doc = parse(article_html())
    times = doc.xpath('//p[@class="byline"]/time')
    assert [(t.get("datetime"), t.text) for t in times] == [
        ("2026-06-14T09:00:00+00:00", "14 June 2026"),
        ("2026-07-01T10:30:00+00:00", "01 July 2026"),
    ]


# -- hostile text stays text -----------------------------------------------------------------


def hostile_doc() -> tuple[str, Any]:
    title = HOSTILE.replace('"', '\\"')
    data = f'---\ntitle: "{title}"\nsummary: "{title}"\nowner: "{title}"\ntags: ["{title}"]\n---\n## {HOSTILE}\n'
    html = article_html(data.encode("utf-8"))
    return html, parse(html)


def test_hostile_title_and_summary_cannot_leave_the_json_ld_script():
    html, doc = hostile_doc()
    scripts = doc.xpath("//script")
    assert [s.get("type") for s in scripts] == ["application/ld+json", "application/ld+json"]
    assert "alert(1)</script>" not in html
    post = jsonld(doc)["BlogPosting"]
    assert post["headline"] == HOSTILE and post["description"] == HOSTILE
    assert post["author"]["name"] == HOSTILE
    assert jsonld(doc)["BreadcrumbList"]["itemListElement"][-1]["name"] == HOSTILE
    for script in scripts:  # tojson escapes what could end the script or open a comment
        assert "<" not in script.text and ">" not in script.text and "&" not in script.text


def test_hostile_title_and_summary_cannot_leave_their_attributes():
    _, doc = hostile_doc()
    for name in ("og:title", "twitter:title", "description", "og:description", "twitter:description"):
        assert meta(doc, name) == [HOSTILE], name
    assert doc.xpath("//h1")[0].text_content() == HOSTILE
    assert doc.xpath("//head//b | //h1//b") == []  # markup in a title is text
    heading = body_of(doc).xpath(".//h2")[0]
    assert heading.get("id") == "script-script-alert-1-script-double-single-bold"


# -- the redirect page -----------------------------------------------------------------------


def test_redirect_page_is_a_valid_accessible_page():
    r = renderer(CONFIG)
    page = r.site_page(PageRef("redirect", ("/old/", "/new/")), SiteModel(), Layout())
    doc = parse(page.body.decode())
    target = f"{URL}/new/"
    assert page.redirect_to == target
    assert doc.xpath("//html/@lang") == ["en-GB"]
    assert doc.xpath('//meta[@name="viewport"]/@content') == ["width=device-width, initial-scale=1"]
    assert doc.xpath("//title/text()")[0].strip()
    assert meta(doc, "robots") == ["noindex"]
    assert doc.xpath('//link[@rel="canonical"]/@href') == [target]
    assert doc.xpath('//meta[@http-equiv="refresh"]/@content') == [f"0; url={target}"]
    assert doc.xpath("//main/h1") and doc.xpath("//main//a/@href") == [target]


# -- the macros the listing pages use --------------------------------------------------------


def test_website_and_breadcrumb_macros_render_json_ld():
    r = renderer(CONFIG)
    template = r.env.from_string(
        '{% from "_macros.html" import ld_website, ld_breadcrumbs %}'
        "{{ ld_website(site) }}{{ ld_breadcrumbs(site, [(tag, '/tags/x/')]) }}"
    )
    doc = parse(f"<html><head>{template.render(site=r.site, tag=HOSTILE)}</head></html>")
    ld = jsonld(doc)
    site = ld["WebSite"]
    assert site["name"] == "Field Notes" and site["url"] == f"{URL}/" and site["inLanguage"] == "en-GB"
    assert site["description"] == "Notes from the field."
    assert site["publisher"]["logo"]["url"] == "https://cdn.example.org/logo.png"
    crumbs = ld["BreadcrumbList"]["itemListElement"]
    assert [(c["name"], c["item"]) for c in crumbs] == [("Home", f"{URL}/"), (HOSTILE, f"{URL}/tags/x/")]


# -- markdown on its own ---------------------------------------------------------------------


def test_sanitizer_allow_list_stays_narrow():
    html = to_html(
        '<p style="color:red" onclick="x()" lang="sh" title="t" id="i" class="c">a</p>'
        '<td style="text-align: right; position: fixed">b</td>'
        '<code class="language-py evil">c</code><img src="https://x.example/i.png" loading="bogus">'
        '<h3 id="mine">own id</h3><pre tabindex="-1">d</pre>'
    )
    assert html == (
        "<p>a</p>b"
        '<code class="language-py">c</code><img src="https://x.example/i.png">'
        '<h3>own id</h3><pre tabindex="0">d</pre>\n'
    )


def test_empty_task_item_is_shown_as_text():
    assert to_html("- [ ] \n- [x] done\n").startswith("<ul>\n<li>[ ] </li>")


def test_first_paragraph_is_plain_text_cut_at_a_word():
    body = to_html("## h\n\n```\ncode\n```\n\nA *long* " + "word " * 50 + "\n")
    text = first_paragraph(body)
    assert text.startswith("A long word word") and text.endswith("…") and len(text) <= 160
    assert first_paragraph(to_html("Short &amp; <b>sweet</b>.")) == "Short & sweet."


def test_unclosed_headings_and_task_marks_cost_one_pass():
    # each used to scan to the end of the body: 20,000 of them took minutes
    hostile = "<div>\n" + '<li><input type="checkbox" disabled="" /> x' * 20_000 + "<h2>y" * 20_000 + "\n"
    started = time.perf_counter()
    to_html(hostile)
    assert time.perf_counter() - started < 5


def test_front_matter_image_sizes_reach_the_img_and_bad_ones_are_named():
    from edgepub.errors import InvalidSource
    from edgepub.readers import read_article
    from edgepub.render import Renderer
    from edgepub.settings import Settings

    head = b"---\ntitle: T\nimages:\n  - url: https://e.example/a.png\n"
    article = read_article("content/x.md", head + b"    width: 640\n    height: 480\n---\nbody\n")
    html = Renderer(Settings()).article(article).body.decode()
    assert 'src="https://e.example/a.png" alt="" width="640" height="480"' in html
    with pytest.raises(InvalidSource, match=r"images\[0\]\.width .*whole number"):
        read_article("content/x.md", head + b"    width: wide\n    height: 480\n---\nbody\n")
