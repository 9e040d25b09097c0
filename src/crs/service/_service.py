"""Running agent tasks: the runner protocol, bounded concurrency, background tasks.

The service does not know what an agent is. It takes an **agent runner**, any callable
``runner(task, session_id)`` returning (or, when async, resolving to) a mapping with at least a
``"status"`` — the production-agent guide's ``run()`` contract that :meth:`crs.LLMClient.run`
already follows (``lambda task, session: client.run(task)``). What the runner returns is
recorded on the task as it is (redacted); a runner that raises fails the task with the
exception's type and message (redacted), and never takes the service down.

Sync runners run on a thread pool of ``max_concurrency`` threads, so a blocking SDK call never
stalls the event loop; async runners run on the loop. Either way at most ``max_concurrency``
runners run at once (a semaphore taken *before* the task is marked running, so "running" means
running), and at most ``max_pending`` background tasks wait or run in one process; past that,
:meth:`AgentService.submit` refuses with :class:`ServiceBusyError` rather than queue without
bound. Store work is blocking too and runs on the loop's default executor.

Background tasks belong to the process that accepted them. When the service closes (the app's
lifespan ends: Ctrl-C, a deploy), the ones still queued or running are recorded as failed —
"the service stopped before the task finished" — so no client polls forever for a task nobody
is running. A sync runner already inside its thread cannot be interrupted; its late result is
dropped.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, ParamSpec, TypeAlias, TypeVar

from crs._options import require_positive_int
from crs.errors import CrsError
from crs.service._errors import ServiceBusyError
from crs.service._tasks import TaskBoard, TaskRecord

__all__ = ["AgentRunner", "AgentService"]

_log = logging.getLogger("crs.service")

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: ``runner(task, session_id)`` → a mapping with a ``"status"``, or an awaitable of one.
AgentRunner: TypeAlias = Callable[[str, str], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

STOPPED: Final = "the service stopped before the task finished"


class AgentService:
    """Tasks on a :class:`TaskBoard`, run by ``runner`` (see the module docstring).

    All coroutine methods must be awaited on the loop that serves the app; ``join`` is the hook
    that lets a test (or a graceful shutdown) wait for background tasks without sleeping.
    """

    def __init__(
        self,
        runner: AgentRunner,
        *,
        board: TaskBoard | None = None,
        max_concurrency: int = 4,
        max_pending: int = 100,
    ) -> None:
        if not callable(runner):
            raise TypeError(f"runner must be callable as runner(task, session_id), got {runner!r}")
        self.runner = runner
        self.board = TaskBoard() if board is None else board
        self.max_concurrency = require_positive_int(max_concurrency, "max_concurrency")
        self.max_pending = require_positive_int(max_pending, "max_pending")
        self._is_async = inspect.iscoroutinefunction(runner) or inspect.iscoroutinefunction(
            getattr(runner, "__call__", None)  # noqa: B004 - an object with an async __call__
        )
        self._executor: ThreadPoolExecutor | None = None
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._limits = weakref.WeakKeyDictionary()
        self._pending: dict[str, asyncio.Task[TaskRecord | None]] = {}

    # -- the three operations -----------------------------------------------------------------

    async def run(self, task: str, session_id: str | None = None) -> TaskRecord:
        """Create a task, run it now, and return its final record (succeeded or failed)."""
        record = await self._offload(self.board.create, task, session_id)
        return await self._execute(record)

    async def submit(self, task: str, session_id: str | None = None) -> TaskRecord:
        """Create a task and run it in the background; returns the queued record.

        Raises:
            ServiceBusyError: ``max_pending`` background tasks are already waiting or running.
        """
        if len(self._pending) >= self.max_pending:
            raise ServiceBusyError(
                f"the service already has {len(self._pending)} background tasks pending "
                f"(max_pending={self.max_pending})",
                limit=self.max_pending,
                hint="retry later, or raise max_pending / max_concurrency",
            )
        record = await self._offload(self.board.create, task, session_id)
        background = asyncio.get_running_loop().create_task(
            self._background(record), name=f"crs-service-task-{record.task_id}"
        )
        self._pending[record.task_id] = background
        background.add_done_callback(lambda _done: self._pending.pop(record.task_id, None))
        return record

    async def status(self, task_id: str) -> TaskRecord:
        """The task's newest record (from the store: it may have run in another process)."""
        return await self._offload(self.board.get, task_id)

    # -- waiting and closing ------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Background tasks of this process that are queued or running."""
        return len(self._pending)

    async def join(self, task_id: str | None = None) -> None:
        """Wait until the background task ``task_id`` (or every one) of this process is done.

        Returns at once for a task this process is not running (finished, or another's).
        """
        if task_id is not None:
            waiting = [self._pending[task_id]] if task_id in self._pending else []
        else:
            waiting = list(self._pending.values())
        if waiting:
            await asyncio.wait(waiting)

    async def aclose(self) -> None:
        """Stop: background tasks still pending are recorded as failed (:data:`STOPPED`).

        The service can be used again afterwards (a new thread pool is made on demand).
        """
        pending = list(self._pending.values())
        for background in pending:
            background.cancel()
        if pending:
            await asyncio.wait(pending)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- internals ----------------------------------------------------------------------------

    async def _background(self, record: TaskRecord) -> TaskRecord | None:
        """Run a submitted task; nothing raised here has a caller to reach, so it is logged."""
        try:
            return await self._execute(record)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("background task %s could not be recorded", record.task_id)
            return None

    async def _execute(self, record: TaskRecord) -> TaskRecord:
        task_id = record.task_id
        try:
            async with self._limit():
                await self._offload(self.board.start, task_id)
                try:
                    outcome = await self._call(record.task, record.session_id)
                except Exception as error:
                    return await self._offload(self.board.fail, task_id, error)
                return await self._offload(self.board.finish, task_id, outcome)
        except asyncio.CancelledError:
            self._record_stopped(task_id)
            raise

    async def _call(self, task: str, session_id: str) -> Any:
        if self._is_async:
            value: Any = self.runner(task, session_id)
        else:
            loop = asyncio.get_running_loop()
            value = await loop.run_in_executor(self._pool(), self.runner, task, session_id)
        if inspect.isawaitable(value):  # a sync callable handing back a coroutine
            value = await value
        return value

    def _record_stopped(self, task_id: str) -> None:
        """Best effort, on the loop thread: the loop is shutting down and cannot offload."""
        try:
            self.board.fail(task_id, STOPPED)
        except CrsError as exc:  # already finished by its thread, or the store is gone
            _log.warning("task %s: could not record that it stopped: %s", task_id, exc)

    def _limit(self) -> asyncio.Semaphore:
        # One semaphore per event loop: an asyncio primitive is bound to the loop it first
        # waits on, and a TestClient used without ``with`` runs each request on a new loop.
        loop = asyncio.get_running_loop()
        limit = self._limits.get(loop)
        if limit is None:
            limit = self._limits[loop] = asyncio.Semaphore(self.max_concurrency)
        return limit

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="crs-service-runner"
            )
        return self._executor

    async def _offload(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def __repr__(self) -> str:
        return (
            f"AgentService(board={self.board!r}, max_concurrency={self.max_concurrency}, "
            f"max_pending={self.max_pending}, pending={self.pending})"
        )
