"""Text for people: aligned tables and sentences for the CLI's reports (`--json` prints
the data itself). Each function takes the data a command's --json prints (plain dicts
and lists, as the ops function returns them) and never shows a Python repr."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NONE = "-"


def cell(value: object) -> str:
    """One value as text: no None, no brackets, no quotes."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items()) or NONE
    if isinstance(value, list | tuple | set):
        return ", ".join(cell(v) for v in value) or NONE
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], indent: str = "") -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    raw = [list(row) for row in rows]
    cells = [[cell(v) for v in row] for row in raw]
    numeric = [
        bool(raw) and all(isinstance(r[i], int) and not isinstance(r[i], bool) for r in raw)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric, strict=True)]
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in cells)])


def plural(count: int, noun: str, nouns: str = "") -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


# -- scheduled jobs ----------------------------------------------------------------------

STATE_LABELS = {
    "fresh": "fresh",
    "due_soon": "due soon",
    "overdue": "overdue",
    "never_reviewed": "never reviewed",
    "expired": "expired",
    "scheduled": "scheduled",
    "published": "published",
}


def freshness(report: Mapping[str, Any]) -> str:
    """The freshness report (edgepub.jobs.FreshnessReport as a dict)."""
    counts: Mapping[str, int] = report.get("counts", {})
    lines = [f"Freshness report for {report.get('day', NONE)}" + (" (dry run)" if report.get("dry_run") else "")]
    lines += ["", table(["STATE", "ARTICLES"], [[STATE_LABELS.get(k, k), v] for k, v in counts.items()], "  ")]
    ages: Mapping[str, int] = report.get("review_age", {})
    if ages:
        lines += ["", "Review age of the articles due:", table(["AGE", "ARTICLES"], list(ages.items()), "  ")]
    lines += ["", "Overdue and never reviewed, by owner:"]
    by_owner: Mapping[str, list[Mapping[str, str]]] = report.get("overdue_by_owner", {})
    if not by_owner:
        lines.append("  nothing overdue")
    for owner, rows in by_owner.items():
        lines += [f"  {owner} ({len(rows)})", _review_table(rows, "    ")]
    due_soon: list[Mapping[str, str]] = report.get("due_soon", [])
    lines += ["", "Due soon:", _review_table(due_soon, "  ") if due_soon else "  nothing due soon"]
    if report.get("dry_run"):
        lines += ["", "Dry run: the report was not stored and nobody was notified."]
    else:
        notified = (
            "owners notified" if report.get("notified") else "no notification sent (none due, or sent already today)"
        )
        lines += ["", f"Report stored; {notified}."]
    return "\n".join(lines)


def _review_table(rows: Iterable[Mapping[str, str]], indent: str) -> str:
    return table(
        ["SLUG", "TITLE", "LAST REVIEWED", "DUE", "STATE"],
        [
            [
                r.get("slug"),
                r.get("title"),
                r.get("last_reviewed"),
                r.get("due") or "never reviewed",
                STATE_LABELS.get(r.get("state", ""), r.get("state")),
            ]
            for r in rows
        ],
        indent,
    )


def transitions(report: Mapping[str, Any]) -> str:
    """The time-transitions job (edgepub.jobs.TransitionsReport as a dict)."""
    dry = bool(report.get("dry_run"))
    lines = [f"Transitions as of {report.get('now', NONE)}" + (" (dry run: nothing changed)" if dry else "")]
    for key, done, would in (
        ("published", "published (publish date reached)", "would publish (publish date reached)"),
        ("expired", "unpublished (expiry date passed)", "would unpublish (expiry date passed)"),
        ("notices_added", '"may be out of date" notice added', 'would add the "may be out of date" notice'),
    ):
        slugs = report.get(key, [])
        lines.append(f"  {would if dry else done}: {len(slugs)}" + (f": {cell(slugs)}" if slugs else ""))
    if not dry:
        lines.append(
            f"  {plural(len(report.get('pages_written', [])), 'page')} written, "
            f"{len(report.get('pages_deleted', []))} deleted, {plural(int(report.get('urls_purged', 0)), 'URL')} purged"
        )
    return "\n".join(lines)


def drift(report: Mapping[str, Any]) -> str:
    """The drift-repair job (edgepub.jobs.DriftReport as a dict)."""
    dry = bool(report.get("dry_run"))
    repaired: list[str] = report.get("repaired", [])
    orphans: list[str] = report.get("orphans", [])
    verb = "would repair" if dry else "repaired"
    lines = [
        f"Drift check: {plural(int(report.get('checked', 0)), 'page')} checked, {len(repaired)} {verb}, "
        f"{plural(len(orphans), 'orphan')} found"
        + (" (dry run: nothing changed)" if dry else ", deleted and purged" if orphans else "")
    ]
    rows = [[verb, path] for path in repaired] + [["orphan" if dry else "deleted orphan", path] for path in orphans]
    if rows:
        lines.append(table(["", "PATH"], rows, "  "))
    cursor = str(report.get("cursor", ""))
    if report.get("done") or not cursor:
        lines.append("Every page was checked; the next run starts again from the first.")
    elif cursor.startswith("orphans:"):
        lines.append("The next run lists the bucket for orphans (pages no article owns).")
    else:
        lines.append(f"The next run continues after {cursor}.")
    return "\n".join(lines)


def job(name: str, report: Mapping[str, Any]) -> str:
    return {"freshness": freshness, "transitions": transitions, "drift": drift}[name](report)


# -- dead letters ------------------------------------------------------------------------


def dead_letters(queue: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """`edgepub dlq list`: one row per message in the dead-letter queue."""
    if not messages:
        return f"The {queue} dead-letter queue is empty."
    head = f"{plural(len(messages), 'message')} in the {queue} dead-letter queue:"
    if queue == "publish":
        headers = ["MESSAGE ID", "SENT", "RECEIVES", "SOURCE KEYS", "EVENTS"]
        rows = [
            [m["message_id"], m["sent"], m["receives"], m["source_keys"] or m.get("note"), m["event_names"]]
            for m in messages
        ]
    else:
        headers = ["MESSAGE ID", "SENT", "RECEIVES", "URLS", "TAGS", "NOTE"]
        rows = [[m["message_id"], m["sent"], m["receives"], m["urls"], m["tags"], m.get("note")] for m in messages]
    return "\n".join([head, table(headers, rows)])


def redrive(result: Mapping[str, Any]) -> str:
    """`edgepub dlq redrive`: what moved back to the source queue, or would."""
    queue = result["queue"]
    messages: Sequence[Mapping[str, Any]] = result.get("messages", [])
    if result.get("dry_run"):
        if not messages:
            return f"The {queue} dead-letter queue is empty: nothing would move."
        lines = [f"Would move {plural(len(messages), 'message')} back to the {queue} queue (dry run: nothing moved):"]
    else:
        lines = [f"Moved {plural(int(result.get('moved', 0)), 'message')} back to the {queue} queue."]
    for m in messages:
        if queue == "publish":
            what = cell(m.get("source_keys")) if m.get("source_keys") else cell(m.get("note"))
        else:
            what = f"{plural(int(m.get('urls', 0)), 'URL')}, {plural(int(m.get('tags', 0)), 'tag')}"
        lines.append(f"  {m['message_id']}  {what}")
    failed: Sequence[str] = result.get("failed", [])
    if failed:
        lines.append(f"{plural(len(failed), 'message')} could not be moved and stay in the dead-letter queue:")
        lines += [f"  {f}" for f in failed]
    return "\n".join(lines)
