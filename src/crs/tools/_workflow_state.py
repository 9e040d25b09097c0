"""What a workflow run is made of, and the checkpoint documents that let it survive a crash.

A run's whole state — the definition, the input, every step outcome so far, the next step, the
output data — is one JSON document, the **checkpoint**. The engine writes a new one after every
step and before every action, so a process that dies at any point leaves a document saying
exactly how far the run got, including "this action had started". The store is
content-addressed, so the current document is found through A/B head slots named after the run
(:mod:`crs.store._heads`), as the credential vault finds its index; superseded documents are
released once no slot points at them.

Only the newest generation is trusted. Falling back to an older one when the newest cannot be
read could forget that an action had started, and run it twice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from crs._options import reject_unknown_keys
from crs.errors import ConfigError, ContextLookupError, WorkflowError, WorkflowNotFoundError
from crs.store import ContextReferenceStore
from crs.store._heads import HeadSlots
from crs.tools._workflow_definition import StepKind, WorkflowDefinition

__all__ = [
    "ActionRequest",
    "Checkpoints",
    "ExecutionConfig",
    "RunState",
    "StepOutcome",
    "StepStatus",
    "WorkflowRun",
    "WorkflowStatus",
]

RUN_FORMAT: Final = "crs.tools.workflow-run"
FORMAT_VERSION: Final = 1
# Above ordinary contexts and the execution journal (1 << 10), below the vault (1 << 20):
# losing a checkpoint loses a run, losing history only loses a record of it.
PRIORITY: Final = 1 << 12
RUN_METADATA: Final = {"priority": PRIORITY, "content_type": "application/vnd.crs.workflow-run"}
_HEAD_CONTENT_TYPE: Final = "application/vnd.crs.workflow-head"


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    STARTED = "started"
    """Checkpointed just before an action was called; only ever the last step of a crashed run."""


class WorkflowStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    ERROR = "error"
    """The engine itself failed (an expression on this data, or ``execute`` raised)."""

    @property
    def terminal(self) -> bool:
        return self is not WorkflowStatus.RUNNING

    @classmethod
    def of(cls, outcomes: list[StepOutcome]) -> WorkflowStatus:
        """Of the steps that ran: all succeeded → completed, none → failed, else partial."""
        ran = [outcome for outcome in outcomes if outcome.ran]
        succeeded = sum(outcome.success for outcome in ran)
        if succeeded == len(ran):
            return cls.COMPLETED
        return cls.FAILED if succeeded == 0 else cls.PARTIAL


@dataclass(frozen=True)
class ExecutionConfig:
    """How a run behaves; ``fail_fast``: an unsuccessful action stops the run (default)."""

    fail_fast: bool = True

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None) -> ExecutionConfig:
        if config is None:
            return cls()
        if not isinstance(config, Mapping):
            raise ConfigError(f"execution_config must be a mapping, got {config!r}")
        reject_unknown_keys(config, {"fail_fast"}, "execution_config")
        fail_fast = config.get("fail_fast", True)
        if not isinstance(fail_fast, bool):
            raise ConfigError(f"execution_config fail_fast must be a bool, got {fail_fast!r}")
        return cls(fail_fast)

    def to_json(self) -> dict[str, Any]:
        return {"fail_fast": self.fail_fast}


@dataclass(frozen=True)
class ActionRequest:
    """What the engine asks the adapter to run for one action step."""

    execution_id: str
    """The workflow run's id (not a tool execution's)."""
    workflow: str
    step: str
    app: str
    action: str
    params: dict[str, Any]
    user_id: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """What one step did. ``execution_id`` and ``record_ref`` name the tool execution."""

    index: int
    name: str
    type: StepKind
    status: StepStatus
    success: bool = False
    data: Any = None
    error: str | None = None
    condition_result: bool | None = None
    output: dict[str, Any] | None = None
    execution_id: str | None = None
    record_ref: str | None = None
    execution_time_ms: float = 0.0

    @property
    def ran(self) -> bool:
        return self.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)

    def context(self) -> dict[str, Any]:
        """The view of this step that expressions see under ``steps.<name>``."""
        return {
            "status": self.status.value,
            "success": self.success,
            "data": self.data,
            "error": self.error,
            "condition_result": self.condition_result,
            "output": self.output,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type.value,
            "execution_id": self.execution_id,
            "record_ref": self.record_ref,
            "execution_time_ms": self.execution_time_ms,
            **self.context(),
        }

    @classmethod
    def from_json(cls, data: object) -> StepOutcome:
        if not isinstance(data, dict):
            raise ValueError(f"a step outcome is not an object: {data!r}")
        index, name = data.get("index"), data.get("name")
        if isinstance(index, bool) or not isinstance(index, int) or not isinstance(name, str):
            raise ValueError(f"a step outcome has no valid index and name: {data!r}")
        if not isinstance(data.get("success"), bool):
            raise ValueError(f"step {index} {name!r} has no success flag")
        for key in ("error", "execution_id", "record_ref"):
            if not isinstance(data.get(key), str | None):
                raise ValueError(f"step {index} {name!r} has a non-text {key}")
        if not isinstance(data.get("condition_result"), bool | None) or not isinstance(
            data.get("output"), dict | None
        ):
            raise ValueError(f"step {index} {name!r} has a bad condition result or output")
        return cls(
            index,
            name,
            StepKind(_typed(data, "type", str)),
            StepStatus(_typed(data, "status", str)),
            data["success"],
            data.get("data"),
            data.get("error"),
            data.get("condition_result"),
            data.get("output"),
            data.get("execution_id"),
            data.get("record_ref"),
            _number(data, "execution_time_ms"),
        )


@dataclass(frozen=True)
class WorkflowRun:
    """A run as its newest checkpoint has it (``finished_at`` is ``None`` while running).

    ``total_time_ms`` is time the engine spent on the run, on the monotonic clock; time between
    a crash and the resume is not counted.
    """

    execution_id: str
    workflow: str
    user_id: str
    status: WorkflowStatus
    steps: tuple[StepOutcome, ...]
    output_data: dict[str, Any]
    error: str | None
    started_at: float
    finished_at: float | None
    total_time_ms: float
    checkpoint_ref: str | None

    @property
    def steps_completed(self) -> int:
        """Steps that ran to an outcome (skipped ones excluded)."""
        return sum(outcome.ran for outcome in self.steps)

    @property
    def steps_successful(self) -> int:
        return sum(outcome.ran and outcome.success for outcome in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """The integration guide's result shape, plus ``error`` when there is one."""
        summary = {
            "execution_id": self.execution_id,
            "status": self.status.value,
            "steps_completed": self.steps_completed,
            "steps_successful": self.steps_successful,
            "total_time_ms": self.total_time_ms,
            "output_data": copy.deepcopy(self.output_data),
        }
        if self.error is not None:
            summary["error"] = self.error
        return summary


@dataclass
class RunState:
    """The mutable state of one run: exactly what a checkpoint document holds."""

    execution_id: str
    definition: WorkflowDefinition
    input_data: dict[str, Any]
    user_id: str
    config: ExecutionConfig
    started_at: float
    steps: list[StepOutcome] = field(default_factory=list)
    next_step: int = 0
    output_data: dict[str, Any] = field(default_factory=dict)
    status: WorkflowStatus = WorkflowStatus.RUNNING
    error: str | None = None
    finished_at: float | None = None
    total_time_ms: float = 0.0
    generation: int = 0

    def to_run(self, checkpoint_ref: str | None) -> WorkflowRun:
        return WorkflowRun(
            self.execution_id,
            self.definition.name,
            self.user_id,
            self.status,
            tuple(self.steps),
            self.output_data,
            self.error,
            self.started_at,
            self.finished_at,
            self.total_time_ms,
            checkpoint_ref,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "version": FORMAT_VERSION,
            "execution_id": self.execution_id,
            "generation": self.generation,
            "workflow": self.definition.name,
            "definition": self.definition.to_json(),
            "input_data": self.input_data,
            "user_id": self.user_id,
            "execution_config": self.config.to_json(),
            "steps": [outcome.to_json() for outcome in self.steps],
            "next_step": self.next_step,
            "output_data": self.output_data,
            "status": self.status.value,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "total_time_ms": self.total_time_ms,
        }

    @classmethod
    def from_json(cls, data: object, execution_id: str) -> RunState:
        """Read a checkpoint document; ``ValueError`` says what is wrong with it."""
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
            raise ValueError("it is not a workflow checkpoint document")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"checkpoint format version {data.get('version')!r} is unsupported")
        if data.get("execution_id") != execution_id:
            raise ValueError(f"the document is for run {data.get('execution_id')!r}")
        workflow, definition = data.get("workflow"), data.get("definition")
        if not isinstance(workflow, str) or not isinstance(definition, dict):
            raise ValueError("the workflow name or definition is missing")
        state = cls(
            execution_id,
            WorkflowDefinition.parse(workflow, definition),
            _typed(data, "input_data", dict),
            _typed(data, "user_id", str),
            ExecutionConfig.parse(_typed(data, "execution_config", dict)),
            _number(data, "started_at"),
            [StepOutcome.from_json(row) for row in _typed(data, "steps", list)],
            _typed(data, "next_step", int),
            _typed(data, "output_data", dict),
            WorkflowStatus(_typed(data, "status", str)),
            _typed(data, "error", str | None),
            None if data.get("finished_at") is None else _number(data, "finished_at"),
            _number(data, "total_time_ms"),
            _typed(data, "generation", int),
        )
        state.check()
        return state

    def check(self) -> None:
        """Refuse a state the engine could never have written (steps out of order etc.)."""
        definition = self.definition.steps
        for position, outcome in enumerate(self.steps):
            if position >= len(definition):
                raise ValueError(f"there are more outcomes than the {len(definition)} steps")
            step = definition[position]
            if (outcome.index, outcome.name, outcome.type) != (position, step.name, step.kind):
                raise ValueError(f"outcome {position} does not match step {position} {step.name!r}")
            last = position == len(self.steps) - 1
            if outcome.status is StepStatus.STARTED and not (
                last and self.status is WorkflowStatus.RUNNING and step.kind is StepKind.ACTION
            ):
                raise ValueError(f"step {position} {step.name!r} is 'started' out of place")
        pending = bool(self.steps) and self.steps[-1].status is StepStatus.STARTED
        if self.next_step != len(self.steps) - pending:
            raise ValueError(f"next_step {self.next_step} does not follow the recorded steps")
        if self.status.terminal != (self.finished_at is not None):
            raise ValueError(f"status {self.status.value!r} disagrees with finished_at")


class Checkpoints:
    """The checkpoint documents of one run and the head slots that find the newest one.

    One object per run and engine call. Before each commit it checks that the slots still
    point where it left them, so two engines resuming the same run cannot both advance it.
    """

    def __init__(self, store: ContextReferenceStore, execution_id: str) -> None:
        self._store = store
        self._execution_id = execution_id
        self._slots = HeadSlots(
            store,
            f"crs.tools workflow run {execution_id!r}",
            priority=PRIORITY,
            content_type=_HEAD_CONTENT_TYPE,
        )
        self._head: tuple[int, str] | None = None

    @property
    def ref(self) -> str | None:
        """The reference of the newest document this object read or wrote."""
        return None if self._head is None else self._head[1]

    def begin(self) -> None:
        """Start a new run's slots (refusing an id that already has checkpoints)."""
        if self._slots.read():
            raise WorkflowError(
                f"workflow run {self._execution_id!r} already has checkpoints",
                workflow="",
                hint="execution ids must be unique; resume that run instead",
            )

    def load(self) -> RunState:
        """The run as its newest checkpoint has it.

        Raises:
            WorkflowNotFoundError: no run has this execution id in the store.
            WorkflowError: the newest checkpoint is missing or not a valid document.
        """
        pointers = self._slots.read()
        if not pointers:
            raise WorkflowNotFoundError(
                f"no workflow run has execution id {self._execution_id!r} in this store",
                workflow="",
                hint="check the id; runs are only found in the store they were started on",
            )
        generation, ref = pointers[0]
        try:
            state = RunState.from_json(self._store.retrieve(ref), self._execution_id)
            if state.generation != generation:
                raise ValueError(f"the document says generation {state.generation}")
        except ContextLookupError as exc:
            raise self._unreadable(generation, f"its document is gone ({exc.message})") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise self._unreadable(generation, str(exc)) from exc
        self._head = (generation, ref)
        return state

    def commit(self, state: RunState) -> str:
        """Write ``state`` (its ``generation`` already advanced) and point a slot at it."""
        if self._slots.newest() != self._head:
            raise WorkflowError(
                f"workflow run {state.execution_id!r} was advanced by another engine",
                workflow=state.definition.name,
                hint="a run can only be driven from one place at a time; load() it to see "
                "where it is",
            )
        ref = self._store.store(state.to_json(), RUN_METADATA)
        self._slots.commit(state.generation, ref)  # an interrupt after the swap keeps it
        self._head = (state.generation, ref)
        return ref

    def forget(self) -> bool:
        """Delete every checkpoint of the run and its head slots; ``False`` if it had none."""
        self._head = None
        return self._slots.forget()

    def _unreadable(self, generation: int, problem: str) -> WorkflowError:
        return WorkflowError(
            f"workflow run {self._execution_id!r}: checkpoint generation {generation} is "
            f"unreadable: {problem}",
            workflow="",
            hint="the store was changed outside the engine or lost items (no disk tier?); "
            "the run cannot be resumed safely",
        )


def _typed(data: dict[str, Any], key: str, kind: Any) -> Any:
    value = data.get(key)
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise ValueError(f"field {key!r} is missing or malformed: {value!r}")
    return value


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"field {key!r} is not a time: {value!r}")
    return float(value)
