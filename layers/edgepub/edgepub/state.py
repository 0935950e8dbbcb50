"""Publication state: the one place that decides whether an article is live.

Hugo's rules: a draft is never published, a future publish date holds an article
back until then, a past expiry date takes it down. The pipeline, local builds,
the scheduled transitions job and the index all ask here, for an article just
read (`article_state`) or for an index entry as time passes (`entry_state`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from edgepub.article import Article
    from edgepub.site import Entry

PublicationState = Literal["published", "draft", "scheduled", "expired"]
# What the index remembers of a source key: its article's state, or why there is none.
SourceState = Literal["published", "draft", "scheduled", "expired", "rejected", "deleted", ""]

LIVE: PublicationState = "published"
PUBLICATION_STATES: tuple[PublicationState, ...] = get_args(PublicationState)


def _decide(draft: bool, publish_at: datetime | None, expire_at: datetime | None, now: datetime) -> PublicationState:
    if draft:
        return "draft"
    if expire_at is not None and expire_at <= now:
        return "expired"
    if publish_at is not None and publish_at > now:
        return "scheduled"
    return LIVE


def _moment(iso: str) -> datetime | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def article_state(article: Article, now: datetime) -> PublicationState:
    """The state of an article just read from its source."""
    return _decide(article.draft, article.publish_date, article.expiry_date, now)


def entry_state(entry: Entry, now: datetime | str) -> PublicationState:
    """An index entry's state at `now`, from its publish and expiry times (drafts stay drafts)."""
    moment = _moment(now) if isinstance(now, str) else now
    assert moment is not None, "now is required"
    return _decide(entry.status == "draft", _moment(entry.publish_at), _moment(entry.expire_at), moment)


def transition_at(entry: Entry) -> str:
    """When the entry's publication state next changes by itself ("" for never)."""
    if entry.status == "scheduled" and entry.publish_at:
        return entry.publish_at
    if entry.status == LIVE and entry.expire_at:
        return entry.expire_at
    return ""


def changed_by_time(entry: Entry, now: datetime | str) -> bool:
    """A scheduled entry whose time has come, or a live one past its expiry."""
    return entry_state(entry, now) != entry.status


def as_state(value: str) -> PublicationState:
    """An index row's status, checked (a row from an older edgepub or by hand may say anything)."""
    if value in PUBLICATION_STATES:
        return value
    raise ValueError(f"unknown publication state {value!r}")
