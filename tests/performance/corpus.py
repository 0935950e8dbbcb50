"""A deterministic corpus in the seeds' shape, written twice: as edgepub sources
and as a Hugo site with comparable templates (article with post-meta box,
paginated listings, tag pages, RSS feed, sitemap)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

TOPICS = [
    f"{a} {b}"
    for a in ("redis", "varnish", "nginx", "cloudflare", "postgres", "s3", "lambda", "django")
    for b in ("caching", "queues", "deploys", "search", "images", "logging")
]
PROBLEMS = [
    "running scheduled tasks reliably",
    "handling background jobs",
    "purging only what changed",
    "keeping sessions out of the cache",
    "measuring response time",
    "rolling back a bad deploy",
]
TOOLS = ["redis", "ttl", "cache keys", "object cache", "git", "logs", "curl", "grafana", "wrk", "psql"]
WORDS = [
    "the",
    "first",
    "useful",
    "improvement",
    "is",
    "usually",
    "visibility",
    "collect",
    "the",
    "response",
    "time",
    "error",
    "rate",
    "cache",
    "status",
    "and",
    "database",
    "call",
    "count",
    "before",
    "changing",
    "code",
    "measure",
    "the",
    "before",
    "state",
    "apply",
    "the",
    "smallest",
    "safe",
    "change",
    "clear",
    "only",
    "the",
    "cache",
    "that",
    "matters",
    "and",
    "compare",
    "the",
    "result",
]


def article(i: int, rng: random.Random) -> tuple[dict[str, object], str]:
    topic = rng.choice(TOPICS)
    problem = rng.choice(PROBLEMS)
    when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=i * 5)
    tags = sorted({topic.split()[0], topic.split()[1], rng.choice(["cdn", "ops", "performance", "security"])})
    meta: dict[str, object] = {
        "title": f"{topic} notes {i}: {problem}",
        "date": when.isoformat(),
        "tags": tags,
        "summary": f"how to approach {problem} in a {topic} project, with measurements and a rollback plan.",
        "topic": f"{problem} / {topic}",
        "stack": [topic, "database"],
        "tools": sorted(rng.sample(TOOLS, 4)),
        "difficulty": rng.choice(["beginner", "intermediate", "advanced"]),
        "owner": rng.choice(["team-a", "team-b", "team-c"]),
        "revision": {
            "status": "reviewed",
            "version": f"1.{i % 9}.0",
            "last reviewed": (when + timedelta(days=30)).date().isoformat(),
        },
        "scores": {"quality": rng.randint(50, 99), "freshness": rng.randint(50, 99)},
        "images": [
            {
                "url": f"https://picsum.photos/seed/{i}-{n}/1200/630",
                "caption": f"{topic} figure {n}",
                "source": "picsum.photos",
            }
            for n in (1, 2)
        ],
        "entities": [{"name": topic, "type": "stack"}, {"name": problem, "type": "problem"}],
        "checklist": ["measure first", "change one thing", "purge only the affected route", "write it down"],
    }
    checklist = ["measure first", "change one thing", "purge only the affected route", "write it down"]
    meta["checklist"] = checklist
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 80))) + "." for _ in range(6)]
    body = "\n\n".join(
        [
            paragraphs[0],
            "## why this matters",
            *paragraphs[1:3],
            "## production checks",
            *paragraphs[3:],
            "## implementation checklist",
            "\n".join(f"- {c}" for c in checklist),
        ]
    )
    return meta, body + "\n"


def _yaml(meta: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def write(count: int, edgepub_dir: Path, hugo_dir: Path, seed: int = 1) -> None:
    rng = random.Random(seed)
    edgepub_dir.mkdir(parents=True, exist_ok=True)
    content = hugo_dir / "content" / "posts"
    content.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        meta, body = article(i, rng)
        name = f"article-{i:06d}.md"
        (edgepub_dir / name).write_text(f"---\n{_yaml(meta)}---\n{body}", encoding="utf-8")
        hugo_meta = {k: v for k, v in meta.items() if k in ("title", "date", "tags", "summary")}
        hugo_meta["params"] = {k: v for k, v in meta.items() if k not in hugo_meta}
        hugo_meta["slug"] = f"article-{i:06d}"
        (content / name).write_text(f"---\n{_yaml(hugo_meta)}---\n{body}", encoding="utf-8")
    _hugo_site(hugo_dir)


def _hugo_site(root: Path) -> None:
    (root / "config.toml").write_text(
        'baseURL = "https://www.example.com/"\ntitle = "edgepub"\npaginate = 20\ndisableKinds = ["section"]\n'
        '[permalinks]\n  posts = "/:slug/"\n[taxonomies]\n  tag = "tags"\n',
        encoding="utf-8",
    )
    layouts = root / "layouts" / "_default"
    layouts.mkdir(parents=True, exist_ok=True)
    (layouts / "baseof.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title>'
        '<link rel="alternate" type="application/rss+xml" href="{{ "index.xml" | absURL }}"></head>'
        '<body><header><a href="{{ "/" | absURL }}">{{ .Site.Title }}</a></header><main>{{ block "main" . }}{{ end }}'
        "</main></body></html>\n",
        encoding="utf-8",
    )
    (layouts / "single.html").write_text(
        '{{ define "main" }}<article><h1>{{ .Title }}</h1><p>{{ .Date.Format "2006-01-02" }}</p>{{ .Content }}'
        '{{ range .Params.images }}<figure><img src="{{ .url }}" alt="{{ .caption }}"><figcaption>{{ .caption }}'
        "</figcaption></figure>{{ end }}<aside><dl><dt>Topic</dt><dd>{{ .Params.topic }}</dd><dt>Stack</dt><dd><ul>"
        "{{ range .Params.stack }}<li>{{ . }}</li>{{ end }}</ul></dd><dt>Tools</dt><dd><ul>{{ range .Params.tools }}"
        "<li>{{ . }}</li>{{ end }}</ul></dd><dt>Checklist</dt><dd><ul>{{ range .Params.checklist }}<li>{{ . }}</li>"
        "{{ end }}</ul></dd><dt>Entities</dt><dd><ul>{{ range .Params.entities }}<li>{{ .name }} ({{ .type }})</li>"
        "{{ end }}</ul></dd></dl></aside>{{ $related := .Site.RegularPages.Related . | first 5 }}<section><h2>Similar"
        '</h2><ul>{{ range $related }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul></section>'
        "</article>{{ end }}\n",
        encoding="utf-8",
    )
    (layouts / "list.html").write_text(
        '{{ define "main" }}<h1>{{ .Title }}</h1><ol>{{ range .Paginator.Pages }}<li><a href="{{ .RelPermalink }}">'
        "{{ .Title }}</a> {{ .Summary | plainify | truncate 200 }}</li>{{ end }}</ol>"
        '{{ template "_internal/pagination.html" . }}'
        "{{ end }}\n",
        encoding="utf-8",
    )
    (layouts / "terms.html").write_text(
        '{{ define "main" }}<ul>{{ range .Data.Terms.Alphabetical }}<li><a href="{{ .Page.RelPermalink }}">'
        "{{ .Page.Title }}</a> ({{ .Count }})</li>{{ end }}</ul>{{ end }}\n",
        encoding="utf-8",
    )
    (root / "layouts" / "index.html").write_text(
        '{{ define "main" }}<ol>{{ range first 10 .Site.RegularPages.ByDate.Reverse }}'
        '<li><a href="{{ .RelPermalink }}">'
        "{{ .Title }}</a></li>{{ end }}</ol>{{ end }}\n",
        encoding="utf-8",
    )
