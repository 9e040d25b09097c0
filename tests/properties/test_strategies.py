"""The public strategies: every value they draw is valid for what it stands for.

A strategy that drew an invalid 429 or a malformed completion would make property tests blame
the code under test for the generator's mistake, so each one is checked against the parser that
will read its values in production (crs's classifier, the openai SDK's models and Retry-After
parser, crs's redaction).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from crs._secrets import redact_secrets
from crs._virtual_time import virtual_time
from crs.clock import VirtualClock, use_clock
from crs.errors import ConfigError, RetryError
from crs.resilience import RetryPolicy, classify, retry_after_from_headers
from crs.tools._actions import looks_read_only
from pytest_crs.faults import Fault, FaultKind, FaultPlan, Schedule, llm, timeout, tool
from pytest_crs.faults._schedule import Cursor
from pytest_crs.faults._targets import ToolCall
from pytest_crs.strategies import (
    FaultRecipe,
    HttpError,
    RetryAfterValue,
    chat_completions,
    credentials,
    fault_plans,
    fault_schedules,
    faults,
    http_errors,
    retry_after_values,
    retry_policies,
    tool_calls,
)

NOW = VirtualClock.DEFAULT_START
FAST = settings(max_examples=40, deadline=None, database=None, derandomize=True)
SLOW = settings(FAST, max_examples=20, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sdk() -> Iterator[openai.OpenAI]:
    """One client for the SDK's parsers; it never sends anything."""
    client = openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    yield client
    client.close()


def openai_reading(sdk: openai.OpenAI, value: RetryAfterValue, now: float) -> float | None:
    """What the openai SDK's own parser reads from the header, on the same (virtual) wall clock."""
    with virtual_time(VirtualClock(now)):
        return sdk._parse_retry_after_header(httpx2.Headers(value.headers))


# -- Retry-After ------------------------------------------------------------------------------


@FAST
@given(retry_after_values())
def test_retry_after_values_say_what_crs_reads(value: RetryAfterValue) -> None:
    read = retry_after_from_headers(value.headers, now=NOW)
    if value.seconds is None:
        assert read is None, f"junk {value.value!r} must be ignored"
    else:
        assert read == pytest.approx(value.seconds, abs=1e-6)


@FAST
@given(retry_after_values())
def test_the_openai_sdk_agrees_on_every_value_it_would_honour(
    sdk: openai.OpenAI, value: RetryAfterValue
) -> None:
    read = openai_reading(sdk, value, NOW)
    if value.seconds is None:
        # junk: either unreadable, or something the SDK refuses to honour (negative, NaN, inf)
        assert read is None or not (math.isfinite(read) and read > 0)
    elif value.form == "http-date" and value.seconds == 0:
        assert read is not None
        assert read <= 0  # a date in the past: no wait
    else:
        assert read == pytest.approx(value.seconds, abs=1e-6)


@FAST
@given(retry_after_values(forms=["http-date"], now=NOW + 0.4, max_seconds=30))
def test_dates_are_measured_from_the_given_now(value: RetryAfterValue) -> None:
    assert value.value.endswith(" GMT")
    assert value.seconds is not None
    assert 0 <= value.seconds <= 30.6
    assert retry_after_from_headers(value.headers, now=NOW + 0.4) == pytest.approx(value.seconds)


def test_retry_after_forms_are_checked() -> None:
    with pytest.raises(ConfigError, match="forms"):
        retry_after_values(forms=["fortnights"])


# -- HTTP errors ------------------------------------------------------------------------------


@FAST
@given(http_errors())
def test_http_errors_classify_as_they_claim(error: HttpError) -> None:
    with use_clock(VirtualClock(NOW)):  # HTTP dates are measured from the strategy's `now`
        verdict = classify(error.to_httpx2())
    assert verdict.status == error.status
    assert verdict.retryable is error.retryable
    if error.retry_after is None:
        assert verdict.retry_after is None
    else:
        assert verdict.retry_after == pytest.approx(error.retry_after, abs=1e-6)


@FAST
@given(http_errors(api="openai"))
def test_openai_errors_become_the_sdks_exceptions(sdk: openai.OpenAI, error: HttpError) -> None:
    raised = sdk._make_status_error_from_response(error.to_httpx2())
    assert raised.status_code == error.status
    body = error.json()
    if body is not None:
        assert isinstance(body, dict)
        assert set(body["error"]) == {"message", "type", "param", "code"}
    if error.status == 429:
        assert isinstance(raised, openai.RateLimitError)
    if error.status == 401:
        assert isinstance(raised, openai.AuthenticationError)


@FAST
@given(http_errors([429], api="composio"))
def test_composio_429s_include_the_header_less_shape(error: HttpError) -> None:
    assert classify(error.to_httpx2()).retryable
    body = error.json()
    assert isinstance(body, dict)


def test_http_errors_reject_success_statuses() -> None:
    with pytest.raises(ConfigError, match="4xx/5xx"):
        http_errors([200])


# -- faults, schedules, plans -----------------------------------------------------------------


@FAST
@given(faults(target=tool()))
def test_tool_faults_are_accepted_by_a_plan(fault: Fault) -> None:
    FaultPlan().on(tool("APP_ACTION"), fault)


@FAST
@given(faults(target=llm()))
def test_llm_faults_are_accepted_by_a_plan(fault: Fault) -> None:
    assert not fault.tools_only
    assert fault.kind is not FaultKind.STREAM_CUT  # only when asked for by name
    FaultPlan().on(llm(), fault)


@FAST
@given(faults(["rate_limit"], retry_after_forms=["http-date"], max_retry_after=30))
def test_http_date_rate_limits_announce_whole_seconds(fault: Fault) -> None:
    assert fault.retry_after is not None
    assert fault.retry_after == int(fault.retry_after) <= 30


def test_faults_refuse_what_cannot_happen() -> None:
    with pytest.raises(ConfigError, match="stream"):
        faults(["stream_cut"], target=tool())
    with pytest.raises(ConfigError, match="tool_failure"):
        faults(["tool_failure"], target=llm())
    with pytest.raises(ConfigError, match="not one of"):
        faults(["gremlins"])


def failing_prefix(schedule: Schedule, attempts: int) -> list[Fault | None]:
    cursor = Cursor(schedule, random.Random(0))
    return [cursor.next(0.0) for _ in range(attempts)]


@FAST
@given(fault_schedules(min_faults=1, max_faults=4))
def test_finite_schedules_fail_then_succeed_for_good(schedule: Schedule) -> None:
    seen = failing_prefix(schedule, 12)
    failures = [fault for fault in seen if fault is not None]
    assert 1 <= len(failures) <= 4
    assert seen[: len(failures)] == failures  # all the faults come first...
    assert all(fault is None for fault in seen[len(failures) :])  # ...then success, forever


@FAST
@given(fault_schedules(finite=False, max_faults=0))
def test_endless_schedules_may_never_end(schedule: Schedule) -> None:
    assert schedule.steps  # just has to be a valid schedule; Cursor accepts it
    failing_prefix(schedule, 5)


@FAST
@given(fault_schedules([timeout()], max_faults=3))
def test_schedules_merge_repeats_into_times(schedule: Schedule) -> None:
    assert schedule.describe().count("fail(") <= 1


@FAST
@given(fault_plans([llm(), tool("GMAIL_*")], max_faults=2))
def test_fault_plans_are_recipes_that_build_fresh_plans(recipe: FaultRecipe) -> None:
    assert recipe.targets == (llm(), tool("GMAIL_*"))
    first, second = recipe.build(), recipe.build()
    assert first is not second
    assert first.seed == recipe.seed
    assert repr(recipe).startswith("FaultPlan(seed=")
    target = FaultPlan()
    assert recipe.apply(target) is target


def test_schedule_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_faults"):
        fault_schedules(min_faults=3, max_faults=1)
    with pytest.raises(ConfigError, match="empty"):
        fault_schedules([])


# -- retry policies -----------------------------------------------------------------------------


@FAST
@given(retry_policies(max_attempts=4, budget=20.0))
def test_drawn_policies_are_bounded_in_attempts_and_waiting(policy: RetryPolicy) -> None:
    request = httpx2.Request("GET", "http://127.0.0.1/")
    clock = VirtualClock()
    calls = 0

    def always_429() -> None:
        nonlocal calls
        calls += 1
        response = httpx2.Response(429, request=request)
        raise httpx2.HTTPStatusError("429", request=request, response=response)

    with pytest.raises((RetryError, httpx2.HTTPStatusError)):
        policy.with_options(clock=clock).run(always_429)
    assert 1 <= calls <= 4
    assert clock.total_slept <= 20.0 + 1e-9


def test_retry_policy_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_attempts"):
        retry_policies(min_attempts=3, max_attempts=2)
    with pytest.raises(ConfigError, match="waits"):
        retry_policies(waits=["sometimes"])


# -- tool calls, completions, credentials -------------------------------------------------------


@FAST
@given(tool_calls())
def test_tool_calls_look_like_composio_slugs(call: ToolCall) -> None:
    app, _, rest = call.slug.partition("_")
    assert rest
    assert call.slug == call.slug.upper()
    assert call.app == app.lower()
    assert json.loads(json.dumps(call.arguments)) == call.arguments


@FAST
@given(tool_calls(read_only=False, apps=["gmail", "slack"]))
def test_side_effecting_tool_calls_can_be_asked_for(call: ToolCall) -> None:
    assert call.app in ("gmail", "slack")
    assert not looks_read_only(call.app, call.action)


@FAST
@given(tool_calls(read_only=True))
def test_read_only_tool_calls_never_count_as_duplicates(call: ToolCall) -> None:
    plan = FaultPlan()
    plan.decide_tool(call)
    plan.decide_tool(call)
    assert plan.duplicates == []


@SLOW
@given(chat_completions())
def test_chat_completions_validate_with_the_openai_sdk(data: dict[str, Any]) -> None:
    completion = ChatCompletion.model_validate(data)
    assert completion.object == "chat.completion"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    json.dumps(data)  # plain JSON, ready for a MockTransport or a cassette


@SLOW
@given(chat_completions(tool_calls=True, max_choices=1))
def test_tool_calling_completions_carry_json_arguments(data: dict[str, Any]) -> None:
    choice = ChatCompletion.model_validate(data).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    for call in choice.message.tool_calls:
        assert call.type == "function"
        assert isinstance(json.loads(call.function.arguments), dict)


@FAST
@given(credentials(), st.sampled_from(["{}", "error: {} was rejected", "x-api-key={}&q=1"]))
def test_credentials_are_redacted_wherever_they_appear(secret: str, template: str) -> None:
    text = redact_secrets(template.format(secret))
    token = secret.removeprefix("Bearer ")
    assert token not in text
    assert "[REDACTED]" in text


@FAST
@given(credentials(["github", "aws"]))
def test_credential_kinds_narrow_the_shapes(secret: str) -> None:
    assert secret.startswith(("gh", "AKIA"))


def test_credential_kinds_are_checked() -> None:
    with pytest.raises(ConfigError, match="kinds"):
        credentials(["passwords"])
