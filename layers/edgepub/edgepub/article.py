"""The Article model: the one shape every reader produces and every template sees.

`build_article` turns the loose mapping a reader found (front matter, JSON, or the
fields a plain-text document implies) into a validated, immutable Article, listing
every problem by field rather than stopping at the first.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from edgepub.errors import InvalidSource, Problem
from edgepub.settings import SourceLimits

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 120
WORDS_PER_MINUTE = 220
_SAFE_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)


# A structured value (the `payload` field) as readable text: mappings and lists
# become (label, value) pairs, lists with empty labels; leaves are text.
MetaValue = str | tuple[tuple[str, "MetaValue"], ...]
Meta = tuple[tuple[str, MetaValue], ...]


@dataclass(frozen=True)
class Image:
    url: str
    caption: str = ""
    alt: str = ""
    source: str = ""
    width: int | None = None  # pixels, when the source gives them: the page reserves the space
    height: int | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    type: str = ""


@dataclass(frozen=True)
class Revision:
    status: str = ""
    version: str = ""
    last_reviewed: date | None = None
    review_interval_days: int | None = None


@dataclass(frozen=True)
class Article:
    """A validated article. Text fields are plain text; `body` is Markdown."""

    source_key: str
    slug: str
    title: str
    body: str
    summary: str = ""
    date: datetime | None = None
    lastmod: datetime | None = None
    publish_date: datetime | None = None
    expiry_date: datetime | None = None
    draft: bool = False
    tags: tuple[str, ...] = ()
    topic: str = ""
    problem: str = ""
    scenario: str = ""
    stack: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    code_language: str = ""
    difficulty: str = ""
    reading_time: int = 1
    owner: str = ""
    revision: Revision = field(default_factory=Revision)
    scores: tuple[tuple[str, int], ...] = ()
    images: tuple[Image, ...] = ()
    entities: tuple[Entity, ...] = ()
    checklist: tuple[str, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()
    notes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    outline: tuple[str, ...] = ()
    brief: str = ""
    reference: str = ""
    view_count: int | None = None
    payload: Meta = ()
    warnings: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """URL path of the article page (pretty URL with trailing slash)."""
        return f"/{self.slug}/"

    @property
    def needs_human_review(self) -> bool:
        return dict(self.flags).get("needs_human_review", False)

    @property
    def updated(self) -> datetime | None:
        return self.lastmod or self.date


# Accepted spellings of each field: front matter in Hugo's camelCase, the seeds'
# post-meta labels with spaces, and snake_case all map to one name.
_ALIASES = {
    "publishdate": "publish_date",
    "expirydate": "expiry_date",
    "expiry": "expiry_date",
    "expires": "expiry_date",
    "lastmod": "lastmod",
    "last_modified": "lastmod",
    "updated": "lastmod",
    "content": "body",
    "text": "body",
    "tag": "tags",
    "score": "scores",
    "image_sources": "images",
    "ai_outline": "outline",
    "ai_brief": "brief",
    "readingtime": "reading_time",
    "codelanguage": "code_language",
    "language": "code_language",
    "author": "owner",
    "review_interval": "review_interval_days",
    "reviewinterval": "review_interval_days",
    "last_reviewed": "last_reviewed",
    "lastreviewed": "last_reviewed",
    "views": "view_count",
    "hash": "content_hash",
}
_KNOWN = {
    "slug",
    "title",
    "body",
    "summary",
    "date",
    "lastmod",
    "publish_date",
    "expiry_date",
    "draft",
    "tags",
    "topic",
    "problem",
    "scenario",
    "stack",
    "tools",
    "code_language",
    "difficulty",
    "reading_time",
    "owner",
    "revision",
    "scores",
    "images",
    "entities",
    "checklist",
    "flags",
    "notes",
    "aliases",
    "outline",
    "brief",
    "reference",
    "view_count",
    "payload",
    "review_interval_days",
    "last_reviewed",
    "content_hash",
    "categories",
    "needs_human_review",
}


# control characters (Unicode category Cc) other than tab, newline and carriage return
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Invisible characters that change how text reads without being seen: bidi
# embeddings, overrides and isolates (a title can display reversed), zero-width
# space, word joiner and stray byte-order marks. Removed from every text field.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
# Half of a UTF-16 pair, as a JSON "\ud800" escape can make: not text any page can carry.
_SURROGATES = re.compile("[\ud800-\udfff]")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
MAX_KEY = 64  # longer keys are no field of ours; they are reported, never cached


def normalize_key(key: str) -> str:
    return _normalize_key(key) if len(key) <= MAX_KEY else key.strip().lower()


@lru_cache(maxsize=4096)  # the same few dozen keys in every document
def _normalize_key(key: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key.strip())
    snake = re.sub(r"[\s\-]+", "_", snake).lower()
    return _ALIASES.get(snake, _ALIASES.get(snake.replace("_", ""), snake))


@lru_cache(maxsize=8192)  # tags and names repeat across articles
def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-")


def clean_text(text: str) -> str:
    """Text as it should be stored: NFC, without invisible formatting characters."""
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", text))


def tag_display(text: str) -> str:
    """The one form a tag is shown in: clean, lower case, single spaces."""
    return " ".join(clean_text(text).lower().split())


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "nothing" if value is None else type(value).__name__


def _shown(value: object) -> str:
    """A value quoted in a message, never longer than a line."""
    text = value if isinstance(value, str) else _kind(value)
    return repr(text[:60] + "..." if len(text) > 60 else text)


class _Collector:
    """The field schema: each kind of field is checked one way, whatever the
    reader, and every problem is gathered so that one pass reports all of them."""

    def __init__(self, limits: SourceLimits, positions: Mapping[str, tuple[int, int]]) -> None:
        self.problems: list[Problem] = []
        self.limits = limits
        self.positions = positions

    def add(self, field_name: str, message: str) -> None:
        root = re.split(r"[.\[]", field_name, maxsplit=1)[0]
        line, column = self.positions.get(root, (0, 0))
        self.problems.append(Problem(field_name, message, line, column))

    def text(
        self, raw: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 10_000, line: bool = False
    ) -> str:
        value = raw.get(name)
        if value is None or value == "":
            if required:
                self.add(name, "is required")
            return ""
        if not isinstance(value, str):
            self.add(name, f"must be text, got {_kind(value)}")
            return ""
        text = clean_text(value).strip()
        if line:
            text = " ".join(text.split())
        if required and not text:
            self.add(name, "is required")
        if len(text) > limit:
            self.add(name, f"is {len(text)} characters long; the limit is {limit}")
        if _CONTROL_CHARS.search(text):
            self.add(name, "contains control characters")
        if _SURROGATES.search(text):
            self.add(name, "contains half of a UTF-16 surrogate pair (a broken \\u escape)")
        return text

    def text_list(
        self, raw: Mapping[str, Any], name: str, *, commas: bool = False, limit: int = 1000, most: int = 0
    ) -> tuple[str, ...]:
        value = raw.get(name)
        most = most or self.limits.list_items
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            # "a, b, c" is a common way to write a short list of names in front matter
            items: Sequence[Any] = [v for v in (s.strip() for s in value.split(",")) if v] if commas else [value]
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            self.add(name, f"must be a list of text, got {_kind(value)}")
            return ()
        if len(items) > most:
            self.add(name, f"has {len(items)} items; the limit is {most}")
            return ()
        out: list[str] = []
        for i, item in enumerate(items):
            text = self.text({f"{name}[{i}]": item}, f"{name}[{i}]", limit=limit)
            if text and text not in out:
                out.append(text)
        return tuple(out)

    def when(self, raw: Mapping[str, Any], name: str) -> datetime | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, date):
            moment = datetime.combine(value, time(), tzinfo=UTC)
        elif isinstance(value, str):
            text = value.strip()
            try:
                if len(text) > 40:
                    raise ValueError("too long")
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
                moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
                moment = moment.astimezone(UTC)
            except (ValueError, OverflowError) as exc:
                self.add(name, f"{_shown(text)} is not a date: {exc} (use YYYY-MM-DD or ISO 8601)")
                return None
        else:
            self.add(name, f"must be a date, got {_kind(value)}")
            return None
        if not 1900 <= moment.year <= 9998:
            self.add(name, f"{moment.date().isoformat()} is outside the years 1900 to 9998")
            return None
        return moment

    def day(self, raw: Mapping[str, Any], name: str) -> date | None:
        moment = self.when(raw, name)
        return moment.date() if moment else None

    def integer(self, raw: Mapping[str, Any], name: str, *, minimum: int = 0, maximum: int = 0) -> int | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        maximum = maximum or 10**self.limits.number_digits - 1
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.split():
            first = value.split()[0]  # "5 min"
            if _WHOLE_NUMBER.fullmatch(first) and len(first) <= self.limits.number_digits + 1:
                number = int(first)
        if number is None:
            self.add(name, f"must be a whole number, got {_shown(value)}")
            return None
        if not minimum <= number <= maximum:
            self.add(name, f"must be between {minimum} and {maximum}, got {number}")
            return None
        return number

    def boolean(self, raw: Mapping[str, Any], name: str) -> bool:
        value = raw.get(name, False)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no", "1", "0", ""}:
            return value.strip().lower() in {"true", "yes", "1"}
        if value is None:
            return False
        self.add(name, f"must be true or false, got {_shown(value)}")
        return False

    def meta(self, value: Any) -> MetaValue:
        """A structured value as readable text (the reader already bounded its depth and size)."""
        if isinstance(value, Mapping):
            return tuple((str(self.meta(str(k))), self.meta(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return tuple(("", self.meta(v)) for v in value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if value is None:
            return "none"
        return clean_text(_SURROGATES.sub("\ufffd", _CONTROL_CHARS.sub("", str(value))))[:10_000]


def _mapping_items(value: Any) -> list[tuple[str, Any]] | None:
    """A mapping given as a dict, or as a list of "key: value" strings or one-key dicts."""
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        pairs: list[tuple[str, Any]] = []
        for item in value:
            if isinstance(item, Mapping):
                pairs.extend((str(k), v) for k, v in item.items())
            elif isinstance(item, str) and ":" in item:
                k, _, v = item.partition(":")
                pairs.append((k.strip(), v.strip()))
            else:
                return None
        return pairs
    return None


def _tags(c: _Collector, raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Tags in their display form, one per tag page: "Redis Caching" and "redis  caching" are one tag."""
    tags: dict[str, str] = {}
    for i, tag in enumerate(c.text_list(raw, "tags", commas=True, limit=100, most=c.limits.list_items)):
        shown = tag_display(tag)
        key = slugify(shown)
        if not key:
            c.add(f"tags[{i}]", f"{_shown(tag)} has no letters or digits to make a tag URL from")
        tags.setdefault(key, shown)
    if len(tags) > c.limits.tags:
        c.add("tags", f"has {len(tags)} tags; the limit is {c.limits.tags} (EDGEPUB_MAX_TAGS)")
    return tuple(tags.values())


def build_article(
    source_key: str,
    raw: Mapping[str, Any],
    *,
    default_slug: str,
    limits: SourceLimits = SourceLimits(),  # noqa: B008
    positions: Mapping[str, tuple[int, int]] | None = None,
) -> Article:
    """Validate a reader's mapping into an Article, or raise InvalidSource listing every problem."""
    fields_in = {normalize_key(str(k)): v for k, v in raw.items()}
    c = _Collector(limits, {normalize_key(k): v for k, v in (positions or {}).items()})
    warnings = tuple(
        f"unknown field {_shown(_SURROGATES.sub('?', k))} ignored" for k in sorted(fields_in) if k not in _KNOWN
    )

    title = c.text(fields_in, "title", required=True, limit=300, line=True)
    body = fields_in.get("body") or ""
    if not isinstance(body, str):
        c.add("body", f"must be text, got {_kind(body)}")
        body = ""
    elif _SURROGATES.search(body):
        c.add("body", "contains half of a UTF-16 surrogate pair (a broken \\u escape)")
        body = ""

    slug = c.text(fields_in, "slug", limit=MAX_SLUG + 10)
    if slug:
        if not SLUG_RE.match(slug) or len(slug) > MAX_SLUG:
            c.add(
                "slug",
                f"{_shown(slug)} is not a slug: use lowercase letters, digits and single hyphens, "
                f"at most {MAX_SLUG} characters",
            )
    else:
        slug = default_slug or slugify(title)
        if not slug:
            c.add("slug", "cannot be derived from the file name or the title; set slug explicitly")

    revision_raw = fields_in.get("revision") or {}
    rev_pairs = _mapping_items(revision_raw) if revision_raw else []
    if rev_pairs is None:
        c.add("revision", "must be a mapping with status, version, last reviewed, review interval")
        rev_pairs = []
    rev = {normalize_key(k): v for k, v in rev_pairs}
    for key in ("last_reviewed", "review_interval_days"):
        if key in fields_in and key not in rev:
            rev[key] = fields_in[key]
    revision = Revision(
        status=c.text(rev, "status", limit=100),
        version=c.text(rev, "version", limit=100),
        last_reviewed=c.day(rev, "last_reviewed"),
        review_interval_days=c.integer(rev, "review_interval_days", minimum=1, maximum=36_500),
    )

    scores: list[tuple[str, int]] = []
    score_pairs = _mapping_items(fields_in.get("scores") or {})
    if score_pairs is None:
        c.add("scores", "must be a mapping of name to number")
    else:
        for name, value in score_pairs:
            number = c.integer({f"scores.{name}": value}, f"scores.{name}")
            if number is not None:
                scores.append((normalize_key(name), number))

    flags: list[tuple[str, bool]] = []
    flags_raw = fields_in.get("flags") or {}
    if "needs_human_review" in fields_in and isinstance(flags_raw, Mapping):
        flags_raw = {**flags_raw, "needs_human_review": fields_in["needs_human_review"]}
    flag_pairs = _mapping_items(flags_raw)
    if flag_pairs is None:
        c.add("flags", "must be a mapping of name to true/false")
    else:
        for name, value in flag_pairs:
            flags.append((normalize_key(name), c.boolean({f"flags.{name}": value}, f"flags.{name}")))

    images: list[Image] = []
    images_raw = fields_in.get("images") or []
    if not isinstance(images_raw, (list, tuple)):
        c.add("images", "must be a list of {url, caption, alt, source}")
        images_raw = []
    for i, item in enumerate(images_raw):
        where = f"images[{i}]"
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping):
            c.add(where, "must be a mapping with url, caption, alt, source")
            continue
        img = {normalize_key(str(k)): v for k, v in item.items()}
        url = c.text(img, "url", required=True, limit=2048)
        if url and not _SAFE_URL.match(url):
            c.add(f"{where}.url", f"{_shown(url)} is not an http(s) URL")
            continue
        caption = c.text(img, "caption", limit=500)
        sizes = {f"{where}.{n}": img.get(n) for n in ("width", "height")}
        width = c.integer(sizes, f"{where}.width", minimum=1, maximum=20000)
        height = c.integer(sizes, f"{where}.height", minimum=1, maximum=20000)
        images.append(
            Image(
                url=url,
                caption=caption,
                alt=c.text(img, "alt", limit=500) or caption,
                source=c.text(img, "source", limit=200),
                width=width if width and height else None,
                height=height if width and height else None,
            )
        )

    entities: list[Entity] = []
    entities_raw = fields_in.get("entities") or []
    if not isinstance(entities_raw, (list, tuple)):
        c.add("entities", "must be a list of {name, type}")
        entities_raw = []
    for i, item in enumerate(entities_raw):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            c.add(f"entities[{i}]", "must be a mapping with name and type")
            continue
        ent = {normalize_key(str(k)): v for k, v in item.items()}
        name = c.text(ent, "name", required=True, limit=200)
        if name:
            entities.append(Entity(name=name, type=c.text(ent, "type", limit=100)))

    aliases: list[str] = []
    for i, alias in enumerate(c.text_list(fields_in, "aliases", commas=True, limit=500, most=limits.aliases)):
        where = f"aliases[{i}]"
        path = "/" + alias.strip("/") + "/"
        segments = alias.strip("/").split("/")
        if alias.startswith(("http:", "https:", "//")) or "\\" in alias or any(s in ("", ".", "..") for s in segments):
            c.add(where, f"{_shown(alias)} must be a site path like /old/path/ (no scheme, no '..')")
        elif not all(re.fullmatch(r"[A-Za-z0-9._~-]+", s) for s in segments):
            c.add(where, f"{_shown(alias)} may contain only letters, digits and . _ ~ - between slashes")
        else:
            aliases.append(path)

    payload_raw = fields_in.get("payload") or {}
    payload_pairs = _mapping_items(payload_raw)
    if payload_pairs is None:
        c.add("payload", f"must be a mapping of names to values, got {_kind(payload_raw)}")
        payload_pairs = []
    view_count = c.integer(fields_in, "view_count")
    reading_time = c.integer(fields_in, "reading_time", minimum=1, maximum=10_000)
    if reading_time is None:
        reading_time = max(1, math.ceil(len(body.split()) / WORDS_PER_MINUTE))

    article = Article(
        source_key=source_key,
        slug=slug,
        title=title,
        body=body,
        summary=c.text(fields_in, "summary", limit=2000),
        date=c.when(fields_in, "date"),
        lastmod=c.when(fields_in, "lastmod"),
        publish_date=c.when(fields_in, "publish_date"),
        expiry_date=c.when(fields_in, "expiry_date"),
        draft=c.boolean(fields_in, "draft"),
        tags=_tags(c, fields_in),
        topic=c.text(fields_in, "topic", limit=300),
        problem=c.text(fields_in, "problem", limit=300),
        scenario=c.text(fields_in, "scenario", limit=300),
        stack=c.text_list(fields_in, "stack", commas=True, limit=200),
        tools=c.text_list(fields_in, "tools", commas=True, limit=200),
        code_language=c.text(fields_in, "code_language", limit=50),
        difficulty=c.text(fields_in, "difficulty", limit=50),
        reading_time=reading_time,
        owner=c.text(fields_in, "owner", limit=200),
        revision=revision,
        scores=tuple(scores),
        images=tuple(images),
        entities=tuple(entities),
        checklist=c.text_list(fields_in, "checklist"),
        flags=tuple(flags),
        notes=c.text_list(fields_in, "notes"),
        aliases=tuple(aliases),
        outline=c.text_list(fields_in, "outline"),
        brief=c.text(fields_in, "brief", limit=2000),
        reference=c.text(fields_in, "reference", limit=200),
        view_count=view_count,
        payload=tuple((normalize_key(k), c.meta(v)) for k, v in payload_pairs),
        warnings=warnings,
    )
    if article.expiry_date and article.publish_date and article.expiry_date <= article.publish_date:
        c.add("expiry_date", "is not after publish_date")
    if c.problems:
        raise InvalidSource(source_key, c.problems)
    return article
