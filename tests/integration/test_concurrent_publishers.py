"""Two publish functions at once, on different articles, on the embedded stack: both
run their changes at the same time (reading and parsing before the site lease,
waiting on it for their commits), and no change is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from edgepub.aws import dynamo_table
from edgepub.embedded.stack import EmbeddedStack
from edgepub.index import DynamoIndex
from edgepub.partial import audit, is_row, plain
from edgepub.settings import Settings

from tests.support.tables import scan

pytestmark = pytest.mark.embedded

ROOT = Path(__file__).resolve().parents[2]
PUBLISH = """
import json, sys, time
from edgepub.service import aws_publisher
from edgepub.settings import Settings

publisher = aws_publisher(Settings.from_env())
spans = []
for key in sys.argv[1:]:
    start = time.monotonic()
    outcome = publisher.sync(key)
    spans.append([key, time.time() - (time.monotonic() - start), time.time(), outcome.action])
print(json.dumps(spans))
"""


def article(writer: str, n: int) -> bytes:
    return (
        f"---\ntitle: {writer.upper()} number {n}\ndate: 2026-10-{n + 1:02d}T{ord(writer) % 24:02d}:00:00Z\n"
        f"tags: [shared, {writer}-only]\nsummary: Written by {writer}.\n---\nBody {n} of {writer}.\n"
    ).encode()


def test_two_publishers_on_different_articles_lose_no_update(stack: EmbeddedStack) -> None:
    stack.run_until_idle()
    # the test delivers the changes itself, to two publishers at once
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    keys = {w: [f"content/{w}-{n}.md" for n in range(6)] for w in ("a", "b")}
    for writer, names in keys.items():
        for n, key in enumerate(names):
            stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=article(writer, n))
    env = {**os.environ, **stack.settings_env(), "PYTHONPATH": str(ROOT / "layers" / "edgepub")}
    runs = [
        subprocess.Popen([sys.executable, "-c", PUBLISH, *names], env=env, stdout=subprocess.PIPE, text=True)
        for names in keys.values()
    ]
    spans = []
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0
        spans.append(json.loads(out.strip().splitlines()[-1]))
    assert all(action == "published" for span in spans for *_, action in span)
    # they ran at the same time: some publish of one overlapped some publish of the other
    assert any(a[1] < b[2] and b[1] < a[2] for a in spans[0] for b in spans[1])

    table = dynamo_table(Settings.from_env(stack.settings_env()))
    model = DynamoIndex(table).load()
    live = {slug for slug, e in model.entries.items() if e.live}
    assert live == {f"{w}-{n}" for w in "ab" for n in range(6)}
    assert model.tag_count("shared") == 12 and model.tag_count("a-only") == 6 == model.tag_count("b-only")
    assert model.pending_purge == [] and model.dirty == []
    rows = [plain(i) for i in scan(table) if is_row(str(i["pk"]))]
    assert audit(model.entries.values(), rows) == []
    # every page shows both writers' articles: the home page the six newest, the shared tag all twelve
    home = stack.s3.get_object(Bucket=stack.site_bucket, Key="index.html")["Body"].read().decode()
    newest = sorted(model.entries.values(), key=lambda e: e.order, reverse=True)[:6]
    assert all(e.title in home for e in newest)
    for writer in "ab":
        for n in range(6):
            page = stack.s3.get_object(Bucket=stack.site_bucket, Key=f"{writer}-{n}/index.html")["Body"].read()
            assert f"Body {n} of {writer}.".encode() in page
