"""The page-quality gate (issue 13): `make check-pages`.

Builds samples/ and a generated site (tests/pages/corpus.py: edgepub.toml, content/
with a page bundle and redirects, theme/) with `edgepub build`, serves each build on
loopback, and checks what a visitor gets:

- the Nu HTML Checker (the `vnu-jar` package, on Debian's Java) over EVERY .html file of
  both builds, and any .css and .svg file they publish: each error, with file and line;
- axe-core (wcag2a, wcag2aa, wcag21a, wcag21aa, best-practice) in Debian's Chromium,
  driven by playwright-core, on pages of every kind (article, page-bundle article, home,
  archive page, tag page, tag archive page, tags index, 404, redirect page), at a desktop
  and a 375 px wide viewport: each violation with rule, impact, page and target. Loopback
  responses of 400 and over (a missing image or stylesheet) fail the gate too;
- Lighthouse (mobile default) on an article and the home page of the generated site:
  scores and every audit below 1, printed but not failing (about 20 s; --no-lighthouse
  skips it). `--write-docs` also writes them into docs/benchmarks.md ("## Lighthouse").

Exit status 1 on any checker error, axe violation, broken request, build problem or
missing page kind; the full list goes to .edgepub/check-pages/report.txt (and .json).

    python -m tests.pages.check_pages [--count 240] [--no-lighthouse] [--write-docs] [--keep DIR] [--verbose]

The tools come from tests/pages/package-lock.json (`npm ci`, done by `make check-pages`),
Chromium and Java from Debian; nothing is downloaded at run time."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.pages import corpus

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_MODULES = HERE / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What this machine's closed network needs (env/machines/python.md); playwright and
# chrome-launcher add --headless and a fresh --user-data-dir of their own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
VIEWPORTS = [
    {"name": "desktop", "width": 1280, "height": 800},
    {"name": "375px", "width": 375, "height": 812, "mobile": True},
]
REPORT_DIR = ROOT / ".edgepub" / "check-pages"
DOC = ROOT / "docs" / "benchmarks.md"
# samples/ holds one source that must be rejected; any other rejection fails the gate.
EXPECTED_REJECTED = {"samples": {"content/broken-front-matter.md"}, "corpus": set()}
KINDS = ["article", "bundle article", "home", "archive", "tag", "tag archive", "tags index", "404", "redirect"]
# Kinds each build must have (samples has too few articles for a second archive page,
# and neither a bundle nor an alias).
REQUIRED = {
    "samples": {"article", "home", "tag", "tags index", "404"},
    "corpus": set(KINDS),
}
SHOWN = 8  # occurrences printed per message or rule; all of them go to the report file
_REFRESH = re.compile(r"<meta[^>]+http-equiv=[\"']?refresh", re.IGNORECASE)
# What every page needs that neither checker asks for: without a viewport, a phone lays
# the page out 980 px wide and shrinks it (Lighthouse's `viewport` audit).
BASICS = {
    "no <meta name=viewport content=width=device-width>": re.compile(
        r"<meta(?=[^>]*name=[\"']?viewport)(?=[^>]*width=device-width)[^>]*>", re.IGNORECASE
    ),
}


@dataclass
class Page:
    site: str
    kind: str
    file: str  # path in the build output, "tags/x/index.html"
    url: str  # as a visitor asks for it
    html: str = ""


@dataclass
class Site:
    name: str
    src: Path
    out: Path
    url: str = ""
    server: ThreadingHTTPServer | None = None
    build: dict[str, Any] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    vnu_version: str = ""
    vnu_files: int = 0
    vnu_errors: list[dict[str, Any]] = field(default_factory=list)
    vnu_warnings: list[dict[str, Any]] = field(default_factory=list)
    axe: dict[str, Any] = field(default_factory=dict)
    axe_checked: list[Page] = field(default_factory=list)
    lighthouse: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- serving


class _Handler(SimpleHTTPRequestHandler):
    """The build output as the edge serves it: /x/ is /x/index.html, an unknown path
    gets 404.html with status 404, and the index kept in OUT/.edgepub is not served."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def send_head(self) -> Any:
        if any(part.startswith(".") for part in urlsplit(self.path).path.split("/")):
            self.send_error(404)
            return None
        return super().send_head()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def serve(directory: Path) -> ThreadingHTTPServer:
    """A server on a free loopback port (bound now, so the build can use its URL), serving from `directory`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(directory)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"serve {directory.name}", daemon=True).start()
    return server


# --------------------------------------------------------------------------- building


def build(site: Site) -> None:
    site.out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "edgepub",
        "build",
        str(site.src),
        "--out",
        str(site.out),
        "--site-url",
        site.url,
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    try:  # the JSON report, after any progress lines
        site.build, _ = json.JSONDecoder().raw_decode(done.stdout[done.stdout.index("{") :])
    except ValueError:
        site.problems.append(
            f"edgepub build exited {done.returncode} without a JSON report: {done.stderr.strip()[-800:]}"
        )
        return
    expected = EXPECTED_REJECTED[site.name]
    for error in site.build.get("errors", []):
        key = str(error).split(":", 1)[0]
        if key not in expected:
            site.problems.append(f"source rejected: {error}")
    missing = expected - {str(e).split(":", 1)[0] for e in site.build.get("errors", [])}
    for key in sorted(missing):
        site.problems.append(f"{key} was expected to be rejected and was not")
    if done.returncode not in (0, 2):
        site.problems.append(f"edgepub build exited {done.returncode}: {done.stderr.strip()[-800:]}")


def classify(rel: str, html: str, bundle: str | None) -> str:
    if _REFRESH.search(html):
        return "redirect"
    if rel == "404.html":
        return "404"
    if rel == "index.html":
        return "home"
    if re.fullmatch(r"page/\d+/index\.html", rel):
        return "archive"
    if rel == "tags/index.html":
        return "tags index"
    if re.fullmatch(r"tags/[^/]+/page/\d+/index\.html", rel):
        return "tag archive"
    if re.fullmatch(r"tags/[^/]+/index\.html", rel):
        return "tag"
    if bundle and rel == f"{bundle}/index.html":
        return "bundle article"
    if re.fullmatch(r"[^/]+/index\.html", rel):
        return "article"
    return "other"


def collect(site: Site, bundle: str | None) -> None:
    for path in sorted(site.out.rglob("*.html")):
        rel = path.relative_to(site.out).as_posix()
        if rel.startswith(".edgepub/"):
            continue
        html = path.read_text(encoding="utf-8", errors="replace")
        kind = classify(rel, html, bundle)
        if kind == "404":
            url = f"{site.url}/no-such-page-{site.name}/"  # as a visitor meets it: status 404, this page
        else:
            url = f"{site.url}/{rel.removesuffix('index.html')}"
        site.pages.append(Page(site.name, kind, rel, url, html))
    for problem, pattern in BASICS.items():
        lacking = [p for p in site.pages if not pattern.search(p.html)]
        for kind, group in sorted(Counter(p.kind for p in lacking).items()):
            example = next(p.file for p in lacking if p.kind == kind)
            site.problems.append(f"{problem}: {group} {kind} pages, e.g. {example}")
    kinds = {p.kind for p in site.pages}
    for kind in sorted(REQUIRED[site.name] - kinds, key=KINDS.index):
        site.problems.append(f"no page of kind {kind!r} was built")


def _page_number(page: Page) -> int:
    found = re.search(r"page/(\d+)/", page.file)
    return int(found.group(1)) if found else 0


FEATURES = {
    "code block": "<pre",
    "table": "<table",
    "task list": 'type="checkbox"',
    "image": "<img",
    "notice": 'class="notice"',
}


def pick_for_axe(pages: list[Page]) -> list[Page]:
    """One or more pages of every kind: the first of each, the last archive pages, and
    for articles one with each kind of content (code, table, task list, image, notice)."""
    picked: list[Page] = []
    by_kind: dict[str, list[Page]] = defaultdict(list)
    for page in pages:
        by_kind[page.kind].append(page)
    for kind, group in by_kind.items():
        ordered = sorted(group, key=lambda p: (_page_number(p), p.file))
        chosen = [ordered[0]]
        if kind in ("archive", "tag archive") and len(ordered) > 1:
            chosen.append(ordered[-1])
        if kind == "article":
            for needle in FEATURES.values():
                if not any(needle in p.html for p in chosen):
                    chosen += [p for p in ordered if needle in p.html][:1]
        picked += chosen
    return picked


# --------------------------------------------------------------------------- checkers


def _vnu(options: list[str], files: list[str]) -> list[dict[str, Any]]:
    cmd = ["java", "-Xss1024k", "-jar", str(VNU_JAR), "--format", "json", "--stdout", "--skip-info-messages"]
    done = subprocess.run([*cmd, *options, *files], capture_output=True, text=True, timeout=600)
    try:
        messages: list[dict[str, Any]] = json.loads(done.stdout)["messages"]
    except (ValueError, KeyError):
        return [{"type": "error", "url": "(vnu)", "message": f"vnu exited {done.returncode}: {done.stderr[-800:]}"}]
    return messages


def run_vnu(sites: list[Site], results: Results) -> None:
    """HTML (with its inline CSS) and SVG in one run, .css files in another: with
    --also-check-css, vnu 26.9 numbers the lines of HTML documents from 0."""
    files = [
        str(p)
        for site in sites
        for p in sorted(site.out.rglob("*"))
        if p.suffix in (".html", ".css", ".svg") and ".edgepub" not in p.relative_to(site.out).parts
    ]
    results.vnu_files = len(files)
    if not files:
        return  # the builds failed, and say so
    version = subprocess.run(["java", "-jar", str(VNU_JAR), "--version"], capture_output=True, text=True, timeout=60)
    results.vnu_version = version.stdout.strip()
    messages = _vnu(["--also-check-svg"], [f for f in files if not f.endswith(".css")])
    css = [f for f in files if f.endswith(".css")]
    if css:
        messages += _vnu(["--css"], css)
    roots = {str(site.out): site.name for site in sites}
    for m in messages:
        path = urlsplit(m.get("url", "")).path
        where = next(((name, path[len(r) + 1 :]) for r, name in roots.items() if path.startswith(r + "/")), ("", path))
        entry = {
            "site": where[0],
            "file": where[1],
            "line": m.get("lastLine", m.get("firstLine", 0)),
            "column": m.get("firstColumn", 0),
            "message": m.get("message", ""),
            "extract": (m.get("extract") or "").replace("\n", " ").strip(),
            "severity": "warning" if m.get("type") == "info" else "error",
        }
        (results.vnu_warnings if entry["severity"] == "warning" else results.vnu_errors).append(entry)


def _node(script: str, spec: dict[str, Any], timeout: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        done = subprocess.run(
            ["node", str(HERE / script), f.name], capture_output=True, text=True, timeout=timeout, cwd=HERE
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"{script} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_axe(pages: list[Page], results: Results) -> None:
    results.axe_checked = pages
    if not pages:
        return
    spec = {
        "chromium": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "tags": AXE_TAGS,
        "viewports": VIEWPORTS,
        "pages": [{"url": p.url, "kind": p.kind, "site": p.site, "file": p.file} for p in pages],
    }
    results.axe = _node("axe_pages.mjs", spec, timeout=600)


def lighthouse_pages(site: Site) -> list[dict[str, str]]:
    """The home page, and an article with a code block and a table and no off-site image."""
    articles = [p for p in site.pages if p.kind == "article"]
    rich = [p for p in articles if "<pre" in p.html and "<table" in p.html and 'src="https://' not in p.html]
    article = (rich or articles)[0]
    home = next(p for p in site.pages if p.kind == "home")
    return [{"name": "article", "url": article.url}, {"name": "home", "url": home.url}]


def run_lighthouse(site: Site, results: Results) -> None:
    spec = {"chromium": CHROMIUM, "args": CHROMIUM_ARGS, "pages": lighthouse_pages(site)}
    results.lighthouse = _node("lighthouse.mjs", spec, timeout=300)


# --------------------------------------------------------------------------- reporting


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def axe_failures(results: Results) -> tuple[dict[str, list[dict[str, Any]]], list[str], list[str]]:
    """Violations by rule (one entry per page, viewport and node), broken requests, pages that failed to load."""
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    broken_at: dict[str, list[str]] = defaultdict(list)
    failed: list[str] = []
    for r in results.axe.get("results", []):
        where = f"{r['site']} {_path(r['url'])} [{r['viewport']}]"
        if r.get("error"):
            failed.append(f"{where}: {r['error']}")
        expected_status = 404 if r["kind"] == "404" else 200
        if r.get("status") is not None and r["status"] != expected_status:
            failed.append(f"{where}: status {r['status']}, expected {expected_status}")
        for v in r["violations"]:
            for n in v["nodes"]:
                by_rule[v["id"]].append(
                    {
                        "impact": v["impact"],
                        "help": v["help"],
                        "helpUrl": v["helpUrl"],
                        "site": r["site"],
                        "kind": r["kind"],
                        "page": _path(r["url"]),
                        "viewport": r["viewport"],
                        "target": " ".join(" > ".join(t) if isinstance(t, list) else str(t) for t in n["target"]),
                        "html": " ".join(n["html"].split()),
                    }
                )
        for b in r["broken"]:
            broken_at[f"{b['status']} {_path(b['url'])} ({b.get('what', '')})"].append(where)
    broken = [f"{what}: {len(wheres)} page views, e.g. {wheres[0]}" for what, wheres in sorted(broken_at.items())]
    return by_rule, broken, failed


def report(sites: list[Site], results: Results, verbose: bool) -> tuple[list[str], list[str], int]:
    """The text shown (short), the full text for the report file, and the number of failures."""
    short: list[str] = []
    full: list[str] = []

    def both(line: str = "") -> None:
        short.append(line)
        full.append(line)

    def listed(lines: list[str]) -> None:
        """Every line in the report file; the first SHOWN on screen (all with --verbose)."""
        full.extend(lines)
        short.extend(lines if verbose else lines[:SHOWN])
        if len(lines) > SHOWN and not verbose:
            short.append(f"      ... and {len(lines) - SHOWN} more (report.txt lists all)")

    failures = 0
    both("== builds")
    for site in sites:
        b = site.build
        both(
            f"{site.name}: {b.get('sources', '?')} sources, {b.get('published', '?')} published, "
            f"{b.get('rejected', '?')} rejected, {b.get('pages_written', '?')} pages written; "
            f"{len(site.pages)} HTML pages served at {site.url}"
        )
        for note in site.notes:
            both(f"  note: {note}")
        for problem in site.problems:
            both(f"  FAIL {problem}")
        failures += len(site.problems)

    both()
    errors = results.vnu_errors + results.vnu_warnings
    by_message: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in errors:
        by_message[(e["severity"], e["message"])].append(e)
    both(
        f"== Nu HTML Checker {results.vnu_version}: {results.vnu_files} files (every .html, .css and .svg "
        f"of both builds): {len(results.vnu_errors)} errors, {len(results.vnu_warnings)} warnings "
        f"(both fail: obsolete markup is a warning), {len(by_message)} distinct"
    )
    for (severity, message), group in sorted(by_message.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        files = {(e["site"], e["file"]) for e in group}
        both(f"  {severity} [{len(group)} in {len(files)} files] {message}")
        listed([f"      {e['site']} {e['file']}:{e['line']}.{e['column']}  {e['extract'][:100]}" for e in group])
    failures += len(errors)

    both()
    by_rule, broken, failed = axe_failures(results)
    checked = results.axe.get("results", [])
    both(
        f"== axe-core {results.axe.get('axe', '?')} in Chromium {results.axe.get('browser', '?')} "
        f"({', '.join(AXE_TAGS)}): {len(results.axe_checked)} pages x {len(VIEWPORTS)} viewports "
        f"({', '.join(str(v['name']) for v in VIEWPORTS)}): {len(by_rule)} rules violated, "
        f"{sum(len(v) for v in by_rule.values())} nodes"
    )
    for rule, group in sorted(by_rule.items(), key=lambda kv: (_IMPACT.get(kv[1][0]["impact"], 9), kv[0])):
        pages = {(g["site"], g["page"]) for g in group}
        kinds = sorted({g["kind"] for g in group}, key=lambda k: KINDS.index(k) if k in KINDS else 99)
        first = group[0]
        both(
            f"  {rule} ({first['impact']}): {first['help']}: {len(group)} nodes on {len(pages)} pages "
            f"({', '.join(kinds)}); {first['helpUrl']}"
        )
        listed(
            [
                f"      {g['site']} {g['page']} [{g['viewport']}] {g['kind']}: {g['target']}  {g['html'][:90]}"
                for g in group
            ]
        )
    failures += sum(len(v) for v in by_rule.values())
    if broken:
        both(f"  broken requests (loopback responses >= 400, or failed): {len(broken)} URLs")
        for line in broken:
            both(f"      FAIL {line}")
    failures += len(broken)
    for line in failed:
        both(f"  FAIL {line}")
    failures += len(failed)
    offsite = sorted({u for r in checked for u in r.get("offsite", [])})
    if offsite:
        both(f"  off-site requests blocked (not failing; this machine has no network): {len(offsite)}")
        for u in offsite[:SHOWN]:
            both(f"      {u}")
    blocked = {(r["site"], _path(r["url"]), _path(u)) for r in checked for u in r.get("blockedNavigations", [])}
    for site_name, page, target in sorted(blocked):
        both(f"  note: {site_name} {page} navigates to {target} (blocked, so that axe checks the page itself)")

    if results.lighthouse is not None:
        both()
        lh = results.lighthouse
        if "error" in lh:
            both(f"== Lighthouse: could not run (not failing): {lh['error']}")
        else:
            both(f"== Lighthouse {lh['lighthouse']} ({lh['formFactor']} default; reported, not failing)")
            for p in lh["pages"]:
                s = p["scores"]
                both(f"  {p['name']} {_path(p['url'])}: " + " / ".join(f"{k} {_score(v)}" for k, v in s.items()))
                if p.get("runtimeError"):
                    both(f"      runtime error: {p['runtimeError']}")
                for a in p["failing"]:
                    both(f"      {a['category']}: {a['id']} ({_score(a['score'])}): {a['title']} {a['value']}".rstrip())
                    for example in a.get("examples", []):
                        both(f"          {example}")

    both()
    both("== pages per kind (built / vnu-checked / axe-checked)")
    axed = Counter((p.site, p.kind) for p in results.axe_checked)
    for site in sites:
        built = Counter(p.kind for p in site.pages)
        cells = [f"{k} {built[k]}/{built[k]}/{axed[(site.name, k)]}" for k in [*KINDS, "other"] if built[k]]
        both(f"  {site.name}: " + ", ".join(cells))
    both()
    both(
        "== result: "
        + ("PASSED" if failures == 0 else "FAILED")
        + f": {len(results.vnu_errors)} checker errors and {len(results.vnu_warnings)} warnings, "
        f"{sum(len(v) for v in by_rule.values())} axe violations "
        f"({len(by_rule)} rules), {len(broken)} broken URLs, "
        f"{sum(len(s.problems) for s in sites) + len(failed)} other problems"
    )
    both("   time: " + ", ".join(f"{k} {v:.1f} s" for k, v in results.timings.items()))
    return short, full, failures


_IMPACT = {"critical": 0, "serious": 1, "moderate": 2, "minor": 3}


def _score(value: float | None) -> str:
    return "n/a" if value is None else str(round(value * 100))


def lighthouse_section(results: Results) -> str:
    lh = results.lighthouse or {}
    names = {
        "performance": "performance",
        "accessibility": "accessibility",
        "best-practices": "best practices",
        "seo": "SEO",
    }
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## Lighthouse",
        "",
        f"Measured by `make check-pages PAGES_ARGS=--write-docs` on {when}: "
        f"Lighthouse {lh.get('lighthouse', '?')}, its mobile default (an emulated phone, simulated throttling), in "
        f"Debian's Chromium {results.axe.get('browser', '')} headless. The site is the generated corpus of "
        "`tests/pages/corpus.py` built by `edgepub build` and served on loopback by Python's http.server "
        "(no compression, no CDN). `make check-pages` prints these on every run; only `--write-docs` writes them "
        "here (`make bench` rewrites the rest of this page and keeps this section as it is).",
        "",
        "| page | " + " | ".join(names.values()) + " |",
        "|---|" + "---|" * len(names),
    ]
    for p in lh.get("pages", []):
        lines.append(f"| {p['name']} `{_path(p['url'])}` | " + " | ".join(_score(p["scores"][k]) for k in names) + " |")
    failing = [(p["name"], a) for p in lh.get("pages", []) for a in p["failing"]]
    if failing:
        lines += ["", "Audits below 100:", ""]
        lines += [f"- {name}, {a['category']}: `{a['id']}` ({_score(a['score'])}), {a['title']}" for name, a in failing]
    return "\n".join(lines) + "\n"


def write_doc(section: str, doc: Path = DOC) -> None:
    """Put the section in place of the "## Lighthouse" section, or append it."""
    text = doc.read_text(encoding="utf-8") if doc.is_file() else "# Benchmarks\n"
    pattern = re.compile(r"^## Lighthouse\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + ("\n" if not section.endswith("\n\n") else ""), text, count=1)
        text = text.rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- main


def preflight() -> list[str]:
    missing = []
    if not VNU_JAR.is_file() or not (NODE_MODULES / "playwright-core").is_dir():
        missing.append(f"{NODE_MODULES} is incomplete: run `make check-pages` (npm ci in tests/pages)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} not found: apt-get install chromium (or set CHROMIUM)")
    for tool in ("java", "node"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} not found on PATH")
    return missing


@contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="edgepub-check-pages-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=240, help="articles in the generated site (default 240)")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument("--write-docs", action="store_true", help="write Lighthouse scores to docs/benchmarks.md")
    parser.add_argument("--keep", type=Path, help="build into this folder (emptied first) and keep it")
    parser.add_argument("--verbose", action="store_true", help="print every occurrence, not the first few")
    args = parser.parse_args(argv)
    missing = preflight()
    if missing:
        print("check-pages cannot run:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    results = Results()
    started = time.perf_counter()
    with workdir(args.keep) as work:
        sites = [
            Site("samples", ROOT / "samples", work / "out-samples"),
            Site("corpus", work / "src-corpus", work / "out-corpus"),
        ]
        try:
            for site in sites:
                site.out.mkdir(parents=True)
                site.server = serve(site.out)
                site.url = f"http://127.0.0.1:{site.server.server_address[1]}"
            tick = time.perf_counter()
            generated = corpus.write(sites[1].src, sites[1].url, count=args.count)
            for site in sites:
                build(site)
                collect(site, generated.bundle_slug if site.name == "corpus" else None)
            home = next((p for p in sites[1].pages if p.kind == "home"), None)
            # the site is the user's: its edgepub.toml title and its theme override on the home page
            for what, marker in (("edgepub.toml title", corpus.TITLE), ("theme override", corpus.THEME_MARKER)):
                if home is None or marker not in home.html:
                    sites[1].problems.append(f"the {what} is not on the home page ({marker!r})")
            sites[1].notes.append("site config and theme override applied: checked on the home page")
            for alias, target in generated.redirects.items():
                page = next((p for p in sites[1].pages if p.file == alias.lstrip("/") + "index.html"), None)
                if page is None or page.kind != "redirect" or target not in page.html:
                    sites[1].problems.append(f"{alias} is not a redirect page to {target}")
            results.timings["build"] = time.perf_counter() - tick

            tick = time.perf_counter()
            run_vnu(sites, results)
            results.timings["vnu"] = time.perf_counter() - tick

            tick = time.perf_counter()
            run_axe([p for site in sites for p in pick_for_axe(site.pages)], results)
            results.timings["axe"] = time.perf_counter() - tick

            if not args.no_lighthouse and any(p.kind == "home" for p in sites[1].pages):
                tick = time.perf_counter()
                try:
                    run_lighthouse(sites[1], results)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    results.lighthouse = {"error": str(exc)[-1500:]}
                results.timings["lighthouse"] = time.perf_counter() - tick
        finally:
            for site in sites:
                if site.server is not None:
                    site.server.shutdown()
                    site.server.server_close()
        results.timings["total"] = time.perf_counter() - started
        short, full, failures = report(sites, results, args.verbose)

    print("\n".join(short))
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "report.txt").write_text("\n".join(full) + "\n", encoding="utf-8")
    by_rule, broken, failed = axe_failures(results)
    (REPORT_DIR / "report.json").write_text(
        json.dumps(
            {
                "vnu_errors": results.vnu_errors,
                "vnu_warnings": results.vnu_warnings,
                "axe_violations": by_rule,
                "broken_requests": broken,
                "pages_not_loaded": failed,
                "build_problems": {s.name: s.problems for s in sites},
                "lighthouse": results.lighthouse,
                "timings": results.timings,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(f"   full report: {(REPORT_DIR / 'report.txt').relative_to(ROOT)} (and report.json)")
    if args.write_docs and results.lighthouse and "pages" in results.lighthouse:
        write_doc(lighthouse_section(results))
        print(f"   Lighthouse scores written to {DOC.relative_to(ROOT)} (## Lighthouse)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
