"""Agent tasks kept in the Context Reference Store, so every service instance sees the same ones.

The seed's service kept tasks in a process-local dict: a second worker never saw them, and a
restart lost them. Here each task is a chain of **records** in the store — one JSON document
per state change (queued → running → succeeded | failed) — and the task's own A/B head slots
(:mod:`crs.store._heads`) point at the newest one. Every change is a compare-and-swap on those
slots, so two instances on the same store (a disk-backed store reopened after a restart, or a
Redis-backed one shared by processes) read the same state and can never both move a task on
from the same state. Superseded records are released once no slot points at them, so a task
costs its two slots and at most two records.

Ids are uuid4 hex (32 lowercase hex digits); anything else is refused before the store is
touched, so a malformed id from a URL never becomes a store key. Results and errors are redacted
(credential-named fields and secret-shaped text) before they are written: records are read by
whoever holds a task id, and end up in logs.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from crs._secrets import redact_data, redact_secrets
from crs.clock import Clock, resolve_clock
from crs.errors import ContextLookupError, HeadConflictError
from crs.service._errors import TaskError, TaskIdError, TaskNotFoundError, TaskStateError
from crs.store import ContextReferenceStore
from crs.store._codec import json_field_problem
from crs.store._heads import HeadSlots, give_back, release

__all__ = [
    "SUCCESS_STATUSES",
    "TaskBoard",
    "TaskRecord",
    "TaskStatus",
    "check_task_id",
    "new_task_id",
    "outcome_status",
]


RECORD_FORMAT: Final = "crs.service.task"
FORMAT_VERSION: Final = 1
# Like workflow checkpoints: above ordinary contexts and the execution journal, below the
# credential vault. Losing a record loses a task's result.
PRIORITY: Final = 1 << 12
RECORD_METADATA: Final = {"priority": PRIORITY, "content_type": "application/vnd.crs.service-task"}
_HEAD_CONTENT_TYPE: Final = "application/vnd.crs.service-task-head"
_TASK_ID: Final = re.compile(r"[0-9a-f]{32}")
# A lost compare-and-swap is retried on the newer state this many times; a conflict that keeps
# coming back means something else is driving the task, and the caller should hear about it.
_CAS_ATTEMPTS: Final = 3
_SHOWN_ID_CHARS: Final = 40

#: Runner statuses read as success (compared case-insensitively); anything else is a failure.
SUCCESS_STATUSES: Final = frozenset({"success", "succeeded", "completed", "complete", "ok", "done"})


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


@dataclass(frozen=True)
class TaskRecord:
    """One task as its newest record has it.

    ``outcome`` is the mapping the runner returned (redacted; values the store cannot keep are
    described instead), ``result`` its ``"result"`` and ``error`` why the task failed. Times are
    wall-clock seconds on the crs clock. ``generation`` counts the task's state changes.
    """

    task_id: str
    task: str
    session_id: str
    status: TaskStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    error: str | None = None
    outcome: dict[str, Any] | None = None
    generation: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The record as the service returns it (no storage bookkeeping)."""
        return {
            "task_id": self.task_id,
            "task": self.task,
            "session_id": self.session_id,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "outcome": self.outcome,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        document = {"format": RECORD_FORMAT, "version": FORMAT_VERSION, **self.to_dict()}
        document["generation"] = self.generation
        return document

    @classmethod
    def from_json(cls, data: object, task_id: str) -> TaskRecord:
        """Read a stored document back, refusing anything that is not a record of ``task_id``."""
        if not isinstance(data, dict):
            raise ValueError(f"not a task record: a {type(data).__name__}")
        if data.get("format") != RECORD_FORMAT or data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"not a version-{FORMAT_VERSION} task record: format {data.get('format')!r}, "
                f"version {data.get('version')!r}"
            )
        if data.get("task_id") != task_id:
            raise ValueError(f"the record is of task {data.get('task_id')!r}")
        outcome = data.get("outcome")
        error = data.get("error")
        generation = data.get("generation")
        if outcome is not None and not isinstance(outcome, dict):
            raise ValueError(f"field 'outcome' is malformed: {type(outcome).__name__}")
        if error is not None and not isinstance(error, str):
            raise ValueError(f"field 'error' is malformed: {type(error).__name__}")
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
            raise ValueError(f"field 'generation' is malformed: {generation!r}")
        return cls(
            task_id=task_id,
            task=_text(data, "task"),
            session_id=_text(data, "session_id"),
            status=TaskStatus(_text(data, "status")),
            created_at=_time(data, "created_at"),
            started_at=_time(data, "started_at", optional=True),
            finished_at=_time(data, "finished_at", optional=True),
            result=data.get("result"),
            error=error,
            outcome=outcome,
            generation=generation,
        )

    def __repr__(self) -> str:
        # The task text and the result are the user's data; a repr lands in logs.
        return (
            f"TaskRecord(task_id={self.task_id!r}, status={self.status.value!r}, "
            f"task=<{len(self.task)} chars>, generation={self.generation})"
        )


def new_task_id() -> str:
    """A fresh task id: uuid4 hex (unguessable, so holding an id is what lets one read a task)."""
    return uuid.uuid4().hex


def check_task_id(value: object) -> str:
    """``value`` if it has the form of an id the service issues, else :class:`TaskIdError`."""
    if isinstance(value, str) and _TASK_ID.fullmatch(value):
        return value
    shown = _shown(value)
    raise TaskIdError(
        f"task id {shown} is not a task id: expected 32 lowercase hex digits (a uuid4 hex, as "
        "returned by POST /agent/run-async)",
        task_id=shown,
        hint="use the task_id exactly as the service returned it",
    )


def outcome_status(outcome: Mapping[str, Any]) -> tuple[TaskStatus, str | None]:
    """What a runner's returned mapping means: the task's final status and, if failed, why.

    ``"status"`` in :data:`SUCCESS_STATUSES` (``"success"``, ``"completed"`` ...) succeeds;
    any other status fails, with the mapping's ``"error"`` (redacted) or the status as reason.
    """
    status = outcome.get("status")
    if isinstance(status, str) and status.strip().lower() in SUCCESS_STATUSES:
        return TaskStatus.SUCCEEDED, None
    error = outcome.get("error")
    if isinstance(error, str) and error:
        return TaskStatus.FAILED, redact_secrets(error)
    if status is None:
        return TaskStatus.FAILED, "the runner's result has no 'status'"
    return TaskStatus.FAILED, f"the runner reported status {redact_secrets(repr(status))}"


class TaskBoard:
    """The tasks of one service, in a Context Reference Store (see the module docstring).

    Args:
        store: where records live; share it (a ``disk_path``, a ``redis_url``) to share tasks.
            An in-memory store of its own when omitted: tasks then live as long as the board.
        name: tasks are found through slots named after it, so services with different names
            on one store never see each other's tasks.
        clock: what record times are read from (the crs default clock, looked up at each use,
            when omitted).

    Every method is blocking store work; it is thread-safe, and safe across processes sharing
    a Redis-backed store.
    """

    def __init__(
        self,
        store: ContextReferenceStore | None = None,
        *,
        name: str = "agent",
        clock: Clock | None = None,
    ) -> None:
        if store is not None and not isinstance(store, ContextReferenceStore):
            raise TypeError(f"store must be a ContextReferenceStore, got {type(store).__name__}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self._owns_store = store is None
        self.store: ContextReferenceStore = ContextReferenceStore() if store is None else store
        self.name = name
        self._clock = clock

    # -- lifecycle of a task ------------------------------------------------------------------

    def create(self, task: str, session_id: str | None = None) -> TaskRecord:
        """Record a new queued task; ``session_id`` defaults to the task's id."""
        if not isinstance(task, str):
            raise TypeError(f"task must be a str, got {type(task).__name__}")
        if session_id is not None and not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str or None, got {type(session_id).__name__}")
        task_id = new_task_id()
        record = TaskRecord(
            task_id=task_id,
            task=task,
            session_id=session_id or task_id,
            status=TaskStatus.QUEUED,
            created_at=self._now(),
        )
        slots = self._slots(task_id)
        if slots.read():  # a uuid4 collision, or someone wrote under this name by hand
            raise TaskStateError(
                f"task {task_id!r} already exists in this store",
                task_id=task_id,
                hint="task ids are never reused; create the task again",
            )
        # Both slots are written now, before anyone else knows the id, and exist for the
        # task's whole life. HeadSlots.read() probes a slot by storing its content and
        # releasing that hold again; probing a slot that does not exist yet creates and then
        # deletes it, which would delete a concurrent writer's first commit to that very slot.
        # Generation 0 is a second pointer to the same first record.
        ref = self.store.store(record.to_json(), RECORD_METADATA)
        try:
            slots.write(0, ref)
            slots.write(record.generation, ref)
        except BaseException:
            slots.clear()
            release(self.store, ref)
            raise
        return record

    def start(self, task_id: str) -> TaskRecord:
        """Mark a queued task running."""
        return self._transition(task_id, "start", (TaskStatus.QUEUED,), self._started)

    def finish(self, task_id: str, outcome: object) -> TaskRecord:
        """Record what the runner returned for a running task; its status decides the end state.

        A value the runner returns that is not a mapping fails the task, with its type named.
        """
        if not isinstance(outcome, Mapping):
            return self.fail(
                task_id,
                f"the runner returned a {type(outcome).__name__}, not a mapping with a 'status'",
            )
        status, error = outcome_status(outcome)
        recorded = _storable(redact_data(dict(outcome)))

        def finished(record: TaskRecord) -> TaskRecord:
            return replace(
                record,
                status=status,
                finished_at=self._now(),
                result=recorded.get("result"),
                error=error,
                outcome=recorded,
            )

        return self._transition(task_id, "finish", (TaskStatus.RUNNING,), finished)

    def fail(self, task_id: str, error: BaseException | str) -> TaskRecord:
        """Record a queued or running task as failed; an exception is kept as ``Type: message``.

        The text is redacted: an SDK error may quote the key it was given.
        """
        if isinstance(error, BaseException):
            text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        else:
            text = str(error)
        text = redact_secrets(text)

        def failed(record: TaskRecord) -> TaskRecord:
            return replace(record, status=TaskStatus.FAILED, finished_at=self._now(), error=text)

        return self._transition(task_id, "fail", (TaskStatus.QUEUED, TaskStatus.RUNNING), failed)

    # -- reading ------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord:
        """The task as its newest record has it.

        Raises:
            TaskIdError: ``task_id`` is not of the form the service issues.
            TaskNotFoundError: no task has this id in the store.
            TaskError: the newest record is gone or unreadable.
        """
        return self._load(self._slots(check_task_id(task_id)), task_id)[1]

    def forget(self, task_id: str) -> bool:
        """Delete a task's records and slots; ``False`` if it had none (a running task's
        runner will then fail to record its end, with :class:`TaskNotFoundError`)."""
        slots = self._slots(check_task_id(task_id))
        pointers = slots.read()
        for _generation, ref in pointers:
            release(self.store, ref)
        slots.clear()
        return bool(pointers)

    def close(self) -> None:
        """Close the store if the board made it (a store passed in stays open)."""
        if self._owns_store:
            self.store.close()

    def __repr__(self) -> str:
        return f"TaskBoard(name={self.name!r}, store={self.store!r})"

    # -- internals ----------------------------------------------------------------------------

    def _started(self, record: TaskRecord) -> TaskRecord:
        return replace(record, status=TaskStatus.RUNNING, started_at=self._now())

    def _transition(
        self,
        task_id: str,
        action: str,
        allowed: tuple[TaskStatus, ...],
        change: Callable[[TaskRecord], TaskRecord],
    ) -> TaskRecord:
        """Read the task, apply ``change`` if its status allows it, commit (compare-and-swap).

        A lost swap means another writer moved the task meanwhile: the change is judged again
        against the newer state, so e.g. a task that was failed elsewhere is not then finished.
        """
        check_task_id(task_id)
        for attempt in range(_CAS_ATTEMPTS):
            slots = self._slots(task_id)
            _head, record = self._load(slots, task_id)
            if record.status not in allowed:
                raise TaskStateError(
                    f"cannot {action} task {task_id!r}: it is {record.status.value}, not "
                    + " or ".join(status.value for status in allowed),
                    task_id=task_id,
                    hint="a task moves queued -> running -> succeeded | failed, once",
                )
            new = replace(change(record), generation=record.generation + 1)
            try:
                self._commit(slots, new)
            except HeadConflictError:
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
                continue
            return new
        raise AssertionError("unreachable")  # pragma: no cover

    def _load(self, slots: HeadSlots, task_id: str) -> tuple[tuple[int, str], TaskRecord]:
        pointers = slots.read()
        if not pointers:
            raise TaskNotFoundError(
                f"no task has id {task_id!r} in this store (service {self.name!r})",
                task_id=task_id,
                hint="check the id; tasks are found only through the store and service name "
                "they were created with",
            )
        generation, ref = pointers[0]
        try:
            record = TaskRecord.from_json(self.store.retrieve(ref), task_id)
            if record.generation != generation:
                raise ValueError(f"the record says generation {record.generation}")
        except ContextLookupError as exc:
            raise self._unreadable(task_id, generation, f"it is gone ({exc.message})") from exc
        except (ValueError, TypeError) as exc:
            raise self._unreadable(task_id, generation, str(exc)) from exc
        return (generation, ref), record

    def _commit(self, slots: HeadSlots, record: TaskRecord) -> None:
        ref = self.store.store(record.to_json(), RECORD_METADATA)
        try:
            dropped = slots.write(record.generation, ref)
        except BaseException:
            # Give back only this writer's hold: the store is content-addressed, so a racing
            # writer that won with an identical record (same state, same clock reading) holds
            # the very same item, and deleting it outright would delete the winner's record.
            give_back(self.store, ref)
            raise
        if dropped is not None and dropped not in slots.in_use():
            release(self.store, dropped)

    def _slots(self, task_id: str) -> HeadSlots:
        # A fresh object per operation: HeadSlots remembers what it last read, and each
        # operation must compare against what *it* read, not what another thread did.
        return HeadSlots(
            self.store,
            f"crs.service {self.name!r} task {task_id}",
            priority=PRIORITY,
            content_type=_HEAD_CONTENT_TYPE,
        )

    def _now(self) -> float:
        return resolve_clock(self._clock).now()

    def _unreadable(self, task_id: str, generation: int, problem: str) -> TaskError:
        return TaskError(
            f"task {task_id!r}: record generation {generation} is unreadable: {problem}",
            task_id=task_id,
            hint="the store lost items (an in-memory store past its cache_size?) or was "
            "changed outside the service; use a disk- or Redis-backed store",
        )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is missing or malformed: {type(value).__name__}")
    return value


def _time(data: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"field {key!r} is not a time: {value!r}")
    return float(value)


def _storable(outcome: dict[str, Any]) -> dict[str, Any]:
    """``outcome`` with each value the store cannot keep exactly described instead.

    A task must never fail to record because its runner returned, say, a set or a datetime.
    """
    if json_field_problem(outcome) is None:
        return outcome
    kept: dict[str, Any] = {}
    for key, value in outcome.items():
        issue = json_field_problem(value)
        kept[key] = (
            value
            if issue is None
            else {"unstorable": type(value).__name__, "reason": redact_secrets(issue.message)}
        )
    return kept


def _shown(value: object) -> str:
    """A bounded, redacted repr of something a client sent, for an error message."""
    text = redact_secrets(repr(value))
    return text if len(text) <= _SHOWN_ID_CHARS else f"{text[: _SHOWN_ID_CHARS - 3]}..."
