"""The agent service: a FastAPI app running agent tasks, with tasks kept in the store.

``create_app(runner)`` serves ``POST /agent/run``, ``POST /agent/run-async``,
``GET /agent/status/{task_id}`` and ``GET /health`` around any *agent runner* — a callable
``runner(task, session_id)`` returning a mapping with a ``"status"`` (``llm_runner(client)``
makes one of an :class:`~crs.LLMClient`). Tasks live in a
:class:`~crs.ContextReferenceStore` (:class:`TaskBoard`), so every app on the same store — a
disk-backed one after a restart, a Redis-backed one shared by processes — sees the same tasks.
``crs serve`` runs it.

FastAPI is an optional extra (``pip install 'pytest-crs[service]'``): ``create_app`` loads it on
first use (``serve_setup`` when it builds the app), so ``import crs.service`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crs.service._errors import (
    ServiceBusyError,
    TaskError,
    TaskIdError,
    TaskNotFoundError,
    TaskStateError,
)
from crs.service._serve import ServeSetup, llm_runner, serve_setup
from crs.service._service import AgentRunner, AgentService
from crs.service._tasks import TaskBoard, TaskRecord, TaskStatus

if TYPE_CHECKING:
    from crs.service._app import DEFAULT_MAX_TASK_CHARS as DEFAULT_MAX_TASK_CHARS
    from crs.service._app import create_app as create_app

_LAZY = {
    "DEFAULT_MAX_TASK_CHARS": "crs.service._app",
    "create_app": "crs.service._app",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'crs.service' has no attribute {name!r}")
    import importlib

    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        from crs.errors import ConfigError

        raise ConfigError(
            f"crs.service.{name} needs the service extra ({exc})",
            hint="pip install 'pytest-crs[service]'",
        ) from exc
    return getattr(loaded, name)


__all__ = [
    "AgentRunner",
    "AgentService",
    "ServeSetup",
    "ServiceBusyError",
    "TaskBoard",
    "TaskError",
    "TaskIdError",
    "TaskNotFoundError",
    "TaskRecord",
    "TaskStateError",
    "TaskStatus",
    "llm_runner",
    "serve_setup",
]
