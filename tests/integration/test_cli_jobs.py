"""Scheduled jobs on demand from the CLI, against the embedded stack."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from edgepub.cli import cli

pytestmark = pytest.mark.embedded


def test_freshness_and_transitions_from_the_cli(stack):
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="content/a.md",
        Body=b"---\ntitle: A\nowner: ops\nrevision: {last reviewed: 2025-01-01}\n---\nx\n",
    )
    stack.s3.put_object(
        Bucket=stack.sources_bucket,
        Key="content/later.md",
        Body=b"---\ntitle: Later\npublishDate: 2030-01-01T00:00:00Z\n---\nx\n",
    )
    stack.run_until_idle()
    env = stack.settings_env()
    runner = CliRunner()

    dry = runner.invoke(cli, ["freshness", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["counts"]["overdue"] == 1 and report["counts"]["scheduled"] == 1 and report["dry_run"]
    assert stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="reports/")["KeyCount"] == 0

    run = runner.invoke(cli, ["run", "transitions", "--now", "2030-01-01T00:01:00+00:00"], env=env)
    assert run.exit_code == 0, run.output
    assert "published (publish date reached): 1: later" in run.output
    keys = {o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket)["Contents"]}
    assert "later/index.html" in keys
