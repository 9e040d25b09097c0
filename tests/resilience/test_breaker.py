"""The circuit breaker follows its state diagram, per key, on the clock, under concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from crs.clock import VirtualClock, use_clock
from crs.errors import CircuitOpenError, ConfigError, CrsError
from crs.resilience._breaker import (
    CircuitBreaker,
    CircuitGuard,
    CircuitSnapshot,
    CircuitState,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Boom(Exception):
    """The dependency failed."""


def fail() -> None:
    raise Boom("down")


def ok() -> str:
    return "ok"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=0.0)


def trip(breaker: CircuitBreaker, times: int, key: str = "default") -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call(fail, key=key)


# --- the state diagram, by example ---------------------------------------------------------------


def test_opens_after_threshold_consecutive_failures_and_refuses_without_calling(
    clock: VirtualClock,
) -> None:
    breaker = CircuitBreaker(3, cooldown=30, clock=clock)
    trip(breaker, 2)
    assert breaker.state() is CLOSED
    clock.advance(5)
    trip(breaker, 1)
    assert breaker.state() is OPEN
    calls: list[str] = []
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(calls.append, "should not run")
    assert calls == []
    error = caught.value
    assert (error.key, error.retry_at) == ("default", 35.0)
    assert isinstance(error, CrsError)
    assert "open" in str(error)
    assert "30 s" in str(error)


def test_a_success_resets_the_consecutive_count(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(3, clock=clock)
    trip(breaker, 2)
    assert breaker.call(ok) == "ok"
    trip(breaker, 2)
    assert breaker.state() is CLOSED
    assert breaker.snapshot().consecutive_failures == 2


def test_half_opens_exactly_when_the_cooldown_ends(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=10, clock=clock)
    trip(breaker, 1)
    clock.advance(9.999)
    assert breaker.state() is OPEN
    clock.advance(0.001)
    assert breaker.state() is HALF_OPEN


def test_half_open_closes_after_success_threshold_successes(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=10, success_threshold=2, clock=clock)
    trip(breaker, 1)
    clock.advance(10)
    breaker.call(ok)
    assert breaker.state() is HALF_OPEN
    assert breaker.snapshot().trial_successes == 1
    breaker.call(ok)
    assert breaker.state() is CLOSED


def test_a_failure_in_half_open_reopens_for_a_fresh_cooldown(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=10, clock=clock)
    trip(breaker, 1)
    clock.advance(12)
    trip(breaker, 1)
    assert breaker.state() is OPEN
    assert breaker.snapshot().retry_at == 22.0


def test_half_open_admits_at_most_max_trial_calls_at_once(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=1, half_open_max_calls=2, success_threshold=3, clock=clock)
    trip(breaker, 1)
    clock.advance(1)
    first, second = breaker.guard(), breaker.guard()
    first.__enter__()
    second.__enter__()
    with pytest.raises(CircuitOpenError, match="2 trial call"):
        breaker.call(ok)
    assert breaker.snapshot().trial_calls == 2
    first.__exit__(None, None, None)
    assert breaker.call(ok) == "ok"  # a trial slot is free again
    second.__exit__(None, None, None)
    assert breaker.state() is CLOSED


def test_an_outcome_from_before_a_transition_is_ignored(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(2, cooldown=10, clock=clock)
    slow = breaker.guard()
    slow.__enter__()  # admitted while closed
    trip(breaker, 2)  # meanwhile the circuit opens
    clock.advance(10)
    assert breaker.state() is HALF_OPEN
    slow.__exit__(None, None, None)  # its success says nothing about the half-open circuit
    assert breaker.state() is HALF_OPEN
    assert breaker.snapshot().trial_successes == 0


def test_exceptions_the_predicate_rejects_count_as_successes(clock: VirtualClock) -> None:
    def server_fault(error: BaseException) -> bool:
        return not isinstance(error, KeyError)

    breaker = CircuitBreaker(2, counts_as_failure=server_fault, clock=clock)
    trip(breaker, 1)
    with pytest.raises(KeyError):
        breaker.call({}.__getitem__, "missing")  # the server answered: not its fault
    assert breaker.snapshot().consecutive_failures == 0
    trip(breaker, 2)
    assert breaker.state() is OPEN


def test_cancellation_counts_as_neither_outcome(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=1, clock=clock)
    trip(breaker, 1)
    clock.advance(1)
    with pytest.raises(asyncio.CancelledError), breaker.guard():
        raise asyncio.CancelledError
    snapshot = breaker.snapshot()
    assert snapshot.state is HALF_OPEN
    assert snapshot.trial_calls == 0  # the trial slot was given back


def test_manual_recording(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(2, cooldown=5, clock=clock)
    breaker.record_failure("db")
    breaker.record_success("db")
    breaker.record_failure("db")
    assert breaker.state("db") is CLOSED
    breaker.record_failure("db")
    assert breaker.state("db") is OPEN
    breaker.record_failure("db")  # ignored while open: the cooldown is not extended
    assert breaker.snapshot("db").retry_at == 5.0
    clock.advance(5)
    breaker.record_success("db")
    assert breaker.state("db") is CLOSED


def test_keys_have_their_own_circuits(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, clock=clock)
    trip(breaker, 1, key="gmail")
    assert breaker.state("gmail") is OPEN
    assert breaker.state("slack") is CLOSED
    assert breaker.call(ok, key="slack") == "ok"
    assert set(breaker.snapshots()) == {"gmail", "slack"}


def test_async_calls_and_guards(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(2, cooldown=3, clock=clock)

    async def afail() -> None:
        await clock.asleep(1)
        raise Boom

    async def aok(value: int, *, plus: int) -> int:
        return value + plus

    async def main() -> list[object]:
        seen: list[object] = [await breaker.acall(aok, 1, plus=2, key="llm")]
        for _ in range(2):
            try:
                await breaker.acall(afail, key="llm")
            except Boom:
                seen.append("boom")
        try:
            async with breaker.guard("llm"):
                seen.append("ran while open")
        except CircuitOpenError as error:
            seen.append(error.retry_at)
        return seen

    assert asyncio.run(main()) == [3, "boom", "boom", 5.0]


def test_failure_rate_opens_over_minimum_calls_in_the_window(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(
        None, failure_rate=0.5, minimum_calls=4, window=60, cooldown=10, clock=clock
    )
    for outcome in (ok, fail, ok):
        with contextlib.suppress(Boom):
            breaker.call(outcome)
    assert breaker.state() is CLOSED  # 1 of 3 failed, and fewer than 4 calls anyway
    trip(breaker, 1)  # 2 of 4
    assert breaker.state() is OPEN


def test_failure_rate_forgets_calls_that_left_the_window(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(None, failure_rate=0.5, minimum_calls=4, window=60, clock=clock)
    trip(breaker, 3)
    assert breaker.snapshot().window_failures == 3
    clock.advance(67)  # past the window plus one slice (6 s)
    assert breaker.snapshot().window_calls == 0
    breaker.call(ok)
    breaker.call(ok)
    breaker.call(ok)
    trip(breaker, 1)  # 1 of 4 now
    assert breaker.state() is CLOSED


def test_threshold_and_rate_combine(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(3, failure_rate=0.9, minimum_calls=100, clock=clock)
    trip(breaker, 3)
    assert breaker.state() is OPEN


def test_listeners_hear_every_transition_in_order(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(1, cooldown=2, clock=clock)
    heard: list[tuple[str, CircuitState, CircuitState]] = []

    @breaker.on_transition
    def listen(key: str, old: CircuitState, new: CircuitState) -> None:
        heard.append((key, old, new))

    trip(breaker, 1, key="k")
    clock.advance(2)
    breaker.call(ok, key="k")
    assert heard == [("k", CLOSED, OPEN), ("k", OPEN, HALF_OPEN), ("k", HALF_OPEN, CLOSED)]
    assert callable(listen)


def test_a_failing_listener_is_logged_and_does_not_break_the_call(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = CircuitBreaker(1, clock=clock)
    heard: list[CircuitState] = []
    breaker.on_transition(lambda key, old, new: 1 / 0)  # type: ignore[arg-type,return-value]
    breaker.on_transition(lambda key, old, new: heard.append(new))
    with caplog.at_level(logging.ERROR, logger="crs.resilience.breaker"):
        trip(breaker, 1)
    assert heard == [OPEN]
    assert "listener" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_snapshot_of_an_unknown_key_is_a_fresh_closed_circuit(clock: VirtualClock) -> None:
    breaker = CircuitBreaker(clock=clock)
    assert breaker.snapshot("new") == CircuitSnapshot(
        key="new",
        state=CLOSED,
        consecutive_failures=0,
        window_calls=0,
        window_failures=0,
        retry_at=None,
        trial_calls=0,
        trial_successes=0,
    )
    assert breaker.snapshots() == {}  # looking does not create state


def test_idle_closed_circuits_are_dropped_but_remembered_ones_are_kept(
    clock: VirtualClock,
) -> None:
    breaker = CircuitBreaker(5, clock=clock)
    breaker.record_failure("flaky")
    for i in range(2_000):
        breaker.call(ok, key=f"user-{i}")
        if i % 100 == 0:
            assert len(breaker.snapshots()) <= 130
    assert breaker.snapshot("flaky").consecutive_failures == 1


def test_clock_is_resolved_at_each_use() -> None:
    breaker = CircuitBreaker(1, cooldown=60)
    clock = VirtualClock(start=0.0)
    with use_clock(clock):
        trip(breaker, 1)
        clock.advance(60)
        assert breaker.state() is HALF_OPEN


def test_a_guard_is_single_use(clock: VirtualClock) -> None:
    guard = CircuitBreaker(clock=clock).guard()
    assert isinstance(guard, CircuitGuard)
    with guard:
        pass
    with pytest.raises(RuntimeError, match="only once"), guard:
        pass


def test_concurrent_failures_open_the_circuit_exactly_once(
    clock: VirtualClock, race: Callable[[Callable[[], None]], None]
) -> None:
    breaker = CircuitBreaker(5, clock=clock)
    transitions: list[CircuitState] = []
    breaker.on_transition(lambda key, old, new: transitions.append(new))
    refused = []

    def hammer() -> None:
        count = 0
        for _ in range(150):
            try:
                breaker.call(fail)
            except Boom:
                pass
            except CircuitOpenError:
                count += 1
        refused.append(count)

    race(hammer)
    assert transitions == [OPEN]  # time stands still: it never half-opens
    assert sum(refused) >= 8 * 150 - 5 - 8  # only calls admitted before it opened ran


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be a positive int"),
        ({"failure_threshold": None}, "could never open"),
        ({"cooldown": -1}, "cooldown must be a non-negative"),
        ({"cooldown": float("inf")}, "cooldown must be a non-negative"),
        ({"success_threshold": 0}, "success_threshold must be a positive int"),
        ({"half_open_max_calls": 1.5}, "half_open_max_calls must be a positive int"),
        ({"failure_rate": 0}, "failure_rate must be a fraction"),
        ({"failure_rate": 1.5}, "failure_rate must be a fraction"),
        ({"failure_rate": 0.5, "minimum_calls": 0}, "minimum_calls must be a positive int"),
        ({"window": 0}, "window must be a positive"),
    ],
)
def test_bad_configuration_names_the_argument(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


# --- the state diagram, against a model -------------------------------------------------------

THRESHOLD, COOLDOWN, SUCCESSES, MAX_TRIALS = 3, 10.0, 2, 2


@dataclass
class Model:
    """The state diagram, written as plainly as possible."""

    state: CircuitState = CLOSED
    failures: int = 0
    retry_at: float = 0.0
    successes: int = 0
    trials: int = 0
    generation: int = 0

    def look(self, now: float) -> None:
        if self.state is OPEN and now >= self.retry_at:
            self.become(HALF_OPEN, now)

    def become(self, state: CircuitState, now: float) -> None:
        self.state, self.failures, self.successes, self.trials = state, 0, 0, 0
        self.generation += 1
        self.retry_at = now + COOLDOWN

    def admits(self) -> bool:
        return self.state is CLOSED or (self.state is HALF_OPEN and self.trials < MAX_TRIALS)

    def record(self, failed: bool, now: float) -> None:
        if self.state is CLOSED:
            self.failures = self.failures + 1 if failed else 0
            if self.failures >= THRESHOLD:
                self.become(OPEN, now)
        elif self.state is HALF_OPEN:
            if failed:
                self.become(OPEN, now)
            else:
                self.successes += 1
                if self.successes >= SUCCESSES:
                    self.become(CLOSED, now)


@dataclass
class Held:
    guard: CircuitGuard
    generation: int
    trial: bool
    closed: list[bool] = field(default_factory=list)


class BreakerMachine(RuleBasedStateMachine):
    held = Bundle("held")

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(start=0.0)
        self.breaker = CircuitBreaker(
            THRESHOLD,
            cooldown=COOLDOWN,
            success_threshold=SUCCESSES,
            half_open_max_calls=MAX_TRIALS,
            clock=self.clock,
        )
        self.model = Model()

    def now(self) -> float:
        return self.clock.monotonic()

    @rule(failed=st.booleans())
    def call(self, failed: bool) -> None:
        self.model.look(self.now())
        if not self.model.admits():
            with pytest.raises(CircuitOpenError):
                self.breaker.call(fail if failed else ok)
            return
        if failed:
            with pytest.raises(Boom):
                self.breaker.call(fail)
        else:
            assert self.breaker.call(ok) == "ok"
        self.model.record(failed, self.now())

    @rule(failed=st.booleans())
    def record_by_hand(self, failed: bool) -> None:
        self.model.look(self.now())
        (self.breaker.record_failure if failed else self.breaker.record_success)()
        self.model.record(failed, self.now())

    @rule(seconds=st.sampled_from([0.5, 3.0, 9.99, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(target=held)
    def enter(self) -> Held | None:
        self.model.look(self.now())
        guard = self.breaker.guard()
        if not self.model.admits():
            with pytest.raises(CircuitOpenError):
                guard.__enter__()
            return None
        guard.__enter__()
        trial = self.model.state is HALF_OPEN
        self.model.trials += trial
        return Held(guard, self.model.generation, trial)

    @rule(entry=consumes(held), failed=st.booleans())
    def leave(self, entry: Held | None, failed: bool) -> None:
        if entry is None:
            return
        error = Boom() if failed else None
        entry.guard.__exit__(type(error) if error else None, error, None)
        if entry.generation != self.model.generation:
            return  # the circuit moved on: the outcome is ignored
        self.model.trials -= entry.trial
        self.model.record(failed, self.now())

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.model.look(self.now())
        snapshot = self.breaker.snapshot()
        assert snapshot.state is self.model.state
        assert snapshot.consecutive_failures == self.model.failures
        assert snapshot.trial_calls == self.model.trials
        assert snapshot.trial_successes == self.model.successes
        expected_retry = self.model.retry_at if self.model.state is OPEN else None
        assert snapshot.retry_at == expected_retry


BreakerMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=25)
test_breaker_follows_the_state_diagram = BreakerMachine.TestCase


def test_default_judgement_counts_outages_not_client_errors() -> None:
    import httpx2

    clock = VirtualClock(start=0.0)
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    request = httpx2.Request("GET", "http://127.0.0.1:9/api/v1/apps")

    def fail_with(status: int) -> None:
        response = httpx2.Response(status, request=request)
        raise httpx2.HTTPStatusError(f"HTTP {status}", request=request, response=response)

    for status in (401, 404, 422, 429, 401):
        with pytest.raises(httpx2.HTTPStatusError):
            breaker.call(fail_with, status, key="github")
    assert breaker.state("github") is CircuitState.CLOSED  # the server answered every time
    for status in (503, 502):
        with pytest.raises(httpx2.HTTPStatusError):
            breaker.call(fail_with, status, key="github")
    assert breaker.state("github") is CircuitState.OPEN
