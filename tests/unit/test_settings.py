from __future__ import annotations

import pytest
from edgepub.errors import ConfigurationError
from edgepub.settings import Settings


def test_defaults_work_without_environment():
    settings = Settings.from_env({})
    assert settings.purge_batch_size == 30
    assert settings.source_prefix == "content/"


def test_values_are_coerced_and_cache_policy_overridable():
    settings = Settings.from_env(
        {
            "EDGEPUB_PURGE_BATCH_SIZE": "100",
            "EDGEPUB_CACHE_ARTICLE": "public, s-maxage=60",
            "AWS_ENDPOINT_URL": "http://x",
        }
    )
    assert settings.purge_batch_size == 100
    assert settings.cache.article == "public, s-maxage=60"
    assert settings.aws_endpoint_url == "http://x"


@pytest.mark.parametrize(
    "env",
    [
        {"EDGEPUB_PURGE_BATCH_SIZE": "lots"},
        {"EDGEPUB_PURGE_BATCH_SIZE": "0"},
        {"EDGEPUB_SITE_URL": "https://example.com/"},
        {"EDGEPUB_REJECTED_PREFIX": "content/rejected/"},
    ],
)
def test_bad_settings_are_named(env):
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env(env)
    assert "EDGEPUB_" in str(error.value) or "prefix" in str(error.value)
