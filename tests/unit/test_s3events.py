from __future__ import annotations

import json

import pytest
from edgepub.s3events import MalformedEvent, parse_notification, sequencer_order


def record(key: str, event: str = "ObjectCreated:Put", **obj: object) -> dict[str, object]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": event,
        "eventTime": "2026-11-22T10:00:00.000Z",
        "s3": {"bucket": {"name": "src"}, "object": {"key": key, "size": 10, **obj}},
    }


def test_test_event_is_ignored():
    assert parse_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})) == []


def test_keys_are_url_decoded_with_plus_as_space():
    [change] = parse_notification(json.dumps({"Records": [record("content/my+post%2B1%C3%A9.md")]}))
    assert change.key == "content/my post+1é.md"
    assert not change.is_removal


def test_removal_and_sequencer():
    [change] = parse_notification(
        {"Records": [record("content/a.md", "ObjectRemoved:Delete", sequencer="0055AED6DCD90281E5")]}
    )
    assert change.is_removal
    assert change.sequencer == "0055AED6DCD90281E5"


def test_sequencers_compare_after_left_padding():
    assert sequencer_order("0055AED6DCD90281E5") < sequencer_order("0055AED6DCD90281E6")
    assert sequencer_order("FF") < sequencer_order("100")


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"foo": 1}), json.dumps({"Records": [{"s3": {}}]})])
def test_malformed_messages_say_what_is_wrong(body):
    with pytest.raises(MalformedEvent):
        parse_notification(body)
