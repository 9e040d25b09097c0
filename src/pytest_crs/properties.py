"""Property checks for retry policies: one call, hundreds of fault schedules, six promises.

A retry policy is correct when it keeps a handful of promises under *every* sequence of
failures, not just the three a test author wrote down. :func:`check_retry_policy` runs the
caller's policy under Hypothesis: each example draws a fault schedule, runs the policy on a
fresh :class:`~crs.clock.VirtualClock` (so minutes of backoff take microseconds) against a fresh
:class:`~pytest_crs.faults.FaultPlan`, and judges what happened:

``max_attempts``
    No more than ``max_attempts`` attempts (and never an endless loop: the checker stops a
    policy that keeps going, and reports it).
``budget``
    The time spent between attempts (everything but the time inside attempts, i.e. injected
    latency) stays within ``budget`` seconds.
``non_retryable``
    A failure retrying cannot fix is never retried: an expired or rejected credential
    (``auth_expired`` in every form: 401, Composio's expired account, 401-in-200) and, by
    default, a tool that answered ``successful: false`` (``tool_failure``: the tool ran and said
    no; asking again repeats whatever it did and gets the same answer). Change the set with
    ``non_retryable=``.
``retry_after``
    After a failure that announced a wait (a 429's ``Retry-After``), the next attempt starts no
    sooner than that wait after the failure — when the wait is at most ``max_retry_after``
    (longer ones may be given up on, or capped).
``no_duplicates``
    With ``idempotent=False``: no attempt follows a failure that may have reached the service
    (read timeout, reset after sending, 5xx) or a success, and the plan saw no side-effecting
    tool call delivered twice (``FaultPlan.duplicates``).
``eventual_success``
    A policy that promises ``min_attempts`` (default ``max_attempts``) attempts does not give
    up before making them while every failure so far was retryable (and safe to retry), any
    announced wait was within ``max_retry_after`` and ``budget``; when the operation succeeds,
    ``call`` returns exactly its value (or a crs ``RetryRun`` holding it); and a policy never
    raises after the operation succeeded nor returns a value of its own while the operation was
    still failing retryably.

A broken promise raises :class:`PropertyViolation` (an ``AssertionError``) naming the property,
the fault schedule, every attempt with its virtual timestamps, the sleeps and the outcome;
Hypothesis shrinks it to the smallest schedule that breaks it first.

Two modes:

*Operation mode* (no ``target``): ``call(op)`` runs the policy around ``op``, a zero-argument
function (``async`` when ``call`` is) making *one attempt* of a logical operation. Each attempt
asks the plan (as a tool call) and raises the fault as an exception — ``error_style="crs"``:
:class:`~pytest_crs.faults.InjectedFault` (carrying crs's classification, ``status_code`` and a
``retry-after`` header); ``"openai"``: the exception the openai SDK raises for that failure on
the wire (``RateLimitError`` from the exact 429 response with its headers, ``APITimeoutError``
from an ``httpx2`` timeout, ...). Latency passes virtual time; ``tool_failure`` returns
Composio's ``successful: false`` envelope; otherwise ``op()`` returns a success envelope.
Works with crs ``RetryPolicy.run/call/arun``, tenacity, stamina or hand-written loops.

*Wire mode* (``target=llm()`` / ``tool(...)`` / ``http(...)``): ``call()`` takes no argument and
makes one real SDK call (e.g. ``client.chat.completions.create(...)`` on an openai client with
an ``httpx2.MockTransport``, or against a loopback server); faults are injected into its HTTP
requests by :func:`~pytest_crs.faults._transport.faulty_transports`, in their exact wire form,
so the SDK's *built-in* retries are what is checked. Attempts are the requests ``target``
matched.

Each example runs inside :func:`crs._virtual_time.virtual_time`, which makes crs's clock,
tenacity's, stamina's and the openai SDK's sleeps and readings virtual and runs ``asyncio.run``
on a virtual-time loop. It does not nest: do not call this from a test that already has a
virtual-time block active (the ``crs_clock`` / ``crs_faults`` fixtures), nor from inside an
``@given`` test or a running event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, Final, Literal

import hypothesis
from hypothesis import strategies as st

from crs._secrets import redact_secrets
from crs._virtual_time import virtual_time
from crs.clock import VirtualClock
from crs.errors import ConfigError
from crs.resilience import RetryRun, retry_after_from_headers
from pytest_crs.faults import Fault, FaultKind, FaultPlan, Schedule, Target, fail, tool
from pytest_crs.faults._render import render
from pytest_crs.faults._targets import ToolCall
from pytest_crs.faults._tools import injected_error
from pytest_crs.faults._transport import _httpx_failure, faulty_transports
from pytest_crs.faults._wire import Decision, Delay, Fail, Failure, Reply, WireCall
from pytest_crs.strategies import FaultRecipe, fault_schedules, faults

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "AttemptRecord",
    "Example",
    "Property",
    "PropertyViolation",
    "check_retry_policy",
]


class Property(StrEnum):
    """The promises :func:`check_retry_policy` checks (see the module docstring)."""

    MAX_ATTEMPTS = "max_attempts"
    BUDGET = "budget"
    NON_RETRYABLE = "non_retryable"
    RETRY_AFTER = "retry_after"
    NO_DUPLICATES = "no_duplicates"
    EVENTUAL_SUCCESS = "eventual_success"


#: Fault kinds that retrying cannot fix (see ``non_retryable`` in the module docstring).
DEFAULT_NON_RETRYABLE: Final = frozenset({FaultKind.AUTH_EXPIRED, FaultKind.TOOL_FAILURE})

ErrorStyle = Literal["crs", "openai"]
FaultSpec = Schedule | FaultRecipe

_EPSILON: Final = 1e-6  # float slack when comparing virtual timestamps
_TEXT_LIMIT: Final = 240
_DEFAULT_TOOL: Final = ToolCall(
    slug="CRS_PROPERTY_CHECK",
    app="crs",
    action="CRS_PROPERTY_CHECK",
    arguments={"check": "retry policy"},
    user_id="property-check",
)
_OPENAI_URL: Final = "http://127.0.0.1:9/v1/chat/completions"
_OPENAI_BODY: Final = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


# ---------------------------------------------------------------------------------------------
# What one example saw
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of an example, in virtual seconds since the example began.

    Attributes:
        number: 1 for the first attempt.
        started: when it began.
        ended: when it finished (later than ``started`` only by injected latency).
        fault: the fault injected into it, or ``None`` when it went through.
        announced_wait: the wait its failure asked for (a 429's Retry-After), as a correct
            client reads it; ``None`` when it announced none.
        outcome: ``"ok"``, the exception it raised, ``"successful: false"``, or
            ``"stopped by the checker"``.
    """

    number: int
    started: float
    ended: float
    fault: Fault | None
    announced_wait: float | None
    outcome: str

    @property
    def failed(self) -> bool:
        """Whether the attempt failed (latency is a slow success, not a failure)."""
        return self.fault is not None and self.fault.kind is not FaultKind.LATENCY

    def describe(self) -> str:
        what = "ok" if self.fault is None else self.fault.describe()
        extra = [] if self.outcome == "ok" else [self.outcome]
        if self.announced_wait is not None:
            extra.append(f"asked to wait {self.announced_wait:g}s")
        span = f"t={self.started:g}s" + (f"..{self.ended:g}s" if self.ended > self.started else "")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"#{self.number} {span}: {what}{tail}"


@dataclass(frozen=True)
class Example:
    """Everything one example did, for the violation message and for programmatic checks."""

    faults: str
    attempts: tuple[AttemptRecord, ...]
    sleeps: tuple[float, ...]
    elapsed: float
    waited: float
    outcome: str

    def describe(self) -> str:
        lines = [f"  faults: {self.faults}", "  attempts:"]
        lines += [f"    {attempt.describe()}" for attempt in self.attempts] or ["    (none)"]
        sleeps = ", ".join(f"{s:g}" for s in self.sleeps)
        lines.append(f"  sleeps: [{sleeps}] (waited {self.waited:g}s of {self.elapsed:g}s)")
        lines.append(f"  outcome: {self.outcome}")
        return "\n".join(lines)


class PropertyViolation(AssertionError):
    """A retry policy broke one or more of the promises :func:`check_retry_policy` checks.

    ``property`` is the first broken one, ``violations`` all of them with their reasons, and
    ``example`` what happened.
    """

    def __init__(self, violations: Sequence[tuple[Property, str]], example: Example) -> None:
        self.violations = tuple(violations)
        self.property = self.violations[0][0]
        self.example = example
        head = "; ".join(f"[{prop.value}] {reason}" for prop, reason in self.violations)
        super().__init__(f"retry policy violates {head}\n{example.describe()}")

    @property
    def properties(self) -> tuple[Property, ...]:
        return tuple(prop for prop, _ in self.violations)


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


def check_retry_policy(
    call: Callable[..., Any],
    *,
    faults: st.SearchStrategy[FaultSpec] | FaultSpec | Fault | None = None,
    target: Target | None = None,
    tool_call: ToolCall | None = None,
    max_attempts: int | None = None,
    min_attempts: int | None = None,
    budget: float | None = None,
    idempotent: bool = True,
    max_retry_after: float = 60.0,
    non_retryable: Iterable[FaultKind | str] = DEFAULT_NON_RETRYABLE,
    is_async: bool | None = None,
    error_style: ErrorStyle = "crs",
    skip: Iterable[Property | str] = (),
    settings: hypothesis.settings | None = None,
    attempt_limit: int = 100,
    modules: Iterable[ModuleType | str] = (),
) -> None:
    """Check a retry policy's promises under Hypothesis-generated fault schedules.

    Raises :class:`PropertyViolation` (after shrinking) for the first example that breaks one;
    returns ``None`` when every example keeps them all. See the module docstring for the
    properties and the two modes.

    Args:
        call: operation mode: ``call(op)`` runs the policy around ``op`` and returns its value;
            wire mode (``target`` given): ``call()`` makes one SDK call. May be ``async``.
        faults: a strategy of :class:`~pytest_crs.faults.Schedule` s (for the attempts'
            target) or of :class:`~pytest_crs.strategies.FaultRecipe` s, or one fixed schedule
            or fault. Default: finite schedules of up to ``max_attempts + 1`` faults from
            :func:`~pytest_crs.strategies.faults` (Retry-After up to 1.5 x ``max_retry_after``).
        target: wire mode's target: which requests are the attempts.
        tool_call: operation mode: the tool call each attempt is, for the plan (default: a
            side-effecting ``CRS_PROPERTY_CHECK``).
        max_attempts: the most attempts allowed (``None``: only endless loops are caught).
        min_attempts: the attempts the policy promises before giving up on retryable failures
            (default: ``max_attempts``; neither: ``eventual_success`` only checks values).
        budget: the most virtual seconds spent between attempts (``None``: unchecked).
        idempotent: whether the operation may safely run twice; ``False`` checks
            ``no_duplicates`` and makes ambiguous failures non-retryable.
        max_retry_after: announced waits up to this long must be honoured, and may not be a
            reason to give up.
        non_retryable: fault kinds that must never be retried.
        is_async: whether ``call`` is a coroutine function (default: detected).
        error_style: operation mode: ``"crs"`` or ``"openai"`` exceptions (module docstring).
        skip: properties not to check.
        settings: Hypothesis settings (default: the current profile with ``deadline=None``).
        attempt_limit: attempts after which a policy without ``max_attempts`` is stopped and
            reported as endless.
        modules: more modules whose ``time`` is made virtual (see ``virtual_time``).
    """
    config = _Config.build(
        call=call,
        target=target,
        tool_call=tool_call,
        max_attempts=max_attempts,
        min_attempts=min_attempts,
        budget=budget,
        idempotent=idempotent,
        max_retry_after=max_retry_after,
        non_retryable=non_retryable,
        is_async=is_async,
        error_style=error_style,
        skip=skip,
        attempt_limit=attempt_limit,
        modules=modules,
    )
    strategy = _strategy(faults, config)
    chosen = settings if settings is not None else hypothesis.settings(deadline=None)
    with _openai_errors(config) as errors:

        def run_example(faults: _Drawn) -> None:  # named so a failure prints "faults=..."
            _run_example(config, faults.spec, errors)

        # Examples of different checks must not replay each other's failures from the database.
        # (Hypothesis's own hook for this, as pytest.mark.parametrize uses; without it, checks of
        # different calls would merely share a database key.)
        digest = repr(
            (
                getattr(call, "__module__", None),
                getattr(call, "__qualname__", type(call).__qualname__),
                config.target,
                config.error_style,
            )
        )
        run_example.__dict__["_hypothesis_internal_add_digest"] = digest.encode()
        given = hypothesis.given(strategy.map(_Drawn.of))
        hypothesis.settings(chosen)(given(run_example))()


@dataclass(frozen=True)
class _Drawn:
    """A drawn schedule or recipe that Hypothesis prints as the user would write it."""

    spec: FaultSpec

    @classmethod
    def of(cls, value: object) -> _Drawn:
        if isinstance(value, Fault):
            return cls(fail(value))
        if isinstance(value, Schedule | FaultRecipe):
            return cls(value)
        raise ConfigError(
            f"the faults= strategy drew {value!r}; it must draw Schedules, FaultRecipes or Faults"
        )

    def __repr__(self) -> str:
        return self.spec.describe()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        del cycle  # a value never contains itself
        printer.text(self.spec.describe())


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Config:
    call: Callable[..., Any]
    target: Target | None
    tool_call: ToolCall
    max_attempts: int | None
    min_attempts: int | None
    budget: float | None
    idempotent: bool
    max_retry_after: float
    non_retryable: frozenset[FaultKind]
    is_async: bool
    error_style: ErrorStyle
    checks: frozenset[Property]
    attempt_limit: int
    modules: tuple[ModuleType | str, ...]

    @property
    def wire(self) -> bool:
        return self.target is not None

    @property
    def promised(self) -> int | None:
        return self.min_attempts if self.min_attempts is not None else self.max_attempts

    @property
    def attempt_cap(self) -> int:
        """Attempts after which the checker stops the policy."""
        if self.max_attempts is not None and Property.MAX_ATTEMPTS in self.checks:
            return self.max_attempts  # one more attempt already breaks the promise
        return self.attempt_limit

    @property
    def op_target(self) -> Target:
        return tool(self.tool_call.slug)

    @classmethod
    def build(
        cls,
        *,
        call: Callable[..., Any],
        target: Target | None,
        tool_call: ToolCall | None,
        max_attempts: int | None,
        min_attempts: int | None,
        budget: float | None,
        idempotent: bool,
        max_retry_after: float,
        non_retryable: Iterable[FaultKind | str],
        is_async: bool | None,
        error_style: ErrorStyle,
        skip: Iterable[Property | str],
        attempt_limit: int,
        modules: Iterable[ModuleType | str],
    ) -> _Config:
        if not callable(call):
            raise ConfigError(f"check_retry_policy() needs a callable, got {call!r}")
        if target is not None and not isinstance(target, Target):
            raise ConfigError(f"target= must be llm(), tool() or http(), got {target!r}")
        if tool_call is not None and not isinstance(tool_call, ToolCall):
            raise ConfigError(f"tool_call= must be a ToolCall, got {tool_call!r}")
        for name, value in (("max_attempts", max_attempts), ("min_attempts", min_attempts)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"{name} must be a positive int or None, got {value!r}")
        if max_attempts is not None and min_attempts is not None and min_attempts > max_attempts:
            raise ConfigError(f"min_attempts={min_attempts} is above max_attempts={max_attempts}")
        if budget is not None:
            budget = _seconds(budget, "budget")
        if error_style not in ("crs", "openai"):
            raise ConfigError(f"error_style must be 'crs' or 'openai', got {error_style!r}")
        if isinstance(attempt_limit, bool) or not isinstance(attempt_limit, int):
            raise ConfigError(f"attempt_limit must be an int, got {attempt_limit!r}")
        if attempt_limit < 1:
            raise ConfigError(f"attempt_limit must be positive, got {attempt_limit!r}")
        if is_async is None:
            is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
                type(call).__call__  # callable objects with an async __call__
            )
        return cls(
            call=call,
            target=target,
            tool_call=tool_call or _DEFAULT_TOOL,
            max_attempts=max_attempts,
            min_attempts=min_attempts,
            budget=budget,
            idempotent=bool(idempotent),
            max_retry_after=_seconds(max_retry_after, "max_retry_after"),
            non_retryable=frozenset(_kind(k) for k in non_retryable),
            is_async=bool(is_async),
            error_style=error_style,
            checks=frozenset(Property) - frozenset(_property(p) for p in skip),
            attempt_limit=attempt_limit,
            modules=tuple(modules),
        )


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ConfigError(f"{name} must be a finite, non-negative number of seconds, got {value!r}")
    return float(value)


def _kind(value: FaultKind | str) -> FaultKind:
    try:
        return FaultKind(str(value).lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise ConfigError(f"non_retryable: {value!r} is not one of {known}") from None


def _property(value: Property | str) -> Property:
    try:
        return Property(str(value))
    except ValueError:
        known = ", ".join(prop.value for prop in Property)
        raise ConfigError(f"skip: {value!r} is not one of {known}") from None


def _strategy(
    given: st.SearchStrategy[FaultSpec] | FaultSpec | Fault | None,
    config: _Config,
) -> st.SearchStrategy[FaultSpec]:
    if isinstance(given, st.SearchStrategy):
        return given
    if isinstance(given, Fault):
        return st.just(fail(given))
    if isinstance(given, Schedule | FaultRecipe):
        return st.just(given)
    if given is not None:
        raise ConfigError(
            f"faults= must be a Hypothesis strategy, a Schedule, a FaultRecipe or a Fault, "
            f"got {given!r}"
        )
    if config.wire:
        fault_target = config.target
    elif config.error_style == "crs":
        fault_target = config.op_target
    else:
        fault_target = None  # what an OpenAI-style API can answer: no tool-only shapes
    most = (config.max_attempts or config.min_attempts or 3) + 1
    source = faults(target=fault_target, max_retry_after=config.max_retry_after * 1.5)
    return fault_schedules(source, max_faults=most, finite=True)


# ---------------------------------------------------------------------------------------------
# Running one example
# ---------------------------------------------------------------------------------------------


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


@dataclass
class _Outcome:
    returned: bool = False
    value: object = None
    error: BaseException | None = None
    runaway: bool = False

    def describe(self) -> str:
        if self.runaway:
            return "stopped by the checker (the policy kept retrying)"
        if self.returned:
            return _short(f"returned {self.value!r}")
        error = self.error
        return _short(f"raised {type(error).__name__}: {error}")


def _short(text: str) -> str:
    text = " ".join(redact_secrets(text).split())
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _run_example(config: _Config, spec: FaultSpec, errors: _OpenAIErrors | None) -> None:
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
    operation = None if config.wire else _Operation(config, plan, clock, errors)
    outcome = _Outcome()
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
    violations = _judge(config, example, outcome, plan, operation)
    if violations:
        raise PropertyViolation(violations, example)
    unexplained = outcome.error
    if (
        unexplained is not None
        and operation is not None
        and not _caused_by(unexplained, operation.raised)
    ):
        raise unexplained  # not a verdict on the faults: a bug in the policy or the call; show it


def _invoke(config: _Config, operation: _Operation | None) -> object:
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


def _check_applicable(spec: FaultSpec, config: _Config) -> None:
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


class _Operation:
    """``op``: asks the plan, then raises the fault, passes its latency, or succeeds."""

    def __init__(
        self,
        config: _Config,
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
            cause = _httpx_failure(httpx2, request, decision)
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
def _openai_errors(config: _Config) -> Iterator[_OpenAIErrors | None]:
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
    config: _Config, plan: _RecordingPlan, origin: float
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


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------


def _judge(
    config: _Config,
    example: Example,
    outcome: _Outcome,
    plan: FaultPlan,
    operation: _Operation | None,
) -> list[tuple[Property, str]]:
    checks = config.checks
    attempts = example.attempts
    found: list[tuple[Property, str]] = []
    if Property.MAX_ATTEMPTS in checks or outcome.runaway:  # an endless loop always counts
        found += _bounded(config, attempts, outcome)
    if Property.NON_RETRYABLE in checks:
        found += _permanent_not_retried(config, attempts)
    if Property.RETRY_AFTER in checks:
        found += _waits_honoured(config, attempts)
    if Property.NO_DUPLICATES in checks and not config.idempotent:
        found += _no_duplicates(attempts, plan)
    over = config.budget is not None and example.waited > config.budget + _EPSILON
    if Property.BUDGET in checks and over:
        found.append(
            (
                Property.BUDGET,
                f"waited {example.waited:g}s between attempts, over budget={config.budget:g}s",
            )
        )
    if Property.EVENTUAL_SUCCESS in checks and not outcome.runaway:
        found += _eventual_success(config, example, outcome, operation)
    return found


def _bounded(
    config: _Config, attempts: Sequence[AttemptRecord], outcome: _Outcome
) -> list[tuple[Property, str]]:
    if config.max_attempts is not None and len(attempts) > config.max_attempts:
        stop = " (and was stopped there)" if outcome.runaway else ""
        return [
            (
                Property.MAX_ATTEMPTS,
                f"made {len(attempts)} attempts{stop}, more than max_attempts="
                f"{config.max_attempts}",
            )
        ]
    if outcome.runaway:
        return [
            (
                Property.MAX_ATTEMPTS,
                f"kept retrying: stopped after attempt_limit={config.attempt_limit} attempts",
            )
        ]
    return []


def _permanent_not_retried(
    config: _Config, attempts: Sequence[AttemptRecord]
) -> list[tuple[Property, str]]:
    for before, after in itertools.pairwise(attempts):
        fault = before.fault
        if fault is not None and fault.kind in config.non_retryable:
            return [
                (
                    Property.NON_RETRYABLE,
                    f"attempt {before.number} failed with {fault.describe()}, which retrying "
                    f"cannot fix, yet attempt {after.number} followed at t={after.started:g}s",
                )
            ]
    return []


def _waits_honoured(
    config: _Config, attempts: Sequence[AttemptRecord]
) -> list[tuple[Property, str]]:
    for before, after in itertools.pairwise(attempts):
        wait = before.announced_wait
        if wait is None or wait > config.max_retry_after:
            continue
        gap = after.started - before.ended
        if gap < wait - _EPSILON:
            fault = "a failure" if before.fault is None else before.fault.describe()
            return [
                (
                    Property.RETRY_AFTER,
                    f"attempt {after.number} began {gap:g}s after attempt {before.number}'s "
                    f"{fault}, which asked to wait {wait:g}s",
                )
            ]
    return []


def _no_duplicates(
    attempts: Sequence[AttemptRecord], plan: FaultPlan
) -> list[tuple[Property, str]]:
    reasons: list[str] = []
    for before, after in itertools.pairwise(attempts):
        fault = before.fault
        if fault is None or fault.kind is FaultKind.LATENCY:
            reasons.append(
                f"attempt {before.number} succeeded, yet attempt {after.number} ran the "
                "non-idempotent operation again"
            )
            break
        if fault.may_have_executed:
            reasons.append(
                f"attempt {after.number} re-sent a non-idempotent operation after "
                f"{fault.describe()}, which may already have executed it"
            )
            break
    duplicates = plan.duplicates
    if duplicates:
        reasons.append("the plan saw " + "; ".join(d.describe() for d in duplicates))
    return [(Property.NO_DUPLICATES, "; ".join(reasons))] if reasons else []


def _retry_is_owed(failure: AttemptRecord, config: _Config) -> bool:
    """Whether a correct policy must retry after ``failure`` (given enough attempts left)."""
    fault = failure.fault
    if fault is None or fault.kind in config.non_retryable:
        return False
    if not config.idempotent and fault.may_have_executed:
        return False
    wait = failure.announced_wait
    return wait is None or wait <= config.max_retry_after


def _eventual_success(
    config: _Config,
    example: Example,
    outcome: _Outcome,
    operation: _Operation | None,
) -> list[tuple[Property, str]]:
    attempts = example.attempts
    last = attempts[-1] if attempts else None
    prop = Property.EVENTUAL_SUCCESS
    if operation is not None and outcome.returned:
        if last is None:
            return [(prop, f"returned {outcome.value!r} without ever calling op")]
        if not last.failed or (
            last.fault is not None and last.fault.kind is FaultKind.TOOL_FAILURE
        ):
            expected = operation.returned[-1] if operation.returned else None
            value = outcome.value
            if isinstance(value, RetryRun):  # crs's RetryPolicy.run / arun: the value inside
                value = value.value
            if value != expected:
                return [
                    (
                        prop,
                        f"returned {_short(repr(outcome.value))}, not the operation's value "
                        f"{_short(repr(expected))}",
                    )
                ]
            return []
    if last is None:
        return []
    if outcome.returned and not last.failed:
        return []
    if not outcome.returned and not last.failed:
        return [
            (
                prop,
                f"the operation succeeded on attempt {last.number}, yet the call raised "
                f"{type(outcome.error).__name__}",
            )
        ]
    promised = config.promised
    owed = (
        promised is not None
        and len(attempts) < promised
        and all(_retry_is_owed(a, config) for a in attempts if a.failed)
    )
    if owed and config.budget is not None:
        owed = example.waited + (last.announced_wait or 0.0) <= config.budget
    if not owed:
        return []
    assert last.fault is not None
    how = "returned a value of its own" if outcome.returned else "gave up"
    return [
        (
            prop,
            f"{how} after {len(attempts)} attempt(s) on retryable failures (last: "
            f"{last.fault.describe()}), though it promises {promised} attempts",
        )
    ]
