"""The workflow engine: runs definitions step by step, checkpointing so a crash loses nothing.

The step logic is written once, sans-IO: :class:`_Run` is a generator that *yields* an
:class:`ActionRequest` whenever an action must run and is *sent* back what the call produced
(an :class:`~crs.tools._execution.Execution`, or the exception it raised). The sync and async
drivers at the bottom differ only in how they make that call, so ``run``/``arun`` and
``resume``/``aresume`` cannot drift apart.

Crash safety comes from the order of writes (see :mod:`crs.tools._workflow_state`): before an
action is called, a checkpoint records it as ``started``; after it returns, another records the
outcome. Resuming a run whose last step is ``started`` therefore knows the action *may* have
executed. It asks the adapter for a recorded execution of that step first; failing that it
re-runs only what is safe to repeat (read-only actions, or everything when the caller says so
with ``rerun_in_doubt=True``) and otherwise refuses, because running a side effect twice (a
second email, a duplicate issue) is worse than stopping.

A :class:`BaseException` that is not an :class:`Exception` (``KeyboardInterrupt``,
``SystemExit``, cancellation) passes through untouched and nothing more is written: the run
stays as its last checkpoint says, which is exactly what a real crash leaves.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import replace
from typing import Any

from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError, WorkflowError, WorkflowNotFoundError, WorkflowResumeError
from crs.store import ContextReferenceStore
from crs.store._codec import json_field_problem
from crs.tools._execution import Execution
from crs.tools._expressions import truthy
from crs.tools._workflow_definition import (
    ActionStep,
    ConditionStep,
    Step,
    TransformStep,
    WorkflowDefinition,
)
from crs.tools._workflow_state import (
    ActionRequest,
    Checkpoints,
    ExecutionConfig,
    RunState,
    StepOutcome,
    StepStatus,
    WorkflowRun,
    WorkflowStatus,
)

__all__ = ["AsyncExecute", "Execute", "WorkflowEngine"]

_log = logging.getLogger("crs.tools")

Execute = Callable[[ActionRequest], Execution]
AsyncExecute = Callable[[ActionRequest], Awaitable[Execution]]
_Machine = Generator[ActionRequest, object, WorkflowRun]


class WorkflowEngine:
    """Runs and resumes workflows, keeping each run's checkpoints in ``store``.

    Args:
        store: where checkpoints live; a disk-backed store lets runs be resumed after a restart.
        clock: time source for timestamps and durations; defaults to :func:`crs.clock.get_clock`
            at each use.
        find_execution: ``(workflow_execution_id, step_name)`` → the adapter's recorded
            execution of that step, if it has one. Lets a resume reuse an action that finished
            just before a crash. By default nothing is ever found.
        is_read_only: ``(app, action)`` → whether the action is free of side effects, so that
            re-running it after a crash is harmless. By default no action is.
    """

    def __init__(
        self,
        store: ContextReferenceStore,
        *,
        clock: Clock | None = None,
        find_execution: Callable[[str, str], Execution | None] | None = None,
        is_read_only: Callable[[str, str], bool] | None = None,
    ) -> None:
        if not isinstance(store, ContextReferenceStore):
            raise ConfigError(f"store must be a ContextReferenceStore, got {type(store).__name__}")
        self._store = store
        self._clock = clock
        self._find_execution = find_execution
        self._is_read_only = is_read_only

    def run(
        self,
        definition: WorkflowDefinition,
        input_data: Mapping[str, Any],
        user_id: str,
        execute: Execute,
        execution_config: Mapping[str, Any] | None = None,
    ) -> WorkflowRun:
        """Run ``definition`` to the end, calling ``execute`` for each action step.

        ``execution_config``: ``{"fail_fast": True}`` (the default) stops the run at the first
        unsuccessful action whose step lacks ``continue_on_error``.

        Raises:
            ConfigError: a bad argument or an unknown ``execution_config`` key.
            ContentTypeError: ``input_data`` is not plain JSON (a checkpoint must hold it).
        """
        return _drive(self._start(definition, input_data, user_id, execution_config), execute)

    async def arun(
        self,
        definition: WorkflowDefinition,
        input_data: Mapping[str, Any],
        user_id: str,
        aexecute: AsyncExecute,
        execution_config: Mapping[str, Any] | None = None,
    ) -> WorkflowRun:
        """:meth:`run` with an async ``aexecute``."""
        machine = self._start(definition, input_data, user_id, execution_config)
        return await _adrive(machine, aexecute)

    def resume(
        self, execution_id: str, execute: Execute, *, rerun_in_doubt: bool = False
    ) -> WorkflowRun:
        """Continue a run from its newest checkpoint; a finished run is returned unchanged.

        Steps with an outcome are never run again. A step that had *started* is settled by
        the adapter's record of it if there is one, else re-run if its action is read-only or
        ``rerun_in_doubt`` is true.

        Raises:
            WorkflowNotFoundError: no run has this id in the store.
            WorkflowResumeError: a side-effecting action may have executed and there is no
                record of it; nothing was written.
            WorkflowError: the checkpoint is unreadable.
        """
        return _drive(self._resume(execution_id, rerun_in_doubt), execute)

    async def aresume(
        self, execution_id: str, aexecute: AsyncExecute, *, rerun_in_doubt: bool = False
    ) -> WorkflowRun:
        """:meth:`resume` with an async ``aexecute``."""
        return await _adrive(self._resume(execution_id, rerun_in_doubt), aexecute)

    def load(self, execution_id: str) -> WorkflowRun:
        """The run as its newest checkpoint has it, without running anything.

        Raises:
            WorkflowNotFoundError: no run has this id in the store.
            WorkflowError: the checkpoint is unreadable.
        """
        checkpoints = Checkpoints(self._store, execution_id)
        return checkpoints.load().to_run(checkpoints.ref)

    def forget(self, execution_id: str, *, force: bool = False) -> bool:
        """Delete a run's checkpoints from the store; ``False`` when there were none.

        Raises:
            WorkflowError: the run has not finished (it could still be resumed); pass
                ``force=True`` to delete it anyway.
        """
        checkpoints = Checkpoints(self._store, execution_id)
        try:
            state = checkpoints.load()
        except WorkflowNotFoundError:
            return False
        except WorkflowError:
            if not force:
                raise
        else:
            if state.status is WorkflowStatus.RUNNING and not force:
                raise WorkflowError(
                    f"workflow run {execution_id!r} has not finished; forgetting it would lose "
                    "the checkpoint needed to resume it",
                    workflow=state.definition.name,
                    hint="resume it first, or pass force=True",
                )
        return checkpoints.forget()

    def _start(
        self,
        definition: WorkflowDefinition,
        input_data: Mapping[str, Any],
        user_id: str,
        execution_config: Mapping[str, Any] | None,
    ) -> _Machine:
        if not isinstance(definition, WorkflowDefinition):
            raise ConfigError(
                f"definition must be a WorkflowDefinition, got {type(definition).__name__}",
                hint="build one with WorkflowDefinition.parse(name, data)",
            )
        if not isinstance(input_data, Mapping):
            raise ConfigError(f"input_data must be a mapping, got {type(input_data).__name__}")
        if not isinstance(user_id, str) or not user_id:
            raise ConfigError(f"user_id must be a non-empty str, got {user_id!r}")
        config = ExecutionConfig.parse(execution_config)
        execution_id = f"wf_{uuid.uuid4().hex}"
        state = RunState(
            execution_id,
            definition,
            copy.deepcopy(dict(input_data)),
            user_id,
            config,
            started_at=resolve_clock(self._clock).now(),
        )
        checkpoints = Checkpoints(self._store, execution_id)
        checkpoints.begin()
        return _Run(state, checkpoints, self._clock).drive()

    def _resume(self, execution_id: str, rerun_in_doubt: bool) -> _Machine:
        """Load the run and settle a step in doubt before anything is written."""
        checkpoints = Checkpoints(self._store, execution_id)
        state = checkpoints.load()
        pending = state.steps[-1] if state.steps else None
        if pending is None or pending.status is not StepStatus.STARTED:
            return _Run(state, checkpoints, self._clock).drive()
        step = state.definition.steps[pending.index]
        if not isinstance(step, ActionStep):  # RunState.check() rules this out
            raise WorkflowError(
                f"run {execution_id!r}: started step {pending.name!r} is not an action",
                workflow=state.definition.name,
            )
        found = (
            None if self._find_execution is None else self._find_execution(execution_id, step.name)
        )
        if found is not None:
            return _Run(state, checkpoints, self._clock).drive((step, found))
        read_only = self._is_read_only is not None and self._is_read_only(step.app, step.action)
        if not (read_only or rerun_in_doubt):
            raise _in_doubt(state, step)
        state.steps.pop()  # run it again
        return _Run(state, checkpoints, self._clock).drive()


class _Run:
    """The state machine of one run (see the module docstring)."""

    def __init__(self, state: RunState, checkpoints: Checkpoints, clock: Clock | None) -> None:
        self._state = state
        self._steps = state.definition.steps
        self._checkpoints = checkpoints
        self._clock = clock
        self._earlier_ms = state.total_time_ms  # spent before a crash, when resuming
        self._session_start = self._monotonic()

    def drive(self, recovered: tuple[ActionStep, Execution] | None = None) -> _Machine:
        """Run from ``state.next_step`` to the end; yields each action, is sent its result.

        ``recovered`` settles the step left ``started`` by a crash with the adapter's record.
        """
        state = self._state
        if state.generation == 0:
            self._commit()  # the run exists before its first step does anything
        if recovered is not None:
            started, execution = recovered
            state.steps.pop()
            self._settle_action(started, execution, execution.latency_ms)
            self._after_step()
        if not state.status.terminal and state.next_step >= len(self._steps):
            self._finish()
        while not state.status.terminal:
            step = self._steps[state.next_step]
            if isinstance(step, ActionStep):
                yield from self._action(step)
            elif isinstance(step, ConditionStep):
                self._condition(step)
            else:
                self._transform(step)
            self._after_step()
        return state.to_run(self._checkpoints.ref)

    def _action(self, step: ActionStep) -> Generator[ActionRequest, object, None]:
        state = self._state
        try:
            params = copy.deepcopy(step.params.render(self._context()))
        except WorkflowError as exc:
            self._engine_error(step, exc.message)
            return
        state.steps.append(StepOutcome(step.index, step.name, step.kind, StepStatus.STARTED))
        self._commit()
        name, execution_id = state.definition.name, state.execution_id
        request = ActionRequest(
            execution_id,
            name,
            step.name,
            step.app,
            step.action,
            params,
            state.user_id,
            {"workflow": name, "workflow_execution_id": execution_id, "workflow_step": step.name},
        )
        started = self._monotonic()
        reply = yield request
        state.steps.pop()
        self._settle_action(step, reply, (self._monotonic() - started) * 1000)

    def _settle_action(self, step: ActionStep, reply: object, elapsed_ms: float) -> None:
        where = f"step {step.index} {step.name!r} ({step.app} {step.action})"
        if isinstance(reply, Exception):
            text = f"{where}: execute raised {type(reply).__name__}: {reply}"
            self._engine_error(step, text, cause=reply)
            return
        if not isinstance(reply, Execution):
            self._engine_error(
                step, f"{where}: execute returned {type(reply).__name__}, not an Execution"
            )
            return
        outcome = StepOutcome(
            step.index,
            step.name,
            step.kind,
            StepStatus.SUCCEEDED if reply.successful else StepStatus.FAILED,
            success=reply.successful,
            data=reply.data,
            error=reply.error,
            execution_id=reply.execution_id,
            record_ref=reply.record_ref,
            execution_time_ms=elapsed_ms,
        )
        problem = _unstorable(reply.data)
        if problem is not None:
            text = f"{where}: the action's data cannot be kept in a checkpoint: {problem}"
            self._engine_error(step, text, outcome=outcome)
            return
        self._state.steps.append(outcome)
        self._state.next_step = step.index + 1
        if not reply.successful and self._state.config.fail_fast and not step.continue_on_error:
            self._finish()

    def _condition(self, step: ConditionStep) -> None:
        try:
            result = truthy(step.condition.evaluate(self._context()))
        except WorkflowError as exc:
            self._engine_error(step, exc.message)
            return
        branch = step.if_true if result else step.if_false
        failed = branch.kind == "fail"
        self._state.steps.append(
            StepOutcome(
                step.index,
                step.name,
                step.kind,
                StepStatus.FAILED if failed else StepStatus.SUCCEEDED,
                success=not failed,
                error=f"condition {step.condition.text!r} was {result}: its branch is 'fail'"
                if failed
                else None,
                condition_result=result,
            )
        )
        if branch.kind in ("end", "fail"):
            self._finish()
        elif branch.kind == "goto":
            self._skip_to(self._state.definition.index_of(branch.target))
        else:
            self._skip_to(step.index + 1 + branch.count)

    def _transform(self, step: TransformStep) -> None:
        try:
            result = copy.deepcopy(step.transform.render(self._context()))
        except WorkflowError as exc:
            self._engine_error(step, exc.message)
            return
        self._state.output_data.update(result)
        self._state.steps.append(
            StepOutcome(
                step.index, step.name, step.kind, StepStatus.SUCCEEDED, success=True, output=result
            )
        )
        self._state.next_step = step.index + 1

    def _after_step(self) -> None:
        if self._state.status.terminal:
            return  # _finish() wrote the final checkpoint
        if self._state.next_step >= len(self._steps):
            self._finish()
        else:
            self._commit()

    def _engine_error(
        self,
        step: Step,
        text: str,
        *,
        outcome: StepOutcome | None = None,
        cause: Exception | None = None,
    ) -> None:
        """The engine could not carry out ``step``: it fails and the run ends in ``error``.

        ``outcome`` keeps what is known of an action that did run (its execution id).
        """
        if outcome is None:
            outcome = StepOutcome(step.index, step.name, step.kind, StepStatus.FAILED)
        failed = replace(outcome, status=StepStatus.FAILED, success=False, data=None, error=text)
        self._state.steps.append(failed)
        name = self._state.definition.name
        _log.warning("workflow %r run %s: %s", name, self._id, text, exc_info=cause)
        self._finish(error=text)

    def _skip_to(self, index: int) -> None:
        state = self._state
        for step in self._steps[len(state.steps) : index]:
            state.steps.append(StepOutcome(step.index, step.name, step.kind, StepStatus.SKIPPED))
        state.next_step = index

    def _finish(self, error: str | None = None) -> None:
        state = self._state
        self._skip_to(len(self._steps))
        state.status = WorkflowStatus.ERROR if error is not None else WorkflowStatus.of(state.steps)
        state.error = error
        state.finished_at = resolve_clock(self._clock).now()
        self._commit()
        _log.info(
            "workflow %r run %s finished: %s", state.definition.name, self._id, state.status.value
        )

    def _commit(self) -> None:
        state = self._state
        state.generation += 1
        state.total_time_ms = self._earlier_ms + (self._monotonic() - self._session_start) * 1000
        self._checkpoints.commit(state)

    def _context(self) -> dict[str, Any]:
        state = self._state
        return {
            "input": state.input_data,
            "user_id": state.user_id,
            "execution_id": state.execution_id,
            "output": state.output_data,
            "steps": {
                outcome.name: outcome.context()
                for outcome in state.steps
                if outcome.status is not StepStatus.STARTED
            },
        }

    @property
    def _id(self) -> str:
        return self._state.execution_id

    def _monotonic(self) -> float:
        return resolve_clock(self._clock).monotonic()


def _drive(machine: _Machine, execute: Execute) -> WorkflowRun:
    try:
        request = next(machine)
        while True:
            reply: object
            try:
                reply = execute(request)
            except Exception as exc:  # recorded by the machine; BaseException passes
                reply = exc
            request = machine.send(reply)
    except StopIteration as stop:
        run: WorkflowRun = stop.value
        return run


async def _adrive(machine: _Machine, aexecute: AsyncExecute) -> WorkflowRun:
    try:
        request = next(machine)
        while True:
            reply: object
            try:
                reply = await aexecute(request)
            except Exception as exc:  # recorded by the machine; BaseException passes
                reply = exc
            request = machine.send(reply)
    except StopIteration as stop:
        run: WorkflowRun = stop.value
        return run


def _in_doubt(state: RunState, step: ActionStep) -> WorkflowResumeError:
    return WorkflowResumeError(
        f"workflow {state.definition.name!r} run {state.execution_id!r}: step {step.index} "
        f"{step.name!r} ({step.app} {step.action}) had started when the run stopped and may "
        "have executed; there is no record of its outcome",
        workflow=state.definition.name,
        hint=f"check in {step.app} whether {step.action} took effect; if it did not, or doing "
        "it twice is harmless, resume with rerun_in_doubt=True",
    )


def _unstorable(data: Any) -> str | None:
    """Why ``data`` cannot go into a checkpoint (a JSON document), or ``None`` when it can."""
    problem = json_field_problem(data)
    return None if problem is None else str(problem)
