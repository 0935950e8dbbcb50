"""The ports the publishing core talks through. Adapters: `edgepub.aws` (S3,
DynamoDB), `edgepub.cloudflare` (the purge API) and `edgepub.local` (folders and
memory, for local builds and tests). The core never imports boto3 or requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

from edgepub.errors import TransientError
from edgepub.pages import Page
from edgepub.site import SiteModel
from edgepub.state import SourceState


@dataclass(frozen=True)
class SourceObject:
    key: str
    version_id: str
    size: int
    data: bytes | None  # None when the object is larger than the limit asked for


@dataclass(frozen=True)
class StoredPage:
    key: str
    content_hash: str
    version_id: str
    metadata: Mapping[str, str]


class SourceStore(Protocol):
    def read(self, key: str, *, max_bytes: int, version: str = "") -> SourceObject | None:
        """The object at `key` (the current one, or `version`), or None when there is none."""
        ...

    def list_keys(self, prefix: str | None = None) -> list[str]:
        """Every source key under the source prefix, or under `prefix` (the theme's "theme/",
        a page bundle's "content/<name>/")."""
        ...

    def write_report(self, key: str, report: Mapping[str, Any]) -> None: ...

    def delete_report(self, key: str) -> None: ...

    def read_report(self, key: str) -> Mapping[str, Any] | None: ...


class PageHistory(Protocol):
    """The versions the site bucket keeps of a page (rollback, status)."""

    bucket: str

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Stored versions of one page, newest first: version id, time, size, whether current or deleted."""
        ...

    def restore(self, key: str, version_id: str) -> StoredPage:
        """Make `version_id` the current version again (as a new version); return it."""
        ...


class PageStore(Protocol):
    def head(self, key: str) -> StoredPage | None: ...

    def put(self, page: Page) -> str:
        """Store the page; return the stored version id ("" where there is none)."""
        ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, token: str = "", limit: int = 1000) -> tuple[list[str], str]:
        """One page of stored keys and the token for the next page ("" when done)."""
        ...


class VersionedPageStore(PageStore, PageHistory, Protocol):
    """The site bucket as operators' rollback and status see it."""


@dataclass(frozen=True)
class PurgeReceipt:
    """What one purge API call did."""

    request_id: str
    items: tuple[str, ...]
    attempts: int


class Purger(Protocol):
    def purge(self, urls: Sequence[str], tags: Sequence[str] = ()) -> list[PurgeReceipt]:
        """Purge these URLs (as canonical site URLs) and cache tags, or raise."""
        ...


class PublishQueue(Protocol):
    """The publish queue: republish and reconcile fan out through it."""

    def send(self, bodies: Sequence[str]) -> list[str]:
        """Queue these message bodies; their message ids, or TransientError."""
        ...

    def depth(self) -> int: ...


def unique(items: Iterable[str]) -> list[str]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))


# -- the article index (edgepub.index: DynamoIndex, MemoryIndex) ---------------------------


@dataclass(frozen=True)
class SourceRecord:
    """The last known state of one source key: what it published and the newest event seen."""

    key: str
    slug: str = ""
    state: SourceState = ""
    version: str = ""
    sequencer: str = ""
    updated: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceRecord:
        values = {k: str(v) for k, v in data.items() if k in SOURCE_FIELDS}
        return cls(**values)  # type: ignore[arg-type]  # state: a row of ours, as SourceState


SOURCE_FIELDS = tuple(f.name for f in fields(SourceRecord))


class ArticleIndex(Protocol):
    """The site model and source records. Every write is fenced: it commits only
    while the writer holds the lease it took (`lock`) and the model it planned
    from (by version) is still the current one; otherwise it raises `StaleWrite`
    and changes nothing."""

    def load(self) -> SiteModel: ...
    def save(self, before: SiteModel, after: SiteModel, records: Sequence[SourceRecord] = ()) -> None:
        """Commit `after` (planned from `before`) as version before.version + 1, with the
        source records of the change, atomically."""
        ...

    def save_pending(self, version: int, pending_purge: list[str], dirty: list[str]) -> None:
        """Record, at model `version`, the URLs to purge and the paths about to be written or deleted."""
        ...

    def source(self, key: str) -> SourceRecord | None: ...
    def save_source(self, record: SourceRecord, expected: SourceRecord | None = None) -> None:
        """Record what a source key published; with `expected`, only if the record is still that."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """A context manager: the lease serializing the writers that change the site."""
        ...

    def renew(self) -> None:
        """Extend the lease of a long operation (cheap: calls out only when a third of it has passed)."""
        ...

    def unsettled(self) -> bool:
        """Under the lease: whether a writer left purges pending or paths dirty (no call out)."""
        ...

    def wait_for(self, path: str, key: str) -> None:
        """Remember that the source at `key` was refused `path` because another source holds it."""
        ...

    def waiting_for(self, path: str) -> list[str]: ...
    def stop_waiting(self, path: str, key: str) -> None: ...

    # what scheduled jobs ask, answered without a scan
    def review_due_before(self, day: str) -> list[ReviewItem]:
        """Live articles whose review is due before `day` (YYYY-MM-DD), never reviewed first."""
        ...

    def transitions_due(self, now: str) -> list[str]:
        """Slugs whose scheduled publish or expiry time has come."""
        ...

    def counts(self) -> dict[str, int]: ...
    def claim(self, marker: str, ttl_days: int = 30) -> bool:
        """True the first time a marker is claimed (a notification sent once); False after."""
        ...

    def cursor(self, name: str) -> str: ...
    def set_cursor(self, name: str, value: str) -> None: ...


class StaleWrite(TransientError):
    """This writer's commit was refused: its lease was taken over, or another writer committed since it loaded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.touched: list[str] = []  # site paths the refused writer changed (the publisher fills it in)


@dataclass(frozen=True)
class ReviewItem:
    """A live article that is due (or overdue, or never reviewed) for review."""

    slug: str
    title: str
    owner: str
    due: str  # YYYY-MM-DD, or freshness.NEVER
    last_reviewed: str
    source_key: str
