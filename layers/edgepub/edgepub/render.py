"""Rendering: articles and site pages to Page objects with Jinja2.

One Environment per process: templates compile once and are cached. Article
text only ever reaches templates as data (autoescaped, or sanitized HTML marked
safe); it is never compiled as a template.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

import jinja2
from markupsafe import Markup

from edgepub.article import Article
from edgepub.errors import InvalidSource
from edgepub.markdown import first_image, first_paragraph, to_html
from edgepub.pages import ATOM, HTML, TEXT, XML, Page
from edgepub.plan import (
    Layout,
    PageRef,
    archive_shape,
    archive_sitemap_pages,
    archive_sitemap_shards,
    front_entries,
    front_older,
    front_ref,
    page_nav,
    page_ref,
    sitemap_listing_paths,
)
from edgepub.ports import SourceStore
from edgepub.settings import Settings
from edgepub.site import Entry, SiteModel, tag_slug
from edgepub.siteconfig import MenuItem
from edgepub.theme import (
    DEFAULT_SPEC,
    SiteFiles,
    SiteSpec,
    check_templates,
    read_site,
    render_failure,
    rewrite_refs,
)
from edgepub.theme import environment as theme_environment


class Linkable(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def title(self) -> str: ...


@dataclass(frozen=True)
class SiteInfo:
    """What templates see of the site (`site`): edgepub.toml over the deployment settings."""

    url: str
    title: str
    language: str = "en"
    description: str = ""
    locale: str = "en"
    publisher_name: str = ""
    publisher_logo: str = ""  # absolute URLs, or ""
    favicon: str = ""
    favicon_type: str = ""
    share_image: str = ""
    menu: tuple[MenuItem, ...] = ()
    social: tuple[tuple[str, str], ...] = ()
    twitter: str = ""
    footer: str = ""
    date_format: str = "%Y-%m-%d"
    static: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, settings: Settings, spec: SiteSpec) -> SiteInfo:
        config = spec.config
        url = settings.site_url if "site_url" in settings.overrides or not config.base_url else config.base_url
        title = settings.site_title if "site_title" in settings.overrides or not config.title else config.title

        def absolute(value: str) -> str:
            if not value or value.startswith(("http://", "https://")):
                return value
            path = spec.asset_path(value)
            return url + path if path else ""

        favicon = absolute(config.favicon)
        return cls(
            url=url,
            title=title,
            language=config.language,
            description=config.description,
            locale=config.og_locale,
            publisher_name=config.publisher_name or title,
            publisher_logo=absolute(config.publisher_logo),
            favicon=favicon,
            favicon_type=(mimetypes.guess_type(config.favicon)[0] or "") if favicon else "",
            share_image=absolute(config.share_image),
            menu=config.menu,
            social=config.social,
            twitter=config.twitter,
            footer=config.footer,
            date_format=config.date_format,
            static=spec.static,
        )

    def asset(self, name: str) -> str:
        """The absolute, fingerprinted URL of a file under theme/static/ (templates: `site.asset("css/site.css")`)."""
        path = dict(self.static).get(name.lstrip("/"))
        if path is None:
            raise jinja2.UndefinedError(f"{name!r} is not a file under theme/static/")
        return self.url + path

    def date(self, value: object) -> str:
        """A date or datetime (or ISO text) in the site's date format."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if isinstance(value, (date, datetime)):
            return value.strftime(self.date_format)
        return ""


def environment(spec: SiteSpec = DEFAULT_SPEC) -> jinja2.Environment:
    """The (sandboxed) environment for the spec's templates; compiled once per process."""
    return theme_environment(spec.templates)


class Renderer:
    def __init__(self, settings: Settings, spec: SiteSpec = DEFAULT_SPEC) -> None:
        self.spec = spec
        self.site = SiteInfo.of(settings, spec)
        self.env = environment(spec)

    def url(self, path: str) -> str:
        return self.site.url + path

    def article(
        self,
        article: Article,
        similar: Sequence[Linkable] = (),
        notice: str = "",
        assets: Mapping[str, tuple[str, int, int]] | None = None,
    ) -> Page:
        """The article's page; `assets` maps its page bundle's files (relative names) to their
        URL paths and, for images, their width and height (0 when unknown)."""
        body = to_html(article.body)
        if assets:
            body = rewrite_refs(body, {name: (self.url(path), w, h) for name, (path, w, h) in assets.items()})
        image = article.images[0].url if article.images else first_image(body) or self.site.share_image
        html = self.env.get_template("article.html").render(
            site=self.site,
            a=article,
            url=self.url(article.path),
            body_html=Markup(body),  # noqa: S704 - sanitized by nh3 in to_html
            similar=similar,
            notice=notice,
            # plain text: the summary, else the body's first paragraph, else the site's
            description=article.summary or first_paragraph(body) or self.site.description or self.site.title,
            image=image,  # an absolute URL (the first image, else the share image), or ""
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
                older=front_older(model, "all", layout),
            )
        if kind in ("archive", "tag_archive"):
            tag, n = (ref.args[0] if kind == "tag_archive" else ""), int(ref.args[-1])
            listing = f"tag:{tag}" if tag else "all"
            nav = page_nav(model, listing, n, layout)
            if nav.redirect:  # it would show just what the front page shows: one URL per list
                return self.site_page(PageRef("redirect", (ref.path, nav.redirect)), model, layout)
            entries = model.members(listing, n)
            return self._html(
                ref,
                "listing",
                "archive.html",
                ("listing", f"listing:tag:{tag_slug(tag)}" if tag else "listing:archive"),
                entries=entries,
                tag=tag,
                n=n,
                path=ref.path,
                newest=entries[0].date if entries else "",
                oldest=entries[-1].date if entries else "",
                newer=nav.newer,
                older=nav.older,
                front=front_ref(listing).path,
                feed=PageRef("tag_feed", (tag,)).path if tag else "/feed.xml",
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
                entries=front_entries(model, f"tag:{tag}", layout),
                older=front_older(model, f"tag:{tag}", layout),
                feed=PageRef("tag_feed", (tag,)).path,
            )
        if kind == "tags":
            return self._html(ref, "listing", "tags.html", ("listing", "listing:tags"), tags=model.tag_counts())
        if kind == "feed":
            return self._feed(ref, model.feed_entries(layout.feed_size), self.site.title, "/")
        if kind == "tag_feed":
            tag = ref.args[0]
            entries = model.feed_entries(layout.feed_size, tag)
            return self._feed(ref, entries, f"{self.site.title}: {tag}", PageRef("tag", (tag,)).path, tag)
        if kind == "sitemap":
            n = int(ref.args[0])
            urls = [(self.url(e.path), e.updated) for e in model.shard(n)]
            body = self.env.get_template("sitemap.xml").render(urls=urls)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "sitemap_pages":
            urls = [(self.url(path), "") for path in sitemap_listing_paths(model)]
            body = self.env.get_template("sitemap.xml").render(urls=urls)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "sitemap_archive":
            numbers = archive_sitemap_pages(archive_shape(model, layout), int(ref.args[0]), layout.sitemap_shard_size)
            urls = [(self.url(page_ref("all", n).path), "") for n in reversed(numbers)]
            body = self.env.get_template("sitemap.xml").render(urls=urls)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "sitemap_index":
            maps = [(self.url(PageRef("sitemap_pages").path), "")]
            archive = archive_sitemap_shards(archive_shape(model, layout), layout.sitemap_shard_size)
            maps += [(self.url(PageRef("sitemap_archive", (str(k),)).path), "") for k in archive]
            maps += [(self.url(PageRef("sitemap", (str(n),)).path), when) for n, when in model.shard_times().items()]
            body = self.env.get_template("sitemap_index.xml").render(sitemaps=maps)
            return Page(path=ref.path, body=body.encode(), kind="sitemap", content_type=XML, cache_tags=("sitemap",))
        if kind == "robots":
            body = self.env.get_template("robots.txt").render(site=self.site)
            return Page(path=ref.path, body=body.encode(), kind="static", content_type=TEXT)
        if kind == "not_found":
            return self.not_found()
        if kind == "redirect":
            source, target_path = ref.args
            body = self.env.get_template("redirect.html").render(site=self.site, target=self.url(target_path))
            return Page(
                path=source,
                body=body.encode(),
                kind="redirect",
                redirect_to=self.url(target_path),
                cache_tags=("redirect",),
            )
        raise ValueError(f"{kind} pages are rendered from their article")

    def _feed(self, ref: PageRef, entries: list[Entry], title: str, alternate: str, tag: str = "") -> Page:
        """An Atom feed of `entries` (the site's, or a tag's), alternate to the page at `alternate`."""
        updated = max((e.updated for e in entries), default="1970-01-01T00:00:00+00:00")
        body = self.env.get_template("feed.xml").render(
            site=self.site,
            entries=entries,
            updated=updated,
            title=title,
            feed_url=self.url(ref.path),
            page_url=self.url(alternate),
            tag=tag,
        )
        tags = ("feed", f"feed:tag:{tag_slug(tag)}") if tag else ("feed",)
        return Page(path=ref.path, body=body.encode(), kind="feed", content_type=ATOM, cache_tags=tags)

    def _html(self, ref: PageRef, kind: str, template: str, cache_tags: tuple[str, ...], **context: object) -> Page:
        html = self.env.get_template(template).render(site=self.site, **context)
        return Page(path=ref.path, body=html.encode("utf-8"), kind=kind, cache_tags=cache_tags)

    def similar_of(self, entry: Entry | None, model: SiteModel) -> list[Entry]:
        if entry is None:
            return []
        model.prefetch(entry.similar)
        return [model.entries[s] for s in entry.similar if s in model.entries]


_SAMPLE = b"""---
title: "A sample article <with> 'quotes' & more"
date: 2026-01-02T03:04:05Z
summary: What every page kind shows of an article, to check a theme.
tags: [sample, theme-check]
owner: Sample Owner
aliases: [/sample-old-path/]
---
# Heading

Text with a [link](https://example.com/) and `code`.

```python
print("hello")
```

| a | b |
|:--|--:|
| 1 | 2 |

- [x] done
- [ ] to do
"""


def read_checked_site(store: SourceStore, settings: Settings) -> SiteFiles:
    """The config and theme in `store` now, checked as they must be before use: each
    template compiled in the sandbox (`theme.check_templates`) and a sample of every page
    kind rendered (`check_theme`). InvalidSource names the file and line to fix."""
    files = read_site(store)
    check_templates(files.spec)
    check_theme(settings, files.spec)
    return files


def check_theme(settings: Settings, spec: SiteSpec) -> None:
    """Render a sample site with the spec: every page kind once. Any error is an
    InvalidSource naming the template file and line (or edgepub.toml)."""
    from edgepub.readers import read_article

    article = read_article("content/theme-check.md", _SAMPLE)
    try:
        with _time_limit(CHECK_SECONDS):
            _render_sample(settings, spec, article)
    except InvalidSource:
        raise
    except Exception as error:
        failure = render_failure(error)  # whatever a theme file does wrong is reported, not raised
        if failure is None:
            raise
        raise failure from None


CHECK_SECONDS = 5.0  # a theme's sample site renders in milliseconds; a loop that runs on is refused


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (in the main thread, as in Lambda and the CLI;
    elsewhere the block runs unlimited)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"rendering took over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _render_sample(settings: Settings, spec: SiteSpec, article: Article) -> None:
    from edgepub.plan import plan
    from edgepub.publisher import entry_for

    renderer = Renderer(settings, spec)
    now = datetime(2026, 1, 3, tzinfo=UTC)
    entry = entry_for(article, "1", "0" * 64, None, now, ())
    layout = spec.config.layout()
    site_plan = plan(SiteModel(), {entry.slug: entry}, layout)
    for ref in sorted(site_plan.render):
        if ref.kind == "article":
            renderer.article(article, similar=[entry], notice="A notice.")
        else:
            renderer.site_page(ref, site_plan.after, layout)
    renderer.not_found()
