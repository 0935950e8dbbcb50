"""Dead letters: the messages the publish and purge queues gave up on.

A record that fails `maxReceiveCount` times goes to its queue's dead-letter
queue (template.yaml: 5 deliveries for publish, 8 for purge). `DeadLetterQueue`
lists what is there, saying for each message what it carries (the source keys
of an S3 notification, the URL and tag counts of a purge request), and redrives
it: each message is received, sent to the source queue, and deleted from the
dead-letter queue only once the send succeeded. Handling is idempotent, so a
message redriven twice does no harm.

Listing receives the messages (SQS has no other way to read them) under a short
visibility timeout, then makes them visible again: every listing counts as one
receive in a message's ApproximateReceiveCount.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edgepub.errors import ConfigurationError, InvalidRequest
from edgepub.s3events import carried
from edgepub.settings import Settings

QUEUES = ("publish", "purge")
HOLD_SECONDS = 30  # how long a listed or moving message stays invisible to others
WAIT_SECONDS = 1  # long polling: an empty answer means the queue is empty, not an unlucky sample


@dataclass
class DeadLetter:
    """One message in a dead-letter queue, and what it carries."""

    message_id: str
    sent: str  # when it was first sent to the source queue (ISO 8601, UTC)
    receives: int  # ApproximateReceiveCount: deliveries, this listing's included
    source_keys: list[str] = field(default_factory=list)  # publish: the sources it names
    event_names: list[str] = field(default_factory=list)  # publish: ObjectCreated:Put, ...
    urls: int = 0  # purge: URLs it asks to purge
    tags: int = 0  # purge: cache tags it asks to purge
    note: str = ""  # what the message is when it is not the usual shape


@dataclass
class Redrive:
    queue: str
    dry_run: bool
    moved: int
    messages: list[DeadLetter]  # what moved, or would move
    failed: list[str] = field(default_factory=list)  # messages left in the dead-letter queue, and why


class DeadLetterQueue:
    """One dead-letter queue and the queue its messages came from."""

    def __init__(self, sqs: Any, queue: str, dlq_url: str, source_url: str) -> None:
        self.sqs = sqs
        self.queue = queue
        self.dlq_url = dlq_url
        self.source_url = source_url

    @classmethod
    def for_queue(cls, settings: Settings, sqs: Any, queue: str) -> DeadLetterQueue:
        """The dead-letter queue of `queue` ("publish" or "purge"), from the settings."""
        if queue not in QUEUES:
            raise InvalidRequest(f"unknown queue {queue!r}: expected {' or '.join(QUEUES)}")
        urls = {
            "publish": (settings.publish_dlq_url, settings.publish_queue_url),
            "purge": (settings.purge_dlq_url, settings.purge_queue_url),
        }[queue]
        missing = [
            f"EDGEPUB_{queue.upper()}_{name}_URL" for name, url in zip(("DLQ", "QUEUE"), urls, strict=True) if not url
        ]
        if missing:
            raise ConfigurationError(
                f"the {queue} dead-letter queue is not configured: {' and '.join(missing)} not set "
                "(template.yaml gives them to the ops function)"
            )
        return cls(sqs, queue, *urls)

    def letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Up to `limit` messages, oldest first; they stay in the queue."""
        received = self._receive_all(limit)
        self._release(received)
        return sorted((self.describe(m) for m in received), key=lambda d: (d.sent, d.message_id))

    def redrive(self, *, dry_run: bool = False, limit: int = 10_000) -> Redrive:
        """Move up to `limit` messages back to the source queue (only a sent message is deleted)."""
        if dry_run:
            return Redrive(self.queue, True, 0, self.letters(limit))
        moved: list[DeadLetter] = []
        failed: list[str] = []
        kept: list[dict[str, Any]] = []  # not sent: released at the end, so this run does not see them again
        while len(moved) + len(kept) < limit:
            batch = self._receive(min(10, limit - len(moved) - len(kept)))
            if not batch:
                break
            entries = [_send_entry(str(i), m) for i, m in enumerate(batch)]
            response = self.sqs.send_message_batch(QueueUrl=self.source_url, Entries=entries)
            sent = {e["Id"] for e in response.get("Successful", [])}
            for problem in response.get("Failed", []):
                message = batch[int(problem["Id"])]
                failed.append(
                    f"{message['MessageId']}: {problem.get('Code', 'error')}: {problem.get('Message', 'not sent')}"
                )
            done = [m for i, m in enumerate(batch) if str(i) in sent]
            kept += [m for i, m in enumerate(batch) if str(i) not in sent]
            if done:
                deleted = self.sqs.delete_message_batch(
                    QueueUrl=self.dlq_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
                for problem in deleted.get("Failed", []):  # sent twice at worst: handling is idempotent
                    message = done[int(problem["Id"])]
                    failed.append(f"{message['MessageId']}: sent, but not deleted from the dead-letter queue")
            moved += [self.describe(m) for m in done]
            if not done:
                break  # the source queue refuses everything: stop rather than spin
        self._release(kept)
        return Redrive(self.queue, False, len(moved), moved, failed)

    def describe(self, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("Attributes", {})
        letter = DeadLetter(
            message_id=message["MessageId"],
            sent=_iso(attributes.get("SentTimestamp")),
            receives=int(attributes.get("ApproximateReceiveCount", 0) or 0),
        )
        body = message.get("Body", "")
        if self.queue == "publish":
            _describe_publish(letter, body)
        else:
            _describe_purge(letter, body)
        return letter

    # -- SQS ------------------------------------------------------------------

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.dlq_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _receive_all(self, limit: int) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        while len(found) < limit:
            batch = self._receive(limit - len(found))
            fresh = [m for m in batch if m["MessageId"] not in found]
            if not fresh:
                break
            found.update((m["MessageId"], m) for m in fresh)
        return list(found.values())

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make received messages visible again now (else they would be after HOLD_SECONDS)."""
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(chunk)
                ],
            )


def _send_entry(entry_id: str, message: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": message["Body"]}
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    return entry


def _iso(timestamp_ms: str | None) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp_ms or "") / 1000, UTC).isoformat(timespec="seconds")
    except ValueError:
        return ""


def _describe_publish(letter: DeadLetter, body: str) -> None:
    found = carried(body)
    letter.source_keys, letter.event_names, letter.note = list(found.keys), list(found.event_names), found.note


def _describe_purge(letter: DeadLetter, body: str) -> None:
    try:
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        letter.urls = len(list(message.get("urls", [])))
        letter.tags = len(list(message.get("tags", [])))
    except (ValueError, TypeError) as exc:
        letter.note = f"not a purge request: {exc}"
        return
    if message.get("carried") is True:
        letter.note = "carried from an earlier window"
