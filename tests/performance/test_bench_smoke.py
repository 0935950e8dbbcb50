"""A small run of the benchmark harness: it builds both corpora, runs every
measurement and writes the page. Timings are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_harness_runs_end_to_end(tmp_path: Path):
    page, result = tmp_path / "benchmarks.md", tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.performance.bench",
            "--sizes",
            "30,60",
            "--repeat",
            "1",
            "--uploads",
            "10",
            "--indexed",
            "300",
            "--out",
            str(page),
            "--json",
            str(result),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(result.read_text())
    assert [row["articles"] for row in data["b1"]] == [30, 60]
    assert all(row["edgepub_pages"] > row["articles"] for row in data["b1"])
    changes = {row["change"]: row for row in data["b2"]}
    assert changes["body edit"]["pages_written"] == 1 and changes["body edit"]["purge_urls"] == 1
    assert changes["delete"]["pages_deleted"] >= 1
    pipeline = {row["change"]: row for row in data["b2_pipeline"]["rows"]}
    assert pipeline["body edit"]["pages_rendered"] == 1 and pipeline["body edit"]["purge_urls"] == 1
    assert pipeline["tag change"]["pages_written"] > 1 and pipeline["delete"]["pages_deleted"] >= 1
    phases = data["profiles"]["body_edit"]["phases"]
    assert phases["render pages"] > 0 and "load the index file" in phases
    assert data["b6"]["action"] == "published" and data["b6"]["source_bytes"] > 1_000_000
    assert set(data["b4"]) >= {"boto3_s", "publish_s", "publish_ratio"}
    assert data["b3"]["purge_calls"] == data["b3"]["minimum_calls"] and data["b3"]["rate_limited"] == 0
    assert data["b5"]["due"] == 3 and data["b5"]["items_read"] == 3
    text = page.read_text()
    assert "## B1 full build" in text and "## B2 incremental" in text and "## B6 memory" in text
    assert "### Where the time goes" in text
