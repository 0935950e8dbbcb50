"""`edgepub build SRC --out DIR`: the same publisher, with a folder for sources,
a folder for pages, a purger that only records, and the index kept in
DIR/.edgepub/index.json so that a rebuild writes only what changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgepub.index import MemoryIndex
from edgepub.local import FolderPageStore, FolderSourceStore, RecordingPurger
from edgepub.publisher import Outcome, Publisher
from edgepub.readers import supported
from edgepub.settings import Settings


@dataclass
class BuildReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def pages_written(self) -> int:
        return sum(len(o.written) for o in self.outcomes)

    @property
    def pages_deleted(self) -> int:
        return sum(len(o.deleted) for o in self.outcomes)

    @property
    def urls_purged(self) -> int:
        return sum(len(o.purged) for o in self.outcomes)

    @property
    def rejected(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == "rejected"]


def build(src: Path, out: Path, settings: Settings, progress: Callable[[Outcome], None] | None = None) -> BuildReport:
    state = out / ".edgepub"
    index_path = state / "index.json"
    index = MemoryIndex.load_from(index_path)
    sources = FolderSourceStore(src, state / "rejected", prefix=settings.source_prefix)
    publisher = Publisher(
        settings,
        sources=sources,
        pages=FolderPageStore(out),
        purger=RecordingPurger(settings.purge_batch_size),
        index=index,
    )
    report = BuildReport()
    present = [k for k in sources.list_keys() if supported(k)]
    gone = sorted(set(index.sources) - set(present))
    for key in [*present, *gone]:
        outcome = publisher.sync(key)
        report.outcomes.append(outcome)
        if progress:
            progress(outcome)
    index.save_to(index_path)
    return report
