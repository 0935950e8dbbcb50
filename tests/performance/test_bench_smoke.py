"""A small run of the benchmark harness: it builds both corpora, runs every
measurement and writes the page. Timings are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


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
            "--b7-sizes",
            "none",
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


# B7 at a size a test can afford: a site of 2,000 articles and one of 20,000 (below about 2,000,
# not every one of the 2,000 topics is in use and the whole site is one or two sitemap shards,
# so reads grow with the generated site's shape, not with what a publish touches).
B7_SMALL, B7_LARGE = 2_000, 20_000


@pytest.fixture(scope="module")
def b7() -> dict[str, Any]:
    from tests.performance.bench import b7_scale

    return b7_scale([B7_SMALL, B7_LARGE], [], chunk=100, traced=False)


def test_b7_publishes_on_generated_sites_without_reading_the_whole_site(b7: dict[str, Any]):
    small, large = b7["item"]
    assert (small["articles"], large["articles"]) == (B7_SMALL, B7_LARGE)
    assert large["items"] > 5 * small["items"]  # the site was generated straight into the index
    for run in (small, large):
        for name in ("cold", "warm"):
            publish = run[name]  # strict models: a whole-site read would have raised
            assert publish["pages_written"] > 1 and publish["purge_urls"] == publish["pages_written"]
            assert 0 < publish["items_read"] < run["items"] / 4, (run["articles"], name, publish["read_by_kind"])
            assert publish["written_by_kind"]["art"] >= 1 and publish["items_written"] < 1000
        assert run["rerender"]["pages_written"] == run["rerender"]["articles"] == 100


def test_b7_items_read_by_a_cold_publish_stay_within_2x_as_the_site_grows_10x(b7: dict[str, Any]):
    small, large = (run["cold"] for run in b7["item"])
    assert large["items_read"] <= 2 * small["items_read"], (small["read_by_kind"], large["read_by_kind"])


def test_b7_section_and_target_row_are_spliced_into_the_page(b7: dict[str, Any]):
    from tests.performance.bench import _scale_lines, splice_b7

    section = "\n".join(_scale_lines(b7))
    assert section.startswith("## B7 scale") and f"| {B7_LARGE:,} | cold |" in section
    page = "# Benchmarks\n\n## Against the targets\n\n| bench | target | measured | met |\n|---|---|---|---|\n"
    page += "| B6 1 MB article | under 128 MB | 56 MB RSS | yes |\n\n## B6 memory\n\nx\n\n## B8 hostile sources\n\ny\n"
    once = splice_b7(page, b7)
    assert splice_b7(once, b7) == once  # a second run replaces what the first wrote
    lines = once.splitlines()
    assert lines[lines.index("| B6 1 MB article | under 128 MB | 56 MB RSS | yes |") + 1].startswith("| B7 scale |")
    assert once.index("## B6 memory") < once.index("## B7 scale") < once.index("## B8 hostile sources")
