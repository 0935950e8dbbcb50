"""Shared fixtures. Unit tests need no server; integration tests get an embedded
stack (moto server + Cloudflare emulator on loopback, created from template.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from edgepub.embedded.stack import EmbeddedStack

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack.start() as embedded:
        yield embedded
