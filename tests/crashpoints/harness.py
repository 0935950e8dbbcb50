"""The crash-point harness: run a scenario once to count its external calls
(S3, DynamoDB, SQS through botocore; the purger), then for every k run it again
from the same start, crash right after call k returns (the call took effect,
the process died before it could act on the answer), let the retries run as
SQS redelivers a failed record (after the dead writer's lease has expired),
and compare the end state with the clean run's:

- the index (entries, counters, page hashes; nothing pending, nothing dirty),
- the pages in the site bucket, byte for byte, and no orphan (a stored page the
  index does not know),
- no written or deleted URL left unpurged (a purge of it after its last write).

A crash right after call k covers a crash right before call k+1, so one sweep
crashes once at every call. The sweep runs on moto in-process (`mock_aws`, the
same backend as the embedded stack's moto server without HTTP) so it stays fast;
`World` takes clients, so a sweep can also run over HTTP against the embedded stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from edgepub.aws import S3PageStore, S3SourceStore, SqsPurgeQueue
from edgepub.index import DynamoIndex
from edgepub.pages import path_for_key
from edgepub.partial import audit, is_row, plain
from edgepub.plan import Layout
from edgepub.ports import PurgeReceipt
from edgepub.publisher import Publisher
from edgepub.settings import Settings
from edgepub.site import Counter, Entry

from tests.support.tables import scan

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LEASE_SECONDS = 60


class Crash(BaseException):
    """The process died here (BaseException: no `except Exception` in edgepub catches it)."""


@cache
def table_definition() -> dict[str, Any]:
    """The articles table as template.yaml declares it (keys and indexes)."""
    from edgepub.embedded.template import load_sam_template

    props = load_sam_template(ROOT / "template.yaml")["Resources"]["ArticlesTable"]["Properties"]
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {k: props[k] for k in keep if k in props}


@dataclass
class Calls:
    """Counts external calls; raises Crash right after call number `crash_at` (1-based)
    returns, and at every call after that until the process is replaced (`dead`):
    a dead process's `finally` blocks reach nothing."""

    count: int = 0
    crash_at: int = 0
    dead: bool = False
    log: list[str] = field(default_factory=list)

    def before(self, name: str) -> None:
        if self.dead:
            raise Crash(f"the process is dead ({name} not sent)")

    stall_at: int = 0
    on_stall: Callable[[], None] | None = None

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def after(self, name: str) -> None:
        with self.lock:  # a large plan stores its pages from several threads
            self.count += 1
            count = self.count
            self.log.append(name)
        if count == self.stall_at and self.on_stall is not None:
            self.on_stall()  # this writer pauses here while the world goes on without it
        if count == self.crash_at:
            self.dead = True
            raise Crash(f"crash after call {count} ({name})")


class CountingPurger:
    """The publisher's purger (the purge queue) with its calls counted and what it purged remembered."""

    def __init__(self, inner: SqsPurgeQueue, world: World) -> None:
        self.inner = inner
        self.world = world

    def purge(self, urls: list[str] | Any, tags: Any = ()) -> list[PurgeReceipt]:
        receipts = self.inner.purge(urls, tags)
        self.world.events.append(("purge", tuple(urls)))
        return receipts


class RecordingPages(S3PageStore):
    """The site bucket, remembering every write and delete in order."""

    world: World

    def put(self, page: Any) -> str:
        version = super().put(page)
        # a theme or bundle file: a new URL for new bytes, so nothing to purge
        self.world.events.append(("asset" if page.kind == "asset" else "write", page.path))
        return version

    def delete(self, key: str) -> None:
        super().delete(key)
        self.world.events.append(("delete", path_for_key(key)))


class World:
    """Buckets, table and queue (created as the template declares them), and a
    publisher over them whose every AWS call is counted."""

    def __init__(self, *, prefix: str = "crash", endpoint_url: str = "") -> None:
        self.calls = Calls()
        self.notes: dict[str, str] = {}  # what a scenario's set-up wants its steps to know
        self.uploads: dict[str, list[str]] = {}  # the S3 event sequencers of each name's changes, in order
        self.events: list[tuple[str, Any]] = []
        self.now = NOW
        self.epoch = 1_800_000_000.0  # the lease clock (seconds); moved on to let a dead writer's lease expire
        from botocore.config import Config

        session = boto3.session.Session(region_name=REGION)
        where: dict[str, Any] = (
            {"endpoint_url": endpoint_url} if endpoint_url else {}
        )  # the embedded stack's moto server
        self.s3 = session.client("s3", config=Config(s3={"addressing_style": "path"}), **where)
        self.sqs = session.client("sqs", **where)
        self.dynamodb = session.resource("dynamodb", **where)
        for client in (self.s3, self.sqs, self.dynamodb.meta.client):
            client.meta.events.register("before-call.*.*", self._before_call)
            client.meta.events.register("after-call.*.*", self._after_call)
        self.settings = Settings(
            site_url="https://www.example.com",
            sources_bucket=f"{prefix}-sources",
            site_bucket=f"{prefix}-site",
            articles_table=f"{prefix}-articles",
        )
        self._create()
        self.settings = replace(self.settings, purge_queue_url=self.queue_url, publish_queue_url=self.publish_url)
        self.layout = Layout(page_size=2, home_size=2, tag_front_size=2, feed_size=3)
        self.new_process()

    def new_process(self) -> None:
        """A fresh function container: new publisher and index, nothing cached."""
        self.calls.dead = False
        self.sources = S3SourceStore(self.settings, s3=self.s3)
        self.pages = RecordingPages(self.settings, s3=self.s3)
        self.pages.world = self
        self.index = DynamoIndex(
            self.dynamodb.Table(self.settings.articles_table),
            lock_seconds=LEASE_SECONDS,
            clock=lambda: self.epoch,
            wait_seconds=0.5,
        )
        self.purger = CountingPurger(SqsPurgeQueue(self.settings, sqs=self.sqs), self)
        self.publisher = Publisher(
            self.settings, self.sources, self.pages, self.purger, self.index, clock=lambda: self.now, layout=self.layout
        )

    def other_process(self) -> Publisher:
        """A second writer: another function container, with its own index and cache."""
        index = DynamoIndex(
            self.dynamodb.Table(self.settings.articles_table),
            lock_seconds=LEASE_SECONDS,
            clock=lambda: self.epoch,
            wait_seconds=0.5,
        )
        return Publisher(
            self.settings, self.sources, self.pages, self.purger, index, clock=lambda: self.now, layout=self.layout
        )

    def stall(self, at: int, meanwhile: Callable[[World], Any]) -> None:
        """Make the running writer pause after call `at` for longer than its lease, while
        `meanwhile` (another writer) runs to completion."""

        def pause() -> None:
            mine = self.calls
            self.calls = Calls()  # the other writer's calls are its own
            try:
                self.lease_expires()
                meanwhile(self)
            finally:
                self.calls = mine

        self.calls.stall_at, self.calls.on_stall = at, pause

    def _before_call(self, event_name: str, **_: Any) -> None:
        self.calls.before(event_name.removeprefix("before-call."))

    def _after_call(self, event_name: str, **_: Any) -> None:
        self.calls.after(event_name.removeprefix("after-call."))

    def _create(self) -> None:
        with self.quiet():
            for bucket in (self.settings.sources_bucket, self.settings.site_bucket):
                self.s3.create_bucket(Bucket=bucket)
                self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            self.dynamodb.create_table(TableName=self.settings.articles_table, **table_definition())
            self.queue_url = self.sqs.create_queue(QueueName=f"{self.settings.articles_table}-purge")["QueueUrl"]
            self.publish_url = self.sqs.create_queue(QueueName=f"{self.settings.articles_table}-publish")["QueueUrl"]

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Calls made by the test itself (set-up, inspection): not counted, never crashed."""
        saved = self.calls
        self.calls = Calls(count=-(10**9))
        try:
            yield
        finally:
            self.calls = saved

    # -- what editors and operators do ---------------------------------------------------

    def upload(self, name: str, data: bytes) -> str:
        key = f"content/{name}"
        with self.quiet():
            self.s3.put_object(Bucket=self.settings.sources_bucket, Key=key, Body=data)
        return key

    def upload_site_file(self, key: str, data: bytes) -> None:
        """An editor's upload of edgepub.toml or a theme file (at the bucket's root)."""
        with self.quiet():
            self.s3.put_object(Bucket=self.settings.sources_bucket, Key=key, Body=data)

    def remove(self, name: str) -> str:
        key = f"content/{name}"
        with self.quiet():
            self.s3.delete_object(Bucket=self.settings.sources_bucket, Key=key)
        return key

    def sequencer(self, name: str) -> str:
        """The next S3 event sequencer (hex, increasing), remembered for `name`."""
        number = sum(len(v) for v in self.uploads.values()) + 1
        value = f"{0x1000 + number:016X}"
        self.uploads.setdefault(name, []).append(value)
        return value

    def drain(self) -> None:
        """The publish function, fed from the publish queue until it is empty (a message is
        deleted only after it was handled; one received again after a crash is handled again)."""
        from edgepub.service import publish_message

        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.publish_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return
            for message in batch:
                publish_message(self.publisher, message["Body"])
                self.sqs.delete_message(QueueUrl=self.publish_url, ReceiptHandle=message["ReceiptHandle"])

    def lease_expires(self) -> None:
        """Time passes beyond the lease a dead writer held."""
        self.epoch += LEASE_SECONDS + 1

    # -- the end state -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.quiet():
            pages: dict[str, bytes] = {}
            ours: list[str] = []  # keys edgepub stored (with their content hash), not an operator's files
            token = ""
            while True:
                keys, token = self.pages.list_keys(token)
                for key in keys:
                    obj = self.s3.get_object(Bucket=self.settings.site_bucket, Key=key)
                    pages[key] = obj["Body"].read()
                    metadata = obj.get("Metadata", {})
                    if metadata.get("content-hash") and metadata.get("page-kind") != "asset":
                        ours.append(key)  # an asset is kept for good: not an orphan when no page names it
                if not token:
                    break
            meta = self.dynamodb.Table(self.settings.articles_table).get_item(Key={"pk": "site", "sk": "meta"})
            # a journal not applied or a lease not released is not a finished state
            item = meta.get("Item", {})
            meta_left = sorted(k for k in ("journal", "journal_ops", "journal_parts") if k in item)
            if "lease_owner" in item and int(item.get("lease_expires", 0)) >= self.epoch:
                meta_left.append("lease held")  # a dead writer's expired lease is as good as none
            from edgepub.theme import load_spec

            spec = load_spec(DynamoIndex(self.dynamodb.Table(self.settings.articles_table))).to_json()
            records = {}
            rows = []
            stored: dict[str, Entry] = {}
            counters: dict[str, Counter] = {}
            hashes: dict[str, str] = {}
            table = self.dynamodb.Table(self.settings.articles_table)
            for found in map(plain, scan(table)):  # the whole table as stored (a finished state has no journal)
                pk, sk = str(found["pk"]), str(found["sk"])
                if pk.startswith("src#"):
                    records[pk[4:]] = (found.get("slug", ""), found.get("state", ""))
                elif pk.startswith("art#"):
                    stored[sk] = Entry.from_dict(found)
                elif pk == "ctr":
                    counters[sk] = Counter(int(found["last_page"]), int(found["last_count"]))
                elif pk.startswith("page#"):
                    hashes[sk] = str(found["hash"])
                elif is_row(pk):
                    rows.append(found)
                elif pk == "site" and sk != "meta":
                    meta_left.append(f"older layout item {sk}")  # migrate-index left it
            entries = {slug: replace(e, source_version="") for slug, e in stored.items()}
            # the items each entry implies (listings, features, shards, paths, tag counts) agree with the entries
            problems = audit(stored.values(), rows)
        return {
            "entries": entries,
            "rows": problems,
            "counters": counters,
            "hashes": hashes,
            "pending_purge": list(item.get("pending_purge", [])),
            "dirty": list(item.get("dirty", [])),
            "pages": pages,
            "ours": ours,
            "records": records,
            "meta_left": meta_left,
            "spec": spec,  # the site's config and theme in use, and whether every page was rendered with it
        }

    def unpurged(self) -> list[str]:
        """Paths written or deleted with no purge of their URL after the last change."""
        last_change: dict[str, int] = {}
        last_purge: dict[str, int] = {}
        for i, (kind, what) in enumerate(self.events):
            if kind in ("write", "delete"):
                last_change[self.publisher.renderer.url(what)] = i
            elif kind == "purge":
                for url in what:
                    last_purge[url] = i
        return sorted(url for url, i in last_change.items() if last_purge.get(url, -1) < i)

    def orphans(self, state: dict[str, Any]) -> list[str]:
        return sorted(path_for_key(k) for k in state["ours"] if path_for_key(k) not in state["hashes"])


Step = Callable[[World], Any]


@dataclass
class Scenario:
    """A site made without crashes (`setup`), then the `steps` under test, each one
    event (an SQS record, a scheduled run, an operator command). A step that crashes
    is run again: right away (SQS redelivery after the lease expired), or, with
    `redeliver_last`, only after every other step ran (a late redelivery)."""

    name: str
    setup: Step
    steps: list[Step]
    redeliver_last: bool = False
    also: list[list[Step]] = field(default_factory=list)  # other delivery orders whose end state is as good


def play(world: World, scenario: Scenario, steps: list[Step], crash_at: int = 0) -> World:
    """Run `steps` on a world already set up, crashing once right after call `crash_at` (0: never)."""
    world.events.clear()
    world.calls = Calls(crash_at=crash_at)
    retry: list[Step] = []
    for step in steps:
        prepare = getattr(step, "prepare", None)
        if prepare is not None:
            prepare(world)  # the editor's upload or delete: not part of the event, never crashed
        try:
            step(world)
        except Crash:
            world.calls.crash_at = 0
            world.lease_expires()
            world.new_process()
            if scenario.redeliver_last:
                retry.append(step)
            else:
                step(world)
    for step in retry:
        step(world)
    return world


def run(scenario: Scenario, crash_at: int = 0, **where: str) -> tuple[World, int]:
    """Set up a fresh world and play the scenario's steps in it. Returns the world and
    how many external calls the steps made."""
    world = World(**where)
    with world.quiet():
        scenario.setup(world)
    play(world, scenario, scenario.steps, crash_at)
    return world, world.calls.count


def forked(task: Callable[[Any], Any], items: list[Any], workers: int = 2) -> list[Any]:
    """`task(item)` for each item, each in a process forked from this one as it is now
    (the world set up once, its moto state copied on write), `workers` at a time.
    A task's exception comes back as ("error", text)."""
    import os
    import pickle
    import tempfile
    import traceback

    results: dict[int, Any] = {}
    running: dict[int, tuple[int, str]] = {}
    pending = list(enumerate(items))
    with tempfile.TemporaryDirectory() as folder:
        while pending or running:
            while pending and len(running) < workers:
                number, item = pending.pop(0)
                path = f"{folder}/{number}.pickle"
                pid = os.fork()
                if pid == 0:  # the child: run, write the result, leave without running anything else
                    try:
                        out: Any = ("ok", task(item))
                    except BaseException:
                        out = ("error", traceback.format_exc())
                    with open(path, "wb") as file:
                        pickle.dump(out, file)
                    os._exit(0)
                running[pid] = (number, path)
            pid, status = os.wait()
            number, path = running.pop(pid)
            try:
                with open(path, "rb") as file:
                    results[number] = pickle.load(file)
            except OSError:
                results[number] = ("error", f"the child process ended with status {status} and no result")
    return [results[i] for i in range(len(items))]


def describe(state: dict[str, Any]) -> str:
    return json.dumps(
        {k: sorted(v) if isinstance(v, dict) else v for k, v in state.items() if k != "pages"}, default=str
    )[:2000]


def later(world: World, days: int) -> None:
    world.now = NOW + timedelta(days=days)
