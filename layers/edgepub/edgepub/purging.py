"""The purge function's story: the purge-queue messages of one invocation coalesced
into one de-duplicated purge, sent in the fewest calls the plan allows, with the
remainder carried to the next batching window (edgepub.carry) and every message
that could not be purged reported failed, so SQS retries it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edgepub.urls import expand

if TYPE_CHECKING:
    from edgepub.aws import SqsPurgeQueue
    from edgepub.cloudflare import CloudflarePurger


@dataclass
class PurgeReport:
    messages: int = 0
    urls: int = 0  # sent now
    tags: int = 0
    calls: int = 0
    retries: int = 0
    carried: int = 0  # items put back on the queue for the next batching window (edgepub.carry)
    carried_in: int = 0  # items that arrived carried by an earlier invocation
    carry: str = ""  # quiet, busy, due or disabled: why the URLs were (not) carried
    oldest_wait_s: float = 0.0  # how long the longest-waiting item sent now had waited
    failed_items: list[str] = field(default_factory=list)
    failed_messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed_reasons: dict[str, str] = field(default_factory=dict)  # message id -> what it asked and why it failed


# A purge-queue record: (message id, body) or (message id, body, SentTimestamp in epoch milliseconds).
PurgeQueueRecord = tuple[str, str] | tuple[str, str, str | None]


def purge_messages(
    purger: CloudflarePurger,
    records: Sequence[PurgeQueueRecord],
    *,
    queue: SqsPurgeQueue | None = None,
    clock: Callable[[], float] | None = None,
) -> PurgeReport:
    """Coalesce purge-queue messages into one de-duplicated purge.

    With fewer than a batch of URLs, everything is sent now. With more, and a
    purge queue to carry to (`queue`, else the settings' purge queue), only full
    batches are sent and the remainder, listing pages last, goes back on the
    queue as one delayed message for the next window (edgepub.carry). A message
    whose items could not be purged is reported failed (SQS retries it); one whose
    items were sent or carried is done."""
    import time

    from edgepub.carry import no_rank, oldest, split_for_carry
    from edgepub.errors import TransientError

    settings = purger.settings
    now = (clock or time.time)()
    report = PurgeReport(messages=len(records))
    wanted: dict[str, list[str]] = {}  # message id -> the items it asked for
    first_seen: dict[str, float] = {}  # item -> when the oldest message asking for it was sent
    urls: list[str] = []
    tags: list[str] = []
    for record in records:
        message_id, body = record[0], record[1]
        try:
            message = json.loads(body)
            carried = message.get("carried") is True
            raw_urls = [str(u) for u in message.get("urls", [])]
            # a carried message holds the URLs visitors request already
            message_urls = raw_urls if carried else expand(raw_urls, settings)
            message_tags = [str(t) for t in message.get("tags", [])]
            sent = _sent_at(record[2] if len(record) > 2 else None, now)
            seen = float(message.get("first_seen", sent)) if carried else sent
        except (ValueError, AttributeError, TypeError) as exc:
            report.failed_messages.append(message_id)
            report.errors.append(f"message {message_id} is not a purge request: {exc}")
            report.failed_reasons[message_id] = f"not a purge request: {exc}"
            continue
        wanted[message_id] = message_urls + message_tags
        for item in wanted[message_id]:
            first_seen[item] = min(first_seen.get(item, seen), seen)
        if carried:
            report.carried_in += len(wanted[message_id])
        urls += message_urls
        tags += message_tags

    if queue is None and settings.purge_queue_url:
        from edgepub.aws import SqsPurgeQueue

        queue = SqsPurgeQueue(settings)
    delay = settings.purge_carry_delay_seconds
    max_hold = settings.purge_max_hold_seconds if queue is not None else 0
    files = split_for_carry(urls, purger.limits["files"], first_seen, now, delay=delay, max_hold=max_hold)
    by_tag = split_for_carry(tags, purger.limits["tags"], first_seen, now, delay=delay, max_hold=max_hold, rank=no_rank)
    send = {"files": files.send, "tags": by_tag.send}
    carry = files.carry + by_tag.carry
    report.carry = files.reason
    if carry and queue is not None:
        try:
            queue.carry(files.carry, by_tag.carry, first_seen=oldest(carry, first_seen, now), delay=delay)
            report.carried = len(carry)
        except TransientError as exc:  # no carry, no wait: send it now, partial
            report.errors.append(f"{exc}; sent now")
            send = {"files": files.send + files.carry, "tags": by_tag.send + by_tag.carry}
    result = purger.purge_items(send)
    report.urls = len(set(send["files"]))
    report.tags = len(set(send["tags"]))
    report.oldest_wait_s = round(max(0.0, now - oldest(send["files"] + send["tags"], first_seen, now)), 3)
    report.calls = result.calls
    report.retries = sum(r.attempts - 1 for r in result.receipts)
    failed = {item for _, items, _ in result.failed for item in items}
    report.failed_items = sorted(failed)
    report.errors += [str(error) for _, _, error in result.failed]
    for message_id, items in wanted.items():
        missed = failed.intersection(items)
        if missed:
            report.failed_messages.append(message_id)
            first = next((str(e) for _, batch, e in result.failed if missed.intersection(batch)), "")
            report.failed_reasons[message_id] = (
                f"{len(missed)} of its {len(set(items))} URLs and tags not purged ({first})"
            )
    return report


def _sent_at(timestamp_ms: str | None, now: float) -> float:
    """When SQS received a message (its SentTimestamp attribute); now when unknown."""
    try:
        return int(timestamp_ms or "") / 1000
    except ValueError:
        return now
