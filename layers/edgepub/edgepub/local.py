"""Local adapters: a folder as the source and page store, and a purger that
only records. Used by `edgepub build` and by tests that need no server."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgepub.pages import Page, UnsafePath
from edgepub.ports import PurgeReceipt, SourceObject, StoredPage, unique


def _inside(root: Path, key: str) -> Path:
    """ROOT/key, refusing a key that could leave ROOT (absolute, or with a `..` step).

    A lexical check: the folders under ROOT are edgepub's own, so no symlink
    is followed that edgepub did not make, and no per-file realpath is paid.
    """
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", "") for p in parts[:-1]) or parts[-1] == "..":
        raise UnsafePath(f"{key!r} escapes {root}")
    return root.joinpath(*parts)


class FolderSourceStore:
    """Sources in a folder; rejection reports in another.

    A folder laid out like the sources bucket (`site=True`: ROOT/edgepub.toml,
    ROOT/content/, ROOT/theme/) maps each key to the same path under ROOT; a
    folder of content alone maps "content/a/b.md" to ROOT/a/b.md and has no theme."""

    def __init__(self, root: Path, reports: Path, prefix: str = "content/", *, site: bool = False) -> None:
        self.root = root
        self.reports = reports
        self.prefix = prefix
        self.site = site
        self.content = root / prefix.rstrip("/") if site else root

    def key_for(self, path: Path) -> str:
        return self.prefix + path.relative_to(self.content).as_posix()

    def list_keys(self, prefix: str | None = None) -> list[str]:
        if prefix is None or prefix == self.prefix:
            return sorted(self.prefix + rel for rel in _walk(self.content)) if self.content.is_dir() else []
        if not self.site and not prefix.startswith(self.prefix):
            return []  # a folder of content alone has nothing outside it
        folder = self._path(prefix.rstrip("/")) if prefix.rstrip("/") else self.root
        if not folder.is_dir():
            return []
        base = prefix if prefix.endswith("/") else prefix + "/"
        return sorted(base + rel for rel in _walk(folder))

    def _path(self, key: str) -> Path:
        if self.site:
            return _inside(self.root, key)
        if not key.startswith(self.prefix):
            return self.root / ".edgepub-none" / "missing"  # nothing outside the content folder
        return _inside(self.root, key.removeprefix(self.prefix))

    def read(self, key: str, *, max_bytes: int, version: str = "") -> SourceObject | None:
        # a folder keeps no versions: always the current file
        path = self._path(key)
        if not path.is_file():
            return None
        size = path.stat().st_size
        data = path.read_bytes() if size <= max_bytes else None
        version = hashlib.sha256(data).hexdigest()[:16] if data is not None else ""
        return SourceObject(key=key, version_id=version, size=size, data=data)

    def write_report(self, key: str, report: Mapping[str, Any]) -> None:
        path = _inside(self.reports, key + ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def delete_report(self, key: str) -> None:
        _inside(self.reports, key + ".json").unlink(missing_ok=True)

    def read_report(self, key: str) -> Mapping[str, Any] | None:
        path = _inside(self.reports, key + ".json")
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class FolderPageStore:
    """Pages as files under a folder. Their headers are kept in one manifest,
    ROOT/.edgepub/headers.json, out of the served tree: written by `flush()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / ".edgepub" / "headers.json"
        self._headers: dict[str, dict[str, Any]] | None = None
        self._dirs: set[Path] = set()
        self._dirty = False
        self._loading = threading.Lock()  # a large plan stores pages from several threads

    @property
    def headers(self) -> dict[str, dict[str, Any]]:
        if self._headers is None:
            with self._loading:
                if self._headers is None:
                    loaded = json.loads(self.manifest.read_text(encoding="utf-8")) if self.manifest.is_file() else {}
                    self._headers = dict(loaded)
        return self._headers

    def head(self, key: str) -> StoredPage | None:
        meta = self.headers.get(key)
        if meta is None or not _inside(self.root, key).is_file():
            return None
        return StoredPage(key=key, content_hash=meta.get("content-hash", ""), version_id="", metadata=meta)

    def put(self, page: Page) -> str:
        path = _inside(self.root, page.key)
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        path.write_bytes(page.body)
        self.record(page)
        return ""

    def record(self, page: Page) -> None:
        """Remember a page's headers (one written by another process, say)."""
        self.headers[page.key] = dict(page.metadata(), **{"content-type": page.content_type})
        self._dirty = True

    def delete(self, key: str) -> None:
        _inside(self.root, key).unlink(missing_ok=True)
        if self.headers.pop(key, None) is not None:
            self._dirty = True

    def flush(self) -> None:
        if not self._dirty:
            return
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.headers, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        tmp.replace(self.manifest)
        self._dirty = False

    def read(self, key: str) -> bytes | None:
        path = _inside(self.root, key)
        return path.read_bytes() if path.is_file() else None

    def list_keys(self, token: str = "", limit: int = 1000) -> tuple[list[str], str]:
        keys = sorted(k for k in _walk(self.root, skip=".edgepub") if k > token)
        return keys[:limit], keys[limit - 1] if len(keys) > limit else ""


def _walk(root: Path, skip: str = "") -> Iterator[str]:
    """Relative POSIX paths of the files under root (os.walk: one scandir per folder)."""
    base = len(str(root)) + 1
    for folder, dirs, files in os.walk(root):
        if skip and folder == str(root) and skip in dirs:
            dirs.remove(skip)
        rel = folder[base:].replace(os.sep, "/")
        for name in files:
            yield f"{rel}/{name}" if rel else name


class MemoryPublishQueue:
    """The publish queue (`PublishQueue`) as a list: what was sent, oldest first, until taken."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> list[str]:
        first = len(self.bodies)
        self.bodies += bodies
        return [str(first + i) for i in range(len(bodies))]

    def depth(self) -> int:
        return len(self.bodies)


class RecordingPurger:
    """Remembers what would have been purged; calls nothing."""

    def __init__(self, batch_size: int = 30) -> None:
        self.batch_size = batch_size
        self.batches: list[list[str]] = []
        self.tags: list[str] = []

    def purge(self, urls: Sequence[str], tags: Sequence[str] = ()) -> list[PurgeReceipt]:
        self.tags.extend(unique(tags))
        items = unique(urls)
        receipts = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            self.batches.append(batch)
            receipts.append(PurgeReceipt(request_id=f"local-{len(self.batches)}", items=tuple(batch), attempts=1))
        return receipts

    @property
    def purged(self) -> list[str]:
        return [url for batch in self.batches for url in batch]


class MemorySourceStore:
    """Sources in a dict, with versions: for tests and benchmarks."""

    def __init__(self) -> None:
        self.objects: dict[str, list[bytes]] = {}
        self.reports: dict[str, Mapping[str, Any]] = {}

    def put(self, key: str, data: bytes) -> str:
        self.objects.setdefault(key, []).append(data)
        return str(len(self.objects[key]))

    def remove(self, key: str) -> None:
        self.objects.pop(key, None)

    def list_keys(self, prefix: str | None = None) -> list[str]:
        return sorted(k for k in self.objects if prefix is None or k.startswith(prefix))

    def read(self, key: str, *, max_bytes: int, version: str = "") -> SourceObject | None:
        versions = self.objects.get(key)
        if not versions:
            return None
        number = int(version) if version else len(versions)
        data = versions[number - 1]
        return SourceObject(
            key=key, version_id=str(number), size=len(data), data=data if len(data) <= max_bytes else None
        )

    def write_report(self, key: str, report: Mapping[str, Any]) -> None:
        self.reports[key] = report

    def delete_report(self, key: str) -> None:
        self.reports.pop(key, None)

    def read_report(self, key: str) -> Mapping[str, Any] | None:
        return self.reports.get(key)


class MemoryPageStore:
    """Pages in a dict, with every version kept (as the versioned site bucket does);
    counts writes and deletes."""

    bucket = "memory"

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.writes: list[str] = []
        self.deletes: list[str] = []
        self.history: dict[str, list[Page | None]] = {}  # key -> versions, oldest first (None: deleted)

    def versions(self, key: str) -> list[dict[str, Any]]:
        found = self.history.get(key, [])
        return [
            {
                "version_id": str(number),
                "modified": "",
                "bytes": len(page.body) if page else 0,
                "current": number == len(found),
                "deleted": page is None,
            }
            for number, page in reversed(list(enumerate(found, start=1)))
        ]

    def restore(self, key: str, version_id: str) -> StoredPage:
        page = self.history[key][int(version_id) - 1]
        if page is None:
            raise ValueError(f"version {version_id} of {key} is a delete marker")
        self.put(page)
        stored = self.head(key)
        assert stored is not None
        return stored

    def head(self, key: str) -> StoredPage | None:
        page = self.pages.get(key)
        return (
            StoredPage(key=key, content_hash=page.content_hash, version_id="", metadata=page.metadata())
            if page
            else None
        )

    def put(self, page: Page) -> str:
        self.pages[page.key] = page
        self.writes.append(page.path)
        self.history.setdefault(page.key, []).append(page)
        return str(len(self.history[page.key]))

    def delete(self, key: str) -> None:
        self.pages.pop(key, None)
        self.deletes.append(key)
        self.history.setdefault(key, []).append(None)

    def list_keys(self, token: str = "", limit: int = 1000) -> tuple[list[str], str]:
        keys = sorted(k for k in self.pages if k > token)
        return keys[:limit], keys[limit - 1] if len(keys) > limit else ""

    def body(self, path: str) -> bytes:
        from edgepub.pages import key_for_path

        return self.pages[key_for_path(path)].body
