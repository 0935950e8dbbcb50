"""A theme change and a page bundle through the embedded stack: the publish function
checks the theme, fans the re-render out through the publish queue, and only pages
whose bytes changed are written and purged; bundle files are stored once, at URLs
that name their content, with immutable caching."""

from __future__ import annotations

import json

import pytest
from edgepub.embedded.stack import EmbeddedStack

from tests.unit.test_theme import png

pytestmark = pytest.mark.embedded

URL = "https://www.example.com"
ARTICLE = "---\ntitle: {title}\ndate: 2026-10-0{day}\ntags: [cdn]\n---\nBody of {title}.\n"
OVERRIDE = b'{% extends "builtin/article.html" %}{% block title %}Read: {{ a.title }}{% endblock %}'


def upload(stack: EmbeddedStack, key: str, body: bytes) -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=body)


def versions(stack: EmbeddedStack) -> dict[str, int]:
    found: dict[str, int] = {}
    for v in stack.s3.list_object_versions(Bucket=stack.site_bucket).get("Versions", []):
        found[v["Key"]] = found.get(v["Key"], 0) + 1
    return found


def page(stack: EmbeddedStack, key: str) -> str:
    return str(stack.s3.get_object(Bucket=stack.site_bucket, Key=key)["Body"].read().decode())


def test_a_theme_change_rewrites_and_purges_only_the_pages_it_changes(stack):
    for day, title in enumerate(["First", "Second", "Third"], 1):
        upload(stack, f"content/{title.lower()}.md", ARTICLE.format(title=title, day=day).encode())
    stack.run_until_idle()
    before, purges = versions(stack), len(stack.cloudflare.state.purges)

    upload(stack, "theme/templates/article.html", OVERRIDE)
    stack.run_until_idle()

    after = versions(stack)
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == ["first/index.html", "second/index.html", "third/index.html"]
    assert "<title>Read: Second</title>" in page(stack, "second/index.html")
    purged = [u for p in stack.cloudflare.state.purges[purges:] for u in p.items]
    assert sorted(purged) == [f"{URL}/first/", f"{URL}/second/", f"{URL}/third/"]

    # a stylesheet no template names yet: stored at its fingerprinted URL, no page changes, nothing purged
    purges = len(stack.cloudflare.state.purges)
    upload(stack, "theme/static/site.css", b"body{color:#222}")
    stack.run_until_idle()
    now = versions(stack)
    assert sorted(k for k in now if now[k] != after.get(k)) == ["static/site.2b64f6b6da.css"]
    assert len(stack.cloudflare.state.purges) == purges
    head = stack.s3.head_object(Bucket=stack.site_bucket, Key="static/site.2b64f6b6da.css")
    assert head["ContentType"] == "text/css; charset=utf-8" and "immutable" in head["CacheControl"]
    after = now

    # the same theme again (a duplicate event): nothing is written or purged
    purges = len(stack.cloudflare.state.purges)
    upload(stack, "theme/templates/article.html", OVERRIDE)
    stack.run_until_idle()
    assert versions(stack) == after and len(stack.cloudflare.state.purges) == purges


def test_a_theme_that_reaches_for_internals_is_reported_and_changes_nothing(stack):
    upload(stack, "content/first.md", ARTICLE.format(title="First", day=1).encode())
    stack.run_until_idle()
    before, purges = versions(stack), len(stack.cloudflare.state.purges)

    upload(stack, "theme/templates/base.html", b"<p>{{ site.__class__.__init__.__globals__ }}</p>")
    stack.run_until_idle()

    assert versions(stack) == before and len(stack.cloudflare.state.purges) == purges
    key = "rejected/theme/templates/base.html.json"
    found = json.loads(stack.s3.get_object(Bucket=stack.sources_bucket, Key=key)["Body"].read())
    assert "reaches Python internals" in found["error"] and found["problems"][0]["line"] == 1


def test_a_page_bundle_publishes_its_image_once_with_immutable_caching(stack):
    image = png(3, 2)
    body = ARTICLE.format(title="Diagrams", day=1) + "\n![d](diagram.png)\n"
    upload(stack, "content/diagrams/index.md", body.encode())
    stack.run_until_idle()
    # the image is not there yet: the article is reported and waits, nothing is published
    assert "diagrams/index.html" not in versions(stack)
    upload(stack, "content/diagrams/diagram.png", image)
    stack.run_until_idle()

    [asset] = [k for k in versions(stack) if k.startswith("diagrams/diagram.")]
    head = stack.s3.head_object(Bucket=stack.site_bucket, Key=asset)
    assert head["ContentType"] == "image/png" and "immutable" in head["CacheControl"]
    assert stack.s3.get_object(Bucket=stack.site_bucket, Key=asset)["Body"].read() == image
    assert f'src="{URL}/{asset}"' in page(stack, "diagrams/index.html")
    purged = {u for p in stack.cloudflare.state.purges for u in p.items}
    assert f"{URL}/diagrams/" in purged and f"{URL}/{asset}" not in purged  # a new URL: nothing to purge


def test_theme_push_checks_first_then_uploads_and_follows_the_rerender(stack, tmp_path):
    from click.testing import CliRunner
    from edgepub.cli import cli

    upload(stack, "content/first.md", ARTICLE.format(title="First", day=1).encode())
    stack.run_until_idle()
    folder = tmp_path / "site"
    (folder / "theme" / "templates").mkdir(parents=True)
    (folder / "theme" / "static").mkdir(parents=True)
    (folder / "edgepub.toml").write_text('title = "Pushed Notes"\n')
    (folder / "theme" / "static" / "site.css").write_text("body{color:#222}")
    (folder / "theme" / "templates" / "article.html").write_text("{{ a.__class__ }}")
    env, runner = stack.settings_env(), CliRunner()

    refused = runner.invoke(cli, ["theme", "push", str(folder)], env=env)
    assert refused.exit_code == 2 and "theme/templates/article.html" in refused.output
    listed = stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="theme/").get("Contents", [])
    assert listed == []  # nothing uploaded

    (folder / "theme" / "templates" / "article.html").write_bytes(OVERRIDE)
    stack.start_polling()
    try:
        pushed = runner.invoke(cli, ["theme", "push", str(folder), "--json"], env=env)
    finally:
        stack.stop_polling()
    assert pushed.exit_code == 0, pushed.output
    out = pushed.output  # the functions' log lines (polled in this process) come first
    result, _ = json.JSONDecoder().raw_decode(out[out.rindex("{", 0, out.rindex('"uploaded"')) :])
    assert result["uploaded"][-1] == "edgepub.toml"  # last: its event then finds the whole theme
    stack.run_until_idle()
    html = page(stack, "first/index.html")
    assert "<title>Read: First</title>" in html and "Pushed Notes" in page(stack, "index.html")
