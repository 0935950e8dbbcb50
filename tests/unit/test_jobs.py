"""Scheduled jobs with a frozen clock: freshness states at their boundaries,
time transitions exactly once, the report's counts, dry runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from edgepub.freshness import FreshnessPolicy
from edgepub.jobs import build_freshness_report, job_payload, run_freshness, run_transitions
from edgepub.settings import Settings
from edgepub.site import Entry

from tests.support.sites import NOW, URL, Site, md

TODAY = NOW.date()


def entry(last_reviewed: str = "", interval: int = 0, tags: tuple[str, ...] = (), topic: str = "") -> Entry:
    return Entry(
        slug="a",
        source_key="content/a.md",
        title="A",
        last_reviewed=last_reviewed,
        review_interval_days=interval,
        tags=tags,
        topic=topic,
    )


@pytest.mark.parametrize(
    ("days_until_due", "state"),
    [(15, "fresh"), (14, "due_soon"), (1, "due_soon"), (0, "due_soon"), (-1, "overdue"), (-400, "overdue")],
)
def test_freshness_states_at_their_boundaries(days_until_due, state):
    policy = FreshnessPolicy(default_days=180, due_soon_days=14)
    reviewed = TODAY + timedelta(days=days_until_due) - timedelta(days=180)
    assert policy.state(entry(reviewed.isoformat()), TODAY) == state


def test_never_reviewed_is_its_own_state():
    assert FreshnessPolicy().state(entry(""), TODAY) == "never_reviewed"


def test_interval_comes_from_the_article_then_its_tags_then_its_topic_then_the_default():
    policy = FreshnessPolicy.from_settings(
        Settings(review_intervals='{"tag:security": 90, "tag:ops": 60, "topic:Billing": 30}', review_interval_days=200)
    )
    assert policy.interval(entry(interval=7, tags=("security",))) == 7
    assert policy.interval(entry(tags=("security", "ops"))) == 60  # the shortest of its tags
    assert policy.interval(entry(topic="billing")) == 30
    assert policy.interval(entry()) == 200


def test_bad_review_intervals_setting_is_named():
    from edgepub.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="EDGEPUB_REVIEW_INTERVALS"):
        FreshnessPolicy.from_settings(Settings(review_intervals="[90]"))


def scheduled_site() -> Site:
    site = Site()
    site.put("old.md", md("Old", date="2026-01-01", tags=("x",)))
    outcome = site.put("soon.md", md("Soon", date="2026-11-22", tags=("x",), publishDate="2026-11-22T13:00:00Z"))
    assert outcome.action == "held"
    return site


def test_scheduled_article_is_published_exactly_once_across_two_runs():
    site = scheduled_site()
    site.now = NOW + timedelta(hours=2)
    site.reset_counts()
    first = run_transitions(site.publisher, site.index, site.now)
    assert first.published == ["soon"]
    assert {"/soon/", "/", "/feed.xml", "/tags/x/"} <= set(first.pages_written)
    assert "/soon/" in site.purged
    site.reset_counts()
    second = run_transitions(site.publisher, site.index, site.now)
    assert second.published == [] and second.pages_written == []
    assert site.written == set() and site.purged == set()


def test_nothing_is_published_before_its_time():
    site = scheduled_site()
    site.now = NOW + timedelta(minutes=30)
    assert run_transitions(site.publisher, site.index, site.now).published == []
    assert "soon" not in site.html("/")


def test_expired_article_is_unpublished_and_purged():
    site = Site()
    site.put("short.md", md("Short-lived", date="2026-11-01", tags=("x",), expiryDate="2026-11-23T00:00:00Z"))
    assert "Short-lived" in site.html("/")
    site.now = NOW + timedelta(days=1)
    site.reset_counts()
    report = run_transitions(site.publisher, site.index, site.now)
    assert report.expired == ["short"]
    assert (
        site.pages.deletes == ["short/index.html", "tags/x/index.html", "tags/x/page/1/index.html", "sitemaps/1.xml"]
        or "short/index.html" in site.pages.deletes
    )
    assert "/short/" in site.purged
    assert "Short-lived" not in site.html("/")


def test_dry_run_changes_nothing():
    site = scheduled_site()
    site.now = NOW + timedelta(hours=2)
    site.reset_counts()
    report = run_transitions(site.publisher, site.index, site.now, dry_run=True)
    assert report.published == ["soon"] and report.dry_run
    assert site.written == set() and site.purged == set()
    assert site.index.model.entries["soon"].status == "scheduled"


def test_overdue_notice_is_added_by_the_job_when_enabled():
    site = Site(settings=Settings(site_url=URL, outdated_notice=True))
    site.put("a.md", md("A", date="2026-01-01", revision="{last reviewed: 2026-05-01}"))
    assert "may be out of date" in site.html("/a/")  # due 2026-10-28: overdue when published
    site.put("b.md", md("B", date="2026-01-01", revision="{last reviewed: 2026-06-01}"))  # due 2026-11-28
    assert "may be out of date" not in site.html("/b/")
    site.now = NOW + timedelta(days=7)
    site.reset_counts()
    report = run_transitions(site.publisher, site.index, site.now)
    assert report.notices_added == ["b"]
    assert site.written == {"/b/"}
    assert "may be out of date" in site.html("/b/")


class Reports:
    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def put_report(self, key: str, body: bytes, content_type: str) -> None:
        self.stored[key] = body


class Notifications:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None:
        self.sent.append((subject, message))


def fixture_site() -> Site:
    site = Site()
    reviewed = {  # last reviewed -> state on 2026-11-22 with a 180-day interval and 14 days' warning
        "f1": "2026-10-01",
        "f2": "2026-09-01",  # fresh (due 2027-03-30, 2027-02-28)
        "s1": "2026-06-01",  # due 2026-11-28: due soon
        "o1": "2026-01-01",
        "o2": "2025-01-01",  # overdue
    }
    for slug, day in reviewed.items():
        owner = "team-a" if slug in ("o1", "s1") else "team-b"
        site.put(f"{slug}.md", md(slug.upper(), owner=owner, revision=f"{{last reviewed: {day}}}"))
    site.put("n1.md", md("N1", owner="team-a"))  # never reviewed
    site.put("gone.md", md("Gone", expiryDate="2026-01-01"))  # expired
    return site


def test_report_counts_equal_the_fixtures_truth():
    site = fixture_site()
    report = build_freshness_report(site.index, FreshnessPolicy(), TODAY, URL)
    assert report.counts == {
        "fresh": 2,
        "due_soon": 1,
        "overdue": 2,
        "never_reviewed": 1,
        "expired": 1,
        "scheduled": 0,
        "published": 6,
    }
    assert report.items_read == 4  # only what is due is read
    assert {o: [r["slug"] for r in rows] for o, rows in report.overdue_by_owner.items()} == {
        "team-a": ["n1", "o1"],
        "team-b": ["o2"],
    }
    assert [r["slug"] for r in report.due_soon] == ["s1"]
    assert report.review_age == {
        "< 90 days": 0,
        "90-179 days": 1,
        "180-364 days": 1,
        "1 year +": 1,
        "never reviewed": 1,
    }


def test_report_is_kept_and_owners_are_notified_once_a_day():
    site = fixture_site()
    reports, notes = Reports(), Notifications()
    run_freshness(site.index, FreshnessPolicy(), TODAY, URL, reports, notes)
    run_freshness(site.index, FreshnessPolicy(), TODAY, URL, reports, notes)  # a rerun
    assert set(reports.stored) == {"reports/freshness/2026-11-22.json", "reports/freshness/2026-11-22.html"}
    html = reports.stored["reports/freshness/2026-11-22.html"].decode()
    assert "<svg" in html and f'href="{URL}/o1/"' in html
    assert len(notes.sent) == 1
    subject, message = notes.sent[0]
    assert "3 articles need review" in subject
    assert "team-a: 2" in message and "team-b: 1" in message


def test_freshness_dry_run_stores_and_sends_nothing():
    site = fixture_site()
    reports, notes = Reports(), Notifications()
    report = run_freshness(site.index, FreshnessPolicy(), TODAY, URL, reports, notes, dry_run=True)
    assert report.counts["overdue"] == 2
    assert reports.stored == {} and notes.sent == []


def test_scheduler_payload_shapes():
    assert job_payload({"job": "freshness"}) == {"job": "freshness"}
    # EventBridge Scheduler without Input sends detail as the string "{}"
    assert job_payload({"detail-type": "Scheduled Event", "detail": "{}"}) == {"detail-type": "Scheduled Event"}
    assert job_payload({"detail": '{"job": "drift"}'})["job"] == "drift"


def test_report_date_uses_the_day_given():
    site = fixture_site()
    assert build_freshness_report(site.index, FreshnessPolicy(), date(2027, 1, 1), URL).day == "2027-01-01"
