"""What one tool execution through the adapter produced, and the error it raises on demand.

The adapter never raises for a tool that *failed* — a 429 after every retry, an expired
credential, an open circuit, ``successful: false``: those are outcomes an agent must handle, so
they come back as an unsuccessful :class:`Execution`, classified, timed and recorded like a
success. Batches and workflows consume the same value. Code that prefers exceptions calls
:meth:`Execution.raise_for_error`, in the spirit of httpx's ``raise_for_status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crs.errors import CrsError
from crs.resilience import Classification, ErrorType

__all__ = ["Execution", "ToolExecutionError"]


@dataclass(frozen=True)
class Execution:
    """One call of one action for one user, as the adapter ran (or answered from cache) it.

    ``latency_ms`` spans the whole call on the crs clock: rate-limit waits, every attempt and
    the backoff between them. ``intent_ref`` and ``record_ref`` are the store references of the
    intent written before the call and the record written after it.
    """

    execution_id: str
    app: str
    action: str
    """The action as the backend knows it (for Composio, the slug ``GITHUB_CREATE_AN_ISSUE``)."""
    user_id: str
    successful: bool
    data: Any = None
    error: str | None = None
    failure: Classification | None = None
    """The resilience kit's verdict on a failure; ``None`` on success."""
    attempts: int = 1
    latency_ms: float = 0.0
    cached: bool = False
    started_at: float = 0.0
    """Wall-clock start on the crs clock."""
    finished_at: float = 0.0
    intent_ref: str | None = None
    record_ref: str | None = None
    auth_context_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    """The exception behind a failure raised by the backend or a guard, when there was one."""

    @property
    def error_type(self) -> ErrorType | None:
        return None if self.failure is None else self.failure.kind

    def raise_for_error(self) -> Execution:
        """Return ``self`` when successful, else raise :class:`ToolExecutionError`."""
        if self.successful:
            return self
        raise ToolExecutionError(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary in the shape the integration guide's examples print."""
        return {
            "execution_id": self.execution_id,
            "app": self.app,
            "action": self.action,
            "user_id": self.user_id,
            "success": self.successful,
            "result": self.data,
            "error": self.error,
            "error_type": None if self.failure is None else self.failure.kind.value,
            "attempts": self.attempts,
            "execution_time_ms": self.latency_ms,
            "cached": self.cached,
            "execution_intent_id": self.intent_ref,
            "execution_record_id": self.record_ref,
        }


class ToolExecutionError(CrsError):
    """An execution failed; raised by :meth:`Execution.raise_for_error`.

    ``execution`` is the whole outcome and ``classification`` its verdict, which
    :func:`~crs.resilience.classify` returns for this error unchanged. The backend's own
    exception, when there was one, is the ``__cause__``.
    """

    def __init__(self, execution: Execution) -> None:
        kind = "failed" if execution.failure is None else f"failed ({execution.failure.kind})"
        super().__init__(
            f"{execution.action} for user {execution.user_id!r} {kind} after "
            f"{execution.attempts} attempt(s): {execution.error or 'no error text'}",
            hint=None if execution.failure is None else execution.failure.detail or None,
        )
        self.execution = execution
        self.classification = execution.failure
        if execution.exception is not None:
            self.__cause__ = execution.exception
