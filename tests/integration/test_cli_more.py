"""More operator commands through the CLI, against the embedded stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from edgepub.aws import S3PageStore, S3SourceStore, SqsPurgeQueue
from edgepub.cli import cli
from edgepub.localbuild import publish_all
from edgepub.publisher import Publisher
from edgepub.service import aws_index
from edgepub.settings import Settings

from tests.support.sites import generated_sources

pytestmark = pytest.mark.embedded


def test_republish_all_on_1000_articles_shows_progress_and_every_page_is_there(stack):
    settings = Settings.from_env(stack.settings_env())
    sources = generated_sources(1000, seed=5)
    for name, data in sources:
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=data)
    stack.client("sqs").purge_queue(QueueUrl=stack.outputs["PublishQueueUrl"])  # the import below publishes them
    source_store = S3SourceStore(settings)
    importer = Publisher(settings, source_store, S3PageStore(settings), SqsPurgeQueue(settings), aws_index(settings))

    def read(key: str) -> bytes:
        found = source_store.read(key, max_bytes=10**6)
        assert found is not None and found.data is not None
        return found.data

    report = publish_all(importer, sorted(f"content/{n}" for n, _ in sources), read)
    assert report.count("published") == 1000
    stack.run_until_idle()

    stack.start_polling(interval=0.05)  # the functions run as in AWS while the CLI waits
    try:
        result = CliRunner().invoke(cli, ["republish", "--all"], env=stack.settings_env())
    finally:
        stack.stop_polling()
    assert result.exit_code == 0, result.output
    assert "republishing" in result.output and "republished 1000 sources and the site pages" in result.output
    keys = set()
    token = None
    while True:
        page = stack.s3.list_objects_v2(Bucket=stack.site_bucket, **({"ContinuationToken": token} if token else {}))
        keys |= {o["Key"] for o in page.get("Contents", [])}
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert {f"article-{i:05d}/index.html" for i in range(1000)} <= keys
    assert {"index.html", "feed.xml", "sitemap.xml", "page/50/index.html"} <= keys
    assert stack.queue_depth() == 0


def test_reconcile_finds_a_source_whose_notification_was_lost(stack):
    stack.run_until_idle()
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/lost.md", Body=b"---\ntitle: Lost\n---\nx\n")
    env = stack.settings_env()
    dry = CliRunner().invoke(cli, ["reconcile", "--dry-run", "--json"], env=env)
    assert json.loads(dry.output)["missing_from_index"] == ["content/lost.md"]
    assert CliRunner().invoke(cli, ["reconcile"], env=env).exit_code == 0
    stack.run_until_idle()
    assert stack.s3.head_object(Bucket=stack.site_bucket, Key="lost/index.html")


def test_purge_commands_and_the_ledger(stack):
    env = stack.settings_env()
    runner = CliRunner()
    result = runner.invoke(cli, ["purge", "--url", "https://www.example.com/a/", "--tag", "listing:home"], env=env)
    assert result.exit_code == 0, result.output
    forms = [(p.form, p.items) for p in stack.cloudflare.state.purges]
    assert ("files", ["https://www.example.com/a/"]) in forms and ("tags", ["listing:home"]) in forms
    ledger = runner.invoke(cli, ["purges", "--json"], env=env)
    assert {e["form"] for e in json.loads(ledger.output)} >= {"files", "tags"}

    refused = runner.invoke(cli, ["purge", "--everything"], env=env)
    assert refused.exit_code != 0 and "Nothing was purged" in refused.output
    assert all(p.form != "purge_everything" for p in stack.cloudflare.state.purges)
    zone = env["EDGEPUB_CLOUDFLARE_ZONE_ID"]
    done = runner.invoke(
        cli, ["purge", "--everything", "--confirm", zone], env={**env, "CLOUDFLARE_API_TOKEN": stack.token}
    )
    assert done.exit_code == 0, done.output
    assert stack.cloudflare.state.purges[-1].form == "purge_everything"


def test_edge_show_and_apply(stack):
    env = {**stack.settings_env(), "CLOUDFLARE_API_TOKEN": stack.token}
    shown = CliRunner().invoke(cli, ["edge", "show"])
    assert shown.exit_code == 0 and "http_request_cache_settings" in shown.output
    applied = CliRunner().invoke(cli, ["edge", "apply"], env=env)
    assert applied.exit_code == 0, applied.output
    assert set(stack.cloudflare.state.rulesets) == {"http_request_transform", "http_request_cache_settings"}


def test_stack_name_resolves_from_cloudformation(stack):
    from edgepub.targets import resolve

    target = resolve("edgepub-embedded")
    assert target.kind == "stack" and target.ops_function == "edgepub-ops"
    assert target.env["EDGEPUB_SITE_BUCKET"] == stack.site_bucket


def test_no_target_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEPUB_")}
    result = subprocess.run([sys.executable, "-m", "edgepub", "status", "x"], capture_output=True, text=True, env=env)
    assert result.returncode == 78
    assert "run `edgepub serve`" in result.stderr


def test_serve_runs_the_stack_for_other_commands(tmp_path, samples):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEPUB_", "AWS_"))}
    serve = subprocess.Popen(
        [sys.executable, "-m", "edgepub", "serve", "--samples", str(samples)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        serve_file = tmp_path / ".edgepub" / "serve.json"
        deadline = time.monotonic() + 60
        while not serve_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        edge = json.loads(serve_file.read_text())["edge"]
        state = ""
        while state != "published" and time.monotonic() < deadline:
            status = subprocess.run(
                [sys.executable, "-m", "edgepub", "status", "purge-only-what-changed", "--json"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
            )
            state = (json.loads(status.stdout)["entry"] or {}).get("status", "") if status.returncode == 0 else ""
            time.sleep(0.3)
        assert state == "published"
        page = requests.get(f"{edge}/purge-only-what-changed/", timeout=5)
        assert page.status_code == 200 and "Purge only what changed" in page.text
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    assert not (Path(tmp_path) / ".edgepub" / "serve.json").exists()
