"""Readers: turn the bytes of a source document into an Article.

One reader per format, picked by file extension (Pelican's way): Markdown with
YAML front matter, JSON, and plain text shaped like the seed documents. Each
reader only finds fields; `build_article` validates them.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from typing import Any

import yaml

from edgepub.article import Article, build_article, slugify
from edgepub.errors import InvalidSource

# the C loader is several times faster; fall back where libyaml is missing
_YamlLoader: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*\r?$\n?", re.DOTALL | re.MULTILINE)
_ATX_TITLE = re.compile(r"\A\s*#[ \t]+(.+?)[ \t#]*\r?\n")
# Characters that mean something to Markdown; plain text escapes them so that
# what an editor typed is shown as typed.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~&])")
_MD_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_SCRAPE_RESIDUE = re.compile(r"(?:\s*\|\s*)+\|\s*$")  # "| |": empty table cells left by copy-paste


def decode(source_key: str, data: bytes) -> str:
    if b"\x00" in data:
        raise InvalidSource.single(source_key, "encoding", "contains NUL bytes; is this a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSource.single(
            source_key, "encoding", f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def default_slug(source_key: str) -> str:
    stem = posixpath.splitext(posixpath.basename(source_key))[0]
    return slugify(stem)


def read_markdown(source_key: str, text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    body = text
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.load(match.group(1), Loader=_YamlLoader)  # noqa: S506 - safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 2}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise InvalidSource.single(source_key, "front matter", f"is not valid YAML{where}: {problem}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise InvalidSource.single(
                source_key, "front matter", f"must be a mapping of fields, got {type(loaded).__name__}"
            )
        fields.update(loaded)
        body = text[match.end() :]
    elif text.startswith("---"):
        raise InvalidSource.single(source_key, "front matter", "starts with '---' but has no closing '---' line")
    if not fields.get("title"):
        heading = _ATX_TITLE.match(body)
        if heading:
            fields["title"] = heading.group(1)
            body = body[heading.end() :]
    fields["body"] = body.strip("\n") + "\n"
    return fields


def read_json(source_key: str, text: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSource.single(
            source_key, "json", f"is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(loaded, dict):
        raise InvalidSource.single(source_key, "json", f"must be an object of fields, got {type(loaded).__name__}")
    return loaded


def _is_heading(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 10 and len(line) <= 80 and re.fullmatch(r"[\w][\w '\u2019/&-]*", line) is not None


def _escape(text: str) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def read_text(source_key: str, text: str) -> dict[str, Any]:
    """Plain text: first line is the title, short unpunctuated lines are headings,
    `- ` lines are list items, everything else is paragraphs. A list under a
    heading that says "checklist" becomes the article's checklist."""
    lines = [_SCRAPE_RESIDUE.sub("", line).rstrip() for line in text.split("\n")]
    lines = [line for line in lines if line.strip() not in ("|", "| |")]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise InvalidSource.single(source_key, "title", "is required: the file is empty")
    title = lines.pop(0).strip()
    blocks: list[str] = []
    summary = ""
    checklist: list[str] = []
    heading = ""
    in_list = False
    for raw in lines:
        line = raw.strip()
        if not line:
            in_list = False
            continue
        if line.startswith("- ") or line.startswith("* "):
            item = line[2:].strip()
            if not in_list:
                blocks.append("")
            blocks.append(f"- {_escape(item)}")
            in_list = True
            if "checklist" in heading:
                checklist.append(item)
            continue
        if in_list:
            blocks.append("")
            in_list = False
        if _is_heading(line):
            heading = line.lower()
            blocks.append(f"\n## {_escape(line)}")
        else:
            summary = summary or line
            blocks.append(f"\n{_escape(line)}")
    fields: dict[str, Any] = {"title": title, "body": "\n".join(blocks).strip() + "\n"}
    if summary:
        fields["summary"] = summary if len(summary) <= 300 else summary[:297].rsplit(" ", 1)[0] + "..."
    if checklist:
        fields["checklist"] = checklist
    return fields


READERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".json": read_json,
    ".txt": read_text,
}


def supported(source_key: str) -> bool:
    return posixpath.splitext(source_key)[1].lower() in READERS


def read_article(source_key: str, data: bytes) -> Article:
    """Parse and validate one source document; raise InvalidSource naming the file and problem."""
    ext = posixpath.splitext(source_key)[1].lower()
    reader = READERS.get(ext)
    if reader is None:
        raise InvalidSource.single(
            source_key, "file", f"unsupported file type {ext or '(none)'!r}; use one of {', '.join(sorted(READERS))}"
        )
    fields = reader(source_key, decode(source_key, data))
    return build_article(source_key, fields, default_slug=default_slug(source_key))
