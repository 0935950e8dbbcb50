"""More operator commands through the CLI, against the embedded stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def test_republish_all_on_120_articles_shows_progress_and_every_page_is_there(stack):
    # 120 sources: 6 archive pages, several purge batches and publish-queue batches.
    # (It ran on 1,000, then 300: moto answers each Query by sorting the whole table,
    # and a publish now makes many small queries, so 300 took over 5 minutes.)
    settings = Settings.from_env(stack.settings_env())
    sources = generated_sources(120, seed=5)
    for name, data in sources:
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=f"content/{name}", Body=data)
    stack.client("sqs").purge_queue(QueueUrl=stack.outputs["PublishQueueUrl"])  # the import below publishes them
    source_store = S3SourceStore(settings)
    importer = Publisher(settings, source_store, S3PageStore(settings), SqsPurgeQueue(settings), aws_index(settings))

    def read(key: str) -> bytes:
        found = source_store.read(key, max_bytes=10**6)
        assert found is not None and found.data is not None
        return found.data

    with importer.lease():  # a bulk import into the table: a writer like any other
        report = publish_all(importer, sorted(f"content/{n}" for n, _ in sources), read)
    assert report.count("published") == 120
    stack.run_until_idle()

    stack.start_polling(interval=0.05)  # the functions run as in AWS while the CLI waits
    try:
        result = CliRunner().invoke(cli, ["republish", "--all"], env=stack.settings_env())
    finally:
        stack.stop_polling()
    assert result.exit_code == 0, result.output
    assert "republishing" in result.output and "republished 120 sources and the site pages" in result.output
    keys = set()
    token = None
    while True:
        page = stack.s3.list_objects_v2(Bucket=stack.site_bucket, **({"ContinuationToken": token} if token else {}))
        keys |= {o["Key"] for o in page.get("Contents", [])}
        if not page.get("IsTruncated"):
            break
        token = page["NextContinuationToken"]
    assert {f"article-{i:05d}/index.html" for i in range(120)} <= keys
    assert {"index.html", "feed.xml", "sitemap.xml", "page/6/index.html"} <= keys
    assert "page/7/index.html" not in keys
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


def _ignore_sigint() -> None:
    """What a non-interactive shell does to a command started with `&`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """`edgepub serve` started in the background, once its serve file is written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEPUB_", "AWS_"))}
    with (tmp_path / "serve.err").open("w") as err:  # the child keeps its own copy
        serve = subprocess.Popen(
            [sys.executable, "-m", "edgepub", "serve", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            preexec_fn=_ignore_sigint,
        )
    serve_file = tmp_path / ".edgepub" / "serve.json"
    deadline = time.monotonic() + 60
    while not serve_file.is_file() and time.monotonic() < deadline and serve.poll() is None:
        time.sleep(0.2)
    assert serve_file.is_file(), (tmp_path / "serve.err").read_text()
    return serve, json.loads(serve_file.read_text())


def _log_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a log being written (a line still being written is skipped)."""
    lines = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            lines.append(entry)
    return lines


def _stop(serve: subprocess.Popen[str], signum: int) -> int:
    try:
        serve.send_signal(signum)
        return serve.wait(timeout=30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_serve_runs_the_stack_for_other_commands(tmp_path, samples):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGEPUB_", "AWS_"))}
    serve, served = _serve(tmp_path, "--samples", str(samples))
    log = tmp_path / ".edgepub" / "serve" / "functions.log"
    try:
        assert served["pid"] == serve.pid
        deadline = time.monotonic() + 60
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
        page = requests.get(f"{served['edge']}/purge-only-what-changed/", timeout=5)
        assert page.status_code == 200 and "Purge only what changed" in page.text
        # the functions' logs are in the file serve names, not on its stdout
        logged = _log_lines(log)
        assert any(e.get("message") == "published content/purge-only-what-changed.md" for e in logged)
        # a record the publish function cannot read: each failure logged, the last one saying so
        import boto3

        sqs = boto3.client(
            "sqs",
            endpoint_url=served["endpoint"],
            region_name="us-east-1",
            # the operator's credentials (moto enforces IAM): serve writes them with the stack's names
            aws_access_key_id=served["env"]["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=served["env"]["AWS_SECRET_ACCESS_KEY"],
        )
        sqs.send_message(QueueUrl=served["env"]["EDGEPUB_PUBLISH_QUEUE_URL"], MessageBody="garbage")
        failures: list[dict[str, Any]] = []
        while not any(f.get("last_try") for f in failures) and time.monotonic() < deadline:
            time.sleep(0.3)
            failures = [
                e
                for e in _log_lines(log)
                if str(e.get("message", "")).startswith("publish failed for SQS message body is not JSON")
            ]
        assert [f["receive_count"] for f in failures] == [1, 2, 3, 4, 5]
        assert (
            failures[-1]["level"] == "ERROR" and "moves it to the publish dead-letter queue" in failures[-1]["message"]
        )
        listed = subprocess.run(
            [sys.executable, "-m", "edgepub", "dlq", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert "SQS message body is not JSON" in listed.stdout, listed.stderr
    finally:
        code = _stop(serve, signal.SIGINT)  # SIGINT stops it although it started with SIGINT ignored
    assert code == 0
    assert not (tmp_path / ".edgepub" / "serve.json").exists()
    assert "stopped (SIGINT)" in (tmp_path / "serve.err").read_text()


def test_serve_stops_on_sigterm_and_refuses_a_second_serve(tmp_path):
    serve, served = _serve(tmp_path)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "edgepub", "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 3
        assert f"edgepub serve is already running here (process {served['pid']})" in second.stderr
    finally:
        code = _stop(serve, signal.SIGTERM)
    assert code == 0
    assert not (tmp_path / ".edgepub" / "serve.json").exists()
    assert "stopped (SIGTERM)" in (tmp_path / "serve.err").read_text()
    after = subprocess.run(
        [sys.executable, "-m", "edgepub", "status", "x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("EDGEPUB_")},
    )
    assert after.returncode == 78 and "run `edgepub serve`" in after.stderr
