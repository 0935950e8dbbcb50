"""Rendering: articles and site pages to Page objects with Jinja2.

One Environment per process: templates compile once and are cached. Article
text only ever reaches templates as data (autoescaped, or sanitized HTML marked
safe); it is never compiled as a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import jinja2
from markupsafe import Markup

from edgepub.article import Article, slugify
from edgepub.markdown import to_html
from edgepub.pages import HTML, Page
from edgepub.settings import Settings


class Linkable(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def title(self) -> str: ...


@dataclass(frozen=True)
class SiteInfo:
    url: str
    title: str
    language: str = "en"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("edgepub", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = slugify
    return env


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.site = SiteInfo(url=settings.site_url, title=settings.site_title)
        self.env = environment()

    def url(self, path: str) -> str:
        return self.site.url + path

    def article(self, article: Article, similar: Sequence[Linkable] = (), notice: str = "") -> Page:
        html = self.env.get_template("article.html").render(
            site=self.site,
            a=article,
            url=self.url(article.path),
            body_html=Markup(to_html(article.body)),  # noqa: S704 - sanitized by nh3 in to_html
            similar=similar,
            notice=notice,
        )
        return Page(
            path=article.path,
            body=html.encode("utf-8"),
            kind="article",
            content_type=HTML,
            source_key=article.source_key,
            revision=article.revision.version,
            cache_tags=(f"article:{article.slug}", *(f"tag:{slugify(t)}" for t in article.tags)),
        )

    def not_found(self) -> Page:
        html = self.env.get_template("404.html").render(site=self.site)
        return Page(path="/404.html", body=html.encode("utf-8"), kind="error", cache_tags=("error",))
