"""Revision freshness: when each article is due for review, and what state it is in.

The interval is the article's own (`revision.review interval`), else the
shortest configured for one of its tags, else its topic's, else the default
(180 days). States: fresh, due soon (within the window), overdue, never
reviewed; expiry is counted separately. The due date is stored in the index
(GSI ByReview), so the daily job reads only what is due.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta

from edgepub.errors import ConfigurationError
from edgepub.settings import Settings
from edgepub.site import Entry

STATES = ("fresh", "due_soon", "overdue", "never_reviewed")
NEVER = "0000-00-00"  # the due date stored for a never-reviewed article: due since forever


@dataclass(frozen=True)
class FreshnessPolicy:
    default_days: int = 180
    by_tag: dict[str, int] = field(default_factory=dict)
    by_topic: dict[str, int] = field(default_factory=dict)
    due_soon_days: int = 14

    @classmethod
    def from_settings(cls, settings: Settings) -> FreshnessPolicy:
        try:
            raw = json.loads(settings.review_intervals) if settings.review_intervals.strip() else {}
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            tags = {k.removeprefix("tag:"): int(v) for k, v in raw.items() if k.startswith("tag:")}
            topics = {k.removeprefix("topic:").lower(): int(v) for k, v in raw.items() if k.startswith("topic:")}
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f'EDGEPUB_REVIEW_INTERVALS must be a JSON object like {{"tag:security": 90}}: {exc}'
            ) from None
        return cls(settings.review_interval_days, tags, topics, settings.review_due_soon_days)

    def interval(self, entry: Entry) -> int:
        if entry.review_interval_days:
            return entry.review_interval_days
        tagged = [self.by_tag[t] for t in entry.tags if t in self.by_tag]
        if tagged:
            return min(tagged)
        return self.by_topic.get(entry.topic.lower(), self.default_days)

    def due(self, entry: Entry) -> date | None:
        if not entry.last_reviewed:
            return None
        return date.fromisoformat(entry.last_reviewed[:10]) + timedelta(days=self.interval(entry))

    def due_key(self, entry: Entry) -> str:
        due = self.due(entry)
        return due.isoformat() if due else NEVER

    def state(self, entry: Entry, today: date) -> str:
        """Overdue the day after the due date; due soon from `due_soon_days` before it."""
        due = self.due(entry)
        if due is None:
            return "never_reviewed"
        if today > due:
            return "overdue"
        if today >= due - timedelta(days=self.due_soon_days):
            return "due_soon"
        return "fresh"

    def horizon(self, today: date) -> str:
        """Everything due up to here is due soon or overdue: the query bound for the daily job."""
        return (today + timedelta(days=self.due_soon_days + 1)).isoformat()
