"""Coalescing purges across invocations: what to send now and what to carry.

A burst of publishes reaches the purge function as one invocation per batching
window. Sending each invocation's URLs in batches of the plan's size leaves a
partial batch every window, and listing pages (home, feed, tags, archives,
sitemaps), rewritten by nearly every publish, are purged again every window.
When an invocation has at least one full batch, it sends only full batches and
carries the remainder (fewer than a batch) to the next window as one delayed
message on the purge queue; the listing pages go last, so they are the ones
carried, and are purged once for several windows of publishes. A quiet
invocation (less than a batch) sends everything at once, as before.

No item is carried if that would make it wait longer than the hold bound
(`EDGEPUB_PURGE_MAX_HOLD_SECONDS`, 0 disables carrying): items close to the
bound go into the full batches first, and a remainder that still holds one is
sent now, partial.

Pure functions only (no clock, no I/O), so the decisions are unit-tested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Rank of a page in the send order: pages least likely to be rewritten by the
# next publish first; the site-wide pages that nearly every publish rewrites last.
ARTICLE, LISTING, SITE_WIDE = 0, 1, 2
_SITE_WIDE = {"", "/feed.xml", "/tags", "/sitemap.xml"}


def page_rank(url: str) -> int:
    """ARTICLE for article pages, redirects and static pages; LISTING for archive
    pages, tag pages and their archives, sitemap shards; SITE_WIDE for home, feed,
    tags index and sitemap index."""
    path = urlsplit(url).path.rstrip("/")
    if path in _SITE_WIDE:
        return SITE_WIDE
    if path.startswith(("/page/", "/tags/", "/sitemaps/")):
        return LISTING
    return ARTICLE


def no_rank(item: str) -> int:
    return 0


@dataclass
class Split:
    """One form's items: those to send now (full batches first) and those to carry."""

    send: list[str] = field(default_factory=list)
    carry: list[str] = field(default_factory=list)
    reason: str = "quiet"  # quiet, busy, due (held items sent partial), disabled


def would_overstay(first_seen: float, now: float, delay: float, max_hold: float) -> bool:
    """True when an item first seen at `first_seen` would wait longer than `max_hold`
    seconds if carried now with `delay` seconds of delay."""
    return max(0.0, now - first_seen) + delay > max_hold


def split_for_carry(
    items: Sequence[str],
    size: int,
    first_seen: Mapping[str, float],
    now: float,
    *,
    delay: float,
    max_hold: float,
    rank: Callable[[str], int] = page_rank,
) -> Split:
    """Split de-duplicated `items` (batches of `size`) into what to send now and
    what to carry. Fewer than one batch, or carrying disabled: send all, in order.
    Otherwise send the full batches, ordered so that items that cannot wait any
    longer come first, then by `rank`, and carry the remainder, unless the
    remainder holds an item that cannot wait: then send it all now."""
    items = list(dict.fromkeys(items))
    if max_hold <= 0:
        return Split(send=items, reason="disabled")
    if len(items) < size:
        return Split(send=items, reason="quiet")

    def due(item: str) -> bool:
        return would_overstay(first_seen.get(item, now), now, delay, max_hold)

    ordered = sorted(items, key=lambda item: (not due(item), rank(item)))  # stable: order kept within a rank
    full = len(ordered) - len(ordered) % size
    send, carry = ordered[:full], ordered[full:]
    if any(due(item) for item in carry):
        return Split(send=ordered, reason="due")
    return Split(send=send, carry=carry, reason="busy")


def oldest(items: Sequence[str], first_seen: Mapping[str, float], now: float) -> float:
    """When the longest-waiting of `items` was first seen (`now` when there are none)."""
    return min((first_seen.get(item, now) for item in items), default=now)
