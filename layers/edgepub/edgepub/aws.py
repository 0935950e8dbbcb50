"""AWS adapters: boto3 clients configured from Settings, and the S3 source and
page stores. On the embedded stack the same code talks to the moto server
through `aws_endpoint_url`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from edgepub.errors import TransientError
from edgepub.pages import Page
from edgepub.ports import PurgeReceipt, SourceObject, StoredPage
from edgepub.settings import Settings

_NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}

# Whose credentials this thread's new clients get. In Lambda, one identity per process:
# empty, the environment's. The embedded stack runs every function in one process, each
# with its own role's credentials (edgepub.embedded.iam): it sets this to the role while
# the function runs, so that a cached client is never handed from one role to another.
identity: ContextVar[str] = ContextVar("edgepub_aws_identity", default="")


@lru_cache(maxsize=32)
def _client(service: str, endpoint_url: str, region: str, who: str = "") -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=32,  # a large plan stores its pages 16 at a time (publisher.WRITERS)
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.session.Session().client(service, endpoint_url=endpoint_url or None, region_name=region, config=config)


def client(service: str, settings: Settings) -> Any:
    """A cached boto3 client (clients are thread-safe; creating one costs milliseconds)."""
    return _client(service, settings.aws_endpoint_url, settings.aws_region, identity.get())


def is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND


def report_key(settings: Settings, source_key: str) -> str:
    """Where the rejection report for a source lives: under a prefix that triggers nothing."""
    return settings.rejected_prefix + quote(source_key, safe="/").replace("..", "%2E%2E") + ".json"


class S3SourceStore:
    def __init__(self, settings: Settings, s3: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.sources_bucket
        self.s3 = s3 or client("s3", settings)

    def read(self, key: str, *, max_bytes: int, version: str = "") -> SourceObject | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key, **({"VersionId": version} if version else {}))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        size = int(head["ContentLength"])
        version = str(head.get("VersionId") or "")
        if size > max_bytes:
            return SourceObject(key=key, version_id=version, size=size, data=None)
        try:
            args = {"Bucket": self.bucket, "Key": key}
            if version and version != "null":
                # read exactly the version we sized, even if a newer one lands meanwhile
                args["VersionId"] = version
            obj = self.s3.get_object(**args)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        data = obj["Body"].read(max_bytes + 1)
        return SourceObject(key=key, version_id=version, size=len(data), data=data if len(data) <= max_bytes else None)

    def list_keys(self, prefix: str | None = None) -> list[str]:
        """Every key under the source prefix, or under `prefix` (paginated)."""
        keys: list[str] = []
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.settings.source_prefix if prefix is None else prefix,
        }
        while True:
            response = self.s3.list_objects_v2(**args)
            keys += [str(o["Key"]) for o in response.get("Contents", [])]
            if not response.get("IsTruncated"):
                return keys
            args["ContinuationToken"] = response["NextContinuationToken"]

    def write_report(self, key: str, report: Mapping[str, Any]) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=report_key(self.settings, key),
            Body=json.dumps(report, indent=2, sort_keys=True).encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )

    def delete_report(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=report_key(self.settings, key))

    def read_report(self, key: str) -> Mapping[str, Any] | None:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=report_key(self.settings, key))
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        loaded: Mapping[str, Any] = json.loads(obj["Body"].read())
        return loaded


class S3PageStore:
    def __init__(self, settings: Settings, s3: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.site_bucket
        self.s3 = s3 or client("s3", settings)

    def head(self, key: str) -> StoredPage | None:
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        meta = {str(k): str(v) for k, v in head.get("Metadata", {}).items()}
        return StoredPage(
            key=key,
            content_hash=meta.get("content-hash", ""),
            version_id=str(head.get("VersionId") or ""),
            metadata=meta,
        )

    def put(self, page: Page) -> str:
        response = self.s3.put_object(
            Bucket=self.bucket,
            Key=page.key,
            Body=page.body,
            ContentType=page.content_type,
            CacheControl=page.cache_control(self.settings.cache),
            Metadata=page.metadata(),
        )
        return str(response.get("VersionId") or "")

    def delete(self, key: str) -> None:
        # On a versioned bucket this adds a delete marker: earlier versions stay for rollback.
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def versions(self, key: str) -> list[dict[str, Any]]:
        """Stored versions of one page, newest first: version id, time, size, hash, whether current."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        while True:
            response = self.s3.list_object_versions(**kwargs)
            for v in response.get("Versions", []):
                if v["Key"] == key:
                    found.append(
                        {
                            "version_id": v["VersionId"],
                            "modified": v["LastModified"].isoformat(),
                            "bytes": int(v["Size"]),
                            "current": bool(v["IsLatest"]),
                            "deleted": False,
                        }
                    )
            for m in response.get("DeleteMarkers", []):
                if m["Key"] == key:
                    found.append(
                        {
                            "version_id": m["VersionId"],
                            "modified": m["LastModified"].isoformat(),
                            "bytes": 0,
                            "current": bool(m["IsLatest"]),
                            "deleted": True,
                        }
                    )
            if not response.get("IsTruncated"):
                break
            kwargs["KeyMarker"] = response["NextKeyMarker"]
            kwargs["VersionIdMarker"] = response["NextVersionIdMarker"]
        return sorted(found, key=lambda v: (v["current"], v["modified"]), reverse=True)

    def restore(self, key: str, version_id: str) -> StoredPage:
        """Make an earlier version current again (a copy: history is kept), headers and all."""
        self.s3.copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": key, "VersionId": version_id},
            MetadataDirective="COPY",
        )
        stored = self.head(key)
        if stored is None:  # pragma: no cover - the copy just succeeded
            raise TransientError(f"{key} vanished after restoring {version_id}")
        return stored

    def list_keys(self, token: str = "", limit: int = 1000) -> tuple[list[str], str]:
        """One page of the bucket's keys, and the token for the next ("" at the end)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "MaxKeys": limit}
        if token:
            args["ContinuationToken"] = token
        response = self.s3.list_objects_v2(**args)
        keys = [str(o["Key"]) for o in response.get("Contents", [])]
        return keys, str(response.get("NextContinuationToken", "")) if response.get("IsTruncated") else ""


def dynamo_table(settings: Settings) -> Any:
    resource = boto3.session.Session().resource(
        "dynamodb",
        endpoint_url=settings.aws_endpoint_url or None,
        region_name=settings.aws_region,
        config=Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=10),
    )
    return resource.Table(settings.articles_table)


class SqsPurgeQueue:
    """The publisher's purger when the purge function does the calling: one or
    more messages of URLs and tags on the purge queue. Cloudflare sees them
    after a batching window, de-duplicated across every publish in it."""

    MAX_ITEMS_PER_MESSAGE = 500  # well under SQS's 256 KB per message

    def __init__(self, settings: Settings, sqs: Any | None = None) -> None:
        self.queue_url = settings.purge_queue_url
        self.sqs = sqs or client("sqs", settings)

    def purge(self, urls: Sequence[str], tags: Sequence[str] = ()) -> list[PurgeReceipt]:
        items = [("url", u) for u in dict.fromkeys(urls)] + [("tag", t) for t in dict.fromkeys(tags)]
        bodies = []
        for start in range(0, len(items), self.MAX_ITEMS_PER_MESSAGE):
            chunk = items[start : start + self.MAX_ITEMS_PER_MESSAGE]
            bodies.append(
                json.dumps({"urls": [v for k, v in chunk if k == "url"], "tags": [v for k, v in chunk if k == "tag"]})
            )
        receipts = []
        for body, message_id in zip(bodies, send_in_batches(self.sqs, self.queue_url, bodies, "purges"), strict=True):
            payload = json.loads(body)
            receipts.append(
                PurgeReceipt(request_id=message_id, items=tuple(payload["urls"] + payload["tags"]), attempts=1)
            )
        return receipts

    def carry(self, urls: Sequence[str], tags: Sequence[str], *, first_seen: float, delay: int) -> str:
        """Put a purge invocation's remainder back on the queue as one message, visible
        after `delay` seconds, so it joins the next batching window (edgepub.carry).
        The body says it was carried and when its oldest item was first seen; its
        URLs are already the URLs visitors request. Returns the message id."""
        body = {"urls": list(urls), "tags": list(tags), "carried": True, "first_seen": round(first_seen, 3)}
        try:
            response = self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps(body),
                DelaySeconds=delay,
                MessageAttributes={
                    "carried": {"DataType": "String", "StringValue": "true"},
                    "first_seen": {"DataType": "Number", "StringValue": f"{first_seen:.3f}"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise TransientError(f"could not carry purges to the next window: {exc}") from exc
        return str(response["MessageId"])


class S3ReportStore:
    """Operator reports in the sources bucket under the reports prefix: never served by the CDN."""

    def __init__(self, settings: Settings, s3: Any | None = None) -> None:
        self.bucket = settings.sources_bucket
        self.s3 = s3 or client("s3", settings)

    def put_report(self, key: str, body: bytes, content_type: str) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, CacheControl="private, no-store"
        )


class SnsNotifier:
    def __init__(self, topic_arn: str, settings: Settings, sns: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = sns or client("sns", settings)

    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject[:100],
            Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v or "-"} for k, v in attributes.items()},
        )


def send_in_batches(sqs: Any, queue_url: str, bodies: Sequence[str], what: str) -> list[str]:
    """Send messages ten to a call (SQS's batch limit); return their message ids in order.
    One failure policy for every queue: any message not accepted raises TransientError
    naming it (the caller's record or command is retried; a duplicate message is harmless)."""
    ids: list[str] = []
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if response.get("Failed"):
            failed = response["Failed"][0]
            raise TransientError(
                f"could not queue {len(response['Failed'])} of {len(entries)} {what} on {queue_url}: "
                f"{failed.get('Code', 'error')}: {failed.get('Message', 'no message')}"
            )
        by_id = {str(ok["Id"]): str(ok["MessageId"]) for ok in response.get("Successful", [])}
        ids += [by_id[str(i)] for i in range(len(entries))]
    return ids


class SqsPublishQueue:
    """The publish queue, as operators' republish and reconcile fill it."""

    def __init__(self, settings: Settings, sqs: Any | None = None) -> None:
        self.queue_url = settings.publish_queue_url
        self.sqs = sqs or client("sqs", settings)

    def send(self, bodies: Sequence[str]) -> list[str]:
        return send_in_batches(self.sqs, self.queue_url, bodies, "publish messages")

    def depth(self) -> int:
        """Messages waiting or in flight."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)
