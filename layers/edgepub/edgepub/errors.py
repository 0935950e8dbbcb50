"""The exceptions edgepub raises, under one base class, each naming what went wrong."""

from __future__ import annotations

from dataclasses import dataclass


class EdgepubError(Exception):
    """Base of every error edgepub raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a source document: which field, and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidSource(EdgepubError):
    """A source document cannot be published as it is. Retrying will not help.

    Names the file and lists every problem found, field by field.
    """

    exit_code = 2

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(self.describe())

    def __reduce__(self) -> tuple[type[InvalidSource], tuple[str, list[Problem]]]:
        # picklable, for the worker processes of a local build
        return (InvalidSource, (self.source, self.problems))

    @classmethod
    def single(cls, source: str, field: str, message: str) -> InvalidSource:
        return cls(source, [Problem(field, message)])

    def describe(self) -> str:
        if not self.problems:
            return f"{self.source}: invalid input, see above"
        lines = "; ".join(str(p) for p in self.problems)
        return f"{self.source}: {lines}"

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "problems": [{"field": p.field, "message": p.message} for p in self.problems],
        }


class TransientError(EdgepubError):
    """Something outside edgepub failed in a way that retrying may fix."""

    exit_code = 75  # EX_TEMPFAIL


class ConfigurationError(EdgepubError):
    """Settings are missing or inconsistent."""

    exit_code = 78  # EX_CONFIG


class PurgeError(EdgepubError):
    """Cloudflare refused a purge. `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class PurgeUnavailable(PurgeError, TransientError):
    """Cloudflare is rate limiting or failing; the purge should be retried later."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        PurgeError.__init__(self, message, retryable=True, status=status)
        self.retry_after = retry_after


class PurgeRejected(PurgeError):
    """Cloudflare rejected the request itself (bad token, bad body): retrying cannot fix it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)
