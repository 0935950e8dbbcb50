"""The SQLite index of local builds (`SqliteIndex`): what it keeps, what a commit
writes, what it refuses, and the one-time import of an older build's index.json."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgepub.cli import cli
from edgepub.index import MemoryIndex, status_counts
from edgepub.localbuild import build
from edgepub.localindex import SOURCE_COLUMNS, SqliteIndex
from edgepub.ports import SOURCE_FIELDS, SourceRecord, StaleWrite
from edgepub.settings import Settings
from edgepub.site import ENTRY_FIELDS, Counter, Entry, SiteModel


def entry(i: int) -> Entry:
    """An entry with every kind of field set: tuples, pairs, flags, numbers, non-ASCII text."""
    page = 1 + i // 20
    return Entry(
        slug=f"article-{i:04d}",
        source_key=f"content/article-{i:04d}.md",
        title=f"Article {i}: caché \u00e9t\u00e9 \u2014 \u201cquoted\u201d",
        summary='A summary with "quotes", a backslash \\ and a\nnewline.',
        date=f"2026-01-{1 + i % 28:02d}T00:00:00+00:00",
        tags=("cdn", f"tag-{i % 7}"),
        stack=("python",) if i % 2 else (),
        tools=("curl", "git"),
        entities=("Cloudflare",),
        noindex=i % 5 == 0,
        owner=f"team-{i % 3}",
        outdated=i % 11 == 0,
        status="draft" if i % 13 == 0 else "scheduled" if i % 17 == 0 else "published",
        publish_at="2027-01-01T00:00:00+00:00" if i % 17 == 0 else "",
        last_reviewed="2026-02-01",
        review_interval_days=i % 90,
        aliases=(f"/old-{i}/",) if i % 4 == 0 else (),
        source_hash=hashlib.sha256(str(i).encode()).hexdigest(),
        archive_page=page,
        tag_pages=(("cdn", page), (f"tag-{i % 7}", 1 + i // 140)),
        sitemap_shard=1,
        similar=(f"article-{i + 1:04d}", f"article-{i + 2:04d}"),
    )


def site(n: int) -> SiteModel:
    entries = {e.slug: e for e in map(entry, range(n))}
    return SiteModel(
        entries=entries,
        counters={
            "all": Counter(1 + n // 20, n % 20 or 20),
            "tag:cdn": Counter(1 + n // 20, 3),
            "sitemap": Counter(1, n),
        },
        page_hashes={e.path: e.source_hash for e in entries.values()} | {"/": "home", "/feed.xml": "feed"},
    )


def record(i: int) -> SourceRecord:
    return SourceRecord(
        key=f"content/article-{i:04d}.md",
        slug=f"article-{i:04d}",
        state="published",
        version=f"v{i}",
        sequencer=f"{i:016X}",
        updated="2026-03-01T00:00:00+00:00",
    )


def test_a_model_and_its_records_come_back_as_saved(tmp_path):
    assert SOURCE_COLUMNS == SOURCE_FIELDS  # a field added to SourceRecord needs a column
    path = tmp_path / "index.sqlite3"
    model = site(60)
    model.pending_purge, model.dirty = ["https://www.example.com/article-0001/"], ["/article-0001/"]
    rejected = SourceRecord(key="content/broken.md", state="rejected", updated="2026-03-02T00:00:00+00:00")
    undecodable = SourceRecord(key="content/caf\udce9.md", state="rejected")  # a file name that is not UTF-8
    with SqliteIndex(path) as index:
        index.save(SiteModel(), model, [record(i) for i in range(50)])
        index.save_source(record(50))
        index.save_source(rejected)
        index.save_source(undecodable)
        index.flush()
        index.set_cursor("drift", "/tags/cdn/")
        assert index.claim("freshness-notified#2026-03-01")
    with SqliteIndex(path) as index:  # another process, later
        loaded = index.load()
        assert loaded.entries == model.entries
        assert all(type(v) is tuple for e in loaded.entries.values() for v in (e.tags, e.aliases, *e.tag_pages))
        assert loaded.counters == model.counters and loaded.page_hashes == model.page_hashes
        assert (loaded.version, loaded.pending_purge, loaded.dirty) == (1, model.pending_purge, model.dirty)
        assert [index.source(record(i).key) for i in range(51)] == [record(i) for i in range(51)]
        assert index.source("content/broken.md") == rejected and index.source("content/none.md") is None
        assert index.source(undecodable.key) == undecodable
        assert index.cursor("drift") == "/tags/cdn/" and index.cursor("other") == ""
        assert not index.claim("freshness-notified#2026-03-01")
        assert index.counts() == status_counts(model) and index.unsettled()
        memory = MemoryIndex()  # the same answers as the JSON index
        memory.model = model
        assert index.transitions_due("2028-01-01T00:00:00+00:00") == ["article-0017", "article-0034", "article-0051"]
        assert index.transitions_due("2026-12-31T00:00:00+00:00") == []
        assert index.review_due_before("2026-06-01") == memory.review_due_before("2026-06-01") != []


def test_rows_of_an_older_version_are_rewritten_once_under_the_current_fields(tmp_path):
    path = tmp_path / "index.sqlite3"
    model = site(5)
    with SqliteIndex(path) as index:
        index.save(SiteModel(), model)
        older = [name for name in ENTRY_FIELDS if name != "outdated"] + ["retired_field"]
        with index.conn:  # as an edgepub whose entries had other fields wrote them
            index.conn.execute("BEGIN")
            for e in model.entries.values():
                row = [*(v for name, v in zip(ENTRY_FIELDS, e.to_row(), strict=True) if name != "outdated"), "x"]
                index.conn.execute("UPDATE entries SET row = ? WHERE slug = ?", (json.dumps(row), e.slug))
            index.conn.execute("UPDATE meta SET value = ? WHERE name = 'entry_fields'", (json.dumps(older),))
    with SqliteIndex(path) as index:
        assert index.load().entries == {s: replace(e, outdated=False) for s, e in model.entries.items()}
        fields = index.conn.execute("SELECT value FROM meta WHERE name = 'entry_fields'").fetchone()[0]
        assert tuple(json.loads(fields)) == ENTRY_FIELDS
        assert [len(json.loads(r)) for (r,) in index.conn.execute("SELECT row FROM entries")] == [len(ENTRY_FIELDS)] * 5


def test_a_one_entry_change_writes_one_entry_row(tmp_path):
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index:
        index.save(SiteModel(), site(1000), [record(i) for i in range(1000)])
    with SqliteIndex(path) as index:
        before = index.load()
        after = before.copy()
        after.entries["article-0500"] = replace(after.entries["article-0500"], title="Edited")
        written = index.conn.total_changes
        index.save(before, after)
        assert index.conn.total_changes - written == 2  # the entry's row and the version

        before = index.load()
        after = before.copy()
        del after.entries["article-0002"]
        after.page_hashes["/article-0001/"] = "rewritten"
        after.counter("all").allocate(20)
        written = index.conn.total_changes
        index.save(before, after, [replace(record(2), state="deleted", slug="")])
        assert index.conn.total_changes - written == 5  # entry, page, counter, source record, version

        written = index.conn.total_changes
        index.save_pending(after.version, [], [])  # as stored: nothing to write
        assert index.conn.total_changes == written
        index.save_pending(after.version, ["https://www.example.com/article-0001/"], [])
        assert index.conn.total_changes - written == 1
    with SqliteIndex(path) as index:
        stored = index.load()
        assert stored.version == 3 and len(stored.entries) == 999 and "article-0002" not in stored.entries
        assert stored.entries["article-0500"].title == "Edited"
        assert stored.entries["article-0501"] == entry(501)
        assert stored.page_hashes["/article-0001/"] == "rewritten" and stored.counters == after.counters
        assert index.source(record(2).key) == replace(record(2), state="deleted", slug="")
        assert stored.pending_purge == ["https://www.example.com/article-0001/"]


def test_the_model_is_read_again_only_when_another_writer_committed(tmp_path):
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index, SqliteIndex(path) as other:
        index.save(SiteModel(), site(20))
        statements: list[str] = []
        index.conn.set_trace_callback(statements.append)
        assert index.load().entries == site(20).entries
        assert not [s for s in statements if "FROM entries" in s]  # kept from the save
        before = other.load()
        after = before.copy()
        after.entries["article-0003"] = replace(after.entries["article-0003"], title="By another writer")
        other.save(before, after)
        assert index.load().entries["article-0003"].title == "By another writer"
        assert [s for s in statements if "FROM entries" in s]


def test_a_save_planned_from_an_older_version_is_refused_and_writes_nothing(tmp_path):
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index, SqliteIndex(path) as other:
        index.save(SiteModel(), site(10))
        mine, theirs = index.load(), other.load()
        after = theirs.copy()
        after.entries["article-0001"] = replace(after.entries["article-0001"], title="Theirs")
        other.save(theirs, after)

        stale = mine.copy()
        stale.entries["article-0002"] = replace(stale.entries["article-0002"], title="Mine")
        index.save_source(record(7))  # kept for the next write
        written = index.conn.total_changes
        with pytest.raises(StaleWrite):
            index.save(mine, stale, [record(2)])
        with pytest.raises(StaleWrite):
            index.save_pending(mine.version, ["https://www.example.com/article-0002/"], ["/article-0002/"])
        assert index.conn.total_changes == written and stale.version == mine.version == 1
        current = index.load()
        assert current.version == 2 and current.entries["article-0001"].title == "Theirs"
        assert current.entries["article-0002"] == entry(2) and current.pending_purge == []
        assert other.source(record(2).key) is None and other.source(record(7).key) is None
        with pytest.raises(StaleWrite):  # the writer that won cannot commit from its old model twice either
            other.save(theirs, after.copy())


def test_an_index_json_is_imported_once_and_then_removed(tmp_path):
    legacy = tmp_path / "index.json"
    old = MemoryIndex(legacy)
    model = site(40)
    old.save(SiteModel(), model, [record(i) for i in range(40)])
    old.save_source(SourceRecord(key="content/broken.md", state="rejected"))
    old.save_pending(1, ["https://www.example.com/"], [])
    old.flush()
    path = tmp_path / "index.sqlite3"
    with SqliteIndex(path) as index:
        index.save(SiteModel(), site(3), [record(99)])  # what was there before is replaced
        assert index.migrate(legacy)
        assert not legacy.exists()
        assert not index.migrate(legacy)
    with SqliteIndex(path) as index:
        loaded = index.load()
        assert loaded.entries == model.entries and loaded.page_hashes == model.page_hashes
        assert loaded.counters == model.counters and loaded.version == 1
        assert loaded.pending_purge == ["https://www.example.com/"]
        assert [index.source(record(i).key) for i in range(40)] == [record(i) for i in range(40)]
        assert index.source("content/broken.md") == SourceRecord(key="content/broken.md", state="rejected")
        assert index.source(record(99).key) is None


def _pages(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.relative_to(out).as_posix().startswith(".edgepub/")
    }


def _valid_samples(samples: Path, tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(samples, src)
    (src / "broken-front-matter.md").unlink()  # a rejected source is read, and recorded, again by every build
    return src


def test_a_folder_an_older_edgepub_built_keeps_building_incrementally(samples, tmp_path):
    src, out = _valid_samples(samples, tmp_path), tmp_path / "out"
    state = out / ".edgepub"
    build(src, out, Settings())
    pages = _pages(out)
    with SqliteIndex(state / "index.sqlite3") as index:  # leave what an older edgepub left: index.json
        model = index.load()
        records = [index.source(f"content/{p.name}") for p in sorted(src.iterdir())]
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (state / name).unlink(missing_ok=True)
    older = MemoryIndex(state / "index.json")
    older.model = model
    for found in records:
        assert found is not None
        older.save_source(found)
    older.flush()

    again = build(src, out, Settings())
    assert again.pages_written == 0 and again.count("unchanged") == 4 and _pages(out) == pages
    assert not (state / "index.json").exists() and (state / "index.sqlite3").is_file()
    md = src / "purge-only-what-changed.md"
    md.write_text(md.read_text().replace("crutch", "bad habit"))
    edit = build(src, out, Settings())
    assert [p.path for p in edit.applied.written] == ["/purge-only-what-changed/"]


def test_building_twice_gives_the_same_pages_and_the_second_build_writes_nothing(samples, tmp_path, monkeypatch):
    src, out = _valid_samples(samples, tmp_path), tmp_path / "out"
    database = out / ".edgepub" / "index.sqlite3"
    changes: list[int] = []  # rows each build's index wrote
    close = SqliteIndex.close

    def counted_close(self: SqliteIndex) -> None:
        changes.append(self.conn.total_changes)
        close(self)

    monkeypatch.setattr(SqliteIndex, "close", counted_close)
    runner = CliRunner()
    first = runner.invoke(cli, ["build", str(src), "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["published"] == 4
    pages, stored = _pages(out), database.read_bytes()

    second = runner.invoke(cli, ["build", str(src), "--out", str(out), "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output)
    assert summary["unchanged"] == 4 and summary["pages_written"] == summary["pages_deleted"] == 0
    assert _pages(out) == pages
    assert changes[0] > 0 and changes[1] == 0
    assert database.read_bytes() == stored
    assert not (out / ".edgepub" / "index.json").exists()
