"""S3 event notifications as they arrive through SQS: one message body may hold
the s3:TestEvent (no Records) or Records of ObjectCreated / ObjectRemoved."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from edgepub.errors import EdgepubError


class MalformedEvent(EdgepubError):
    """An SQS message that is not an S3 notification edgepub understands."""


@dataclass(frozen=True)
class SourceChange:
    bucket: str
    key: str  # URL-decoded
    event_name: str
    sequencer: str = ""
    version_id: str = ""
    size: int | None = None
    event_time: str = ""

    @property
    def is_removal(self) -> bool:
        return self.event_name.startswith("ObjectRemoved")


def sequencer_order(sequencer: str) -> str:
    """A comparable form of s3.object.sequencer: zero-padded hex (AWS's documented rule)."""
    return sequencer.upper().rjust(32, "0")


def parse_notification(body: str | dict[str, Any]) -> list[SourceChange]:
    """Parse one SQS message body. The s3:TestEvent gives an empty list."""
    try:
        message = json.loads(body) if isinstance(body, str) else body
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"SQS message body is not JSON: {exc.msg}") from None
    if not isinstance(message, dict):
        raise MalformedEvent("SQS message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return []
    records = message.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("SQS message is not an S3 notification (no Records)")
    changes = []
    for record in records:
        try:
            s3 = record["s3"]
            obj = s3["object"]
            event_name = str(record["eventName"])
            changes.append(
                SourceChange(
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    event_name=event_name,
                    sequencer=str(obj.get("sequencer", "")),
                    version_id=str(obj.get("versionId", "")),
                    size=int(obj["size"]) if "size" in obj else None,
                    event_time=str(record.get("eventTime", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"S3 record is missing {exc}") from None
    return changes


@dataclass(frozen=True)
class Carried:
    """What a publish-queue message asks for, for logs and the dead-letter listing:
    the source keys and event names it carries, or a note on what it is instead."""

    keys: tuple[str, ...] = ()
    event_names: tuple[str, ...] = ()
    note: str = ""


def carried(body: str) -> Carried:
    """Never raises: an S3 notification's keys, edgepub's own site-pages request, or why it is neither."""
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("edgepub") == "site-pages":
        return Carried(note="re-render the site's own pages")
    try:
        changes = parse_notification(body)
    except MalformedEvent as exc:
        return Carried(note=str(exc))
    if not changes:
        return Carried(note="s3:TestEvent")
    return Carried(
        keys=tuple(dict.fromkeys(c.key for c in changes)),
        event_names=tuple(dict.fromkeys(c.event_name for c in changes)),
    )
