"""Capacity model: per-publish costs measured by `make bench` (B7) turned into
publishes per second, request rates against AWS's and Cloudflare's limits,
full re-render time, and cost per 1,000 publishes; `render_markdown` writes
docs/capacity.md from them.

Pure functions of `Measured` and the constant tables below; `write_markdown`
is the only I/O. Every rate is a sustained rate: bursts (token buckets, S3 and
DynamoDB warm-up and partition splits) are not modelled.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AWS",
    "AWS_CALL_LATENCIES_S",
    "AWS_CALL_LATENCY_S",
    "CONCURRENCIES",
    "PACED_WINDOW_SHARE",
    "PACING_MARGIN",
    "PLANS",
    "PRICES",
    "PRICES_AS_OF",
    "PRICES_REGION",
    "RERENDER_WORKERS",
    "SOURCE_UPLOAD_PUTS",
    "TEMPLATE",
    "AwsLimits",
    "Binding",
    "Cap",
    "CloudflarePlan",
    "CostLine",
    "Deployment",
    "Measured",
    "Price",
    "Rate",
    "Rerender",
    "Resource",
    "binding_limit",
    "caps",
    "cost_per_1000_publishes",
    "publish_seconds_floor",
    "publishes_per_second",
    "purge_everything_threshold",
    "purge_strategy",
    "purge_url_rate",
    "read_units_per_publish",
    "render_markdown",
    "request_rates",
    "rerender",
    "resources",
    "seconds_per_publish",
    "sqs_requests_per_publish",
    "total_usd",
    "write_markdown",
    "write_units_per_publish",
]


@dataclass(frozen=True)
class Measured:
    """What one publish of one new article costs in a site of `articles` articles."""

    articles: int  # site size the figures were measured at (e.g. 1_000_000)
    publish_items_read: int  # DynamoDB items read by one publish of one new article (cold container)
    publish_items_written: int  # DynamoDB items written (puts+deletes) by that publish
    publish_meta_writes: int  # conditional writes to the site-wide "meta" item (lease take, commit, pending, release)
    publish_s3_puts: int  # pages written to the site bucket
    publish_s3_reads: int  # GET/HEAD on source + site buckets
    publish_purge_urls: int  # URLs purged for that publish
    publish_seconds: float  # wall time of one warm publish in edgepub (CPU, no store latency)
    store_seconds: float  # time one publish waits on DynamoDB/S3 calls (embedded stack, not AWS)
    publish_calls: int  # external calls (S3 + DynamoDB) of one publish
    peak_memory_mb: float
    rerender_articles_per_second_per_worker: float  # one worker re-rendering article pages
    serialized: bool = True  # True while one site-wide lease orders every publish (today's design)
    item_kb: float = 1.0  # size of an item read or written, KB (items are under 1 KB)
    meta_item_kb: float = 1.0  # size of the meta item, KB (it carries the commit's journal inline, up to 300 KB)
    publish_meta_reads: int = 0  # GetItem reads of the meta item; not counted in publish_items_read
    publish_index_writes: int = 0  # writes the table's writes cause in index ByReview (partition key "review")
    purge_seconds: float = 0.0  # purge function time per publish; 0 when not measured (left out of the cost)
    # strongly consistent read units of the items read, when measured (a Query is charged on the summed
    # size of what it returns, 4 KB a unit); 0: one unit per ceil(item_kb / 4) of each item read
    publish_read_units: float = 0.0

    def __post_init__(self) -> None:
        if self.articles <= 0:
            raise ValueError(f"articles must be positive, got {self.articles}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, bool) and value < 0:
                raise ValueError(f"{field.name} must not be negative, got {value}")
        for name in ("item_kb", "meta_item_kb", "rerender_articles_per_second_per_worker"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


# --- Assumptions and limits ------------------------------------------------------------

# Time of one S3 or DynamoDB call from a Lambda function in the same region: an
# assumption (about 5-10 ms), not measured. The embedded stack's call times are not AWS's.
AWS_CALL_LATENCIES_S = (0.005, 0.010)
AWS_CALL_LATENCY_S = 0.010  # the slow end, used where one figure is shown

CONCURRENCIES = (1, 2, 10, 100)  # concurrent publish functions
RERENDER_WORKERS = (1, 10, 100, 1000)
RERENDER_ARTICLES = 1_000_000


@dataclass(frozen=True)
class AwsLimits:
    dynamodb_partition_rcu: float = 3000.0  # read units per second, one partition (strongly consistent, 4 KB)
    dynamodb_partition_wcu: float = 1000.0  # write units per second, one partition (1 KB)
    s3_put_per_prefix: float = 3500.0  # PUT/COPY/POST/DELETE per second per partitioned prefix
    s3_get_per_prefix: float = 5500.0  # GET/HEAD per second per partitioned prefix
    lambda_account_concurrency: int = 1000  # default per account and region


AWS = AwsLimits()


@dataclass(frozen=True)
class Deployment:
    """What template.yaml sets (tests/unit/test_capacity.py checks these against it)."""

    memory_mb: int = 512  # Globals.Function.MemorySize: every function
    publish_timeout_s: float = 30.0  # Globals.Function.Timeout
    publish_batch_size: int = 10  # PublishFunction SQS event BatchSize
    publish_max_concurrency: int = 3  # PublishFunction ScalingConfig.MaximumConcurrency
    purge_batch_size: int = 1000  # PurgeFunction SQS event BatchSize
    purge_max_concurrency: int = 2  # PurgeFunction ScalingConfig.MaximumConcurrency
    urls_per_purge_request: int = 30  # PurgeBatchSize parameter default


TEMPLATE = Deployment()

SOURCE_UPLOAD_PUTS = 1  # the editor's upload to the sources bucket, counted in the cost


@dataclass(frozen=True)
class CloudflarePlan:
    name: str
    urls_per_second: float  # URL ("files") purges
    other_per_second: float  # tag/host/prefix/everything requests
    other_burst: int
    api_requests_per_window: int = 1200  # every API call, per token
    window_s: float = 300.0

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def api_requests_per_second(self) -> float:
        return self.api_requests_per_window / self.window_s


# /work/shared/FIELD-NOTES.md, "Cloudflare purge API" (checked against Cloudflare's docs, November 2026):
#   "Rate limits are token buckets per account. Tag/host/prefix/everything:
#    Free 5 req/min (bucket 25), Pro 5 req/s (25), Business 10 req/s (50),
#    Enterprise 50 req/s (500). URL purges: about 800 URLs/s Free, 1500 Pro/Business,
#    3000 Enterprise. Global API limit: 1200 requests / 5 min per token; breaking it
#    blocks every call for 5 minutes."
#   "Since 2025-04 every form is available on every plan."
#   Items per request for files: 30 in the API reference, 100 on the limits page, 500 on Enterprise.
PLANS: dict[str, CloudflarePlan] = {
    "free": CloudflarePlan("free", urls_per_second=800, other_per_second=5 / 60, other_burst=25),
    "pro": CloudflarePlan("pro", urls_per_second=1500, other_per_second=5, other_burst=25),
    "business": CloudflarePlan("business", urls_per_second=1500, other_per_second=10, other_burst=50),
    "enterprise": CloudflarePlan("enterprise", urls_per_second=3000, other_per_second=50, other_burst=500),
}

# edgepub.limits.Pacer: the purge function spends 90% of each limit, and refills the token's
# 5-minute request budget at half its rate, so that no 5-minute window goes over it.
PACING_MARGIN = 0.9
PACED_WINDOW_SHARE = 0.5


# --- Prices ----------------------------------------------------------------------------

PRICES_REGION = "us-east-1"
PRICES_AS_OF = "2026-12-06"  # believed valid on this date; AWS's own pricing pages were not readable here


@dataclass(frozen=True)
class Price:
    item: str
    usd: float  # for `per` units
    per: int
    unit: str
    source: str

    @property
    def unit_usd(self) -> float:
        return self.usd / self.per


PRICES: dict[str, Price] = {
    "lambda_gb_s": Price(
        "Lambda duration, Arm",
        0.0000133334,
        1,
        "GB-second",
        "first 7.5 billion GB-s a month; cloudchipr.com/blog/aws-lambda-pricing (2024), "
        "git.mcrn.ar lambda_local_runner docs; aws.amazon.com/lambda/pricing (stored copy) lists no figures as text",
    ),
    "lambda_requests": Price(
        "Lambda requests",
        0.20,
        1_000_000,
        "requests",
        "same sources as Lambda duration",
    ),
    "s3_put": Price(
        "S3 Standard PUT, COPY, POST, LIST",
        0.005,
        1_000,
        "requests",
        "c3x.dev/blog/s3-request-fees-explained; aws.amazon.com/s3/pricing (stored copy) shows no figures",
    ),
    "s3_get": Price(
        "S3 Standard GET, SELECT, HEAD",
        0.0004,
        1_000,
        "requests",
        "same source as S3 PUT",
    ),
    "dynamodb_rru": Price(
        "DynamoDB on-demand read request units",
        0.125,
        1_000_000,
        "RRU",
        "after AWS's 2024-11-01 on-demand price cut; airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07)",
    ),
    "dynamodb_wru": Price(
        "DynamoDB on-demand write request units",
        0.625,
        1_000_000,
        "WRU",
        "same source as read request units",
    ),
    "sqs_requests": Price(
        "SQS standard queue requests (64 KB chunks)",
        0.40,
        1_000_000,
        "requests",
        "first 100 billion a month; cloudburn.io/blog/amazon-sqs-pricing (2026-03), factualminds.com (2026-06)",
    ),
}


# --- The model -------------------------------------------------------------------------


def _plan(plan: str | CloudflarePlan) -> CloudflarePlan:
    if isinstance(plan, CloudflarePlan):
        return plan
    try:
        return PLANS[plan.lower()]
    except KeyError:
        raise ValueError(f"unknown Cloudflare plan {plan!r}: one of {', '.join(PLANS)}") from None


def seconds_per_publish(m: Measured, call_latency_s: float = AWS_CALL_LATENCY_S) -> float:
    """One publish on AWS: its CPU time plus each external call at AWS's latency."""
    return m.publish_seconds + m.publish_calls * call_latency_s


def read_units_per_publish(m: Measured) -> float:
    """Strongly consistent read units (edgepub reads with ConsistentRead): one per 4 KB of each
    item, rounded up, as GetItem and BatchGetItem are charged. A Query is charged on the summed
    size of what it returns, so for items read by Query this is an upper bound; `publish_read_units`,
    when measured, replaces it for the items (not the meta item)."""
    items = m.publish_read_units or m.publish_items_read * math.ceil(m.item_kb / 4)
    return items + m.publish_meta_reads * math.ceil(m.meta_item_kb / 4)


def write_units_per_publish(m: Measured) -> float:
    """Write units on the table: one per 1 KB of each item written, rounded up; an update of
    the meta item is charged on the meta item's size. Index writes are apart (index_writes)."""
    return m.publish_items_written * math.ceil(m.item_kb) + m.publish_meta_writes * math.ceil(m.meta_item_kb)


def purge_url_rate(
    plan: str | CloudflarePlan, *, urls_per_request: int = TEMPLATE.urls_per_purge_request, paced: bool = False
) -> float:
    """URLs per second one token can purge one by one: the plan's URL rate, or the token's
    request budget times the URLs in a request, whichever is lower. `paced`: as edgepub's
    pacer spends them (PACING_MARGIN of each, half the request budget's rate)."""
    p = _plan(plan)
    url_rate = p.urls_per_second
    request_rate = p.api_requests_per_second
    if paced:
        url_rate *= PACING_MARGIN
        request_rate *= PACING_MARGIN * PACED_WINDOW_SHARE
    return min(url_rate, request_rate * urls_per_request)


@dataclass(frozen=True)
class Resource:
    """A limited resource: `per_publish` units per publish against `limit` units per `window_s`."""

    key: str
    label: str
    unit: str
    per_publish: float
    limit: float
    window_s: float = 1.0
    synchronous: bool = True  # the publish waits on it (S3, DynamoDB); purges are queued, not waited on

    def rate(self, publishes_per_second: float) -> float:
        return publishes_per_second * self.per_publish * self.window_s

    @property
    def cap(self) -> float:
        """Publishes per second at which this limit is reached (inf when a publish uses none)."""
        if self.per_publish <= 0:
            return math.inf
        return self.limit / (self.per_publish * self.window_s)


def resources(
    m: Measured,
    plan: str | CloudflarePlan = "free",
    *,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> tuple[Resource, ...]:
    """What one publish uses of each limit. DynamoDB: the meta item is one item, which no
    partition split relieves; the other items are counted as if on one partition, the worst
    case (items spread over partition keys, or a partition DynamoDB split, take more).
    S3: each bucket as one prefix."""
    p = _plan(plan)
    found = [
        Resource(
            "meta_writes",
            "DynamoDB meta item writes",
            "WCU/s",
            m.publish_meta_writes * math.ceil(m.meta_item_kb),
            AWS.dynamodb_partition_wcu,
        ),
        Resource(
            "meta_reads",
            "DynamoDB meta item reads",
            "RCU/s",
            m.publish_meta_reads * math.ceil(m.meta_item_kb / 4),
            AWS.dynamodb_partition_rcu,
        ),
        Resource(
            "item_writes",
            "DynamoDB writes, one partition",
            "WCU/s",
            write_units_per_publish(m),
            AWS.dynamodb_partition_wcu,
        ),
        Resource(
            "item_reads",
            "DynamoDB reads, one partition",
            "RCU/s",
            read_units_per_publish(m),
            AWS.dynamodb_partition_rcu,
        ),
        Resource(
            "index_writes",
            "DynamoDB index `review` writes",
            "WCU/s",
            float(m.publish_index_writes),
            AWS.dynamodb_partition_wcu,
        ),
        Resource("s3_put", "S3 PUT (one prefix)", "PUT/s", float(m.publish_s3_puts), AWS.s3_put_per_prefix),
        Resource("s3_get", "S3 GET/HEAD (one prefix)", "GET/s", float(m.publish_s3_reads), AWS.s3_get_per_prefix),
        Resource(
            "cf_urls",
            f"Cloudflare URL purges ({p.label})",
            "URLs/s",
            float(m.publish_purge_urls),
            p.urls_per_second,
            synchronous=False,
        ),
        Resource(
            "cf_api",
            "Cloudflare API requests (token)",
            "requests/5 min",
            m.publish_purge_urls / urls_per_request,
            p.api_requests_per_window,
            window_s=p.window_s,
            synchronous=False,
        ),
    ]
    if paced:
        found.append(
            Resource(
                "paced",
                "edgepub purge pacing",
                "URLs/s",
                float(m.publish_purge_urls),
                purge_url_rate(p, urls_per_request=urls_per_request, paced=True),
                synchronous=False,
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Cap:
    key: str
    label: str
    publishes_per_second: float


def _compute_cap(m: Measured, concurrency: int, call_latency_s: float) -> Cap:
    seconds = seconds_per_publish(m, call_latency_s)
    if seconds <= 0:
        raise ValueError("a publish that takes no time has no throughput limit: check publish_seconds and calls")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if m.serialized:
        return Cap("lease", "site lease", 1 / seconds)
    account = AWS.lambda_account_concurrency
    if concurrency >= account:
        return Cap("lambda", f"Lambda concurrency ({account:,})", account / seconds)
    label = "1 publish function" if concurrency == 1 else f"{concurrency} publish functions"
    return Cap("functions", label, concurrency / seconds)


def caps(
    m: Measured,
    concurrency: int,
    plan: str | CloudflarePlan = "free",
    *,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> list[Cap]:
    """Every limit as the publishes per second it allows, lowest first. With `m.serialized`
    the lease allows 1 / seconds_per_publish whatever the concurrency; otherwise the
    functions allow min(concurrency, Lambda's account concurrency) / seconds_per_publish."""
    found = [_compute_cap(m, concurrency, call_latency_s)]
    found += [Cap(r.key, r.label, r.cap) for r in resources(m, plan, urls_per_request=urls_per_request, paced=paced)]
    return sorted(found, key=lambda c: c.publishes_per_second)


def publish_seconds_floor(
    m: Measured,
    plan: str | CloudflarePlan = "free",
    *,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
) -> float:
    """The least time one publish takes on AWS: its CPU and calls, or, if slower, its S3 and
    DynamoDB units at one partition's or prefix's whole rate (it waits on those; purges are queued)."""
    slowest = max(
        (1 / r.cap for r in resources(m, plan, urls_per_request=urls_per_request) if r.synchronous and r.per_publish),
        default=0.0,
    )
    return max(seconds_per_publish(m, call_latency_s), slowest)


def publishes_per_second(
    m: Measured,
    concurrency: int,
    plan: str | CloudflarePlan = "free",
    *,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> float:
    """Publishes per second the site takes with `concurrency` publish functions: the lowest cap."""
    found = caps(m, concurrency, plan, call_latency_s=call_latency_s, urls_per_request=urls_per_request, paced=paced)
    return found[0].publishes_per_second


@dataclass(frozen=True)
class Binding:
    key: str
    label: str
    publishes_per_second: float
    next_label: str
    next_publishes_per_second: float


def binding_limit(
    m: Measured,
    plan: str | CloudflarePlan,
    *,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> Binding:
    """The limit reached first as publishes grow, with as many publish functions as the
    account allows (the lease, when serialized), and the throughput at which it binds."""
    found = caps(
        m,
        AWS.lambda_account_concurrency,
        plan,
        call_latency_s=call_latency_s,
        urls_per_request=urls_per_request,
        paced=paced,
    )
    first, second = found[0], found[1]
    return Binding(first.key, first.label, first.publishes_per_second, second.label, second.publishes_per_second)


@dataclass(frozen=True)
class Rate:
    key: str
    label: str
    unit: str
    per_publish: float | None
    rate: float
    limit: float

    @property
    def used(self) -> float:
        return self.rate / self.limit


def request_rates(
    m: Measured,
    concurrency: int,
    plan: str | CloudflarePlan = "free",
    *,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> tuple[float, list[Rate]]:
    """(publishes per second, each resource's rate at it against its limit). Lambda counts
    the `concurrency` functions: with the lease they hold their executions while they wait."""
    throughput = publishes_per_second(
        m, concurrency, plan, call_latency_s=call_latency_s, urls_per_request=urls_per_request, paced=paced
    )
    rates = [
        Rate(r.key, r.label, r.unit, r.per_publish, r.rate(throughput), r.limit)
        for r in resources(m, plan, urls_per_request=urls_per_request, paced=paced)
    ]
    rates.append(
        Rate(
            "lambda",
            "Lambda concurrent executions",
            "executions",
            None,
            float(concurrency),
            float(AWS.lambda_account_concurrency),
        )
    )
    return throughput, rates


@dataclass(frozen=True)
class Rerender:
    workers: int
    render_s: float  # articles / (workers x per-worker rate)
    s3_put_s: float  # pages / S3's PUT rate on one prefix
    write_s: float  # the longer of the two: every page written
    purge_urls_s: float  # every URL purged one by one at the plan's rate
    by_urls_s: float  # done, purging by URL (purges follow the writes, so the longer of the two)
    by_everything_s: float  # done, purging everything once the last page is written (one request)


def rerender(
    m: Measured,
    workers: int,
    plan: str | CloudflarePlan = "free",
    *,
    articles: int = RERENDER_ARTICLES,
    pages_per_article: float = 1.0,
    urls_per_page: float = 1.0,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = False,
) -> Rerender:
    """A full re-render of `articles` article pages by `workers` workers outside the lease,
    bounded by S3's PUT rate and by the plan's purge budget. Purging everything is one
    request on any plan and propagates in under 150 ms: counted as no time."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    render_s = articles / (workers * m.rerender_articles_per_second_per_worker)
    s3_put_s = articles * pages_per_article / AWS.s3_put_per_prefix
    write_s = max(render_s, s3_put_s)
    purge_s = (
        articles
        * pages_per_article
        * urls_per_page
        / purge_url_rate(plan, urls_per_request=urls_per_request, paced=paced)
    )
    return Rerender(workers, render_s, s3_put_s, write_s, purge_s, max(write_s, purge_s), write_s)


def purge_everything_threshold(
    plan: str | CloudflarePlan,
    *,
    within_s: float = 300.0,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> int:
    """URLs one token purges one by one within `within_s` (by default one 5-minute API window).
    Past it, a URL-by-URL purge holds the token's whole request budget longer than a window,
    and every ordinary publish's purges wait behind it: purge everything instead."""
    return math.floor(purge_url_rate(plan, urls_per_request=urls_per_request, paced=paced) * within_s)


def purge_strategy(
    urls: int,
    plan: str | CloudflarePlan,
    *,
    within_s: float = 300.0,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    paced: bool = True,
) -> str:
    """Return "urls" up to the threshold, "everything" past it."""
    threshold = purge_everything_threshold(plan, within_s=within_s, urls_per_request=urls_per_request, paced=paced)
    return "urls" if urls <= threshold else "everything"


def sqs_requests_per_publish(records_per_invocation: float = 1.0, purge_messages_per_invocation: float = 1.0) -> float:
    """Publish queue: the S3 notification (send), then one receive and one delete per batch.
    Purge queue: one send per publish, one receive and one delete per batch. Messages are
    under 64 KB: one request each. Long polling of idle queues is not per publish."""
    return 1 + 2 / records_per_invocation + 1 + 2 / purge_messages_per_invocation


@dataclass(frozen=True)
class CostLine:
    key: str  # a PRICES key
    quantity: float  # units per 1,000 publishes
    usd: float


def cost_per_1000_publishes(
    m: Measured,
    *,
    prices: Mapping[str, Price] = PRICES,
    call_latency_s: float = AWS_CALL_LATENCY_S,
    memory_mb: int = TEMPLATE.memory_mb,
    records_per_invocation: float = 1.0,
    purge_messages_per_invocation: float = 1.0,
) -> tuple[CostLine, ...]:
    """Requests and compute of 1,000 publishes. By default each publish is a lone edit: one
    invocation of the publish and of the purge function (bursts share invocations)."""
    n = 1000
    gb_s = n * memory_mb / 1024 * (seconds_per_publish(m, call_latency_s) + m.purge_seconds)
    invocations = n * (1 / records_per_invocation + (1 / purge_messages_per_invocation if m.publish_purge_urls else 0))
    quantities = {
        "lambda_gb_s": gb_s,
        "lambda_requests": invocations,
        "s3_put": n * (m.publish_s3_puts + SOURCE_UPLOAD_PUTS),
        "s3_get": float(n * m.publish_s3_reads),
        "dynamodb_rru": n * read_units_per_publish(m),
        "dynamodb_wru": n * (write_units_per_publish(m) + m.publish_index_writes),
        "sqs_requests": n * sqs_requests_per_publish(records_per_invocation, purge_messages_per_invocation),
    }
    return tuple(CostLine(key, q, q * prices[key].unit_usd) for key, q in quantities.items())


def total_usd(lines: Sequence[CostLine]) -> float:
    return sum(line.usd for line in lines)


# --- docs/capacity.md --------------------------------------------------------------------


def _num(value: float) -> str:
    if math.isinf(value):
        return "no limit"
    if value == 0:
        return "0"
    if float(value).is_integer():
        return f"{value:,.0f}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _pct(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.01:
        return "<1%"
    return f"{share:,.0%}"


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "never"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _ms(seconds: float) -> str:
    return f"{_num(seconds * 1000)} ms"


def _price(usd: float) -> str:
    return f"${usd:.10f}".rstrip("0") if usd < 0.001 else f"${usd:g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def render_markdown(
    measured_by_size: dict[int, Measured],
    *,
    plan: str = "free",
    latencies_s: Sequence[float] = AWS_CALL_LATENCIES_S,
    urls_per_request: int = TEMPLATE.urls_per_purge_request,
    rerender_articles: int = RERENDER_ARTICLES,
    measured_on: str = "",
    where: str = "on the embedded stack (moto and the Cloudflare emulator)",
    notes: Sequence[str] = (),
) -> str:
    """The whole of docs/capacity.md. `measured_on`: where and when `make bench` ran; `where`:
    what the publishes ran against; `notes`: how inputs were measured, one bullet each."""
    if not measured_by_size:
        raise ValueError("no measurements to model")
    for size, m in measured_by_size.items():
        if size != m.articles:
            raise ValueError(f"measurement filed under {size:,} articles was made at {m.articles:,}")
    if not latencies_s:
        raise ValueError("at least one AWS call latency is needed")
    sizes = sorted(measured_by_size)
    big = measured_by_size[sizes[-1]]
    slow = max(latencies_s)
    p = _plan(plan)
    unleashed = {size: dataclasses.replace(m, serialized=False) for size, m in measured_by_size.items()}
    leased = {size: dataclasses.replace(m, serialized=True) for size, m in measured_by_size.items()}
    low, high = min(latencies_s), max(latencies_s)
    span = _ms(low) if low == high else f"{low * 1000:g}-{high * 1000:g} ms"

    out = [
        "# Capacity",
        "",
        "What one edgepub site can take: per-publish costs measured by `make bench` (B7), set against the limits",
        "of AWS and Cloudflare. The model is `tests/performance/capacity.py`; this page is its output.",
        "",
        f"- Each row of inputs is one publish of one new article into a site of that size, {where}."
        " Every publish is taken to read what one on a cold container reads:"
        " an upper bound, as a warm container may read less." + (f" Measured {measured_on}." if measured_on else ""),
        *(f"- {note}" for note in notes),
        f"- On AWS each S3 or DynamoDB call is taken to cost {span} (an assumption: the embedded stack's call times"
        " are not AWS's). A publish on AWS takes its CPU time plus its calls at that latency.",
        "- Rates are sustained rates. Bursts (token buckets, S3 and DynamoDB warm-up and partition splits) are"
        " not modelled.",
        '- Today one site-wide lease orders every publish. "No lease" columns are the same model with each limit'
        " dividing instead; edgepub does not run that way.",
        f"- Cloudflare plan where one is needed: {p.label} (the template's default `PurgePlan`);"
        f" {urls_per_request} URLs a purge request (`PurgeBatchSize`).",
        "",
        "## Measured inputs",
        "",
    ]
    rows = []
    for size in sizes:
        m = measured_by_size[size]
        on_aws = " to ".join(_num(seconds_per_publish(m, s)) for s in sorted(set(latencies_s)))
        floor = publish_seconds_floor(m, p, call_latency_s=slow, urls_per_request=urls_per_request)
        over = floor > TEMPLATE.publish_timeout_s
        rows.append(
            [
                f"{size:,}",
                f"{m.publish_items_read:,}",
                f"{m.publish_items_written:,}",
                f"{m.publish_meta_writes:,}",
                f"{m.publish_s3_puts:,}",
                f"{m.publish_s3_reads:,}",
                f"{m.publish_purge_urls:,}",
                f"{m.publish_calls:,}",
                f"{m.publish_seconds:.3f}",
                f"{m.store_seconds:.3f}",
                _ms(m.store_seconds / m.publish_calls) if m.publish_calls else "-",
                on_aws,
                _num(floor) + (" **over the timeout**" if over else ""),
                f"{m.peak_memory_mb:.0f}",
                _num(m.rerender_articles_per_second_per_worker),
            ]
        )
    out += _table(
        [
            "articles",
            "items read",
            "items written",
            "meta writes",
            "S3 PUTs",
            "S3 reads",
            "URLs purged",
            "calls",
            "CPU s",
            "store s (embedded)",
            "a call (embedded)",
            f"s a publish on AWS ({span} a call)",
            f"at least, with the limits ({_ms(slow)})",
            "peak MB",
            "re-render articles/s, one worker",
        ],
        rows,
    )
    out += [
        "",
        f"The publish function's timeout is {TEMPLATE.publish_timeout_s:.0f} s and its memory"
        f' {TEMPLATE.memory_mb} MB (template.yaml). "At least, with the limits": a publish alone cannot read or'
        " write faster than one DynamoDB partition or one S3 prefix allows (publish_seconds_floor).",
        "",
        "## Publishes per second",
        "",
    ]
    header = ["articles", "functions"]
    header += [f"one lease, {_ms(s)}" for s in latencies_s] + [f"no lease, {_ms(s)}" for s in latencies_s]
    header.append(f"binds first (no lease, {_ms(slow)})")
    rows = []
    for size in sizes:
        for n in CONCURRENCIES:
            row = [f"{size:,}", str(n)]
            row += [
                _num(publishes_per_second(leased[size], n, p, call_latency_s=s, urls_per_request=urls_per_request))
                for s in latencies_s
            ]
            row += [
                _num(publishes_per_second(unleashed[size], n, p, call_latency_s=s, urls_per_request=urls_per_request))
                for s in latencies_s
            ]
            row.append(caps(unleashed[size], n, p, call_latency_s=slow, urls_per_request=urls_per_request)[0].label)
            rows.append(row)
    out += _table(header, rows)
    out += [
        "",
        "With the lease, functions take turns: the rate does not grow with their number. The hand-over is not"
        " counted (a waiting function retries after 50 ms, doubling to 1 s), so two or more functions do a little"
        f" worse than shown. The template lets {TEMPLATE.publish_max_concurrency} publish functions run"
        " (`MaximumConcurrency`).",
        "",
        "## Request rates against limits",
        "",
        f"At {big.articles:,} articles, {_ms(slow)} a call, Cloudflare {p.label}.",
        "",
    ]
    throughput, rates = request_rates(leased[sizes[-1]], 1, p, call_latency_s=slow, urls_per_request=urls_per_request)
    out += [f"### One lease (today): {_num(throughput)} publishes/s", ""]
    out += _table(
        ["resource", "per publish", "rate", "limit", "used"],
        [
            [
                r.label,
                "-" if r.per_publish is None else _num(r.per_publish),
                f"{_num(r.rate)} {r.unit}",
                f"{_num(r.limit)} {r.unit}",
                _pct(r.used),
            ]
            for r in rates
        ],
    )
    out += ["", "### No lease", ""]
    by_n = {
        n: request_rates(unleashed[sizes[-1]], n, p, call_latency_s=slow, urls_per_request=urls_per_request)
        for n in CONCURRENCIES
    }
    header = ["resource", "limit"] + [("1 function" if n == 1 else f"{n} functions") for n in CONCURRENCIES]
    rows = [["publishes/s", "-"] + [_num(by_n[n][0]) for n in CONCURRENCIES]]
    for i, r in enumerate(by_n[CONCURRENCIES[0]][1]):
        cells = [f"{_num(by_n[n][1][i].rate)} ({_pct(by_n[n][1][i].used)})" for n in CONCURRENCIES]
        rows.append([r.label, f"{_num(r.limit)} {r.unit}", *cells])
    out += _table(header, rows)
    out += [
        "",
        "- DynamoDB: strongly consistent reads (edgepub reads with `ConsistentRead`), 1 RCU per 4 KB of each"
        f" item; 1 WCU per 1 KB written. Items taken as {big.item_kb:g} KB, the meta item as {big.meta_item_kb:g} KB"
        " (it carries the commit's journal inline, up to 300 KB, and the pending URLs). Limits per partition:"
        " 3,000 RCU/s, 1,000 WCU/s.",
        "- Every publish writes the one meta item: no partition split relieves it. The other items are counted as"
        " if on one partition, the worst case: items spread over partition keys, or a partition DynamoDB split"
        " under load, take more. Index ByReview has one partition key (`review`) for every live article.",
        "- S3: each bucket counted as one prefix, as a new bucket is (3,500 PUT/s, 5,500 GET/s); S3 partitions a"
        " busy bucket by prefix and raises these (not modelled).",
        '- Cloudflare (FIELD-NOTES.md, checked November 2026): "URL purges: about 800 URLs/s Free, 1500'
        " Pro/Business, 3000 Enterprise. Global API limit: 1200 requests / 5 min per token; breaking it blocks"
        ' every call for 5 minutes."',
        "- edgepub's purge pacing (`edgepub.limits.Pacer`): 90% of each limit, and the 5-minute request budget"
        " refilled at half its rate so no window goes over: 0.9 x 1,200 / 2 per 300 s = 1.8 requests/s,"
        f" {_num(purge_url_rate(p, urls_per_request=urls_per_request, paced=True))} URLs/s at"
        f" {urls_per_request} a request.",
        f"- Lambda: {AWS.lambda_account_concurrency:,} concurrent executions per account by default, shared with"
        " the purge, scheduler and ops functions.",
        "",
        f"## Full re-render of {rerender_articles:,} articles",
        "",
        f"One worker re-renders {_num(big.rerender_articles_per_second_per_worker)} article pages a second"
        f" (measured at {big.articles:,} articles). One page written and one URL purged per article; times are"
        " until every page is written and purged.",
        "",
    ]
    header = ["workers", "render", "S3 PUT floor", "pages written"]
    header += [f"purge every URL, {q.label}" for q in PLANS.values()] + ["purge everything"]
    rows = []
    for w in RERENDER_WORKERS:
        runs = [
            rerender(big, w, q, articles=rerender_articles, urls_per_request=urls_per_request) for q in PLANS.values()
        ]
        first = runs[0]
        row = [f"{w:,}", _duration(first.render_s), _duration(first.s3_put_s), _duration(first.write_s)]
        row += [_duration(r.by_urls_s) for r in runs] + [_duration(first.by_everything_s)]
        rows.append(row)
    out += _table(header, rows)
    serial_s = rerender_articles * seconds_per_publish(big, slow)
    threshold = purge_everything_threshold(p, urls_per_request=urls_per_request)
    documented = purge_url_rate(p, urls_per_request=urls_per_request)
    out += [
        "",
        f"- Today `edgepub republish --all` sends one publish per article through the lease: {rerender_articles:,}"
        f" x {_num(seconds_per_publish(big, slow))} s = {_duration(serial_s)} at {_ms(slow)} a call.",
        f"- {RERENDER_WORKERS[-1]:,} workers take the whole default Lambda concurrency of the account.",
        f"- Purge by URL: at {urls_per_request} URLs a request the token's 1,200 requests per 5 minutes"
        f" ({_num(documented)} URLs/s) bind before any plan's URL rate, unless a request carries more URLs."
        " The table uses Cloudflare's limits; edgepub's pacing is slower still.",
        "",
        "### Purge by URL or purge everything",
        "",
    ]
    rows = []
    for q in PLANS.values():
        rows.append(
            [
                q.label,
                f"{_num(q.urls_per_second)}",
                _num(purge_url_rate(q, urls_per_request=urls_per_request)),
                _num(purge_url_rate(q, urls_per_request=urls_per_request, paced=True)),
                f"{purge_everything_threshold(q, urls_per_request=urls_per_request):,}",
                f"{_num(q.other_per_second)} (burst {q.other_burst})",
            ]
        )
    out += _table(
        [
            "plan",
            "URL purges/s (plan)",
            f"URLs/s at {urls_per_request} a request",
            "URLs/s, edgepub pacing",
            "URLs in 5 min, edgepub pacing",
            "purge-everything requests/s",
        ],
        rows,
    )
    out += [
        "",
        f"Past {threshold:,} URLs ({p.label}; what edgepub's pacing purges in one 5-minute window), edgepub should"
        " write every page first, then purge everything once (one request; every plan has it since 2025-04), or"
        " the site's hostnames. Up to that, purge by URL. A longer URL-by-URL purge holds the token's whole"
        " request budget, and every ordinary publish's purges wait behind it. Purging everything also drops"
        " assets and images that did not change: the origin serves them again (5,500 GET/s per prefix).",
        "",
        "## Cost per 1,000 publishes",
        "",
        f"{PRICES_REGION}, prices of {PRICES_AS_OF} (below). Each publish taken as a lone edit: one invocation of"
        f" the publish and of the purge function, {TEMPLATE.memory_mb} MB each, at {_ms(slow)} a call; the"
        f" source upload's PUT; {_num(sqs_requests_per_publish())} SQS requests (publish queue: the S3"
        " notification, receive, delete; purge queue: send, receive, delete). Bursts share invocations and"
        " cost less.",
        "",
    ]
    costs = {size: cost_per_1000_publishes(measured_by_size[size], call_latency_s=slow) for size in sizes}
    header = ["item"] + [f"{size:,} articles" for size in sizes]
    rows = []
    for i, line in enumerate(costs[sizes[0]]):
        price = PRICES[line.key]
        cells = [f"{_usd(costs[s][i].usd)} ({_num(costs[s][i].quantity)} {price.unit})" for s in sizes]
        rows.append([price.item, *cells])
    rows.append(["**total**"] + [f"**{_usd(total_usd(costs[s]))}**" for s in sizes])
    out += _table(header, rows)
    out += [
        "",
        "Not counted: storage, data transfer, CloudWatch Logs, X-Ray traces (`Tracing: Active`), Secrets Manager,"
        " the long polling of idle queues, free tiers"
        + ("" if any(m.purge_seconds for m in measured_by_size.values()) else ", the purge function's duration")
        + ".",
        "",
        f"### Prices ({PRICES_REGION}, as of {PRICES_AS_OF})",
        "",
    ]
    out += _table(
        ["item", "price", "source"],
        [[q.item, f"{_price(q.usd)} per {q.per:,} {q.unit}", q.source] for q in PRICES.values()],
    )
    out += [
        "",
        "## Which limit binds first",
        "",
        f"At {big.articles:,} articles, {_ms(slow)} a call, with edgepub's purge pacing, as publishes grow with"
        f" as many functions as the account allows.",
        "",
    ]
    for q in PLANS.values():
        today = binding_limit(leased[sizes[-1]], q, call_latency_s=slow, urls_per_request=urls_per_request)
        free = binding_limit(unleashed[sizes[-1]], q, call_latency_s=slow, urls_per_request=urls_per_request)
        out.append(
            f"- {q.label}: {today.label}, at {_num(today.publishes_per_second)} publishes/s"
            f" ({_num(today.publishes_per_second * 3600)} an hour); then {today.next_label}, at"
            f" {_num(today.next_publishes_per_second)}. Without the lease: {free.label}, at"
            f" {_num(free.publishes_per_second)} publishes/s."
        )
    return "\n".join(out) + "\n"


def write_markdown(
    path: Path,
    measured_by_size: dict[int, Measured],
    *,
    plan: str = "free",
    measured_on: str = "",
    where: str = "on the embedded stack (moto and the Cloudflare emulator)",
    notes: Sequence[str] = (),
) -> str:
    """Write render_markdown's text to `path` (docs/capacity.md); returns the text."""
    text = render_markdown(measured_by_size, plan=plan, measured_on=measured_on, where=where, notes=notes)
    path.write_text(text, encoding="utf-8")
    return text
