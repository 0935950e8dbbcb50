"""The site's own look: `edgepub.toml`, template overrides under `theme/templates/`
and the site's files under `theme/static/`, read from the sources bucket (or a
local source folder laid out like it) into one `SiteSpec`.

Templates render in a sandbox (`ThemeEnvironment`) as soon as the theme has a
template of its own: whoever can write to the bucket can change how pages look,
not run code. A template that reaches for Python internals (`__class__`,
`_private`) is refused before it is used, so are ones that do not compile or
fail to render a sample of every page kind; the site keeps its last good spec,
stored in the index (`load_spec`, `save_spec`).

Static files are published at fingerprinted URLs
(`/static/css/site.3f2a9c1b0d.css`) with immutable caching: a changed file is a
new URL, so nothing is purged for it, and templates name them with
`asset("css/site.css")`.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import jinja2
import jinja2.nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from edgepub.article import slugify
from edgepub.errors import InvalidSource, Problem
from edgepub.pages import Page, UnsafePath, key_for_path
from edgepub.ports import ArticleIndex, SourceStore
from edgepub.siteconfig import CONFIG_KEY, SiteConfig, parse_config

THEME_PREFIX = "theme/"
TEMPLATES_PREFIX = "theme/templates/"
STATIC_PREFIX = "theme/static/"
SPEC_CURSOR = "site-spec"  # the index's name for the last good spec
TEMPLATE_EXTENSIONS = (".html", ".xml", ".txt")
MAX_TEMPLATE_BYTES = 256 * 1024
MAX_TEMPLATES = 100
MAX_STATIC_BYTES = 10 * 1024 * 1024
MAX_STATIC_FILES = 200
MAX_STATIC_TOTAL = 100 * 1024 * 1024  # read in one publish function (512 MB)
MAX_SPEC_BYTES = 300 * 1024  # config and templates, kept in one index item (DynamoDB: 400 KB)
MAX_REPEAT = 100_000  # the longest string or list a template may make with * (and the sandbox's range limit)


def is_site_key(key: str) -> bool:
    """A key that changes the site's look rather than an article: the config or the theme."""
    return key == CONFIG_KEY or key.startswith(THEME_PREFIX)


@dataclass(frozen=True)
class SiteSpec:
    """Everything about the site that is not an article: config, template overrides, static files."""

    config: SiteConfig = field(default_factory=SiteConfig)
    config_text: str = ""
    templates: tuple[tuple[str, str], ...] = ()  # (name, source), by name
    static: tuple[tuple[str, str], ...] = ()  # (name under theme/static/, fingerprinted URL path), by name
    fanned_out: bool = True  # every page was rendered again with this spec (see Publisher.site_changed)

    @cached_property
    def digest(self) -> str:
        """What rendering depends on; `fanned_out` is not part of it."""
        body = json.dumps([self.config_text, self.templates, self.static], separators=(",", ":"))
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def asset_path(self, name: str) -> str | None:
        return dict(self.static).get(name.lstrip("/"))

    def to_json(self) -> str:
        return json.dumps(
            {
                "config": self.config_text,
                "templates": self.templates,
                "static": self.static,
                "fanned_out": self.fanned_out,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SiteSpec:
        data = json.loads(text)
        config_text = str(data.get("config", ""))
        return cls(
            config=parse_config(config_text.encode("utf-8")) if config_text else SiteConfig(),
            config_text=config_text,
            templates=tuple((str(n), str(s)) for n, s in data.get("templates", [])),
            static=tuple((str(n), str(p)) for n, p in data.get("static", [])),
            fanned_out=bool(data.get("fanned_out", True)),
        )


DEFAULT_SPEC = SiteSpec()


def load_spec(index: ArticleIndex) -> SiteSpec:
    """The last good spec the index holds (the built-in theme when there is none)."""
    text = index.cursor(SPEC_CURSOR)
    return _spec(text) if text else DEFAULT_SPEC


@lru_cache(maxsize=4)
def _spec(text: str) -> SiteSpec:
    """Parsed once per process for each stored text: every lease loads the spec."""
    return SiteSpec.from_json(text)


def save_spec(index: ArticleIndex, spec: SiteSpec) -> None:
    index.set_cursor(SPEC_CURSOR, spec.to_json())


# -- reading a spec from the sources -------------------------------------------------------


@dataclass(frozen=True)
class SiteFiles:
    """A spec as read from the sources, with the static files' pages to publish."""

    spec: SiteSpec
    assets: tuple[Page, ...] = ()


def read_site(store: SourceStore) -> SiteFiles:
    """The config and theme as they are in the store now: a checked SiteFiles, or
    InvalidSource naming the first file that is wrong and every problem in it."""
    config_text, config = "", SiteConfig()
    obj = store.read(CONFIG_KEY, max_bytes=256 * 1024)
    if obj is not None:
        if obj.data is None:
            raise InvalidSource.single(CONFIG_KEY, "file", f"is {obj.size} bytes; the limit is 64 KB")
        config = parse_config(obj.data)
        config_text = obj.data.decode("utf-8")
    templates: list[tuple[str, str]] = []
    assets: list[Page] = []
    static: list[tuple[str, str]] = []
    keys = [k for k in store.list_keys(THEME_PREFIX) if not posixpath.basename(k).startswith(".")]
    for key in keys:
        if key.startswith(TEMPLATES_PREFIX):
            name = key.removeprefix(TEMPLATES_PREFIX)
            templates.append((name, _read_template(store, key, name)))
        elif key.startswith(STATIC_PREFIX):
            page = _read_static(store, key)
            static.append((key.removeprefix(STATIC_PREFIX), page.path))
            assets.append(page)
        else:
            raise InvalidSource.single(key, "file", "is neither under theme/templates/ nor under theme/static/")
    if len(templates) > MAX_TEMPLATES or len(static) > MAX_STATIC_FILES:
        raise InvalidSource.single(
            THEME_PREFIX, "theme", f"has more than {MAX_TEMPLATES} templates or {MAX_STATIC_FILES} static files"
        )
    spec = SiteSpec(config=config, config_text=config_text, templates=tuple(templates), static=tuple(static))
    size = len(spec.to_json().encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise InvalidSource.single(
            TEMPLATES_PREFIX,
            "theme",
            f"edgepub.toml and the templates come to {size} bytes; the limit is {MAX_SPEC_BYTES}",
        )
    if sum(len(page.body) for page in assets) > MAX_STATIC_TOTAL:
        raise InvalidSource.single(STATIC_PREFIX, "theme", f"the static files come to over {MAX_STATIC_TOTAL} bytes")
    for name in ("publisher_logo", "favicon", "share_image"):
        value = getattr(config, name)
        if value and not value.startswith(("http://", "https://")) and spec.asset_path(value) is None:
            raise InvalidSource.single(
                CONFIG_KEY, name.replace("publisher_", "publisher."), f"{value!r} is not a file under theme/static/"
            )
    return SiteFiles(spec=spec, assets=tuple(assets))


def _read_template(store: SourceStore, key: str, name: str) -> str:
    if not name.endswith(TEMPLATE_EXTENSIONS) or name.startswith("builtin/"):
        raise InvalidSource.single(key, "file", f"a template is a {', '.join(TEMPLATE_EXTENSIONS)} file")
    obj = store.read(key, max_bytes=MAX_TEMPLATE_BYTES)
    if obj is None:
        raise InvalidSource.single(key, "file", "was removed while the theme was read; it is read again next time")
    if obj.data is None:
        raise InvalidSource.single(key, "file", f"is {obj.size} bytes; a template may have {MAX_TEMPLATE_BYTES}")
    try:
        return obj.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSource.single(key, "encoding", f"is not UTF-8 (byte {exc.start})") from None


def _read_static(store: SourceStore, key: str) -> Page:
    name = key.removeprefix(STATIC_PREFIX)
    obj = store.read(key, max_bytes=MAX_STATIC_BYTES)
    if obj is None:
        raise InvalidSource.single(key, "file", "was removed while the theme was read; it is read again next time")
    if obj.data is None:
        raise InvalidSource.single(key, "file", f"is {obj.size} bytes; a static file may have {MAX_STATIC_BYTES}")
    return asset_page(key, "/static/" + name, obj.data)


def asset_page(key: str, path: str, data: bytes) -> Page:
    """A file published at a URL that names its content (`diagram.3f2a9c1b0d.png`), so it
    is cached for good and never purged."""
    digest = hashlib.sha256(data).hexdigest()
    stem, ext = posixpath.splitext(path)
    fingerprinted = f"{stem}.{digest[:10]}{ext}"
    try:
        key_for_path(fingerprinted)
    except UnsafePath:
        raise InvalidSource.single(
            key, "file name", "may use only letters, digits, '.', '_', '~' and '-' (it is part of a URL)"
        ) from None
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "image/svg+xml"):
        content_type += "; charset=utf-8"
    return Page(path=fingerprinted, body=data, kind="asset", content_type=content_type, source_key=key)


# -- the sandbox -----------------------------------------------------------------------------


class ThemeEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox, also refusing the arithmetic that would build a huge string or number."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("a power above 64 is not allowed in a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
                    raise SecurityError(f"a repeat longer than {MAX_REPEAT} is not allowed in a template")
        return super().call_binop(context, operator, left, right)


@lru_cache(maxsize=4)
def environment(templates: tuple[tuple[str, str], ...] = ()) -> jinja2.Environment:
    """The sandboxed environment for a theme: its overrides first, then the built-in
    templates (also reachable as "builtin/<name>", to extend one)."""
    overrides = dict(templates)

    def load(name: str) -> tuple[str, str, Callable[[], bool]] | None:
        if name in overrides:
            return overrides[name], TEMPLATES_PREFIX + name, lambda: True
        return None

    builtin = jinja2.PackageLoader("edgepub", "templates")
    # Only templates from the bucket need the sandbox; edgepub's own are its code. The
    # sandbox checks every attribute access at render time: 1.49 ms an article page
    # against 0.87 ms without (measured on the samples), so a site with no overrides
    # renders without it.
    kind = ThemeEnvironment if templates else jinja2.Environment
    env = kind(
        loader=jinja2.ChoiceLoader([jinja2.FunctionLoader(load), builtin, jinja2.PrefixLoader({"builtin": builtin})]),
        autoescape=jinja2.select_autoescape(["html", "xml", "txt"], default_for_string=True),
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["slug"] = slugify
    return env


def check_templates(spec: SiteSpec) -> None:
    """Refuse templates that do not compile or reach for Python internals, naming the
    file, the line and the reason."""
    env = environment(spec.templates)
    for name, source in spec.templates:
        key = TEMPLATES_PREFIX + name
        try:
            tree = env.parse(source, name, key)
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidSource(key, [Problem("template", exc.message or "syntax error", exc.lineno or 0, 1)]) from None
        for node, attr in _attributes(tree):
            if attr.startswith("_") or attr in _UNSAFE_NAMES:
                raise InvalidSource(
                    key,
                    [Problem("template", f"uses {attr!r}, which reaches Python internals", node.lineno or 0, 1)],
                ) from None


_UNSAFE_NAMES = frozenset({"mro", "func_globals", "gi_frame", "f_globals", "f_locals", "cr_frame", "format_map"})


def _attributes(tree: jinja2.nodes.Node) -> Iterator[tuple[jinja2.nodes.Node, str]]:
    for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
        if isinstance(node, jinja2.nodes.Getattr):
            yield node, node.attr
        elif isinstance(node, jinja2.nodes.Getitem):
            arg = node.arg
            if isinstance(arg, jinja2.nodes.Const) and isinstance(arg.value, str):
                yield node, arg.value


def render_failure(error: BaseException) -> InvalidSource | None:
    """An error raised while rendering, as an InvalidSource naming the theme file and
    line it came from (the innermost frame that is a theme file); None when no theme
    file is to blame (edgepub's own templates and code: a bug to raise, not to report)."""
    import traceback

    where, line = "", 0
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(TEMPLATES_PREFIX):
            where, line = frame.filename, frame.lineno or 0
    if not where:
        return None
    if isinstance(error, SecurityError):
        message = f"is not allowed: {error}"
    elif isinstance(error, jinja2.UndefinedError):
        message = f"uses something pages do not have: {error.message}"
    else:
        message = f"failed to render: {type(error).__name__}: {error}"
    return InvalidSource(where, [Problem("template", message, line, 1 if line else 0)])


# The src of an <img> and the href of an <a>, in sanitized HTML: only real tags (text, code
# samples included, has its "<" escaped) and only relative URLs (no scheme, fragment or query).
ASSET_REF = re.compile(r'(?P<head><(?P<tag>img|a)\b[^<>]*?\s(?:src|href)=")(?P<url>[^"#?:]+)"')
# what a link to a file (not to a page) ends with: a link like [site](example.com) is not one
FILE_EXTENSIONS = frozenset(
    {".avif", ".csv", ".gif", ".gz", ".jpeg", ".jpg", ".json", ".m4a", ".mp3", ".mp4", ".ogg", ".pdf"}
    | {".png", ".svg", ".tar", ".tgz", ".txt", ".wav", ".webm", ".webp", ".xml", ".zip"}
)


# Where Markdown can name a file: a link or image target, a reference definition, a raw
# src/href. `might_reference_files` looks at these in the source, so that an article
# naming no relative file (most of them) is not rendered to HTML twice on publish.
_TARGETS = re.compile(
    r"\]\(\s*<?(?P<inline>[^)\s>]+)"
    r"|^[ ]{0,3}\[[^\]]+\]:[ \t]*<?(?P<reference>[^\s>]+)"
    r"|(?:src|href)\s*=\s*[\"']?(?P<raw>[^\"'\s>]+)",
    re.MULTILINE | re.IGNORECASE,
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def might_reference_files(markdown: str) -> bool:
    """False when the Markdown names no relative file, so `relative_refs` of its HTML is
    empty (True may still find none: that takes the HTML)."""
    for match in _TARGETS.finditer(markdown):
        url = match.group("inline") or match.group("reference") or match.group("raw") or ""
        if not url.startswith(("/", "#", "?")) and not _SCHEME.match(url) and "." in url:
            return True
    return False


def relative_refs(html: str) -> Sequence[str]:
    """The relative file references of a body: every image (`diagram.png`) and every link to
    a file (`./files/a.pdf`), what a page bundle must hold. Site paths and URLs with a scheme
    are not among them."""
    found = []
    for match in ASSET_REF.finditer(html):
        url = match.group("url")
        if url.startswith(("/", "..")) or "." not in posixpath.basename(url):
            continue
        if match.group("tag") == "a" and posixpath.splitext(url)[1].lower() not in FILE_EXTENSIONS:
            continue
        found.append(posixpath.normpath(url))
    return list(dict.fromkeys(found))


def rewrite_refs(html: str, urls: Mapping[str, tuple[str, int, int]]) -> str:
    """Point a body's relative file references at their published URLs; an image whose
    tag gives no size gets the file's width and height, so the page reserves its space."""

    def swap(match: re.Match[str]) -> str:
        found = urls.get(posixpath.normpath(match.group("url")))
        if not found:
            return match.group(0)
        url, width, height = found
        head = match.group("head")
        tag = match.string[match.start() : match.string.find(">", match.end()) + 1]  # the whole <img ...>
        if match.group("tag") == "img" and width and height and not re.search(r"\s(?:width|height)=", tag):
            head = head.replace("<img", f'<img width="{width}" height="{height}"', 1)
        return f'{head}{url}"'

    return ASSET_REF.sub(swap, html)


def image_size(data: bytes) -> tuple[int, int]:
    """The width and height of a PNG, GIF, JPEG or WebP image from its header; (0, 0) for
    anything else (or a header that does not add up)."""
    import struct

    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return _sane(width, height)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
            return _sane(width, height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            kind = data[12:16]
            if kind == b"VP8X":
                return _sane(1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little"))
            if kind == b"VP8 ":
                width, height = struct.unpack("<HH", data[26:30])
                return _sane(width & 0x3FFF, height & 0x3FFF)
            if kind == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return _sane((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
    except (struct.error, IndexError, ValueError):
        pass
    return (0, 0)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    import struct

    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return (0, 0)
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return _sane(width, height)
        i += 2 + length
    return (0, 0)


def _sane(width: int, height: int) -> tuple[int, int]:
    return (width, height) if 0 < width <= 65535 and 0 < height <= 65535 else (0, 0)
