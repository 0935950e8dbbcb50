"""URLs as visitors request them: what to purge for one page.

Cloudflare's cache key holds scheme, host (lowercased), path (case-sensitive)
and query: `www` and apex, `/a` and `/a/` are different entries. A page is
purged at the canonical URL, at every extra hostname configured, and, with the
"both" trailing-slash policy, without its trailing slash too. Paths are UTF-8
percent-encoded as browsers send them.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

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
