"""What kind of failure happened, and what a caller may safely do about it.

These are the values the classifier produces and every resilience component consumes: retry
policies decide from ``retryable`` and ``may_have_executed``, rate limiters pause a key for
``retry_after``, circuit breakers count failures by ``kind``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Classification", "ErrorType"]


class ErrorType(StrEnum):
    """Failure kinds; names follow the production-agent guide's ``ErrorType`` where they overlap."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER = "server"
    AUTH = "auth"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    VALIDATION = "validation"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one failure.

    Attributes:
        kind: what went wrong.
        retryable: whether trying again can succeed (a server's ``x-should-retry`` header
            overrides the default for the kind).
        retry_after: seconds the server asked the caller to wait, if it said.
        status: the HTTP status, when there was a response.
        detail: a short human-readable reason, free of secrets.
        may_have_executed: whether the server may have acted on the request before it failed
            (read timeouts, connections reset after sending, 5xx). A non-idempotent operation
            must not be re-sent after such a failure: the email may already be out.
    """

    kind: ErrorType
    retryable: bool
    retry_after: float | None = None
    status: int | None = None
    detail: str = ""
    may_have_executed: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain data, for execution records and cassettes."""
        return {
            "kind": self.kind.value,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "status": self.status,
            "detail": self.detail,
            "may_have_executed": self.may_have_executed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Classification:
        """The inverse of :meth:`to_json`; raises ``KeyError`` / ``ValueError`` on bad data."""
        return cls(
            kind=ErrorType(data["kind"]),
            retryable=bool(data["retryable"]),
            retry_after=data.get("retry_after"),
            status=data.get("status"),
            detail=str(data.get("detail", "")),
            may_have_executed=bool(data.get("may_have_executed", True)),
        )
