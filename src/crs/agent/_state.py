"""What an agent run is made of, and the checkpoint documents that let it survive a crash.

A session's whole state — the transcript, every step with its tool calls and their outcomes,
the status — is one JSON document, the **checkpoint**, committed to the store through A/B head
slots named after the session (:mod:`crs.store._heads`), exactly as workflow runs are
(:mod:`crs.tools._workflow_state`). Each commit is a compare-and-swap, and before it the slots
are checked to still point where this process left them, so two processes driving the same
session cannot both advance it: the loser gets a :class:`~crs.errors.HeadConflictError`.

A tool call moves ``planned`` → ``started`` → ``succeeded`` / ``failed`` (or is ``rejected``
without running, or ends ``unknown`` on resume), and every move is a commit:

- the model's answer, with its calls ``planned``, is committed before any tool runs (intent);
- calls are marked ``started`` in one commit just before they are handed to the adapter;
- each result is committed as soon as that call returns; the last one also appends the tool
  messages to the transcript.

So after a crash a ``planned`` call certainly never ran, a finished one is never run again, and
only a ``started`` call without a result is in doubt (see :mod:`crs.agent._agent` for how a
resume settles it). Only the newest generation is trusted, as for workflows.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from crs._secrets import redact_secrets
from crs.agent._errors import AgentSessionError, AgentSessionNotFoundError
from crs.errors import AgentError, ContextLookupError, HeadConflictError
from crs.llm import LLMResponse, LLMUsage
from crs.resilience import ErrorType
from crs.store import ContextReferenceStore
from crs.store._codec import json_field_problem
from crs.store._heads import HeadSlots
from crs.tools import Execution
from crs.tools._journal import _execution_from, _record

__all__ = [
    "AgentRun",
    "AgentStatus",
    "AgentStep",
    "Checkpoints",
    "SessionState",
    "ToolCallOutcome",
    "ToolCallStatus",
]

SESSION_FORMAT: Final = "crs.agent.session"
FORMAT_VERSION: Final = 1
# As workflow checkpoints: above contexts and the journal, below the vault.
PRIORITY: Final = 1 << 12
SESSION_METADATA: Final = {
    "priority": PRIORITY,
    "content_type": "application/vnd.crs.agent-session",
}
_HEAD_CONTENT_TYPE: Final = "application/vnd.crs.agent-head"


class AgentStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    """The model answered without calling a tool; ``final_answer`` is its text."""
    MAX_STEPS = "max_steps"
    """The model was still calling tools when the step budget ran out."""
    FAILED = "failed"
    """A model call or the adapter failed; ``error`` says why. Resumable."""

    @property
    def terminal(self) -> bool:
        return self is not AgentStatus.RUNNING


class ToolCallStatus(StrEnum):
    PLANNED = "planned"
    """Committed as the model's intent; not handed to the adapter yet."""
    STARTED = "started"
    """Handed to the adapter; no result committed. Only seen in a crashed session."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    """The tool ran (or was refused by the adapter) and failed; the model was told why."""
    REJECTED = "rejected"
    """Never run: the model named an unknown tool or sent arguments that are not JSON."""
    UNKNOWN = "unknown"
    """In flight when the run stopped, no record of its outcome, and deliberately not repeated."""

    @property
    def done(self) -> bool:
        return self not in (ToolCallStatus.PLANNED, ToolCallStatus.STARTED)


@dataclass(frozen=True)
class ToolCallOutcome:
    """One tool call of a step and what came of it.

    ``content`` is the tool message the model was (or will be) sent; ``execution`` the
    adapter's :class:`~crs.tools.Execution` when the call ran (read back from the checkpoint
    after a restart, so without ``exception``).
    """

    id: str
    name: str
    app: str
    action: str
    arguments: dict[str, Any] = field(repr=False)
    status: ToolCallStatus
    content: str | None = field(default=None, repr=False)
    error: str | None = None
    execution: Execution | None = field(default=None, repr=False)

    @property
    def successful(self) -> bool:
        return self.status is ToolCallStatus.SUCCEEDED


@dataclass(frozen=True)
class AgentStep:
    """One model call and the tool calls it asked for (none for the final answer)."""

    index: int
    content: str | None
    finish_reason: str | None
    model: str
    usage: LLMUsage | None
    attempts: int
    latency: float
    tool_calls: tuple[ToolCallOutcome, ...]


@dataclass(frozen=True)
class AgentRun:
    """A session as its newest checkpoint has it — finished or not, successful or not.

    ``transcript`` is the conversation in Chat Completions form (system, user, assistant and
    tool messages), complete up to the last finished step, whatever the status.
    """

    session_id: str
    status: AgentStatus
    task: str
    user_id: str
    final_answer: str | None
    steps: tuple[AgentStep, ...]
    transcript: tuple[dict[str, Any], ...] = field(repr=False)
    error: AgentError | None
    started_at: float
    finished_at: float | None
    checkpoint_ref: str | None = field(default=None, repr=False)

    @property
    def tool_calls(self) -> list[ToolCallOutcome]:
        """Every tool call of every step, in order."""
        return [call for step in self.steps for call in step.tool_calls]

    @property
    def executions(self) -> list[Execution]:
        """The adapter executions behind the tool calls that ran, in call order."""
        return [call.execution for call in self.tool_calls if call.execution is not None]

    def raise_for_error(self) -> AgentRun:
        """Return ``self`` unless the run failed; then raise its :class:`AgentError`."""
        if self.error is not None and self.status is AgentStatus.FAILED:
            raise self.error
        return self


# -- the mutable state --------------------------------------------------------------------------


@dataclass
class CallState:
    """One tool call while the session runs."""

    id: str
    name: str
    app: str
    action: str
    arguments: dict[str, Any]
    status: ToolCallStatus
    content: str | None = None
    error: str | None = None
    execution: Execution | None = None
    position: int = 0
    """Where the call stands among its step's calls (ties it to the adapter's record)."""

    def outcome(self) -> ToolCallOutcome:
        return ToolCallOutcome(
            self.id,
            self.name,
            self.app,
            self.action,
            copy.deepcopy(self.arguments),
            self.status,
            self.content,
            self.error,
            self.execution,
        )

    def message(self) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": self.id, "content": self.content or ""}

    def to_json(self) -> dict[str, Any]:
        execution = self.execution
        record = None
        if execution is not None:
            record = _record(execution, 0, None)
            if json_field_problem(record["data"]) is not None:
                record["data"] = {"unstorable": type(execution.data).__name__}
            record["record_ref"] = execution.record_ref
        return {
            "id": self.id,
            "name": self.name,
            "app": self.app,
            "action": self.action,
            "arguments": self.arguments,
            "status": self.status.value,
            "content": self.content,
            "error": self.error,
            "execution": record,
            "position": self.position,
        }

    @classmethod
    def from_json(cls, data: object) -> CallState:
        if not isinstance(data, dict):
            raise ValueError(f"a tool call is not an object: {data!r}"[:200])
        record = data.get("execution")
        execution = None
        if record is not None:
            if not isinstance(record, dict):
                raise ValueError("a tool call's execution is not an object")
            ref = record.get("record_ref")
            execution = _execution_from(record, ref if isinstance(ref, str) else "")
            if not isinstance(ref, str):
                execution = _without_ref(execution)
        return cls(
            _typed(data, "id", str),
            _typed(data, "name", str),
            _typed(data, "app", str),
            _typed(data, "action", str),
            _typed(data, "arguments", dict),
            ToolCallStatus(_typed(data, "status", str)),
            _typed(data, "content", str | None),
            _typed(data, "error", str | None),
            execution,
            _typed(data, "position", int),
        )


@dataclass
class StepState:
    """One model answer and its tool calls while the session runs."""

    index: int
    content: str | None
    finish_reason: str | None
    model: str
    usage: LLMUsage | None
    attempts: int
    latency: float
    calls: list[CallState] = field(default_factory=list)

    @classmethod
    def of(cls, index: int, response: LLMResponse) -> StepState:
        return cls(
            index,
            response.content,
            response.finish_reason,
            response.model,
            response.usage,
            response.attempts,
            response.latency,
        )

    @property
    def finished(self) -> bool:
        return all(call.status.done for call in self.calls)

    def snapshot(self) -> AgentStep:
        return AgentStep(
            self.index,
            self.content,
            self.finish_reason,
            self.model,
            self.usage,
            self.attempts,
            self.latency,
            tuple(call.outcome() for call in self.calls),
        )

    def to_json(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "index": self.index,
            "content": self.content,
            "finish_reason": self.finish_reason,
            "model": self.model,
            "usage": None
            if usage is None
            else [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens],
            "attempts": self.attempts,
            "latency": self.latency,
            "calls": [call.to_json() for call in self.calls],
        }

    @classmethod
    def from_json(cls, data: object) -> StepState:
        if not isinstance(data, dict):
            raise ValueError(f"a step is not an object: {data!r}"[:200])
        usage = data.get("usage")
        if usage is not None and not (
            isinstance(usage, list) and len(usage) == 3 and all(isinstance(n, int) for n in usage)
        ):
            raise ValueError(f"a step's usage is malformed: {usage!r}")
        return cls(
            _typed(data, "index", int),
            _typed(data, "content", str | None),
            _typed(data, "finish_reason", str | None),
            _typed(data, "model", str),
            None if usage is None else LLMUsage(*usage),
            _typed(data, "attempts", int),
            _number(data, "latency"),
            [CallState.from_json(row) for row in _typed(data, "calls", list)],
        )


@dataclass
class SessionState:
    """The mutable state of one session: exactly what a checkpoint document holds."""

    session_id: str
    task: str
    user_id: str
    max_steps: int
    started_at: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepState] = field(default_factory=list)
    status: AgentStatus = AgentStatus.RUNNING
    final_answer: str | None = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None
    generation: int = 0

    @property
    def open_step(self) -> StepState | None:
        """The last step while some of its tool calls have no outcome yet."""
        step = self.steps[-1] if self.steps else None
        return None if step is None or step.finished else step

    def to_run(self, checkpoint_ref: str | None) -> AgentRun:
        return AgentRun(
            session_id=self.session_id,
            status=self.status,
            task=self.task,
            user_id=self.user_id,
            final_answer=self.final_answer,
            steps=tuple(step.snapshot() for step in self.steps),
            transcript=tuple(copy.deepcopy(self.messages)),
            error=None if self.error is None else error_from_json(self.error),
            started_at=self.started_at,
            finished_at=self.finished_at,
            checkpoint_ref=checkpoint_ref,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SESSION_FORMAT,
            "version": FORMAT_VERSION,
            "session_id": self.session_id,
            "generation": self.generation,
            "task": self.task,
            "user_id": self.user_id,
            "max_steps": self.max_steps,
            "status": self.status.value,
            "final_answer": self.final_answer,
            "error": self.error,
            "messages": self.messages,
            "steps": [step.to_json() for step in self.steps],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_json(cls, data: object, session_id: str) -> SessionState:
        """Read a checkpoint document; ``ValueError`` says what is wrong with it."""
        if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
            raise ValueError("it is not an agent session checkpoint")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"checkpoint format version {data.get('version')!r} is unsupported")
        if data.get("session_id") != session_id:
            raise ValueError(f"the document is for session {data.get('session_id')!r}")
        messages = _typed(data, "messages", list)
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            raise ValueError("a transcript message is not a message")
        error = _typed(data, "error", dict | None)
        state = cls(
            session_id,
            _typed(data, "task", str),
            _typed(data, "user_id", str),
            _typed(data, "max_steps", int),
            _number(data, "started_at"),
            messages,
            [StepState.from_json(row) for row in _typed(data, "steps", list)],
            AgentStatus(_typed(data, "status", str)),
            _typed(data, "final_answer", str | None),
            error,
            None if data.get("finished_at") is None else _number(data, "finished_at"),
            _typed(data, "generation", int),
        )
        if error is not None:
            error_from_json(error)  # refuse a malformed one now, not when it is shown
        for position, step in enumerate(state.steps):
            if step.index != position:
                raise ValueError(f"step {position} says it is step {step.index}")
            if position < len(state.steps) - 1 and not step.finished:
                raise ValueError(f"step {position} has unfinished calls but is not the last")
        if state.status.terminal != (state.finished_at is not None):
            raise ValueError(f"status {state.status.value!r} disagrees with finished_at")
        return state


# -- errors in the document ---------------------------------------------------------------------


def error_to_json(error: AgentError) -> dict[str, Any]:
    kind = error.error_type
    return {
        "kind": kind.value if isinstance(kind, ErrorType) else str(kind),
        "message": redact_secrets(error.message),
        "hint": None if error.hint is None else redact_secrets(error.hint),
        "recoverable": error.recoverable,
    }


def error_from_json(data: dict[str, Any]) -> AgentError:
    kind, message = data.get("kind"), data.get("message")
    hint, recoverable = data.get("hint"), data.get("recoverable")
    if not isinstance(kind, str) or not isinstance(message, str):
        raise ValueError(f"the run's error is malformed: {data!r}"[:200])
    if not isinstance(hint, str | None) or not isinstance(recoverable, bool):
        raise ValueError(f"the run's error is malformed: {data!r}"[:200])
    try:
        error_type: object = ErrorType(kind)
    except ValueError:
        error_type = kind
    error = AgentError(error_type, message, recoverable)
    error.hint = hint
    return error


def tool_content(successful: bool, data: Any, error: str | None, **extra: Any) -> str:
    """A tool message in the shape Composio results have: ``successful``, ``data``, ``error``."""
    return json.dumps(
        {"successful": successful, "data": data, "error": error, **extra},
        default=str,
        ensure_ascii=False,
    )


# -- the documents in the store -----------------------------------------------------------------


class Checkpoints:
    """The checkpoint documents of one session and the head slots that find the newest one.

    One object per session and agent call. Before each commit it checks that the slots still
    point where it left them, so two processes resuming one session cannot both advance it.
    """

    def __init__(self, store: ContextReferenceStore, session_id: str) -> None:
        self._store = store
        self._session_id = session_id
        self._slots = HeadSlots(
            store,
            f"crs.agent session {session_id!r}",
            priority=PRIORITY,
            content_type=_HEAD_CONTENT_TYPE,
        )
        self._head: tuple[int, str] | None = None

    @property
    def ref(self) -> str | None:
        return None if self._head is None else self._head[1]

    def begin(self) -> None:
        """Start a new session's slots (refusing an id that already has checkpoints)."""
        if self._slots.read():
            raise AgentSessionError(
                f"agent session {self._session_id!r} already exists in this store",
                session_id=self._session_id,
                hint="session ids must be unique; resume(session_id) continues that session",
            )

    def exists(self) -> bool:
        return bool(self._slots.read())

    def load(self) -> SessionState:
        """The session as its newest checkpoint has it.

        Raises:
            AgentSessionNotFoundError: no session has this id in the store.
            AgentSessionError: the newest checkpoint is missing or not a valid document.
        """
        pointers = self._slots.read()
        if not pointers:
            raise AgentSessionNotFoundError(
                f"no agent session {self._session_id!r} in this store",
                session_id=self._session_id,
                hint="check the id; sessions are only found in the store they ran on",
            )
        generation, ref = pointers[0]
        try:
            state = SessionState.from_json(self._store.retrieve(ref), self._session_id)
            if state.generation != generation:
                raise ValueError(f"the document says generation {state.generation}")
        except ContextLookupError as exc:
            raise self._unreadable(generation, f"its document is gone ({exc.message})") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise self._unreadable(generation, str(exc)) from exc
        self._head = (generation, ref)
        return state

    def commit(self, state: SessionState) -> str:
        """Write ``state`` as its next generation and point a slot at it.

        Raises:
            HeadConflictError: another process committed this session since it was loaded.
        """
        if self._slots.newest() != self._head:
            raise HeadConflictError(
                f"agent session {self._session_id!r} was advanced by another process since "
                "this one loaded it",
                hint="a session can only be driven from one place at a time; load() it to see "
                "where it is now",
            )
        state.generation += 1
        try:
            ref = self._store.store(state.to_json(), SESSION_METADATA)
        except BaseException:
            state.generation -= 1
            raise
        try:
            self._slots.commit(state.generation, ref)  # an interrupt after the swap keeps it
        except HeadConflictError:
            state.generation -= 1
            raise
        self._head = (state.generation, ref)
        return ref

    def forget(self) -> bool:
        self._head = None
        return self._slots.forget()

    def _unreadable(self, generation: int, problem: str) -> AgentSessionError:
        return AgentSessionError(
            f"agent session {self._session_id!r}: checkpoint generation {generation} is "
            f"unreadable: {problem}",
            session_id=self._session_id,
            hint="the store was changed outside the agent or lost items (no disk tier?); the "
            "session cannot be resumed safely",
        )


def _without_ref(execution: Execution) -> Execution:
    from dataclasses import replace

    return replace(execution, record_ref=None)


def _typed(data: dict[str, Any], key: str, kind: Any) -> Any:
    value = data.get(key)
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise ValueError(f"field {key!r} is missing or malformed: {value!r}"[:200])
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"field {key!r} is not a number: {value!r}"[:200])
    return float(value)
