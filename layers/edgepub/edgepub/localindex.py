"""The article index of local builds in an SQLite database (OUT/.edgepub/index.sqlite3).

`SqliteIndex` is the `ArticleIndex` port with the semantics of `MemoryIndex`,
but a commit writes only the rows that differ between the model it was planned
from and the one it commits (as `DynamoIndex` does), in one transaction, instead
of the whole JSON file. Tables:

- ``entries``: slug -> the entry as a JSON array in `ENTRY_FIELDS` order
  (`Entry.to_row`); the field names of the rows are kept in ``meta``
- ``counters``, ``pages``: the listing counters and the stored pages' hashes
- ``sources``: one `SourceRecord` per source key, read one row at a time
- ``meta``: ``version``, ``pending_purge``, ``dirty`` and ``entry_fields``, as JSON
- ``markers``, ``cursors``: what scheduled jobs remember

`load` reads the whole model (the planner needs it), the entries as one
JSON text that SQLite concatenates, and keeps it while the stored version is
unchanged. One connection per index, in WAL mode. An index.json of an older
edgepub is imported once by `migrate`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgepub.freshness import FreshnessPolicy
from edgepub.index import MemoryIndex, ModelQueries, changed
from edgepub.ports import SourceRecord, StaleWrite
from edgepub.site import ENTRY_FIELDS, Counter, Entry, SiteModel, entries_from_rows

SCHEMA_VERSION = 1  # PRAGMA user_version of a database this module created

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (slug TEXT PRIMARY KEY, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY, last_page INTEGER NOT NULL, last_count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pages (path TEXT PRIMARY KEY, hash TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
    key TEXT PRIMARY KEY, slug TEXT NOT NULL, state TEXT NOT NULL, version TEXT NOT NULL,
    sequencer TEXT NOT NULL, updated TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS markers (marker TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

# a meta value that is unchanged is not written again
_PUT_META = (
    "INSERT INTO meta (name, value) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE value != excluded.value"
)
_PUT_ENTRY = "INSERT INTO entries (slug, row) VALUES (?, ?) ON CONFLICT (slug) DO UPDATE SET row = excluded.row"
_PUT_COUNTER = (
    "INSERT INTO counters (name, last_page, last_count) VALUES (?, ?, ?) ON CONFLICT (name) "
    "DO UPDATE SET last_page = excluded.last_page, last_count = excluded.last_count"
)
_PUT_PAGE = "INSERT INTO pages (path, hash) VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET hash = excluded.hash"
SOURCE_COLUMNS = ("key", "slug", "state", "version", "sequencer", "updated")  # `SourceRecord` fields
_PUT_SOURCE = (
    "INSERT INTO sources (key, slug, state, version, sequencer, updated) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET slug = excluded.slug, state = excluded.state, version = excluded.version, "
    "sequencer = excluded.sequencer, updated = excluded.updated"
)
_PUT_CURSOR = "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"


def _json(value: Any) -> str:
    # ASCII: a source key from a file name that is not UTF-8 (surrogate escapes) is text SQLite cannot take
    return json.dumps(value, separators=(",", ":"))


def _entry_row(entry: Entry) -> str:
    return _json(entry.to_row())


class SqliteIndex(ModelQueries):
    """The site model and source records in an SQLite database; see the module doc.

    Like `MemoryIndex`, source records saved outside a commit (`save_source`)
    are kept in memory until the next `save` (which writes them in its
    transaction) or `flush`. `save` and `save_pending` are fenced by the
    version stored in the database, so a second process that committed since
    this one loaded is noticed (`StaleWrite`). `lock` and `renew` do nothing:
    one process builds a folder at a time.
    """

    def __init__(
        self,
        path: Path | str,
        policy: FreshnessPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.policy = policy or FreshnessPolicy()
        self.clock = clock
        self.waiting: dict[str, set[str]] = {}  # one build: a batch admits its sources together
        self._records: dict[str, SourceRecord] = {}  # saved, not yet written (see the class doc)
        self._cached: SiteModel | None = None  # the model as stored at its version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: transactions are begun and ended explicitly (`_write`, `_read`)
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._setup()

    # -- connection and schema -------------------------------------------------------

    def _setup(self) -> None:
        db = self.conn
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash loses no commit, a power cut at most the last
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer edgepub (schema {version}): build into another folder"
            )
        if version < SCHEMA_VERSION:  # a new database
            with self._write():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                initial = {"version": 0, "pending_purge": [], "dirty": [], "entry_fields": ENTRY_FIELDS}
                db.executemany(_PUT_META, ((name, _json(value)) for name, value in initial.items()))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._upgrade_rows()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SqliteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: what it reads is one snapshot of the database."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def _meta(self, db: sqlite3.Connection) -> dict[str, Any]:
        return {name: json.loads(value) for name, value in db.execute("SELECT name, value FROM meta")}

    def _upgrade_rows(self) -> None:
        """Rows written under another version's entry fields are rewritten once, under these."""
        with self._read() as db:
            stored = self._meta(db).get("entry_fields")
        if stored is not None and tuple(stored) == ENTRY_FIELDS:
            return
        with self._write() as db:
            entries = self._read_entries(db, list(stored or ENTRY_FIELDS))
            db.executemany(_PUT_ENTRY, ((slug, _entry_row(e)) for slug, e in entries.items()))
            db.execute(_PUT_META, ("entry_fields", _json(ENTRY_FIELDS)))

    # -- reading the model -----------------------------------------------------------

    @staticmethod
    def _read_entries(db: sqlite3.Connection, names: list[str]) -> dict[str, Entry]:
        # one JSON text for all rows, concatenated by SQLite: one json.loads, not one per entry
        text = db.execute("SELECT '[' || coalesce(group_concat(row, ','), '') || ']' FROM entries").fetchone()[0]
        return entries_from_rows(names, json.loads(text))

    def _read_model(self, db: sqlite3.Connection, meta: dict[str, Any]) -> SiteModel:
        return SiteModel(
            entries=self._read_entries(db, list(meta.get("entry_fields", ENTRY_FIELDS))),
            counters={name: Counter(page, count) for name, page, count in db.execute("SELECT * FROM counters")},
            page_hashes=dict(db.execute("SELECT path, hash FROM pages")),
            version=int(meta.get("version", 0)),
            pending_purge=list(meta.get("pending_purge", [])),
            dirty=list(meta.get("dirty", [])),
        )

    def _model(self) -> SiteModel:
        """The model as stored now: the cached one while the stored version is unchanged."""
        with self._read() as db:
            meta = self._meta(db)
            cached = self._cached
            if cached is None or cached.version != int(meta.get("version", 0)):
                cached = self._cached = self._read_model(db, meta)
            else:
                cached.pending_purge = list(meta.get("pending_purge", []))
                cached.dirty = list(meta.get("dirty", []))
        return cached

    def load(self) -> SiteModel:
        return self._model().copy()

    # -- writing ---------------------------------------------------------------------

    @staticmethod
    def _version(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        return int(row[0]) if row else 0

    def save(self, before: SiteModel, after: SiteModel, records: Sequence[SourceRecord] = ()) -> None:
        """Commit `after` as version before.version + 1: the rows that differ from `before`,
        the meta row and the source records (with those saved since the last write), in
        one transaction. StaleWrite, writing nothing, if the stored version is not before's."""
        version = before.version + 1
        with self._write() as db:
            if self._version(db) != before.version:
                raise StaleWrite(f"the model changed since version {before.version} was loaded")
            self._write_delta(db, before, after)
            db.executemany(
                _PUT_META,
                [
                    ("version", _json(version)),
                    ("pending_purge", _json(after.pending_purge)),
                    ("dirty", _json(after.dirty)),
                ],
            )
            pending = self._records | {r.key: r for r in records}
            db.executemany(_PUT_SOURCE, (_source_row(r) for r in pending.values()))
        self._records.clear()
        after.version = version
        self._cached = after.copy()

    @staticmethod
    def _write_delta(db: sqlite3.Connection, before: SiteModel, after: SiteModel) -> None:
        """The row writes that turn `before` into `after` (only rows that differ)."""
        entries = changed(before.entries, after.entries)
        db.executemany("DELETE FROM entries WHERE slug = ?", [(slug,) for slug, e in entries if e is None])
        db.executemany(_PUT_ENTRY, [(slug, _entry_row(e)) for slug, e in entries if e is not None])
        counters = changed(before.counters, after.counters)
        db.executemany("DELETE FROM counters WHERE name = ?", [(name,) for name, c in counters if c is None])
        db.executemany(_PUT_COUNTER, [(name, c.last_page, c.last_count) for name, c in counters if c is not None])
        pages = changed(before.page_hashes, after.page_hashes)
        db.executemany("DELETE FROM pages WHERE path = ?", [(path,) for path, h in pages if h is None])
        db.executemany(_PUT_PAGE, [(path, h) for path, h in pages if h is not None])

    def save_pending(self, version: int, pending_purge: list[str], dirty: list[str]) -> None:
        with self._write() as db:
            if self._version(db) != version:
                raise StaleWrite(f"the model changed since version {version} was loaded")
            db.executemany(_PUT_META, [("pending_purge", _json(pending_purge)), ("dirty", _json(dirty))])
        if self._cached is not None and self._cached.version == version:
            self._cached.pending_purge, self._cached.dirty = list(pending_purge), list(dirty)

    def source(self, key: str) -> SourceRecord | None:
        if key in self._records:
            return self._records[key]
        sql = "SELECT key, slug, state, version, sequencer, updated FROM sources WHERE key = ?"
        row = self.conn.execute(sql, (_text(key),)).fetchone()
        return SourceRecord.from_dict(dict(zip(SOURCE_COLUMNS, map(_str, row), strict=True))) if row else None

    def save_source(self, record: SourceRecord, expected: SourceRecord | None = None) -> None:
        """Keep what a source key published, written with the next `save` or `flush`; with
        `expected`, only if the record is still that (else StaleWrite)."""
        current = self.source(record.key)
        if expected is not None and (current or SourceRecord(key=record.key)) != expected:
            raise StaleWrite(f"the record of {record.key} changed since it was read")
        if current != record:
            self._records[record.key] = record

    def flush(self) -> None:
        """Write the source records saved since the last write."""
        if not self._records:
            return
        with self._write() as db:
            db.executemany(_PUT_SOURCE, (_source_row(r) for r in self._records.values()))
        self._records.clear()

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def renew(self) -> None:
        pass  # one process, no lease

    def unsettled(self) -> bool:
        with self._read() as db:
            meta = self._meta(db)
        return bool(meta.get("pending_purge") or meta.get("dirty"))

    def _whole(self) -> SiteModel:
        return self._model()

    def claim(self, marker: str, ttl_days: int = 30) -> bool:
        """True the first time a marker is claimed (or once its claim is `ttl_days` old); False after."""
        now = int(self.clock())
        with self._write() as db:
            row = db.execute("SELECT expires FROM markers WHERE marker = ?", (marker,)).fetchone()
            if row is not None and int(row[0]) > now:
                return False
            db.execute(
                "INSERT INTO markers (marker, expires) VALUES (?, ?) "
                "ON CONFLICT (marker) DO UPDATE SET expires = excluded.expires",
                (marker, now + ttl_days * 86400),
            )
        return True

    def cursor(self, name: str) -> str:
        row = self.conn.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else ""

    def set_cursor(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute(_PUT_CURSOR, (name, value))

    # -- from an index.json ----------------------------------------------------------

    def migrate(self, legacy: Path) -> bool:
        """Import the index.json an older edgepub kept (`MemoryIndex`) and remove it.

        Whatever this database held is replaced: an index.json is only there when
        an older edgepub built the folder last. Removed after the import commits, so
        a build stopped in between imports it again. True if there was one."""
        if not legacy.is_file():
            return False
        old = MemoryIndex(legacy)
        self.replace_all(old.model, old.sources.values())
        legacy.unlink()
        legacy.with_suffix(".tmp").unlink(missing_ok=True)  # what an interrupted flush left
        return True

    def replace_all(self, model: SiteModel, records: Iterable[SourceRecord]) -> None:
        """Make the database hold exactly `model` (at its version) and `records`, in one transaction."""
        with self._write() as db:
            for table in ("entries", "counters", "pages", "sources"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (a table name of ours)
            self._write_delta(db, SiteModel(), model)
            db.executemany(
                _PUT_META,
                [
                    ("version", _json(model.version)),
                    ("pending_purge", _json(model.pending_purge)),
                    ("dirty", _json(model.dirty)),
                    ("entry_fields", _json(ENTRY_FIELDS)),
                ],
            )
            db.executemany(_PUT_SOURCE, (_source_row(r) for r in records))
        self._records.clear()
        self._cached = model.copy()


def _source_row(record: SourceRecord) -> tuple[str | bytes, ...]:
    return tuple(_text(str(getattr(record, name))) for name in SOURCE_COLUMNS)


def _text(value: str) -> str | bytes:
    """A string as SQLite can store it: a source key from a file name that is not UTF-8
    (surrogate escapes) as the bytes `_str` turns back into the same string."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


def _str(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value
