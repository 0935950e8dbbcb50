"""Cold start (benchmark B4): importing a function's handler module loads only what
every invocation of that function needs. The publisher (jinja2, yaml, cmarkgfm,
nh3) loads with the first event that renders, and the Cloudflare client (requests)
with the first purge; the purge function never loads the publisher at all.

No timing is asserted here (see `make bench`): only which modules a fresh
interpreter has loaded once the handler module is imported, so a module-level
import that brings one of them back fails this test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("publish", "purge", "scheduler", "ops")

# Loaded by no handler at import time, whatever its function.
HEAVY = (
    "jinja2",
    "yaml",
    "cmarkgfm",
    "nh3",
    "requests",
    "pydantic",
    "edgepub.publisher",
    "edgepub.render",
    "edgepub.readers",
    "edgepub.markdown",
    "edgepub.index",
    "edgepub.cloudflare",
    "edgepub.aws",
)

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app
assert callable(app.lambda_handler)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_import(function: str) -> set[str]:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(run.stdout))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_import_leaves_heavy_modules_for_the_first_event(function):
    loaded = modules_after_import(function)
    assert "edgepub.service" in loaded  # the probe did import the handler
    assert sorted(m for m in HEAVY if m in loaded) == []
