"""A folder of hostile sources through `edgepub validate`, `edgepub build` and
`edgepub publish --dry-run`: each is published safely or rejected naming the
file and the field, no traceback reaches the user, and the good files beside
them are all built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from edgepub.cli import cli
from edgepub.localbuild import build
from edgepub.settings import Settings

from tests.support.hostile import ALL, GOOD, HOSTILE

REJECTED = [h for h in ALL if h.expect == "rejected"]
PUBLISHED = [h for h in ALL if h.expect == "published"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for hostile in ALL:
        (src / hostile.name).write_bytes(hostile.data)
    return src


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_validate_names_every_bad_file_and_its_field(folder):
    code, out = invoke("validate", "--json", str(folder))
    assert code == 2
    results = {Path(r["file"]).name: r for r in json.loads(out)["files"]}
    assert set(results) == {h.name for h in ALL}
    for hostile in REJECTED:
        found = results[hostile.name]
        assert not found["ok"], hostile.name
        assert hostile.field in [p["field"] for p in found["problems"]], (hostile.name, found["problems"])
    for hostile in PUBLISHED:
        assert results[hostile.name]["ok"], (hostile.name, results[hostile.name]["problems"])


def test_validate_text_output_is_one_line_per_problem(folder):
    code, out = invoke("validate", str(folder))
    assert code == 2
    for hostile in REJECTED:
        assert f"invalid  {folder / hostile.name}: {hostile.field}" in out, hostile.name
    assert f"{len(PUBLISHED)} valid, {len(REJECTED)} invalid" in out


def test_build_publishes_the_good_files_and_reports_every_bad_one(folder, tmp_path):
    out_dir = tmp_path / "site"
    code, out = invoke("build", str(folder), "--out", str(out_dir), "--json")
    assert code == 2
    summary = json.loads(out)
    assert summary["published"] == len(PUBLISHED) and summary["rejected"] == len(REJECTED)
    for hostile in REJECTED:
        assert any(e.startswith(f"content/{hostile.name}: ") for e in summary["errors"]), hostile.name
        report = json.loads((out_dir / ".edgepub" / "rejected" / "content" / f"{hostile.name}.json").read_text())
        assert hostile.field in [p["field"] for p in report["problems"]]
    slugs = {p.parent.name for p in out_dir.glob("*/index.html")} - {"page", "tags"}
    assert {"good-one", "good-two", "good-three"} <= slugs
    assert len(slugs) == len(PUBLISHED)


def test_hostile_text_is_shown_as_text(folder, tmp_path):
    report = build(folder, tmp_path / "site", Settings(), workers=1)
    pages = {o.source_key.removeprefix("content/"): o for o in report.outcomes}
    for hostile in PUBLISHED:
        assert pages[hostile.name].action == "published", hostile.name
    injection = (tmp_path / "site" / "injection" / "index.html").read_text()
    assert "<script>alert(1)" not in injection and "onerror" not in injection
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in injection  # never evaluated as a template
    for hostile in PUBLISHED:
        if hostile.shows:
            slug = hostile.name.rsplit(".", 1)[0]
            assert hostile.shows in (tmp_path / "site" / slug / "index.html").read_text(), hostile.name


def test_build_batch_outcome_does_not_depend_on_file_order(tmp_path):
    """An article's own path beats another file's alias, whichever file name sorts first."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a-alias.md").write_text("---\ntitle: A\naliases: [/zz-page/]\n---\nx\n")
    (src / "zz-page.md").write_text("---\ntitle: Z\n---\nx\n")
    report = build(src, tmp_path / "site", Settings(), workers=1)
    actions = {o.source_key: (o.action, o.reason) for o in report.outcomes}
    assert actions["content/zz-page.md"][0] == "published"
    assert actions["content/a-alias.md"][0] == "rejected" and "aliases[0]" in actions["content/a-alias.md"][1]


def test_build_never_overwrites_a_live_page_with_an_alias(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("---\ntitle: A\n---\nA's page.\n")
    build(src, tmp_path / "site", Settings(), workers=1)
    (src / "b.md").write_text("---\ntitle: B\naliases: [/a/]\n---\nx\n")
    report = build(src, tmp_path / "site", Settings(), workers=1)
    assert [o.action for o in report.outcomes if o.source_key == "content/b.md"] == ["rejected"]
    assert "A's page." in (tmp_path / "site" / "a" / "index.html").read_text()


def test_publish_dry_run_uploads_only_the_valid_files_and_exits_2(folder):
    run = CliRunner().invoke(cli, ["publish", "--dry-run", "--json", str(folder)])
    assert run.exit_code == 2 and "Traceback" not in run.output
    result = json.loads(run.stdout)
    for hostile in REJECTED:
        assert f"invalid  {folder / hostile.name}: {hostile.field}" in run.stderr
    assert sorted(Path(f).name for f in result["files"]) == sorted(h.name for h in PUBLISHED)
    assert sorted(Path(f).name for f in result["invalid"]) == sorted(h.name for h in REJECTED)


def test_good_files_alone_are_all_valid(tmp_path):
    for good in GOOD:
        (tmp_path / good.name).write_bytes(good.data)
    code, out = invoke("validate", str(tmp_path))
    assert code == 0 and f"{len(GOOD)} valid, 0 invalid" in out


def test_every_hostile_case_is_named_once():
    names = [h.name for h in HOSTILE + GOOD]
    assert len(names) == len(set(names))
