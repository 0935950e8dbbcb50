"""Reading a source is total and bounded: whatever the bytes, every reader gives an
Article or an InvalidSource naming the file and a field, and nothing else escapes.
An Article that comes out renders, and its index entry can be made.

Property-based (hypothesis): arbitrary bytes, text built from YAML's and JSON's
own syntax, and well-formed documents whose known fields hold values of every
type, nested, huge or deep. Derandomized under CI so that a run is repeatable."""

from __future__ import annotations

import json
import os
import string
from datetime import UTC, datetime
from typing import Any

import yaml
from edgepub.article import Article
from edgepub.errors import InvalidSource
from edgepub.publisher import entry_for
from edgepub.readers import READERS, read_article
from edgepub.render import Renderer
from edgepub.settings import Settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

settings.register_profile(
    "edgepub",
    max_examples=int(os.environ.get("EDGEPUB_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=bool(os.environ.get("CI")),
)
settings.load_profile("edgepub")

EXTENSIONS = sorted(READERS)
RENDERER = Renderer(Settings())
NOW = datetime(2026, 12, 2, tzinfo=UTC)
FIELDS = [
    "title", "slug", "summary", "date", "lastmod", "publishDate", "expiryDate", "draft", "tags", "topic",
    "stack", "tools", "code language", "reading time", "owner", "revision", "score", "images", "entities",
    "checklist", "flags", "notes", "aliases", "outline", "brief", "reference", "view count", "payload", "body",
    "last reviewed", "review interval", "needs human review", "categories",
]  # fmt: skip


def outcome(key: str, data: bytes) -> Article | InvalidSource:
    """The reader's answer; any other exception fails the property."""
    try:
        article = read_article(key, data)
    except InvalidSource as error:
        assert error.source == key
        assert error.problems and all(p.field and p.message for p in error.problems)
        error.describe().encode("utf-8")  # printable to a terminal and a report
        return error
    page = RENDERER.article(article)
    page.body.decode("utf-8")
    entry_for(article, "1", "hash", None, NOW, ())
    return article


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["2026-02-30", "2026-13-01", "0001-01-01", "9999-12-31T23:59:59-12:00", "yes", "5 min", "1" * 40]),
    st.sampled_from(["javascript:alert(1)", "/../x", "//evil", "tags", "page/1", "<script>", "{{ 7*7 }}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=30,
)
documents = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=15)), values, max_size=12)


@given(st.sampled_from(EXTENSIONS), st.binary(max_size=2000))
def test_any_bytes_give_an_article_or_invalid_source(ext, data):
    outcome(f"content/x{ext}", data)


@given(st.sampled_from(EXTENSIONS), st.text(alphabet=string.printable + "\u202e\u200b\ud7ff\ufeff", max_size=400))
def test_any_text_gives_an_article_or_invalid_source(ext, text):
    outcome(f"content/x{ext}", text.encode("utf-8"))


YAML_SYNTAX = st.text(alphabet="-:[]{},&*!|>'\"#%@?~ \n\tabc019.e+", max_size=300)


@given(YAML_SYNTAX)
def test_text_made_of_yaml_syntax_as_front_matter(text):
    outcome("content/x.md", f"---\ntitle: t\n{text}\n---\nbody\n".encode())


JSON_SYNTAX = st.text(alphabet='{}[]:,"\\ -+.eE0123456789truefalsnNaI\n', max_size=300)


@given(JSON_SYNTAX)
def test_text_made_of_json_syntax(text):
    outcome("content/x.json", text.encode())


@given(documents)
def test_front_matter_with_any_values_in_any_field(doc):
    try:
        front = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    result = outcome("content/x.md", f"---\n{front}---\nbody\n".encode("utf-8", "surrogatepass"))
    if isinstance(result, Article):
        assert result.title and len(result.tags) <= Settings().max_tags


@given(documents)
def test_json_with_any_values_in_any_field(doc: dict[str, Any]):
    result = outcome("content/x.json", json.dumps(doc).encode())
    if isinstance(result, Article):
        assert isinstance(result.title, str) and result.title


@given(st.sampled_from([f for f in FIELDS if f != "body"]), values)
def test_one_field_is_judged_the_same_in_json_and_front_matter(name, value):
    """One schema: a value means the same whichever format carries it (but the body:
    a Markdown file's body is the text after its front matter)."""
    doc = {"title": "Same", name: value} if name != "title" else {name: value}
    json_result = outcome("content/x.json", json.dumps(doc).encode())
    try:
        front = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in _leaves(value)):
        return  # YAML writes numbers as plain scalars, which front matter reads as the text typed
    md_result = outcome("content/x.md", f"---\n{front}---\n".encode("utf-8", "surrogatepass"))
    assert type(json_result) is type(md_result), (json_result, md_result)
    if isinstance(json_result, InvalidSource) and isinstance(md_result, InvalidSource):
        assert {p.field for p in json_result.problems} == {p.field for p in md_result.problems}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


@given(st.integers(min_value=2, max_value=12), st.integers(min_value=2, max_value=40))
def test_alias_trees_of_any_shape_are_refused(levels, width):
    lines = ["---", "title: t", "payload:", '  l0: &l0 ["lol"]']
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    data = ("\n".join([*lines, "---", "x"]) + "\n").encode()
    result = outcome("content/bomb.md", data)
    assert isinstance(result, InvalidSource) and "alias" in result.describe()


@given(st.integers(min_value=13, max_value=3000), st.sampled_from(["[", "{a: "]))
def test_deep_front_matter_is_refused_without_recursion(depth, opener):
    closer = "]" if opener == "[" else "}"
    result = outcome("content/deep.md", f"---\ntitle: t\npayload: {opener * depth}{closer * depth}\n---\n".encode())
    assert isinstance(result, InvalidSource)


def test_limits_are_settings():
    tight = Settings(max_tags=2, max_nesting_depth=2).source_limits
    try:
        read_article("content/x.md", b"---\ntitle: t\ntags: [a, b, c]\n---\n", tight)
    except InvalidSource as error:
        assert "EDGEPUB_MAX_TAGS" in error.describe()
    else:
        raise AssertionError("three tags passed a limit of two")
    try:
        read_article("content/x.json", b'{"title": "t", "payload": {"a": {"b": 1}}}', tight)
    except InvalidSource as error:
        assert "nested deeper than 2" in error.describe()
    else:
        raise AssertionError("depth 3 passed a limit of two")
