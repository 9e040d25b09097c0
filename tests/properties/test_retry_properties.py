"""check_retry_policy against crs's own RetryPolicy: correct policies pass, broken ones are caught.

Each broken policy breaks exactly one promise, and the test asserts the violation names it: a
checker that flagged everything (or the wrong property) would pass a weaker test.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import settings

from crs.errors import ConfigError
from crs.resilience import (
    RetryPolicy,
    retry_if_exception_type,
    retry_if_unsuccessful,
    stop_after_attempt,
    stop_after_total_delay,
    stop_never,
    wait_exponential,
    wait_fixed,
    wait_jitter,
)
from pytest_crs.faults import (
    Fault,
    auth_expired,
    connection_reset,
    rate_limit,
    server_error,
    timeout,
    tool_failure,
)
from pytest_crs.properties import Property, PropertyViolation, check_retry_policy
from pytest_crs.strategies import fault_plans, fault_schedules, faults

# Small and reproducible: every example is microseconds of real time, but shrinking a failure
# runs many more, and the whole directory should stay well under twenty seconds.
CHECK = settings(max_examples=40, deadline=None, database=None, derandomize=True)

GOOD = RetryPolicy(
    stop=stop_after_attempt(4) | stop_after_total_delay(60),
    wait=wait_exponential(0.5, 8) + wait_jitter(0.25),
    idempotent=True,
)


def violated(call: Any, **options: Any) -> PropertyViolation:
    """The violation ``check_retry_policy`` raises for ``call`` (failing if it raises none)."""
    with pytest.raises(PropertyViolation) as caught:
        check_retry_policy(call, settings=CHECK, **options)
    return caught.value


# -- correct policies pass ----------------------------------------------------------------------


def test_a_correct_policy_keeps_every_promise() -> None:
    check_retry_policy(GOOD.call, max_attempts=4, budget=60, settings=CHECK)


def test_a_correct_non_idempotent_policy_never_duplicates() -> None:
    policy = GOOD.with_options(idempotent=False)
    check_retry_policy(policy.call, max_attempts=4, budget=60, idempotent=False, settings=CHECK)


def test_run_and_arun_return_the_value_inside_a_retry_run() -> None:
    check_retry_policy(GOOD.run, max_attempts=4, budget=60, settings=CHECK)
    check_retry_policy(GOOD.arun, max_attempts=4, budget=60, is_async=True, settings=CHECK)


def test_the_async_runner_is_checked_on_a_virtual_loop() -> None:
    async def call(op: Any) -> Any:
        await asyncio.sleep(0)
        return await GOOD.acall(op)

    check_retry_policy(call, max_attempts=4, budget=60, settings=CHECK)


def test_openai_shaped_exceptions_are_classified_the_same() -> None:
    check_retry_policy(GOOD.call, max_attempts=4, budget=60, error_style="openai", settings=CHECK)


def test_the_decorator_form_works_too() -> None:
    @GOOD
    def call(op: Any) -> Any:
        return op()

    check_retry_policy(call, max_attempts=4, budget=60, settings=CHECK)  # GOOD stops at 60 s


def test_recipes_and_endless_schedules_are_accepted() -> None:
    # budget=60 tells the check about the policy's own stop_after_total_delay(60): giving up
    # because the announced waits would pass it is then a reason, not a broken promise.
    check_retry_policy(GOOD.call, faults=fault_plans(), max_attempts=4, budget=60, settings=CHECK)
    endless = fault_schedules(faults(max_retry_after=5), max_faults=2, finite=False)
    check_retry_policy(GOOD.call, faults=endless, max_attempts=4, budget=60, settings=CHECK)


def test_a_fixed_schedule_is_one_example() -> None:
    calls: list[int] = []

    def call(op: Any) -> Any:
        calls.append(1)
        return GOOD.call(op)

    check_retry_policy(call, faults=rate_limit(3).times(2), max_attempts=4, settings=CHECK)
    assert calls  # ran; with a fixed schedule every example is the same one


def test_faults_alone_are_schedules_of_one() -> None:
    check_retry_policy(GOOD.call, faults=faults(["rate_limit"]), max_attempts=4, settings=CHECK)


@pytest.mark.parametrize(
    ("fault", "expected", "cause"),
    [
        (rate_limit(2, form="http-date"), openai.RateLimitError, None),
        (server_error(502), openai.InternalServerError, None),
        (auth_expired(), openai.AuthenticationError, None),
        (timeout("read"), openai.APITimeoutError, httpx2.ReadTimeout),
        (connection_reset(after_send=True), openai.APIConnectionError, httpx2.RemoteProtocolError),
    ],
)
def test_openai_style_raises_what_the_sdk_raises(
    fault: Fault, expected: type[Exception], cause: type[Exception] | None
) -> None:
    seen: list[Exception] = []

    def call(op: Any) -> Any:
        try:
            return op()
        except Exception as error:
            seen.append(error)
            raise

    once = settings(CHECK, max_examples=1)
    check_retry_policy(call, faults=fault, error_style="openai", settings=once)
    assert seen
    error = seen[0]
    assert type(error) is expected
    if cause is not None:
        assert isinstance(error.__cause__, cause)
    if isinstance(error, openai.RateLimitError):
        date = error.response.headers["retry-after"]
        assert date.endswith(" GMT")  # the exact wire form: an HTTP date on the virtual clock


# -- each broken promise is caught --------------------------------------------------------------


def test_retrying_too_often_breaks_max_attempts() -> None:
    policy = GOOD.with_options(stop=stop_after_attempt(8))
    error = violated(policy.call, max_attempts=4)
    assert error.property is Property.MAX_ATTEMPTS
    assert "more than max_attempts=4" in str(error)


def test_retrying_forever_is_stopped_and_reported() -> None:
    policy = GOOD.with_options(stop=stop_never, wait=wait_fixed(1))
    error = violated(policy.call, faults=server_error().always(), attempt_limit=20)
    assert error.property is Property.MAX_ATTEMPTS
    assert "kept retrying" in str(error)
    # even with the attempt bound switched off, an endless loop is never a pass
    error = violated(
        policy.call, faults=server_error().always(), attempt_limit=20, skip=["max_attempts"]
    )
    assert error.property is Property.MAX_ATTEMPTS


def test_sleeping_past_the_budget_breaks_budget() -> None:
    policy = GOOD.with_options(stop=stop_after_attempt(4), wait=wait_fixed(30))
    error = violated(policy.call, max_attempts=4, budget=40)
    assert error.property is Property.BUDGET
    assert "over budget=40s" in str(error)


def test_retrying_a_401_breaks_non_retryable() -> None:
    policy = GOOD.with_options(retry=retry_if_exception_type(Exception))
    error = violated(policy.call, max_attempts=4)
    assert error.property is Property.NON_RETRYABLE
    assert "auth_expired" in str(error)


def test_retrying_a_tool_failure_breaks_non_retryable_unless_allowed() -> None:
    policy = GOOD.with_options(retry=retry_if_unsuccessful())
    error = violated(policy.call, faults=tool_failure().times(2), max_attempts=4)
    assert error.property is Property.NON_RETRYABLE
    check_retry_policy(
        policy.call,
        faults=tool_failure().times(2),
        max_attempts=4,
        non_retryable=["auth_expired"],
        settings=CHECK,
    )


def test_ignoring_retry_after_breaks_retry_after() -> None:
    policy = GOOD.with_options(respect_retry_after=False, wait=wait_fixed(0.1))
    error = violated(policy.call, max_attempts=4)
    assert error.property is Property.RETRY_AFTER
    assert "asked to wait" in str(error)


def test_retrying_a_non_idempotent_timeout_breaks_no_duplicates() -> None:
    policy = GOOD.with_options(idempotent=False, retry_ambiguous=True)
    error = violated(
        policy.call, faults=timeout("read").then(timeout("read")), idempotent=False, max_attempts=4
    )
    assert error.property is Property.NO_DUPLICATES
    assert "may already have executed" in str(error)
    assert "delivered 3 times" in str(error)  # what FaultPlan.duplicates saw


def test_giving_up_early_breaks_eventual_success() -> None:
    policy = GOOD.with_options(stop=stop_after_attempt(2))
    error = violated(policy.call, max_attempts=4)
    assert error.property is Property.EVENTUAL_SUCCESS
    assert "gave up after 2 attempt(s)" in str(error)


def test_swallowing_errors_breaks_eventual_success() -> None:
    def call(op: Any) -> Any:
        try:
            return op()
        except Exception:
            return "fallback"

    error = violated(call, faults=server_error(), max_attempts=4)
    assert error.property is Property.EVENTUAL_SUCCESS
    assert "returned a value of its own after 1 attempt(s)" in str(error)


def test_returning_something_else_breaks_eventual_success() -> None:
    error = violated(lambda op: {"wrapped": GOOD.call(op)}, max_attempts=4)
    assert error.property is Property.EVENTUAL_SUCCESS
    assert "not the operation's value" in str(error)


# -- the report, and the knobs ------------------------------------------------------------------


def test_the_violation_shows_the_schedule_attempts_and_sleeps() -> None:
    policy = GOOD.with_options(respect_retry_after=False, wait=wait_fixed(0.5))
    error = violated(policy.call, faults=rate_limit(2).then(rate_limit(2)), max_attempts=4)
    text = str(error)
    assert "faults: fail(rate_limit(retry_after=2, form='seconds'))" in text
    assert "#1 t=0s: rate_limit(retry_after=2, form='seconds')" in text
    assert "#2 t=0.5s" in text
    assert "sleeps: [0.5" in text
    assert [a.number for a in error.example.attempts][:2] == [1, 2]


def test_properties_can_be_switched_off() -> None:
    policy = GOOD.with_options(respect_retry_after=False, wait=wait_fixed(0.1))
    check_retry_policy(policy.call, max_attempts=4, skip=["retry_after"], settings=CHECK)


def test_errors_that_the_faults_do_not_explain_surface() -> None:
    def call(op: Any) -> Any:
        raise KeyError("bug in the caller")

    with pytest.raises(KeyError, match="bug in the caller"):
        check_retry_policy(call, faults=timeout(), settings=CHECK)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        check_retry_policy(GOOD.call, max_attempts=0)
    with pytest.raises(ConfigError, match="min_attempts"):
        check_retry_policy(GOOD.call, max_attempts=2, min_attempts=3)
    with pytest.raises(ConfigError, match="skip"):
        check_retry_policy(GOOD.call, skip=["speed"])
    with pytest.raises(ConfigError, match="error_style"):
        check_retry_policy(GOOD.call, error_style="grpc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="error_style='crs'"):
        check_retry_policy(GOOD.call, faults=tool_failure(), error_style="openai", settings=CHECK)
