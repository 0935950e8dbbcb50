from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from edgepub.errors import InvalidSource
from edgepub.readers import read_article

SEED_LIKE_TEXT = b"""practical guide to handling background jobs with cloudflare caching
when a project grows, handling background jobs stops being a small cleanup task.
security and maintenance notes
avoid mixing content decisions with infrastructure decisions.
implementation checklist
- inspect cache headers
- purge only the affected route
final notes
keep the final commands close to the article so future maintenance is easier.| |
"""


def problems(error: pytest.ExceptionInfo[InvalidSource]) -> dict[str, str]:
    return {p.field: p.message for p in error.value.problems}


def test_markdown_front_matter_fields_and_body():
    article = read_article(
        "content/guides/My Post.md",
        b"---\ntitle: Hello\ndate: 2026-01-02\ntags: [Redis, cdn]\npublishDate: 2026-01-03T10:00:00Z\n"
        b"revision:\n  status: reviewed\n  version: 1.2.0\n  last reviewed: 2026-01-01\n---\n\nBody *text*.\n",
    )
    assert article.title == "Hello"
    assert article.slug == "my-post"
    assert article.tags == ("redis", "cdn")
    assert article.date == datetime(2026, 1, 2, tzinfo=UTC)
    assert article.publish_date == datetime(2026, 1, 3, 10, tzinfo=UTC)
    assert article.revision.version == "1.2.0"
    assert article.revision.last_reviewed is not None and article.revision.last_reviewed.isoformat() == "2026-01-01"
    assert article.body == "Body *text*.\n"
    assert article.reading_time == 1


def test_markdown_without_front_matter_takes_title_from_heading():
    article = read_article("content/a.md", b"# A title\n\nText.\n")
    assert article.title == "A title"
    assert article.body == "Text.\n"


def test_json_with_seed_meta_labels(samples):
    article = read_article("content/redis.json", (samples / "redis-scheduled-tasks-behind-a-cdn.json").read_bytes())
    assert article.slug == "redis-caching-scheduled-tasks-behind-a-cdn"
    assert article.stack == ("redis caching", "database", "text")
    assert article.code_language == "text"
    assert dict(article.scores) == {"quality": 88, "freshness": 74, "depth": 68, "clarity": 97}
    assert dict(article.flags)["needs_human_review"] is False
    assert [e.type for e in article.entities] == ["stack", "area", "problem"]
    assert [i.source for i in article.images] == ["dummyimage.com", "placehold.co", "picsum.photos"]
    assert article.images[0].alt == article.images[0].caption  # alt falls back to the caption
    assert article.revision.review_interval_days == 180
    assert article.reading_time == 5
    assert article.view_count == 127245


def test_plain_text_in_the_seed_shape():
    article = read_article("content/000_e90769b34d5897dd.txt", SEED_LIKE_TEXT)
    assert article.title == "practical guide to handling background jobs with cloudflare caching"
    assert article.slug == "000-e90769b34d5897dd"
    assert "## security and maintenance notes" in article.body
    assert "- inspect cache headers" in article.body
    assert article.checklist == ("inspect cache headers", "purge only the affected route")
    assert article.summary.startswith("when a project grows")
    assert "| |" not in article.body


def test_plain_text_markdown_characters_are_shown_as_typed():
    article = read_article("content/t.txt", b"title\n<b>not bold</b> *not em* [not](link)\n")
    assert r"\<b\>" in article.body and r"\*not em\*" in article.body


def test_invalid_utf8_names_the_file_and_offset():
    with pytest.raises(InvalidSource) as error:
        read_article("content/latin1.md", "---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    assert error.value.source == "content/latin1.md"
    assert "not valid UTF-8" in problems(error)["encoding"]
    assert "content/latin1.md" in str(error.value)


def test_malformed_front_matter_gives_line_and_column():
    with pytest.raises(InvalidSource) as error:
        read_article("content/bad.md", b"---\ntitle: ok\ntags: [a, b\n---\nbody\n")
    assert (
        "is not valid YAML: " in problems(error)["front matter"] and error.value.problems[0].line == 4
    )  # the closing --- line, where the list was still open


def test_unclosed_front_matter():
    with pytest.raises(InvalidSource) as error:
        read_article("content/bad.md", b"---\ntitle: ok\nbody\n")
    assert "no closing" in problems(error)["front matter"]


def test_missing_title_and_other_problems_are_listed_together():
    with pytest.raises(InvalidSource) as error:
        read_article(
            "content/x.json",
            json.dumps({"date": "yesterday", "slug": "../../etc/passwd", "draft": "maybe", "body": "x"}).encode(),
        )
    found = problems(error)
    assert found["title"] == "is required"
    assert "is not a date" in found["date"]
    assert "is not a slug" in found["slug"]
    assert "true or false" in found["draft"]


def test_javascript_image_url_is_rejected():
    with pytest.raises(InvalidSource) as error:
        read_article("content/x.md", b"---\ntitle: t\nimages:\n  - url: javascript:alert(1)\n---\n")
    assert "is not an http(s) URL" in problems(error)["images[0].url"]


def test_alias_escaping_the_site_is_rejected():
    with pytest.raises(InvalidSource) as error:
        read_article("content/x.md", b"---\ntitle: t\naliases: [/old/../../x/, https://evil.example/]\n---\n")
    found = problems(error)
    assert "aliases[0]" in found and "aliases[1]" in found


def test_json_must_be_an_object():
    with pytest.raises(InvalidSource) as error:
        read_article("content/x.json", b"[1, 2]")
    assert "must be an object" in problems(error)["json"]


def test_unsupported_extension():
    with pytest.raises(InvalidSource) as error:
        read_article("content/x.docx", b"whatever")
    assert "unsupported file type" in problems(error)["file"]


def test_unknown_fields_are_warnings_not_errors():
    article = read_article("content/x.md", b"---\ntitle: t\ncolour: blue\n---\n")
    assert article.warnings == ("unknown field 'colour' ignored",)


def test_expiry_before_publish_is_a_problem():
    with pytest.raises(InvalidSource) as error:
        read_article("content/x.md", b"---\ntitle: t\npublishDate: 2026-02-01\nexpiryDate: 2026-01-01\n---\n")
    assert "expiry_date" in problems(error)
