"""Running one example: a fresh virtual clock and fault plan, the policy under test, and the
attempts it made (operation mode or wire mode).
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any, Final

from crs._virtual_time import virtual_time
from crs.clock import VirtualClock
from crs.errors import ConfigError
from crs.resilience import retry_after_from_headers
from pytest_crs._properties._config import Config
from pytest_crs._properties._judge import judge
from pytest_crs._properties._model import (
    AttemptRecord,
    Example,
    FaultSpec,
    Outcome,
    PropertyViolation,
)
from pytest_crs.faults import Fault, FaultKind, FaultPlan, Target
from pytest_crs.faults._httpx_transport import httpx_failure
from pytest_crs.faults._render import render
from pytest_crs.faults._tools import injected_error
from pytest_crs.faults._transport import faulty_transports
from pytest_crs.faults._wire import Decision, Delay, Fail, Failure, Reply, WireCall
from pytest_crs.strategies import FaultRecipe

_OPENAI_URL: Final = "http://127.0.0.1:9/v1/chat/completions"
_OPENAI_BODY: Final = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


class _Runaway(BaseException):
    """Raised into a policy that keeps going; a BaseException so that policies do not retry it."""


class _GuardedClock(VirtualClock):
    """A virtual clock whose sleeps raise once the checker has stopped a runaway policy."""

    tripped = False

    def sleep(self, seconds: float) -> None:
        if self.tripped:
            raise _Runaway("stopped by check_retry_policy")
        super().sleep(seconds)


class _RecordingPlan(FaultPlan):
    """A plan that also keeps each wire decision, with the wall-clock time it was made at.

    In wire mode it is also the runaway guard: past ``limit`` attempts on ``target`` it stops
    the call, since there is no ``op`` to do it.
    """

    def __init__(
        self,
        *,
        clock: _GuardedClock,
        read_only: Callable[[str, str], bool],
        target: Target | None = None,
        limit: int = 0,
    ) -> None:
        super().__init__(clock=clock, read_only=read_only, strict=False)
        self.wire_log: list[tuple[float, float, WireCall, Decision | None, Fault | None]] = []
        self.stopped = False
        self._guarded = clock
        self._target = target
        self._limit = limit
        self._seen = 0

    def decide(self, call: WireCall) -> Decision | None:
        clock = self._guarded
        wall, mono = clock.now(), clock.monotonic()
        decision = super().decide(call)
        fault = self.calls[-1].fault
        self.wire_log.append((mono, wall, call, decision, fault))
        if self._target is not None and self._target.matches(call):
            self._seen += 1
            if self._seen > self._limit:
                self.stopped = clock.tripped = True
                raise _Runaway(f"check_retry_policy stopped the call at attempt {self._seen}")
        return decision


def run_one_example(config: Config, spec: FaultSpec, errors: _OpenAIErrors | None) -> None:
    _check_applicable(spec, config)
    clock = _GuardedClock()
    read_only: Callable[[str, str], bool] = (
        (lambda _app, _action: True) if config.idempotent else (lambda _app, _action: False)
    )
    plan = _RecordingPlan(
        clock=clock, read_only=read_only, target=config.target, limit=config.attempt_cap
    )
    if isinstance(spec, FaultRecipe):
        spec.apply(plan)
    else:
        plan.on(config.target or config.op_target, spec, strict=False)
    operation = None if config.wire else Operation(config, plan, clock, errors)
    outcome = Outcome()
    with _virtual_clock(clock, config.modules):
        start = clock.monotonic()
        sleeps_before = len(clock.sleeps)
        try:
            if config.wire:
                with faulty_transports(plan):
                    outcome.value = _invoke(config, None)
            else:
                assert operation is not None
                outcome.value = _invoke(config, operation)
            outcome.returned = True
        except _Runaway:
            outcome.runaway = True
        except Exception as error:
            outcome.error = error
        elapsed = clock.monotonic() - start
        sleeps = tuple(clock.sleeps[sleeps_before:])
    if operation is not None:
        attempts = tuple(operation.records)
        outcome.runaway = outcome.runaway or operation.stopped
    else:
        attempts = _wire_attempts(config, plan, start)
        outcome.runaway = outcome.runaway or plan.stopped
        if not attempts:
            if outcome.error is not None:
                raise outcome.error  # it never reached the wire: nothing the faults explain
            raise ConfigError(
                f"call() made no request that target={config.target!r} matches, so there was "
                "nothing to check",
                hint="make one SDK call per call(), and check the target (llm(), tool(...))",
            )
    inside = math.fsum(a.ended - a.started for a in attempts)
    example = Example(
        faults=spec.describe(),
        attempts=attempts,
        sleeps=sleeps,
        elapsed=elapsed,
        waited=max(0.0, elapsed - inside),
        outcome=outcome.describe(),
    )
    violations = judge(config, example, outcome, plan, operation)
    if violations:
        raise PropertyViolation(violations, example)
    unexplained = outcome.error
    if (
        unexplained is not None
        and operation is not None
        and not _caused_by(unexplained, operation.raised)
    ):
        raise unexplained  # not a verdict on the faults: a bug in the policy or the call; show it


def _invoke(config: Config, operation: Operation | None) -> object:
    if operation is None:
        result = config.call()
    elif config.is_async:
        result = config.call(operation.async_op)
    else:
        result = config.call(operation.sync_op)
    if config.is_async:
        if not inspect.isawaitable(result):
            raise ConfigError(
                f"is_async: {config.call!r} returned {type(result).__name__}, not an awaitable"
            )
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> object:
    return await awaitable


@contextmanager
def _virtual_clock(clock: VirtualClock, modules: Sequence[ModuleType | str]) -> Iterator[None]:
    block = virtual_time(clock, modules=modules)
    try:
        block.__enter__()
    except RuntimeError as error:
        raise ConfigError(
            "check_retry_policy() runs every example on its own virtual clock, but a "
            f"virtual_time() block is already active ({error})",
            hint="do not use the crs_clock or crs_faults fixtures in the same test",
        ) from error
    with ExitStack() as stack:
        stack.push(block)
        yield


def _check_applicable(spec: FaultSpec, config: Config) -> None:
    rules = spec.rules if isinstance(spec, FaultRecipe) else ((None, spec),)
    for _, schedule in rules:
        for fault in schedule.faults:
            if fault.kind is FaultKind.STREAM_CUT and not config.wire:
                raise ConfigError(
                    f"{fault.describe()} needs a streamed HTTP answer; use wire mode (target=)"
                )
            if (
                not config.wire
                and config.error_style == "openai"
                and (fault.tools_only or fault.kind is FaultKind.TOOL_FAILURE)
            ):
                raise ConfigError(
                    f"{fault.describe()} is a Composio tool's failure; the openai SDK never "
                    "raises it (use error_style='crs')"
                )


# ---------------------------------------------------------------------------------------------
# Operation mode: one attempt of the logical operation
# ---------------------------------------------------------------------------------------------


class Operation:
    """``op``: asks the plan, then raises the fault, passes its latency, or succeeds."""

    def __init__(
        self,
        config: Config,
        plan: FaultPlan,
        clock: _GuardedClock,
        errors: _OpenAIErrors | None,
    ) -> None:
        self.config = config
        self.plan = plan
        self.clock = clock
        self.errors = errors
        self.origin = clock.monotonic()
        self.records: list[AttemptRecord] = []
        self.raised: list[BaseException] = []
        self.returned: list[object] = []
        self.stopped = False
        self.limit = config.attempt_cap

    def sync_op(self) -> object:
        return self.attempt()

    async def async_op(self) -> object:
        return self.attempt()

    def attempt(self) -> object:
        number = len(self.records) + 1
        started = self.clock.monotonic() - self.origin
        if number > self.limit or self.stopped:
            self.stopped = self.clock.tripped = True
            self._record(number, started, None, None, "stopped by the checker")
            raise _Runaway(f"check_retry_policy stopped the policy at attempt {number}")
        fault = self.plan.decide_tool(self.config.tool_call)
        if fault is None:
            return self._succeed(number, started, None)
        if fault.kind is FaultKind.LATENCY:
            self.clock.advance(fault.seconds)
            return self._succeed(number, started, fault)
        if fault.kind is FaultKind.TOOL_FAILURE:
            envelope = {"data": {}, "error": fault.error, "successful": False}
            self._record(number, started, fault, None, "successful: false")
            self.returned.append(envelope)
            return envelope
        error, announced = self._error(fault)
        self._record(number, started, fault, announced, type(error).__name__)
        self.raised.append(error)
        raise error

    def _succeed(self, number: int, started: float, fault: Fault | None) -> object:
        value = {"successful": True, "data": {"attempt": number}, "error": None}
        self._record(number, started, fault, None, "ok")
        self.returned.append(value)
        return value

    def _record(
        self,
        number: int,
        started: float,
        fault: Fault | None,
        announced: float | None,
        outcome: str,
    ) -> None:
        ended = self.clock.monotonic() - self.origin
        self.records.append(AttemptRecord(number, started, ended, fault, announced, outcome))

    def _error(self, fault: Fault) -> tuple[Exception, float | None]:
        if self.errors is not None:
            return self.errors.error(fault, now=self.clock.now())
        error = injected_error(fault, self.config.tool_call.slug)
        return error, error.classification.retry_after


class _OpenAIErrors:
    """The exceptions the openai SDK raises for each fault, built by the SDK itself."""

    def __init__(self) -> None:
        import httpx2
        import openai

        self._httpx2 = httpx2
        self._openai = openai
        self._client = openai.OpenAI(
            api_key="sk-property-check",
            base_url="http://127.0.0.1:9/v1",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(_refuse)),
        )

    def close(self) -> None:
        self._client.close()

    def error(self, fault: Fault, *, now: float) -> tuple[Exception, float | None]:
        httpx2 = self._httpx2
        request = httpx2.Request(
            "POST",
            _OPENAI_URL,
            content=_OPENAI_BODY,
            headers={"content-type": "application/json"},
        )
        wire = WireCall("httpx2", "POST", _OPENAI_URL, {}, _OPENAI_BODY)
        decision = render(fault, wire, now=now)
        if isinstance(decision, Reply):
            response = httpx2.Response(
                decision.status,
                headers=list(decision.headers),
                content=decision.body,
                request=request,
            )
            error: Exception = self._client._make_status_error_from_response(response)
            return error, retry_after_from_headers(dict(decision.headers), now=now)
        if isinstance(decision, Fail):
            cause = httpx_failure(httpx2, request, decision)
            openai = self._openai
            if decision.failure in (Failure.CONNECT_TIMEOUT, Failure.READ_TIMEOUT):
                error = openai.APITimeoutError(request=request)
            else:
                error = openai.APIConnectionError(request=request)
            error.__cause__ = cause
            error.__suppress_context__ = True
            return error, None
        raise ConfigError(f"{fault.describe()} has no exception form")  # pragma: no cover


def _refuse(request: Any) -> Any:
    raise AssertionError(f"check_retry_policy's error factory never sends, got {request!r}")


@contextmanager
def openai_errors(config: Config) -> Iterator[_OpenAIErrors | None]:
    if config.wire or config.error_style != "openai":
        yield None
        return
    errors = _OpenAIErrors()
    try:
        yield errors
    finally:
        errors.close()


def _caused_by(error: BaseException, raised: Sequence[BaseException]) -> bool:
    """Whether ``error`` is one the operation raised, or wraps / was raised while handling one."""
    wanted = {id(e) for e in raised}
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if id(current) in wanted:
            return True
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
        last = getattr(current, "last_error", None)  # crs RetryError
        if isinstance(last, BaseException):
            pending.append(last)
        attempt = getattr(current, "last_attempt", None)  # tenacity RetryError
        exception = getattr(attempt, "exception", None)
        if callable(exception):
            try:
                inner = exception()
            except Exception:  # a future that did not fail, or was cancelled
                inner = None
            if isinstance(inner, BaseException):
                pending.append(inner)
        if isinstance(current, BaseExceptionGroup):
            pending += list(current.exceptions)
    return False


# ---------------------------------------------------------------------------------------------
# Wire mode: the attempts are the target's requests
# ---------------------------------------------------------------------------------------------


def _wire_attempts(
    config: Config, plan: _RecordingPlan, origin: float
) -> tuple[AttemptRecord, ...]:
    target = config.target
    assert target is not None
    records: list[AttemptRecord] = []
    for mono, wall, call, decision, fault in plan.wire_log:
        if not target.matches(call):
            continue
        started = mono - origin
        ended = started + (decision.seconds if isinstance(decision, Delay) else 0.0)
        announced = None
        outcome = "ok"
        if isinstance(decision, Reply):
            outcome = f"HTTP {decision.status}"
            if decision.status >= 400:
                announced = retry_after_from_headers(dict(decision.headers), now=wall)
        elif isinstance(decision, Fail):
            outcome = decision.failure.value
        records.append(AttemptRecord(len(records) + 1, started, ended, fault, announced, outcome))
    return tuple(records)
