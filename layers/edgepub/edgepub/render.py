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
from edgepub.pages import ATOM, HTML, TEXT, XML, Page
from edgepub.plan import Layout, PageRef
from edgepub.settings import Settings
from edgepub.site import Entry, SiteModel, tag_slug


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
        autoescape=jinja2.select_autoescape(["html", "xml", "txt"], default_for_string=True),
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
            cache_tags=("article", f"article:{article.slug}"),
        )

    def not_found(self) -> Page:
        html = self.env.get_template("404.html").render(site=self.site)
        return Page(path="/404.html", body=html.encode("utf-8"), kind="error", cache_tags=("error",))

    # -- site pages, from the model ---------------------------------------------

    def site_page(self, ref: PageRef, model: SiteModel, layout: Layout) -> Page:
        """Render any page but an article's own (which needs the article's body)."""
        kind = ref.kind
        if kind == "home":
            return self._html(
                ref,
                "listing",
                "home.html",
                ("listing", "listing:home"),
                entries=model.recent(layout.home_size),
                last_page=model.counter("all").last_page,
            )
        if kind == "archive":
            n = int(ref.args[0])
            last = model.counter("all").last_page
            return self._html(
                ref,
                "listing",
                "archive.html",
                ("listing", "listing:archive"),
                entries=model.members("all", n),
                heading=f"Archive, page {n}",
                path=ref.path,
                newer=f"/page/{n + 1}/" if n < last else "",
                older=f"/page/{n - 1}/" if n > 1 else "",
                front="/",
                front_label="Home",
            )
        if kind == "tag":
            tag = ref.args[0]
            return self._html(
                ref,
                "listing",
                "tag.html",
                ("listing", f"listing:tag:{tag_slug(tag)}"),
                tag=tag,
                path=ref.path,
                entries=model.by_tag(tag)[: layout.tag_front_size],
                last_page=model.counter(f"tag:{tag}").last_page,
            )
        if kind == "tag_archive":
            tag, n = ref.args[0], int(ref.args[1])
            last = model.counter(f"tag:{tag}").last_page
            base = f"/tags/{tag_slug(tag)}"
            return self._html(
                ref,
                "listing",
                "archive.html",
                ("listing", f"listing:tag:{tag_slug(tag)}"),
                entries=model.members(f"tag:{tag}", n),
                heading=f"#{tag}, page {n}",
                path=ref.path,
                newer=f"{base}/page/{n + 1}/" if n < last else "",
                older=f"{base}/page/{n - 1}/" if n > 1 else "",
                front=f"{base}/",
                front_label=f"#{tag}",
            )
        if kind == "tags":
            return self._html(ref, "listing", "tags.html", ("listing", "listing:tags"), tags=model.tag_counts())
        if kind == "feed":
            entries = model.recent(layout.feed_size)
            updated = max((e.updated for e in entries), default="1970-01-01T00:00:00+00:00")
            body = self.env.get_template("feed.xml").render(site=self.site, entries=entries, updated=updated)
            return Page(path=ref.path, body=body.encode(), kind="feed", content_type=ATOM, cache_tags=("feed",))
        if kind == "sitemap":
            n = int(ref.args[0])
            urls = [(self.url(e.path), e.updated) for e in model.shard(n)]
            body = self.env.get_template("sitemap.xml").render(urls=urls)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "sitemap_index":
            maps = [
                (self.url(PageRef("sitemap", (str(n),)).path), max((e.updated for e in model.shard(n)), default=""))
                for n in model.shards()
            ]
            body = self.env.get_template("sitemap_index.xml").render(sitemaps=maps)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "robots":
            body = self.env.get_template("robots.txt").render(site=self.site)
            return Page(path=ref.path, body=body.encode(), kind="static", content_type=TEXT)
        if kind == "not_found":
            return self.not_found()
        if kind == "redirect":
            source, target_path = ref.args
            body = self.env.get_template("redirect.html").render(target=self.url(target_path))
            return Page(
                path=source,
                body=body.encode(),
                kind="redirect",
                redirect_to=self.url(target_path),
                cache_tags=("redirect",),
            )
        raise ValueError(f"{kind} pages are rendered from their article")

    def _html(self, ref: PageRef, kind: str, template: str, cache_tags: tuple[str, ...], **context: object) -> Page:
        html = self.env.get_template(template).render(site=self.site, **context)
        return Page(path=ref.path, body=html.encode("utf-8"), kind=kind, cache_tags=cache_tags)

    def similar_of(self, entry: Entry | None, model: SiteModel) -> list[Entry]:
        if entry is None:
            return []
        return [model.entries[s] for s in entry.similar if s in model.entries]
