"""The user's site: `edgepub.toml` at the root of the sources bucket (or of a local
source folder), read into one typed `SiteConfig`.

Every key is optional; the README (Your site: edgepub.toml) lists them. A file that is
not valid TOML, or a key with the wrong type, is an `InvalidSource` naming
`edgepub.toml`, the key and (for syntax errors) the line: the site keeps the
configuration it had. Deployment settings in the environment win over the file
(`EDGEPUB_SITE_URL` over `base_url`, `EDGEPUB_SITE_TITLE` over `title`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any

from edgepub.errors import InvalidSource, Problem
from edgepub.plan import Layout

CONFIG_KEY = "edgepub.toml"
MAX_CONFIG_BYTES = 64 * 1024

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")  # a BCP 47 tag, as <html lang> wants
_HANDLE = re.compile(r"^@?[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class MenuItem:
    name: str
    url: str  # a site path ("/tags/") or an absolute http(s) URL


@dataclass(frozen=True)
class SiteConfig:
    title: str = ""
    description: str = ""
    base_url: str = ""
    language: str = "en"
    locale: str = ""  # og:locale, "en_GB"; from the language when not given
    publisher_name: str = ""
    publisher_logo: str = ""  # a file under theme/static/, or an absolute URL
    favicon: str = ""  # likewise
    share_image: str = ""  # the default og:image / twitter:image; likewise
    menu: tuple[MenuItem, ...] = ()
    social: tuple[tuple[str, str], ...] = ()  # ("twitter", "@example"), ("github", "example"), ...
    date_format: str = "%Y-%m-%d"  # strftime
    footer: str = ""  # plain text; the built-in theme says nothing about edgepub
    page_size: int = 0  # 0: the built-in Layout's
    home_size: int = 0
    tag_front_size: int = 0
    feed_size: int = 0

    def layout(self, base: Layout | None = None) -> Layout:
        """The page sizes this file sets, over `base` (sizes apply to new archive positions;
        `edgepub relayout` lays an older site out again)."""
        base = base or Layout()
        sizes = {
            f.name: getattr(self, f.name) for f in fields(Layout) if f.name in _SIZES and getattr(self, f.name, 0) > 0
        }
        return Layout(**{**{f.name: getattr(base, f.name) for f in fields(Layout)}, **sizes})

    @property
    def twitter(self) -> str:
        handle = dict(self.social).get("twitter", "") or dict(self.social).get("x", "")
        return handle if not handle or handle.startswith("@") else "@" + handle

    @property
    def og_locale(self) -> str:
        if self.locale:
            return self.locale
        parts = self.language.replace("_", "-").split("-")
        if len(parts) > 1 and len(parts[1]) == 2:
            return f"{parts[0].lower()}_{parts[1].upper()}"
        # Open Graph wants language_TERRITORY: a bare language gets its usual territory
        language = parts[0].lower()
        return _TERRITORY.get(language, f"{language}_{language.upper()}")


_TERRITORY = {
    "en": "en_US",
    "ja": "ja_JP",
    "zh": "zh_CN",
    "ko": "ko_KR",
    "sv": "sv_SE",
    "da": "da_DK",
    "nb": "nb_NO",
    "cs": "cs_CZ",
    "el": "el_GR",
    "he": "he_IL",
    "uk": "uk_UA",
    "vi": "vi_VN",
    "ar": "ar_AR",
    "hi": "hi_IN",
    "fa": "fa_IR",
    "sl": "sl_SI",
    "et": "et_EE",
}
_SIZES = ("page_size", "home_size", "tag_front_size", "feed_size")
_STRINGS = ("title", "description", "base_url", "language", "locale", "favicon", "share_image", "date_format", "footer")


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(key, message))

    def text(self, table: dict[str, Any], key: str, name: str, limit: int = 2000) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(name, f"must be a string, not {type(value).__name__}")
            return None
        if len(value) > limit or any(c in value for c in "\x00\r"):
            self.fail(name, f"must be one string of at most {limit} characters")
            return None
        return value.strip()


def parse_config(data: bytes, name: str = CONFIG_KEY) -> SiteConfig:
    """`edgepub.toml` as a SiteConfig, or InvalidSource listing every problem."""
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidSource.single(name, "file", f"is {len(data)} bytes; the limit is {MAX_CONFIG_BYTES}")
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidSource.single(name, "file", f"is not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        line, column = _position(str(exc))
        raise InvalidSource(name, [Problem("file", f"is not valid TOML: {exc}", line, column)]) from None
    r = _Reader()
    values: dict[str, Any] = {}
    for key in _STRINGS:
        value = r.text(raw, key, key)
        if value is not None:
            values[key] = value
    publisher = raw.get("publisher", {})
    if not isinstance(publisher, dict):
        r.fail("publisher", "must be a table: [publisher] with name and logo")
        publisher = {}
    for key in ("name", "logo"):
        value = r.text(publisher, key, f"publisher.{key}")
        if value is not None:
            values[f"publisher_{key}"] = value
    pages = raw.get("pages", {})
    if not isinstance(pages, dict):
        r.fail("pages", "must be a table: [pages] with page_size, home_size, ...")
        pages = {}
    for key in _SIZES:
        value = pages.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
            r.fail(f"pages.{key}", "must be a whole number from 1 to 1000")
        else:
            values[key] = value
    values["menu"] = tuple(_menu(raw.get("menu", []), r))
    social = raw.get("social", {})
    if not isinstance(social, dict):
        r.fail("social", 'must be a table: [social] with twitter = "@handle", github = "name", ...')
        social = {}
    pairs = []
    for network in sorted(social):
        text = r.text(social, network, f"social.{network}", limit=200)
        if text is None:
            continue
        if network in ("twitter", "x") and not _HANDLE.match(text):
            r.fail(f"social.{network}", f"{text!r} is not a handle like @example")
            continue
        pairs.append((str(network), text))
    values["social"] = tuple(pairs)
    unknown = sorted(set(raw) - {*_STRINGS, "publisher", "pages", "menu", "social"})
    for key in unknown:
        r.fail(key, "is not a setting edgepub knows (the README lists them under 'Your site')")
    config = SiteConfig(**values)
    _check(config, r)
    if r.problems:
        raise InvalidSource(name, r.problems)
    return config


def _menu(items: object, r: _Reader) -> list[MenuItem]:
    if not isinstance(items, list):
        r.fail("menu", 'must be a list of tables: [[menu]] name = "About" url = "/about/"')
        return []
    menu = []
    for i, item in enumerate(items[:50], 1):
        if not isinstance(item, dict):
            r.fail(f"menu[{i}]", "must be a table with name and url")
            continue
        name, url = r.text(item, "name", f"menu[{i}].name", 200), r.text(item, "url", f"menu[{i}].url", 2000)
        if not name or not url:
            r.fail(f"menu[{i}]", "needs a name and a url")
            continue
        if not (url.startswith("/") and not url.startswith("//")) and not url.startswith(("https://", "http://")):
            r.fail(f"menu[{i}].url", f"{url!r} must be a site path (/about/) or an http(s) URL")
            continue
        menu.append(MenuItem(name, url))
    return menu


def _check(config: SiteConfig, r: _Reader) -> None:
    if config.base_url and (not config.base_url.startswith(("http://", "https://")) or config.base_url.endswith("/")):
        r.fail("base_url", f"{config.base_url!r} must be scheme://host with no trailing slash")
    if not _LANGUAGE.match(config.language):
        r.fail("language", f"{config.language!r} is not a language tag like en or en-GB")
    if config.locale and not re.match(r"^[a-z]{2,3}_[A-Z]{2}$", config.locale):
        r.fail("locale", f"{config.locale!r} is not a locale like en_GB")
    try:
        from datetime import date

        date(2026, 1, 31).strftime(config.date_format)
    except ValueError as exc:
        r.fail("date_format", f"{config.date_format!r} is not a strftime format: {exc}")
    for key in ("publisher_logo", "favicon", "share_image"):
        value = getattr(config, key)
        if value and (value.startswith(("/", "..")) or "\\" in value or "/../" in value or value.startswith("//")):
            name = "publisher.logo" if key == "publisher_logo" else key
            r.fail(name, "must be a file under theme/static/ or an http(s) URL")


def _position(message: str) -> tuple[int, int]:
    found = re.search(r"line (\d+), column (\d+)", message)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)
