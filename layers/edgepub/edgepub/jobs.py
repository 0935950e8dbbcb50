"""The scheduled jobs: time transitions, the daily freshness report, drift repair.

Each job reads only what it needs through the index (what is due, not every
article), changes the site through the same publisher as uploads, and is safe
to run twice at once or again after a crash: changes are made under the
publishers' lease from a freshly loaded model, so a second run finds nothing
left to do; notifications are claimed once per day.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from edgepub.freshness import NEVER, FreshnessPolicy
from edgepub.pages import key_for_path, path_for_key
from edgepub.plan import PageRef, ref_for_path
from edgepub.ports import ArticleIndex
from edgepub.publisher import Publisher
from edgepub.render import environment
from edgepub.site import Entry
from edgepub.state import entry_state


class ReportStore(Protocol):
    def put_report(self, key: str, body: bytes, content_type: str) -> None: ...


class Notifier(Protocol):
    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None: ...


# -- time transitions -----------------------------------------------------------------


@dataclass
class TransitionsReport:
    now: str
    dry_run: bool
    published: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    notices_added: list[str] = field(default_factory=list)
    pages_written: list[str] = field(default_factory=list)
    pages_deleted: list[str] = field(default_factory=list)
    urls_purged: int = 0


def run_transitions(
    publisher: Publisher, index: ArticleIndex, now: datetime, *, dry_run: bool = False
) -> TransitionsReport:
    """Publish what is scheduled for now, unpublish what expired, flag what became overdue.

    Exactly once: the changes are decided under the lease from the model as it is
    then, so an overlapping run finds the articles already in their new state.
    """
    now_iso = now.isoformat()
    report = TransitionsReport(now=now_iso, dry_run=dry_run)
    due = index.transitions_due(now_iso)
    overdue: list[str] = []
    if publisher.settings.outdated_notice:
        overdue = [i.slug for i in index.review_due_before(now.date().isoformat())]
    if not due and not overdue:
        if not dry_run:
            publisher.settle()  # what a run that died left: purged now, not at the next change
        return report
    with publisher.lease():
        model = publisher.index.load()
        changes: dict[str, Entry | None] = {}
        for slug in due:
            entry = model.entries.get(slug)
            if entry is None:
                continue
            state = entry_state(entry, now)
            if state != entry.status:
                changes[slug] = replace(entry, status=state)
                (report.published if state == "published" else report.expired).append(slug)
        for slug in overdue:
            entry = changes.get(slug) or model.entries.get(slug)
            if entry is not None and entry.live and not entry.outdated:
                changes[slug] = replace(entry, outdated=True)
                report.notices_added.append(slug)
        if dry_run or not changes:
            return report
        applied = publisher.apply_plan(model, changes, {})
    report.pages_written = [p.path for p in applied.written]
    report.pages_deleted = applied.deleted
    report.urls_purged = len(applied.purged)
    return report


# -- the freshness report ---------------------------------------------------------------


AGE_BUCKETS = ((0, 90, "< 90 days"), (90, 180, "90-179 days"), (180, 365, "180-364 days"), (365, 10**6, "1 year +"))


@dataclass
class FreshnessReport:
    day: str
    counts: dict[str, int]
    overdue_by_owner: dict[str, list[dict[str, str]]]
    due_soon: list[dict[str, str]]
    review_age: dict[str, int]
    items_read: int
    notified: bool = False
    dry_run: bool = False

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()


def build_freshness_report(index: ArticleIndex, policy: FreshnessPolicy, today: date, site_url: str) -> FreshnessReport:
    """Counts by state, review age, and overdue articles by owner, from the due items only."""
    items = index.review_due_before(policy.horizon(today))
    counts = {"fresh": 0, "due_soon": 0, "overdue": 0, "never_reviewed": 0}
    by_owner: dict[str, list[dict[str, str]]] = defaultdict(list)
    due_soon: list[dict[str, str]] = []
    ages = {label: 0 for _, _, label in AGE_BUCKETS} | {"never reviewed": 0}
    for item in items:
        state = "never_reviewed" if item.due == NEVER else "overdue" if item.due < today.isoformat() else "due_soon"
        counts[state] += 1
        row = {
            "slug": item.slug,
            "title": item.title,
            "url": f"{site_url}/{item.slug}/",
            "due": "" if item.due == NEVER else item.due,  # no date: never reviewed, due now
            "last_reviewed": item.last_reviewed or "never",
            "owner": item.owner or "(no owner)",
            "state": state,
        }
        if state == "due_soon":
            due_soon.append(row)
        else:
            by_owner[row["owner"]].append(row)
        if item.last_reviewed:
            age = (today - date.fromisoformat(item.last_reviewed[:10])).days
            ages[next(label for low, high, label in AGE_BUCKETS if low <= age < high)] += 1
        else:
            ages["never reviewed"] += 1
    stored = index.counts()
    counts["fresh"] = max(0, stored.get("published", 0) - len(items))
    counts["expired"] = stored.get("expired", 0)
    counts["scheduled"] = stored.get("scheduled", 0)
    counts["published"] = stored.get("published", 0)
    return FreshnessReport(
        day=today.isoformat(),
        counts=counts,
        due_soon=sorted(due_soon, key=lambda r: (r["due"], r["slug"])),
        overdue_by_owner={o: sorted(rows, key=lambda r: (r["due"], r["slug"])) for o, rows in sorted(by_owner.items())},
        review_age=ages,
        items_read=len(items),
    )


def due_label(row: dict[str, str]) -> str:
    """A report row's due date as people read it: the date, or "never reviewed"."""
    return row["due"] or "never reviewed"


def render_report_html(report: FreshnessReport) -> bytes:
    shown = replace(
        report,
        overdue_by_owner={o: [{**r, "due": due_label(r)} for r in rows] for o, rows in report.overdue_by_owner.items()},
        due_soon=[{**r, "due": due_label(r)} for r in report.due_soon],
    )
    html = (
        environment().get_template("ops/freshness.html").render(r=shown, max_age=max(report.review_age.values()) or 1)
    )
    return html.encode()


def run_freshness(
    index: ArticleIndex,
    policy: FreshnessPolicy,
    today: date,
    site_url: str,
    reports: ReportStore,
    notifier: Notifier,
    *,
    prefix: str = "reports/",
    dry_run: bool = False,
) -> FreshnessReport:
    """Build today's report, keep it (JSON and HTML), and notify owners once per day."""
    report = build_freshness_report(index, policy, today, site_url)
    report.dry_run = dry_run
    if dry_run:
        return report
    base = f"{prefix}freshness/{report.day}"
    reports.put_report(f"{base}.json", report.to_json(), "application/json; charset=utf-8")
    reports.put_report(f"{base}.html", render_report_html(report), "text/html; charset=utf-8")
    overdue = sum(len(rows) for rows in report.overdue_by_owner.values())
    if overdue and index.claim(f"freshness-notified#{report.day}"):
        lines = [
            f"{overdue} articles need review ({report.counts['overdue']} overdue, "
            f"{report.counts['never_reviewed']} never reviewed). Report: {base}.html",
            "",
        ]
        for owner, rows in report.overdue_by_owner.items():
            lines.append(f"{owner}: {len(rows)}")
            lines += [
                f"  - {r['title']} ({r['url']}), " + (f"due {r['due']}" if r["due"] else "never reviewed")
                for r in rows[:20]
            ]
            if len(rows) > 20:
                lines.append(f"  ... and {len(rows) - 20} more")
        notifier.notify(
            f"edgepub: {overdue} articles need review ({report.day})",
            "\n".join(lines),
            {"owners": ",".join(report.overdue_by_owner)[:250]},
        )
        report.notified = True
    return report


# -- drift repair ---------------------------------------------------------------------------


@dataclass
class DriftReport:
    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    cursor: str = ""
    done: bool = False
    dry_run: bool = False


def repair_drift(publisher: Publisher, index: ArticleIndex, *, batch: int = 200, dry_run: bool = False) -> DriftReport:
    """Check up to `batch` stored pages against the hashes the index expects and
    rewrite what is missing or different; then list the bucket for orphans (pages
    no article owns: left by a writer that crashed, say), a page of keys per run,
    and delete and purge them. Resumes where the last run stopped."""
    report = DriftReport(dry_run=dry_run)
    if not dry_run:
        publisher.settle()  # what a writer that died left: its paths rendered again or deleted, purged
    cursor = index.cursor("drift")
    model = publisher.index.load()
    if not cursor.startswith("orphans:"):
        paths = model.page_paths_after(cursor, batch)
        broken: list[PageRef] = []
        for path in paths:
            stored = publisher.pages.head(key_for_path(path))
            report.checked += 1
            if stored is None or stored.content_hash != model.page_hashes[path]:
                ref = ref_for_path(path, model)
                if ref is not None:
                    broken.append(ref)
                    report.repaired.append(path)
        if broken and not dry_run:
            with publisher.lease():
                publisher.rewrite(publisher.index.load(), broken)
        report.cursor = paths[-1] if len(paths) == batch else "orphans:"
    else:
        token = cursor.removeprefix("orphans:")
        keys, following = publisher.pages.list_keys(token, limit=batch)
        report.checked = len(keys)
        model.prefetch_pages(path_for_key(k) for k in keys)
        unknown = [k for k in keys if path_for_key(k) not in model.page_hashes]
        # an orphan is a page edgepub stored (it carries its content hash) that no article owns
        # now; anything else in the bucket (a file an operator put there) is left alone
        report.orphans = [path_for_key(k) for k in unknown if _stored_by_edgepub(publisher, k)]
        if report.orphans and not dry_run:
            with publisher.lease():  # checked again under the lease: what an article owns by then is kept
                publisher.rewrite(publisher.index.load(), [], strays=report.orphans)
        report.cursor = f"orphans:{following}" if following else ""
        report.done = not following
    if not dry_run:
        index.set_cursor("drift", report.cursor)
    return report


def _stored_by_edgepub(publisher: Publisher, key: str) -> bool:
    """A page edgepub stored, not an asset: theme and page-bundle files are named by their
    content and kept (an older page or a reader's cache may still reference them)."""
    stored = publisher.pages.head(key)
    return stored is not None and bool(stored.content_hash) and stored.metadata.get("page-kind") != "asset"


def job_payload(event: dict[str, Any]) -> dict[str, Any]:
    """The job request from a direct invoke ({"job": ...}) or EventBridge Scheduler (Input, or detail "{}")."""
    payload = dict(event)
    detail = payload.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail or "{}")
        except ValueError:
            detail = {}
    if isinstance(detail, dict):
        payload = {**detail, **{k: v for k, v in payload.items() if k != "detail"}}
    return payload
