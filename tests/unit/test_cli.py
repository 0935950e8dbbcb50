"""The CLI through its own entry point (click's runner calls the same `cli` group)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from edgepub.cli import cli


def test_validate_lists_each_bad_file_and_problem_and_exits_2(tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: ok\n---\nbody\n")
    (tmp_path / "no-title.md").write_text("---\ndate: 2026-01-01\n---\nbody\n")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe title")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    out = result.output
    assert f"ok       {tmp_path / 'good.md'} -> /good/" in out
    assert f"invalid  {tmp_path / 'no-title.md'}: title: is required" in out
    assert f"invalid  {tmp_path / 'bad.json'}: json (line 1, column 2): is not valid JSON" in out
    assert f"invalid  {tmp_path / 'bin.txt'}: encoding: is not valid UTF-8" in out
    assert "1 valid, 3 invalid" in out


def test_validate_json_output(tmp_path):
    (tmp_path / "good.md").write_text("---\ntitle: ok\n---\nbody\n")
    result = CliRunner().invoke(cli, ["validate", "--json", str(tmp_path)])
    assert result.exit_code == 0
    assert json.loads(result.output)["valid"] == 1


def test_build_reports_counts(samples, tmp_path):
    result = CliRunner().invoke(cli, ["build", str(samples), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 2  # one sample is invalid on purpose
    summary = json.loads(result.output)
    assert summary["published"] == 4 and summary["rejected"] == 1
    assert "front matter" in summary["errors"][0]


def test_console_script_is_installed_and_maps_errors_to_exit_codes(tmp_path):
    missing = tmp_path / "nope"
    result = subprocess.run([sys.executable, "-m", "edgepub", "validate", str(missing)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
