"""The rate limiter keeps its documented guarantees on any request timing, in virtual time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crs.clock import VirtualClock, use_clock
from crs.errors import ConfigError, CrsTimeoutError
from crs.resilience._ratelimit import RateLimitAlgorithm, RateLimiter, RateLimiterStats

EPS = 1e-6  # float slack for sums of virtual sleeps


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=0.0)


# --- a request script: what callers do, and when ------------------------------------------------


@dataclass(frozen=True)
class Step:
    gap: float  # virtual seconds since the previous step
    action: str  # "acquire" | "try" | "backoff"
    cost: int = 1
    seconds: float = 0.0  # for backoff


def steps(max_cost: int) -> st.SearchStrategy[list[Step]]:
    gaps = st.one_of(
        st.just(0.0), st.floats(0, 5), st.floats(0, 90), st.sampled_from([1.0, 30.0, 60.0])
    )
    acquire = st.builds(Step, gaps, st.just("acquire"), st.integers(1, max_cost))
    attempt = st.builds(Step, gaps, st.just("try"), st.integers(1, max_cost))
    pause = st.builds(Step, gaps, st.just("backoff"), st.just(1), st.floats(0, 120))
    return st.lists(st.one_of(acquire, acquire, attempt, pause), max_size=40)


@dataclass
class Trace:
    admitted: list[tuple[float, int]]  # (admission time, cost), in order
    pause_end_at_admission: list[float]  # latest pause end announced before each admission


def play(limiter: RateLimiter, clock: VirtualClock, script: list[Step]) -> Trace:
    """Run ``script`` on one key, checking each step against what ``delay()`` promised.

    Per step: ``try_acquire`` never moves the clock and succeeds exactly when ``delay()`` was 0;
    ``acquire`` waits exactly ``delay()``; after ``backoff`` the key is paused at least as long.
    An admission's time is the clock when the call returned.
    """
    trace = Trace([], [])
    pause_end = float("-inf")
    for step in script:
        clock.advance(step.gap)
        before = clock.monotonic()
        if step.action == "backoff":
            limiter.backoff("k", step.seconds)
            pause_end = max(pause_end, before + step.seconds)
            assert limiter.delay("k") >= pause_end - before - EPS
            continue
        promised = limiter.delay("k", cost=step.cost)
        if step.action == "try":
            admitted = limiter.try_acquire("k", cost=step.cost)
            assert clock.monotonic() == before
            assert admitted is (promised == 0)
            if not admitted:
                continue
        else:
            assert limiter.acquire("k", cost=step.cost) == pytest.approx(promised)
            assert clock.monotonic() == pytest.approx(before + promised)
        trace.admitted.append((clock.monotonic(), step.cost))
        trace.pause_end_at_admission.append(pause_end)
    assert limiter.stats().waiting == 0
    return trace


# --- the guarantees, as properties ----------------------------------------------------------------


@settings(max_examples=60)
@given(
    rpm=st.sampled_from([1, 6, 30, 60, 90.5, 600, 0.5]),
    burst=st.integers(1, 5),
    script=steps(max_cost=5),
)
def test_token_bucket_admits_at_most_burst_plus_rate_times_t(
    rpm: float, burst: int, script: list[Step]
) -> None:
    clock = VirtualClock(start=0.0)
    limiter = RateLimiter(rpm, burst=burst, clock=clock)
    script = [s if s.cost <= burst else Step(s.gap, s.action, burst, s.seconds) for s in script]
    trace = play(limiter, clock, script)
    rate = rpm / 60
    for i, (start, _) in enumerate(trace.admitted):
        units = 0
        for at, cost in trace.admitted[i:]:
            units += cost
            assert units <= burst + rate * (at - start) + EPS, (i, start, at, units)
    for (at, _), pause_end in zip(trace.admitted, trace.pause_end_at_admission, strict=True):
        assert at >= pause_end - EPS


@settings(max_examples=60)
@given(rpm=st.integers(1, 8), script=steps(max_cost=3))
def test_sliding_window_admits_at_most_rpm_in_any_60_seconds(rpm: int, script: list[Step]) -> None:
    clock = VirtualClock(start=0.0)
    limiter = RateLimiter(rpm, algorithm="sliding_window", clock=clock)
    script = [s if s.cost <= rpm else Step(s.gap, s.action, rpm, s.seconds) for s in script]
    trace = play(limiter, clock, script)
    for i, (start, _) in enumerate(trace.admitted):
        in_window = sum(cost for at, cost in trace.admitted[i:] if at < start + 60 - EPS)
        assert in_window <= rpm, (i, start, in_window)
    for (at, _), pause_end in zip(trace.admitted, trace.pause_end_at_admission, strict=True):
        assert at >= pause_end - EPS


# --- behaviour by example -------------------------------------------------------------------------


def test_seed_shape_spaces_requests_one_second_apart(clock: VirtualClock) -> None:
    limiter = RateLimiter(requests_per_minute=60, clock=clock)
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 1.0, 1.0, 1.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert limiter.burst == 1
    assert limiter.algorithm is RateLimitAlgorithm.TOKEN_BUCKET


def test_burst_is_admitted_at_once_then_the_rate_applies(clock: VirtualClock) -> None:
    limiter = RateLimiter(120, burst=3, clock=clock)
    assert [limiter.try_acquire("k") for _ in range(4)] == [True, True, True, False]
    assert limiter.delay("k") == 0.5
    clock.advance(1.5)  # three half-second intervals: the bucket is full again
    assert [limiter.try_acquire("k") for _ in range(4)] == [True, True, True, False]


def test_sliding_window_admits_a_minutes_worth_then_waits_for_the_oldest(
    clock: VirtualClock,
) -> None:
    limiter = RateLimiter(3, algorithm="sliding-window", clock=clock)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.advance(10)
    assert limiter.acquire() == 50.0  # the first of the three leaves the window at t=60
    assert clock.monotonic() == 60.0


def test_cost_consumes_that_many_units(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, burst=4, clock=clock)
    assert limiter.try_acquire(cost=3)
    assert not limiter.try_acquire(cost=2)
    assert limiter.try_acquire(cost=1)
    assert limiter.delay(cost=4) == 4.0


def test_keys_are_independent(clock: VirtualClock) -> None:
    limiter = RateLimiter(1, clock=clock)
    assert limiter.try_acquire("openai")
    assert not limiter.try_acquire("openai")
    assert limiter.try_acquire("composio:gmail")
    assert limiter.delay("openai") == 60.0
    assert limiter.delay("never-used") == 0.0


def test_backoff_pauses_exactly_that_key_for_exactly_that_long(clock: VirtualClock) -> None:
    limiter = RateLimiter(600, clock=clock)
    limiter.acquire("gmail")
    limiter.backoff("gmail", 7.5)
    assert limiter.delay("gmail") == 7.5
    assert limiter.acquire("slack") == 0.0
    assert limiter.acquire("gmail") == 7.5
    assert clock.monotonic() == 7.5
    assert limiter.acquire("gmail") == pytest.approx(0.1)  # then the normal rate again


def test_overlapping_backoffs_take_the_later_end_not_the_sum(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)
    limiter.backoff("k", 10)
    limiter.backoff("k", 5)
    clock.advance(2)
    limiter.backoff("k", 10)  # ends at 12
    assert limiter.delay("k") == 10.0
    assert limiter.stats().backoffs == 2


def test_timeout_refuses_without_consuming_capacity(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)
    limiter.acquire("k")
    with pytest.raises(CrsTimeoutError, match="'k' needs a 1 s wait") as caught:
        limiter.acquire("k", timeout=0.5)
    assert caught.value.seconds == 0.5
    assert isinstance(caught.value, TimeoutError)
    assert limiter.delay("k") == 1.0  # the refused call took nothing
    assert limiter.acquire("k", timeout=1.0) == 1.0
    stats = limiter.stats()
    assert (stats.admitted, stats.rejected) == (2, 1)


def test_async_acquire_waits_on_the_clock(clock: VirtualClock) -> None:
    limiter = RateLimiter(30, clock=clock)

    async def main() -> list[float]:
        return [await limiter.aacquire("k") for _ in range(3)]

    assert asyncio.run(main()) == [0.0, 2.0, 2.0]
    assert clock.sleeps == [2.0, 2.0]


def test_async_timeout_refuses(clock: VirtualClock) -> None:
    limiter = RateLimiter(1, clock=clock)

    async def main() -> None:
        await limiter.aacquire("k")
        await limiter.aacquire("k", timeout=59)

    with pytest.raises(CrsTimeoutError):
        asyncio.run(main())
    assert limiter.delay("k") == 60.0


def test_clock_is_resolved_at_each_use() -> None:
    limiter = RateLimiter(60)  # built before any virtual clock exists
    clock = VirtualClock(start=0.0)
    with use_clock(clock):
        limiter.acquire()
        assert limiter.acquire() == 1.0
    assert clock.sleeps == [1.0]


def test_stats_count_what_happened(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")
    limiter.try_acquire("a")
    limiter.backoff("b", 3)
    assert limiter.stats() == RateLimiterStats(
        admitted=2, rejected=1, waited=1.0, backoffs=1, waiting=0, keys=2
    )


def test_idle_keys_are_dropped(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)
    peak = 0
    for i in range(5_000):
        assert limiter.try_acquire(f"user-{i}")
        clock.advance(0.1)  # each key is full again 1 s after its request
        peak = max(peak, limiter.stats().keys)
    assert peak <= 128
    assert limiter.delay("user-4999") == pytest.approx(0.9)  # busy keys are kept


@pytest.mark.parametrize("algorithm", list(RateLimitAlgorithm))
def test_keys_with_anything_to_remember_are_never_dropped(
    clock: VirtualClock, algorithm: RateLimitAlgorithm
) -> None:
    limiter = RateLimiter(1, algorithm=algorithm, clock=clock)
    limiter.acquire("busy")
    limiter.backoff("paused", 30)
    for i in range(1_000):
        limiter.try_acquire(f"user-{i}")  # every key stays busy for a minute: sweeps find none
    clock.advance(10)
    assert limiter.stats().keys == 1_002
    assert limiter.delay("busy") == 50.0
    assert limiter.delay("paused") == 20.0


def test_repr_names_the_configuration() -> None:
    assert repr(RateLimiter(90, burst=3)) == (
        "RateLimiter(requests_per_minute=90, burst=3, algorithm='token_bucket')"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests_per_minute": 0}, "requests_per_minute must be positive"),
        ({"requests_per_minute": -5}, "requests_per_minute must be positive"),
        ({"requests_per_minute": float("nan")}, "requests_per_minute must be positive"),
        ({"requests_per_minute": float("inf")}, "requests_per_minute must be positive"),
        ({"requests_per_minute": True}, "requests_per_minute must be a number"),
        ({"requests_per_minute": "60"}, "requests_per_minute must be a number"),
        ({"burst": 0}, "burst must be a positive int, got 0"),
        ({"burst": 2.5}, "burst must be a positive int, got 2.5"),
        ({"algorithm": "leaky"}, "algorithm='leaky' is not one of"),
        ({"algorithm": "sliding_window", "burst": 5}, "burst=5 applies to the token bucket"),
        (
            {"algorithm": "sliding_window", "requests_per_minute": 1.5},
            "requests_per_minute=1.5 must be a whole number",
        ),
    ],
)
def test_bad_configuration_names_the_argument(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.acquire(cost=0), "cost must be a positive int"),
        (lambda r: r.try_acquire(cost=3), "cost=3 can never be admitted: burst is 2"),
        (lambda r: r.delay(cost=True), "cost must be a positive int"),
        (lambda r: r.acquire(timeout=-1), "timeout must be a non-negative"),
        (lambda r: r.backoff("k", float("nan")), "seconds must be a non-negative"),
        (lambda r: r.backoff("k", -3), "seconds must be a non-negative"),
    ],
)
def test_bad_arguments_name_the_argument(call: object, message: str) -> None:
    limiter = RateLimiter(60, burst=2, clock=VirtualClock())
    with pytest.raises(ConfigError, match=message):
        call(limiter)  # type: ignore[operator]


# --- fairness and thread safety -------------------------------------------------------------------


class SteppedClock:
    """A virtual clock whose ``sleep`` blocks until the test moves time past the sleeper's end.

    It lets threads really queue, so the order in which they are let through can be observed.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._t = 0.0
        self.sleepers = 0

    def now(self) -> float:
        return self.monotonic()

    def monotonic(self) -> float:
        with self._changed:
            return self._t

    def sleep(self, seconds: float) -> None:
        with self._changed:
            end = self._t + seconds
            self.sleepers += 1
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._t >= end, timeout=10):
                raise AssertionError("the test never moved time this far")

    async def asleep(self, seconds: float) -> None:
        raise AssertionError("SteppedClock is for threads")

    def move_to(self, t: float) -> None:
        with self._changed:
            self._t = t
            self._changed.notify_all()

    def wait_for_sleepers(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.sleepers >= count, timeout=10)


@pytest.fixture
def stepped() -> Iterator[SteppedClock]:
    clock = SteppedClock()
    yield clock
    clock.move_to(1e9)  # release any thread a failed test left waiting


def test_threads_are_granted_in_the_order_they_asked(stepped: SteppedClock) -> None:
    limiter = RateLimiter(60, clock=stepped)
    limiter.acquire("k")  # slot 0: everyone after this queues, one second apart
    granted: list[tuple[int, float]] = []
    lock = threading.Condition()

    def caller(ticket: int) -> None:
        waited = limiter.acquire("k")
        with lock:
            granted.append((ticket, waited))
            lock.notify_all()

    threads = []
    for ticket in range(6):
        thread = threading.Thread(target=caller, args=(ticket,))
        thread.start()
        stepped.wait_for_sleepers(ticket + 1)  # ticket taken before the next caller starts
        threads.append(thread)
    assert limiter.stats().waiting == 6
    for second in range(1, 7):
        stepped.move_to(second - 0.5)
        with lock:
            assert len(granted) == second - 1  # nobody is let in before their slot
        stepped.move_to(second)
        with lock:
            assert lock.wait_for(lambda n=second: len(granted) >= n, timeout=10)
    for thread in threads:
        thread.join(timeout=10)
    assert granted == [(ticket, ticket + 1.0) for ticket in range(6)]
    assert limiter.stats().waiting == 0


def test_backoff_moves_callers_already_queued(stepped: SteppedClock) -> None:
    limiter = RateLimiter(60, clock=stepped)
    limiter.acquire("k")
    results: list[object] = []

    def caller(timeout: float | None) -> None:
        try:
            results.append(limiter.acquire("k", timeout=timeout))
        except CrsTimeoutError as error:
            results.append(error)

    patient = threading.Thread(target=caller, args=(None,))
    patient.start()
    stepped.wait_for_sleepers(1)  # queued for slot 1
    hasty = threading.Thread(target=caller, args=(5.0,))
    hasty.start()
    stepped.wait_for_sleepers(2)  # queued for slot 2
    limiter.backoff("k", 10)  # server says: nothing before t=10
    stepped.move_to(2)  # both wake at their old slots, see they moved, and the hasty gives up
    hasty.join(timeout=10)
    assert len(results) == 1
    assert isinstance(results[0], CrsTimeoutError)
    stepped.move_to(10)
    patient.join(timeout=10)
    assert results[1] == 10.0  # asked at 0, admitted at the end of the pause
    assert limiter.delay("k") == 2.0  # the hasty caller's slot (11) stayed used
    assert limiter.stats().waiting == 0


def test_asyncio_tasks_are_granted_in_the_order_they_asked(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)
    order: list[tuple[int, float]] = []

    async def caller(ticket: int) -> None:
        asked = clock.monotonic()
        waited = await limiter.aacquire("k")
        order.append((ticket, asked + waited))  # the slot it was given

    async def main() -> None:
        await asyncio.gather(*(caller(ticket) for ticket in range(8)))

    asyncio.run(main())
    assert order == [(ticket, float(ticket)) for ticket in range(8)]


def test_a_cancelled_waiter_leaves_the_queue(clock: VirtualClock) -> None:
    limiter = RateLimiter(60, clock=clock)

    async def main() -> None:
        await limiter.aacquire("k")
        waiter = asyncio.create_task(limiter.aacquire("k"))
        await asyncio.sleep(0)  # let it reserve and start sleeping
        assert limiter.stats().waiting == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(main())
    assert limiter.stats().waiting == 0


def test_concurrent_try_acquire_grants_exactly_the_burst(
    race: Callable[[Callable[[], None]], None],
) -> None:
    clock = VirtualClock(start=0.0)  # time stands still: only the burst can be granted
    limiter = RateLimiter(60, burst=7, clock=clock)
    granted = []

    def hammer() -> None:
        granted.append(sum(limiter.try_acquire(key) for key in ("a", "b") * 200))

    race(hammer)
    assert sum(granted) == 14
    assert limiter.stats().admitted == 14
    assert limiter.stats().rejected == 8 * 400 - 14
