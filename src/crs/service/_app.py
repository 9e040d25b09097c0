"""The agent service as a FastAPI app: the seed's three endpoints, validated and persisted.

Contract (every error body is JSON with a ``detail``, and never echoes what a client sent back
in full, so neither a secret pasted into a request nor a megabyte of task text lands in a log):

* ``POST /agent/run`` — ``{"task": str, "session_id": str?}`` runs the task now and answers
  **200 with the task's final record**, whether the agent succeeded or failed: the request did
  what it was asked (run and record the task), and the record's ``status`` / ``error`` say how
  the agent fared. A runner that raises is a failed task, not a 500, so the client still gets
  the ``task_id`` under which the failure is kept. 5xx means the service itself failed (its
  store), never the agent.
* ``POST /agent/run-async`` — same body; **202** ``{"task_id", "status": "queued",
  "status_url"}``, the task runs in the background; **503** when ``max_pending`` tasks are
  already pending in this process.
* ``GET /agent/status/{task_id}`` — **200** the record; **404** no such task; **422** an id that
  is not of the form the service issues (32 lowercase hex digits).
* ``GET /health`` — **200** ``{"status": "ok", ...}``.
* **409** a task was moved by another writer more often than a commit retries (a task driven
  from two places at once); **500** the store failed (the message is redacted).
* **422** for any invalid body: a missing, non-string, blank or over-long ``task`` (the message
  names ``max_task_chars``), a malformed ``session_id``, an unknown field, or a body that is not
  a JSON object. ``detail`` is a list of ``{"loc", "msg", "type"}``, FastAPI's shape minus the
  echoed ``input``.

This module is deliberately written without ``from __future__ import annotations``: FastAPI
reads endpoint annotations at runtime, and the request model is made per app (its
``max_task_chars`` is a parameter), so it only exists in :func:`create_app`'s scope.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final, Literal

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crs._options import require_positive_int
from crs._secrets import redact_secrets
from crs.errors import CrsError, HeadConflictError
from crs.service._errors import ServiceBusyError, TaskIdError, TaskNotFoundError
from crs.service._service import AgentRunner, AgentService
from crs.service._tasks import TaskBoard, TaskRecord
from crs.store import ContextReferenceStore

__all__ = ["DEFAULT_MAX_TASK_CHARS", "create_app"]

#: Longest ``task`` accepted by default: a generous prompt, far below a body that could hurt.
DEFAULT_MAX_TASK_CHARS: Final = 16_000
_SESSION_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
_MAX_SESSION_CHARS: Final = 128


class TaskView(BaseModel):
    """A task's record as the service returns it."""

    task_id: str
    task: str
    session_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    result: Any = None
    error: str | None = None
    outcome: dict[str, Any] | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None


class Accepted(BaseModel):
    """What ``POST /agent/run-async`` answers: where to poll for the task."""

    task_id: str
    status: Literal["queued"]
    status_url: str


class Health(BaseModel):
    status: Literal["ok"]
    service: str
    pending: int
    max_pending: int
    max_concurrency: int


class _Detail(BaseModel):
    detail: Any


def create_app(
    runner: AgentRunner,
    *,
    store: ContextReferenceStore | None = None,
    name: str = "agent",
    max_task_chars: int = DEFAULT_MAX_TASK_CHARS,
    max_concurrency: int = 4,
    max_pending: int = 100,
    title: str = "crs agent service",
) -> FastAPI:
    """The agent service (see the module docstring for the HTTP contract).

    Args:
        runner: ``runner(task, session_id)`` returning a mapping with a ``"status"`` (sync or
            async); see :mod:`crs.service._service`.
        store: where tasks are kept; share it (``disk_path=`` to survive restarts,
            ``redis_url=`` for several processes) and every app on it sees the same tasks.
            An in-memory store of the app's own when omitted.
        name: the task namespace in the store (apps with different names never share tasks).
        max_task_chars: longest ``task`` accepted; longer ones get a 422 naming the limit.
        max_concurrency: runners running at once (and threads for sync runners).
        max_pending: background tasks queued or running in this process before
            ``POST /agent/run-async`` answers 503.

    The :class:`AgentService` is ``app.state.service``: ``await app.state.service.join()``
    waits for background tasks (on the app's event loop, e.g. ``client.portal.call`` with a
    ``TestClient`` used as a context manager). Background tasks need the app's lifespan to run
    (uvicorn runs it; a ``TestClient`` does inside ``with``); when it ends, tasks still pending
    are recorded as failed.
    """
    limit = require_positive_int(max_task_chars, "max_task_chars")
    service = AgentService(
        runner,
        board=TaskBoard(store, name=name),
        max_concurrency=max_concurrency,
        max_pending=max_pending,
    )

    class TaskRequest(BaseModel):
        """A task for the agent; unknown fields are refused, so a typo is never ignored."""

        model_config = ConfigDict(extra="forbid", strict=True)

        task: Annotated[
            str,
            Field(
                min_length=1,
                max_length=limit,
                description=f"what the agent should do (at most max_task_chars={limit} chars)",
            ),
        ]
        session_id: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=_MAX_SESSION_CHARS,
                pattern=_SESSION_PATTERN,
                description="groups tasks of one conversation; defaults to the task id",
            ),
        ] = None

        @field_validator("task")
        @classmethod
        def _not_blank(cls, value: str) -> str:
            if not value.strip():
                raise ValueError("task must not be blank (it is only whitespace)")
            return value

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await service.aclose()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.service = service
    errors: dict[int | str, dict[str, Any]] = {422: {"model": _Detail}}

    @app.post(
        "/agent/run",
        response_model=TaskView,
        responses=errors,
        summary="Run a task now and return its final record",
    )
    async def run_agent(request: TaskRequest) -> dict[str, Any]:
        """200 with the final record, succeeded *or* failed: ``status`` says which."""
        record = await service.run(request.task, request.session_id)
        return record.to_dict()

    @app.post(
        "/agent/run-async",
        status_code=202,
        response_model=Accepted,
        responses={**errors, 503: {"model": _Detail}},
        summary="Queue a task to run in the background",
    )
    async def run_agent_async(request: TaskRequest) -> dict[str, Any]:
        """202 with the task id to poll; 503 when ``max_pending`` tasks are pending."""
        record = await service.submit(request.task, request.session_id)
        return _accepted(record)

    @app.get(
        "/agent/status/{task_id}",
        response_model=TaskView,
        responses={**errors, 404: {"model": _Detail}},
        summary="A task's current record",
    )
    async def agent_status(
        task_id: Annotated[str, Path(description="the task_id the service returned")],
    ) -> dict[str, Any]:
        record = await service.status(task_id)
        return record.to_dict()

    @app.get("/health", response_model=Health, summary="Liveness and load")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "service": name,
            "pending": service.pending,
            "max_pending": service.max_pending,
            "max_concurrency": service.max_concurrency,
        }

    _install_error_handlers(app, limit)
    return app


def _accepted(record: TaskRecord) -> dict[str, Any]:
    return {
        "task_id": record.task_id,
        "status": record.status.value,
        "status_url": f"/agent/status/{record.task_id}",
    }


def _install_error_handlers(app: FastAPI, max_task_chars: int) -> None:
    """Errors as JSON with a ``detail``; nothing a client sent is echoed back unredacted."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": [_problem(error, max_task_chars) for error in exc.errors()]},
        )

    @app.exception_handler(TaskIdError)
    async def bad_task_id(_request: Request, exc: TaskIdError) -> JSONResponse:
        problem = {"loc": ["path", "task_id"], "msg": str(exc), "type": "task_id"}
        return JSONResponse(status_code=422, content={"detail": [problem]})

    @app.exception_handler(TaskNotFoundError)
    async def unknown_task(_request: Request, exc: TaskNotFoundError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(ServiceBusyError)
    async def busy(_request: Request, exc: ServiceBusyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(HeadConflictError)
    async def conflict(_request: Request, exc: HeadConflictError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": redact_secrets(str(exc))})

    @app.exception_handler(CrsError)
    async def service_failed(_request: Request, exc: CrsError) -> JSONResponse:
        detail = f"the service failed: {type(exc).__name__}: {redact_secrets(str(exc))}"
        return JSONResponse(status_code=500, content={"detail": detail})


def _problem(error: Any, max_task_chars: int) -> dict[str, Any]:
    """One validation error without its ``input`` (which may be huge, or a secret)."""
    loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
    kind = str(error.get("type", ""))
    msg = redact_secrets(str(error.get("msg", "")))
    if loc == ["body", "task"] and kind == "string_too_long":
        msg = f"{msg}: the task is longer than this service's max_task_chars={max_task_chars}"
    return {"loc": loc, "msg": msg, "type": kind}
