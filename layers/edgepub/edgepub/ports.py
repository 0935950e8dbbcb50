"""The ports the publishing core talks through. Adapters: `edgepub.aws` (S3,
DynamoDB), `edgepub.cloudflare` (the purge API) and `edgepub.local` (folders and
memory, for local builds and tests). The core never imports boto3 or requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edgepub.pages import Page


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

    def write_report(self, key: str, report: Mapping[str, Any]) -> None: ...

    def delete_report(self, key: str) -> None: ...

    def read_report(self, key: str) -> Mapping[str, Any] | None: ...


class PageStore(Protocol):
    def head(self, key: str) -> StoredPage | None: ...

    def put(self, page: Page) -> str:
        """Store the page; return the stored version id ("" where there is none)."""
        ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, token: str = "", limit: int = 1000) -> tuple[list[str], str]:
        """One page of stored keys and the token for the next page ("" when done)."""
        ...


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


def unique(items: Iterable[str]) -> list[str]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
