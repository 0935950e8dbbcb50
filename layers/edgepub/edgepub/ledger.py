"""The purge ledger: every purge API call, with its outcome, kept for a while
for operators (`edgepub status`, `edgepub purges`). DynamoDB items expire by TTL."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class LedgerEntry:
    at: str  # ISO 8601 time the call started
    form: str  # files, tags, hosts, prefixes, purge_everything
    items: tuple[str, ...]
    outcome: str  # "ok", "failed: ...", "rejected: ..."
    attempts: int
    status: int = 0
    request_id: str = ""


class PurgeLedger(Protocol):
    def record(self, entry: LedgerEntry) -> None: ...
    def entries(self, day: str) -> list[LedgerEntry]: ...


class MemoryLedger:
    def __init__(self) -> None:
        self.items: list[LedgerEntry] = []

    def record(self, entry: LedgerEntry) -> None:
        self.items.append(entry)

    def entries(self, day: str) -> list[LedgerEntry]:
        return [e for e in self.items if e.at.startswith(day)]


class DynamoLedger:
    """Items ``ledger#<YYYY-MM-DD>`` / ``<time>#<id>`` with a ``ttl`` attribute."""

    def __init__(self, table: Any, retention_days: int = 30) -> None:
        self.table = table
        self.retention_days = retention_days

    def record(self, entry: LedgerEntry) -> None:
        self.table.put_item(
            Item={
                "pk": f"ledger#{entry.at[:10]}",
                "sk": f"{entry.at}#{entry.request_id or uuid.uuid4().hex}",
                **{k: v for k, v in asdict(entry).items() if k != "items"},
                "items": list(entry.items) or ["(everything)"],
                "ttl": int(time.time()) + self.retention_days * 86400,
            }
        )

    def entries(self, day: str) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": f"ledger#{day}"},
        }
        while True:
            response = self.table.query(**kwargs)
            for item in response["Items"]:
                out.append(
                    LedgerEntry(
                        at=str(item["at"]),
                        form=str(item["form"]),
                        items=tuple(str(i) for i in item["items"]),
                        outcome=str(item["outcome"]),
                        attempts=int(item["attempts"]),
                        status=int(item.get("status", 0)),
                        request_id=str(item.get("request_id", "")),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return out
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()
