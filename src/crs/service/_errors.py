"""The service's errors: typed, each naming the task id it is about, never a secret.

They live here rather than in :mod:`crs.errors` while the service is an optional layer; each
derives from :class:`~crs.errors.CrsError`, so ``except CrsError`` catches them too.
"""

from __future__ import annotations

from crs.errors import CrsError

__all__ = ["ServiceBusyError", "TaskError", "TaskIdError", "TaskNotFoundError", "TaskStateError"]


class TaskError(CrsError):
    """Something about one agent task; ``task_id`` names it (shortened and redacted when it
    came from a client and is not a well-formed id)."""

    def __init__(self, message: str, *, task_id: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.task_id = task_id


class TaskIdError(TaskError, ValueError):
    """A task id is not of the form the service issues (32 lowercase hex digits, uuid4 hex)."""


class TaskNotFoundError(TaskError, LookupError):
    """No task has this id in the store (never created here, forgotten, or another store)."""


class TaskStateError(TaskError):
    """A task cannot make the asked change from the state it is in (e.g. finish it twice)."""


class ServiceBusyError(CrsError):
    """The service already has ``limit`` background tasks pending; ``limit`` is that bound.

    Refusing at once (HTTP 503) beats queueing without bound: a client can retry later, while
    an unbounded queue only grows until the process runs out of memory.
    """

    def __init__(self, message: str, *, limit: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.limit = limit
