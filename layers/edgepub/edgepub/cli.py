"""The `edgepub` command: a thin adapter over the library.

Library errors become one clear line on stderr and an exit code, in one place
(`main`): 0 success, 1 failure, 2 invalid input, 75 temporary failure (retry),
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EdgepubError as exc:
        click.echo(f"edgepub: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
