"""``ToolAgent``: the function-calling loop, checkpointed in the Context Reference Store.

model → tool calls → :class:`~crs.tools.ComposioAdapter` runs them (concurrently when the model
asks for several; results always in call order) → tool messages → model, until the model
answers without calling a tool or ``max_steps`` model calls have been made.

Every move is committed to the store first (see :mod:`crs.agent._state` for the document and
the order of commits), so a process that dies anywhere leaves a session that :meth:`resume`
continues. The rule for what a resume runs again:

- a tool call with a committed result is **never** run again;
- a call that was only ``planned`` never reached the adapter, so it simply runs;
- a call that was ``started`` without a committed result is *in doubt*. The adapter's journal
  settles it when it holds the execution's record (the process died after the tool returned
  but before the checkpoint). Otherwise a read-only action (``ComposioAdapter.is_read_only``)
  is run again, harmlessly. A side-effecting one is settled by the ``in_doubt`` policy:
  ``"report"`` (the default) does **not** repeat it and tells the model its outcome is unknown,
  so the model can check (list the issues, read the channel) before acting again; ``"rerun"``
  repeats it; ``"raise"`` raises :class:`AgentResumeError` without writing anything.
  Not repeating is the default because a duplicate email or issue cannot be taken back, while
  a missing one is visible to the model and to whoever reads the transcript.

A model or adapter failure ends the run as ``failed`` with the error classified and redacted
(``AgentRun.error``) and the transcript intact; ``resume`` retries from there. A
:class:`BaseException` that is not an :class:`Exception` (``KeyboardInterrupt``, cancellation,
a simulated crash) passes through and nothing more is written — exactly what a real crash
leaves. :meth:`ToolAgent.load` reads the session as it stands at any time.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Final, Literal

from crs._options import require_positive_int
from crs._secrets import redact_secrets
from crs.agent._errors import AgentResumeError
from crs.agent._state import (
    AgentRun,
    AgentStatus,
    CallState,
    Checkpoints,
    SessionState,
    StepState,
    ToolCallStatus,
    error_to_json,
    tool_content,
)
from crs.agent._tools import Toolbox, ToolSource
from crs.clock import Clock, resolve_clock
from crs.errors import AgentError, ConfigError, CrsError
from crs.llm import AsyncLLMClient, LLMClient, LLMError, LLMResponse, ToolArgumentsError
from crs.resilience import ErrorType, classify
from crs.store import ContextReferenceStore
from crs.telemetry import SpanAttr, SpanScope, TelemetrySpan, agent_span
from crs.tools import ComposioAdapter, Execution

__all__ = ["InDoubtPolicy", "ToolAgent"]

_log = logging.getLogger("crs.agent")

InDoubtPolicy = Literal["report", "rerun", "raise"]
_POLICIES: Final = ("report", "rerun", "raise")
# Keys of the execution metadata that tie an adapter record to a call of a session.
META_SESSION: Final = "agent_session_id"
META_STEP: Final = "agent_step"
META_CALL: Final = "agent_call"
_UNKNOWN_OUTCOME: Final = (
    "outcome unknown: the agent stopped while this call was in flight and there is no record "
    "of its result; it was not repeated, so that it cannot happen twice. Check whether it took "
    "effect before calling it again."
)


class _Ask:
    """The next thing to do is to ask the model."""


_ASK: Final = _Ask()


class ToolAgent:
    """A tool-calling agent: an LLM client, a Composio adapter, and checkpoints in a store.

    Args:
        llm: an :class:`~crs.llm.LLMClient` (for :meth:`run`, and :meth:`arun` on a worker
            thread) or an :class:`~crs.llm.AsyncLLMClient` (for :meth:`arun` only).
        adapter: runs the tools; its journal also settles calls in doubt after a crash.
        store: where session checkpoints live (the adapter's store when ``None``). Give it a
            disk tier (or Redis) for sessions to survive a restart.
        tools: what the model may call: Composio slugs or Python tool names, :class:`AgentTool`
            objects, or OpenAI function definitions.
        user_id: whom the tools act for.
        max_steps: model calls per session before it stops as ``max_steps``.
        system_prompt: the first message of every session, when given.
        routes: function name → ``(app, action)`` for names the default routing gets wrong.
        default_app: the app label of tools whose name is not a Composio slug.
        max_concurrency: tool calls of one step run at once (1 runs them in order).
        in_doubt: how :meth:`resume` settles a side-effecting call that had started and left no
            record (``"report"``, ``"rerun"`` or ``"raise"``; see the module docstring).
        clock: time source for timestamps (``crs.clock.get_clock()`` at each use when ``None``).
    """

    def __init__(
        self,
        llm: LLMClient | AsyncLLMClient,
        adapter: ComposioAdapter,
        store: ContextReferenceStore | None = None,
        *,
        tools: Sequence[ToolSource],
        user_id: str = "default",
        max_steps: int = 10,
        system_prompt: str | None = None,
        routes: Mapping[str, tuple[str, str]] | None = None,
        default_app: str = "tools",
        max_concurrency: int = 4,
        in_doubt: InDoubtPolicy = "report",
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(llm, LLMClient | AsyncLLMClient):
            raise ConfigError(
                f"llm must be a crs LLMClient or AsyncLLMClient, got {type(llm).__name__}",
                hint="wrap the openai client: LLMClient(LLMConfig(...), client=openai.OpenAI())",
            )
        if not isinstance(adapter, ComposioAdapter):
            raise ConfigError(f"adapter must be a ComposioAdapter, got {type(adapter).__name__}")
        if store is not None and not isinstance(store, ContextReferenceStore):
            raise ConfigError(f"store must be a ContextReferenceStore, got {type(store).__name__}")
        if not isinstance(user_id, str) or not user_id.strip():
            raise ConfigError(f"user_id must be a non-empty str, got {user_id!r}")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise ConfigError(f"system_prompt must be a str or None, got {system_prompt!r}")
        self._llm = llm
        self._adapter = adapter
        self._store = adapter.store if store is None else store
        self._toolbox = Toolbox(adapter, tools, routes, default_app)
        self._user_id = user_id
        self._max_steps = require_positive_int(max_steps, "max_steps")
        self._system_prompt = system_prompt
        self._max_concurrency = require_positive_int(max_concurrency, "max_concurrency")
        self._in_doubt = _policy(in_doubt)
        self._clock = clock

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The OpenAI tool definitions sent to the model."""
        return [dict(spec) for spec in self._toolbox.specs]

    @property
    def routes(self) -> dict[str, tuple[str, str]]:
        """Function name → the ``(app, action)`` the adapter runs for it."""
        return dict(self._toolbox.routes)

    @property
    def store(self) -> ContextReferenceStore:
        return self._store

    def __repr__(self) -> str:
        return (
            f"ToolAgent(llm={self._llm!r}, tools={self._toolbox.names}, "
            f"user_id={self._user_id!r}, max_steps={self._max_steps})"
        )

    # -- running ------------------------------------------------------------------------------

    def run(self, task: str, *, session_id: str | None = None) -> AgentRun:
        """Work on ``task`` until the model answers, the step budget runs out, or it fails.

        Returns the run whatever its status; raises only for the session itself.

        Raises:
            ConfigError: an empty task, or an async LLM client (use :meth:`arun`).
            AgentSessionError: ``session_id`` already exists in the store.
            HeadConflictError: another process advanced the session meanwhile.
        """
        llm = self._sync_llm("run")
        return self._drive(self._start(task, session_id), llm)

    async def arun(self, task: str, *, session_id: str | None = None) -> AgentRun:
        """:meth:`run` for asyncio: a step's tool calls run as concurrent tasks."""
        return await self._adrive(self._start(task, session_id))

    def resume(
        self,
        session_id: str,
        *,
        in_doubt: InDoubtPolicy | None = None,
        max_steps: int | None = None,
    ) -> AgentRun:
        """Continue a session from its newest checkpoint (see the module docstring).

        A completed session is returned unchanged, as is one that ran out of steps unless
        ``max_steps`` raises its budget; a failed one is retried from where it failed.

        Raises:
            AgentSessionNotFoundError: no session has this id in the store.
            AgentResumeError: ``in_doubt="raise"`` and a side-effecting call is in doubt.
            AgentSessionError: the checkpoint is unreadable.
            HeadConflictError: another process is driving the session.
        """
        llm = self._sync_llm("resume")
        return self._drive(self._open(session_id, in_doubt, max_steps), llm)

    async def aresume(
        self,
        session_id: str,
        *,
        in_doubt: InDoubtPolicy | None = None,
        max_steps: int | None = None,
    ) -> AgentRun:
        """:meth:`resume` for asyncio."""
        return await self._adrive(self._open(session_id, in_doubt, max_steps))

    def load(self, session_id: str) -> AgentRun:
        """The session as its newest checkpoint has it, without running anything."""
        checkpoints = Checkpoints(self._store, session_id)
        return checkpoints.load().to_run(checkpoints.ref)

    def forget(self, session_id: str) -> bool:
        """Delete a session's checkpoints; ``False`` when it had none."""
        return Checkpoints(self._store, session_id).forget()

    # -- starting and reopening ---------------------------------------------------------------

    def _sync_llm(self, method: str) -> LLMClient:
        if not isinstance(self._llm, LLMClient):
            raise ConfigError(
                f"ToolAgent.{method}() needs a sync LLMClient; this agent has an AsyncLLMClient",
                hint=f"await agent.a{method}(...) instead",
            )
        return self._llm

    def _start(self, task: str, session_id: str | None) -> _Session:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError(f"the task must be a non-empty str, got {task!r}"[:300])
        if session_id is None:
            session_id = f"agent_{uuid.uuid4().hex}"
        elif not isinstance(session_id, str) or not session_id.strip():
            raise ConfigError(f"session_id must be a non-empty str, got {session_id!r}")
        messages: list[dict[str, Any]] = []
        if self._system_prompt:
            messages.append({"role": "system", "content": self._system_prompt})
        messages.append({"role": "user", "content": task})
        state = SessionState(
            session_id,
            task,
            self._user_id,
            self._max_steps,
            resolve_clock(self._clock).now(),
            messages,
        )
        checkpoints = Checkpoints(self._store, session_id)
        checkpoints.begin()
        session = _Session(self, state, checkpoints)
        session.commit()  # the session exists before the model is first asked
        return session

    def _open(
        self, session_id: str, in_doubt: InDoubtPolicy | None, max_steps: int | None
    ) -> _Session:
        policy = self._in_doubt if in_doubt is None else _policy(in_doubt)
        checkpoints = Checkpoints(self._store, session_id)
        state = checkpoints.load()
        if max_steps is not None:
            state.max_steps = require_positive_int(max_steps, "max_steps")
        if state.status is AgentStatus.FAILED or (
            state.status is AgentStatus.MAX_STEPS and len(state.steps) < state.max_steps
        ):
            state.status, state.error, state.finished_at = AgentStatus.RUNNING, None, None
        session = _Session(self, state, checkpoints)
        if state.status is AgentStatus.RUNNING:
            session.settle(policy)
        return session

    def _recorded(self, state: SessionState, step: int, position: int) -> Execution | None:
        """The adapter's record of call ``position`` of ``step``, if its journal has one."""
        for execution in self._adapter.get_execution_history(user_id=state.user_id):
            meta = execution.metadata
            if (
                meta.get(META_SESSION) == state.session_id
                and meta.get(META_STEP) == step
                and meta.get(META_CALL) == position
            ):
                return execution
        return None

    # -- the drivers --------------------------------------------------------------------------

    def _drive(self, session: _Session, llm: LLMClient) -> AgentRun:
        with self._span(session) as span:
            run = self._drive_steps(session, llm)
            _report(span, run)
        return run

    def _drive_steps(self, session: _Session, llm: LLMClient) -> AgentRun:
        while True:
            work = session.next_work()
            if work is None:
                return session.result()
            if isinstance(work, _Ask):
                try:
                    response = llm.complete(session.state.messages, tools=self._toolbox.specs)
                except Exception as error:
                    session.model_failed(error)
                else:
                    session.answered(response)
            else:
                self._run_calls(session, work)

    async def _adrive(self, session: _Session) -> AgentRun:
        async with self._span(session) as span:
            run = await self._adrive_steps(session)
            _report(span, run)
        return run

    async def _adrive_steps(self, session: _Session) -> AgentRun:
        while True:
            work = session.next_work()
            if work is None:
                return session.result()
            if isinstance(work, _Ask):
                try:
                    response = await self._acomplete(session.state.messages)
                except Exception as error:
                    session.model_failed(error)
                else:
                    session.answered(response)
            else:
                await self._arun_calls(session, work)

    def _span(self, session: _Session) -> SpanScope:
        """The ``crs.agent.run`` span: LLM calls and tool executions of the run nest under it."""
        return agent_span("ToolAgent", run_id=session.state.session_id, clock=self._clock)

    async def _acomplete(self, messages: list[dict[str, Any]]) -> LLMResponse:
        llm = self._llm
        if isinstance(llm, AsyncLLMClient):
            return await llm.complete(messages, tools=self._toolbox.specs)
        return await asyncio.to_thread(llm.complete, messages, tools=self._toolbox.specs)

    def _run_calls(self, session: _Session, calls: list[CallState]) -> None:
        """Run ``calls`` at most ``max_concurrency`` at a time, committing each result."""
        if self._max_concurrency == 1 or len(calls) == 1:
            for call in calls:
                session.started([call])
                session.finished(call, self._execute(session, call))
            return
        queue = list(calls)
        running: dict[Future[Execution | Exception], CallState] = {}
        with ThreadPoolExecutor(self._max_concurrency, thread_name_prefix="crs-agent") as pool:
            while queue or running:
                launch = queue[: self._max_concurrency - len(running)]
                del queue[: len(launch)]
                if launch:
                    session.started(launch)
                    for call in launch:
                        context = contextvars.copy_context()  # spans follow the call
                        running[pool.submit(context.run, self._execute, session, call)] = call
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: running[f].position):
                    call = running.pop(future)
                    session.finished(call, future.result())  # a BaseException propagates

    async def _arun_calls(self, session: _Session, calls: list[CallState]) -> None:
        queue = list(calls)
        running: dict[asyncio.Task[Execution | Exception], CallState] = {}
        try:
            while queue or running:
                launch = queue[: self._max_concurrency - len(running)]
                del queue[: len(launch)]
                if launch:
                    session.started(launch)
                    for call in launch:
                        running[asyncio.ensure_future(self._aexecute(session, call))] = call
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t].position):
                    call = running.pop(task)
                    session.finished(call, task.result())
        except BaseException:
            # Whatever stops the step (a crash, a lost race) stops the calls still in flight:
            # their intents stay without records, as a dead process would leave them.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise

    def _execute(self, session: _Session, call: CallState) -> Execution | Exception:
        try:
            return self._adapter.execute_tool_with_context(
                call.app,
                call.action,
                call.arguments,
                session.state.user_id,
                execution_metadata=session.metadata(call),
            )
        except Exception as error:  # ConfigError / CassetteError: recorded by the session
            return error

    async def _aexecute(self, session: _Session, call: CallState) -> Execution | Exception:
        try:
            return await self._adapter.aexecute_tool_with_context(
                call.app,
                call.action,
                call.arguments,
                session.state.user_id,
                execution_metadata=session.metadata(call),
            )
        except Exception as error:
            return error


class _Session:
    """One session being driven: its state, its checkpoints, and every move as a commit."""

    def __init__(self, agent: ToolAgent, state: SessionState, checkpoints: Checkpoints) -> None:
        self.agent = agent
        self.state = state
        self.checkpoints = checkpoints
        self._raised: Exception | None = None

    def commit(self) -> None:
        self.checkpoints.commit(self.state)

    def result(self) -> AgentRun:
        return self.state.to_run(self.checkpoints.ref)

    def metadata(self, call: CallState) -> dict[str, Any]:
        return {
            META_SESSION: self.state.session_id,
            META_STEP: len(self.state.steps) - 1,
            META_CALL: call.position,
        }

    # -- deciding -----------------------------------------------------------------------------

    def next_work(self) -> _Ask | list[CallState] | None:
        state = self.state
        if state.status.terminal:
            return None
        step = state.open_step
        if step is not None:
            planned = [call for call in step.calls if call.status is ToolCallStatus.PLANNED]
            if not planned:  # settle() leaves no call started without a result
                raise CrsError(f"session {state.session_id!r}: step {step.index} is stuck")
            return planned
        if len(state.steps) >= state.max_steps:
            self._finish(AgentStatus.MAX_STEPS)
            return None
        return _ASK

    def settle(self, policy: str) -> None:
        """Decide every call left ``started`` by a crash, before anything is written."""
        state = self.state
        step = state.open_step
        if step is None:
            return
        doubtful = [call for call in step.calls if call.status is ToolCallStatus.STARTED]
        decisions: list[tuple[CallState, Execution | None, str]] = []
        for call in doubtful:
            found = self.agent._recorded(state, step.index, call.position)
            if found is not None:
                decisions.append((call, found, "recorded"))
            elif self.agent._adapter.is_read_only(call.app, call.action):
                decisions.append((call, None, "rerun"))
            else:
                decisions.append((call, None, policy))
        refused = [call for call, _found, how in decisions if how == "raise"]
        if refused:
            names = ", ".join(f"{c.name} (call {c.id})" for c in refused)
            raise AgentResumeError(
                f"agent session {state.session_id!r}: step {step.index} had started {names} "
                "when it stopped; they may have taken effect and there is no record of their "
                "outcome",
                session_id=state.session_id,
                calls=tuple(c.id for c in refused),
                hint="check whether they took effect, then resume with in_doubt='report' (do "
                "not repeat them) or in_doubt='rerun'",
            )
        for call, found, how in decisions:
            if found is not None:
                self._record(call, found)
            elif how == "rerun":
                call.status = ToolCallStatus.PLANNED
            else:
                call.status = ToolCallStatus.UNKNOWN
                call.error = _UNKNOWN_OUTCOME
                call.content = tool_content(False, None, _UNKNOWN_OUTCOME, outcome="unknown")
            _log.info(
                "agent session %s: call %s (%s) in doubt settled as %s",
                state.session_id,
                call.id,
                call.name,
                how,
            )
        if step.finished:
            self._close(step)

    # -- recording ----------------------------------------------------------------------------

    def answered(self, response: LLMResponse) -> None:
        state = self.state
        step = StepState.of(len(state.steps), response)
        state.messages.append(response.to_message())
        state.steps.append(step)
        if not response.tool_calls:
            state.final_answer = response.content or ""
            self._finish(AgentStatus.COMPLETED)
            return
        routes = self.agent._toolbox.routes
        for position, call in enumerate(response.tool_calls):
            route = routes.get(call.name)
            if route is None:
                known = ", ".join(routes) or "none"
                text = f"there is no tool named {call.name!r}; the tools are: {known}"
                step.calls.append(_rejected(position, call.id, call.name, text))
            else:
                step.calls.append(
                    CallState(
                        call.id,
                        call.name,
                        route[0],
                        route[1],
                        dict(call.arguments),
                        ToolCallStatus.PLANNED,
                        position=position,
                    )
                )
        if step.finished:
            self._close(step)
        self.commit()

    def model_failed(self, error: Exception) -> None:
        if isinstance(error, ToolArgumentsError):
            self._bad_arguments(error)
            return
        self._fail(error)
        self.commit()

    def _bad_arguments(self, error: ToolArgumentsError) -> None:
        """The model's arguments were not JSON: tell it, as the tool's result, and go on."""
        state = self.state
        step = StepState(len(state.steps), None, "tool_calls", error.model, None, error.attempts, 0)
        text = f"the arguments were not a JSON object, so the tool did not run: {error.message}"
        step.calls.append(_rejected(0, error.call_id, error.tool, text))
        state.messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": error.call_id,
                        "type": "function",
                        "function": {"name": error.tool, "arguments": "{}"},
                    }
                ],
            }
        )
        state.steps.append(step)
        self._close(step)
        self.commit()

    def started(self, calls: list[CallState]) -> None:
        for call in calls:
            call.status = ToolCallStatus.STARTED
        self.commit()

    def finished(self, call: CallState, reply: Execution | Exception) -> None:
        if isinstance(reply, Execution):
            self._record(call, reply)
        else:
            text = redact_secrets(f"{type(reply).__name__}: {reply}")
            call.status, call.error = ToolCallStatus.FAILED, text
            call.content = tool_content(False, None, text)
            if self._raised is None:
                self._raised = reply
        step = self.state.steps[-1]
        if step.finished:
            self._close(step)
        self.commit()

    def _record(self, call: CallState, execution: Execution) -> None:
        call.execution = execution
        call.status = ToolCallStatus.SUCCEEDED if execution.successful else ToolCallStatus.FAILED
        call.error = execution.error
        extra = {} if execution.failure is None else {"error_type": execution.failure.kind.value}
        call.content = tool_content(execution.successful, execution.data, execution.error, **extra)

    def _close(self, step: StepState) -> None:
        """All calls of ``step`` have outcomes: their tool messages join the transcript."""
        self.state.messages.extend(call.message() for call in step.calls)
        if self._raised is not None:
            error, self._raised = self._raised, None
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        failure = agent_error(error)
        self.state.error = error_to_json(failure)
        _log.warning("agent session %s failed: %s", self.state.session_id, failure.message)
        self._finish(AgentStatus.FAILED, commit=False)

    def _finish(self, status: AgentStatus, *, commit: bool = True) -> None:
        self.state.status = status
        self.state.finished_at = resolve_clock(self.agent._clock).now()
        if commit:
            self.commit()


def agent_error(error: Exception) -> AgentError:
    """``error`` as the classified, redacted :class:`AgentError` a failed run carries."""
    if isinstance(error, AgentError):
        return error
    if isinstance(error, LLMError):
        kind: ErrorType = error.kind
        recoverable = error.classification.retryable or kind in (
            ErrorType.RATE_LIMIT,
            ErrorType.TIMEOUT,
            ErrorType.CONNECTION,
            ErrorType.SERVER,
        )
        message = error.message
    else:
        verdict = classify(error)
        kind, recoverable = verdict.kind, verdict.retryable
        text = error.message if isinstance(error, CrsError) else str(error)
        message = f"{type(error).__name__}: {text}"
    failure = AgentError(kind, redact_secrets(message), recoverable)
    hint = error.hint if isinstance(error, CrsError) else None
    failure.hint = None if hint is None else redact_secrets(hint)
    failure.__cause__ = error
    return failure


def _rejected(position: int, call_id: str, name: str, text: str) -> CallState:
    return CallState(
        call_id,
        name,
        "",
        "",
        {},
        ToolCallStatus.REJECTED,
        tool_content(False, None, text),
        text,
        position=position,
    )


def _policy(value: object) -> str:
    if value not in _POLICIES:
        raise ConfigError(
            f"in_doubt must be one of {', '.join(_POLICIES)}, got {value!r}",
            hint="'report' (default) never repeats a side effect that may have happened",
        )
    return str(value)


def _report(span: TelemetrySpan, run: AgentRun) -> None:
    """The run's outcome on its span: steps taken, and the failure when it failed."""
    span.set(SpanAttr.AGENT_STEPS, len(run.steps))
    if run.error is not None:
        span.fail(run.error)
