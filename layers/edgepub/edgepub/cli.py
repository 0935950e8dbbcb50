"""The `edgepub` command: a thin adapter over the library.

Library errors become one clear line on stderr and an exit code, in one place
(the command group): 0 success, 1 failure, 2 invalid input or usage, 3 an
operator request that cannot be done as asked, 75 temporary failure (retry),
78 configuration error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from edgepub import __version__
from edgepub.errors import EdgepubError, InvalidSource
from edgepub.readers import read_article, supported
from edgepub.settings import Settings


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


class _Group(click.Group):
    """Maps edgepub's errors to one line on stderr and their exit code, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgepubError as exc:
            click.echo(f"edgepub: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgepub")
def cli() -> None:
    """edgepub: publish articles from S3 to the edge, purging exactly what changed."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def validate(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check articles before upload; list every problem by file and field.

    Exits 2 if any file is invalid. Folders are searched for .md, .json and .txt files.
    """
    files: list[Path] = []
    for path in paths:
        files.extend(
            sorted(p for p in path.rglob("*") if p.is_file() and supported(p.name)) if path.is_dir() else [path]
        )
    settings = Settings.from_env()
    results = []
    for file in files:
        entry: dict[str, Any] = {"file": str(file), "ok": True, "problems": [], "warnings": []}
        data = file.read_bytes()
        try:
            if len(data) > settings.max_source_bytes:
                raise InvalidSource.single(
                    str(file), "size", f"is {len(data)} bytes; the limit is {settings.max_source_bytes}"
                )
            article = read_article(str(file), data)
            entry.update(slug=article.slug, warnings=list(article.warnings))
        except InvalidSource as error:
            entry.update(ok=False, problems=[asdict(p) for p in error.problems])
        results.append(entry)
    bad = [r for r in results if not r["ok"]]
    lines = []
    for r in results:
        if r["ok"]:
            lines.append(f"ok       {r['file']} -> /{r['slug']}/")
            lines += [f"         warning: {w}" for w in r["warnings"]]
        else:
            lines += [f"invalid  {r['file']}: {p['field']}: {p['message']}" for p in r["problems"]]
    lines.append(f"{len(results) - len(bad)} valid, {len(bad)} invalid")
    _emit(as_json, {"files": results, "valid": len(results) - len(bad), "invalid": len(bad)}, "\n".join(lines))
    if bad:
        sys.exit(InvalidSource.exit_code)


@cli.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--site-url", help="Canonical site URL (default: EDGEPUB_SITE_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def build(src: Path, out: Path, site_url: str | None, as_json: bool) -> None:
    """Render a folder of sources to a folder of pages, with no AWS at all.

    The index is kept in OUT/.edgepub/, so a second build writes only what changed.
    Exits 2 if any source was rejected (the others are still built).
    """
    from edgepub.localbuild import build as run_build

    settings = Settings.from_env()
    if site_url:
        settings = settings.with_(site_url=site_url.rstrip("/"))
    report = run_build(src, out, settings)
    summary = {
        "sources": len(report.outcomes),
        "published": report.count("published"),
        "unchanged": report.count("unchanged"),
        "unpublished": report.count("unpublished"),
        "held": report.count("held"),
        "rejected": report.count("rejected"),
        "pages_written": report.pages_written,
        "pages_deleted": report.pages_deleted,
        "urls_to_purge": report.urls_purged,
        "errors": [o.reason for o in report.rejected],
    }
    text = "\n".join(
        [f"{k.replace('_', ' ')}: {v}" for k, v in summary.items() if k != "errors"]
        + [f"rejected {e}" for e in summary["errors"]]  # type: ignore[attr-defined]
    )
    _emit(as_json, summary, text)
    if report.rejected:
        sys.exit(InvalidSource.exit_code)


@cli.command()
@click.option(
    "--samples", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Folder of sources to upload."
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def demo(samples: Path | None, as_json: bool) -> None:
    """Run the pipeline on the embedded stack and show what it published and purged."""
    from edgepub.demo import format_table, run_demo

    if not as_json:
        click.echo("Starting the embedded stack (moto + Cloudflare emulator) from template.yaml ...", err=True)
    result = run_demo(samples)
    _emit(as_json, asdict(result), format_table(result))
    if not as_json:
        click.echo("\nFunction logs and metrics: .edgepub/demo/functions.log", err=True)


DEFAULT_RULES = Path(__file__).resolve().parents[3] / "edge" / "rules.json"


def _token(settings: Settings) -> Any:
    """CLOUDFLARE_API_TOKEN for an operator's shell, else the secret the functions use."""
    import os

    from edgepub.cloudflare import token_from_settings

    if os.environ.get("CLOUDFLARE_API_TOKEN"):
        return lambda: os.environ["CLOUDFLARE_API_TOKEN"]
    return token_from_settings(settings)


@cli.group()
def edge() -> None:
    """The Cloudflare rules the site needs, kept as data in edge/rules.json."""


@edge.command("show")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
def edge_show(rules_path: Path, as_json: bool) -> None:
    """Show the rules, phase by phase."""
    from edgepub.edgeconfig import describe, load_rules

    rules = load_rules(rules_path)
    _emit(as_json, rules, describe(rules))


@edge.command("apply")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
)
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print Cloudflare's answers as JSON.")
def edge_apply(rules_path: Path, dry_run: bool, as_json: bool) -> None:
    """Apply the rules to the zone (EDGEPUB_CLOUDFLARE_ZONE_ID) through the Rulesets API.

    Each phase's entrypoint is replaced with the file's rules, so applying twice changes nothing.
    The token comes from CLOUDFLARE_API_TOKEN, else from the secret the functions use.
    """
    from edgepub.edgeconfig import apply_rules, describe, load_rules

    settings = Settings.from_env()
    rules = load_rules(rules_path)
    if dry_run:
        _emit(as_json, {"dry_run": True, "rules": rules}, "would apply:\n" + describe(rules))
        return
    results = apply_rules(settings, _token(settings), rules)
    _emit(as_json, results, "\n".join(f"applied {phase}: {len(rules[phase])} rules" for phase in results))


@cli.command()
@click.option("--url", "urls", multiple=True, help="A URL to purge, as visitors request it (repeatable).")
@click.option("--tag", "tags", multiple=True, help="A cache tag to purge (repeatable).")
@click.option("--prefix", "prefixes", multiple=True, help="A host/path prefix to purge (repeatable).")
@click.option("--everything", is_flag=True, help="Purge the whole zone. Needs --confirm ZONE_ID.")
@click.option("--confirm", default="", help="The zone id, typed back, for --everything.")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; purge nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def purge(
    urls: tuple[str, ...],
    tags: tuple[str, ...],
    prefixes: tuple[str, ...],
    everything: bool,
    confirm: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Purge URLs, cache tags or prefixes from Cloudflare now, paced and recorded in the ledger.

    Purging everything floods the origin with every request at once: it is never
    done automatically, and here only with --everything --confirm <zone id>.
    """
    from edgepub.cloudflare import CloudflarePurger
    from edgepub.errors import PurgeRejected

    settings = Settings.from_env()
    if everything and (urls or tags or prefixes):
        raise click.UsageError("--everything purges the whole zone; give it alone")
    if not (everything or urls or tags or prefixes):
        raise click.UsageError("nothing to purge: give --url, --tag, --prefix or --everything")
    if everything and confirm != settings.cloudflare_zone_id:
        raise PurgeRejected(
            f"purging everything empties the cache of zone {settings.cloudflare_zone_id}; "
            "repeat with --confirm <that zone id> if you mean it. Nothing was purged."
        )
    plan = {"files": list(urls), "tags": list(tags), "prefixes": list(prefixes), "everything": everything}
    if dry_run:
        _emit(as_json, {"dry_run": True, **plan}, f"would purge: {json.dumps(plan)}")
        return
    purger = CloudflarePurger(settings, _token(settings))
    if everything:
        receipt = purger.purge_everything(confirm=confirm)
        _emit(as_json, asdict(receipt), f"purged everything (request {receipt.request_id})")
        return
    result = purger.purge_items({"files": list(urls), "tags": list(tags), "prefixes": list(prefixes)})
    lines = [f"purged {len(r.items)} items (request {r.request_id}, {r.attempts} attempt(s))" for r in result.receipts]
    lines += [f"FAILED {form} {list(items)}: {error}" for form, items, error in result.failed]
    _emit(
        as_json,
        {
            "receipts": [asdict(r) for r in result.receipts],
            "failed": [{"form": f, "items": list(i), "error": str(e)} for f, i, e in result.failed],
        },
        "\n".join(lines),
    )
    if result.failed:
        sys.exit(1)


@cli.command()
@click.option("--day", default=None, help="UTC day, YYYY-MM-DD (default: today).")
@click.option("--failed", is_flag=True, help="Only calls that did not succeed.")
@click.option("--json", "as_json", is_flag=True, help="Print entries as JSON.")
def purges(day: str | None, failed: bool, as_json: bool) -> None:
    """Read the purge ledger: every call to Cloudflare, its items, outcome and attempts."""
    from edgepub.aws import dynamo_table
    from edgepub.ledger import DynamoLedger, today

    settings = Settings.from_env()
    entries = DynamoLedger(dynamo_table(settings)).entries(day or today())
    if failed:
        entries = [e for e in entries if e.outcome != "ok"]
    lines = [
        f"{e.at}  {e.form:<8} {len(e.items):>4} items  {e.attempts} attempt(s)  {e.request_id or '-'}  {e.outcome}"
        for e in entries
    ]
    _emit(as_json, [asdict(e) for e in entries], "\n".join(lines) or "no purge calls recorded that day")


@cli.command()
@click.argument("job", type=click.Choice(["transitions", "freshness", "drift"]))
@click.option("--dry-run", is_flag=True, help="Show what the job would do; change, store and send nothing.")
@click.option("--now", default=None, help="Run as of this ISO 8601 time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the job's report as JSON.")
def run(job: str, dry_run: bool, now: str | None, as_json: bool) -> None:
    """Run a scheduled job now, as its schedule would (settings from EDGEPUB_* variables)."""
    from edgepub import service

    result = service.run_job(
        service.aws_publisher(Settings.from_env()), {"job": job, "dry_run": dry_run, **({"now": now} if now else {})}
    )
    data = asdict(result)
    text = "\n".join(f"{k}: {v}" for k, v in data.items() if not isinstance(v, (list, dict)) or v)
    _emit(as_json, data, text)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Build the report without storing it or notifying anyone.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def freshness(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Today's revision-freshness report: counts by state, overdue articles by owner."""
    ctx.invoke(run, job="freshness", dry_run=dry_run, now=None, as_json=as_json)


def _operator() -> tuple[Any, Any]:
    from edgepub import service
    from edgepub.aws import S3PageStore

    settings = Settings.from_env()
    return service.aws_publisher(settings), S3PageStore(settings)


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def status(slug: str, as_json: bool) -> None:
    """What edgepub knows of an article: index entry, stored page and its versions, source record."""
    from edgepub.ops import page_status

    publisher, pages = _operator()
    info = page_status(publisher, pages, slug)
    entry, stored = info["entry"], info["stored"]
    lines = [f"{info['url']}"]
    if entry:
        lines.append(f"  state: {entry['status']}   source: {entry['source_key']} (version {entry['source_version']})")
        lines.append(f"  title: {entry['title']}   date: {entry['date']}   tags: {', '.join(entry['tags'])}")
    else:
        lines.append("  not in the index")
    if stored:
        match = "matches the index" if stored.get("content-hash") == info["expected_hash"] else "DIFFERS from the index"
        lines.append(f"  stored page: version {stored['version_id']}, {match}")
    lines.append("  versions (newest first):")
    lines += [
        f"    {v['version_id']}  {v['modified']}  {'deleted' if v['deleted'] else str(v['bytes']) + ' bytes'}"
        f"{'  <- current' if v['current'] else ''}"
        for v in info["versions"]
    ]
    if info["source"]:
        src = info["source"]
        lines.append(f"  last event: {src['state']} at {src['updated']} (sequencer {src['sequencer'] or '-'})")
    _emit(as_json, info, "\n".join(lines))


@cli.command()
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what would be taken down; change nothing.")
@click.option("--json", "as_json", is_flag=True)
def unpublish(slug: str, dry_run: bool, as_json: bool) -> None:
    """Take an article down: page deleted, listings updated, purged. Its source stays."""
    from edgepub.ops import unpublish as take_down

    publisher, _ = _operator()
    result = take_down(publisher, slug, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    _emit(
        as_json,
        asdict(result),
        f"{verb} {', '.join(result.deleted)}; rewrote {len(result.written)} listing pages;"
        f" {len(result.purged)} URLs purged\n{result.note}",
    )


@cli.command()
@click.argument("slug")
@click.option("--to", "to_version", default="", help="The version id to restore (default: the previous one).")
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@click.option("--json", "as_json", is_flag=True)
def rollback(slug: str, to_version: str, dry_run: bool, as_json: bool) -> None:
    """Restore an article page's previous version from the versioned site bucket, and purge it."""
    from edgepub.ops import rollback as restore

    publisher, pages = _operator()
    result = restore(publisher, pages, slug, to_version, dry_run=dry_run)
    verb = "would restore" if dry_run else "restored"
    _emit(
        as_json,
        asdict(result),
        f"{verb} {result.url} to version {result.restored_version} "
        f"(was {result.replaced_version or 'none'})\n{result.note}",
    )


def main() -> None:
    """The console script. Exit codes: 0 success, 1 failure, 2 invalid input or usage,
    3 an operator request that cannot be done, 75 temporary failure, 78 configuration error."""
    cli(prog_name="edgepub")
