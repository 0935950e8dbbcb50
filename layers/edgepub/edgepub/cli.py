"""The `edgepub` command: a thin adapter over the library.

Library errors become one clear line on stderr and an exit code, in one place
(the command group): 0 success, 1 failure, 2 invalid input or usage, 3 an
operator request that cannot be done as asked, 75 temporary failure (retry),
78 configuration error (and a missing optional dependency). Anything else is a
bug: one line names it and where its traceback was written (`--debug` prints it).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from edgepub import __version__
from edgepub.errors import EdgepubError, InvalidSource
from edgepub.readers import supported
from edgepub.settings import Settings


def _emit(as_json: bool, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


ERROR_LOG = Path(".edgepub/edgepub.log")
# optional dependencies by top-level module: the extra that installs them
EXTRAS = {"moto": "embedded", "samtranslator": "embedded", "flask": "embedded", "werkzeug": "embedded"}


class _Group(click.Group):
    """Maps every error to one line on stderr and an exit code, for every command:
    edgepub's own errors by their exit code; a missing optional dependency, AWS
    credentials or endpoint by what to do about it; anything else as a bug, its
    traceback written to a log file (or, with --debug, to stderr)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except EdgepubError as exc:
            click.echo(f"edgepub: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:
            known = _known_error(ctx, exc)
            if known is not None:
                click.echo(f"edgepub: {known}", err=True)
                ctx.exit(known.exit_code)
            if ctx.params.get("debug"):
                import traceback

                click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
                click.echo(f"edgepub: unexpected error: {type(exc).__name__}: {exc}", err=True)
            else:
                where = _log_traceback(exc)
                click.echo(
                    f"edgepub: unexpected error: {type(exc).__name__}: {exc}; the traceback is in {where}", err=True
                )
            ctx.exit(1)


def _known_error(ctx: click.Context, exc: Exception) -> EdgepubError | None:
    """An exception from outside edgepub that has a cause an operator can fix, as an EdgepubError."""
    from edgepub.errors import ConfigurationError, MissingDependency, TransientError

    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top in EXTRAS:
            command = ctx.invoked_subcommand or "this command"
            return MissingDependency(f"edgepub {command}", top, EXTRAS[top])
        return None
    try:
        from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
    except ModuleNotFoundError:  # pragma: no cover - boto3 is a dependency
        return None
    if isinstance(exc, NoCredentialsError | NoRegionError):
        return ConfigurationError(f"{exc} (set AWS_PROFILE, or the AWS_* variables)")
    if isinstance(exc, EndpointConnectionError):
        return TransientError(f"{exc}; is the stack running? (`edgepub serve`, or --stack NAME)")
    return None


def _log_traceback(exc: Exception) -> str:
    """Append the traceback to ERROR_LOG (created as needed), else to a file in the temp folder."""
    import tempfile
    import time
    import traceback

    header = f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} edgepub {__version__}: {' '.join(sys.argv[1:])}\n"
    text = header + "".join(traceback.format_exception(exc))
    for path in (ERROR_LOG, Path(tempfile.gettempdir()) / "edgepub.log"):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as log:
                log.write(text)
            return str(path)
        except OSError:
            continue
    return "nowhere (no writable log file; run again with --debug)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgepub")
@click.option(
    "--stack",
    default=None,
    envvar="EDGEPUB_STACK",
    help="A deployed stack's name: resolve it from CloudFormation and run actions in its ops function. "
    "Default: EDGEPUB_* variables, else the embedded stack of `edgepub serve`.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="EDGEPUB_DEBUG",
    help="On an unexpected error, print its traceback here instead of to .edgepub/edgepub.log.",
)
@click.pass_context
def cli(ctx: click.Context, stack: str | None, debug: bool) -> None:
    """edgepub: publish articles from S3 to the edge, purging exactly what changed."""
    ctx.obj = {"stack": stack, "debug": debug}


def _target(ctx: click.Context) -> Any:
    from edgepub.targets import resolve

    root = ctx.find_root()
    if "target" not in root.obj:
        root.obj["target"] = resolve(root.obj.get("stack"))
    return root.obj["target"]


def _settings(ctx: click.Context) -> Settings:
    return Settings.from_env(_target(ctx).env)


@contextmanager
def _in_target(ctx: click.Context) -> Iterator[Settings]:
    """The target's settings, with its variables in the environment (boto3 reads endpoint and region there)."""
    import os

    target = _target(ctx)
    saved = dict(os.environ)
    os.environ.update(target.env)
    try:
        yield Settings.from_env(target.env)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _act(ctx: click.Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Run an operator action: in the deployed ops function with --stack, else here."""
    from edgepub import service
    from edgepub.targets import invoke_ops

    target = _target(ctx)
    if target.kind == "stack":
        result = invoke_ops(target, payload)
        if "error" in result:
            click.echo(f"edgepub: {result['error']}", err=True)
            ctx.exit(int(result.get("exit_code", 1)))
        return result
    with _in_target(ctx) as settings:
        return service.run_ops(service.aws_publisher(settings), payload)


def _check_files(files: list[tuple[Path, str]], settings: Settings) -> list[dict[str, Any]]:
    """Admit each file as the pipeline would (edgepub.admission), together, so that
    two files claiming one slug or path are caught too. One result per file."""
    from datetime import UTC, datetime

    from edgepub.admission import Admitted, Claims, admit, read_source
    from edgepub.article import Article

    read: list[Article | InvalidSource] = []
    for file, key in files:
        try:
            read.append(read_source(settings, settings.source_prefix + key, file.read_bytes()))
        except InvalidSource as error:
            read.append(error)
        except OSError as exc:
            read.append(InvalidSource.single(str(file), "file", f"cannot be read: {exc.strerror or exc}"))
    results = []
    for (file, key), admitted in zip(files, admit(read, Claims(), datetime.now(UTC)), strict=True):
        entry: dict[str, Any] = {"file": str(file), "key": settings.source_prefix + key, "ok": True, "problems": []}
        if isinstance(admitted, Admitted):
            article = admitted.article
            entry.update(slug=article.slug, path=article.path, state=admitted.state, warnings=list(article.warnings))
        else:
            entry.update(ok=False, problems=admitted.as_dict()["problems"])
        results.append(entry)
    return results


def _check_site(folder: Path, settings: Settings) -> dict[str, Any]:
    """A site folder's edgepub.toml and theme/, checked as the publish function checks them."""
    from edgepub.local import FolderSourceStore
    from edgepub.render import read_checked_site

    store = FolderSourceStore(folder, folder / ".edgepub" / "rejected", prefix=settings.source_prefix, site=True)
    try:
        files = read_checked_site(store, settings)
    except InvalidSource as error:
        return {"file": str(folder / error.source), "ok": False, **error.as_dict()}
    names = ["edgepub.toml"] if files.spec.config_text else []
    digest = files.spec.digest
    names += [f"{len(files.spec.templates)} templates", f"{len(files.spec.static)} static files"]
    return {
        "file": str(folder),
        "ok": True,
        "path": "site config and theme: " + ", ".join(names),
        "state": "published",
        "warnings": [],
        "digest": digest,
    }


def _problem_lines(result: dict[str, Any]) -> list[str]:
    return [
        f"invalid  {result['file']}: {p['field']}"
        + (f" (line {p['line']}, column {p['column']})" if p.get("line") else "")
        + f": {p['message']}"
        for p in result["problems"]
    ]


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def validate(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check articles before upload; list every problem by file and field.

    Files are checked as the pipeline admits them, and against each other: two
    files claiming one slug or URL path are reported. Exits 2 if any file is
    invalid. Folders are searched for .md, .json and .txt files.
    """
    settings = Settings.from_env()
    results = _check_files(_source_files(paths), settings)
    results += [_check_site(path, settings) for path in paths if path.is_dir() and (path / "content").is_dir()]
    bad = [r for r in results if not r["ok"]]
    lines = []
    for r in results:
        if r["ok"]:
            held = "" if r["state"] == "published" else f"  ({r['state']}: not published yet)"
            lines.append(f"ok       {r['file']} -> {r['path']}{held}")
            lines += [f"         warning: {w}" for w in r["warnings"]]
        else:
            lines += _problem_lines(r)
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
        settings = settings.with_(site_url=site_url.rstrip("/"), overrides=settings.overrides | {"site_url"})
    if as_json:
        report = run_build(src, out, settings)
    else:
        content = src / "content" if (src / "content").is_dir() else src
        total = sum(1 for p in content.rglob("*") if p.is_file() and supported(p.name))
        with click.progressbar(length=total, label="reading sources", file=sys.stderr) as bar:
            report = run_build(src, out, settings, progress=lambda key: bar.update(1))
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
        "site_config_and_theme": report.site.action if report.site else "none (content only)",
        "errors": [o.reason for o in report.rejected],
    }
    text = "\n".join(
        [f"{k.replace('_', ' ')}: {v}" for k, v in summary.items() if k != "errors"]
        + [f"rejected {e}" for e in summary["errors"]]  # type: ignore[attr-defined]
    )
    _emit(as_json, summary, text)
    if report.rejected:
        sys.exit(InvalidSource.exit_code)


def _source_files(paths: tuple[Path, ...]) -> list[tuple[Path, str]]:
    """(file, key) for each supported file: a folder's files keep their path below it under content/."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir() and (path / "content").is_dir():
            path = path / "content"  # a folder laid out like the bucket: its articles are under content/
        if path.is_dir():
            found += [
                (f, f.relative_to(path).as_posix())
                for f in sorted(path.rglob("*"))
                if f.is_file() and supported(f.name)
            ]
        else:
            found.append((path, path.name))
    return found


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--direct", is_flag=True, help="Publish here and now instead of through the bucket's notifications.")
@click.option("--force", is_flag=True, help="Upload files that do not validate (they will be rejected and reported).")
@click.option("--dry-run", is_flag=True, help="Validate and list what would be uploaded; upload nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def publish(
    ctx: click.Context, paths: tuple[Path, ...], direct: bool, force: bool, dry_run: bool, as_json: bool
) -> None:
    """Upload sources to the sources bucket, as editors do; the pipeline publishes them.

    Every file is checked first, as `validate` does. The valid ones are uploaded
    and the invalid ones listed and left out (with --force they are uploaded
    too, and the pipeline rejects and reports them). Exits 2 if any was invalid.
    """
    from edgepub import service
    from edgepub.aws import client

    files = _source_files(paths)
    results = _check_files(files, Settings.from_env())
    bad = [r for r in results if not r["ok"]]
    for r in bad:
        for line in _problem_lines(r):
            click.echo(line, err=True)
    chosen = [(f, k) for (f, k), r in zip(files, results, strict=True) if r["ok"] or force]
    skipped = [r["file"] for r in bad if not force]
    if dry_run:
        _emit(
            as_json,
            {"dry_run": True, "files": [str(f) for f, _ in chosen], "invalid": [r["file"] for r in bad]},
            "\n".join([f"would upload {f} as content/{k}" for f, k in chosen] + [f"would skip {f}" for f in skipped]),
        )
        if bad:
            sys.exit(InvalidSource.exit_code)
        return
    outcomes = []
    with _in_target(ctx) as settings:
        s3 = client("s3", settings)
        publisher = service.aws_publisher(settings) if direct else None
        with click.progressbar(chosen, label="uploading", file=sys.stderr) as bar:
            for file, key in bar:
                s3.put_object(Bucket=settings.sources_bucket, Key=settings.source_prefix + key, Body=file.read_bytes())
                if publisher is not None:
                    outcomes.append(asdict(publisher.sync(settings.source_prefix + key)))
    text = f"uploaded {len(chosen)} sources to s3://{settings.sources_bucket}/{settings.source_prefix}"
    if skipped:
        text += f"; {len(skipped)} invalid, not uploaded (listed above)"
    if direct:
        width = max((len(o["source_key"]) for o in outcomes), default=0)
        text += "\n" + "\n".join(
            f"{o['action']:<11} {o['source_key']:<{width}}  {o['url'] or o['reason']}" for o in outcomes
        )
    data = {"uploaded": [k for _, k in chosen], "invalid": [r["file"] for r in bad], "outcomes": outcomes}
    _emit(as_json, data, text)
    if bad:
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


RULES_OPTION = click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_RULES,
    show_default=True,
    help="The rules file.",
)


@cli.group()
def edge() -> None:
    """The Cloudflare rules the site needs, kept as data in edge/rules.json."""


@edge.command("show")
@RULES_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
def edge_show(rules_path: Path, as_json: bool) -> None:
    """Show the rules, phase by phase."""
    from edgepub.edgeconfig import describe, load_rules

    rules = load_rules(rules_path)
    _emit(as_json, rules, describe(rules))


@edge.command("apply")
@RULES_OPTION
@click.option("--dry-run", is_flag=True, help="Show what would be applied; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print Cloudflare's answers as JSON.")
@click.pass_context
def edge_apply(ctx: click.Context, rules_path: Path, dry_run: bool, as_json: bool) -> None:
    """Apply the rules to the zone (EDGEPUB_CLOUDFLARE_ZONE_ID) through the Rulesets API.

    Each phase's entrypoint is replaced with the file's rules, so applying twice changes nothing.
    The token comes from CLOUDFLARE_API_TOKEN, else from the secret the functions use.
    """
    from edgepub.edgeconfig import apply_rules, describe, load_rules

    rules = load_rules(rules_path)
    if dry_run:
        _emit(as_json, {"dry_run": True, "rules": rules}, "would apply:\n" + describe(rules))
        return
    with _in_target(ctx) as settings:
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
@click.pass_context
def purge(
    ctx: click.Context,
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
    from edgepub.urls import check_purge_request

    if everything and (urls or tags or prefixes):
        raise click.UsageError("--everything purges the whole zone; give it alone")
    if not (everything or urls or tags or prefixes):
        raise click.UsageError("nothing to purge: give --url, --tag, --prefix or --everything")
    check_purge_request(list(urls), list(tags), list(prefixes))
    settings = _settings(ctx)
    if everything and confirm != settings.cloudflare_zone_id:
        raise PurgeRejected(
            f"purging everything empties the cache of zone {settings.cloudflare_zone_id}; "
            "repeat with --confirm <that zone id> if you mean it. Nothing was purged."
        )
    plan = {"files": list(urls), "tags": list(tags), "prefixes": list(prefixes), "everything": everything}
    if dry_run:
        forms = (("URL", urls), ("tag", tags), ("prefix", prefixes))
        described = [f"{label:<6} {item}" for label, items in forms for item in items]
        if everything:
            described = [f"the whole zone {settings.cloudflare_zone_id}"]
        _emit(as_json, {"dry_run": True, **plan}, "\n".join(["would purge (dry run):", *(f"  {d}" for d in described)]))
        return
    if everything:
        with _in_target(ctx) as settings:
            receipt = CloudflarePurger(settings, _token(settings)).purge_everything(confirm=confirm)
        _emit(as_json, asdict(receipt), f"purged everything (request {receipt.request_id})")
        return
    result = _act(ctx, {"action": "purge", "urls": list(urls), "tags": list(tags), "prefixes": list(prefixes)})
    lines = [
        f"purged {'  '.join(r['items'])} (request {r['request_id']}, {r['attempts']} attempt(s))"
        if len(r["items"]) <= 3
        else f"purged {len(r['items'])} items (request {r['request_id']}, {r['attempts']} attempt(s))"
        for r in result["receipts"]
    ]
    lines += [
        f"FAILED to purge {len(f['items'])} {f['form']}: {f['error']}\n" + "\n".join(f"  {item}" for item in f["items"])
        for f in result["failed"]
    ]
    _emit(as_json, result, "\n".join(lines))
    if result["failed"]:
        sys.exit(1)


@cli.command()
@click.option("--day", default=None, help="UTC day, YYYY-MM-DD (default: today).")
@click.option("--failed", is_flag=True, help="Only calls that did not succeed.")
@click.option("--json", "as_json", is_flag=True, help="Print entries as JSON.")
@click.pass_context
def purges(ctx: click.Context, day: str | None, failed: bool, as_json: bool) -> None:
    """Read the purge ledger: every call to Cloudflare, its items, outcome and attempts."""
    from edgepub.aws import dynamo_table
    from edgepub.ledger import DynamoLedger, today

    with _in_target(ctx) as settings:
        entries = DynamoLedger(dynamo_table(settings)).entries(day or today())
    if failed:
        entries = [e for e in entries if e.outcome != "ok"]
    from edgepub.display import table

    text = (
        table(
            ["AT", "FORM", "ITEMS", "ATTEMPTS", "REQUEST", "OUTCOME"],
            [[e.at, e.form, len(e.items), e.attempts, e.request_id, e.outcome] for e in entries],
        )
        if entries
        else f"no {'failed ' if failed else ''}purge calls recorded on {day or today()}"
    )
    _emit(as_json, [asdict(e) for e in entries], text)


@cli.command()
@click.argument("job", type=click.Choice(["transitions", "freshness", "drift"]))
@click.option("--dry-run", is_flag=True, help="Show what the job would do; change, store and send nothing.")
@click.option("--now", default=None, help="Run as of this ISO 8601 time (default: now; no offset means UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the job's report as JSON.")
@click.pass_context
def run(ctx: click.Context, job: str, dry_run: bool, now: str | None, as_json: bool) -> None:
    """Run a scheduled job now, as its schedule would."""
    from edgepub import display, service

    if now is not None:
        service.parse_moment(now)  # a bad time is refused before the stack is reached
    with _in_target(ctx) as settings:
        result = service.run_job(
            service.aws_publisher(settings), {"job": job, "dry_run": dry_run, **({"now": now} if now else {})}
        )
    data = asdict(result)
    _emit(as_json, data, display.job(job, data))


@cli.command()
@click.option("--dry-run", is_flag=True, help="Build the report without storing it or notifying anyone.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def freshness(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Today's revision-freshness report: counts by state, overdue articles by owner."""
    ctx.invoke(run, job="freshness", dry_run=dry_run, now=None, as_json=as_json)


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.pass_context
def status(ctx: click.Context, slug: str, as_json: bool) -> None:
    """What edgepub knows of an article (by slug, or by source key such as content/a.md): index entry,
    stored page and its versions, the last event, today's purges, any rejection report."""
    from edgepub.display import cell

    info = _act(ctx, {"action": "status", "slug": slug})
    entry, stored = info["entry"], info["stored"]
    lines = [f"{info['url']}"]
    if entry:
        lines.append(
            f"  state: {cell(entry['status'])}   source: {cell(entry['source_key'])}"
            f" (version {cell(entry['source_version'])})"
        )
        lines.append(f"  title: {cell(entry['title'])}   date: {cell(entry['date'])}   tags: {cell(entry['tags'])}")
    else:
        lines.append("  not in the index")
    if stored:
        match = "matches the index" if stored.get("content-hash") == info["expected_hash"] else "DIFFERS from the index"
        lines.append(f"  stored page: version {stored['version_id']}, {match}")
    lines.append("  versions (newest first):")
    lines += [
        f"    {cell(v['version_id'])}  {cell(v['modified'])}  "
        f"{'deleted' if v['deleted'] else str(v['bytes']) + ' bytes'}"
        f"{'  <- current' if v['current'] else ''}"
        for v in info["versions"]
    ]
    if not info["versions"]:
        lines.append("    none")
    lines += [
        f"  purged today at {p['at']}: {p['outcome']} (request {cell(p['request_id'])})" for p in info["purges_today"]
    ]
    if info["rejection"]:
        lines.append(f"  REJECTED: {cell(info['rejection'].get('error'))}")
    if info["source"]:
        src = info["source"]
        lines.append(
            f"  last event: {cell(src['state'])} at {cell(src['updated'])} (sequencer {cell(src['sequencer'])})"
        )
    _emit(as_json, info, "\n".join(lines))


@cli.command()
@click.argument("slug")
@click.option("--dry-run", is_flag=True, help="Say what would be taken down; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def unpublish(ctx: click.Context, slug: str, dry_run: bool, as_json: bool) -> None:
    """Take an article down: page deleted, listings updated, purged. Its source stays."""
    result = _act(ctx, {"action": "unpublish", "slug": slug, "dry_run": dry_run})
    deleted = ", ".join(result["deleted"]) or "nothing"
    done = (
        f"would delete {deleted} and update the listings that show it (dry run: nothing changed)"
        if dry_run
        else f"deleted {deleted}; rewrote {len(result['written'])} listing pages; {len(result['purged'])} URLs purged"
    )
    _emit(as_json, result, f"{done}\n{result['note']}")


@cli.command()
@click.argument("slug")
@click.option("--to", "to_version", default="", help="The version id to restore (default: the previous one).")
@click.option("--dry-run", is_flag=True, help="Say what would be restored; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rollback(ctx: click.Context, slug: str, to_version: str, dry_run: bool, as_json: bool) -> None:
    """Restore an article page's previous version from the versioned site bucket, and purge it."""
    result = _act(ctx, {"action": "rollback", "slug": slug, "to": to_version, "dry_run": dry_run})
    verb = "would restore" if dry_run else "restored"
    _emit(
        as_json,
        result,
        f"{verb} {result['url']} to version {result['restored_version']} "
        f"(was {result['replaced_version'] or 'none'})\n{result['note']}",
    )


@cli.command()
@click.argument("slugs", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every published article, and the site's own pages.")
@click.option("--tag", default="", help="Every published article with this tag.")
@click.option("--dry-run", is_flag=True, help="List what would be republished; queue nothing.")
@click.option("--no-wait", is_flag=True, help="Queue and return; do not wait for the queue to drain.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def republish(
    ctx: click.Context,
    slugs: tuple[str, ...],
    everything: bool,
    tag: str,
    dry_run: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Re-render articles through the publish queue (one message per source), showing progress until it drains."""
    if sum(bool(x) for x in (slugs, everything, tag)) != 1:
        raise click.UsageError("give slugs, or --all, or --tag")
    result = _act(ctx, {"action": "republish", "slugs": list(slugs), "all": everything, "tag": tag, "dry_run": dry_run})
    if dry_run or no_wait:
        verb = "would republish" if dry_run else "queued"
        _emit(as_json, result, f"{verb} {len(result['keys'])} sources" + (" and the site pages" if everything else ""))
        return
    _wait_for_queue(ctx, int(result["queued"]), as_json)
    _emit(as_json, result, f"republished {len(result['keys'])} sources" + (" and the site pages" if everything else ""))


def _wait_for_queue(ctx: click.Context, queued: int, quiet: bool) -> None:
    """Follow the publish queue until it is empty, as a progress bar."""
    import time

    from edgepub.aws import SqsPublishQueue

    depth = SqsPublishQueue(_settings(ctx)).depth
    done = 0
    with click.progressbar(length=queued, label="republishing", file=sys.stderr if not quiet else None) as bar:
        while True:
            left = depth()
            progress = max(0, min(queued, queued - left) - done)
            bar.update(progress)
            done += progress
            if left == 0:
                break
            time.sleep(0.5)


@cli.group()
def theme() -> None:
    """The site's edgepub.toml and theme/ in the sources bucket."""


@theme.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and list what would change; upload nothing.")
@click.option("--no-wait", is_flag=True, help="Upload and return; do not follow the re-render.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def theme_push(ctx: click.Context, folder: Path, dry_run: bool, no_wait: bool, as_json: bool) -> None:
    """Check FOLDER's edgepub.toml and theme/ as the publish function will, make the bucket's
    match them (static files first, templates next, edgepub.toml last; files gone from
    FOLDER are deleted), then follow the re-render through the publish queue.

    Exits 2, uploading nothing, if the theme is invalid."""
    import time

    from edgepub.aws import client
    from edgepub.local import FolderSourceStore
    from edgepub.theme import STATIC_PREFIX, THEME_PREFIX, load_spec

    settings = Settings.from_env()
    checked = _check_site(folder, settings)
    if not checked["ok"]:
        for line in _problem_lines(checked):
            click.echo(line, err=True)
        sys.exit(InvalidSource.exit_code)
    store = FolderSourceStore(folder, folder / ".edgepub" / "rejected", prefix=settings.source_prefix, site=True)
    local = store.list_keys(THEME_PREFIX) + (["edgepub.toml"] if (folder / "edgepub.toml").is_file() else [])
    # static files first (templates name them), then templates, edgepub.toml last
    local.sort(key=lambda k: (k == "edgepub.toml", not k.startswith(STATIC_PREFIX), k))
    with _in_target(ctx) as target:
        s3 = client("s3", target)
        remote = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.sources_bucket, Prefix=THEME_PREFIX)
            for o in page.get("Contents", [])
        ]
        found = s3.list_objects_v2(Bucket=target.sources_bucket, Prefix="edgepub.toml").get("Contents", [])
        remote += [o["Key"] for o in found if o["Key"] == "edgepub.toml"]
        gone = sorted(set(remote) - set(local))
        if dry_run:
            lines = [f"would upload {k}" for k in local] + [f"would delete {k}" for k in gone]
            _emit(as_json, {"dry_run": True, "upload": local, "delete": gone}, "\n".join(lines) or "nothing to do")
            return
        for key in local:
            s3.put_object(Bucket=target.sources_bucket, Key=key, Body=(folder / key).read_bytes())
        for key in gone:
            s3.delete_object(Bucket=target.sources_bucket, Key=key)
        result = {"uploaded": local, "deleted": gone, "digest": checked["digest"]}
        if not no_wait:
            from edgepub.service import aws_index

            index = aws_index(target)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # the publish function makes it the site's, then fans out
                spec = load_spec(index)
                if spec.digest == checked["digest"] and spec.fanned_out:
                    break
                time.sleep(0.5)
            else:
                from edgepub.errors import TransientError

                raise TransientError("the publish function has not taken the theme in 10 minutes: see its log")
            from edgepub.aws import SqsPublishQueue

            _wait_for_queue(ctx, max(1, SqsPublishQueue(target).depth()), as_json)
    verb = "pushed" if no_wait else "pushed and rendered with"
    _emit(as_json, result, f"{verb} {len(local)} files ({len(gone)} deleted): {checked['path']}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="List what differs; queue nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reconcile(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Compare the sources bucket with the index; queue sources it lacks and indexed sources that are gone."""
    result = _act(ctx, {"action": "reconcile", "dry_run": dry_run})
    lines = [
        f"not in the index: {len(result['missing_from_index'])}; gone from the bucket: "
        f"{len(result['stale_in_index'])}; " + ("queued nothing (dry run)" if dry_run else f"queued {result['queued']}")
    ]
    lines += [f"  not in the index   {key}" for key in result["missing_from_index"]]
    lines += [f"  gone from bucket   {key}" for key in result["stale_in_index"]]
    _emit(as_json, result, "\n".join(lines))


@cli.command()
@click.option(
    "--out",
    "out",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A local build's output folder (edgepub build --out) instead of the stack.",
)
@click.option("--site-url", help="With --out: the canonical site URL the build used (as for edgepub build).")
@click.option("--dry-run", is_flag=True, help="Say how many articles and pages would move; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def relayout(ctx: click.Context, out: Path | None, site_url: str | None, dry_run: bool, as_json: bool) -> None:
    """Lay the archive and tag pages out again in date order, as a first build would.

    Older sites (and sources published one by one out of date order, or a page size
    changed in edgepub.toml) can have archive pages that each span many months. This
    gives every published article its archive and tag positions afresh, oldest first,
    renders the listing pages that change, deletes those no longer needed and purges
    what changed. Article pages are not touched. Running it twice changes nothing the
    second time. With --stack it runs in the stack's ops function.
    """
    if out is not None:
        data = asdict(_relayout_local(out, site_url, dry_run))
    else:
        if site_url:
            raise click.UsageError("--site-url goes with --out (a stack has its own)")
        data = _act(ctx, {"action": "relayout", "dry_run": dry_run})  # the ops function, with --stack
    if dry_run:
        text = (
            f"would move {data['moved']} articles to other archive or tag pages; "
            f"{len(data['planned'])} listing pages to render (written only where they change), "
            f"{len(data['deleted'])} to delete (dry run: nothing changed)"
        )
    else:
        text = (
            f"moved {data['moved']} articles; wrote {len(data['written'])} listing pages, "
            f"deleted {len(data['deleted'])}; {len(data['purged'])} URLs purged"
        )
    _emit(as_json, data, text)


@cli.command()
@click.option("--job", help="Say how many chunks of this re-render are done; start nothing.")
@click.option("--dry-run", is_flag=True, help="Say how many articles and chunks it would queue; queue nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def rerender(ctx: click.Context, job: str | None, dry_run: bool, as_json: bool) -> None:
    """Render every article page again, in parallel chunks (after a template change, say).

    The stack's ops function queues one publish-queue message per 250 live articles;
    publish functions render the chunks in parallel, each storing and purging the
    pages whose bytes changed, then the site's own pages once. Started again after a
    failure, it goes on where the queuing stopped; a chunk that failed is delivered
    again. `--job` shows progress.
    """
    if job:
        data = _act(ctx, {"action": "rerender", "job": job})
        _emit(as_json, data, f"re-render {data['job']}: {data['done']} chunks done")
        return
    data = _act(ctx, {"action": "rerender", "dry_run": dry_run})
    if dry_run:
        text = f"would queue {data['chunks']} chunks for {data['live']} live articles (dry run: nothing queued)"
    else:
        again = " (going on with a re-render whose queuing had stopped)" if data["resumed"] else ""
        text = (
            f"re-render {data['job']}: {data['chunks']} chunks queued{again}, then the site's own pages; "
            f"follow it with: edgepub rerender --job {data['job']}"
        )
    _emit(as_json, data, text)


@cli.command("migrate-index")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def migrate_index(ctx: click.Context, as_json: bool) -> None:
    """Move the index an older edgepub wrote to the current layout (once, after upgrading).

    Older versions kept the whole site model in one partition of the table, read
    whole by every publish; this version reads only what a change touches, from
    items spread over many partitions. Until the move, functions refuse to publish
    with an error that names this command. It runs under the site lease, can be run
    again after a failure, and does nothing once done. A very large site (over
    ~100,000 articles) may outlast the ops function's 5 minutes: run it without
    --stack, with AWS credentials and the stack's EDGEPUB_* settings in the environment.
    """
    data = _act(ctx, {"action": "migrate_index"})
    moved = data["moved"]
    if not moved["items"]:
        text = "the index is already in the current layout: nothing to move"
        if moved.get("removed"):
            text += f" (removed {moved['removed']} items an earlier run left)"
    else:
        text = (
            f"moved {moved['entries']} articles, {moved['counters']} counters and {moved['pages']} page hashes "
            f"({moved['items']} items written)"
        )
    _emit(as_json, data, text)


def _relayout_local(out: Path, site_url: str | None, dry_run: bool) -> Any:
    """`ops.relayout` on a local build folder: its index, its pages, a purger that only records."""
    from edgepub import ops
    from edgepub.errors import OperatorError
    from edgepub.local import FolderPageStore, MemorySourceStore, RecordingPurger
    from edgepub.localindex import SqliteIndex
    from edgepub.publisher import Publisher

    state = out / ".edgepub" / "index.sqlite3"
    if not state.is_file():
        raise OperatorError(f"{out} is not an edgepub build folder (no {state}); run edgepub build --out {out} first")
    settings = Settings.from_env()
    if site_url:
        settings = settings.with_(site_url=site_url.rstrip("/"), overrides=settings.overrides | {"site_url"})
    index = SqliteIndex(state)
    try:
        pages = FolderPageStore(out)
        # no article page is rendered: listing pages come from the index alone
        publisher = Publisher(settings, MemorySourceStore(), pages, RecordingPurger(settings.purge_batch_size), index)
        result = ops.relayout(publisher, dry_run=dry_run)
        index.flush()
        pages.flush()
        return result
    finally:
        index.close()


@cli.group()
def dlq() -> None:
    """Dead letters: messages the publish and purge queues gave up on after their retries."""


DLQ_QUEUE_OPTION = click.option(
    "--queue",
    type=click.Choice(["publish", "purge"]),
    default="publish",
    show_default=True,
    help="Whose dead-letter queue: the publish queue's (S3 notifications) or the purge queue's (URLs).",
)


@dlq.command("list")
@DLQ_QUEUE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@click.pass_context
def dlq_list(ctx: click.Context, queue: str, as_json: bool) -> None:
    """List the messages in a dead-letter queue: id, when sent, receives, and what each carries
    (source keys and events for publish; URL and tag counts for purge). They stay in the queue."""
    from edgepub.display import dead_letters

    result = _act(ctx, {"action": "dlq_list", "queue": queue})
    _emit(as_json, result, dead_letters(queue, result["messages"]))


@dlq.command("redrive")
@DLQ_QUEUE_OPTION
@click.option("--dry-run", is_flag=True, help="Say what would move; move nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def dlq_redrive(ctx: click.Context, queue: str, dry_run: bool, as_json: bool) -> None:
    """Move the messages of a dead-letter queue back to their queue, to be handled again
    (each is deleted from the dead-letter queue only after it was sent). Fix the cause first."""
    from edgepub.display import redrive

    result = _act(ctx, {"action": "dlq_redrive", "queue": queue, "dry_run": dry_run})
    _emit(as_json, result, redrive(result))
    if result["failed"]:
        sys.exit(1)


SERVE_LOG = Path(".edgepub/serve/functions.log")


@cli.command()
@click.option(
    "--samples",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of sources to upload once the stack is up.",
)
def serve(samples: Path | None) -> None:
    """Run the embedded stack until Ctrl-C (SIGINT) or SIGTERM: moto, the Cloudflare emulator
    and its local edge, and the functions polling their queues. Other edgepub commands in
    another terminal (same folder) use it. The functions' logs go to .edgepub/serve/functions.log."""
    import contextlib
    import logging
    import os
    import signal

    from edgepub.errors import OperatorError
    from edgepub.targets import SERVE_FILE, serving

    running = serving(SERVE_FILE)
    if running is not None:
        raise OperatorError(f"edgepub serve is already running here (process {running['pid']}); stop it first")
    stop = threading.Event()
    caught: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        caught.append(signal.Signals(signum).name)
        stop.set()

    # Set explicitly: `edgepub serve &` in a non-interactive shell starts with SIGINT ignored.
    stopping = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, on_signal) for s in stopping}
    SERVE_LOG.parent.mkdir(parents=True, exist_ok=True)
    warnings_log = logging.getLogger("py.warnings")
    try:
        # The functions write their logs and metrics to stdout, as in Lambda; for as long as
        # the stack lives, stdout is the log file (the Powertools handlers take the stdout
        # of the moment they are created). This command itself writes to stderr only.
        with SERVE_LOG.open("a", encoding="utf-8", buffering=1) as log, contextlib.redirect_stdout(log):
            handler = logging.StreamHandler(log)
            warnings_log.addHandler(handler)
            logging.captureWarnings(True)
            try:
                _serve(samples, stop, SERVE_FILE, os.getpid())
            finally:
                logging.captureWarnings(False)
                warnings_log.removeHandler(handler)
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
    click.echo(f"stopped ({caught[0] if caught else 'done'}); {SERVE_FILE} removed", err=True)


def _serve(samples: Path | None, stop: threading.Event, serve_file: Path, pid: int) -> None:
    """The embedded stack, up until `stop` is set; `serve_file` says where it is while it is."""
    from edgepub.edgeconfig import apply_rules, load_rules
    from edgepub.embedded.stack import EmbeddedStack

    with EmbeddedStack.start(window_scale=0.2) as stack:
        env = stack.settings_env()  # endpoints and resource names; the token stays in the embedded secret
        serve_file.parent.mkdir(parents=True, exist_ok=True)
        serve_file.write_text(
            json.dumps({"pid": pid, "endpoint": stack.endpoint_url, "edge": stack.edge_base, "env": env})
        )
        try:
            apply_rules(Settings.from_env(env), lambda: stack.token, load_rules(DEFAULT_RULES))
            stack.start_polling()
            if samples:
                for file in sorted(samples.iterdir()):
                    if file.is_file():
                        stack.s3.put_object(
                            Bucket=stack.sources_bucket, Key=f"content/{file.name}", Body=file.read_bytes()
                        )
            click.echo(f"embedded stack up (process {pid}): AWS (moto) {stack.endpoint_url}", err=True)
            click.echo(f"  sources bucket: {stack.sources_bucket} (upload under content/)", err=True)
            click.echo(f"  the site through the local edge: {stack.edge_base}/", err=True)
            click.echo(
                f"  function logs: {SERVE_LOG}; other edgepub commands here now use this stack. "
                "Ctrl-C (or SIGTERM) stops.",
                err=True,
            )
            while not stop.wait(1):
                pass
            click.echo("stopping", err=True)
        finally:
            serve_file.unlink(missing_ok=True)


def main() -> None:
    """The console script. Exit codes: 0 success, 1 failure, 2 invalid input or usage,
    3 an operator request that cannot be done, 75 temporary failure, 78 configuration error."""
    cli(prog_name="edgepub")
