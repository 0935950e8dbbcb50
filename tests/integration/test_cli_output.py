"""What the CLI prints for people, against the embedded stack: tables and sentences, no
Python repr, no placeholder date; and an unexpected error is one line and a log file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgepub.cli import cli

pytestmark = pytest.mark.embedded

REPRS = ("{'", "[{", "['", "None", "0000-00-00", "True", "False", "Traceback")
SOURCES = {
    "content/never.md": b"---\ntitle: Never reviewed\nowner: docs\ntags: [ops]\n---\nx\n",
    "content/old.md": b"---\ntitle: Old\nowner: docs\nrevision: {last reviewed: 2025-01-01}\n---\ny\n",
    "content/later.md": b"---\ntitle: Later\npublishDate: 2030-01-01T00:00:00Z\n---\nz\n",
}


def assert_readable(command: list[str], text: str) -> None:
    for marker in REPRS:
        assert marker not in text, f"{marker!r} in the output of {' '.join(command)}:\n{text}"


def test_every_operator_command_prints_text_for_people(stack):
    for key, body in SOURCES.items():
        stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=body)
    stack.run_until_idle()
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/old.md", Body=SOURCES["content/old.md"] + b"more\n")
    stack.run_until_idle()  # a second version of /old/, to roll back to
    env = stack.settings_env()
    runner = CliRunner()
    outputs = {}
    for command in (
        ["freshness", "--dry-run"],
        ["run", "freshness"],
        ["run", "transitions", "--dry-run", "--now", "2030-01-01T00:01:00"],
        ["run", "transitions", "--now", "2030-01-01T00:01:00+00:00"],
        ["run", "drift", "--dry-run"],
        ["run", "drift"],
        ["status", "never"],
        ["status", "content/never.md"],
        ["status", "nothing-here"],
        ["purges"],
        ["purges", "--failed"],
        ["purge", "--url", "https://www.example.com/never/", "--dry-run"],
        ["purge", "--url", "https://www.example.com/never/", "--tag", "listing:home"],
        ["rollback", "old", "--dry-run"],
        ["rollback", "old"],
        ["unpublish", "never", "--dry-run"],
        ["republish", "old", "--dry-run"],
        ["reconcile", "--dry-run"],
        ["edge", "show"],
        ["dlq", "list"],
        ["dlq", "list", "--queue", "purge"],
        ["dlq", "redrive", "--dry-run"],
    ):
        result = runner.invoke(cli, command, env=env)
        assert result.exit_code == 0, (command, result.output)
        assert_readable(command, result.output)
        outputs[" ".join(command)] = result.output
        stack.run_until_idle()

    freshness = outputs["freshness --dry-run"]
    row = next(line for line in freshness.splitlines() if "Never reviewed" in line)  # its title
    assert row.split()[-4:] == ["never", "reviewed", "never", "reviewed"]
    assert "docs (2)" in freshness
    assert "published (publish date reached): 1: later" in outputs["run transitions --now 2030-01-01T00:01:00+00:00"]
    assert (
        "would publish (publish date reached): 1: later"
        in outputs["run transitions --dry-run --now 2030-01-01T00:01:00"]
    )
    assert outputs["purges"].splitlines()[0].split() == ["AT", "FORM", "ITEMS", "ATTEMPTS", "REQUEST", "OUTCOME"]
    assert "tags: ops" in outputs["status never"]
    assert "versions (newest first):\n    none" in outputs["status nothing-here"]
    assert "  URL    https://www.example.com/never/" in outputs["purge --url https://www.example.com/never/ --dry-run"]

    # the stored HTML report shows no placeholder date either
    reports = stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="reports/freshness/")["Contents"]
    html_key = next(o["Key"] for o in reports if o["Key"].endswith(".html"))
    html = stack.s3.get_object(Bucket=stack.sources_bucket, Key=html_key)["Body"].read().decode()
    assert "0000-00-00" not in html and "<td>never reviewed</td>" in html
    stored = json.loads(
        stack.s3.get_object(Bucket=stack.sources_bucket, Key=html_key.replace(".html", ".json"))["Body"].read()
    )
    assert stored["overdue_by_owner"]["docs"][0]["due"] in ("", "2025-06-30")


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_a_log(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**stack.settings_env(), "EDGEPUB_ARTICLES_TABLE": "no-such-table"}
    result = CliRunner().invoke(cli, ["status", "anything"], env=env)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("edgepub: unexpected error: ResourceNotFoundException: ")
    assert line.endswith("; the traceback is in .edgepub/edgepub.log")
    log = (Path(tmp_path) / ".edgepub" / "edgepub.log").read_text()
    assert "Traceback (most recent call last)" in log and "page_status" in log

    debug = CliRunner().invoke(cli, ["--debug", "status", "anything"], env=env)
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("edgepub: unexpected error: ResourceNotFoundException: ")
