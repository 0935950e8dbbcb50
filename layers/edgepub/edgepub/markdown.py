"""Markdown to safe HTML: cmarkgfm (GitHub's C CommonMark) then nh3 (ammonia).

cmark's own safe mode drops a raw HTML block whole, text and all, so a `<div>`
around a paragraph lost the paragraph. cmark therefore passes raw HTML through
and nh3 is the one sanitizer, with an allow-list of tags, attributes and URL
schemes: it unwraps what it does not allow and keeps the text inside (only
script and style lose their content), and drops javascript: and data: URLs.

Between the two, cmark's own markup is shaped for validators and assistive
technology: h2-h6 get ids (the page's h1 is the title), task-list checkboxes are
wrapped in a label with their text, table alignment becomes `text-align` (the
`align` attribute is obsolete). nh3 sees all of it and has the last word: these
steps add nothing it does not allow, and an id survives only when it carries
this call's random mark (so an article's raw `<h2 id=...>` cannot take one).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Collection

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options as CmarkOptions

from edgepub.article import slugify

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "kbd",
    "label",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
}
_ATTRIBUTES = {
    "*": set(),  # not ammonia's default lang and title on every tag: `lang` is for language tags
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},  # loading: lazy or eager
    "code": {"class"},  # language-x only (_attribute)
    "td": {"style"},  # text-align only (filter_style_properties, _attribute)
    "th": {"style"},
    "ol": {"start"},
    "input": {"checked"},  # type: checkbox only; always disabled
    **{f"h{n}": {"id"} for n in range(2, 7)},  # ids this module made only (_attribute)
}
_ATTRIBUTE_VALUES = {"input": {"type": {"checkbox"}}, "img": {"loading": {"lazy", "eager"}}}
# A scrolling <pre> must be reachable by keyboard (axe scrollable-region-focusable);
# a checkbox in an article is a task list's mark, never a control.
_SET_ATTRIBUTES = {"pre": {"tabindex": "0"}, "input": {"disabled": ""}}
_URL_SCHEMES = {"http", "https", "mailto"}
# No smart punctuation: technical text ("--flag", quotes in commands) must stay as typed.
# Fenced code gets <code class="language-x"> (not <pre lang="x">, which is not a language tag).
_OPTIONS = CmarkOptions.CMARK_OPT_UNSAFE
_GFM = ["table", "autolink", "tagfilter", "strikethrough", "tasklist"]  # what GitHub uses

# Ids the built-in article page uses itself; a heading gets "similar-posts-1" instead.
RESERVED_IDS = frozenset({"main", "content", "similar-posts", "post-meta", "figures"})

# The text of a heading stops at the next heading tag, so a page of unclosed <h2>s costs
# one pass, not one pass per tag (likewise a task's text stops at the next <li>).
_HEADING = re.compile(r"<h([1-6])>((?:[^<]++|<(?!/?h[1-6][\s>/]))*+)</h\1>")
_TAGS_IN_TEXT = re.compile(r"<[^>]*>")
# cmark's task item: the checkbox, then (in a loose list) the first paragraph, then the
# item's inline text up to the first block boundary.
_TASK = re.compile(
    r'<li><input type="checkbox" (?P<checked>checked="" )?disabled="" /> ?(?P<para>\n<p>)?'
    r"(?P<text>.*?)(?=</p>|</?li[\s>/]|\n<(?:ul|ol|p|div|pre|blockquote|table|h[1-6]|hr|dl|figure)[\s>/])",
    re.S,
)
_TASK_MARK = re.compile(r'<li><input type="checkbox" (?:checked="" )?disabled="" /> ?')
_RAW_INPUT = re.compile(r"<input(?=[\s/>]|$)", re.I)  # any other <input is shown as text
_ALIGN = re.compile(r'<(t[dh]) align="(left|center|right)">')
_TEXT_ALIGN = re.compile(r"^text-align:\s*(left|center|right|start|end|justify)$")
_CODE_CLASS = re.compile(r"^language-[A-Za-z0-9_+#.-]{1,50}$")
_DIMENSION = re.compile(r"^[0-9]{1,5}$")


def to_html(markdown_text: str, reserved_ids: Collection[str] = RESERVED_IDS) -> str:
    """Render Markdown to sanitized HTML. A top-level "# h1" is demoted: the page has one h1, the title."""
    raw = cmarkgfm.markdown_to_html_with_extensions(markdown_text, options=_OPTIONS, extensions=_GFM)
    mark = "h" + secrets.token_hex(8) + "-"
    raw = _shape(raw, mark, reserved_ids)
    return nh3.clean(
        raw,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter(mark),
        tag_attribute_values=_ATTRIBUTE_VALUES,
        set_tag_attribute_values=_SET_ATTRIBUTES,
        filter_style_properties={"text-align"},
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _shape(raw: str, mark: str, reserved_ids: Collection[str]) -> str:
    """cmark's markup as the page wants it, before nh3 sanitizes it."""
    used = set(reserved_ids)

    def heading(match: re.Match[str]) -> str:
        level = max(int(match.group(1)), 2)
        text = html.unescape(_TAGS_IN_TEXT.sub("", match.group(2)))
        base = slugify(text) or "section"
        anchor, n = base, 0
        while anchor in used:
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        return f'<h{level} id="{mark}{anchor}">{match.group(2)}</h{level}>'

    def task(match: re.Match[str]) -> str:
        para = "<p>" if match.group("para") else ""
        text = match.group("text")
        if not _TAGS_IN_TEXT.sub("", text).strip():  # nothing to label it with: text, as cmark shows "- [ ]"
            return f"<li>{para}[{'x' if match.group('checked') else ' '}] {text}"
        checked = "checked " if match.group("checked") else ""
        return f"<li>{para}<label>\x00TASK {checked}\x00 {text}</label>"

    raw = _HEADING.sub(heading, raw)
    raw = _TASK.sub(task, raw)
    raw = _TASK_MARK.sub("<li>", raw)  # a task mark _TASK did not take (no boundary found): text only
    raw = _RAW_INPUT.sub(lambda m: "&lt;" + m.group(0)[1:], raw)
    raw = raw.replace("\x00TASK checked \x00", '<input type="checkbox" checked>')
    raw = raw.replace("\x00TASK \x00", '<input type="checkbox">')
    return _ALIGN.sub(r'<\1 style="text-align: \2">', raw)


def _attribute_filter(mark: str) -> Callable[[str, str, str], str | None]:
    def keep(tag: str, attr: str, value: str) -> str | None:
        if attr == "id":  # headings: only the ids _shape made
            return value.removeprefix(mark) if value.startswith(mark) else None
        if attr == "style":
            return value if _TEXT_ALIGN.match(value) else None
        if tag == "code" and attr == "class":
            first = value.split()[0] if value.split() else ""
            return first if _CODE_CLASS.match(first) else None
        if attr in ("width", "height"):
            return value if _DIMENSION.match(value) else None
        return value

    return keep


_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_IMG_SRC = re.compile(r'<img\b[^>]*?\ssrc="(https?://[^"]+)"')


def first_paragraph(body_html: str, limit: int = 160) -> str:
    """The first paragraph of a sanitized body as plain text, cut at a word to at most
    `limit` characters: a page's description when the article has no summary."""
    for match in _PARAGRAPH.finditer(body_html):
        text = " ".join(html.unescape(_TAGS_IN_TEXT.sub("", match.group(1))).split())
        if text:
            if len(text) <= limit:
                return text
            return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.-") + "…"
    return ""


def first_image(body_html: str) -> str:
    """The first image of a sanitized body with an absolute http(s) URL, or ""."""
    match = _IMG_SRC.search(body_html)
    return html.unescape(match.group(1)) if match else ""
