"""Shared fixtures. Unit tests need no server; integration tests get an embedded
stack (moto server + Cloudflare emulator on loopback, created from template.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from edgepub.embedded.stack import EmbeddedStack, patch_moto

# Every moto in the tests is the embedded stack's, in-process ones (`mock_aws`, the crash-point
# sweeps) included: a Query lists its partition, reads are answered with json.dumps (same answers).
patch_moto()

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack.start() as embedded:
        yield embedded


@pytest.fixture(autouse=True)
def functions_stay_within_their_roles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After a test, every AWS call the functions of its embedded stacks made is allowed by the
    function's role in template.yaml, resources included (moto refuses what it can judge;
    edgepub.embedded.iam checks the rest). A test that provokes a violation on purpose forgets it."""
    found: list[str] = []
    down = EmbeddedStack.down

    def checked_down(self: EmbeddedStack) -> None:
        found.extend(self.iam_violations())
        down(self)

    monkeypatch.setattr(EmbeddedStack, "down", checked_down)
    yield
    assert not found, "calls the functions' roles do not allow:\n" + "\n".join(found)
