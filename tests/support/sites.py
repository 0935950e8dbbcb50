"""Building sites in memory for tests: a publisher over memory stores with a
fixed clock, and a generator of many small articles."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edgepub.index import MemoryIndex
from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
from edgepub.localbuild import BuildReport, publish_all
from edgepub.plan import Layout
from edgepub.publisher import Outcome, Publisher
from edgepub.settings import Settings

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
URL = "https://www.example.com"


def md(title: str, *, date: str = "2026-01-01", tags: tuple[str, ...] = (), body: str = "Body.", **extra: str) -> bytes:
    lines = ["---", f"title: {title}", f"date: {date}", f"tags: [{', '.join(tags)}]"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("\n".join([*lines, "---", body, ""])).encode()


@dataclass
class Site:
    layout: Layout = field(default_factory=lambda: Layout(page_size=2, home_size=2, tag_front_size=2, feed_size=3))
    now: datetime = NOW
    settings: Settings = field(default_factory=lambda: Settings(site_url=URL))

    def __post_init__(self) -> None:
        from edgepub.freshness import FreshnessPolicy

        self.sources = MemorySourceStore()
        self.pages = MemoryPageStore()
        self.purger = RecordingPurger()
        self.index = MemoryIndex(policy=FreshnessPolicy.from_settings(self.settings))
        self.publisher = Publisher(
            self.settings,
            self.sources,
            self.pages,
            self.purger,
            self.index,
            clock=lambda: self.now,
            layout=self.layout,
        )

    def reset_counts(self) -> None:
        self.pages.writes.clear()
        self.pages.deletes.clear()
        self.purger.batches.clear()

    def load(self, sources: list[tuple[str, bytes]]) -> BuildReport:
        """Publish many sources as one change (as `edgepub build` does)."""
        for name, data in sources:
            self.sources.put(f"content/{name}", data)
        keys = sorted(self.sources.objects)

        def read(key: str) -> bytes:
            return self.sources.objects[key][-1]

        return publish_all(self.publisher, keys, read)

    def put(self, name: str, data: bytes) -> Outcome:
        key = f"content/{name}"
        self.sources.put(key, data)
        return self.sync(key)

    def delete(self, name: str) -> Outcome:
        key = f"content/{name}"
        self.sources.remove(key)
        return self.sync(key)

    def sync(self, key: str) -> Outcome:
        self.reset_counts()
        return self.publisher.sync(key)

    @property
    def written(self) -> set[str]:
        return set(self.pages.writes)

    @property
    def purged(self) -> set[str]:
        return {u.removeprefix(URL) for u in self.purger.purged}

    def html(self, path: str) -> str:
        return self.pages.body(path).decode()


def generated_sources(count: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """Many short articles in the seeds' shape, dated one hour apart, deterministic."""
    rng = random.Random(seed)
    topics = [f"topic{i}" for i in range(60)]
    stacks = ["redis", "nginx", "postgres", "cloudflare", "s3", "lambda", "varnish", "mysql"]
    tools = ["curl", "git", "logs", "ttl", "cache keys", "grafana", "psql", "aws cli", "wrk"]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        tags = tuple(sorted(set(rng.sample(topics, 3))))
        when = (start + timedelta(hours=i)).isoformat()
        body = f"Article {i} body. " + " ".join(rng.choice(["cache", "purge", "edge", "origin"]) for _ in range(40))
        data = (
            f"---\ntitle: Article {i}\ndate: {when}\ntags: [{', '.join(tags)}]\nsummary: Summary of article {i}\n"
            f"stack: [{rng.choice(stacks)}]\ntools: [{', '.join(rng.sample(tools, 2))}]\n---\n{body}\n"
        ).encode()
        out.append((f"article-{i:05d}.md", data))
    return out


def partial_twin(count: int, layout: Layout | None = None) -> tuple[Site, Site, dict[str, bytes]]:
    """The same generated site twice: planned from the whole model (MemoryIndex), and from
    items read on demand (ItemIndex, strict: a whole-site read raises); and its sources."""
    from edgepub.itemindex import ItemIndex

    sources = generated_sources(count)
    whole = Site(layout=layout or Layout(page_size=7, home_size=5, tag_front_size=4, feed_size=6))
    whole.load(sources)
    partial = Site(layout=whole.layout)
    items = ItemIndex.of(whole.index.load(), policy=whole.index.policy)
    items.strict = True
    items.sources = dict(whole.index.sources)  # what each source key published
    partial.index = items  # type: ignore[assignment]
    partial.publisher.index = items
    for key, versions in whole.sources.objects.items():
        for data in versions:
            partial.sources.put(key, data)
    for page in whole.pages.pages.values():
        partial.pages.put(page)
    return whole, partial, dict(sources)
