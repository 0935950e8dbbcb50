"""`make demo` / `edgepub demo`: the whole pipeline on the embedded stack.

Starts moto and the Cloudflare emulator, creates the stack from template.yaml,
uploads the sample articles to the sources bucket, lets the publish function run
from its SQS queue, and reports what was published and purged, read back from
the stack itself (site bucket, index, emulator's purge log, rejection reports).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import requests

from edgepub.aws import S3PageStore
from edgepub.embedded.stack import REPO_ROOT, EmbeddedStack
from edgepub.ops import page_status
from edgepub.pages import key_for_path
from edgepub.readers import supported
from edgepub.service import aws_publisher
from edgepub.settings import Settings


@dataclass
class DemoRow:
    source: str
    outcome: str
    url: str = ""
    bytes: int = 0
    cache_control: str = ""
    purged: bool = False
    error: str = ""


@dataclass
class DemoResult:
    rows: list[DemoRow]
    site_pages: list[str]
    purge_calls: int
    urls_purged: int
    edge: list[str]


def run_demo(samples: Path | None = None, log_path: Path | None = None) -> DemoResult:
    samples = samples or REPO_ROOT / "samples"
    log_path = log_path or Path(".edgepub/demo/functions.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    rows: list[DemoRow] = []
    with log_path.open("w", encoding="utf-8") as log, EmbeddedStack.start() as stack:
        keys = []
        for file in sorted(samples.iterdir()):
            if file.is_file() and supported(file.name):
                key = f"content/{file.name}"
                stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=file.read_bytes())
                keys.append(key)
        # Function output (structured logs, EMF metrics) goes where CloudWatch would have it.
        with contextlib.redirect_stdout(log):
            stack.run_until_idle()
        settings = Settings.from_env(stack.settings_env())
        purged = set(stack.cloudflare.state.purged_urls())
        publisher = aws_publisher(settings)
        for key in keys:
            status = page_status(publisher, S3PageStore(settings), key)  # what `edgepub status KEY` shows
            record, rejection = status["source"], status["rejection"]
            page = None
            if status["stored"]:
                head = stack.s3.head_object(Bucket=stack.site_bucket, Key=key_for_path(f"/{status['slug']}/"))
                page = {"url": status["url"], "bytes": head["ContentLength"], "cache_control": head["CacheControl"]}
            if rejection:
                problems = rejection.get("problems", [])
                rows.append(
                    DemoRow(key, "rejected", error="; ".join(f"{p['field']}: {p['message']}" for p in problems))
                )
            elif record and page:
                rows.append(
                    DemoRow(
                        key, record["state"], page["url"], page["bytes"], page["cache_control"], page["url"] in purged
                    )
                )
            else:
                rows.append(DemoRow(key, record["state"] if record else "not processed"))
        listed = stack.s3.list_objects_v2(Bucket=stack.site_bucket).get("Contents", [])
        purge_calls = len(stack.cloudflare.state.purges)
        with contextlib.redirect_stdout(log):
            edge = _through_the_edge(stack, samples, log)
        return DemoResult(
            rows=rows,
            site_pages=sorted("/" + o["Key"].removesuffix("index.html") for o in listed),
            purge_calls=purge_calls,
            urls_purged=len(purged),
            edge=edge,
        )


def _through_the_edge(stack: EmbeddedStack, samples: Path, log: TextIO) -> list[str]:
    """Read pages through the local edge, edit an article, and read again: a purge
    means the next visitor gets the new page (MISS), never a stale HIT."""
    from edgepub.edgeconfig import apply_rules, load_rules

    settings = Settings.from_env(stack.settings_env())
    apply_rules(settings, lambda: stack.token, load_rules(REPO_ROOT / "edge" / "rules.json"))
    lines = [f"Local edge {stack.edge_base} (zone {settings.cloudflare_zone_id}, edge/rules.json applied):"]

    def get(path: str, cookie: str = "") -> requests.Response:
        response = requests.get(stack.edge_base + path, headers={"Cookie": cookie} if cookie else {}, timeout=10)
        note = " (logged-in cookie)" if cookie else ""
        lines.append(
            f"  GET {path:<32} {response.status_code}  cf-cache-status: {response.headers.get('cf-cache-status')}{note}"
        )
        return response

    article = "/purge-only-what-changed/"
    for path in (article, article, "/", "/"):
        get(path)
    get(article, cookie="edgepub_session=editor")
    source = samples / "purge-only-what-changed.md"
    edited = source.read_bytes().replace(b"Purge only what changed", b"Purge only what changed (edited)", 1)
    stack.s3.put_object(Bucket=stack.sources_bucket, Key="content/purge-only-what-changed.md", Body=edited)
    lines.append("  ... content/purge-only-what-changed.md edited and re-uploaded; pipeline runs, purges ...")
    stack.run_until_idle()
    fresh = get(article)
    lines.append(f"  the page now says: {'(edited)' if '(edited)' in fresh.text else 'THE OLD TITLE (stale!)'}")
    get(article)
    get("/")
    return lines


def format_table(result: DemoResult) -> str:
    rows = result.rows
    headers = ["SOURCE", "OUTCOME", "URL", "BYTES", "CACHE-CONTROL", "PURGED"]
    table = [
        [
            r.source,
            r.outcome,
            r.url or "-",
            str(r.bytes) if r.bytes else "-",
            r.cache_control or "-",
            "yes" if r.purged else "no",
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    errors = [f"  {r.source}: {r.error}" for r in rows if r.error]
    if errors:
        lines += ["", "Rejected (report written to rejected/<key>.json in the sources bucket):", *errors]
    lines += [
        "",
        f"Site bucket: {len(result.site_pages)} pages: {' '.join(result.site_pages)}",
        f"Cloudflare: {result.purge_calls} purge calls, {result.urls_purged} URLs purged (never the whole zone)",
        "",
        *result.edge,
    ]
    return "\n".join(lines)
