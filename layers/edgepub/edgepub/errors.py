"""The exceptions edgepub raises, under one base class, each naming what went wrong."""

from __future__ import annotations

from dataclasses import dataclass


class EdgepubError(Exception):
    """Base of every error edgepub raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a source document: which field, and what; where the
    format has positions (YAML front matter, JSON syntax), the line and column."""

    field: str
    message: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.field}{where}: {self.message}"


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
            "problems": [
                {"field": p.field, "message": p.message, **({"line": p.line, "column": p.column} if p.line else {})}
                for p in self.problems
            ],
        }


class InvalidRequest(EdgepubError):
    """A request or argument edgepub cannot act on as given (a bad slug, URL, date or action).

    Retrying the same request will not help; correcting it will."""

    exit_code = 2


class OperatorError(EdgepubError):
    """An operator asked for something that cannot be done as asked (nothing to roll back to, ...)."""

    exit_code = 3


class TransientError(EdgepubError):
    """Something outside edgepub failed in a way that retrying may fix."""

    exit_code = 75  # EX_TEMPFAIL


class ConfigurationError(EdgepubError):
    """Settings are missing or inconsistent."""

    exit_code = 78  # EX_CONFIG


class MissingDependency(ConfigurationError):
    """A feature needs an optional part of edgepub that is not installed."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the {module!r} package, which is not installed: pip install 'edgepub[{extra}]'"
        )
        self.module = module
        self.extra = extra


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
