"""A folder of realistic bad articles, and what edgepub must make of each.

Every source here is either published safely (its text shown as text) or
rejected with a message naming the file and the field. The good ones beside
them must all be published. Used by the unit tests of `validate` and `build`
and by the pipeline test on the embedded stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Hostile:
    name: str  # file name under content/
    data: bytes
    expect: str  # "rejected" or "published"
    field: str = ""  # for rejected: the field the problem names
    shows: str = ""  # for published: text the page must show, escaped as text


def _front(fields: str, body: str = "Body.\n") -> bytes:
    return f"---\n{fields}\n---\n{body}".encode()


# 4 KB of YAML that PyYAML's safe loader expands to 60**9 references: gigabytes once
# turned into text. edgepub refuses aliases before constructing anything.
ALIAS_BOMB = (
    b"---\ntitle: bomb\npayload:\n"
    + b'  a: &a ["'
    + b"lol" * 680
    + b'"]\n'
    + b"".join(f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 60)}]\n".encode() for i in range(8))
    + b"---\nx\n"
)


GOOD = (
    Hostile("good-one.md", _front("title: Good one\ndate: 2026-03-01\ntags: [cdn]"), "published", shows="Good one"),
    Hostile("good-two.json", json.dumps({"title": "Good two", "body": "Text.", "tags": ["cdn"]}).encode(), "published"),
    Hostile("good-three.txt", b"good three\nA plain paragraph.\n", "published"),
)

HOSTILE = (
    # impossible dates and numbers
    Hostile("feb-30.md", _front("title: Feb 30\ndate: 2026-02-30"), "rejected", "date"),
    Hostile("month-13.md", _front("title: Month 13\ndate: 2026-13-01"), "rejected", "date"),
    Hostile("lastmod-feb-30.md", _front("title: L\nlastmod: 2026-02-30T10:00:00"), "rejected", "lastmod"),
    Hostile("year-one.md", _front("title: Y\ndate: 0001-01-01T00:00:00+05:00"), "rejected", "date"),
    Hostile("huge-int.md", _front("title: Huge\nview count: " + "9" * 5000), "rejected", "view_count"),
    Hostile("huge-int.json", b'{"title": "Huge", "view count": 1' + b"0" * 5000 + b"}", "rejected", "json"),
    Hostile("nan.json", b'{"title": "NaN", "reading time": NaN}', "rejected", "json"),
    # huge and deep structures
    Hostile("deep.json", b'{"title": "Deep", "payload": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "rejected", "json"),
    Hostile("deep.md", _front("title: Deep\npayload: " + "[" * 2000 + "]" * 2000), "rejected", "front matter"),
    Hostile("alias-bomb.md", ALIAS_BOMB, "rejected", "front matter"),
    Hostile(
        "many-tags.md",
        _front("title: Tags\ntags: [" + ", ".join(f"t{i}" for i in range(150)) + "]"),
        "rejected",
        "tags",
    ),
    Hostile("too-big.md", _front("title: Big", "x" * (2 * 1024 * 1024 + 10)), "rejected", "size"),
    # types
    Hostile("title-number.json", b'{"title": 42, "body": "x"}', "rejected", "title"),
    Hostile("body-number.json", b'{"title": "t", "body": 5}', "rejected", "body"),
    Hostile("array.json", b'[{"title": "t"}]', "rejected", "json"),
    Hostile("list-front-matter.md", b"---\n- a\n- b\n---\nx\n", "rejected", "front matter"),
    Hostile(
        "python-tag.md", _front("title: t\nx: !!python/object/apply:os.system ['echo hi']"), "rejected", "front matter"
    ),
    Hostile("twice.md", _front("title: one\ntitle: two"), "rejected", "front matter"),
    Hostile("unclosed.md", b"---\ntitle: [never closes\n---\nx\n", "rejected", "front matter"),
    Hostile("no-close.md", b"---\ntitle: t\nbody without end\n", "rejected", "front matter"),
    Hostile("surrogate.json", b'{"title": "half \\ud800 pair", "body": "x"}', "rejected", "title"),
    # encodings, binary, empty
    Hostile("latin1.md", "---\ntitle: caf\xe9\n---\nx\n".encode("latin-1"), "rejected", "encoding"),
    Hostile("utf16.md", "---\ntitle: t\n---\nx\n".encode("utf-16"), "rejected", "encoding"),
    Hostile("png.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "rejected", "encoding"),
    Hostile("empty.md", b"", "rejected", "file"),
    Hostile("empty.json", b"", "rejected", "file"),
    Hostile("blank.txt", b"  \n\n", "rejected", "file"),
    # paths and slugs
    Hostile("reserved.md", _front("title: Tags page\nslug: tags"), "rejected", "slug"),
    Hostile("alias-listing.md", _front("title: Listing\naliases: [page/1, tags/cdn]"), "rejected", "aliases[0]"),
    Hostile("alias-escape.md", _front("title: Escape\naliases: ['../../etc/passwd']"), "rejected", "aliases[0]"),
    Hostile("alias-offsite.md", _front("title: Offsite\naliases: ['//evil.example/x']"), "rejected", "aliases[0]"),
    Hostile("same-slug.md", _front("title: Same slug\nslug: good-one"), "rejected", "slug"),
    Hostile("alias-taken.md", _front("title: Alias taken\naliases: [/good-two/]"), "rejected", "aliases[0]"),
    Hostile("bad-image.md", _front("title: Image\nimages: ['javascript:alert(1)']"), "rejected", "images[0].url"),
    # stalls: patterns that backtracked for minutes
    Hostile("pipes.txt", b"Pipes\nA line " + b"| " * 60 + b"x\n", "published", shows="Pipes"),
    Hostile("hashes.md", b"# a" + b" #" * 50_000 + b"\n\nText.\n", "rejected", "title"),
    # injection: published, shown as text
    Hostile(
        "injection.md",
        _front(
            'title: "<script>alert(1)</script> {{ 7*7 }}"\nsummary: "{% raw %}x"',
            "{{ 7*7 }} <img src=x onerror=alert(1)>\n",
        ),
        "published",
        shows="&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}",
    ),
    Hostile("rtl.md", _front('title: "a\u202eevil\u200b title"'), "published", shows="aevil title"),
    Hostile(
        "payload.md", _front("title: Payload\npayload: {a: {b: 1, c: [x, true]}}"), "published", shows="<li>b: 1</li>"
    ),
)

ALL = GOOD + HOSTILE
