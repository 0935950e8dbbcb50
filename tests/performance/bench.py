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

from edgepub.parallel import default_workers

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
        "body edit": lambda: target.write_text(_body_edited(original), "utf-8"),
        "tag change": lambda: target.write_text(_retagged(original), "utf-8"),
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
        counts = {
            "pages_written": result["pages_written"],
            "pages_deleted": result["pages_deleted"],
            "purge_urls": result["urls_to_purge"],
        }
        rows.append(_change_row(name, counts, walls, cpus, hugo_full_s))
    target.write_text(original, "utf-8")
    return rows


def b2_pipeline(size: int, repeat: int, work: Path, hugo_full_s: float | None) -> dict[str, Any]:
    """The same three changes as the publish function makes them: one event, one
    `Publisher.sync`, in a warm function whose site model is loaded, against
    in-memory stores (no S3 or DynamoDB latency: that is B3's part)."""
    from edgepub.index import MemoryIndex
    from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
    from edgepub.localbuild import publish_all
    from edgepub.publisher import Publisher
    from edgepub.settings import Settings

    src = work / f"src{size}"
    settings = Settings()
    store = MemorySourceStore()
    names = sorted(p.name for p in src.iterdir())
    for name in names:
        store.put(settings.source_prefix + name, (src / name).read_bytes())
    publisher = Publisher(settings, store, MemoryPageStore(), RecordingPurger(), MemoryIndex())
    start = time.perf_counter()
    publish_all(publisher, [settings.source_prefix + n for n in names], lambda k: store.objects[k][-1])
    load_s = time.perf_counter() - start
    rendered: list[object] = []
    render = publisher._render

    def counting(*args: Any) -> Any:
        rendered.append(args[0])
        return render(*args)

    publisher._render = counting  # type: ignore[method-assign,assignment]
    key = settings.source_prefix + f"article-{min(100, size // 2):06d}.md"
    original = store.objects[key][-1].decode()
    changes: dict[str, Callable[[], object]] = {
        "body edit": lambda: store.put(key, _body_edited(original).encode()),
        "tag change": lambda: store.put(key, _retagged(original).encode()),
        "delete": lambda: store.remove(key),
    }
    rows = []
    for name, apply in changes.items():
        walls, cpus = [], []
        outcome = None
        for _ in range(repeat):
            store.put(key, original.encode())
            publisher.sync(key)  # back to the base site
            apply()
            rendered.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            outcome = publisher.sync(key)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        assert outcome is not None
        counts = {
            "pages_rendered": len(rendered),
            "pages_written": len(outcome.written),
            "pages_deleted": len(outcome.deleted),
            "purge_urls": len(outcome.purged),
        }
        rows.append(_change_row(name, counts, walls, cpus, hugo_full_s))
    store.put(key, original.encode())
    return {"articles": size, "site_load_s": load_s, "rows": rows}


def _body_edited(text: str) -> str:
    return text.replace("## why this matters", "## why this matters now")


def _change_row(
    name: str, counts: dict[str, int], walls: list[float], cpus: list[float], hugo_full_s: float | None
) -> dict[str, Any]:
    """One B2 row: what the change did, its median wall and CPU time, and the ratio to Hugo's rebuild."""
    row: dict[str, Any] = {"change": name, **counts, "wall_s": median(walls), "cpu_s": median(cpus)}
    if hugo_full_s:
        row["hugo_full_rebuild_s"] = hugo_full_s
        row["ratio"] = hugo_full_s / median(walls)
    return row


def _retagged(text: str) -> str:
    for tag in ("security", "ops", "cdn", "performance"):
        text = text.replace(f"- {tag}\n", "- reliability\n", 1)
    return text


PHASES = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from edgepub import local, localbuild, localindex, publisher
from edgepub.settings import Settings
imports = time.perf_counter() - t0
spent = {}
def wrap(owner, name, label):
    inner = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start
    setattr(owner, name, timed)
for name in ("__init__", "migrate", "load"):  # open the database, read the model
    wrap(localindex.SqliteIndex, name, "load the index file")
wrap(local.FolderSourceStore, "list_keys", "list the sources")
wrap(localbuild.Stamps, "known", "compare sizes and mtimes")
wrap(localbuild, "read_source", "parse and validate sources")
wrap(publisher, "plan", "plan (incl. similar posts)")
wrap(publisher.Publisher, "_render", "render pages")
wrap(local.FolderPageStore, "put", "write pages")
for name in ("save", "save_pending", "flush"):  # the rows that changed
    wrap(localindex.SqliteIndex, name, "save the index file")
wrap(local.FolderPageStore, "flush", "save the headers manifest")
start = time.perf_counter()
localbuild.build(Path(sys.argv[1]), Path(sys.argv[2]), Settings(), workers=1)
total = time.perf_counter() - start
print(json.dumps({"imports": imports, "phases": spent, "build": total}))
"""


def phase_profile(src: Path, out: Path) -> dict[str, Any]:
    """Where one `edgepub build` spends its time, phase by phase, in one process (workers=1)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - start
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PHASES, str(src), str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"the phase profile of {src} failed:\n{done.stderr}")
    result = dict(json.loads(done.stdout))
    result |= {"interpreter": interpreter, "wall": wall}
    return result


def profiles(work: Path, small: int, large: int) -> dict[str, Any]:
    """Phase profiles of the builds whose targets are hardest: a first build, and a body edit in a large site."""
    first = phase_profile(work / f"src{small}", work / f"profile-out{small}")
    src, out = work / f"src{large}", work / f"out{large}-0"
    target = src / f"article-{min(100, large // 2):06d}.md"
    original = target.read_text(encoding="utf-8")
    timed([*EDGEPUB, "build", str(src), "--out", str(out), "--json"])
    target.write_text(_body_edited(original), "utf-8")
    try:
        edit = phase_profile(src, out)
    finally:
        target.write_text(original, "utf-8")
    return {"first_build": {"articles": small, **first}, "body_edit": {"articles": large, **edit}}


PARSE_PROFILE = """
import cProfile, json, pstats, sys
from pathlib import Path
from edgepub.readers import read_article
files = [("content/" + p.name, p.read_bytes()) for p in sorted(Path(sys.argv[1]).iterdir())]
profile = cProfile.Profile()
profile.enable()
for key, data in files:
    read_article(key, data)
profile.disable()
stats = pstats.Stats(profile).stats
def cumulative(path_end, name):
    return sum(v[3] for k, v in stats.items() if k[0].endswith(path_end) and k[2] == name)
total = cumulative("edgepub/readers.py", "read_article")
print(json.dumps({"files": len(files), "parse_s": total, "yaml_s": cumulative("yaml/__init__.py", "load"),
                  "yaml_share": cumulative("yaml/__init__.py", "load") / total}))
"""

BURN = """
import json, multiprocessing, time
def burn(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
if __name__ == "__main__":
    n = 10_000_000
    start = time.perf_counter(); burn(n); burn(n); serial = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(2) as pool:
        start = time.perf_counter(); pool.map(burn, [n, n]); forked = time.perf_counter() - start
    print(json.dumps({"serial_s": serial, "two_processes_s": forked, "speedup": serial / forked}))
"""


def parse_profile(src: Path) -> dict[str, Any]:
    """cProfile of parsing every source of a corpus: how much of it is PyYAML."""
    done = subprocess.run([sys.executable, "-c", PARSE_PROFILE, str(src)], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def parallelism() -> dict[str, Any]:
    """How much faster two processes run a CPU-bound loop than one, on this machine, now."""
    done = subprocess.run([sys.executable, "-c", BURN], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def b4_cold_start(repeat: int) -> dict[str, Any]:
    """Import time of each handler module in a fresh interpreter, against `import boto3`.

    Measured twice: with the variables Lambda sets (LAMBDA_TASK_ROOT, and
    tracing on as template.yaml has it), which is what a cold start pays; and
    outside Lambda, where the X-Ray SDK that Powertools' Tracer loads builds a
    botocore client for remote sampling rules at import (it uses a local
    sampler in Lambda).
    """

    def import_time(module: str, path: str, env: dict[str, str]) -> float:
        code = (
            f"import sys, time; sys.path.insert(0, {path!r}); t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)"
        )
        times = [
            float(
                subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
            )
            for _ in range(repeat)
        ]
        return median(times)

    base = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_LAMBDA_"))}
    base["AWS_DEFAULT_REGION"] = "us-east-1"
    rows: dict[str, Any] = {}
    for mode, extra in (
        ("", {"LAMBDA_TASK_ROOT": "{root}", "AWS_LAMBDA_FUNCTION_NAME": "edgepub-{name}"}),
        ("local_", {"POWERTOOLS_TRACE_DISABLED": "true"}),
    ):
        boto = import_time("boto3", "", {**base, **{k: v.format(root="", name="boto3") for k, v in extra.items()}})
        rows[f"{mode}boto3_s"] = boto
        for name in ("publish", "purge", "scheduler", "ops"):
            root = str(ROOT / "functions" / name)
            env = {**base, **{k: v.format(root=root, name=name) for k, v in extra.items()}}
            seconds = import_time("app", root, env)
            rows[f"{mode}{name}_s"] = seconds
            rows[f"{mode}{name}_ratio"] = seconds / boto
        # the publish function loads the renderer (jinja2, yaml, markdown) with its first event
        root = str(ROOT / "functions" / "publish")
        env = {**base, **{k: v.format(root=root, name="publish") for k, v in extra.items()}}
        rows[f"{mode}first_event_s"] = import_time("app, edgepub.publisher", root, env)
    layer = ROOT / ".aws-sam" / "build" / "EdgepubLayer"
    rows["layer_bytes"] = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file()) if layer.is_dir() else 0
    return rows


def b6_memory(size: int = 1024 * 1024) -> dict[str, Any]:
    """Peak memory publishing one article of `size` bytes (Markdown paragraphs), in a fresh process."""
    code = """
import sys, tracemalloc, json
from edgepub.index import MemoryIndex
from edgepub.local import MemoryPageStore, MemorySourceStore, RecordingPurger
from edgepub.publisher import Publisher
from edgepub.settings import Settings
settings = Settings()
size = int(sys.argv[1])
body = ("a paragraph of text for the memory benchmark. " * 20 + "\\n\\n") * (size // 900 + 1)
data = ("---\\ntitle: big\\n---\\n" + body).encode()[:size]
sources = MemorySourceStore(); sources.put("content/big.md", data)
publisher = Publisher(settings, sources, MemoryPageStore(), RecordingPurger(), MemoryIndex())
tracemalloc.start()
outcome = publisher.sync("content/big.md")
current, peak = tracemalloc.get_traced_memory()
# the peak resident set of this process image (VmHWM): getrusage's maxrss would also count the
# bench process this one was forked from, before it exec'd
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"source_bytes": len(data), "action": outcome.action, "tracemalloc_peak_bytes": peak,
                  "max_rss_bytes": hwm * 1024,
                  "largest_accepted_bytes": settings.max_source_bytes}))
"""
    done = subprocess.run([sys.executable, "-c", code, str(size)], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def b8_hostile() -> list[dict[str, Any]]:
    """Each hostile source of tests/support/hostile.py read in a fresh process: outcome,
    seconds, and peak memory (the process image's VmHWM, and Python's tracemalloc peak)."""
    from tests.support.hostile import ALL

    code = """
import sys, time, tracemalloc, json
from tests.support.hostile import ALL
from edgepub.errors import InvalidSource
from edgepub.readers import read_article
case = next(h for h in ALL if h.name == sys.argv[1])
tracemalloc.start()
start = time.perf_counter()
try:
    outcome = "article " + read_article("content/" + case.name, case.data).slug
except InvalidSource as error:
    outcome = "rejected: " + ", ".join(dict.fromkeys(p.field for p in error.problems))
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"source": case.name, "bytes": len(case.data), "outcome": outcome, "seconds": seconds,
                  "tracemalloc_peak_bytes": peak, "max_rss_bytes": hwm * 1024}))
"""
    rows = []
    for case in ALL:
        done = subprocess.run(
            [sys.executable, "-c", code, case.name], capture_output=True, text=True, check=True, cwd=ROOT
        )
        rows.append(dict(json.loads(done.stdout)))
    return rows


def _hostile_lines(rows: list[dict[str, Any]] | None) -> list[str]:
    if not rows:
        return []
    lines = [
        "## B8 hostile sources",
        "",
        "Each source of `tests/support/hostile.py` read and validated in a fresh process "
        "(`python -m tests.performance.bench --only b8`). Peak RSS is the whole process, Python and "
        "edgepub's imports included (about 20 MB of it); the heap peak is what reading the source allocated.",
        "",
        "| source | bytes | outcome | ms | peak RSS MB | heap peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["seconds"]):
        lines.append(
            f"| {r['source']} | {r['bytes']:,} | {r['outcome']} | {r['seconds'] * 1000:.1f} | "
            f"{r['max_rss_bytes'] / 1e6:.1f} | {r['tracemalloc_peak_bytes'] / 1e6:.2f} |"
        )
    return [*lines, ""]


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
        purged = state.purged_urls()
        distinct = len(set(purged))
        from collections import Counter
        from edgepub.carry import page_rank
        kinds = ("article", "listing", "site-wide")
        repeats = Counter(kinds[page_rank(u)] for u, n in Counter(purged).items() for _ in range(n - 1))
        result = {{"uploads": {count}, "upload_s": uploaded, "complete_s": total, "purge_calls": len(state.purges),
                  "distinct_urls": distinct, "minimum_calls": math.ceil(distinct / 30),
                  "url_purges": len(purged), "calls_for_url_purges": math.ceil(len(purged) / 30),
                  "repeats": dict(repeats),
                  "partial_calls": sum(1 for r in state.purges if len(r.items) < 30),
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
        with index.lock():  # a writer like any other: under the lease
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


def keep_lighthouse(out: Path, page: str) -> str:
    """The new page, with the "## Lighthouse" section `make check-pages PAGES_ARGS=--write-docs`
    wrote into the old one (measured by the page gate, not by this bench)."""
    old = out.read_text(encoding="utf-8") if out.is_file() else ""
    start = old.find("\n## Lighthouse")
    if start < 0 or "## Lighthouse" in page:
        return page
    end = old.find("\n## ", start + 1)
    return page.rstrip("\n") + "\n" + old[start : end if end > 0 else len(old)].rstrip("\n") + "\n"


def render_page(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `make bench` on {results['machine']} ({results['cpus']} cores), {results['when']}; "
        f"Hugo: {results['hugo']}. Medians of {results['repeat']} runs; the machine is shared, so compare "
        "ratios.",
        "",
        f"`edgepub build` used {results.get('workers', 1)} worker processes; two processes ran a CPU-bound "
        f"Python loop {results.get('parallelism', {}).get('speedup', float('nan')):.2f}x as fast as one during "
        "this run. Sources and output are in a temporary folder on the local disk, the same for both tools.",
        "",
        *_target_lines(results),
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
        "**In the pipeline**: one S3 event, one `Publisher.sync`, as the publish function runs it "
        "(warm, site model loaded; in-memory stores, so no S3 or DynamoDB latency: B3 covers those).",
        "",
        "| change | pages rendered | written | deleted | purge URLs | wall s | CPU s | Hugo full rebuild s | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["b2_pipeline"]["rows"]:
        lines.append(
            f"| {r['change']} | {r['pages_rendered']} | {r['pages_written']} | {r['pages_deleted']} | "
            f"{r['purge_urls']} | {r['wall_s']:.4f} | {r['cpu_s']:.4f} | "
            f"{r.get('hugo_full_rebuild_s', float('nan')):.2f} | {r.get('ratio', float('nan')):.0f} |"
        )
    lines += [
        "",
        "**`edgepub build` again**, in a fresh process: it also lists and checks all "
        f"{results['b2_size']:,} sources, loads the local index and saves the rows of it that changed.",
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
    lines += _profile_lines(results.get("profiles"))
    b4 = results["b4"]
    lines += [
        "",
        "## B4 cold start (import time in a fresh interpreter)",
        "",
        "As in Lambda: `LAMBDA_TASK_ROOT` set and tracing on, as template.yaml deploys it. Outside Lambda, "
        "the X-Ray SDK (loaded by Powertools' Tracer) builds a botocore client for remote sampling at import, "
        "which Lambda never does (aws-xray-sdk-python issues 273 and 311); that column shows it.",
        "",
        "| module | as in Lambda s | ratio to `import boto3` | outside Lambda s | ratio |",
        "|---|---|---|---|---|",
        f"| boto3 | {b4['boto3_s']:.3f} | 1.00 | {b4.get('local_boto3_s', float('nan')):.3f} | 1.00 |",
    ]
    lines += [
        f"| functions/{n}/app.py | {b4[f'{n}_s']:.3f} | {b4[f'{n}_ratio']:.2f} | "
        f"{b4.get(f'local_{n}_s', float('nan')):.3f} | {b4.get(f'local_{n}_ratio', float('nan')):.2f} |"
        for n in ("publish", "purge", "scheduler", "ops")
    ]
    if "first_event_s" in b4:
        lines.append(
            f"| publish, plus the renderer its first event loads | {b4['first_event_s']:.3f} | "
            f"{b4['first_event_s'] / b4['boto3_s']:.2f} | {b4['local_first_event_s']:.3f} | "
            f"{b4['local_first_event_s'] / b4['local_boto3_s']:.2f} |"
        )
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
        f"{b6['largest_accepted_bytes']:,} bytes (EDGEPUB_MAX_SOURCE_BYTES)"
        + (
            f"; publishing one of that size: Python heap peak {results['b6_largest']['tracemalloc_peak_bytes']:,} "
            f"bytes, process max RSS {results['b6_largest']['max_rss_bytes']:,} bytes "
            f"({results['b6_largest']['action']})."
            if "b6_largest" in results
            else "."
        ),
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
        f"Those calls carried {b3.get('url_purges', 0):,} URL purges, which fill "
        f"{b3.get('calls_for_url_purges', 0)} calls of 30 ({b3.get('partial_calls', 0)} not full). "
        "A URL is purged again "
        "when its page is written again after its purge; the repeats by page kind: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(b3.get("repeats", {}).items()))
        + ".",
        "",
        "## B5 freshness",
        "",
        f"{b5['indexed']:,} articles indexed in DynamoDB (moto), {b5['due']:,} overdue: the daily report read "
        f"{b5['items_read']:,} items in {b5['queries']} {'query' if b5['queries'] == 1 else 'queries'} "
        f"and took {b5['report_s']:.2f} s "
        f"(loading the index took {b5['load_s']:.0f} s).",
        "",
        f"Command: `{results['command']}`",
        "",
    ]
    lines[-4:-4] = _hostile_lines(results.get("b8"))
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(bench, target, measured, met) for each target of the issue, from one run's results."""
    rows: list[tuple[str, str, str, bool]] = []
    for r in results["b1"]:
        ratio = r.get("ratio", float("nan"))
        rows.append((f"B1 {r['articles']:,} articles", "2x Hugo's articles/s", f"{ratio:.2f}x Hugo", bool(ratio >= 2)))
    pipeline = results["b2_pipeline"]["rows"]
    worst = min(r.get("ratio", float("nan")) for r in pipeline)
    rows.append(
        (
            "B2 one change, pipeline",
            "100x less time than Hugo's rebuild",
            f"{worst:.0f}x (slowest of the three changes)",
            bool(worst >= 100),
        )
    )
    worst_cli = min(r.get("ratio", float("nan")) for r in results["b2"])
    rows.append(
        (
            "B2 one change, `edgepub build`",
            "100x less time than Hugo's rebuild",
            f"{worst_cli:.0f}x (slowest of the three changes)",
            bool(worst_cli >= 100),
        )
    )
    b3 = results["b3"]
    rows.append(
        (
            "B3 purge calls",
            "the minimum",
            f"{b3['purge_calls']} calls, minimum {b3['minimum_calls']}",
            b3["purge_calls"] <= b3["minimum_calls"],
        )
    )
    b4 = results["b4"]
    ratio = max(b4[f"{n}_ratio"] for n in ("publish", "purge", "scheduler", "ops"))
    rows.append(("B4 handler import", "within 1.5x of boto3", f"{ratio:.2f}x (slowest handler)", ratio <= 1.5))
    b5 = results["b5"]
    rows.append(
        (
            "B5 freshness",
            "read only due items",
            f"{b5['items_read']:,} read for {b5['due']:,} due",
            b5["items_read"] == b5["due"],
        )
    )
    b6 = results["b6"]
    rows.append(
        (
            "B6 1 MB article",
            "under 128 MB",
            f"{b6['max_rss_bytes'] / 2**20:.0f} MB RSS"
            + (
                f" ({results['b6_largest']['max_rss_bytes'] / 2**20:.0f} MB for the largest accepted, "
                f"{results['b6_largest']['source_bytes'] / 2**20:.0f} MB)"
                if "b6_largest" in results
                else ""
            ),
            b6["max_rss_bytes"] < 128 * 2**20,
        )
    )
    return rows


def _target_lines(results: dict[str, Any]) -> list[str]:
    lines = ["## Against the targets", "", "| bench | target | measured | met |", "|---|---|---|---|"]
    lines += [f"| {b} | {t} | {m} | {'yes' if ok else '**no**'} |" for b, t, m, ok in targets(results)]
    return [*lines, "", *limits(results)]


def limits(results: dict[str, Any]) -> list[str]:
    """What limits each target that this run missed, from this run's figures and profiles."""
    missed = {b.split(" ")[0] for b, _, _, ok in targets(results) if not ok and "`edgepub build`" not in b}
    cli_missed = any("`edgepub build`" in b and not ok for b, _, _, ok in targets(results))
    profiles = results.get("profiles") or {}
    first, edit = profiles.get("first_build"), profiles.get("body_edit")
    machine = results.get("parallelism", {})
    out: list[str] = []
    if missed or cli_missed:
        out += ["### What limits the targets missed", ""]
    if "B1" in missed and first:
        phases = first["phases"]
        yaml_share = results.get("parse_profile", {}).get("yaml_share", float("nan"))
        small = ", ".join(f"{r['articles']:,}" for r in results["b1"] if r.get("ratio", 0) < 2)
        small_build_s = next(r["edgepub_s"] for r in results["b1"] if r["articles"] == first["articles"])
        out.append(
            f"- **B1 at {small} articles.** A whole build is short "
            f"enough that fixed and serial costs weigh: starting Python and importing edgepub's libraries take "
            f"{first['interpreter'] + first['imports']:.2f} s, which a compiled Hugo does not pay; planning, with "
            f"similar posts ranked across the whole site, takes {phases.get('plan (incl. similar posts)', 0):.2f} s "
            f"in one process. Parsing ({phases.get('parse and validate sources', 0):.2f} s in one process) is "
            f"{yaml_share:.0%} PyYAML building Python objects from libyaml's events (cProfile of parsing the "
            f"corpus, this run): Python code, not C. Rendering takes "
            f"{phases.get('render pages', 0):.2f} s in Jinja2. Only parsing and rendering run in the "
            f"{results.get('workers', 1)} worker processes; starting, planning, writing pages and saving the index "
            f"stay in one, so the build took {small_build_s:.2f} s against {first['wall']:.2f} s in one process "
            f"(two processes ran a CPU-bound loop {machine.get('speedup', float('nan')):.2f}x as fast as one on "
            "this machine in this run)."
            + (
                " Hugo's time grows faster than the article count, and at "
                + ", ".join(f"{r['articles']:,}" for r in results["b1"] if r.get("ratio", 0) >= 2)
                + " articles the ratio passes 2 (the table below)."
                if any(r.get("ratio", 0) >= 2 for r in results["b1"])
                else ""
            )
        )
    if cli_missed and edit:
        phases = edit["phases"]
        fixed = (
            edit["interpreter"]
            + edit["imports"]
            + phases.get("load the index file", 0)
            + phases.get("save the index file", 0)
            + phases.get("list the sources", 0)
            + phases.get("compare sizes and mtimes", 0)
        )
        out.append(
            f"- **B2 with `edgepub build`.** A fresh process must start Python and import "
            f"({edit['interpreter'] + edit['imports']:.2f} s), list and stat every source "
            f"({phases.get('list the sources', 0) + phases.get('compare sizes and mtimes', 0):.2f} s), load "
            f"the index of every article and save what changed in it ({phases.get('load the index file', 0):.2f} s + "
            f"{phases.get('save the index file', 0):.2f} s): {fixed:.2f} s of its {edit['wall']:.2f} s before "
            f"and after the change itself (rendering took {phases.get('render pages', 0):.3f} s). The pipeline "
            "pays none of that per event" + (", which is why its rows meet the target." if "B2" not in missed else ".")
        )
    if "B3" in missed:
        b3 = results["b3"]
        repeats = b3.get("repeats", {})
        out.append(
            f"- **B3.** The minimum counts each of the {b3['distinct_urls']:,} distinct URLs once, as if every "
            f"purge could wait until the burst was over ({b3['complete_s']:.0f} s here). But a page written again "
            "after its purge must be purged again: "
            f"{sum(repeats.values()):,} of the {b3.get('url_purges', 0):,} URL purges were such repeats "
            f"(article pages {repeats.get('article', 0):,}, mostly similar-post blocks that a newer, more related "
            f"article entered; listings {repeats.get('listing', 0):,}; site-wide pages "
            f"{repeats.get('site-wide', 0):,}). Calls are full ({b3.get('partial_calls', 0)} of "
            f"{b3['purge_calls']} were not): busy invocations send full batches and carry the rest, listing pages "
            "last, to the next window. Purging fewer times means leaving visitors on stale pages longer than "
            "`PurgeMaxHoldSeconds` (30 s by default), which edgepub does not do."
        )
    if "B4" in missed:
        out.append(
            "- **B4.** The remaining import time is Powertools (Logger, Metrics, Tracer and the X-Ray SDK it "
            "loads) and, in the publish function, the batch utility; run `python -X importtime` on a handler."
        )
    return [*out, ""] if out else []


def _profile_lines(profiles: dict[str, Any] | None) -> list[str]:
    if not profiles:
        return []
    lines = [
        "",
        "### Where the time goes",
        "",
        "Phase profiles of `edgepub build` in one process (workers=1), from the same run: "
        f"a first build of {profiles['first_build']['articles']:,} articles, and a body edit in the "
        f"{profiles['body_edit']['articles']:,}-article site.",
        "",
        "| phase | first build s | body edit s |",
        "|---|---|---|",
    ]
    first, edit = profiles["first_build"], profiles["body_edit"]
    rows: list[tuple[str, float, float]] = [("start the interpreter", first["interpreter"], edit["interpreter"])]
    rows.append(("import edgepub and its libraries", first["imports"], edit["imports"]))
    for phase in dict.fromkeys([*first["phases"], *edit["phases"]]):
        rows.append((phase, first["phases"].get(phase, 0.0), edit["phases"].get(phase, 0.0)))
    accounted = [sum(r[1] for r in rows[2:]), sum(r[2] for r in rows[2:])]
    rows.append(
        ("everything else (hashing, entries, plumbing)", first["build"] - accounted[0], edit["build"] - accounted[1])
    )
    rows.append(("**process wall time**", first["wall"], edit["wall"]))
    lines += [f"| {name} | {a:.3f} | {b:.3f} |" for name, a, b in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=500, help="B3: uploads in the burst")
    parser.add_argument("--indexed", type=int, default=100_000, help="B5: articles in the index")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=ROOT / ".edgepub" / "bench.json")
    parser.add_argument("--from-json", type=Path, help="Only render the page from an earlier result file.")
    parser.add_argument("--only", choices=["b8"], help="Run one section alone and print it (the page is not written).")
    args = parser.parse_args()
    if args.only == "b8":
        print("\n".join(_hostile_lines(b8_hostile())))
        return
    if args.from_json:
        args.out.write_text(keep_lighthouse(args.out, render_page(json.loads(args.from_json.read_text()))), "utf-8")
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
        results["b2_pipeline"] = b2_pipeline(largest["articles"], args.repeat, work, largest.get("hugo_s"))
        results["profiles"] = profiles(work, sizes[0], largest["articles"])
        results["parse_profile"] = parse_profile(work / f"src{sizes[0]}")
    results["parallelism"] = parallelism()
    results["workers"] = default_workers()
    results["b3"] = b3_end_to_end(args.uploads)
    results["b5"] = b5_freshness(args.indexed, 0.01)
    results["b4"] = b4_cold_start(args.repeat)
    results["b6"] = b6_memory()
    results["b6_largest"] = b6_memory(results["b6"]["largest_accepted_bytes"])
    results["b8"] = b8_hostile()
    page = render_page(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(keep_lighthouse(args.out, page), encoding="utf-8")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(page)


if __name__ == "__main__":
    main()
