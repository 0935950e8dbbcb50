"""The purge client against the Cloudflare emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from edgepub.cloudflare import CloudflarePurger
from edgepub.embedded.cloudflare_emulator import CloudflareEmulator
from edgepub.errors import PurgeRejected, PurgeUnavailable
from edgepub.ledger import MemoryLedger
from edgepub.settings import Settings

ZONE = "0123456789abcdef0123456789abcdef"
TOKEN = "secret-token-value-123"


@pytest.fixture
def emulator() -> Iterator[CloudflareEmulator]:
    with CloudflareEmulator(TOKEN, ZONE) as cf:
        yield cf


def purger(cf: CloudflareEmulator, token: str = TOKEN, batch: int = 30, attempts: int = 5) -> CloudflarePurger:
    settings = Settings(
        cloudflare_api_base=cf.api_base,
        cloudflare_zone_id=ZONE,
        purge_batch_size=batch,
        purge_max_attempts=attempts,
        purge_plan="enterprise",
    )
    return CloudflarePurger(settings, lambda: token, sleep=lambda seconds: None, ledger=LEDGER)


LEDGER = MemoryLedger()


def test_urls_are_deduplicated_and_sent_in_batches_of_the_configured_size(emulator):
    urls = [f"https://www.example.com/a{i}/" for i in range(65)]
    receipts = purger(emulator).purge(urls + urls[:5])
    assert [len(r.items) for r in receipts] == [30, 30, 5]
    assert [len(p.items) for p in emulator.state.purges] == [30, 30, 5]
    assert emulator.state.purged_urls() == urls
    assert all(r.request_id for r in receipts)


def test_emulator_rejects_batches_over_the_limit_as_the_api_does(emulator):
    with pytest.raises(PurgeRejected) as error:
        purger(emulator, batch=31).purge([f"https://www.example.com/{i}/" for i in range(31)])
    assert "1016" in str(error.value)


def test_bad_token_is_a_clear_non_retryable_error_that_does_not_leak_the_token(emulator):
    with pytest.raises(PurgeRejected) as error:
        purger(emulator, token="wrong-token-abc").purge(["https://www.example.com/a/"])
    message = str(error.value)
    assert "HTTP 403" in message and "Cache Purge permission" in message
    assert "wrong-token-abc" not in message and TOKEN not in message
    assert error.value.retryable is False


def test_rate_limit_and_server_errors_are_retried_then_succeed(emulator):
    emulator.state.fail_next(429, 502)
    [receipt] = purger(emulator).purge(["https://www.example.com/a/"])
    assert receipt.attempts == 3 and receipt.items == ("https://www.example.com/a/",)
    assert LEDGER.items[-1].outcome == "ok" and LEDGER.items[-1].attempts == 3


def test_retries_are_bounded_and_say_why(emulator):
    emulator.state.fail_next(429, 429)
    with pytest.raises(PurgeUnavailable) as error:
        purger(emulator, attempts=2).purge(["https://www.example.com/a/"])
    assert error.value.status == 429 and error.value.retry_after == 1.0
    assert LEDGER.items[-1].outcome.startswith("failed:") and LEDGER.items[-1].attempts == 2


def test_purge_everything_needs_the_zone_id_typed_back(emulator):
    with pytest.raises(PurgeRejected):
        purger(emulator).purge_everything(confirm="yes")
    assert emulator.state.purges == []
    receipt = purger(emulator).purge_everything(confirm=ZONE)
    assert emulator.state.purges[-1].form == "purge_everything" and receipt.request_id


def test_unreachable_api_is_retryable():
    settings = Settings(
        cloudflare_api_base="http://127.0.0.1:9/client/v4", purge_timeout_seconds=1, purge_max_attempts=2
    )
    with pytest.raises(PurgeUnavailable):
        CloudflarePurger(settings, lambda: TOKEN, sleep=lambda seconds: None).purge(["https://www.example.com/a/"])
