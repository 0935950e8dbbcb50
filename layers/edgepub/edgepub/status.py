"""What edgepub knows about one source: its index record, its page as stored
(headers and versions) and any rejection report. Read-only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from edgepub.aws import S3SourceStore, client
from edgepub.pages import key_for_path
from edgepub.service import aws_index
from edgepub.settings import Settings


def source_status(settings: Settings, source_key: str) -> dict[str, Any]:
    index = aws_index(settings)
    record = index.source(source_key)
    result: dict[str, Any] = {"source_key": source_key, "index": asdict(record) if record else None}
    report = S3SourceStore(settings).read_report(source_key)
    result["rejection"] = dict(report) if report else None
    result["page"] = None
    if record and record.slug:
        path = f"/{record.slug}/"
        s3 = client("s3", settings)
        key = key_for_path(path)
        try:
            head = s3.head_object(Bucket=settings.site_bucket, Key=key)
        except Exception:
            head = None
        if head:
            result["page"] = {
                "url": settings.site_url + path,
                "key": key,
                "bytes": int(head["ContentLength"]),
                "content_type": head.get("ContentType", ""),
                "cache_control": head.get("CacheControl", ""),
                "version_id": head.get("VersionId", ""),
                "metadata": head.get("Metadata", {}),
            }
    return result
