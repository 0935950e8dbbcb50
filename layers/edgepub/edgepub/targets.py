"""Which edgepub the CLI talks to: a deployed stack (`--stack NAME`, resolved from
CloudFormation outputs and the functions' own configuration), the variables in
the environment (EDGEPUB_*), or the embedded stack `edgepub serve` is running."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgepub.errors import ConfigurationError, EdgepubError

SERVE_FILE = Path(".edgepub/serve.json")  # written by `edgepub serve` while it runs: endpoints, env, pid


@dataclass
class Target:
    kind: str  # "stack", "environment", "embedded"
    env: dict[str, str] = field(default_factory=dict)
    ops_function: str = ""  # set for a deployed stack: actions run there
    description: str = ""


def resolve(stack: str | None) -> Target:
    if stack:
        return _deployed(stack)
    if os.environ.get("EDGEPUB_SITE_BUCKET"):
        return Target("environment", dict(os.environ), description="EDGEPUB_* variables")
    stale = ""
    if SERVE_FILE.is_file():
        data, stale = _serving(SERVE_FILE)
        if data is not None:
            return Target("embedded", {**os.environ, **data["env"]}, description=f"edgepub serve ({data['endpoint']})")
    raise ConfigurationError(
        f"{stale}no edgepub to talk to: run `edgepub serve` in another terminal (the embedded stack), "
        "set the EDGEPUB_* variables, or pass --stack <deployed stack name>"
    )


def serving(path: Path = SERVE_FILE) -> dict[str, Any] | None:
    """What the running `edgepub serve` wrote to `path` (pid, endpoint, edge, env), or None."""
    return _serving(path)[0] if path.is_file() else None


def _serving(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The serve file's contents if the `edgepub serve` that wrote it still runs; else
    remove the file and say why (a serve killed with SIGKILL leaves it behind)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = int(data["pid"])
        env = dict(data["env"])
        endpoint = str(data["endpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        reason = f"{path} is unreadable or from an older edgepub"
    else:
        if process_alive(pid):
            return {**data, "env": env, "endpoint": endpoint}, ""
        reason = f"{path} names edgepub serve process {pid}, which is no longer running"
    path.unlink(missing_ok=True)
    return None, f"{reason}; removed it. "


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    except OSError:
        return False
    return True


def _deployed(stack: str) -> Target:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        ops = outputs["OpsFunctionName"]
        config = boto3.client("lambda").get_function_configuration(FunctionName=ops)
    except (ClientError, BotoCoreError, KeyError) as exc:
        raise ConfigurationError(f"cannot resolve stack {stack!r}: {exc}") from None
    env = {**os.environ, **config.get("Environment", {}).get("Variables", {})}
    return Target("stack", env, ops_function=ops, description=f"stack {stack} ({ops})")


def invoke_ops(target: Target, payload: dict[str, Any]) -> dict[str, Any]:
    """Run an operator action in the deployed ops function."""
    import boto3

    response = boto3.client("lambda").invoke(FunctionName=target.ops_function, Payload=json.dumps(payload).encode())
    result: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise EdgepubError(
            f"the ops function {target.ops_function} failed: "
            f"{result.get('errorType', 'error')}: {result.get('errorMessage', 'no message')} (see its log)"
        )
    return result
