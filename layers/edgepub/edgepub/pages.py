"""Pages: what the renderer produces and the page store keeps.

A Page knows its URL path, its key in the store, its bytes and the HTTP headers
it must be served with. `key_for_path` is the one place that maps URLs to keys.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import quote

from edgepub.errors import InvalidRequest
from edgepub.settings import CachePolicy

HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")


class UnsafePath(InvalidRequest, ValueError):
    """A URL path that would escape the site prefix or is not a plain site path (exit 2).

    Still a ValueError, for callers that validate paths with `except ValueError`."""


def key_for_path(path: str) -> str:
    """Map a URL path to its store key: "/a/b/" -> "a/b/index.html", "/feed.xml" -> "feed.xml".

    Pretty URLs end with a slash and are stored as index.html below it, so an S3
    REST origin (with the edge's index rewrite) or a local folder serves them as is.
    """
    if not path.startswith("/") or "//" in path or "\\" in path:
        raise UnsafePath(f"not a site path: {path!r}")
    segments = [s for s in path.strip("/").split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _SAFE_SEGMENT.match(segment):
            raise UnsafePath(f"unsafe segment {segment!r} in {path!r}")
    key = "/".join(segments)
    if path.endswith("/"):
        key = posixpath.join(key, "index.html") if key else "index.html"
    return key


def path_for_key(key: str) -> str:
    """The inverse of key_for_path."""
    if key == "index.html":
        return "/"
    if key.endswith("/index.html"):
        return "/" + key[: -len("index.html")]
    return "/" + key


@dataclass(frozen=True)
class Page:
    path: str
    body: bytes
    kind: str  # article, listing, feed, sitemap, redirect, error, static
    content_type: str = HTML
    source_key: str = ""
    source_version: str = ""
    revision: str = ""
    cache_tags: tuple[str, ...] = ()
    redirect_to: str = ""
    extra_metadata: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> str:
        return key_for_path(self.path)

    @cached_property
    def content_hash(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def cache_control(self, policy: CachePolicy) -> str:
        return policy.for_kind(self.kind)

    def metadata(self) -> dict[str, str]:
        """User metadata stored with the page (x-amz-meta-*): ASCII only, 2 KB in total."""
        meta = {
            "content-hash": self.content_hash,
            "page-kind": self.kind,
        }
        if self.source_key:
            # a local file name need not be UTF-8 (its bytes are kept as surrogates): quoted as bytes
            meta["source-key"] = quote(self.source_key.encode("utf-8", "surrogateescape"), safe="/")
        if self.source_version:
            meta["source-version"] = self.source_version
        if self.revision:
            meta["revision"] = quote(self.revision, safe="")
        if self.cache_tags:
            meta["cache-tags"] = ",".join(self.cache_tags)
        if self.redirect_to:
            meta["redirect-location"] = quote(self.redirect_to, safe="/:")
        meta.update(self.extra_metadata)
        return meta
