"""Text people read: aligned tables and sentences, never a Python repr, and "never
reviewed" wherever a due date is shown for an article never reviewed."""

from __future__ import annotations

from dataclasses import asdict

from edgepub import display
from edgepub.freshness import FreshnessPolicy
from edgepub.jobs import DriftReport, TransitionsReport, run_freshness

from tests.support.sites import NOW, URL, Site, md
from tests.unit.test_jobs import Notifications, Reports, fixture_site

TODAY = NOW.date()
REPRS = ("{'", "[{", "['", "None", "0000-00-00", "True", "False")


def assert_readable(text: str) -> None:
    for marker in REPRS:
        assert marker not in text, f"{marker!r} in:\n{text}"


def test_table_aligns_columns_and_right_aligns_numbers():
    text = display.table(["NAME", "COUNT", "TAGS"], [["a", 5, ["x", "y"]], ["longer name", 120, None]])
    lines = text.splitlines()
    assert lines[0] == "NAME         COUNT  TAGS"
    assert lines[1] == "a                5  x, y"
    assert lines[2] == "longer name    120  -"


def test_cell_never_shows_a_repr():
    assert display.cell(None) == "-" and display.cell("") == "-"
    assert display.cell(True) == "yes" and display.cell([]) == "-"
    assert display.cell({"mode": "x", "n": [1, 2]}) == "mode=x, n=1, 2"


def test_freshness_text_is_tables_and_says_never_reviewed():
    site = fixture_site()
    report = run_freshness(site.index, FreshnessPolicy(), TODAY, URL, Reports(), Notifications(), dry_run=True)
    text = display.freshness(asdict(report))
    assert_readable(text)
    assert "Freshness report for 2026-11-22 (dry run)" in text
    assert "never reviewed" in text and "overdue" in text
    lines = text.splitlines()
    counts = lines[lines.index("  STATE           ARTICLES") + 1 : lines.index("  STATE           ARTICLES") + 8]
    assert counts[0].split() == ["fresh", "2"] and counts[3].split() == ["never", "reviewed", "1"]
    assert len({len(line) for line in counts}) == 1  # numbers right-aligned in one column
    n1 = next(line for line in lines if line.strip().startswith("n1 "))
    assert n1.split()[-4:] == ["never", "reviewed", "never", "reviewed"]  # due, then state
    assert "team-a (2)" in text and "team-b (1)" in text
    assert "Dry run: the report was not stored" in text


def test_the_stored_report_and_the_notification_say_never_reviewed():
    site = fixture_site()
    reports, notes = Reports(), Notifications()
    report = run_freshness(site.index, FreshnessPolicy(), TODAY, URL, reports, notes)
    n1 = next(r for r in report.overdue_by_owner["team-a"] if r["slug"] == "n1")
    assert n1["due"] == "" and n1["state"] == "never_reviewed"  # JSON: no date
    html = reports.stored["reports/freshness/2026-11-22.html"].decode()
    assert "0000-00-00" not in html and "<td>never reviewed</td>" in html
    assert "0000-00-00" not in reports.stored["reports/freshness/2026-11-22.json"].decode()
    message = notes.sent[0][1]
    assert "0000-00-00" not in message and f"N1 ({URL}/n1/), never reviewed" in message


def test_transitions_and_drift_are_sentences():
    done = TransitionsReport(now=NOW.isoformat(), dry_run=False, published=["later"], pages_written=["/later/", "/"])
    done.urls_purged = 3
    text = display.transitions(asdict(done))
    assert_readable(text)
    assert "published (publish date reached): 1: later" in text
    assert "2 pages written, 0 deleted, 3 URLs purged" in text
    dry = display.transitions(asdict(TransitionsReport(now=NOW.isoformat(), dry_run=True, expired=["a", "b"])))
    assert "would unpublish (expiry date passed): 2: a, b" in dry and "written" not in dry

    drift = display.drift(asdict(DriftReport(checked=3, repaired=["/a/"], orphans=["/old.html"], cursor="/c/")))
    assert_readable(drift)
    assert drift.splitlines()[0] == "Drift check: 3 pages checked, 1 repaired, 1 orphan found, deleted and purged"
    assert "repaired        /a/" in drift and "deleted orphan  /old.html" in drift
    assert "continues after /c/" in drift


def test_dead_letter_tables():
    publish = [
        {
            "message_id": "m-1",
            "sent": "2026-11-22T07:00:00+00:00",
            "receives": 6,
            "source_keys": ["content/a.md", "content/b.md"],
            "event_names": ["ObjectCreated:Put"],
            "urls": 0,
            "tags": 0,
            "note": "",
        },
        {
            "message_id": "m-22",
            "sent": "2026-11-22T07:01:00+00:00",
            "receives": 12,
            "source_keys": [],
            "event_names": [],
            "urls": 0,
            "tags": 0,
            "note": "SQS message body is not JSON: Expecting value",
        },
    ]
    text = display.dead_letters("publish", publish)
    assert_readable(text)
    lines = text.splitlines()
    assert lines[0] == "2 messages in the publish dead-letter queue:"
    assert lines[1].split() == ["MESSAGE", "ID", "SENT", "RECEIVES", "SOURCE", "KEYS", "EVENTS"]
    assert "content/a.md, content/b.md" in lines[2] and "not JSON" in lines[3]
    assert lines[2].index("2026") == lines[3].index("2026")  # aligned
    assert display.dead_letters("purge", []) == "The purge dead-letter queue is empty."
    moved = display.redrive({"queue": "publish", "dry_run": False, "moved": 2, "messages": publish, "failed": []})
    assert moved.startswith("Moved 2 messages back to the publish queue.")
    would = display.redrive({"queue": "publish", "dry_run": True, "moved": 0, "messages": publish[:1], "failed": []})
    assert would.startswith("Would move 1 message back") and "content/a.md" in would


def test_a_never_reviewed_article_in_a_site_shows_no_placeholder_date():
    site = Site()
    site.put("n.md", md("Never", owner="ops"))
    report = run_freshness(site.index, FreshnessPolicy(), TODAY, URL, Reports(), Notifications(), dry_run=True)
    assert "0000-00-00" not in display.freshness(asdict(report))
