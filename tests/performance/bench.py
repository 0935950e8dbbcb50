"""`make bench`: edgepub measured beside Hugo, in one run, on this machine.

Writes a table to stdout, docs/benchmarks.md and a JSON result file. Medians of
repeated runs; ratios, since the machine is shared and noisy. Timings are
reported, never asserted.

    python -m tests.performance.bench [--sizes 2000,10000] [--repeat 3] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.performance.corpus import write

ROOT = Path(__file__).resolve().parents[2]
EDGEPUB = [sys.executable, "-m", "edgepub"]


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (children) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def hugo_available() -> bool:
    return shutil.which("hugo") is not None


def b1_full_build(size: int, repeat: int, work: Path) -> dict[str, Any]:
    src, hugo_site = work / f"src{size}", work / f"hugo{size}"
    write(size, src, hugo_site)
    ours: list[float] = []
    pages = 0
    for n in range(repeat):
        out = work / f"out{size}-{n}"
        wall, _, stdout = timed([*EDGEPUB, "build", str(src), "--out", str(out), "--json"])
        ours.append(wall)
        pages = json.loads(stdout)["pages_written"]
    theirs: list[float] = []
    hugo_pages = 0
    if hugo_available():
        for n in range(repeat):
            out = work / f"hugo-out{size}-{n}"
            wall, _, _ = timed(["hugo", "--quiet", "-s", str(hugo_site), "-d", str(out)])
            theirs.append(wall)
            hugo_pages = sum(1 for p in out.rglob("*") if p.suffix in (".html", ".xml"))
    row = {
        "articles": size,
        "edgepub_s": median(ours),
        "edgepub_pages": pages,
        "edgepub_articles_per_s": size / median(ours),
    }
    if theirs:
        row |= {
            "hugo_s": median(theirs),
            "hugo_pages": hugo_pages,
            "hugo_articles_per_s": size / median(theirs),
            "ratio": (size / median(ours)) / (size / median(theirs)),
        }
    return row


def b2_incremental(size: int, repeat: int, work: Path, hugo_full_s: float | None) -> list[dict[str, Any]]:
    src = work / f"src{size}"
    out = work / f"out{size}-0"
    rows = []
    target = src / f"article-{min(100, size // 2):06d}.md"
    original = target.read_text(encoding="utf-8")
    edits: dict[str, Callable[[], object]] = {
        "body edit": lambda: target.write_text(
            original.replace("## why this matters", "## why this matters now"), "utf-8"
        ),
        "tag change": lambda: target.write_text(
            original.replace("- security\n", "- reliability\n", 1)
            .replace("- ops\n", "- reliability\n", 1)
            .replace("- cdn\n", "- reliability\n", 1)
            .replace("- performance\n", "- reliability\n", 1),
            "utf-8",
        ),
        "delete": lambda: target.unlink(),
    }
    for name, apply in edits.items():
        walls, cpus = [], []
        result: dict[str, Any] = {}
        for _ in range(repeat):
            target.write_text(original, "utf-8")
            timed([*EDGEPUB, "build", str(src), "--out", str(out), "--json"])  # back to the base site
            apply()
            wall, cpu, stdout = timed([*EDGEPUB, "build", str(src), "--out", str(out), "--json"])
            walls.append(wall)
            cpus.append(cpu)
            result = json.loads(stdout)
        row = {
            "change": name,
            "pages_written": result["pages_written"],
            "pages_deleted": result["pages_deleted"],
            "purge_urls": result["urls_to_purge"],
            "wall_s": median(walls),
            "cpu_s": median(cpus),
        }
        if hugo_full_s:
            row["hugo_full_rebuild_s"] = hugo_full_s
            row["ratio"] = hugo_full_s / median(walls)
        rows.append(row)
    target.write_text(original, "utf-8")
    return rows


def b4_cold_start(repeat: int) -> dict[str, Any]:
    def import_time(module: str, path: str = "") -> float:
        code = (
            f"import sys, time; sys.path.insert(0, {path!r}); t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)"
        )
        env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
        times = [
            float(
                subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
            )
            for _ in range(repeat)
        ]
        return median(times)

    boto = import_time("boto3")
    rows = {"boto3_s": boto}
    for name in ("publish", "purge", "scheduler", "ops"):
        seconds = import_time("app", str(ROOT / "functions" / name))
        rows[f"{name}_s"] = seconds
        rows[f"{name}_ratio"] = seconds / boto
    layer = ROOT / ".aws-sam" / "build" / "EdgepubLayer"
    rows["layer_bytes"] = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file()) if layer.is_dir() else 0
    return rows


def b6_memory() -> dict[str, Any]:
    code = """
import tracemalloc, json
from edgepub.index import MemoryIndex
from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
from edgepub.publisher import Publisher
from edgepub.settings import Settings
settings = Settings()
body = ("a paragraph of text for the memory benchmark. " * 20 + "\\n\\n") * 1100
data = ("---\\ntitle: big\\n---\\n" + body).encode()[: 1024 * 1024]
sources = MemorySourceStore(); sources.put("content/big.md", data)
publisher = Publisher(settings, sources, MemoryPageStore(), RecordingPurger(), MemoryIndex())
tracemalloc.start()
outcome = publisher.sync("content/big.md")
current, peak = tracemalloc.get_traced_memory()
import resource
print(json.dumps({"source_bytes": len(data), "action": outcome.action, "tracemalloc_peak_bytes": peak,
                  "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "largest_accepted_bytes": settings.max_source_bytes}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def b3_end_to_end(count: int) -> dict[str, Any]:
    """Uploads in a burst on the embedded stack: time until every page is written and every purge made."""
    code = f"""
import contextlib, io, json, math, sys, time
sys.path.insert(0, {str(ROOT)!r})
from edgepub.embedded.stack import EmbeddedStack
from tests.performance.corpus import article
import random, yaml
rng = random.Random(3)
with contextlib.redirect_stdout(io.StringIO()):
    with EmbeddedStack.start(cloudflare_plan="free", parameters={{"PurgePlan": "free"}}) as stack:
        stack.run_until_idle()
        bodies = []
        for i in range({count}):
            meta, body = article(i, rng)
            bodies.append(("content/burst-%05d.md" % i, ("---\\n" + yaml.safe_dump(meta) + "---\\n" + body).encode()))
        start = time.perf_counter()
        for key, data in bodies:
            stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=data)
        uploaded = time.perf_counter() - start
        stack.run_until_idle(timeout=1200)
        total = time.perf_counter() - start
        state = stack.cloudflare.state
        distinct = len(set(state.purged_urls()))
        result = {{"uploads": {count}, "upload_s": uploaded, "complete_s": total, "purge_calls": len(state.purges),
                  "distinct_urls": distinct, "minimum_calls": math.ceil(distinct / 30),
                  "rate_limited": len([r for r in state.rejected if r["status"] == 429])}}
print(json.dumps(result))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def b5_freshness(count: int, due_share: float) -> dict[str, Any]:
    """The daily freshness job against a DynamoDB index of `count` live articles, `due_share` of them due."""
    code = f"""
import contextlib, io, json, sys, time
from datetime import date, timedelta
sys.path.insert(0, {str(ROOT)!r})
from edgepub.embedded.stack import EmbeddedStack
from edgepub.aws import dynamo_table
from edgepub.freshness import FreshnessPolicy
from edgepub.index import DynamoIndex
from edgepub.jobs import build_freshness_report
from edgepub.settings import Settings
from edgepub.site import Entry, SiteModel
today = date(2026, 11, 22)
with contextlib.redirect_stdout(io.StringIO()):
    with EmbeddedStack.start() as stack:
        settings = Settings.from_env(stack.settings_env())
        table = dynamo_table(settings)
        index = DynamoIndex(table)
        due_every = round(1 / {due_share})
        after = SiteModel()
        for i in range({count}):
            reviewed = today - timedelta(days=400 if i % due_every == 0 else 30)
            after.entries["a%06d" % i] = Entry(slug="a%06d" % i, source_key="content/a%06d.md" % i, title="A %d" % i,
                                             date="2026-01-01T00:00:00+00:00", last_reviewed=reviewed.isoformat(),
                                             owner="team-%d" % (i % 7))
        start = time.perf_counter()
        index.save(SiteModel(), after)
        loaded = time.perf_counter() - start
        reads = []
        original_query = table.meta.client.query
        def counting_query(**kwargs):
            response = original_query(**kwargs)
            reads.append(len(response["Items"]))
            return response
        table.meta.client.query = counting_query
        start = time.perf_counter()
        report = build_freshness_report(index, FreshnessPolicy(), today, settings.site_url)
        seconds = time.perf_counter() - start
print(json.dumps({{"indexed": {count}, "due": report.counts["overdue"], "items_read": sum(reads),
                  "queries": len(reads), "report_s": seconds, "load_s": loaded}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def render_page(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {results['machine']} ({results['cpus']} cores), {results['when']}; "
        f"Hugo: {results['hugo']}. Medians of {results['repeat']} runs; the machine is shared, so compare "
        "ratios.",
        "",
        "## B1 full build",
        "",
        "| articles | edgepub s | edgepub pages | edgepub art/s | Hugo s | Hugo pages | Hugo art/s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["b1"]:
        lines.append(
            f"| {r['articles']} | {r['edgepub_s']:.2f} | {r['edgepub_pages']} | "
            f"{r['edgepub_articles_per_s']:.0f} | {r.get('hugo_s', float('nan')):.2f} | "
            f"{r.get('hugo_pages', '-')} | {r.get('hugo_articles_per_s', float('nan')):.0f} | "
            f"{r.get('ratio', float('nan')):.2f} |"
        )
    lines += [
        "",
        f"## B2 incremental ({results['b2_size']} articles)",
        "",
        "| change | pages written | deleted | purge URLs | wall s | CPU s | Hugo full rebuild s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["b2"]:
        lines.append(
            f"| {r['change']} | {r['pages_written']} | {r['pages_deleted']} | {r['purge_urls']} | "
            f"{r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r.get('hugo_full_rebuild_s', float('nan')):.2f} | "
            f"{r.get('ratio', float('nan')):.1f} |"
        )
    b4 = results["b4"]
    lines += [
        "",
        "## B4 cold start (import time in a fresh interpreter)",
        "",
        "| module | seconds | ratio to `import boto3` |",
        "|---|---|---|",
        f"| boto3 | {b4['boto3_s']:.3f} | 1.00 |",
    ]
    lines += [
        f"| functions/{n}/app.py | {b4[f'{n}_s']:.3f} | {b4[f'{n}_ratio']:.2f} |"
        for n in ("publish", "purge", "scheduler", "ops")
    ]
    lines.append(
        f"\nBuilt layer: {b4['layer_bytes']:,} bytes unzipped"
        if b4["layer_bytes"]
        else "\nBuilt layer: not measured (run `make build` first)."
    )
    b6 = results["b6"]
    lines += [
        "",
        "## B6 memory",
        "",
        f"Publishing a {b6['source_bytes']:,}-byte article: Python heap peak {b6['tracemalloc_peak_bytes']:,} "
        f"bytes, process max RSS {b6['max_rss_bytes']:,} bytes. Largest source accepted: "
        f"{b6['largest_accepted_bytes']:,} bytes (EDGEPUB_MAX_SOURCE_BYTES).",
        "",
    ]
    b3, b5 = results["b3"], results["b5"]
    lines += [
        "## B3 end to end on the embedded stack",
        "",
        f"{b3['uploads']} uploads in a burst (moto on loopback, free-plan limits enforced by the emulator): "
        f"uploaded in {b3['upload_s']:.1f} s, every page written and purged after {b3['complete_s']:.1f} s. "
        f"Purge calls: {b3['purge_calls']} for {b3['distinct_urls']} distinct URLs; the minimum is "
        f"{b3['minimum_calls']}. Requests rate limited: {b3['rate_limited']}.",
        "",
        "## B5 freshness",
        "",
        f"{b5['indexed']:,} articles indexed in DynamoDB (moto), {b5['due']:,} overdue: the daily report read "
        f"{b5['items_read']:,} items in {b5['queries']} queries and took {b5['report_s']:.2f} s "
        f"(loading the index took {b5['load_s']:.0f} s).",
        "",
        f"Command: `{results['command']}`",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=500, help="B3: uploads in the burst")
    parser.add_argument("--indexed", type=int, default=100_000, help="B5: articles in the index")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=ROOT / ".edgepub" / "bench.json")
    parser.add_argument("--from-json", type=Path, help="Only render the page from an earlier result file.")
    args = parser.parse_args()
    if args.from_json:
        args.out.write_text(render_page(json.loads(args.from_json.read_text())), encoding="utf-8")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    hugo = (
        subprocess.run(["hugo", "version"], capture_output=True, text=True).stdout.split(" ")[0:2]
        if hugo_available()
        else ["not installed"]
    )
    results: dict[str, Any] = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "hugo": " ".join(hugo),
        "repeat": args.repeat,
        "command": " ".join(["python -m tests.performance.bench", *sys.argv[1:]]),
    }
    with tempfile.TemporaryDirectory(prefix="edgepub-bench-") as tmp:
        work = Path(tmp)
        results["b1"] = [b1_full_build(size, args.repeat, work) for size in sizes]
        largest = results["b1"][-1]
        results["b2_size"] = largest["articles"]
        results["b2"] = b2_incremental(largest["articles"], args.repeat, work, largest.get("hugo_s"))
    results["b3"] = b3_end_to_end(args.uploads)
    results["b5"] = b5_freshness(args.indexed, 0.01)
    results["b4"] = b4_cold_start(args.repeat)
    results["b6"] = b6_memory()
    page = render_page(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(page)


if __name__ == "__main__":
    main()
