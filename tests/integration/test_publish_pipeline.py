"""The publish function end to end on the embedded stack: boto3 uploads to the
moto server, S3 notifies SQS, the function runs from its queue, pages land in
the site bucket and purges reach the Cloudflare emulator, all over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from edgepub.embedded.stack import EmbeddedStack

pytestmark = pytest.mark.embedded

GOOD = b"---\ntitle: Hello edge\ndate: 2026-10-01\ntags: [cdn]\n---\nFirst version.\n"
URL = "https://www.example.com"
# what the first article of a site writes: its page and the site's pages
FIRST_SITE = {
    "hello/index.html",
    "index.html",
    "page/1/index.html",  # a redirect to the home page, which shows the same list
    "tags/index.html",
    "tags/cdn/index.html",
    "tags/cdn/page/1/index.html",  # likewise, to the tag page
    "tags/cdn/feed.xml",
    "feed.xml",
    "sitemap.xml",
    "sitemaps/1.xml",
    "sitemaps/pages.xml",
    "robots.txt",
    "404.html",
}


def upload(stack: EmbeddedStack, key: str, body: bytes) -> None:
    stack.s3.put_object(Bucket=stack.sources_bucket, Key=key, Body=body)


def site_keys(stack: EmbeddedStack) -> list[str]:
    return sorted(o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.site_bucket).get("Contents", []))


def report(stack: EmbeddedStack, key: str) -> Any:
    body = stack.s3.get_object(Bucket=stack.sources_bucket, Key=f"rejected/{key}.json")["Body"].read()
    return json.loads(body)


def test_upload_publishes_page_with_headers_and_purges_its_url(stack):
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()

    head = stack.s3.head_object(Bucket=stack.site_bucket, Key="hello/index.html")
    assert head["ContentType"] == "text/html; charset=utf-8"
    cache = head["CacheControl"]
    assert "s-maxage=31536000" in cache and "max-age=300" in cache and "stale-if-error" in cache
    assert head["Metadata"]["source-key"] == "content/hello.md"
    assert head["Metadata"]["source-version"]
    assert len(head["Metadata"]["content-hash"]) == 64
    assert "article:hello" in head["Metadata"]["cache-tags"]
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="hello/index.html")["Body"].read().decode()
    assert "<h1>Hello edge</h1>" in page and "First version." in page
    assert site_keys(stack) == sorted(FIRST_SITE)
    feed = stack.s3.head_object(Bucket=stack.site_bucket, Key="feed.xml")
    assert feed["ContentType"] == "application/atom+xml; charset=utf-8"
    purged = stack.cloudflare.state.purged_urls()
    assert sorted(purged) == sorted(URL + "/" + k.removesuffix("index.html") for k in FIRST_SITE)


def test_unchanged_reupload_writes_nothing_and_purges_nothing(stack):
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    versions_before = stack.s3.list_object_versions(Bucket=stack.site_bucket)["Versions"]

    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()

    assert stack.s3.list_object_versions(Bucket=stack.site_bucket)["Versions"] == versions_before
    assert len(stack.cloudflare.state.purges) == 1


def test_edit_rewrites_and_purges_and_keeps_the_old_version(stack):
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    upload(stack, "content/hello.md", GOOD.replace(b"First", b"Second"))
    stack.run_until_idle()

    versions = stack.s3.list_object_versions(Bucket=stack.site_bucket, Prefix="hello/")["Versions"]
    assert len(versions) == 2
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="hello/index.html")["Body"].read()
    assert b"Second version." in page
    # a body edit shows only on the article's page: only it is rewritten and purged
    assert stack.cloudflare.state.purges[-1].items == [f"{URL}/hello/"]
    assert len(stack.s3.list_object_versions(Bucket=stack.site_bucket)["Versions"]) == len(FIRST_SITE) + 1


def test_delete_unpublishes_and_purges(stack):
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    stack.s3.delete_object(Bucket=stack.sources_bucket, Key="content/hello.md")
    stack.run_until_idle()

    # the article, its tag's pages and feed and the now empty sitemap shard go; the site pages stay, without it
    gone = {
        "hello/index.html",
        "tags/cdn/index.html",
        "tags/cdn/page/1/index.html",
        "tags/cdn/feed.xml",
        "sitemaps/1.xml",
    }
    # /page/1/ keeps its number and stops being a redirect (home shows nothing): the archive's sitemap lists it
    assert site_keys(stack) == sorted((FIRST_SITE - gone) | {"sitemaps/archive-1.xml"})
    home = stack.s3.get_object(Bucket=stack.site_bucket, Key="index.html")["Body"].read()
    assert b"Hello edge" not in home
    versions = stack.s3.list_object_versions(Bucket=stack.site_bucket, Prefix="hello/")
    assert len(versions["Versions"]) == 1 and len(versions["DeleteMarkers"]) == 1  # old page kept for rollback
    assert f"{URL}/hello/" in stack.cloudflare.state.purges[-1].items


@pytest.mark.parametrize(
    ("name", "body", "field", "words"),
    [
        ("bad-yaml.md", b"---\ntitle: [x\n---\n", "front matter", "not valid YAML"),
        ("no-title.md", b"---\ndate: 2026-01-01\n---\nbody\n", "title", "is required"),
        ("latin1.md", "---\ntitle: caf\xe9\n---\n".encode("latin-1"), "encoding", "not valid UTF-8"),
        ("bad-slug.md", b"---\ntitle: t\nslug: ../../site/index\n---\n", "slug", "is not a slug"),
    ],
)
def test_bad_input_is_reported_and_nothing_is_published(stack, name, body, field, words):
    key = f"content/{name}"
    upload(stack, key, body)
    upload(stack, "content/hello.md", GOOD)  # another article in the same run still publishes
    stack.run_until_idle()

    found = report(stack, key)
    assert found["source"] == key
    [problem] = found["problems"]
    assert problem["field"] == field and words in problem["message"]
    assert site_keys(stack) == sorted(FIRST_SITE)
    # the source stays where the editor put it
    assert stack.s3.head_object(Bucket=stack.sources_bucket, Key=key)["ContentLength"] == len(body)
    # the record was handled, not retried: nothing is left on the queue or the DLQ
    assert stack.queue_depth() == 0


def test_fixing_a_rejected_source_publishes_it_and_clears_the_report(stack):
    upload(stack, "content/hello.md", b"---\ntitle: [x\n---\n")
    stack.run_until_idle()
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    assert site_keys(stack) == sorted(FIRST_SITE)
    listed = stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="rejected/").get("KeyCount", 0)
    assert listed == 0


def test_a_broken_edit_leaves_the_live_page_as_it_was(stack):
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    upload(stack, "content/hello.md", b"---\ntitle: [x\n---\n")
    stack.run_until_idle()
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="hello/index.html")["Body"].read()
    assert b"First version." in page
    assert report(stack, "content/hello.md")["problems"][0]["field"] == "front matter"


def test_oversized_upload_is_rejected_without_reading_it():
    with EmbeddedStack.start(parameters={"MaxSourceBytes": "1024"}) as stack:
        upload(stack, "content/big.md", b"---\ntitle: big\n---\n" + b"x" * 2000)
        stack.run_until_idle()
        [problem] = report(stack, "content/big.md")["problems"]
        assert problem["field"] == "size" and "the limit is 1024" in problem["message"]
        assert site_keys(stack) == []


def test_key_with_spaces_and_plus_is_decoded(stack):
    upload(stack, "content/my post+plus.md", GOOD)
    stack.run_until_idle()
    assert "my-post-plus/index.html" in site_keys(stack)
    head = stack.s3.head_object(Bucket=stack.site_bucket, Key="my-post-plus/index.html")
    assert head["Metadata"]["source-key"] == "content/my%20post%2Bplus.md"


def test_key_trying_to_escape_its_prefix_is_rejected(stack):
    upload(stack, "content/../site/index.md", GOOD)
    stack.run_until_idle()
    assert site_keys(stack) == []
    [report_key] = [
        o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.sources_bucket, Prefix="rejected/")["Contents"]
    ]
    assert ".." not in report_key.split("/")
    assert (
        json.loads(stack.s3.get_object(Bucket=stack.sources_bucket, Key=report_key)["Body"].read())["problems"][0][
            "field"
        ]
        == "key"
    )


def test_hostile_body_is_published_inert(stack):
    upload(
        stack,
        "content/hostile.md",
        b"---\ntitle: t\n---\n<script>alert(1)</script>\n\n"
        b"[x](javascript:alert(1)) {{ 7*7 }} {% include 'base.html' %}\n",
    )
    stack.run_until_idle()
    page = stack.s3.get_object(Bucket=stack.site_bucket, Key="hostile/index.html")["Body"].read().decode()
    body = page.split('<div class="body">', 1)[1].split("</div>", 1)[0]
    assert "<script" not in body and "javascript:" not in body
    assert "{{ 7*7 }}" in body and "49" not in body


def test_s3_test_event_is_ignored(stack):
    # configuring the notification made S3 (moto, like AWS) send one test event already
    assert stack.run_until_idle() == 1
    sqs = stack.client("sqs")
    sqs.send_message(
        QueueUrl=stack.outputs["PublishQueueUrl"],
        MessageBody=json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.sources_bucket}),
    )
    assert stack.run_until_idle() == 1
    assert site_keys(stack) == []
    assert stack.queue_depth() == 0


def test_failed_purge_is_retried_until_it_succeeds(stack):
    stack.cloudflare.state.fail_next(503, 429)
    upload(stack, "content/hello.md", GOOD)
    stack.run_until_idle()
    # two failed attempts, then the third delivery of the record purged the pages it had already written
    assert sorted(stack.cloudflare.state.purged_urls()) == sorted(
        URL + "/" + k.removesuffix("index.html") for k in FIRST_SITE
    )
    assert [r["status"] for r in stack.cloudflare.state.rejected] == [503]
    assert stack.queue_depth() == 0
