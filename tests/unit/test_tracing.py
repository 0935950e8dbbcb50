"""X-Ray sees the Cloudflare calls. The tracer's http.client patch misses `requests`
(urllib3 2 sends without http.client's patched methods), so `requests` is patched
when the first Cloudflare purger is built, in Lambda with tracing on only: the purge
function's cold start still imports neither, and local runs are not patched at all.

Each case runs in a fresh interpreter: a patch cannot be undone in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import app  # the purge function's handler module, as Lambda imports it
imported = "requests" in sys.modules
from edgepub.cloudflare import CloudflarePurger
from edgepub.settings import Settings
purger = CloudflarePurger(Settings(), lambda: "token")
CloudflarePurger(Settings(), lambda: "token")  # a second purger patches nothing twice
patcher = sys.modules.get("aws_xray_sdk.core.patcher")
patched = sorted(patcher._PATCHED_MODULES) if patcher else []
request = type(purger.session).request  # what edgepub.cloudflare.api_request calls
print(json.dumps({"requests_at_import": imported, "patched": patched, "wrapped": hasattr(request, "__wrapped__")}))
"""


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / "purge")],
        capture_output=True,
        text=True,
        env={**clean, "AWS_DEFAULT_REGION": "us-east-1", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", **env},
        cwd=ROOT,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_in_lambda_with_tracing_on_the_first_purger_patches_requests_and_the_cold_start_does_not():
    found = probe(LAMBDA_TASK_ROOT=str(ROOT / "functions" / "purge"))
    assert found["requests_at_import"] is False
    assert "requests" in found["patched"]  # type: ignore[operator]
    assert found["wrapped"] is True  # the purger's session requests through X-Ray's wrapper


@pytest.mark.parametrize(
    "env",
    [
        {},  # a local run, the CLI, the embedded stack
        {"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"},
    ],
    ids=["outside-lambda", "tracing-disabled"],
)
def test_without_lambda_tracing_nothing_is_patched(env):
    found = probe(**env)
    assert "requests" not in found["patched"]  # type: ignore[operator]
    assert found["wrapped"] is False
