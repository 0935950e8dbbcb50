"""Operator commands through the CLI's own entry point, against the embedded stack."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner
from edgepub.cli import cli

pytestmark = pytest.mark.embedded

V1 = b"---\ntitle: Pricing\ndate: 2026-10-01\ntags: [plans]\n---\nThe old, correct prices.\n"
V2 = b"---\ntitle: Pricing\ndate: 2026-10-01\ntags: [plans]\n---\nA broken edit.\n"


def publish(stack, body: bytes) -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/pricing.md", Body=body)
    stack.run_until_idle()


def test_rollback_restores_the_previous_page_and_the_edge_serves_it(stack):
    publish(stack, V1)
    publish(stack, V2)
    edge = stack.edge_base
    assert "A broken edit." in requests.get(f"{edge}/pricing/", timeout=5).text
    assert requests.get(f"{edge}/pricing/", timeout=5).headers["cf-cache-status"] == "HIT"
    env = stack.settings_env()
    runner = CliRunner()

    dry = runner.invoke(cli, ["rollback", "pricing", "--dry-run"], env=env)
    assert dry.exit_code == 0 and "would restore" in dry.output
    assert "A broken edit." in requests.get(f"{edge}/pricing/", timeout=5).text

    result = runner.invoke(cli, ["rollback", "pricing", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "next publish of content/pricing.md renders the page from the source again" in data["note"]
    stack.run_until_idle()  # the purge function purges the page
    page = requests.get(f"{edge}/pricing/", timeout=5)
    assert page.headers["cf-cache-status"] == "MISS" and "The old, correct prices." in page.text
    # drift repair agrees with the rollback: nothing to repair
    assert stack.run_schedule("SchedulerFunctionDriftRepair")["repaired"] == []

    status = runner.invoke(cli, ["status", "pricing"], env=env)
    assert status.exit_code == 0, status.output
    assert "matches the index" in status.output and status.output.count("bytes") >= 3


def test_rollback_with_nothing_to_roll_back_to_says_so(stack):
    publish(stack, V1)
    result = CliRunner().invoke(cli, ["rollback", "pricing"], env=stack.settings_env())
    assert result.exit_code == 3
    assert "only one version" in result.output


def test_unpublish_takes_the_article_down_and_keeps_the_source(stack):
    publish(stack, V1)
    env = stack.settings_env()
    result = CliRunner().invoke(cli, ["unpublish", "pricing"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted /pricing/" in result.output
    stack.run_until_idle()
    keys = {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket)["Contents"]}
    assert "pricing/index.html" not in keys
    assert stack.s3.head_object(Bucket=stack.sources_bucket, Key="content/pricing.md")
    assert "https://www.example.com/pricing/" in stack.cloudflare.state.purged_urls()
    again = CliRunner().invoke(cli, ["unpublish", "pricing"], env=env)
    assert again.exit_code == 3 and "is not published" in again.output


def test_publish_uploads_valid_sources_and_refuses_invalid_ones(stack, tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\nx\n")
    env = stack.settings_env()
    runner = CliRunner()
    dry = runner.invoke(cli, ["publish", str(tmp_path), "--dry-run"], env=env)
    assert dry.exit_code == 0 and f"would upload {tmp_path / 'good.md'} as content/good.md" in dry.output
    assert stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="content/")["KeyCount"] == 0

    (tmp_path / "bad.md").write_text("---\ndate: 2026-01-01\n---\nno title\n")
    partly = runner.invoke(cli, ["publish", str(tmp_path)], env=env)
    # the invalid file is listed and left out; the valid one is uploaded all the same; exit 2
    assert partly.exit_code == 2 and "bad.md: title: is required" in partly.output
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="content/")["Contents"]]
    assert keys == ["content/good.md"]
    stack.run_until_idle()
    assert stack.s3.head_object(Bucket=stack.site_bucket, Key="good/index.html")


def test_publish_direct_publishes_without_notifications(stack, tmp_path):
    stack.run_until_idle()
    stack.s3.put_bucket_notification_configuration(Bucket=stack.sources_bucket, NotificationConfiguration={})
    (tmp_path / "now.md").write_text("---\ntitle: Now\n---\nx\n")
    result = CliRunner().invoke(cli, ["publish", "--direct", str(tmp_path / "now.md")], env=stack.settings_env())
    assert result.exit_code == 0, result.output
    assert "published   content/now.md  https://www.example.com/now/" in result.output
    assert stack.s3.head_object(Bucket=stack.site_bucket, Key="now/index.html")


def test_demo_command_shows_what_it_published_and_purged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    outcomes = {row["source"]: row["outcome"] for row in data["rows"]}
    assert outcomes["content/broken-front-matter.md"] == "rejected"
    assert sum(1 for o in outcomes.values() if o == "published") == 4
    assert all(row["purged"] for row in data["rows"] if row["outcome"] == "published")
    assert any("cf-cache-status: HIT" in line for line in data["edge"])
    assert (tmp_path / ".edgepub" / "demo" / "functions.log").stat().st_size > 0


def test_status_shows_the_last_purge_and_a_rejection(stack):
    publish(stack, V1)
    env = stack.settings_env()
    shown = CliRunner().invoke(cli, ["status", "pricing"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "purged today at" in shown.output and ": ok" in shown.output
    assert "last event: published" in shown.output
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/broken.md", Body=b"---\ntitle: [x\n---\n")
    stack.run_until_idle()
    rejected = CliRunner().invoke(cli, ["status", "content/broken.md", "--json"], env=env)
    assert rejected.exit_code == 0, rejected.output
    data = json.loads(rejected.output)
    assert data["rejection"]["problems"][0]["field"] == "front matter"
    assert data["source"]["state"] == "rejected"


def test_rerender_queues_chunks_and_follows_them_to_the_end(stack):
    publish(stack, V1)
    env = stack.settings_env()
    runner = CliRunner()
    dry = runner.invoke(cli, ["rerender", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would queue 1 chunks for 1 live articles" in dry.output
    started = runner.invoke(cli, ["rerender", "--json"], env=env)
    assert started.exit_code == 0, started.output
    job = json.loads(started.output)["job"]
    stack.run_until_idle()
    done = runner.invoke(cli, ["rerender", "--job", job], env=env)
    assert done.exit_code == 0 and f"re-render {job}: 1 chunks done" in done.output
    # the index is in the current layout: nothing to move
    moved = runner.invoke(cli, ["migrate-index"], env=env)
    assert moved.exit_code == 0 and "nothing to move" in moved.output
