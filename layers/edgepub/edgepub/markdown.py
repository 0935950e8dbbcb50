"""Markdown to safe HTML: cmarkgfm (GitHub's C CommonMark) then nh3 (ammonia).

cmark's own safe mode drops a raw HTML block whole, text and all, so a `<div>`
around a paragraph lost the paragraph. cmark therefore passes raw HTML through
and nh3 is the one sanitizer, with an allow-list of tags, attributes and URL
schemes: it unwraps what it does not allow and keeps the text inside (only
script and style lose their content), and drops javascript: and data: URLs.
"""

from __future__ import annotations

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options as CmarkOptions

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
    "kbd",
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
    "input",
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "code": {"class"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    "input": {"type", "checked", "disabled"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
# No smart punctuation: technical text ("--flag", quotes in commands) must stay as typed.
# Fenced code gets <code class="language-x"> (not <pre lang="x">, which is not a language tag).
_OPTIONS = CmarkOptions.CMARK_OPT_UNSAFE
_GFM = ["table", "autolink", "tagfilter", "strikethrough", "tasklist"]  # what GitHub uses


def to_html(markdown_text: str) -> str:
    """Render Markdown to sanitized HTML. A top-level "# h1" is demoted: the page has one h1, the title."""
    raw = cmarkgfm.markdown_to_html_with_extensions(markdown_text, options=_OPTIONS, extensions=_GFM)
    raw = raw.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        raw,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
