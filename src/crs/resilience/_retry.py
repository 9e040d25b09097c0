"""Retry policies built from small parts that compose, in the spirit of tenacity.

A :class:`RetryPolicy` asks three questions after every failed attempt:

* **retry?** — a :class:`RetryIf` condition, by default "the failure is retryable" according to
  :func:`~crs.resilience.classify` (429, 5xx, timeouts, connection errors; never 401/403/404/422).
* **how long to wait?** — a :class:`Wait`; but when the server sent ``Retry-After`` the policy
  waits exactly that long, or gives up when it is longer than ``max_retry_after``: hammering a
  rate-limited API early only earns more 429s, and a ten-minute wait is a decision for a human.
* **stop?** — a :class:`Stop`, checked against the wait about to happen, so a delay budget or a
  deadline is never overrun.

Conditions combine with operators (``stop_after_attempt(5) | stop_after_delay(30)``,
``wait_exponential(0.5, cap=8) + wait_jitter(1)``, ``retry_if_rate_limited() |
retry_if_exception_type(OSError)``).

**Idempotency.** A failure can leave the caller unsure whether the server acted (a read timeout,
a connection reset after sending, a 5xx). Re-sending then can duplicate side effects — the email
sent twice. A policy for an operation that is not ``idempotent`` therefore never retries after a
failure whose classification says ``may_have_executed``, unless ``retry_ambiguous=True``. The
default is the safe one: not idempotent.

Every run records an :class:`Attempt` per try; :meth:`RetryPolicy.run` returns them with the
value, :class:`~crs.errors.RetryError` carries them when the policy gives up, and a failure the
policy chose not to retry is re-raised unchanged with a note saying why. All waiting goes through
the crs clock, so under a :class:`~crs.clock.VirtualClock` a run with minutes of backoff takes
microseconds.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from crs._options import parse_choice, require_positive_int, require_seconds
from crs.clock import Clock, resolve_clock
from crs.errors import ConfigError, RetryError
from crs.resilience._classification import Classification, ErrorType
from crs.resilience._classify import classify

__all__ = [
    "Attempt",
    "Outcome",
    "RetryIf",
    "RetryPolicy",
    "RetryRun",
    "RetryState",
    "Stop",
    "Wait",
    "retry_if_classified",
    "retry_if_exception_type",
    "retry_if_rate_limited",
    "retry_if_result",
    "retry_if_retryable",
    "retry_if_unsuccessful",
    "stop_after_attempt",
    "stop_after_delay",
    "stop_after_total_delay",
    "stop_before_deadline",
    "stop_never",
    "wait_equal_jitter",
    "wait_exponential",
    "wait_fixed",
    "wait_full_jitter",
    "wait_jitter",
    "wait_none",
]

_log = logging.getLogger("crs.retry")
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Outcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    RESULT = "result"
    """The call returned, but a result condition (e.g. ``successful: false``) asked to retry."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of an operation, as recorded in a run's history."""

    number: int
    outcome: Outcome
    classification: Classification | None
    delay: float
    """Seconds waited after this attempt (0 for the last)."""
    started_at: float
    """Clock ``monotonic()`` when the attempt began."""
    duration: float
    error: BaseException | None = field(default=None, repr=False)
    result: Any = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RetryState:
    """What stop, wait and retry conditions see after an attempt."""

    attempt_number: int
    """Attempts made so far (1 after the first)."""
    elapsed: float
    """Seconds since the first attempt began."""
    total_delay: float
    """Seconds waited so far."""
    classification: Classification | None
    error: BaseException | None = None
    result: Any = None
    next_delay: float = 0.0
    """The wait about to happen (filled in before stop conditions are asked)."""
    clock: Clock | None = field(default=None, repr=False)


# --- composable parts ------------------------------------------------------------------------


_C = TypeVar("_C", bound="_Condition")


class _Condition:
    """A named predicate on :class:`RetryState` that combines with ``|`` and ``&``."""

    def __init__(self, check: Callable[[RetryState], bool], label: str) -> None:
        self._check = check
        self._label = label

    def __call__(self, state: RetryState) -> bool:
        return self._check(state)

    def __or__(self: _C, other: _C) -> _C:
        return type(self)(lambda s: self(s) or other(s), f"({self} | {other})")

    def __and__(self: _C, other: _C) -> _C:
        return type(self)(lambda s: self(s) and other(s), f"({self} & {other})")

    def __repr__(self) -> str:
        return self._label


class Stop(_Condition):
    """A stop condition; ``a | b`` stops when either does, ``a & b`` when both do."""


class Wait:
    """A wait strategy in seconds; ``a + b`` waits the sum."""

    def __init__(self, compute: Callable[[RetryState], float], label: str) -> None:
        self._compute = compute
        self._label = label

    def __call__(self, state: RetryState) -> float:
        return max(0.0, self._compute(state))

    def __add__(self, other: Wait) -> Wait:
        return Wait(lambda s: self(s) + other(s), f"{self} + {other}")

    def __repr__(self) -> str:
        return self._label


class RetryIf(_Condition):
    """A retry condition; ``a | b`` retries when either says so, ``a & b`` when both do."""


def stop_after_attempt(attempts: int) -> Stop:
    """Stop once ``attempts`` tries have been made (``1`` means never retry)."""
    require_positive_int(attempts, "stop_after_attempt")
    return Stop(lambda s: s.attempt_number >= attempts, f"stop_after_attempt({attempts})")


def stop_after_delay(seconds: float) -> Stop:
    """Stop when the next try would begin more than ``seconds`` after the first one began."""
    limit = require_seconds(seconds, "stop_after_delay")
    return Stop(lambda s: s.elapsed + s.next_delay > limit, f"stop_after_delay({seconds})")


def stop_after_total_delay(budget: float) -> Stop:
    """Stop when waiting again would take the total time spent waiting past ``budget``."""
    limit = require_seconds(budget, "stop_after_total_delay")
    return Stop(lambda s: s.total_delay + s.next_delay > limit, f"stop_after_total_delay({budget})")


class _HasRemaining(Protocol):
    def remaining(self) -> float: ...


def stop_before_deadline(deadline: float | _HasRemaining) -> Stop:
    """Stop when the next wait would end past ``deadline``.

    ``deadline`` is an absolute ``monotonic()`` reading on the policy's clock, or any object with
    a ``remaining()`` method returning seconds (such as :class:`crs.resilience.Deadline`).
    """
    if not isinstance(deadline, (int, float)):
        remaining = deadline.remaining
        return Stop(lambda s: s.next_delay >= remaining(), f"stop_before_deadline({deadline!r})")
    at = float(deadline)
    return Stop(
        lambda s: resolve_clock(s.clock).monotonic() + s.next_delay >= at,
        f"stop_before_deadline({at})",
    )


stop_never = Stop(lambda _s: False, "stop_never")


def wait_none() -> Wait:
    return Wait(lambda _s: 0.0, "wait_none()")


def wait_fixed(seconds: float) -> Wait:
    delay = require_seconds(seconds, "wait_fixed")
    return Wait(lambda _s: delay, f"wait_fixed({seconds})")


def _backoff_bounds(name: str, base: float, cap: float) -> tuple[float, float]:
    return require_seconds(base, f"{name} base"), require_seconds(cap, f"{name} cap")


def _exponential(base: float, cap: float, multiplier: float, n: int) -> float:
    try:
        return min(cap, base * multiplier ** (n - 1))
    except OverflowError:
        return cap


def wait_exponential(base: float = 0.5, cap: float = 8.0, *, multiplier: float = 2.0) -> Wait:
    """``base * multiplier**(n-1)`` after attempt ``n``, never more than ``cap``."""
    base, cap = _backoff_bounds("wait_exponential", base, cap)
    if multiplier < 1:
        raise ConfigError(f"wait_exponential multiplier must be >= 1, got {multiplier!r}")
    return Wait(
        lambda s: _exponential(base, cap, multiplier, s.attempt_number),
        f"wait_exponential({base}, cap={cap})",
    )


def wait_full_jitter(
    base: float = 0.5, cap: float = 8.0, *, rng: random.Random | None = None
) -> Wait:
    """Uniform in ``[0, min(cap, base*2**(n-1))]``: spreads retries of many clients (AWS style)."""
    base, cap = _backoff_bounds("wait_full_jitter", base, cap)
    source = rng or random.Random()
    return Wait(
        lambda s: source.uniform(0, _exponential(base, cap, 2.0, s.attempt_number)),
        f"wait_full_jitter({base}, cap={cap})",
    )


def wait_equal_jitter(
    base: float = 0.5, cap: float = 8.0, *, rng: random.Random | None = None
) -> Wait:
    """Half the exponential delay, plus a uniform random part of up to the other half."""
    base, cap = _backoff_bounds("wait_equal_jitter", base, cap)
    source = rng or random.Random()

    def compute(s: RetryState) -> float:
        half = _exponential(base, cap, 2.0, s.attempt_number) / 2
        return half + source.uniform(0, half)

    return Wait(compute, f"wait_equal_jitter({base}, cap={cap})")


def wait_jitter(maximum: float, *, rng: random.Random | None = None) -> Wait:
    """Uniform in ``[0, maximum]``; add it to another wait to de-synchronise clients."""
    top = require_seconds(maximum, "wait_jitter")
    source = rng or random.Random()
    return Wait(lambda _s: source.uniform(0, top), f"wait_jitter({maximum})")


def retry_if_retryable() -> RetryIf:
    """Retry what the classifier calls retryable (the default)."""
    return RetryIf(
        lambda s: s.classification is not None and s.classification.retryable,
        "retry_if_retryable()",
    )


def retry_if_classified(*kinds: ErrorType | str) -> RetryIf:
    """Retry failures of the given kinds only (e.g. ``"rate_limit"``, ``"server"``)."""
    wanted = frozenset(parse_choice(ErrorType, k, "retry_if_classified") for k in kinds)
    return RetryIf(
        lambda s: s.classification is not None and s.classification.kind in wanted,
        f"retry_if_classified({', '.join(sorted(wanted))})",
    )


def retry_if_rate_limited() -> RetryIf:
    return retry_if_classified(ErrorType.RATE_LIMIT)


def retry_if_exception_type(*types: type[BaseException]) -> RetryIf:
    names = ", ".join(t.__name__ for t in types)
    return RetryIf(
        lambda s: s.error is not None and isinstance(s.error, types),
        f"retry_if_exception_type({names})",
    )


def retry_if_result(predicate: Callable[[Any], bool]) -> RetryIf:
    """Retry when the call *returned* something ``predicate`` rejects."""
    return RetryIf(
        lambda s: s.error is None and bool(predicate(s.result)),
        f"retry_if_result({getattr(predicate, '__name__', 'predicate')})",
    )


def _unsuccessful(result: Any) -> bool:
    if isinstance(result, dict):
        for key in ("successful", "successfull"):  # composio-core spells it with two l's
            if key in result:
                return result[key] is False
        return False
    return getattr(result, "successful", True) is False


def retry_if_unsuccessful() -> RetryIf:
    """Retry tool results that report ``successful: false`` (Composio's failure envelope)."""
    return RetryIf(lambda s: s.error is None and _unsuccessful(s.result), "retry_if_unsuccessful()")


# --- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryRun(Generic[_T]):
    """A successful run: the value and how it was reached."""

    value: _T
    history: tuple[Attempt, ...]

    @property
    def attempts(self) -> int:
        return len(self.history)

    @property
    def total_delay(self) -> float:
        return math.fsum(a.delay for a in self.history)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, how long to wait, and when to give up (see the module docstring).

    Defaults: up to 3 attempts, exponential backoff from 0.5 s capped at 8 s plus up to 0.25 s of
    jitter, retry whatever :func:`classify` calls retryable, honour ``Retry-After`` up to 60 s,
    and treat the operation as *not* idempotent.
    """

    stop: Stop = field(default_factory=lambda: stop_after_attempt(3))
    wait: Wait = field(default_factory=lambda: wait_exponential(0.5, 8.0) + wait_jitter(0.25))
    retry: RetryIf = field(default_factory=retry_if_retryable)
    idempotent: bool = False
    retry_ambiguous: bool = False
    respect_retry_after: bool = True
    max_retry_after: float = 60.0
    classifier: Callable[[object], Classification] = classify
    clock: Clock | None = None
    on_retry: Callable[[Attempt], None] | None = None
    """Called after each failed attempt that will be retried, before the wait (for logs/metrics)."""

    def __post_init__(self) -> None:
        require_seconds(self.max_retry_after, "max_retry_after")

    def with_options(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed, e.g. ``policy.with_options(idempotent=True)``."""
        return replace(self, **changes)

    # -- running ---------------------------------------------------------------------------------

    def run(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> RetryRun[_T]:
        """Call ``fn`` under this policy; returns the value with the attempt history."""
        clock = resolve_clock(self.clock)
        run = _Run(self, clock)
        while True:
            started = clock.monotonic()
            try:
                value = fn(*args, **kwargs)
            except Exception as error:  # BaseExceptions (Ctrl-C, cancellation) are never retried
                delay = run.after_failure(started, error=error)
            else:
                retry_in = run.after_return(started, value)
                if retry_in is None:
                    return RetryRun(value, run.history())
                delay = retry_in
            clock.sleep(delay)

    async def arun(
        self, fn: Callable[_P, Awaitable[_T]], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> RetryRun[_T]:
        """Async :meth:`run`: awaits ``fn`` and waits with ``clock.asleep``."""
        clock = resolve_clock(self.clock)
        run = _Run(self, clock)
        while True:
            started = clock.monotonic()
            try:
                value = await fn(*args, **kwargs)
            except Exception as error:
                delay = run.after_failure(started, error=error)
            else:
                retry_in = run.after_return(started, value)
                if retry_in is None:
                    return RetryRun(value, run.history())
                delay = retry_in
            await clock.asleep(delay)

    def call(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self.run(fn, *args, **kwargs).value

    async def acall(
        self, fn: Callable[_P, Awaitable[_T]], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        return (await self.arun(fn, *args, **kwargs)).value

    @overload
    def __call__(self, fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]: ...

    @overload
    def __call__(self, fn: Callable[_P, _T]) -> Callable[_P, _T]: ...

    def __call__(self, fn: Callable[_P, Any]) -> Callable[_P, Any]:
        """Use the policy as a decorator, on plain or ``async`` functions."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                return await self.acall(fn, *args, **kwargs)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            return self.call(fn, *args, **kwargs)

        return wrapper


class _Run:
    """The bookkeeping of one run; shared by the sync and async loops so they cannot drift."""

    def __init__(self, policy: RetryPolicy, clock: Clock) -> None:
        self.policy = policy
        self.clock = clock
        self.first_start = clock.monotonic()
        self.attempts: list[Attempt] = []
        self.total_delay = 0.0

    def history(self) -> tuple[Attempt, ...]:
        return tuple(self.attempts)

    def _record(
        self,
        started: float,
        outcome: Outcome,
        classification: Classification | None,
        delay: float,
        error: BaseException | None = None,
        result: Any = None,
    ) -> Attempt:
        attempt = Attempt(
            number=len(self.attempts) + 1,
            outcome=outcome,
            classification=classification,
            delay=delay,
            started_at=started,
            duration=self.clock.monotonic() - started,
            error=error,
            result=result,
        )
        self.attempts.append(attempt)
        return attempt

    def after_return(self, started: float, value: Any) -> float | None:
        """The delay before retrying a rejected result, or ``None`` when ``value`` is final."""
        state = self._state(None, None, value)
        if not self.policy.retry(state):
            self._record(started, Outcome.SUCCESS, None, 0.0, result=value)
            return None
        # A failure envelope ({"successful": false, ...}) may say why; other values cannot.
        classification = self.policy.classifier(value) if isinstance(value, Mapping) else None
        return self._next_delay(started, state, classification, Outcome.RESULT, None, value)

    def after_failure(self, started: float, *, error: Exception) -> float:
        """The delay before the next try; raises when the policy will not retry."""
        classification = self.policy.classifier(error)
        state = self._state(classification, error, None)
        reason = self._refusal(state, classification)
        if reason is not None:
            self._record(started, Outcome.ERROR, classification, 0.0, error=error)
            error.add_note(f"crs retry: not retried after attempt {len(self.attempts)} ({reason})")
            raise error
        return self._next_delay(started, state, classification, Outcome.ERROR, error, None)

    def _refusal(self, state: RetryState, classification: Classification) -> str | None:
        policy = self.policy
        if not policy.retry(state):
            return f"{classification.kind} failure; the retry condition {policy.retry!r} declined"
        if classification.may_have_executed and not (policy.idempotent or policy.retry_ambiguous):
            return (
                f"{classification.kind} failure may have reached the server and the operation "
                "is not idempotent; re-sending could repeat its side effects (mark it "
                "idempotent=True, or pass retry_ambiguous=True, if that is safe)"
            )
        return None

    def _state(
        self, classification: Classification | None, error: BaseException | None, result: Any
    ) -> RetryState:
        return RetryState(
            attempt_number=len(self.attempts) + 1,
            elapsed=self.clock.monotonic() - self.first_start,
            total_delay=self.total_delay,
            classification=classification,
            error=error,
            result=result,
            clock=self.clock,
        )

    def _next_delay(
        self,
        started: float,
        state: RetryState,
        classification: Classification | None,
        outcome: Outcome,
        error: Exception | None,
        result: Any,
    ) -> float:
        policy = self.policy
        server_asked = classification.retry_after if classification is not None else None
        give_up: str | None = None
        if policy.respect_retry_after and server_asked is not None:
            delay = server_asked
            if server_asked > policy.max_retry_after:
                give_up = (
                    f"the server asked to wait {server_asked:g}s, more than "
                    f"max_retry_after={policy.max_retry_after:g}s"
                )
        else:
            delay = policy.wait(state)
        if give_up is None and policy.stop(replace(state, next_delay=delay)):
            give_up = f"{policy.stop!r} reached"
        attempt = self._record(
            started, outcome, classification, 0.0 if give_up else delay, error, result
        )
        if give_up is not None:
            raise RetryError(
                f"gave up after {attempt.number} attempt(s): {give_up}",
                history=self.history(),
                last_error=error,
                hint=None if error is None else f"last error: {_describe(attempt)}",
            ) from error
        self.total_delay += delay
        if policy.on_retry is not None:
            policy.on_retry(attempt)
        _log.info(
            "retrying in %.3gs after attempt %d: %s", delay, attempt.number, _describe(attempt)
        )
        return delay


def _describe(attempt: Attempt) -> str:
    c = attempt.classification
    if c is None:
        return attempt.outcome.value
    status = f" {c.status}" if c.status is not None else ""
    return f"{c.kind}{status} {c.detail}".strip()
