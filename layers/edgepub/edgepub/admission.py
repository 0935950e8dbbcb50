"""Admission: the one step every source passes to get into the site.

The pipeline's sync, local builds, `edgepub validate` and `edgepub publish` all
admit a source here, so they cannot disagree about what is publishable: the key
must be a plain path under the source prefix, the size within the limit, the
bytes a valid article (edgepub.readers), its slug and aliases free and none of
them one of the site's own paths, and its publication state is decided by
edgepub.state.

Admission has two halves. `read_source` needs nothing but the bytes and runs
before the publisher takes the site lease (reading is bounded, but the lease
should never wait on it). `admit` needs the site and runs under the lease: it
checks what each source claims against the site and against the others of its
batch (a local build, a folder validated or uploaded; the pipeline's batch is
one source), and decides each one's state. Within a batch an article's own
path comes before another's alias, and the first file (by name) to claim a
slug keeps it, so the outcome does not depend on the order files are read in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edgepub.article import Article
from edgepub.errors import InvalidSource, Problem
from edgepub.readers import read_article
from edgepub.settings import Settings
from edgepub.site import SiteModel
from edgepub.state import PublicationState, article_state

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# First path segments that belong to the site itself: listings (/page/N/), tag
# pages, sitemaps, feeds, assets and the well-known files. No slug or alias may
# take them, or an article would replace a listing with its page or a redirect.
RESERVED_SEGMENTS = frozenset(
    {
        "page",
        "tags",
        "sitemaps",
        "assets",
        "static",
        "theme",
        "feed.xml",
        "sitemap.xml",
        "robots.txt",
        "404.html",
        "favicon.ico",
        ".well-known",
        ".edgepub",
    }
)


def reserved(path: str) -> bool:
    """Whether a URL path (/x/ or /x/y/) is, or is under, one of the site's own paths."""
    first = path.strip("/").split("/", 1)[0]
    return not first or first.lower() in RESERVED_SEGMENTS


def check_source_key(settings: Settings, key: str) -> None:
    """A key must sit under the source prefix, as plain path segments."""
    segments = key.split("/")
    if (
        not key.startswith(settings.source_prefix)
        or any(s in ("", ".", "..") for s in segments)
        or "\\" in key
        or _CONTROL.search(key)
    ):
        raise InvalidSource.single(
            key, "key", f"must be a plain path under {settings.source_prefix!r} with no '.', '..' or empty segments"
        )


def read_source(settings: Settings, key: str, data: bytes | None, size: int | None = None) -> Article:
    """Check the key and size and read the bytes into an Article (no site needed).

    `data` is None when the store did not read an object over the size limit;
    `size` then says how large it is."""
    check_source_key(settings, key)
    if data is None:
        limit = settings.max_source_bytes
        raise InvalidSource.single(key, "size", f"is {size} bytes; the limit is {limit} (EDGEPUB_MAX_SOURCE_BYTES)")
    return read_article(key, data, settings.source_limits)  # which checks the size of what was read


@dataclass
class Claims:
    """Who holds which slug and URL path: the site as the index has it, plus the
    sources admitted before in the same batch (a local build, a folder validated)."""

    model: SiteModel | None = None
    slugs: dict[str, str] = field(default_factory=dict)  # slug -> source key
    paths: dict[str, str] = field(default_factory=dict)  # URL path -> slug
    _site_paths: dict[str, str] | None = None

    def slug_holder(self, slug: str) -> str | None:
        entry = self.model.entries.get(slug) if self.model else None
        return entry.source_key if entry else self.slugs.get(slug)

    def path_holder(self, path: str) -> str | None:
        if self.model is not None and not self.model.whole:  # read from the index, path by path
            return self.model.path_owner(path) or self.paths.get(path)
        if self._site_paths is None:  # one pass over the site, however many sources ask
            self._site_paths = {}
            for entry in self.model.entries.values() if self.model else ():
                if entry.live:
                    for p in (entry.path, *entry.redirects):
                        self._site_paths.setdefault(p, entry.slug)
        return self._site_paths.get(path) or self.paths.get(path)

    def reserve(self, article: Article) -> None:
        """Hold the article's own slug and path (not its aliases) for it, if nobody holds them."""
        if self.slug_holder(article.slug) is None:
            self.slugs[article.slug] = article.source_key
            self.paths.setdefault(article.path, article.slug)

    def claim(self, article: Article) -> None:
        self.slugs.setdefault(article.slug, article.source_key)
        for path in (article.path, *article.aliases):
            self.paths.setdefault(path, article.slug)


def check_claims(article: Article, claims: Claims) -> None:
    """Raise InvalidSource if the article's slug or aliases are the site's own or another source's."""
    problems: list[Problem] = []
    if reserved(article.path):
        problems.append(Problem("slug", f"{article.path} is one of the site's own paths; choose another slug"))
    holder = claims.slug_holder(article.slug)
    if holder is not None and holder != article.source_key:
        problems.append(Problem("slug", f"{article.slug!r} is already used by {holder}"))
    else:
        taken = claims.path_holder(article.path)
        if taken is not None and taken != article.slug:
            problems.append(Problem("slug", f"{article.path} is a redirect of /{taken}/"))
    for i, alias in enumerate(article.aliases):
        taken = claims.path_holder(alias)
        if reserved(alias):
            problems.append(Problem(f"aliases[{i}]", f"{alias} is one of the site's own paths"))
        elif alias == article.path or (taken is not None and taken != article.slug):
            problems.append(Problem(f"aliases[{i}]", f"{alias} is already used by /{taken or article.slug}/"))
    if problems:
        raise InvalidSource(article.source_key, problems)


@dataclass(frozen=True)
class Admitted:
    article: Article
    state: PublicationState


def admit(read: Sequence[Article | InvalidSource], claims: Claims, now: datetime) -> list[Admitted | InvalidSource]:
    """Admit a batch of sources already read (`read_source`) into the site `claims`
    describes: each becomes Admitted, with its publication state, or InvalidSource."""
    for article in sorted((a for a in read if isinstance(a, Article)), key=lambda a: a.source_key):
        claims.reserve(article)
    admitted: list[Admitted | InvalidSource] = []
    for found in read:
        if isinstance(found, InvalidSource):
            admitted.append(found)
            continue
        article = found
        try:
            check_claims(article, claims)
        except InvalidSource as error:
            admitted.append(error)
            continue
        claims.claim(article)
        admitted.append(Admitted(article, article_state(article, now)))
    return admitted
