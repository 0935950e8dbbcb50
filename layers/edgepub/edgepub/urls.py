"""URLs as visitors request them: what to purge for one page.

Cloudflare's cache key holds scheme, host (lowercased), path (case-sensitive)
and query: `www` and apex, `/a` and `/a/` are different entries. A page is
purged at the canonical URL, at every extra hostname configured, and, with the
"both" trailing-slash policy, without its trailing slash too. Paths are UTF-8
percent-encoded as browsers send them.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from edgepub.errors import InvalidRequest
from edgepub.settings import Settings

_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def visitor_urls(url: str, settings: Settings) -> list[str]:
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    paths = [path]
    if settings.purge_trailing_slash == "both" and path.endswith("/") and path != "/":
        paths.append(path.rstrip("/"))
    hosts = [parts.netloc.lower()]
    hosts += [h.strip().lower() for h in settings.purge_extra_hosts.split(",") if h.strip()]
    query = f"?{parts.query}" if parts.query else ""
    return list(dict.fromkeys(f"{parts.scheme}://{host}{p}{query}" for host in hosts for p in paths))


def expand(urls: list[str], settings: Settings) -> list[str]:
    return list(dict.fromkeys(u for url in urls for u in visitor_urls(url, settings)))


def check_purge_request(urls: list[str], tags: list[str], prefixes: list[str]) -> None:
    """Refuse (InvalidRequest, exit 2) what Cloudflare would: a URL that is not absolute
    http(s), a prefix with a scheme, query or fragment, a tag with spaces or over 1024
    characters. Everything wrong is named at once."""
    problems = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
            problems.append(f"--url {url!r} is not a URL as visitors request it (https://host/path)")
    for prefix in prefixes:
        if not prefix.strip("/") or "://" in prefix or "?" in prefix or "#" in prefix or " " in prefix:
            problems.append(f"--prefix {prefix!r} must be host/path, with no scheme, query or fragment")
    for tag in tags:
        if not tag or len(tag) > 1024 or not tag.isprintable() or not tag.isascii() or " " in tag:
            problems.append(f"--tag {tag!r} must be 1 to 1024 printable ASCII characters without spaces")
    if problems:
        raise InvalidRequest("; ".join(problems) + ". Nothing was purged.")
