"""Readers: turn the bytes of a source document into an Article.

One reader per format, picked by file extension (Pelican's way): Markdown with
YAML front matter, JSON, and plain text shaped like the seed documents. Each
reader only finds fields; `build_article` checks them against the one field
schema, whatever the format.

Reading is total and bounded: whatever the bytes, the outcome is an Article or
an InvalidSource naming the file, the field (with line and column where the
format has them) and the reason, in time and memory bounded by `SourceLimits`.
YAML is read with every plain scalar as text (no implicit numbers or dates:
the schema parses those, so `2026-02-30` is a clear error and not a crash),
without anchors and aliases (a few hundred bytes of nested aliases expand to
gigabytes), and with nesting, collection sizes and number lengths capped
before any Python object is built from them.
"""

from __future__ import annotations

import json
import posixpath
import re
import string
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from edgepub.article import Article, build_article, slugify
from edgepub.errors import InvalidSource, Problem
from edgepub.settings import SourceLimits

# the C parser is several times faster; fall back where libyaml is missing
_YamlBase: type[yaml.CSafeLoader] | type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {_STR, *(f"tag:yaml.org,2002:{kind}" for kind in ("seq", "map", "bool", "null"))}
_KEPT_RESOLVERS = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "null", "merge")}


def _kept_resolvers() -> dict[Any, list[tuple[str, Any]]]:
    kept = {}
    for first, resolvers in _YamlBase.yaml_implicit_resolvers.items():
        chosen = [(tag, regexp) for tag, regexp in resolvers if tag in _KEPT_RESOLVERS]
        if chosen:
            kept[first] = chosen
    return kept


class _FrontMatterLoader(_YamlBase):  # type: ignore[valid-type,misc]
    """YAML with true/false and null as the only implicit types: `5`, `1.10` and
    `2026-02-30` stay the text the editor typed, for the schema to judge."""

    yaml_implicit_resolvers = _kept_resolvers()


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)(?:\n)?^(?:---|\.\.\.)[ \t]*$\n?", re.DOTALL | re.MULTILINE)
# Characters that mean something to Markdown; plain text escapes them so that
# what an editor typed is shown as typed.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~&])")
_MD_BLOCK_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_RESIDUE = string.whitespace + "|"  # "| |": empty table cells left by copy-paste


@dataclass
class Fields:
    """What a reader found: raw field values, and where each top-level field starts (line, column)."""

    values: dict[str, Any]
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)


class _Refused(ValueError):
    """A structure over a limit, found while parsing (raised from inside json.loads hooks)."""

    def __init__(self, field_name: str, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.problem = Problem(field_name, message, line, column)


def decode(source_key: str, data: bytes) -> str:
    if b"\x00" in data:
        raise InvalidSource.single(source_key, "encoding", "contains NUL bytes; is this a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSource.single(
            source_key, "encoding", f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def default_slug(source_key: str) -> str:
    stem = posixpath.splitext(posixpath.basename(source_key))[0]
    if stem == "index":  # a page bundle: content/<name>/index.md is <name>
        stem = posixpath.basename(posixpath.dirname(source_key)) or stem
    return slugify(stem)


# -- YAML -------------------------------------------------------------------------------


def _check_yaml(root: yaml.Node, limits: SourceLimits, first_line: int) -> None:
    """Walk the composed node graph, breadth first, before anything is constructed from it
    (breadth first: an alias is found at the level it is used, before the depth it builds)."""
    seen: set[int] = set()
    queue: deque[tuple[yaml.Node, int]] = deque([(root, 0)])
    while queue:
        node, depth = queue.popleft()
        line, column = node.start_mark.line + first_line, node.start_mark.column + 1
        if id(node) in seen:
            raise _Refused(
                "front matter", "uses a YAML alias (*name): anchors and aliases are not accepted", line, column
            )
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            raise _Refused("front matter", f"uses the YAML tag {node.tag!r}: write plain values", line, column)
        if isinstance(node, yaml.ScalarNode):
            continue
        if depth >= limits.nesting_depth:
            raise _Refused(
                "front matter", f"is nested deeper than {limits.nesting_depth} levels (EDGEPUB_MAX_NESTING_DEPTH)"
            )
        children: list[yaml.Node]
        if isinstance(node, yaml.MappingNode):
            keys = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        raise _Refused(
                            "front matter",
                            f"field {key.value[:80]!r} is given twice",
                            key.start_mark.line + first_line,
                            key.start_mark.column + 1,
                        )
                    keys.add(key.value)
            children = [n for pair in node.value for n in pair]
            count = len(node.value)
        else:
            children = list(node.value)
            count = len(children)
        if count > limits.list_items:
            message = f"has {count} items in one list or mapping; the limit is {limits.list_items}"
            raise _Refused("front matter", message, line, column)
        queue.extend((child, depth + 1) for child in children)


def _load_yaml(text: str, limits: SourceLimits, first_line: int) -> Fields:
    loader = _FrontMatterLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return Fields({})
        _check_yaml(root, limits, first_line)
        loaded = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be read"
        line, column = (mark.line + first_line, mark.column + 1) if mark else (0, 0)
        raise _Refused("front matter", f"is not valid YAML: {problem}", line, column) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, _Refused):
            raise
        raise _Refused("front matter", f"is not valid YAML: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    finally:
        loader.dispose()
    if not isinstance(loaded, dict):
        raise _Refused("front matter", f"must be a mapping of fields, got {_kind(loaded)}")
    positions = {
        str(key.value): (key.start_mark.line + first_line, key.start_mark.column + 1)
        for key, _ in root.value
        if isinstance(key, yaml.ScalarNode)
    }
    return Fields(loaded, positions)


def read_markdown(source_key: str, text: str, limits: SourceLimits = SourceLimits()) -> Fields:  # noqa: B008
    fields = Fields({})
    body = text
    match = _FRONT_MATTER.match(text)
    if match:
        front = match.group(1)
        if len(front.encode("utf-8")) > limits.front_matter_bytes:
            raise InvalidSource.single(
                source_key,
                "front matter",
                f"is {len(front.encode('utf-8'))} bytes; the limit is {limits.front_matter_bytes}"
                " (EDGEPUB_MAX_FRONT_MATTER_BYTES)",
            )
        try:
            fields = _load_yaml(front, limits, first_line=2)  # line 1 is the opening ---
        except _Refused as refused:
            raise InvalidSource(source_key, [refused.problem]) from None
        body = text[match.end() :]
    elif text.startswith("---\n"):
        raise InvalidSource.single(source_key, "front matter", "starts with '---' but has no closing '---' line")
    if not fields.values.get("title"):
        title, rest = _atx_title(body)
        if title:
            fields.values["title"] = title
            body = rest
    fields.values["body"] = body.strip("\n") + "\n"
    return fields


def _atx_title(body: str) -> tuple[str, str]:
    """A leading `# Heading` line, and the body after it ("" and the body when there is none)."""
    start = len(body) - len(body.lstrip())
    line, _, rest = body[start:].partition("\n")
    if not line.startswith("#") or line[1:2] not in (" ", "\t"):
        return "", body
    return line[1:].strip().rstrip("#").strip(), rest


# -- JSON -------------------------------------------------------------------------------


def read_json(source_key: str, text: str, limits: SourceLimits = SourceLimits()) -> Fields:  # noqa: B008
    def whole(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.number_digits:
            raise _Refused("json", f"has a number of {len(digits)} digits; the limit is {limits.number_digits}")
        return int(digits)

    def real(digits: str) -> float:
        if len(digits) > limits.number_digits + 12:
            raise _Refused("json", f"has a number {len(digits)} characters long")
        return float(digits)

    def constant(name: str) -> Any:
        raise _Refused("json", f"uses {name}, which is not a JSON number")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping = dict(items)
        if len(mapping) != len(items):
            seen: set[str] = set()
            twice = next(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise _Refused("json", f"field {twice[:80]!r} is given twice")
        return mapping

    try:
        loaded = json.loads(text, parse_int=whole, parse_float=real, parse_constant=constant, object_pairs_hook=pairs)
        _check_json(loaded, limits)
    except json.JSONDecodeError as exc:
        raise InvalidSource(
            source_key, [Problem("json", f"is not valid JSON: {exc.msg}", exc.lineno, exc.colno)]
        ) from None
    except _Refused as refused:
        raise InvalidSource(source_key, [refused.problem]) from None
    except RecursionError:
        raise InvalidSource.single(
            source_key, "json", f"is nested deeper than {limits.nesting_depth} levels (EDGEPUB_MAX_NESTING_DEPTH)"
        ) from None
    if not isinstance(loaded, dict):
        raise InvalidSource.single(source_key, "json", f"must be an object of fields, got {_kind(loaded)}")
    return Fields(loaded)


def _check_json(value: Any, limits: SourceLimits) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth >= limits.nesting_depth:
            raise _Refused("json", f"is nested deeper than {limits.nesting_depth} levels (EDGEPUB_MAX_NESTING_DEPTH)")
        if len(item) > limits.list_items:
            raise _Refused("json", f"has {len(item)} items in one list or object; the limit is {limits.list_items}")
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


# -- plain text -------------------------------------------------------------------------


def _is_heading(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 10 and len(line) <= 80 and re.fullmatch(r"[\w][\w '\u2019/&-]*", line) is not None


def _escape(text: str) -> str:
    escaped = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def _without_residue(line: str) -> str:
    """The line without trailing empty table cells ("text | |"), as copy-paste leaves them."""
    kept = line.rstrip(_RESIDUE)
    return kept if line[len(kept) :].count("|") >= 2 else line.rstrip()


def read_text(source_key: str, text: str, limits: SourceLimits = SourceLimits()) -> Fields:  # noqa: B008
    """Plain text: first line is the title, short unpunctuated lines are headings,
    `- ` lines are list items, everything else is paragraphs. A list under a
    heading that says "checklist" becomes the article's checklist."""
    lines = [_without_residue(line) for line in text.split("\n")]
    lines = [line for line in lines if line.strip() not in ("|", "| |")]
    while lines and not lines[0].strip():
        lines.pop(0)
    title = lines.pop(0).strip() if lines else ""
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
            if "checklist" in heading and len(checklist) < limits.list_items:
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
    values: dict[str, Any] = {"title": title, "body": "\n".join(blocks).strip() + "\n"}
    if summary:
        values["summary"] = summary if len(summary) <= 300 else summary[:297].rsplit(" ", 1)[0] + "..."
    if checklist:
        values["checklist"] = checklist
    return Fields(values)


READERS: dict[str, Callable[[str, str, SourceLimits], Fields]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".json": read_json,
    ".txt": read_text,
}


def supported(source_key: str) -> bool:
    return posixpath.splitext(source_key)[1].lower() in READERS


def read_article(source_key: str, data: bytes, limits: SourceLimits = SourceLimits()) -> Article:  # noqa: B008
    """Parse and validate one source document: an Article, or InvalidSource naming the
    file, the field and the problem. Nothing else escapes, whatever the bytes."""
    ext = posixpath.splitext(source_key)[1].lower()
    reader = READERS.get(ext)
    if reader is None:
        raise InvalidSource.single(
            source_key, "file", f"unsupported file type {ext or '(none)'!r}; use one of {', '.join(sorted(READERS))}"
        )
    if len(data) > limits.source_bytes:
        raise InvalidSource.single(
            source_key, "size", f"is {len(data)} bytes; the limit is {limits.source_bytes} (EDGEPUB_MAX_SOURCE_BYTES)"
        )
    text = decode(source_key, data)
    if not text.strip():
        raise InvalidSource.single(source_key, "file", "is empty")
    found = reader(source_key, text, limits)
    return build_article(
        source_key, found.values, default_slug=default_slug(source_key), limits=limits, positions=found.positions
    )
