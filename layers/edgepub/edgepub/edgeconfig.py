"""Edge configuration as code: the Cloudflare rules the site needs (index
rewrite, HTML eligible for cache, bypass for logged-in visitors), kept as data
in `edge/rules.json` and applied through the Rulesets API, one phase entrypoint
at a time (PUT replaces the phase's rules, so applying twice is a no-op)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from edgepub.cloudflare import TokenProvider, api_request
from edgepub.errors import ConfigurationError
from edgepub.settings import Settings


def load_rules(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Rules by phase from the rules file; raise ConfigurationError naming what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: cannot read edge rules: {exc}") from None
    phases = data.get("phases") if isinstance(data, dict) else None
    if not isinstance(phases, dict) or not phases:
        raise ConfigurationError(f"{path}: expected {{'phases': {{phase: {{'rules': [...]}}}}}}")
    rules: dict[str, list[dict[str, Any]]] = {}
    for phase, spec in phases.items():
        items = spec.get("rules") if isinstance(spec, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(r, dict) and isinstance(r.get("expression"), str) and isinstance(r.get("action"), str)
            for r in items
        ):
            raise ConfigurationError(f"{path}: phase {phase}: every rule needs an expression and an action")
        rules[phase] = items
    return rules


def describe(rules: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for phase, items in rules.items():
        lines.append(f"{phase}:")
        for rule in items:
            lines.append(f"  - {rule.get('description', '(no description)')}")
            lines.append(f"      when   {rule['expression']}")
            settings = ", ".join(f"{k}={v}" for k, v in _flatten(rule.get("action_parameters", {})))
            lines.append(f"      action {rule['action']}" + (f": {settings}" if settings else ""))
            if rule.get("enabled") is False:
                lines.append("      (disabled)")
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Action parameters as dotted names and JSON scalars: uri.path.expression=..., cache=true."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix, value if isinstance(value, str) else json.dumps(value))]


def apply_rules(
    settings: Settings,
    token: TokenProvider,
    rules: dict[str, list[dict[str, Any]]],
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """PUT each phase's rules to the zone's phase entrypoint; return Cloudflare's results by phase."""
    http = session or requests.Session()
    base = f"{settings.cloudflare_api_base.rstrip('/')}/zones/{settings.cloudflare_zone_id}/rulesets/phases"
    results: dict[str, Any] = {}
    for phase, items in rules.items():
        what = f"the {phase} rules"
        payload = api_request(
            http, "PUT", f"{base}/{phase}/entrypoint", {"rules": items}, token, settings.purge_timeout_seconds, what
        )
        results[phase] = payload.get("result")
    return results
