"""Cloudflare's purge limits per plan, and the token bucket that paces calls.

Figures from Cloudflare's documentation (November 2026): tag, host, prefix and
purge-everything requests are limited per account by a token bucket; URL
purges by URLs per second; every token by 1,200 API requests per 5 minutes
(breaking it blocks all calls for 5 minutes). The client paces itself below
these; the emulator enforces them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edgepub.errors import ConfigurationError


@dataclass(frozen=True)
class PlanLimits:
    name: str
    urls_per_second: float  # files purges: URLs per second
    other_per_second: float  # tags/hosts/prefixes/everything: requests per second
    other_burst: int  # ... bucket size
    files_per_request: int = 30  # the safe documented default; 100 on the limits page, 500 on Enterprise
    other_per_request: int = 100
    requests_per_window: int = 1200  # every API call, per token
    window_seconds: float = 300.0


PLANS = {
    "free": PlanLimits("free", urls_per_second=800, other_per_second=5 / 60, other_burst=25),
    "pro": PlanLimits("pro", urls_per_second=1500, other_per_second=5, other_burst=25),
    "business": PlanLimits("business", urls_per_second=1500, other_per_second=10, other_burst=50),
    "enterprise": PlanLimits("enterprise", urls_per_second=3000, other_per_second=50, other_burst=500),
}


class TokenBucket:
    """A thread-safe token bucket. `take(n)` waits until n tokens are there; `try_take` does not wait."""

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ConfigurationError(f"a token bucket needs a positive rate and capacity, got {rate} and {capacity}")
        self.rate = rate
        self.capacity = capacity
        self.clock = clock
        self.sleep = sleep
        self.tokens = capacity
        self.stamp = clock()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, n: float = 1) -> float:
        """Seconds until `n` tokens are available (0 if they are now)."""
        with self.lock:
            self._refill()
            return max(1e-6, (min(n, self.capacity) - self.tokens) / self.rate)

    def try_take(self, n: float = 1) -> bool:
        with self.lock:
            self._refill()
            if self.tokens >= n - 1e-9:  # float dust must not make a waiter spin
                self.tokens = max(0.0, self.tokens - n)
                return True
            return False

    def take(self, n: float = 1) -> float:
        """Take n tokens, waiting as needed; returns the seconds waited."""
        n = min(n, self.capacity)
        waited = 0.0
        while not self.try_take(n):
            delay = self.wait_time(n)
            self.sleep(delay)
            waited += delay
        return waited


class Pacer:
    """The client's side of the limits: what one purge function container may spend.

    `share` divides the account's limits between concurrent containers (the
    purge queue's MaximumConcurrency), with a margin so the client never trips
    the server's buckets.
    """

    def __init__(
        self,
        plan: PlanLimits,
        share: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        margin = 0.9 * share
        self.plan = plan
        self.urls = TokenBucket(plan.urls_per_second * margin, plan.urls_per_second * margin, clock=clock, sleep=sleep)
        self.other = TokenBucket(
            plan.other_per_second * margin, max(1.0, plan.other_burst * margin), clock=clock, sleep=sleep
        )
        # any 5-minute window stays under the request limit: capacity + rate * window <= limit
        per_window = plan.requests_per_window * margin
        self.requests = TokenBucket(per_window / 2 / plan.window_seconds, per_window / 2, clock=clock, sleep=sleep)

    def before_files(self, count: int) -> float:
        return self.requests.take(1) + self.urls.take(count)

    def before_other(self) -> float:
        return self.requests.take(1) + self.other.take(1)
