"""The errors of the agent loop, under :class:`crs.errors.AgentError`.

A model or tool failure during a run is not raised: it ends the run with status ``failed`` and
an :class:`~crs.errors.AgentError` in :attr:`AgentRun.error`, so the transcript is never lost
with the exception. What *is* raised is about the session itself: an id that is taken or
unknown, a checkpoint that cannot be read, or a resume that would have to guess whether a side
effect happened.
"""

from __future__ import annotations

from crs.errors import AgentError
from crs.resilience import ErrorType

__all__ = ["AgentResumeError", "AgentSessionError", "AgentSessionNotFoundError"]


class AgentSessionError(AgentError):
    """A session cannot be started, read or continued as asked; ``session_id`` names it."""

    def __init__(
        self,
        message: str,
        *,
        session_id: str,
        hint: str | None = None,
        error_type: ErrorType = ErrorType.VALIDATION,
    ) -> None:
        super().__init__(error_type, message, recoverable=False)
        self.hint = hint
        self.session_id = session_id


class AgentSessionNotFoundError(AgentSessionError, LookupError):
    """No session has this id in the store (never started there, or forgotten)."""

    def __init__(self, message: str, *, session_id: str, hint: str | None = None) -> None:
        super().__init__(message, session_id=session_id, hint=hint, error_type=ErrorType.NOT_FOUND)


class AgentResumeError(AgentSessionError):
    """Resuming would have to guess whether a side-effecting tool call already happened.

    Raised only with ``in_doubt="raise"``; ``calls`` names the tool calls in doubt. Nothing was
    written, so the session can be resumed again with another policy once someone checked.
    """

    def __init__(
        self, message: str, *, session_id: str, calls: tuple[str, ...], hint: str | None = None
    ) -> None:
        super().__init__(message, session_id=session_id, hint=hint, error_type=ErrorType.CONFLICT)
        self.calls = calls
