"""A circuit breaker per key: stop calling a dependency that keeps failing, then probe it.

Retrying a dependency that is down only adds load and latency; a breaker fails fast instead.
Each key (an app, a model, a host) has its own circuit::

    closed ──(failure_threshold consecutive failures, or failure_rate)──▶ open
    open ──(cooldown elapsed on the clock)──▶ half_open
    half_open ──(success_threshold successes)──▶ closed
    half_open ──(any failure)──▶ open

While open, calls raise :class:`~crs.errors.CircuitOpenError` without running. Half-open lets at
most ``half_open_max_calls`` trial calls run at once; the rest are refused as if open.

What counts as a failure is the ``counts_as_failure`` predicate's call. The default asks
:func:`~crs.resilience.classify`: timeouts, connection errors, 5xx and unrecognised exceptions
mean the dependency is in trouble; a 401, a 404, a validation error or a 429 prove the server
answered (a 429 is for the rate limiter's ``backoff``, not an outage), so they count as a
*success*. ``BaseException``\\ s that are not exceptions
(cancellation, ``KeyboardInterrupt``) say nothing about the dependency and count as neither.

Each admitted call carries the circuit's generation; an outcome that arrives after the circuit
changed state (a slow call admitted while closed, finishing after it opened) is ignored, so a
stale success can never close a circuit that a newer failure opened.

The open → half-open step happens when the circuit is next looked at (a call, ``state()``, a
snapshot), which is when its listeners hear of it. Timing uses the clock's ``monotonic()``.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Final, TypeVar

from crs._options import require_positive_int, require_seconds
from crs.clock import Clock, resolve_clock
from crs.errors import CircuitOpenError, ConfigError
from crs.resilience._classification import ErrorType
from crs.resilience._classify import classify

__all__ = [
    "CircuitBreaker",
    "CircuitGuard",
    "CircuitSnapshot",
    "CircuitState",
    "TransitionListener",
]

_log = logging.getLogger("crs.resilience.breaker")
_T = TypeVar("_T")
_MIN_SWEEP: Final = 64
_SLICES: Final = 10


class CircuitState(StrEnum):
    """Where a key's circuit is in the state diagram."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


TransitionListener = Callable[[str, CircuitState, CircuitState], None]
"""Called as ``listener(key, old_state, new_state)`` after each transition."""


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    """One key's circuit, for metrics and dashboards.

    Attributes:
        key: the circuit's key.
        state: its state now.
        consecutive_failures: failures since the last success (closed state).
        window_calls: calls counted in the failure-rate window (0 without ``failure_rate``).
        window_failures: failures among them.
        retry_at: while open, the ``monotonic()`` reading at which it half-opens.
        trial_calls: half-open trial calls in flight.
        trial_successes: half-open successes so far.
    """

    key: str
    state: CircuitState
    consecutive_failures: int
    window_calls: int
    window_failures: int
    retry_at: float | None
    trial_calls: int
    trial_successes: int


@dataclass(slots=True)
class _Slice:
    start: float
    calls: int = 0
    failures: int = 0


class _RollingCounts:
    """Calls and failures over the last ``window`` seconds, in fixed slices (O(1) memory).

    A call is forgotten between ``window`` and ``window·(1 + 1/10)`` seconds after it happened.
    """

    __slots__ = ("_slices", "_width", "_window", "calls", "failures")

    def __init__(self, window: float) -> None:
        self._window = window
        self._width = window / _SLICES
        self._slices: deque[_Slice] = deque()
        self.calls = 0
        self.failures = 0

    def add(self, now: float, failed: bool) -> None:
        self.expire(now)
        start = now - now % self._width
        if not self._slices or self._slices[-1].start < start:
            self._slices.append(_Slice(start))
        last = self._slices[-1]
        last.calls += 1
        last.failures += failed
        self.calls += 1
        self.failures += failed

    def expire(self, now: float) -> None:
        while self._slices and self._slices[0].start + self._width <= now - self._window:
            gone = self._slices.popleft()
            self.calls -= gone.calls
            self.failures -= gone.failures

    def clear(self) -> None:
        self._slices.clear()
        self.calls = self.failures = 0


class _Circuit:
    __slots__ = ("failures", "generation", "retry_at", "state", "successes", "trials", "window")

    def __init__(self, generation: int, window: _RollingCounts | None) -> None:
        self.state = CircuitState.CLOSED
        self.generation = generation
        self.failures = 0
        self.window = window
        self.retry_at = -math.inf
        self.trials = 0
        self.successes = 0

    def idle(self, now: float) -> bool:
        """Closed with nothing remembered: indistinguishable from a brand-new circuit."""
        if self.window is not None:
            self.window.expire(now)
        empty = self.window is None or self.window.calls == 0
        return self.state is CircuitState.CLOSED and self.failures == 0 and empty


@dataclass(frozen=True, slots=True)
class _Permit:
    key: str
    generation: int
    trial: bool


_Transition = tuple[str, CircuitState, CircuitState]


class CircuitBreaker:
    """Per-key circuit breakers sharing one configuration.

    Args:
        failure_threshold: consecutive failures that open a closed circuit; ``None`` to rely
            on ``failure_rate`` alone.
        cooldown: seconds an open circuit refuses calls before letting trials through.
        success_threshold: successful trials that close a half-open circuit.
        half_open_max_calls: trial calls allowed in flight at once while half-open.
        failure_rate: also open when at least this fraction (0-1] of the calls in the last
            ``window`` seconds failed, once there were ``minimum_calls`` of them.
        minimum_calls: calls in the window before ``failure_rate`` is judged.
        window: length in seconds of the failure-rate window.
        counts_as_failure: which exceptions count against the dependency (default: outages
            as :func:`~crs.resilience.classify` sees them; pass ``lambda e: True`` to count all).
        clock: time source; defaults to :func:`crs.clock.get_clock` at each use.

    Thread-safe. Listeners run outside the lock, after the transition; one that raises is
    logged and does not disturb the call that triggered it.
    """

    def __init__(
        self,
        failure_threshold: int | None = 5,
        *,
        cooldown: float = 30.0,
        success_threshold: int = 1,
        half_open_max_calls: int = 1,
        failure_rate: float | None = None,
        minimum_calls: int = 10,
        window: float = 60.0,
        counts_as_failure: Callable[[BaseException], bool] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if failure_threshold is None and failure_rate is None:
            raise ConfigError(
                "failure_threshold=None and failure_rate=None: the circuit could never open",
                hint="set failure_threshold, failure_rate, or both",
            )
        threshold = failure_threshold
        self._threshold = (
            None if threshold is None else require_positive_int(threshold, "failure_threshold")
        )
        self._cooldown = require_seconds(cooldown, "cooldown", finite=True)
        self._success_threshold = require_positive_int(success_threshold, "success_threshold")
        self._max_trials = require_positive_int(half_open_max_calls, "half_open_max_calls")
        self._rate = None if failure_rate is None else _fraction(failure_rate)
        self._minimum_calls = require_positive_int(minimum_calls, "minimum_calls")
        self._window = require_seconds(window, "window", allow_zero=False, finite=True)
        self._counts_as_failure = counts_as_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[str, _Circuit] = {}
        self._generations = itertools.count()
        self._sweep_at = _MIN_SWEEP
        self._listeners: list[TransitionListener] = []

    # -- calling through the breaker ------------------------------------------------------

    def call(self, fn: Callable[..., _T], /, *args: Any, key: str = "default", **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` if the circuit for ``key`` allows it, recording the outcome.

        Raises:
            CircuitOpenError: the circuit is open (or half-open with all trial slots taken);
                ``fn`` was not called.
        """
        with self.guard(key):
            return fn(*args, **kwargs)

    async def acall(
        self, fn: Callable[..., Awaitable[_T]], /, *args: Any, key: str = "default", **kwargs: Any
    ) -> _T:
        """``await fn(*args, **kwargs)`` through the circuit for ``key``; see :meth:`call`."""
        async with self.guard(key):
            return await fn(*args, **kwargs)

    def guard(self, key: str = "default") -> CircuitGuard:
        """A ``with`` / ``async with`` block that runs as one call through the circuit.

        Entering raises :class:`~crs.errors.CircuitOpenError` when the circuit refuses; leaving
        records success, or the exception as a failure. Put any :func:`timeout` *inside* the
        guard, so a slow call reaches it as a timeout error (a failure), not a cancellation.
        """
        return CircuitGuard(self, key)

    # -- recording outcomes by hand -------------------------------------------------------

    def record_success(self, key: str = "default") -> None:
        """Count a success for ``key``, for calls made without :meth:`call` or :meth:`guard`."""
        self._record_now(key, failed=False)

    def record_failure(self, key: str = "default") -> None:
        """Count a failure for ``key``; ignored while the circuit is open."""
        self._record_now(key, failed=True)

    # -- observing ------------------------------------------------------------------------

    def state(self, key: str = "default") -> CircuitState:
        """The circuit's state now (an open circuit past its cooldown reads as half-open)."""
        return self.snapshot(key).state

    def snapshot(self, key: str = "default") -> CircuitSnapshot:
        """One key's circuit, for metrics."""
        with self._lock:
            now = self._now()
            transitions: list[_Transition] = []
            circuit = self._circuits.get(key)
            if circuit is None:
                snap = CircuitSnapshot(key, CircuitState.CLOSED, 0, 0, 0, None, 0, 0)
            else:
                self._refresh(key, circuit, now, transitions)
                snap = _snapshot(key, circuit, now)
        self._notify(transitions)
        return snap

    def snapshots(self) -> dict[str, CircuitSnapshot]:
        """Every key with state in memory (idle closed circuits may have been dropped)."""
        with self._lock:
            now = self._now()
            transitions: list[_Transition] = []
            result = {}
            for key, circuit in self._circuits.items():
                self._refresh(key, circuit, now, transitions)
                result[key] = _snapshot(key, circuit, now)
        self._notify(transitions)
        return result

    def on_transition(self, listener: TransitionListener) -> TransitionListener:
        """Call ``listener(key, old, new)`` after every transition; returns it, so it decorates."""
        with self._lock:
            self._listeners.append(listener)
        return listener

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(failure_threshold={self._threshold}, cooldown={self._cooldown:g}, "
            f"failure_rate={self._rate}, keys={len(self._circuits)})"
        )

    # -- internals ------------------------------------------------------------------------

    def _admit(self, key: str) -> _Permit:
        refusal: CircuitOpenError | None = None
        transitions: list[_Transition] = []
        with self._lock:
            now = self._now()
            circuit = self._circuit(key, now)
            self._refresh(key, circuit, now, transitions)
            permit = _Permit(key, circuit.generation, trial=circuit.state is CircuitState.HALF_OPEN)
            if circuit.state is CircuitState.OPEN:
                refusal = _open_error(key, circuit.retry_at, now)
            elif permit.trial and circuit.trials >= self._max_trials:
                refusal = _busy_error(key, self._max_trials, now)
            elif permit.trial:
                circuit.trials += 1
        self._notify(transitions)
        if refusal is not None:
            raise refusal
        return permit

    def _settle(self, permit: _Permit, error: BaseException | None) -> None:
        failed = self._judge(error)
        transitions: list[_Transition] = []
        with self._lock:
            circuit = self._circuits.get(permit.key)
            if circuit is None or circuit.generation != permit.generation:
                return  # the circuit moved on since this call was admitted
            if permit.trial:
                circuit.trials -= 1
            if failed is not None:
                self._record(permit.key, circuit, failed, self._now(), transitions)
        self._notify(transitions)

    def _judge(self, error: BaseException | None) -> bool | None:
        """Failure (``True``), success (``False``), or neither (``None``)."""
        if error is None:
            return False
        if not isinstance(error, Exception):
            return None
        judge = self._counts_as_failure or _is_outage
        return bool(judge(error))

    def _record_now(self, key: str, *, failed: bool) -> None:
        transitions: list[_Transition] = []
        with self._lock:
            now = self._now()
            circuit = self._circuit(key, now)
            self._refresh(key, circuit, now, transitions)
            self._record(key, circuit, failed, now, transitions)
        self._notify(transitions)

    def _record(
        self, key: str, circuit: _Circuit, failed: bool, now: float, out: list[_Transition]
    ) -> None:
        if circuit.state is CircuitState.HALF_OPEN:
            if failed:
                self._move(key, circuit, CircuitState.OPEN, now, out)
            else:
                circuit.successes += 1
                if circuit.successes >= self._success_threshold:
                    self._move(key, circuit, CircuitState.CLOSED, now, out)
        elif circuit.state is CircuitState.CLOSED:
            circuit.failures = circuit.failures + 1 if failed else 0
            if circuit.window is not None:
                circuit.window.add(now, failed)
            if failed and self._trips(circuit):
                self._move(key, circuit, CircuitState.OPEN, now, out)

    def _trips(self, circuit: _Circuit) -> bool:
        if self._threshold is not None and circuit.failures >= self._threshold:
            return True
        window = circuit.window
        if self._rate is None or window is None or window.calls < self._minimum_calls:
            return False
        return window.failures >= self._rate * window.calls

    def _refresh(self, key: str, circuit: _Circuit, now: float, out: list[_Transition]) -> None:
        if circuit.state is CircuitState.OPEN and now >= circuit.retry_at:
            self._move(key, circuit, CircuitState.HALF_OPEN, now, out)

    def _move(
        self,
        key: str,
        circuit: _Circuit,
        new: CircuitState,
        now: float,
        out: list[_Transition],
    ) -> None:
        out.append((key, circuit.state, new))
        circuit.state = new
        circuit.generation = next(self._generations)
        circuit.failures = circuit.trials = circuit.successes = 0
        if circuit.window is not None:
            circuit.window.clear()
        circuit.retry_at = now + self._cooldown if new is CircuitState.OPEN else -math.inf

    def _circuit(self, key: str, now: float) -> _Circuit:
        """The key's circuit, created closed on first use; called with the lock held."""
        circuit = self._circuits.get(key)
        if circuit is None:
            if len(self._circuits) >= self._sweep_at:
                self._circuits = {k: c for k, c in self._circuits.items() if not c.idle(now)}
                self._sweep_at = max(_MIN_SWEEP, 2 * len(self._circuits))
            window = None if self._rate is None else _RollingCounts(self._window)
            circuit = self._circuits[key] = _Circuit(next(self._generations), window)
        return circuit

    def _notify(self, transitions: list[_Transition]) -> None:
        if not transitions:
            return
        with self._lock:
            listeners = list(self._listeners)
        for key, old, new in transitions:
            for listener in listeners:
                try:
                    listener(key, old, new)
                except Exception:
                    _log.exception("circuit listener %r failed on %s -> %s", listener, old, new)

    def _now(self) -> float:
        return resolve_clock(self._clock).monotonic()


class CircuitGuard:
    """One call through a circuit, as a sync or async context manager (see ``guard()``)."""

    __slots__ = ("_breaker", "_key", "_permit")

    def __init__(self, breaker: CircuitBreaker, key: str) -> None:
        self._breaker = breaker
        self._key = key
        self._permit: _Permit | None = None

    def __enter__(self) -> CircuitGuard:
        if self._permit is not None:
            raise RuntimeError("a circuit guard can be entered only once")
        self._permit = self._breaker._admit(self._key)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._permit is None:
            raise RuntimeError("a circuit guard was exited without being entered")
        self._breaker._settle(self._permit, exc)

    async def __aenter__(self) -> CircuitGuard:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def _snapshot(key: str, circuit: _Circuit, now: float) -> CircuitSnapshot:
    window = circuit.window
    if window is not None:
        window.expire(now)
    return CircuitSnapshot(
        key=key,
        state=circuit.state,
        consecutive_failures=circuit.failures,
        window_calls=0 if window is None else window.calls,
        window_failures=0 if window is None else window.failures,
        retry_at=circuit.retry_at if circuit.state is CircuitState.OPEN else None,
        trial_calls=circuit.trials,
        trial_successes=circuit.successes,
    )


def _open_error(key: str, retry_at: float, now: float) -> CircuitOpenError:
    return CircuitOpenError(
        f"circuit {key!r} is open; calls are refused for another {retry_at - now:.3g} s",
        key=key,
        retry_at=retry_at,
        hint="the dependency kept failing; wait for the cooldown or fall back",
    )


def _busy_error(key: str, trials: int, now: float) -> CircuitOpenError:
    return CircuitOpenError(
        f"circuit {key!r} is half-open and its {trials} trial call(s) are in flight",
        key=key,
        retry_at=now,
        hint="retry shortly: the trial's outcome decides whether the circuit closes",
    )


def _fraction(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(f"failure_rate must be a fraction in (0, 1], got {value!r}")
    return float(value)


_OUTAGE_KINDS: Final = frozenset(
    {ErrorType.TIMEOUT, ErrorType.CONNECTION, ErrorType.SERVER, ErrorType.UNKNOWN}
)


def _is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the dependency is unhealthy (the breaker's default judgement)."""
    return classify(error).kind in _OUTAGE_KINDS
