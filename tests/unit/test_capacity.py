"""The capacity model (tests/performance/capacity.py) against figures worked out by hand.

One publish here: 0.05 s of CPU and 45 calls, so 0.5 s on AWS at 10 ms a call. Its
limits, in publishes per second: meta item 1000 / 4 WCU = 250; writes on one partition
1000 / (12 + 4) = 62.5 and reads 3000 / 500 (1 RCU an item up to 4 KB) = 6; S3 3500 / 12 PUT and
5500 / 20 GET = 275; Cloudflare Free 800 / 15 URLs; the token's 1200 requests per 300 s
= 4 requests/s, at 15 / 30 = 0.5 requests a publish = 8; edgepub's pacing
min(0.9 x 800, 0.9 x 0.5 x 4 x 30 = 54 URLs/s) / 15 = 3.6.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import date
from pathlib import Path

import pytest
from edgepub import limits as edgepub_limits
from edgepub.embedded.template import load_sam_template

from tests.performance import capacity as cap
from tests.performance.capacity import Measured

ROOT = Path(__file__).resolve().parents[2]

M = Measured(
    articles=1_000_000,
    publish_items_read=500,
    publish_items_written=12,
    publish_meta_writes=4,
    publish_s3_puts=12,
    publish_s3_reads=20,
    publish_purge_urls=15,
    publish_seconds=0.05,
    store_seconds=0.4,
    publish_calls=45,
    peak_memory_mb=300.0,
    rerender_articles_per_second_per_worker=200.0,
)
UNLEASHED = dataclasses.replace(M, serialized=False)


def caps_by_key(m: Measured, concurrency: int = 1, plan: str = "free", paced: bool = True) -> dict[str, float]:
    return {c.key: c.publishes_per_second for c in cap.caps(m, concurrency, plan, paced=paced)}


# --- one publish -----------------------------------------------------------------------


def test_seconds_per_publish_adds_each_call_at_aws_latency():
    assert cap.seconds_per_publish(M, 0.010) == pytest.approx(0.5)
    assert cap.seconds_per_publish(M, 0.005) == pytest.approx(0.275)
    assert cap.seconds_per_publish(M) == pytest.approx(0.5)  # 10 ms by default


def test_read_and_write_units_follow_item_sizes():
    assert cap.read_units_per_publish(M) == pytest.approx(500)  # 500 items, 1 RCU each (up to 4 KB)
    assert cap.write_units_per_publish(M) == pytest.approx(16)  # 12 items + 4 meta writes, 1 KB each
    big = dataclasses.replace(M, item_kb=2.5, meta_item_kb=10, publish_meta_reads=2)
    assert cap.read_units_per_publish(big) == pytest.approx(500 * 1 + 2 * 3)  # ceil(2.5 / 4), ceil(10 / 4)
    bigger = dataclasses.replace(M, item_kb=4.5)
    assert cap.read_units_per_publish(bigger) == pytest.approx(500 * 2)
    assert cap.write_units_per_publish(big) == pytest.approx(12 * 3 + 4 * 10)  # ceil(2.5) a write, 10 a meta write


def test_each_limit_as_publishes_per_second():
    found = caps_by_key(M)
    assert found["lease"] == pytest.approx(2.0)
    assert found["meta_writes"] == pytest.approx(250)
    assert found["meta_reads"] == math.inf  # none measured
    assert found["item_writes"] == pytest.approx(62.5)
    assert found["item_reads"] == pytest.approx(6.0)
    assert found["index_writes"] == math.inf
    assert found["s3_put"] == pytest.approx(3500 / 12)
    assert found["s3_get"] == pytest.approx(275)
    assert found["cf_urls"] == pytest.approx(800 / 15)
    assert found["cf_api"] == pytest.approx(8.0)
    assert found["paced"] == pytest.approx(3.6)
    assert "paced" not in caps_by_key(M, paced=False)
    sized = dataclasses.replace(M, meta_item_kb=10)  # every meta write now costs 10 WCU
    assert caps_by_key(sized)["meta_writes"] == pytest.approx(25)


def test_publish_seconds_floor_is_calls_or_the_tightest_partition():
    assert cap.publish_seconds_floor(M) == pytest.approx(0.5)
    heavy = dataclasses.replace(M, publish_items_read=100_000)  # 100,000 RCU at 3,000 a second
    assert cap.publish_seconds_floor(heavy) == pytest.approx(100_000 / 3000)
    many_urls = dataclasses.replace(M, publish_purge_urls=100_000)  # purges are queued, not waited on
    assert cap.publish_seconds_floor(many_urls) == pytest.approx(0.5)


# --- publishes per second --------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 10, 100])
def test_with_the_lease_throughput_does_not_grow_with_functions(n):
    assert cap.publishes_per_second(M, n, "free") == pytest.approx(2.0)
    fast = cap.publishes_per_second(M, n, "free", call_latency_s=0.005, paced=False)
    assert fast == pytest.approx(1 / 0.275)  # with pacing, 3.6 would bind first
    assert cap.caps(M, n, "free")[0].key == "lease"


def test_without_the_lease_functions_multiply_until_a_limit_divides():
    assert cap.publishes_per_second(UNLEASHED, 1, "free") == pytest.approx(2.0)
    assert cap.caps(UNLEASHED, 1, "free")[0].label == "1 publish function"
    assert cap.publishes_per_second(UNLEASHED, 2, "free") == pytest.approx(3.6)  # pacing, below 2 / 0.5
    assert cap.publishes_per_second(UNLEASHED, 2, "free", paced=False) == pytest.approx(4.0)
    assert cap.publishes_per_second(UNLEASHED, 10, "free", paced=False) == pytest.approx(6.0)  # item reads
    assert cap.publishes_per_second(UNLEASHED, 100, "free", paced=False) == pytest.approx(6.0)


def test_lambda_account_concurrency_caps_the_functions():
    bare = dataclasses.replace(
        UNLEASHED, publish_items_read=0, publish_items_written=0, publish_meta_writes=0, publish_s3_puts=0,
        publish_s3_reads=0, publish_purge_urls=0,
    )  # fmt: skip
    assert cap.publishes_per_second(bare, 100, "free") == pytest.approx(200)
    assert cap.publishes_per_second(bare, 5000, "free") == pytest.approx(2000)  # 1,000 / 0.5 s
    assert cap.caps(bare, 5000, "free")[0].key == "lambda"


def test_a_publish_that_takes_no_time_is_refused():
    instant = dataclasses.replace(M, publish_seconds=0.0, publish_calls=0)
    with pytest.raises(ValueError, match="no time"):
        cap.publishes_per_second(instant, 1)
    with pytest.raises(ValueError, match="concurrency"):
        cap.publishes_per_second(M, 0)


def test_request_rates_at_the_throughput():
    throughput, rates = cap.request_rates(M, 2, "free")
    assert throughput == pytest.approx(2.0)
    by = {r.key: r for r in rates}
    assert by["meta_writes"].rate == pytest.approx(8)
    assert by["item_reads"].rate == pytest.approx(1000)
    assert by["item_reads"].used == pytest.approx(1000 / 3000)
    assert by["item_writes"].rate == pytest.approx(32)
    assert by["s3_put"].rate == pytest.approx(24)
    assert by["s3_get"].rate == pytest.approx(40)
    assert by["cf_urls"].rate == pytest.approx(30)
    assert by["cf_api"].rate == pytest.approx(300)  # requests per 5 minutes
    assert by["cf_api"].used == pytest.approx(0.25)
    assert by["paced"].rate == pytest.approx(30)
    assert by["paced"].limit == pytest.approx(54)
    assert by["lambda"].rate == 2  # both functions hold an execution, one of them waiting
    assert by["lambda"].limit == 1000


# --- Cloudflare ------------------------------------------------------------------------


def test_purge_url_rate_is_the_plan_rate_or_the_token_budget():
    assert cap.purge_url_rate("free") == pytest.approx(120)  # 4 requests/s x 30
    assert cap.purge_url_rate("enterprise") == pytest.approx(120)
    assert cap.purge_url_rate("free", urls_per_request=500) == pytest.approx(800)
    assert cap.purge_url_rate("enterprise", urls_per_request=500) == pytest.approx(2000)
    assert cap.purge_url_rate("free", paced=True) == pytest.approx(54)
    assert cap.purge_url_rate("enterprise", urls_per_request=500, paced=True) == pytest.approx(900)
    with pytest.raises(ValueError, match="unknown Cloudflare plan"):
        cap.purge_url_rate("gold")


def test_binding_limit_names_the_first_limit_and_its_throughput():
    today = cap.binding_limit(M, "free")
    assert today.key == "lease"
    assert today.publishes_per_second == pytest.approx(2.0)
    assert today.next_label == "edgepub purge pacing"
    assert today.next_publishes_per_second == pytest.approx(3.6)
    unleashed = cap.binding_limit(UNLEASHED, "free")
    assert unleashed.key == "paced"
    assert unleashed.publishes_per_second == pytest.approx(3.6)
    unpaced = cap.binding_limit(UNLEASHED, "free", paced=False)
    assert unpaced.key == "item_reads"
    assert unpaced.publishes_per_second == pytest.approx(6.0)


def test_binding_limit_depends_on_the_plan():
    purger = dataclasses.replace(
        UNLEASHED, publish_items_read=0, publish_items_written=0, publish_meta_writes=0, publish_s3_puts=0,
        publish_s3_reads=0, publish_purge_urls=1000,
    )  # fmt: skip
    # 500 URLs a request: 2 requests a publish, 4 requests/s -> 2 publishes/s; Free's 800 URLs/s -> 0.8
    free = cap.binding_limit(purger, "free", urls_per_request=500, paced=False)
    assert free.key == "cf_urls"
    assert free.publishes_per_second == pytest.approx(0.8)
    enterprise = cap.binding_limit(purger, "enterprise", urls_per_request=500, paced=False)
    assert enterprise.key == "cf_api"
    assert enterprise.publishes_per_second == pytest.approx(2.0)


def test_purge_everything_past_one_window_of_url_purges():
    assert cap.purge_everything_threshold("free") == 16_200  # 54 URLs/s x 300 s
    assert cap.purge_everything_threshold("free", paced=False) == 36_000
    assert cap.purge_everything_threshold("enterprise", urls_per_request=500) == 270_000
    assert cap.purge_strategy(16_200, "free") == "urls"
    assert cap.purge_strategy(16_201, "free") == "everything"
    assert cap.purge_strategy(1_000_000, "enterprise", urls_per_request=500) == "everything"


# --- full re-render --------------------------------------------------------------------


def test_rerender_is_bounded_by_rendering_s3_puts_and_purges():
    one = cap.rerender(M, 1, "free")
    assert one.render_s == pytest.approx(5000)  # 1,000,000 / 200
    assert one.s3_put_s == pytest.approx(1_000_000 / 3500)
    assert one.write_s == pytest.approx(5000)
    assert one.purge_urls_s == pytest.approx(1_000_000 / 120)
    assert one.by_urls_s == pytest.approx(1_000_000 / 120)
    assert one.by_everything_s == pytest.approx(5000)
    hundred = cap.rerender(M, 100, "free")
    assert hundred.render_s == pytest.approx(50)
    assert hundred.write_s == pytest.approx(1_000_000 / 3500)  # S3 binds
    assert hundred.by_everything_s == pytest.approx(1_000_000 / 3500)
    assert cap.rerender(M, 1000, "free").render_s == pytest.approx(5)
    assert cap.rerender(M, 1, "enterprise", urls_per_request=500).purge_urls_s == pytest.approx(500)
    assert cap.rerender(M, 1, "free", paced=True).purge_urls_s == pytest.approx(1_000_000 / 54)
    two_hosts = cap.rerender(M, 1, "free", articles=1000, urls_per_page=2)
    assert two_hosts.purge_urls_s == pytest.approx(2000 / 120)
    with pytest.raises(ValueError):
        cap.rerender(M, 0)


# --- cost ------------------------------------------------------------------------------


def test_cost_per_1000_publishes():
    lines = {line.key: line for line in cap.cost_per_1000_publishes(M)}
    assert lines["lambda_gb_s"].quantity == pytest.approx(250)  # 1000 x 0.5 GB x 0.5 s
    assert lines["lambda_gb_s"].usd == pytest.approx(250 * 0.0000133334)
    assert lines["lambda_requests"].quantity == pytest.approx(2000)  # publish + purge invocation
    assert lines["lambda_requests"].usd == pytest.approx(0.0004)
    assert lines["s3_put"].quantity == pytest.approx(13_000)  # 12 pages + the source upload
    assert lines["s3_put"].usd == pytest.approx(0.065)
    assert lines["s3_get"].usd == pytest.approx(0.008)
    assert lines["dynamodb_rru"].quantity == pytest.approx(500_000)
    assert lines["dynamodb_rru"].usd == pytest.approx(0.0625)
    assert lines["dynamodb_wru"].quantity == pytest.approx(16_000)
    assert lines["dynamodb_wru"].usd == pytest.approx(0.01)
    assert lines["sqs_requests"].quantity == pytest.approx(6000)
    assert lines["sqs_requests"].usd == pytest.approx(0.0024)
    assert cap.total_usd(list(lines.values())) == pytest.approx(0.15163335)


def test_cost_with_batches_purge_time_and_index_writes():
    m = dataclasses.replace(M, purge_seconds=0.25, publish_index_writes=3)
    lines = {
        line.key: line
        for line in cap.cost_per_1000_publishes(m, records_per_invocation=10, purge_messages_per_invocation=100)
    }
    assert lines["lambda_gb_s"].quantity == pytest.approx(375)  # 1000 x 0.5 GB x (0.5 + 0.25) s
    assert lines["lambda_requests"].quantity == pytest.approx(110)  # 1000 x (1/10 + 1/100)
    assert lines["sqs_requests"].quantity == pytest.approx(2220)  # 1000 x (1 + 2/10 + 1 + 2/100)
    assert lines["dynamodb_wru"].quantity == pytest.approx(19_000)
    assert cap.sqs_requests_per_publish() == 6
    silent = dataclasses.replace(M, publish_purge_urls=0)  # nothing to purge: no purge invocation
    assert {line.key: line for line in cap.cost_per_1000_publishes(silent)}["lambda_requests"].quantity == 1000


def test_prices_are_dated_sourced_and_per_unit():
    assert date.fromisoformat(cap.PRICES_AS_OF)
    assert cap.PRICES_REGION == "us-east-1"
    for price in cap.PRICES.values():
        assert price.usd > 0 and price.per > 0 and price.source
    assert cap.PRICES["s3_put"].unit_usd == pytest.approx(0.000005)
    assert cap.PRICES["dynamodb_wru"].unit_usd == pytest.approx(0.000000625)


def test_measured_refuses_impossible_figures():
    with pytest.raises(ValueError, match="articles"):
        dataclasses.replace(M, articles=0)
    with pytest.raises(ValueError, match="publish_calls"):
        dataclasses.replace(M, publish_calls=-1)
    with pytest.raises(ValueError, match="item_kb"):
        dataclasses.replace(M, item_kb=0)


# --- the tables agree with what edgepub and template.yaml say ---------------------------


def test_plans_match_edgepub_limits():
    for name, plan in cap.PLANS.items():
        theirs = edgepub_limits.PLANS[name]
        assert plan.urls_per_second == theirs.urls_per_second
        assert plan.other_per_second == pytest.approx(theirs.other_per_second)
        assert plan.other_burst == theirs.other_burst
        assert plan.api_requests_per_window == theirs.requests_per_window
        assert plan.window_s == theirs.window_seconds
        assert theirs.files_per_request == cap.TEMPLATE.urls_per_purge_request


def test_pacing_matches_edgepub_pacer():
    plan = edgepub_limits.PLANS["free"]
    pacer = edgepub_limits.Pacer(plan, share=1.0)
    assert pacer.requests.rate * 30 == pytest.approx(cap.purge_url_rate("free", paced=True))
    assert pacer.urls.rate == pytest.approx(cap.PACING_MARGIN * 800)


def test_deployment_matches_template():
    sam = load_sam_template(ROOT / "template.yaml")
    glob = sam["Globals"]["Function"]
    assert glob["MemorySize"] == cap.TEMPLATE.memory_mb
    assert glob["Timeout"] == cap.TEMPLATE.publish_timeout_s
    publish = sam["Resources"]["PublishFunction"]["Properties"]
    assert "MemorySize" not in publish and "Timeout" not in publish
    source = publish["Events"]["SourceChanges"]["Properties"]
    assert source["BatchSize"] == cap.TEMPLATE.publish_batch_size
    assert source["ScalingConfig"]["MaximumConcurrency"] == cap.TEMPLATE.publish_max_concurrency
    purge = sam["Resources"]["PurgeFunction"]["Properties"]
    assert "MemorySize" not in purge
    requests = purge["Events"]["PurgeRequests"]["Properties"]
    assert requests["BatchSize"] == cap.TEMPLATE.purge_batch_size
    assert requests["ScalingConfig"]["MaximumConcurrency"] == cap.TEMPLATE.purge_max_concurrency
    assert sam["Parameters"]["PurgeBatchSize"]["Default"] == cap.TEMPLATE.urls_per_purge_request


# --- docs/capacity.md ------------------------------------------------------------------


def small(articles: int) -> Measured:
    return dataclasses.replace(M, articles=articles, publish_items_read=articles // 4 + 200)


def test_render_markdown_has_every_section_in_order():
    text = cap.render_markdown({1000: small(1000), 1_000_000: M}, measured_on="on a test machine, 2026-12-06")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Capacity",
        "## Measured inputs",
        "## Publishes per second",
        "## Request rates against limits",
        "### One lease (today): 2 publishes/s",
        "### No lease",
        "## Full re-render of 1,000,000 articles",
        "### Purge by URL or purge everything",
        "## Cost per 1,000 publishes",
        "### Prices (us-east-1, as of 2026-12-06)",
        "## Which limit binds first",
    ]
    assert "`make bench` (B7)" in text
    assert "on a test machine, 2026-12-06" in text
    assert re.search(r"^\| 1,000 \| 450 \| 12 \| 4 \|", text, re.M)
    assert re.search(r"^\| 1,000,000 \| 500 \| 12 \| 4 \|", text, re.M)
    assert "Past 16,200 URLs" in text
    assert "| 1 | 83 min | 5 min | 83 min | 2.3 h | 2.3 h | 2.3 h | 2.3 h | 83 min |" in text
    assert "**$0.1516**" in text


def test_render_markdown_one_binding_line_per_plan():
    text = cap.render_markdown({1_000_000: M})
    section = text.split("## Which limit binds first", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert [line.split(":")[0] for line in lines] == ["- Free", "- Pro", "- Business", "- Enterprise"]
    assert lines[0].startswith("- Free: site lease, at 2 publishes/s (7,200 an hour); then edgepub purge pacing")
    assert lines[0].endswith("Without the lease: edgepub purge pacing, at 3.60 publishes/s.")


def test_render_markdown_flags_a_publish_over_the_timeout():
    heavy = dataclasses.replace(M, publish_items_read=100_000)  # at least 33 s on one partition
    assert "**over the timeout**" in cap.render_markdown({1_000_000: heavy})
    assert "**over the timeout**" not in cap.render_markdown({1_000_000: M})


def test_render_markdown_is_plain():
    text = cap.render_markdown({1000: small(1000), 1_000_000: M}).lower()
    for word in ("blazing", "seamless", "powerful", "robust", "effortless", "lightning", "best-in-class"):
        assert word not in text


def test_render_markdown_refuses_mismatched_or_missing_measurements():
    with pytest.raises(ValueError, match="filed under"):
        cap.render_markdown({1000: M})
    with pytest.raises(ValueError, match="no measurements"):
        cap.render_markdown({})


def test_write_markdown(tmp_path):
    path = tmp_path / "capacity.md"
    text = cap.write_markdown(path, {1_000_000: M})
    assert path.read_text(encoding="utf-8") == text
