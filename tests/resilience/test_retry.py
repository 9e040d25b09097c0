"""RetryPolicy: composable stop/wait/retry, Retry-After, idempotency, history — in virtual time.

The policy's decisions are tested with an injected classifier (each test error carries its
verdict), so these tests pin the policy's logic independently of how errors are classified;
``test_with_real_classifier`` at the end checks the two together.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crs import ConfigError, RetryError, VirtualClock
from crs.resilience._classification import Classification, ErrorType
from crs.resilience._retry import (
    Attempt,
    Outcome,
    RetryPolicy,
    RetryState,
    retry_if_classified,
    retry_if_exception_type,
    retry_if_rate_limited,
    retry_if_result,
    retry_if_retryable,
    retry_if_unsuccessful,
    stop_after_attempt,
    stop_after_delay,
    stop_after_total_delay,
    stop_before_deadline,
    stop_never,
    wait_equal_jitter,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
    wait_jitter,
    wait_none,
)

SERVER = Classification(ErrorType.SERVER, retryable=True, status=503, may_have_executed=True)
RATE = Classification(ErrorType.RATE_LIMIT, retryable=True, status=429)
AUTH = Classification(ErrorType.AUTH, retryable=False, status=401)
READ_TIMEOUT = Classification(ErrorType.TIMEOUT, retryable=True, may_have_executed=True)
CONNECT = Classification(ErrorType.CONNECTION, retryable=True, may_have_executed=False)


class Failure(Exception):
    """A test error that carries the classification it should get."""

    def __init__(self, verdict: Classification) -> None:
        super().__init__(verdict.kind.value)
        self.verdict = verdict


def by_verdict(thing: object) -> Classification:
    if isinstance(thing, Failure):
        return thing.verdict
    return Classification(ErrorType.UNKNOWN, retryable=False)


class Script:
    """A callable that fails with the given verdicts in order, then returns ``value``."""

    def __init__(self, *verdicts: Classification, value: Any = "ok") -> None:
        self.verdicts = list(verdicts)
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.verdicts:
            raise Failure(self.verdicts.pop(0))
        return self.value


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def policy(clock: VirtualClock, **options: Any) -> RetryPolicy:
    options.setdefault("classifier", by_verdict)
    options.setdefault("wait", wait_fixed(1))
    return RetryPolicy(clock=clock, **options)


def test_first_try_success_has_one_attempt(clock: VirtualClock) -> None:
    run = policy(clock).run(Script())
    assert run.value == "ok"
    assert run.attempts == 1
    assert run.history[0].outcome is Outcome.SUCCESS
    assert clock.sleeps == []


def test_retries_retryable_failures_with_the_waits_it_records(clock: VirtualClock) -> None:
    fn = Script(CONNECT, RATE)
    run = policy(clock, wait=wait_exponential(2, cap=100)).run(fn)
    assert run.value == "ok"
    assert fn.calls == 3
    assert [a.outcome for a in run.history] == [Outcome.ERROR, Outcome.ERROR, Outcome.SUCCESS]
    assert [a.delay for a in run.history] == [2.0, 4.0, 0.0]
    assert clock.sleeps == [2.0, 4.0]
    assert run.total_delay == 6.0
    assert [a.classification for a in run.history[:2]] == [CONNECT, RATE]


def test_exhaustion_raises_retry_error_with_history_and_cause(clock: VirtualClock) -> None:
    fn = Script(CONNECT, CONNECT, CONNECT, CONNECT)
    with pytest.raises(RetryError, match=r"gave up after 3 attempt\(s\)") as info:
        policy(clock, stop=stop_after_attempt(3)).call(fn)
    error = info.value
    assert fn.calls == 3
    assert len(error.history) == 3
    assert isinstance(error.last_error, Failure)
    assert error.__cause__ is error.last_error
    assert clock.sleeps == [1.0, 1.0]  # no wait after the last attempt


def test_non_retryable_failure_is_reraised_unchanged_with_a_note(clock: VirtualClock) -> None:
    fn = Script(AUTH)
    with pytest.raises(Failure) as info:
        policy(clock).call(fn)
    assert fn.calls == 1
    assert info.value.verdict is AUTH
    assert any("not retried after attempt 1" in note for note in info.value.__notes__)
    assert clock.sleeps == []


def test_base_exceptions_are_never_retried(clock: VirtualClock) -> None:
    calls = 0

    def interrupted() -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy(clock, retry=retry_if_exception_type(BaseException)).call(interrupted)
    assert calls == 1


def test_retry_after_is_honoured_exactly(clock: VirtualClock) -> None:
    asked = Classification(ErrorType.RATE_LIMIT, retryable=True, status=429, retry_after=7.5)
    run = policy(clock, wait=wait_fixed(100)).run(Script(asked))
    assert clock.sleeps == [7.5]
    assert run.history[0].delay == 7.5


def test_retry_after_beyond_the_maximum_gives_up_without_waiting(clock: VirtualClock) -> None:
    asked = Classification(ErrorType.RATE_LIMIT, retryable=True, status=429, retry_after=600)
    fn = Script(asked)
    with pytest.raises(RetryError, match="asked to wait 600s, more than max_retry_after=60s"):
        policy(clock).call(fn)
    assert fn.calls == 1
    assert clock.sleeps == []


def test_retry_after_can_be_ignored(clock: VirtualClock) -> None:
    asked = Classification(ErrorType.RATE_LIMIT, retryable=True, retry_after=600)
    policy(clock, respect_retry_after=False).run(Script(asked))
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("verdict", [SERVER, READ_TIMEOUT])
def test_non_idempotent_operations_are_not_resent_after_ambiguous_failures(
    clock: VirtualClock, verdict: Classification
) -> None:
    fn = Script(verdict)
    with pytest.raises(Failure) as info:
        policy(clock).call(fn)
    assert fn.calls == 1
    assert any("not idempotent" in note for note in info.value.__notes__)


@pytest.mark.parametrize("option", ["idempotent", "retry_ambiguous"])
def test_ambiguous_failures_are_retried_when_allowed(clock: VirtualClock, option: str) -> None:
    fn = Script(SERVER, READ_TIMEOUT)
    assert policy(clock, **{option: True}).call(fn) == "ok"
    assert fn.calls == 3


def test_unambiguous_failures_are_retried_even_when_not_idempotent(clock: VirtualClock) -> None:
    fn = Script(CONNECT, RATE)
    assert policy(clock, idempotent=False).call(fn) == "ok"
    assert fn.calls == 3


def test_result_predicates_retry_failure_envelopes(clock: VirtualClock) -> None:
    results = iter([{"successful": False}, {"successfull": False}, {"successful": True}])
    run = policy(clock, retry=retry_if_unsuccessful()).run(lambda: next(results))
    assert run.value == {"successful": True}
    assert [a.outcome for a in run.history] == [Outcome.RESULT, Outcome.RESULT, Outcome.SUCCESS]


def test_result_retries_exhausted_raise_with_the_results(clock: VirtualClock) -> None:
    with pytest.raises(RetryError) as info:
        policy(clock, retry=retry_if_result(lambda r: r < 10)).call(lambda: 3)
    assert info.value.last_error is None
    assert [a.result for a in info.value.history] == [3, 3, 3]


def test_conditions_compose(clock: VirtualClock) -> None:
    rule = retry_if_rate_limited() | retry_if_exception_type(KeyError)
    assert rule(RetryState(1, 0, 0, RATE))
    assert rule(RetryState(1, 0, 0, AUTH, error=KeyError("x")))
    assert not rule(RetryState(1, 0, 0, SERVER))
    both = retry_if_retryable() & retry_if_classified("server")
    assert both(RetryState(1, 0, 0, SERVER))
    assert not both(RetryState(1, 0, 0, RATE))
    assert repr(stop_after_attempt(3) | stop_after_delay(30)) == (
        "(stop_after_attempt(3) | stop_after_delay(30))"
    )
    assert repr(wait_fixed(1) + wait_jitter(0.5)) == "wait_fixed(1) + wait_jitter(0.5)"


def test_stop_after_delay_counts_elapsed_time_and_the_next_wait(clock: VirtualClock) -> None:
    fn = Script(*[CONNECT] * 10)
    with pytest.raises(RetryError):
        policy(clock, stop=stop_after_delay(10), wait=wait_fixed(3)).call(fn)
    assert clock.sleeps == [3.0, 3.0, 3.0]  # a fourth wait would start the next try at 12 s


def test_stop_before_deadline(clock: VirtualClock) -> None:
    fn = Script(*[CONNECT] * 10)
    deadline = clock.monotonic() + 5
    with pytest.raises(RetryError):
        policy(clock, stop=stop_before_deadline(deadline), wait=wait_fixed(2)).call(fn)
    assert clock.sleeps == [2.0, 2.0]

    class Remaining:
        def remaining(self) -> float:
            return 4.0

    with pytest.raises(RetryError):
        policy(clock, stop=stop_before_deadline(Remaining()), wait=wait_fixed(4)).call(
            Script(CONNECT)
        )


def test_on_retry_hook_sees_each_retried_attempt(clock: VirtualClock) -> None:
    seen: list[Attempt] = []
    policy(clock, on_retry=seen.append).call(Script(CONNECT, RATE))
    assert [a.number for a in seen] == [1, 2]
    assert [a.classification for a in seen] == [CONNECT, RATE]


def test_decorator_and_async(clock: VirtualClock) -> None:
    retrying = policy(clock, wait=wait_fixed(30))
    sync_fn = Script(CONNECT)

    @retrying
    def sync_call() -> Any:
        return sync_fn()

    verdicts = [RATE, RATE]

    @retrying
    async def async_call(x: int) -> int:
        if verdicts:
            raise Failure(verdicts.pop())
        return x * 2

    assert sync_call() == "ok"
    assert asyncio.run(async_call(21)) == 42
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert sync_call.__name__ == "sync_call"


def test_acall_and_arun(clock: VirtualClock) -> None:
    async def main() -> tuple[Any, int]:
        fn = Script(CONNECT)

        async def once() -> Any:
            return fn()

        run = await policy(clock).arun(once)
        return run.value, run.attempts

    assert asyncio.run(main()) == ("ok", 2)


def test_with_options_copies(clock: VirtualClock) -> None:
    base = policy(clock)
    loose = base.with_options(idempotent=True)
    assert loose.idempotent
    assert not base.idempotent


def test_waits(clock: VirtualClock) -> None:
    def at(n: int) -> RetryState:
        return RetryState(n, 0, 0, None)

    exp = wait_exponential(0.5, cap=8)
    assert [exp(at(n)) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]
    assert exp(at(10_000)) == 8  # no overflow
    assert wait_none()(at(3)) == 0
    a, b = (
        wait_full_jitter(1, 4, rng=random.Random(7)),
        wait_full_jitter(1, 4, rng=random.Random(7)),
    )
    assert [a(at(n)) for n in range(1, 6)] == [b(at(n)) for n in range(1, 6)]
    equal = wait_equal_jitter(1, 8, rng=random.Random(1))
    assert all(2 <= equal(at(3)) <= 4 for _ in range(100))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: stop_after_attempt(0), "positive int"),
        (lambda: wait_fixed(-1), "non-negative"),
        (lambda: wait_exponential(1, cap=float("nan")), "non-negative"),
        (lambda: wait_exponential(1, multiplier=0.5), "multiplier"),
        (lambda: RetryPolicy(max_retry_after=-1), "max_retry_after"),
        (lambda: retry_if_classified("flaky"), "retry_if_classified='flaky' is not one of"),
    ],
)
def test_bad_arguments_are_config_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


# --- properties ---------------------------------------------------------------------------

verdicts = st.sampled_from([SERVER, RATE, AUTH, READ_TIMEOUT, CONNECT])
retryable_verdicts = st.sampled_from([RATE, CONNECT])


def _run_to_end(p: RetryPolicy, fn: Callable[[], Any]) -> tuple[tuple[Attempt, ...], Any]:
    try:
        run = p.run(fn)
    except RetryError as exc:
        return exc.history, exc
    except Failure as exc:
        return (), exc
    return run.history, run.value


@given(failures=st.lists(retryable_verdicts, max_size=20), limit=st.integers(1, 10))
def test_attempts_never_exceed_the_stop_condition(
    failures: list[Classification], limit: int
) -> None:
    fn = Script(*failures)
    history, _ = _run_to_end(policy(VirtualClock(), stop=stop_after_attempt(limit)), fn)
    assert fn.calls <= limit
    assert len(history) == fn.calls


@given(
    failures=st.lists(retryable_verdicts, max_size=30),
    budget=st.floats(0, 100),
    seed=st.integers(0, 2**32),
)
def test_total_wait_never_exceeds_the_budget(
    failures: list[Classification], budget: float, seed: int
) -> None:
    clock = VirtualClock()
    wait = wait_exponential(0.1, cap=20) + wait_jitter(3, rng=random.Random(seed))
    p = policy(clock, stop=stop_after_total_delay(budget), wait=wait)
    _run_to_end(p, Script(*failures))
    assert math.fsum(clock.sleeps) <= budget


@given(
    n=st.integers(1, 200),
    base=st.floats(0, 10),
    cap=st.floats(0, 60),
    seed=st.integers(0, 2**32),
)
def test_each_delay_is_within_zero_and_cap(n: int, base: float, cap: float, seed: int) -> None:
    state = RetryState(n, 0, 0, None)
    for wait in (
        wait_exponential(base, cap),
        wait_full_jitter(base, cap, rng=random.Random(seed)),
        wait_equal_jitter(base, cap, rng=random.Random(seed)),
    ):
        assert 0 <= wait(state) <= cap


@given(first=verdicts, rest=st.lists(verdicts, max_size=5), idempotent=st.booleans())
def test_non_retryable_and_ambiguous_failures_are_never_retried(
    first: Classification, rest: list[Classification], idempotent: bool
) -> None:
    fn = Script(first, *rest)
    _run_to_end(policy(VirtualClock(), stop=stop_never, idempotent=idempotent), fn)
    # Every call but the last failed and was retried: each of those must have been allowed.
    retried = [first, *rest][: fn.calls - 1]
    for verdict in retried:
        assert verdict.retryable
        assert idempotent or not verdict.may_have_executed


@given(retry_after=st.floats(0, 300), maximum=st.floats(0, 120))
def test_retry_after_is_honoured_exactly_when_within_the_maximum(
    retry_after: float, maximum: float
) -> None:
    clock = VirtualClock()
    asked = Classification(ErrorType.RATE_LIMIT, retryable=True, retry_after=retry_after)
    fn = Script(asked)
    _, result = _run_to_end(policy(clock, max_retry_after=maximum, wait=wait_fixed(1)), fn)
    if retry_after <= maximum:
        assert clock.sleeps == [retry_after]
        assert result == "ok"
    else:
        assert clock.sleeps == []
        assert isinstance(result, RetryError)
        assert fn.calls == 1


def test_stop_never_with_endless_success_is_just_one_call(clock: VirtualClock) -> None:
    assert policy(clock, stop=stop_never).call(lambda: 5) == 5


@pytest.fixture(autouse=True)
def _no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces: a real sleep anywhere in these tests is a bug."""

    def refuse(_seconds: float) -> None:
        raise AssertionError("a test slept for real")

    monkeypatch.setattr("time.sleep", refuse)


# --- with the real classifier and real SDK exceptions ----------------------------------------


def _openai_error(status: int, headers: dict[str, str] | None = None) -> Exception:
    import httpx2
    import openai

    client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    try:
        request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
        response = httpx2.Response(status, headers=headers or {}, json={}, request=request)
        return client._make_status_error_from_response(response)
    finally:
        client.close()


def _raising(*errors: Exception) -> Callable[[], str]:
    queue = list(errors)

    def call() -> str:
        if queue:
            raise queue.pop(0)
        return "done"

    return call


def test_with_real_classifier_rate_limit_then_success(clock: VirtualClock) -> None:
    fn = _raising(_openai_error(429, {"retry-after": "2"}), _openai_error(503))
    run = RetryPolicy(clock=clock, idempotent=True, wait=wait_fixed(0.5)).run(fn)
    assert run.value == "done"
    assert clock.sleeps == [2.0, 0.5]
    assert [a.classification.kind for a in run.history[:2]] == [  # type: ignore[union-attr]
        ErrorType.RATE_LIMIT,
        ErrorType.SERVER,
    ]


def test_with_real_classifier_auth_is_final(clock: VirtualClock) -> None:
    import openai

    with pytest.raises(openai.AuthenticationError):
        RetryPolicy(clock=clock, idempotent=True).call(_raising(_openai_error(401)))
    assert clock.sleeps == []


def test_with_real_classifier_read_timeout_needs_idempotency(clock: VirtualClock) -> None:
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/tools/execute")
    with pytest.raises(httpx2.ReadTimeout):
        RetryPolicy(clock=clock).call(_raising(httpx2.ReadTimeout("slow", request=request)))
    connect = httpx2.ConnectTimeout("no route", request=request)
    assert RetryPolicy(clock=clock, wait=wait_fixed(1)).call(_raising(connect)) == "done"
    assert clock.sleeps == [1.0]
