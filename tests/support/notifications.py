"""Messages as AWS puts them on the publish queue, for tests of failures and dead letters."""

from __future__ import annotations

import json


def s3_notification(bucket: str, key: str, size: int = 10, sequencer: str = "0A1B2C") -> str:
    """An S3 ObjectCreated:Put notification body as it arrives through SQS (key URL-encoded)."""
    from urllib.parse import quote_plus

    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-22T07:00:00.000Z",
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {"key": quote_plus(key, safe="/"), "size": size, "sequencer": sequencer},
                    },
                }
            ]
        }
    )
