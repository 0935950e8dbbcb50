"""B7's full re-render at scale on the embedded stack: a generated site of N articles
(the index's items and every source) in the stack's moto, `rerender.start` queuing
its chunks on the publish queue, and worker processes doing what the publish
function does with each message (`service.publish_message`) until the queue is
empty. One worker dies mid-chunk (its process exits between two page writes under
the lease, as a Lambda timeout would end it); a fresh worker takes its place, SQS
delivers the chunk again once its visibility timeout passes, and the run must end
with every chunk counted once and every article page stored as the index says.

    python -m tests.performance.rerender_scale 100000 [--workers 2]

Prints one JSON object: load time, the re-render's wall time, chunks, each worker's
chunks and articles per second of its busy time, and the checks."""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Re-rendered site"
VISIBILITY = 40  # seconds a worker holds a message: a dead worker's chunk comes back after this


def worker(crash_at_put: int = 0) -> dict[str, Any]:
    """Handle publish-queue messages until the queue stays empty; with `crash_at_put`, exit
    the process abruptly at that page write (counted across chunks)."""
    import logging

    from edgepub.aws import client
    from edgepub.service import aws_publisher, publish_message
    from edgepub.settings import Settings

    logging.basicConfig(level=logging.WARNING, format="%(process)d %(message)s")
    logging.getLogger("edgepub.rerender").setLevel(logging.INFO)  # each chunk's render and lease times
    settings = Settings.from_env(os.environ)
    publisher = aws_publisher(settings)
    if crash_at_put:
        put, done = publisher.pages.put, [0]

        def dying_put(page: Any) -> str:
            done[0] += 1
            if done[0] == crash_at_put:
                os._exit(3)  # no cleanup, no reply: the lease and the message are left as they are
            return put(page)

        publisher.pages.put = dying_put  # type: ignore[method-assign]
    sqs = client("sqs", settings)
    queue = settings.publish_queue_url
    chunks: list[dict[str, Any]] = []
    idle = 0
    while idle < 3:
        messages = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=VISIBILITY, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            idle += 1
            continue
        idle = 0
        message = messages[0]
        start = time.perf_counter()
        try:
            outcomes = publish_message(publisher, message["Body"])
        except Exception as error:  # as the publish function reports a failed record: SQS delivers it again
            chunks.append({"failed": repr(error)[:200], "seconds": time.perf_counter() - start})
            continue
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        chunks.append({"written": sum(len(o.written) for o in outcomes), "seconds": time.perf_counter() - start})
    return {"chunks": chunks}


def run(size: int, workers: int = 2, crash_at_put: int = 600) -> dict[str, Any]:
    from edgepub import rerender
    from edgepub.aws import SqsPublishQueue, dynamo_table
    from edgepub.embedded.stack import ACCOUNT, EmbeddedStack
    from edgepub.index import DynamoIndex
    from edgepub.partial import BUCKETS
    from edgepub.plan import Layout
    from edgepub.service import aws_publisher
    from edgepub.settings import Settings
    from moto.s3.models import s3_backends

    from tests.performance.bench import _moto_put, b7_source, generated_model, write_generated

    result: dict[str, Any] = {"articles": size, "workers": workers, "chunk": rerender.CHUNK}
    gc.disable()
    start = time.perf_counter()
    model = generated_model(size, Layout())
    # sources are read as they are now (the generated index names no S3 version)
    model.entries = {slug: replace(e, source_version="") for slug, e in model.entries.items()}
    result["generate_s"] = round(time.perf_counter() - start, 1)
    with contextlib.redirect_stdout(io.StringIO()), EmbeddedStack.start() as stack:
        env = {**os.environ, **stack.settings_env(), "EDGEPUB_SITE_TITLE": TITLE, "PYTHONPATH": str(ROOT)}
        settings = Settings.from_env(env)
        stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
        start = time.perf_counter()
        s3 = s3_backends[ACCOUNT]["global"]
        for slug, entry in model.entries.items():
            data = b7_source(entry.title, entry.date, entry.tags, entry.stack, entry.tools, int(slug[8:]))
            s3.put_object(stack.sources_bucket, entry.source_key, data, disable_notification=True)
        table = dynamo_table(settings)
        count = write_generated(model, settings, table, _moto_put(settings.articles_table))
        result["load_s"], result["items"] = round(time.perf_counter() - start, 1), count
        print(f"loaded {count:,} items and {size:,} sources in {result['load_s']} s", file=sys.stderr, flush=True)
        del model
        gc.enable()
        gc.collect()
        gc.freeze()

        publisher = aws_publisher(settings)
        begin = time.perf_counter()
        started = rerender.start(publisher, SqsPublishQueue(settings))
        result["start_s"] = round(time.perf_counter() - begin, 2)
        result["job"], result["chunks"] = started.job, started.chunks
        code = (
            "import json, sys\nfrom tests.performance.rerender_scale import worker\n"
            "print(json.dumps(worker(int(sys.argv[1]))))"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(crash_at_put if n == 0 else 0)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(workers)
        ]
        reports: list[dict[str, Any]] = []
        crashed = 0
        while procs:
            time.sleep(1)
            for proc in list(procs):
                if proc.poll() is None:
                    continue
                procs.remove(proc)
                out = proc.stdout.read() if proc.stdout else ""
                if proc.returncode == 3:  # the worker that died mid-chunk: another takes its place
                    crashed += 1
                    print("a worker died mid-chunk; starting another", file=sys.stderr, flush=True)
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-c", code, "0"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
                        )
                    )
                    continue
                if proc.returncode:
                    raise RuntimeError(f"a worker failed with {proc.returncode}")
                reports.append(json.loads(out.strip().splitlines()[-1]))
        result["rerender_s"] = round(time.perf_counter() - begin, 1)
        result["crashed_workers"] = crashed
        per_worker = []
        for report in reports:
            done = [c for c in report["chunks"] if "written" in c]
            busy = sum(c["seconds"] for c in report["chunks"])
            written = sum(c["written"] for c in done)
            per_worker.append(
                {
                    "chunks": len(done),
                    "failed_attempts": len(report["chunks"]) - len(done),
                    "pages_written": written,
                    "busy_s": round(busy, 1),
                    "articles_per_s": round(written / busy, 1) if busy else 0.0,
                }
            )
        result["per_worker"] = per_worker

        # the checks: every chunk counted once, every article page stored as the index says
        result["progress"] = rerender.progress(publisher, started.job)
        index = DynamoIndex(table)
        stored = s3_backends[ACCOUNT]["global"].buckets[stack.site_bucket].keys
        hashes: dict[str, str] = {}
        for number in range(BUCKETS):
            for item in index.load().stored.reader.query(f"page#{number:02d}"):
                hashes[str(item["sk"])] = str(item["hash"])
        articles = [p for p in hashes if p.count("/") == 2 and p.startswith("/article-")]
        wrong = []
        for path in articles:
            key = path.strip("/") + "/index.html"
            body = stored[key].value if key in stored else b""
            if TITLE.encode() not in body or hashlib.sha256(body).hexdigest() != hashes[path]:
                wrong.append(path)
        meta = index.load()
        result["article_pages"] = len(articles)
        result["wrong_pages"] = wrong[:10]
        result["wrong_count"] = len(wrong)
        result["pending_purge"] = len(meta.pending_purge)
        result["dirty"] = len(meta.dirty)
        result["ok"] = (
            result["progress"] == started.chunks
            and not wrong
            and len(articles) == size
            and not meta.pending_purge
            and not meta.dirty
            and crashed == 1
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--crash-at-put", type=int, default=600)
    args = parser.parse_args()
    print(json.dumps(run(args.size, args.workers, args.crash_at_put), indent=1))


if __name__ == "__main__":
    main()
